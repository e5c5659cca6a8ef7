//! TLS: certificate store and resolver, the rustls `ServerConfig`, connection properties.
//!
//! INTERFACE CONTRACT (used by `config`, `proxy`, `demo`; keep these names and shapes):
//! - [`store::load_cert`] → [`store::LoadedCert`] (chain + key from PEM; RSA or ECDSA)
//! - [`store::CertStore`] with `new` and `lookup(sni, schemes)`
//! - [`resolver::Resolver`] implementing rustls `ResolvesServerCert`
//! - [`server_config`] building the rustls `ServerConfig` (ring provider, TLS 1.2/1.3,
//!   X25519 + P-256, AES-128-GCM first, server cipher order, ALPN)
//! - [`props::SessionInfo`] and [`props::connection_properties`]
//!
//! Not done here: OCSP stapling and session-ticket keys (separate issues), socket I/O.
//! Invariant: the crypto provider is always `rustls::crypto::ring`, passed explicitly; the
//! process-default provider is never installed or consulted.

mod load;
pub mod props;
pub mod resolver;
pub mod store;
#[cfg(test)]
pub(crate) mod testutil;

use rustls::crypto::ring::{cipher_suite, kx_group};
use rustls::crypto::CryptoProvider;
use std::sync::Arc;

pub use store::{load_cert, CertError, CertKind, CertStore, LoadedCert};

/// The ring provider restricted to our suites (server preference order) and groups.
pub fn provider() -> CryptoProvider {
    CryptoProvider {
        cipher_suites: vec![
            cipher_suite::TLS13_AES_128_GCM_SHA256,
            cipher_suite::TLS13_AES_256_GCM_SHA384,
            cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ],
        kx_groups: vec![kx_group::X25519, kx_group::SECP256R1],
        ..rustls::crypto::ring::default_provider()
    }
}

/// Builds the server configuration shared (immutably) by all shards.
/// `alpn`: protocols in preference order, e.g. `[b"http/1.1"]`.
///
/// Server cipher order (`ignore_client_order`), TLS 1.3 and 1.2, no client auth, certificates
/// from [`resolver::Resolver`]. Session storage and tickets are rustls defaults for now.
pub fn server_config(
    store: Arc<CertStore>,
    alpn: &[&[u8]],
) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver::Resolver::new(store)));
    config.ignore_client_order = true;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    // rustls default (2 tickets per full TLS 1.3 handshake), stated so it is a decision.
    config.send_tls13_tickets = 2;
    Ok(Arc::new(config))
}
