//! The rustls client configuration: ring provider, versions, ALPN, verification, resumption.
//!
//! Job: build one `ClientConfig` per shard from the [`TlsSpec`]. Two verification modes:
//! - `--cacert FILE`: standard WebPKI verification against the CAs in the PEM file.
//! - `--insecure-skip-verify`: [`NoVerify`] accepts any certificate and any handshake signature
//!   **without checking it**. Benchmark only: a verifying client spends more CPU on the
//!   signature check than the server spends on signing, so a verifying client core saturates
//!   well before a server core. Never use it to talk to anything you care about.
//!
//! Resumption: `handshake` and `keepalive` disable it (every handshake is full); `resume` keeps
//! a [`DeepStore`] per shard (TLS 1.3 tickets, TLS 1.2 session ids or tickets).
//!
//! What it does not do: sockets (see [`crate::conn`]).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{Resumption, Tls12Resumption};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::plan::{TlsSpec, TlsVersions, Verify};
use crate::sessions::DeepStore;

/// Why the client configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read CA certificates from {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("no CA certificate usable in {0}")]
    NoCa(String),
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("bad server name {0:?}")]
    ServerName(String),
}

/// Benchmark-only verifier: accepts every certificate and signature unchecked.
#[derive(Debug)]
pub struct NoVerify {
    schemes: Vec<SignatureScheme>,
}

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}

/// Whether connections may resume earlier sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sessions {
    /// Every handshake is a full one.
    Disabled,
    /// Keep sessions in a per-config [`DeepStore`] and offer them.
    Resume,
}

/// Builds a client configuration (call once per shard: the session store is per config).
pub fn client_config(
    spec: &TlsSpec,
    sessions: Sessions,
) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&'static rustls::SupportedProtocolVersion] = match spec.versions {
        TlsVersions::Only12 => &[&rustls::version::TLS12],
        TlsVersions::Only13 => &[&rustls::version::TLS13],
        TlsVersions::Both => &[&rustls::version::TLS13, &rustls::version::TLS12],
    };
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)?;
    let mut config = match &spec.verify {
        Verify::Skip => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(no_verify(&provider)))
            .with_no_client_auth(),
        Verify::CaFile(path) => builder
            .with_root_certificates(roots(path)?)
            .with_no_client_auth(),
    };
    config.alpn_protocols = spec.alpn.clone();
    config.resumption = match sessions {
        Sessions::Disabled => Resumption::disabled(),
        Sessions::Resume => Resumption::store(Arc::new(DeepStore::default()))
            .tls12_resumption(Tls12Resumption::SessionIdOrTickets),
    };
    Ok(Arc::new(config))
}

fn no_verify(provider: &CryptoProvider) -> NoVerify {
    NoVerify {
        schemes: provider
            .signature_verification_algorithms
            .supported_schemes(),
    }
}

fn roots(path: &std::path::Path) -> Result<RootCertStore, TlsSetupError> {
    let shown = path.display().to_string();
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsSetupError::CaFile {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
    let mut store = RootCertStore::empty();
    let (added, _ignored) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(TlsSetupError::NoCa(shown));
    }
    Ok(store)
}

/// The name to verify and (for DNS names) send as SNI: `--sni`, else the target IP (no SNI).
pub fn server_name(
    sni: Option<&str>,
    target: std::net::SocketAddr,
) -> Result<ServerName<'static>, TlsSetupError> {
    match sni {
        Some(s) => ServerName::try_from(s.to_string())
            .map_err(|_| TlsSetupError::ServerName(s.to_string())),
        None => Ok(ServerName::IpAddress(target.ip().into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(verify: Verify) -> TlsSpec {
        TlsSpec {
            verify,
            sni: None,
            versions: TlsVersions::Both,
            alpn: vec![b"http/1.1".to_vec()],
        }
    }

    #[test]
    fn skip_verify_config_builds_with_alpn_and_no_resumption() {
        let c = client_config(&spec(Verify::Skip), Sessions::Disabled).unwrap();
        assert_eq!(c.alpn_protocols, vec![b"http/1.1".to_vec()]);
        let v = no_verify(&rustls::crypto::ring::default_provider());
        assert!(v
            .supported_verify_schemes()
            .contains(&SignatureScheme::ECDSA_NISTP256_SHA256));
    }

    #[test]
    fn missing_ca_file_is_named() {
        let e = client_config(
            &spec(Verify::CaFile("/nonexistent/ca.pem".into())),
            Sessions::Disabled,
        )
        .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }

    #[test]
    fn server_names() {
        let t: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(
            server_name(None, t).unwrap(),
            ServerName::IpAddress("127.0.0.1".parse::<std::net::IpAddr>().unwrap().into())
        );
        assert_eq!(
            server_name(Some("localhost"), t).unwrap(),
            ServerName::try_from("localhost").unwrap()
        );
        assert!(server_name(Some("bad name"), t).is_err());
    }
}
