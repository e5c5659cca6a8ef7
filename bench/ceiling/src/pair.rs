//! An in-memory rustls client/server pair and the server-side cost of one operation on it.
//!
//! Job: build the server configuration tlsterm builds (ring provider, AES-128-GCM first, server
//! cipher order, X25519 then P-256, two TLS 1.3 tickets per full handshake, a ticketer and a
//! TLS 1.2 session cache, ALPN `http/1.1`), a client like loadtest's (ring, no certificate
//! verification), and pump TLS bytes between them through memory. Only the time spent inside
//! the server's calls (`ServerConnection::new`, `read_tls`, `process_new_packets`, `write_tls`,
//! `writer().write_all`) is counted; the client's work and the copying between them are not.
//!
//! What it does not do: sockets, HTTP, system calls, anything the kernel would charge. The
//! result is the library's own floor on this CPU — what a perfect terminator built on it would
//! spend — not a prediction of what a server reaches.
//!
//! Invariants: every measured operation is checked to be what it claims (a full handshake is
//! `HandshakeKind::Full`, a resumption `Resumed`, bulk bytes arrive intact in count); the pump
//! gives up after a bounded number of flights rather than spinning.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring as provider, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, HandshakeKind, ServerConfig,
    ServerConnection, SignatureScheme,
};

/// Errors of the measurement; any of them means the numbers would be wrong, so the run stops.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// TLS version of a measured connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Tls13,
    Tls12,
}

impl Version {
    fn rustls(self) -> &'static rustls::SupportedProtocolVersion {
        match self {
            Version::Tls13 => &rustls::version::TLS13,
            Version::Tls12 => &rustls::version::TLS12,
        }
    }
}

/// Bytes written by the server per bulk operation (the body loadtest's bulk scenario fetches).
pub const BULK_BYTES: usize = 1_048_576;

/// The ring provider as tlsterm configures it (AES-128-GCM first; X25519, P-256).
fn server_provider() -> CryptoProvider {
    use provider::cipher_suite as cs;
    CryptoProvider {
        cipher_suites: vec![
            cs::TLS13_AES_128_GCM_SHA256,
            cs::TLS13_AES_256_GCM_SHA384,
            cs::TLS13_CHACHA20_POLY1305_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ],
        kx_groups: vec![provider::kx_group::X25519, provider::kx_group::SECP256R1],
        ..provider::default_provider()
    }
}

/// The server side: one certificate chain and key, TLS 1.3 and 1.2, tickets and a session cache.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, Error> {
    let mut config = ServerConfig::builder_with_provider(Arc::new(server_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.ignore_client_order = true;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.send_tls13_tickets = 2;
    config.ticketer = provider::Ticketer::new()?;
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(20_000);
    Ok(Arc::new(config))
}

/// The client side: loadtest's choices (ring defaults, one version, no verification);
/// `resume` keeps sessions (TLS 1.3 tickets, TLS 1.2 tickets or session ids), otherwise none.
pub fn client_config(version: Version, resume: bool) -> Result<Arc<ClientConfig>, Error> {
    let provider = Arc::new(provider::default_provider());
    let schemes = provider
        .signature_verification_algorithms
        .supported_schemes();
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[version.rustls()])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify(schemes)))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    if !resume {
        config.resumption = rustls::client::Resumption::disabled();
    }
    Ok(Arc::new(config))
}

/// Accepts any certificate and signature: the client's verification is not what is measured.
#[derive(Debug)]
struct NoVerify(Vec<SignatureScheme>);

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
        self.0.clone()
    }
}

/// A connected pair and the server time it has cost so far.
pub struct Pair {
    client: ClientConnection,
    server: ServerConnection,
    buf: Vec<u8>,
    plain: Vec<u8>,
    /// Time spent inside server calls.
    pub server_time: Duration,
}

