//! rustls `ResolvesServerCert` over a [`CertStore`].
//!
//! Job: hand the ClientHello's SNI and signature schemes to [`CertStore::lookup`] — nothing more,
//! so the connection driver calling `lookup` itself gets the same answer.
use super::CertStore;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::sync::Arc;

#[derive(Debug)]
pub struct Resolver {
    pub store: Arc<CertStore>,
}

impl Resolver {
    pub fn new(store: Arc<CertStore>) -> Self {
        Resolver { store }
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.store
            .lookup(hello.server_name(), hello.signature_schemes())
            .map(|(key, _)| key)
    }
}
