//! rustls `ResolvesServerCert` over a [`CertStore`].
use super::CertStore;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::sync::Arc;

#[derive(Debug)]
pub struct Resolver {
    pub store: Arc<CertStore>,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.store
            .lookup(hello.server_name(), hello.signature_schemes())
            .map(|(key, _)| key)
    }
}
