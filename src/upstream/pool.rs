//! The shard-local keep-alive pool of HTTP/1.1 connections to one cache backend.
//!
//! One [`Pool`] per backend per shard (no locks, no atomics): idle connections are kept LIFO
//! (the most recently used connection is the least likely to have been closed by the cache for
//! idleness) and reused across clients, as HAProxy's `http-reuse always` does. Connecting has
//! a timeout; the retry (on another backend when there is one) is the caller's. An idle
//! connection older than [`Pool::max_idle_age`] is dropped instead of reused, since the cache
//! closes idle connections on its own schedule (Varnish's `timeout_idle`, 5 s by default).
//!
//! A pool may be capped (`upstream.max_connections_per_shard`): at the cap, a request waits
//! for a connection to close (the queue, `Tw`) up to `timeouts.queue`; an idle connection is
//! closed to make room for a request that needs a fresh one. Every open connection holds a
//! [`Slot`] of the cap, so the count cannot drift.
//!
//! What it does not do: speak HTTP (that is `proxy`), or share connections between shards.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_lite::{AsyncRead, AsyncWrite};
use glommio::net::{TcpStream, UnixStream};
use glommio::sync::Semaphore;

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

/// A pooled upstream connection. It holds no read buffer while idle (bytes read past the
/// previous response are a protocol error, so there is nothing to keep): the leg that takes
/// it borrows one from the shard's spares.
#[derive(Debug)]
pub struct Conn {
    pub stream: Stream,
    /// Responses completed on this connection so far.
    pub uses: u32,
    /// The pool capacity this connection occupies (given back when it closes).
    pub slot: Slot,
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

/// Open connections of one pool (idle and busy) against its cap. Every open connection holds
/// a [`Slot`]; dropping the slot (the connection closed) wakes one waiter.
#[derive(Debug)]
struct Capacity {
    /// 0 = no cap.
    max: usize,
    open: Cell<usize>,
    waiting: Cell<usize>,
    freed: Semaphore,
}

/// One unit of a pool's capacity, held by an open connection.
#[derive(Debug)]
pub struct Slot(Rc<Capacity>);

impl Drop for Slot {
    fn drop(&mut self) {
        let c = &self.0;
        c.open.set(c.open.get().saturating_sub(1));
        if c.waiting.get() > 0 {
            c.freed.signal(1);
        }
    }
}

/// Per-shard pool of keep-alive connections to one upstream address.
#[derive(Debug)]
pub struct Pool {
    addr: UpstreamAddr,
    max_idle: usize,
    connect_timeout: Duration,
    max_idle_age: Duration,
    /// Most recently returned at the back (taken first), oldest at the front (evicted first).
    idle: RefCell<VecDeque<Conn>>,
    capacity: Rc<Capacity>,
}

impl Pool {
    /// `max_open`: cap on open connections (idle + busy) of this pool on this shard; 0 = none.
    pub fn new(
        addr: UpstreamAddr,
        max_idle: usize,
        max_open: usize,
        connect_timeout: Duration,
    ) -> Self {
        Pool {
            addr,
            max_idle,
            connect_timeout,
            max_idle_age: Duration::from_secs(4),
            idle: RefCell::new(VecDeque::new()),
            capacity: Rc::new(Capacity {
                max: max_open,
                open: Cell::new(0),
                waiting: Cell::new(0),
                freed: Semaphore::new(0),
            }),
        }
    }

    /// Open connections (idle and busy).
    pub fn open_len(&self) -> usize {
        self.capacity.open.get()
    }

