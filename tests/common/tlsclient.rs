//! A small blocking rustls client (ring provider) for tests that need byte-level control over
//! timing: slow writes, stalls, half-sent bodies.
//!
//! Does not: parse HTTP (see `wire.rs`) or retry anything.
use super::Certs;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A TLS connection to tlsterm trusting the test CA, SNI `localhost`.
pub struct TlsClient {
    pub stream: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
}

impl TlsClient {
    pub fn connect(addr: SocketAddr, certs: &Certs) -> TlsClient {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&certs.ca).expect("read CA") {
            roots.add(c.expect("CA cert")).expect("add CA");
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let name = ServerName::try_from("localhost").expect("name");
        let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
        let tcp = TcpStream::connect(addr).expect("connect tlsterm");
        tcp.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut stream = rustls::StreamOwned::new(conn, tcp);
        // Finish the handshake now, so timings below concern HTTP only.
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .expect("TLS handshake");
        }
        TlsClient { stream }
    }

    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Reads until the peer closes (EOF or close_notify) or `within` passes. Returns the bytes
    /// and how the read ended.
    pub fn read_until_close(&mut self, within: Duration) -> (Vec<u8>, End) {
        let deadline = Instant::now() + within;
        let mut out = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return (out, End::StillOpen);
            }
            let _ = self.stream.sock.set_read_timeout(Some(left));
            match self.stream.read(&mut buf) {
                Ok(0) => return (out, End::Closed),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    return (out, End::StillOpen)
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return (out, End::Reset),
                // Writing our pending bytes failed because the server already closed: what it
                // sent before is still readable.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                    let _ = self.stream.conn.reader().read_to_end(&mut out);
                    return (out, End::Closed);
                }
                // An EOF without close_notify is still a FIN (not a reset).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return (out, End::Closed),
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }
}

/// How a connection ended from the client's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// FIN (with or without TLS close_notify).
    Closed,
    /// RST.
    Reset,
    /// Nothing happened before the deadline.
    StillOpen,
}

/// Reads from a plain TCP socket until EOF/RST/deadline (for clients that never did TLS).
pub fn tcp_wait_close(s: &mut TcpStream, within: Duration) -> End {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return End::StillOpen;
        }
        let _ = s.set_read_timeout(Some(left));
        match s.read(&mut buf) {
            Ok(0) => return End::Closed,
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return End::Reset,
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut =>
            {
                return End::StillOpen
            }
            Err(e) => panic!("read failed: {e}"),
        }
    }
}