impl Pair {
    /// A new client connection to a new server connection, handshake completed (including the
    /// server's TLS 1.3 tickets reaching the client).
    pub fn connect(server: &Arc<ServerConfig>, client: &Arc<ClientConfig>) -> Result<Pair, Error> {
        let name = ServerName::try_from("localhost")?;
        let client = ClientConnection::new(Arc::clone(client), name)?;
        let t = Instant::now();
        let server = ServerConnection::new(Arc::clone(server))?;
        let server_time = t.elapsed();
        let mut pair = Pair {
            client,
            server,
            buf: Vec::with_capacity(BULK_BYTES + BULK_BYTES / 8),
            plain: vec![0; 64 * 1024],
            server_time,
        };
        pair.pump()?;
        if pair.client.is_handshaking() || pair.server.is_handshaking() {
            return Err("handshake did not complete".into());
        }
        Ok(pair)
    }

    /// How the handshake went, as the client saw it.
    pub fn kind(&self) -> Option<HandshakeKind> {
        self.client.handshake_kind()
    }

    /// The cipher suite the server negotiated.
    pub fn suite(&self) -> Option<rustls::CipherSuite> {
        self.server.negotiated_cipher_suite().map(|s| s.suite())
    }

    /// Moves bytes both ways until neither side has anything to send; at most 16 flights.
    fn pump(&mut self) -> Result<(), Error> {
        for _ in 0..16 {
            let mut moved = false;
            self.buf.clear();
            while self.client.wants_write() {
                self.client.write_tls(&mut self.buf)?;
            }
            if !self.buf.is_empty() {
                moved = true;
                let t = Instant::now();
                let mut rd = &self.buf[..];
                while !rd.is_empty() {
                    self.server.read_tls(&mut rd)?;
                    self.server.process_new_packets()?;
                }
                self.server_time += t.elapsed();
            }
            self.buf.clear();
            let t = Instant::now();
            while self.server.wants_write() {
                self.server.write_tls(&mut self.buf)?;
            }
            self.server_time += t.elapsed();
            if !self.buf.is_empty() {
                moved = true;
                self.feed_client()?;
            }
            if !moved {
                return Ok(());
            }
        }
        Err("pump: no quiescence after 16 flights".into())
    }