    /// Reserves room for one more connection, waiting up to `limit` when the pool is at its
    /// cap (the queue: HAProxy's `Tw`). `None`: still full after `limit`.
    pub async fn reserve(&self, limit: Duration) -> Option<Slot> {
        let c = &self.capacity;
        if c.max == 0 || c.open.get() < c.max {
            c.open.set(c.open.get() + 1);
            return Some(Slot(Rc::clone(c)));
        }
        // A pooled idle connection can be closed to make room.
        if self.idle.borrow_mut().pop_front().is_some() {
            c.open.set(c.open.get() + 1);
            return Some(Slot(Rc::clone(c)));
        }
        c.waiting.set(c.waiting.get() + 1);
        let waited = crate::rt::within(limit, async {
            while c.open.get() >= c.max {
                if c.freed.acquire(1).await.is_err() {
                    break;
                }
            }
        })
        .await;
        c.waiting.set(c.waiting.get() - 1);
        waited?;
        c.open.set(c.open.get() + 1);
        Some(Slot(Rc::clone(c)))
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
        while let Some(conn) = idle.pop_back() {
            if now.saturating_duration_since(conn.idle_since) < self.max_idle_age {
                return Some(conn);
            }
        }
        None
    }

    /// Returns a connection after a complete exchange (`uses`: exchanges completed before this
    /// one). Beyond `max_idle` the oldest idle connection is closed.
    pub fn put_back(&self, stream: Stream, uses: u32, slot: Slot, now: Instant) {
        let conn = Conn {
            stream,
            uses: uses + 1,
            slot,
            idle_since: now,
        };
        let mut idle = self.idle.borrow_mut();
        if idle.len() >= self.max_idle {
            if self.max_idle == 0 {
                return;
            }
            idle.pop_front();
        }
        idle.push_back(conn);
    }

    /// Closes the idle connections older than [`Pool::max_idle_age`] (the oldest are at the
    /// front; stops at the first young one).
    pub fn prune_idle(&self, now: Instant) {
        let mut idle = self.idle.borrow_mut();
        while idle
            .front()
            .is_some_and(|c| now.saturating_duration_since(c.idle_since) >= self.max_idle_age)
        {
            idle.pop_front();
        }
    }

    /// Closes every idle connection (drain).
    pub fn clear(&self) {
        self.idle.borrow_mut().clear();
    }

    /// Opens a new connection in the reserved `slot`, within the connect timeout (one
    /// attempt: retrying, on this backend or another, is the caller's choice).
    pub async fn connect(&self, slot: Slot, now: Instant) -> Result<Conn, ConnectError> {
        let stream = self.connect_once().await?;
        Ok(self.conn(stream, slot, now))
    }

    /// The backend this pool connects to.
    pub fn addr(&self) -> &UpstreamAddr {
        &self.addr
    }

    fn conn(&self, stream: Stream, slot: Slot, now: Instant) -> Conn {
        Conn {
            stream,
            uses: 0,
            slot,
            idle_since: now,
        }
    }

    async fn connect_once(&self) -> Result<Stream, ConnectError> {
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
            Some(Ok(stream)) => Ok(stream),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_connections_are_reused_newest_first_evicted_oldest_first_and_pruned_by_age() {
        glommio::LocalExecutor::default().run(async {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let pool = Pool::new(UpstreamAddr::Tcp(addr), 2, 0, Duration::from_secs(1));
            let t0 = Instant::now();
            let mut ports = Vec::new();
            for i in 0..3u64 {
                let slot = pool.reserve(Duration::from_secs(1)).await.unwrap();
                let conn = pool.connect(slot, t0).await.unwrap();
                let Stream::Tcp(s) = &conn.stream else {
                    unreachable!()
                };
                ports.push(s.local_addr().unwrap().port());
                pool.put_back(conn.stream, 0, conn.slot, t0 + Duration::from_secs(i));
            }
            // At most two idle: the first one returned was closed.
            assert_eq!(pool.idle_len(), 2);
            assert_eq!(pool.open_len(), 2);
            // At 5.5 s the one returned at 1 s is 4.5 s old (pruned: the age limit is 4 s), the
            // one returned at 2 s is 3.5 s old (stays).
            pool.prune_idle(t0 + Duration::from_millis(5500));
            assert_eq!(pool.idle_len(), 1);
            let conn = pool.take_idle(t0 + Duration::from_millis(5500)).unwrap();
            let Stream::Tcp(s) = &conn.stream else {
                unreachable!()
            };
            assert_eq!(s.local_addr().unwrap().port(), ports[2]);
            assert_eq!(conn.uses, 1);
            assert!(pool.take_idle(t0).is_none());
        });
    }
}
