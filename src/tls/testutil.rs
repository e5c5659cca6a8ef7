//! Test helpers for the `tls` module (compiled only for tests): temporary directories,
//! certificates made with rcgen, and an in-memory rustls client/server pair pumping bytes.
//!
//! Not for production code paths: helpers panic on failure, as tests should.
//! RSA keys come from `testdata/` because ring cannot generate them.
use super::store::{load_cert, LoadedCert};
use rcgen::{CertificateParams, KeyPair, SerialNumber};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, ServerConfig, ServerConnection,
    SignatureScheme, SupportedCipherSuite, SupportedProtocolVersion,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

pub const RSA_PKCS8: &str = include_str!("testdata/rsa2048-pkcs8.pem");
pub const RSA_PKCS1: &str = include_str!("testdata/rsa2048-pkcs1.pem");
pub const EC_PKCS8: &str = include_str!("testdata/ec-p256-pkcs8.pem");
pub const EC_SEC1: &str = include_str!("testdata/ec-p256-sec1.pem");
pub const ED25519_PKCS8: &str = include_str!("testdata/ed25519-pkcs8.pem");

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tlsterm-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn ecdsa_p256() -> KeyPair {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap()
}

pub fn ecdsa_p384() -> KeyPair {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap()
}

pub fn rsa() -> KeyPair {
    KeyPair::from_pem(RSA_PKCS8).unwrap()
}

/// Self-signed certificate for `names`, serial `00 0a 0b` (leading zero on purpose), valid
/// 2020-01-01 .. 2040-01-01.
pub fn cert_pem(names: &[&str], key: &KeyPair) -> String {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).unwrap();
    params.serial_number = Some(SerialNumber::from_slice(&[0x00, 0x0a, 0x0b]));
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2040, 1, 1);
    params.self_signed(key).unwrap().pem()
}

/// Writes `parts` concatenated to `dir/file`.
pub fn write(dir: &TempDir, file: &str, parts: &[&str]) -> PathBuf {
    let path = dir.join(file);
    std::fs::write(&path, parts.concat()).unwrap();
    path
}

/// Makes, writes (chain + key in one file) and loads a certificate.
pub fn loaded(dir: &TempDir, file: &str, names: &[&str], key: &KeyPair) -> LoadedCert {
    let path = write(dir, file, &[&cert_pem(names, key), &key.serialize_pem()]);
    load_cert(&path, None).unwrap()
}

/// Accepts any server certificate but checks handshake signatures, and advertises only
/// `schemes` — the way to make a rustls client look like an RSA-only client.
#[derive(Debug)]
pub struct AnyCert {
    schemes: Vec<SignatureScheme>,
    algs: WebPkiSupportedAlgorithms,
}

impl AnyCert {
    pub fn new(schemes: Option<&[SignatureScheme]>) -> Self {
        let algs = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        let schemes = match schemes {
            Some(s) => s.to_vec(),
            None => algs.supported_schemes(),
        };
        AnyCert { schemes, algs }
    }
}

impl ServerCertVerifier for AnyCert {
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
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}

/// What the test client offers.
pub struct ClientSpec<'a> {
    pub versions: &'a [&'static SupportedProtocolVersion],
    /// None: the full ring default list, in ring's order.
    pub suites: Option<Vec<SupportedCipherSuite>>,
    /// None: ring's default groups.
    pub groups: Option<Vec<&'static dyn rustls::crypto::SupportedKxGroup>>,
    /// None: every scheme ring verifies.
    pub schemes: Option<&'a [SignatureScheme]>,
    pub alpn: &'a [&'a [u8]],
}

impl Default for ClientSpec<'_> {
    fn default() -> Self {
        ClientSpec {
            versions: rustls::DEFAULT_VERSIONS,
            suites: None,
            groups: None,
            schemes: None,
            alpn: &[],
        }
    }
}

pub fn client_config(spec: &ClientSpec<'_>) -> Arc<ClientConfig> {
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(s) = &spec.suites {
        provider.cipher_suites = s.clone();
    }
    if let Some(g) = &spec.groups {
        provider.kx_groups = g.clone();
    }
    let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(spec.versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert::new(spec.schemes)))
        .with_no_client_auth();
    config.alpn_protocols = spec.alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A client config trusting only `roots` (real WebPKI verification, ring provider).
pub fn verifying_client_config(roots: rustls::RootCertStore) -> Arc<ClientConfig> {
    let provider: Arc<CryptoProvider> = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Runs a full handshake in memory. `server_name`: a DNS name sends SNI, an IP address does not.
pub fn handshake(
    client_config: Arc<ClientConfig>,
    server_config: Arc<ServerConfig>,
    server_name: &str,
) -> Result<(ClientConnection, ServerConnection), rustls::Error> {
    let name = ServerName::try_from(server_name.to_owned()).unwrap();
    let mut client = ClientConnection::new(client_config, name)?;
    let mut server = ServerConnection::new(server_config)?;
    for _ in 0..20 {
        let mut moved = false;
        let mut buf = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut buf).unwrap();
        }
        if !buf.is_empty() {
            moved = true;
            let mut rd = &buf[..];
            while !rd.is_empty() {
                server.read_tls(&mut rd).unwrap();
                server.process_new_packets()?;
            }
        }
        buf.clear();
        while server.wants_write() {
            server.write_tls(&mut buf).unwrap();
        }
        if !buf.is_empty() {
            moved = true;
            let mut rd = &buf[..];
            while !rd.is_empty() {
                client.read_tls(&mut rd).unwrap();
                client.process_new_packets()?;
            }
        }
        if !moved && !client.is_handshaking() && !server.is_handshaking() {
            return Ok((client, server));
        }
    }
    panic!("handshake did not finish");
}
