//! A raw HTTP/2 client for the abuse tests of tests/e2e_h2.rs: frames written by hand over a
//! blocking rustls connection (ALPN `h2`, the test CA trusted), frames read back and sorted.
//!
//! Job: let a test send exactly the bytes an attacker would (floods, resets, oversized or
//! bomb-shaped header blocks) and see exactly what tlsterm answers (GOAWAY and its error
//! code, RST_STREAM codes, response HEADERS).
//!
//! Does not: decode HPACK (responses are recognised by frame type and stream), flow control,
//! or anything a well-behaved client does beyond the preface and SETTINGS ACK.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const PRIORITY: u8 = 0x2;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

pub const NO_ERROR: u32 = 0x0;
pub const PROTOCOL_ERROR: u32 = 0x1;
pub const REFUSED_STREAM: u32 = 0x7;
pub const CANCEL: u32 = 0x8;
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// One frame as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The error code of a RST_STREAM or GOAWAY frame.
    pub fn error_code(&self) -> Option<u32> {
        let at = match self.kind {
            RST_STREAM => 0,
            GOAWAY => 4,
            _ => return None,
        };
        let b = self.payload.get(at..at + 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// GOAWAY debug data.
    pub fn debug_data(&self) -> &[u8] {
        match self.kind {
            GOAWAY => self.payload.get(8..).unwrap_or(&[]),
            _ => &[],
        }
    }
}

/// Encodes one frame.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    assert!(len < 1 << 24);
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// RST_STREAM with `code`.
pub fn rst(stream: u32, code: u32) -> Vec<u8> {
    frame(RST_STREAM, 0, stream, &code.to_be_bytes())
}

/// HPACK integer with an `n`-bit prefix; `first` holds the pattern bits above the prefix.
pub fn hpack_int(first: u8, n: u8, mut v: usize, out: &mut Vec<u8>) {
    let max = (1usize << n) - 1;
    if v < max {
        out.push(first | v as u8);
        return;
    }
    out.push(first | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128) as u8 | 0x80);
        v /= 128;
    }
    out.push(v as u8);
}

/// An HPACK string literal (no Huffman).
pub fn hpack_str(s: &[u8], out: &mut Vec<u8>) {
    hpack_int(0, 7, s.len(), out);
    out.extend_from_slice(s);
}

/// Literal field without indexing, new name.
pub fn hpack_literal(name: &[u8], value: &[u8], out: &mut Vec<u8>) {
    out.push(0);
    hpack_str(name, out);
    hpack_str(value, out);
}

/// Literal field with incremental indexing, new name (enters the dynamic table at 62).
pub fn hpack_indexed_literal(name: &[u8], value: &[u8], out: &mut Vec<u8>) {
    out.push(0x40);
    hpack_str(name, out);
    hpack_str(value, out);
}

/// Indexed field.
pub fn hpack_index(i: usize, out: &mut Vec<u8>) {
    hpack_int(0x80, 7, i, out);
}

/// The header block of a request: `:method` (GET or POST), `:scheme https`, `:path`,
/// `:authority localhost`, then `extra` literal fields.
pub fn request_block(method: &str, path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut b = Vec::new();
    match method {
        "GET" => b.push(0x82),
        "POST" => b.push(0x83),
        other => {
            b.push(0x02);
            hpack_str(other.as_bytes(), &mut b);
        }
    }
    b.push(0x87);
    if path == "/" {
        b.push(0x84);
    } else {
        b.push(0x04);
        hpack_str(path.as_bytes(), &mut b);
    }
    b.push(0x01);
    hpack_str(b"localhost", &mut b);
    for (n, v) in extra {
        hpack_literal(n.as_bytes(), v.as_bytes(), &mut b);
    }
    b
}

/// How a read of frames ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The condition held.
    Matched,
    /// The server closed the connection (EOF, reset or TLS alert).
    Closed,
    /// The deadline passed.
    TimedOut,
}

