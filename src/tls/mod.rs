//! TLS: certificate store and resolver, the rustls `ServerConfig`, connection properties.
//!
//! INTERFACE CONTRACT (used by `config`, `proxy`, `demo`; keep these names and shapes):
//! - [`store::load_cert`] → [`store::LoadedCert`] (chain + key from PEM; RSA or ECDSA)
//! - [`store::CertStore`] with `new` and `lookup(sni, schemes)`
//! - [`resolver::Resolver`] implementing rustls `ResolvesServerCert`
//! - [`server_config`] building the rustls `ServerConfig` (ring provider, TLS 1.2/1.3,
//!   X25519 + P-256, AES-128-GCM first, server cipher order, ALPN)
//! - [`props::SessionInfo`] and [`props::connection_properties`]

pub mod props;
pub mod resolver;
pub mod store;

use std::sync::Arc;

pub use store::{CertError, CertKind, CertStore, LoadedCert};

/// Builds the server configuration shared (immutably) by all shards.
/// `alpn`: protocols in preference order, e.g. `[b"http/1.1"]`.
pub fn server_config(
    store: Arc<CertStore>,
    alpn: &[&[u8]],
) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
    let _ = (store, alpn);
    todo!()
}
