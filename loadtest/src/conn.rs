//! Opening a connection (TCP connect + TLS handshake, timed) and the small I/O helpers the
//! scenarios share. The only code besides [`crate::origin`] that touches sockets.
//!
//! Job: one [`Dialer`] per shard; `dial()` returns the TLS stream and what the handshake was
//! (time from connect start to handshake end on the client, full or resumed), or a [`Failure`]
//! classified as connect / tls / timeout. [`read_response`] drives a [`ResponseReader`] over a
//! stream with a deadline.
//!
//! What it does not do: decide what counts (see [`crate::stats`]), or retry.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use futures_rustls::TlsConnector;
use glommio::net::TcpStream;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, HandshakeKind};

use crate::clock;
use crate::http1::{Response, ResponseError, ResponseReader};
use crate::stats::{ErrorKind, Handshake};

/// A client TLS connection.
pub type Stream = futures_rustls::client::TlsStream<TcpStream>;

/// A failed operation: what kind of error, and the message for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: ErrorKind,
    pub detail: String,
}

impl Failure {
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Failure {
            kind,
            detail: detail.into(),
        }
    }
    fn io(kind: ErrorKind, e: &io::Error) -> Self {
        Failure::new(kind, e.to_string())
    }
}

impl From<ResponseError> for Failure {
    fn from(e: ResponseError) -> Self {
        let kind = match e {
            ResponseError::Truncated => ErrorKind::Closed,
            _ => ErrorKind::Parse,
        };
        Failure::new(kind, e.to_string())
    }
}

/// Opens connections to one target with one client configuration.
pub struct Dialer {
    target: SocketAddr,
    connector: TlsConnector,
    name: ServerName<'static>,
    timeout: Duration,
}

impl Dialer {
    pub fn new(
        target: SocketAddr,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
        timeout: Duration,
    ) -> Self {
        Dialer {
            target,
            connector: TlsConnector::from(config),
            name,
            timeout,
        }
    }

    /// TCP connect + TLS handshake, both within the timeout.
    pub async fn dial(&self) -> Result<(Stream, Handshake), Failure> {
        let begun = clock::now();
        let tcp = match TcpStream::connect_timeout(self.target, self.timeout).await {
            Ok(t) => t,
            Err(e) => {
                let e = io::Error::from(e);
                let kind = if e.kind() == io::ErrorKind::TimedOut {
                    ErrorKind::Timeout
                } else {
                    ErrorKind::Connect
                };
                return Err(Failure::io(kind, &e));
            }
        };
        // Requests are written whole; Nagle would only delay pipelined batches.
        let _ = tcp.set_nodelay(true);
        let left = self
            .timeout
            .saturating_sub(clock::now().saturating_duration_since(begun));
        let handshake = self.connector.connect(self.name.clone(), tcp);
        let stream = match within(left, handshake).await {
            None => return Err(Failure::new(ErrorKind::Timeout, "TLS handshake timed out")),
            Some(Err(e)) => return Err(Failure::io(ErrorKind::Tls, &e)),
            Some(Ok(s)) => s,
        };
        let resumed = stream.get_ref().1.handshake_kind() == Some(HandshakeKind::Resumed);
        let h = Handshake {
            took: clock::now().saturating_duration_since(begun),
            resumed,
        };
        Ok((stream, h))
    }
}

/// Runs `fut` until `deadline`; `None` when the deadline passed first.
pub async fn until<F: std::future::Future>(deadline: Instant, fut: F) -> Option<F::Output> {
    within(deadline.saturating_duration_since(clock::now()), fut).await
}

/// Runs `fut` with a time limit; `None` when the limit passed first.
pub async fn within<F: std::future::Future>(limit: Duration, fut: F) -> Option<F::Output> {
    futures_lite::future::or(async { Some(fut.await) }, async {
        glommio::timer::sleep(limit).await;
        None
    })
    .await
}

/// Sleeps until `at` (returns at once if it passed).
pub async fn sleep_until(at: Instant) {
    let d = at.saturating_duration_since(clock::now());
    if !d.is_zero() {
        glommio::timer::sleep(d).await;
    }
}

/// Writes all of `bytes` and flushes, within `deadline`.
pub async fn send(stream: &mut Stream, bytes: &[u8], deadline: Instant) -> Result<(), Failure> {
    let io = async {
        stream.write_all(bytes).await?;
        stream.flush().await
    };
    match until(deadline, io).await {
        None => Err(Failure::new(ErrorKind::Timeout, "write timed out")),
        Some(Err(e)) => Err(Failure::io(ErrorKind::Closed, &e)),
        Some(Ok(())) => Ok(()),
    }
}

/// A reusable read buffer with unconsumed bytes in `start..end`.
pub struct ReadBuf {
    data: Vec<u8>,
    start: usize,
    end: usize,
}

impl ReadBuf {
    pub fn new(size: usize) -> Self {
        ReadBuf {
            data: vec![0; size],
            start: 0,
            end: 0,
        }
    }

    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Reads more bytes from `stream`; `Ok(0)` at EOF.
    pub async fn fill(&mut self, stream: &mut Stream) -> io::Result<usize> {
        if self.start == self.end {
            self.clear();
        } else if self.end == self.data.len() {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let n = stream.read(&mut self.data[self.end..]).await?;
        self.end += n;
        Ok(n)
    }

    /// Feeds buffered bytes to `reader` until it needs more or a response ends.
    pub fn parse(
        &mut self,
        reader: &mut ResponseReader,
    ) -> Result<Option<Response>, ResponseError> {
        loop {
            let (used, done) = reader.feed(&self.data[self.start..self.end])?;
            self.start += used;
            if done.is_some() || used == 0 {
                return Ok(done);
            }
        }
    }
}

/// Reads one whole response (within `deadline`).
pub async fn read_response(
    stream: &mut Stream,
    buf: &mut ReadBuf,
    reader: &mut ResponseReader,
    deadline: Instant,
) -> Result<Response, Failure> {
    loop {
        if let Some(r) = buf.parse(reader)? {
            return Ok(r);
        }
        match until(deadline, buf.fill(stream)).await {
            None => return Err(Failure::new(ErrorKind::Timeout, "response timed out")),
            Some(Err(e)) => return Err(Failure::io(ErrorKind::Closed, &e)),
            Some(Ok(0)) => {
                return match reader.eof()? {
                    Some(r) => Ok(r),
                    None => Err(Failure::new(
                        ErrorKind::Closed,
                        "connection closed before a response",
                    )),
                }
            }
            Some(Ok(_)) => {}
        }
    }
}

/// Sends close_notify + FIN and waits (until `deadline`) for the server to close its side,
/// discarding whatever it still sends (TLS 1.3 session tickets are processed on the way).
/// Returns whether the server closed in time.
pub async fn close_and_drain(stream: &mut Stream, deadline: Instant) -> bool {
    let drain = async {
        let _ = stream.close().await;
        let mut sink = [0u8; 4096];
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    until(deadline, drain).await.is_some()
}