/// A client connection speaking raw frames.
pub struct RawH2 {
    tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    buf: Vec<u8>,
    /// Every frame received so far, in order.
    pub frames: Vec<Frame>,
}

impl RawH2 {
    /// Connects, completes TLS with ALPN `h2` (asserted), sends the preface and an empty
    /// SETTINGS, and acknowledges the server's SETTINGS.
    pub fn connect(addr: SocketAddr, ca: &Path) -> RawH2 {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_file(ca).expect("read test CA"))
            .expect("add test CA");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = vec![b"h2".to_vec()];
        let name = ServerName::try_from("localhost").expect("server name");
        let conn = rustls::ClientConnection::new(Arc::new(cfg), name).expect("client conn");
        let sock = TcpStream::connect(addr).expect("connect tlsterm");
        sock.set_nodelay(true).expect("nodelay");
        let mut tls = rustls::StreamOwned::new(conn, sock);
        while tls.conn.is_handshaking() {
            tls.conn
                .complete_io(&mut tls.sock)
                .expect("TLS handshake with tlsterm");
        }
        assert_eq!(tls.conn.alpn_protocol(), Some(&b"h2"[..]), "ALPN");
        let mut c = RawH2 {
            tls,
            buf: Vec::new(),
            frames: Vec::new(),
        };
        let mut hello = PREFACE.to_vec();
        hello.extend_from_slice(&frame(SETTINGS, 0, 0, &[]));
        c.send(&hello);
        let end = c.read_until(Duration::from_secs(10), |f| {
            f.kind == SETTINGS && f.flags == 0
        });
        assert_eq!(end, End::Matched, "server SETTINGS: {:?}", c.frames);
        c.send(&frame(SETTINGS, ACK, 0, &[]));
        c
    }

    /// Writes bytes; false when the server has closed the connection.
    pub fn send(&mut self, bytes: &[u8]) -> bool {
        self.tls.write_all(bytes).is_ok() && self.tls.flush().is_ok()
    }

    /// Reads frames until `done` holds for a received frame, the server closes, or `within`
    /// passes. Frames are appended to [`RawH2::frames`].
    pub fn read_until(&mut self, within: Duration, mut done: impl FnMut(&Frame) -> bool) -> End {
        let deadline = Instant::now() + within;
        loop {
            while let Some(f) = self.parse_one() {
                let hit = done(&f);
                self.frames.push(f);
                if hit {
                    return End::Matched;
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return End::TimedOut;
            }
            let wait = (deadline - now).min(Duration::from_millis(200));
            let _ = self.tls.sock.set_read_timeout(Some(wait));
            let mut chunk = [0u8; 16 * 1024];
            match self.tls.read(&mut chunk) {
                Ok(0) => return End::Closed,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return End::Closed,
            }
        }
    }

    /// Reads until a GOAWAY arrives; returns it (or how the read ended without one).
    pub fn goaway(&mut self, within: Duration) -> Result<Frame, End> {
        match self.read_until(within, |f| f.kind == GOAWAY) {
            End::Matched => Ok(self.frames.last().cloned().expect("matched frame")),
            other => Err(other),
        }
    }

    /// Frames received on `stream`.
    pub fn on_stream(&self, stream: u32) -> Vec<&Frame> {
        self.frames.iter().filter(|f| f.stream == stream).collect()
    }

    fn parse_one(&mut self) -> Option<Frame> {
        if self.buf.len() < 9 {
            return None;
        }
        let len = usize::from(self.buf[0]) << 16
            | usize::from(self.buf[1]) << 8
            | usize::from(self.buf[2]);
        if self.buf.len() < 9 + len {
            return None;
        }
        let f = Frame {
            kind: self.buf[3],
            flags: self.buf[4],
            stream: u32::from_be_bytes([self.buf[5], self.buf[6], self.buf[7], self.buf[8]])
                & 0x7fff_ffff,
            payload: self.buf[9..9 + len].to_vec(),
        };
        self.buf.drain(..9 + len);
        Some(f)
    }
}