    /// Gives the client everything in `buf`, draining its plaintext; returns plaintext bytes.
    fn feed_client(&mut self) -> Result<usize, Error> {
        let mut got = 0;
        let mut rd = &self.buf[..];
        while !rd.is_empty() {
            self.client.read_tls(&mut rd)?;
            self.client.process_new_packets()?;
            loop {
                match self.client.reader().read(&mut self.plain) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(got)
    }

    /// The server encrypts and sends `data`; returns the server time it took.
    pub fn send_bulk(&mut self, data: &[u8]) -> Result<Duration, Error> {
        self.buf.clear();
        self.server.set_buffer_limit(None);
        let t = Instant::now();
        self.server.writer().write_all(data)?;
        while self.server.wants_write() {
            self.server.write_tls(&mut self.buf)?;
        }
        let spent = t.elapsed();
        let got = self.feed_client()?;
        if got != data.len() {
            return Err(format!("bulk: client got {got} of {} bytes", data.len()).into());
        }
        Ok(spent)
    }
}

/// Server time of one full handshake (checked to be full).
pub fn full_handshake(
    server: &Arc<ServerConfig>,
    client: &Arc<ClientConfig>,
) -> Result<Duration, Error> {
    let pair = Pair::connect(server, client)?;
    match pair.kind() {
        Some(HandshakeKind::Full) => Ok(pair.server_time),
        k => Err(format!("expected a full handshake, got {k:?}").into()),
    }
}

/// Server time of one resumed handshake (checked to be resumed). The client configuration
/// must keep sessions, and an earlier connection must have left one.
pub fn resumed_handshake(
    server: &Arc<ServerConfig>,
    client: &Arc<ClientConfig>,
) -> Result<Duration, Error> {
    let pair = Pair::connect(server, client)?;
    match pair.kind() {
        Some(HandshakeKind::Resumed) => Ok(pair.server_time),
        k => Err(format!("expected a resumed handshake, got {k:?}").into()),
    }
}

/// On-CPU time of the calling thread in nanoseconds (`/proc/thread-self/schedstat`, first
/// field), or `None` where the kernel does not provide it.
///
/// The kernel brings the figure up to date at ticks and context switches, so one reading can
/// lag by a tick; over a run of many operations that is well under 1%.
pub fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// What one run of an operation cost the server.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cost {
    /// Server µs per operation, wall time inside the server calls.
    pub wall_us: f64,
    /// Server µs per operation on the CPU: the thread's CPU time over the run, apportioned by
    /// the server calls' share of the run's wall time, so time the thread spent preempted (a
    /// busy machine) is not charged. Equal to `wall_us` where the thread CPU clock is missing.
    pub cpu_us: f64,
}

/// Repeats `op` for at least `min_ops` operations and `budget` of wall time; `op` returns the
/// wall time spent in server calls. See [`Cost`].
pub fn per_op(
    budget: Duration,
    min_ops: u32,
    mut op: impl FnMut() -> Result<Duration, Error>,
) -> Result<Cost, Error> {
    let cpu0 = thread_cpu_ns();
    let start = Instant::now();
    let mut server = Duration::ZERO;
    let mut n: u32 = 0;
    while n < min_ops || start.elapsed() < budget {
        server += op()?;
        n += 1;
    }
    let wall = start.elapsed();
    let cpu1 = thread_cpu_ns();
    let n = f64::from(n);
    let wall_us = server.as_secs_f64() * 1e6 / n;
    let cpu_us = match (cpu0, cpu1) {
        (Some(a), Some(b)) if b > a && !wall.is_zero() => {
            let share = server.as_secs_f64() / wall.as_secs_f64();
            (b - a) as f64 / 1e3 * share / n
        }
        _ => wall_us,
    };
    Ok(Cost { wall_us, cpu_us })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ecdsa_server() -> Arc<ServerConfig> {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let key = PrivateKeyDer::Pkcs8(c.key_pair.serialize_der().into());
        server_config(vec![c.cert.der().clone()], key).unwrap()
    }

    #[test]
    fn full_then_resumed_for_both_versions() {
        let server = ecdsa_server();
        for v in [Version::Tls13, Version::Tls12] {
            let fresh = client_config(v, false).unwrap();
            assert!(full_handshake(&server, &fresh).is_ok());
            assert!(
                full_handshake(&server, &fresh).is_ok(),
                "no resumption when disabled"
            );
            let keeping = client_config(v, true).unwrap();
            assert!(full_handshake(&server, &keeping).is_ok());
            let t = resumed_handshake(&server, &keeping).unwrap();
            assert!(t > Duration::ZERO);
        }
    }

    #[test]
    fn bulk_arrives_whole() {
        let server = ecdsa_server();
        let client = client_config(Version::Tls13, false).unwrap();
        let mut pair = Pair::connect(&server, &client).unwrap();
        let data = vec![7u8; BULK_BYTES];
        assert!(pair.send_bulk(&data).unwrap() > Duration::ZERO);
        assert!(pair.send_bulk(&data[..1000]).unwrap() > Duration::ZERO);
    }

    #[test]
    fn per_op_counts_at_least_min_ops() {
        let mut calls = 0;
        let cost = per_op(Duration::ZERO, 4, || {
            calls += 1;
            Ok(Duration::from_micros(10))
        })
        .unwrap();
        assert_eq!(calls, 4);
        assert_eq!(cost.wall_us, 10.0);
        // The closure spends almost no CPU, so the apportioned figure cannot exceed the wall one
        // by more than the tick lag of the thread clock.
        assert!(cost.cpu_us <= 10.0 + 4_000.0, "{cost:?}");
    }

    #[test]
    fn thread_cpu_clock_advances_with_work() {
        let Some(a) = thread_cpu_ns() else {
            return; // kernel without schedstat: per_op falls back to wall time
        };
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        let b = thread_cpu_ns().unwrap();
        assert!(b > a, "{a} -> {b}");
    }
}
