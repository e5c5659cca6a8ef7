//! The shard-local keep-alive pool of HTTP/1.1 connections to the cache layer.
//!
//! One [`Pool`] per shard (no locks, no atomics): idle connections are kept LIFO (the most
//! recently used connection is the least likely to have been closed by the cache for idleness)
//! and reused across clients, as HAProxy's `http-reuse always` does. Connecting has a timeout
//! and one retry on failure. An idle connection older than [`Pool::max_idle_age`] is dropped
//! instead of reused, since the cache closes idle connections on its own schedule (Varnish's
//! `timeout_idle`, 5 s by default).
//!
//! What it does not do: speak HTTP (that is `proxy`), or share connections between shards.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_lite::{AsyncRead, AsyncWrite};
use glommio::net::{TcpStream, UnixStream};

use crate::config::UpstreamAddr;

/// A connection to the cache layer, over TCP or a Unix socket.
#[derive(Debug)]
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_close(cx),
            Stream::Unix(s) => Pin::new(s).poll_close(cx),
        }
    }
}

/// A pooled upstream connection with its read buffer (bytes read past the previous response
/// are a protocol error, so the buffer is empty whenever the connection is idle).
#[derive(Debug)]
pub struct Conn {
    pub stream: Stream,
    /// Responses completed on this connection so far.
    pub uses: u32,
    idle_since: Instant,
}

impl Conn {
    /// This connection came from the pool (it may have been closed by the cache meanwhile).
    pub fn is_reused(&self) -> bool {
        self.uses > 0
    }
}

/// Why no upstream connection could be had.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("connect to {addr} timed out after {after:?}")]
    TimedOut { addr: String, after: Duration },
    #[error("connect to {addr} failed: {source}")]
    Refused { addr: String, source: io::Error },
}

/// Per-shard pool of idle keep-alive connections to one upstream address.
#[derive(Debug)]
pub struct Pool {
    addr: UpstreamAddr,
    max_idle: usize,
    connect_timeout: Duration,
    max_idle_age: Duration,
    idle: RefCell<Vec<Conn>>,
}

impl Pool {
    pub fn new(addr: UpstreamAddr, max_idle: usize, connect_timeout: Duration) -> Self {
        Pool {
            addr,
            max_idle,
            connect_timeout,
            max_idle_age: Duration::from_secs(4),
            idle: RefCell::new(Vec::new()),
        }
    }

    /// Idle connections older than this are closed rather than reused.
    pub fn max_idle_age(&self) -> Duration {
        self.max_idle_age
    }

    /// Number of idle connections in the pool.
    pub fn idle_len(&self) -> usize {
        self.idle.borrow().len()
    }

    /// The most recently returned idle connection still young enough, if any. Older ones are
    /// dropped (closed) on the way.
    pub fn take_idle(&self, now: Instant) -> Option<Conn> {
        let mut idle = self.idle.borrow_mut();
        while let Some(conn) = idle.pop() {
            if now.saturating_duration_since(conn.idle_since) < self.max_idle_age {
                return Some(conn);
            }
        }
        None
    }

    /// Returns a connection after a complete exchange (`uses`: exchanges completed before this
    /// one). Beyond `max_idle` the oldest idle connection is closed.
    pub fn put_back(&self, stream: Stream, uses: u32, now: Instant) {
        let conn = Conn {
            stream,
            uses: uses + 1,
            idle_since: now,
        };
        let mut idle = self.idle.borrow_mut();
        if idle.len() >= self.max_idle {
            if self.max_idle == 0 {
                return;
            }
            idle.remove(0);
        }
        idle.push(conn);
    }

    /// Closes every idle connection (drain).
    pub fn clear(&self) {
        self.idle.borrow_mut().clear();
    }

    /// Opens a new connection, with the connect timeout and one retry on failure. Also returns
    /// how many attempts failed (0, 1 or 2), for the metrics.
    pub async fn connect(&self, now: Instant) -> (Result<Conn, ConnectError>, u64) {
        match self.connect_once(now).await {
            Ok(c) => (Ok(c), 0),
            Err(_) => match self.connect_once(now).await {
                Ok(c) => (Ok(c), 1),
                Err(e) => (Err(e), 2),
            },
        }
    }

    async fn connect_once(&self, now: Instant) -> Result<Conn, ConnectError> {
        let addr = self.addr.to_string();
        let attempt = async {
            match &self.addr {
                UpstreamAddr::Tcp(a) => TcpStream::connect(*a).await.map(|s| {
                    // Small requests and heads must not wait for Nagle.
                    let _ = s.set_nodelay(true);
                    Stream::Tcp(s)
                }),
                UpstreamAddr::Unix(p) => UnixStream::connect(p).await.map(Stream::Unix),
            }
        };
        match crate::rt::within(self.connect_timeout, attempt).await {
            None => Err(ConnectError::TimedOut {
                addr,
                after: self.connect_timeout,
            }),
            Some(Err(e)) => Err(ConnectError::Refused {
                addr,
                source: e.into(),
            }),
            Some(Ok(stream)) => Ok(Conn {
                stream,
                uses: 0,
                idle_since: now,
            }),
        }
    }
}
