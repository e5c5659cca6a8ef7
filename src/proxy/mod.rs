//! The connection driver: the only code that reads and writes client and upstream sockets.
//!
//! A connection's lifecycle: accepted → TLS handshake (bounded by `timeouts.handshake`, the
//! certificate kind decided from the ClientHello by the same lookup the resolver uses) → a loop
//! of HTTP/1.1 exchanges ([`h1`]) → graceful close (TLS close_notify, then FIN).
//!
//! All state here is shard-local ([`ShardCtx`] lives in an `Rc`); the only cross-shard values
//! are the immutable, `Arc`-shared TLS configuration and certificate store.
//!
//! What it does not do: parse HTTP (that is [`crate::http`]), decide termination states (that
//! is [`outcome`] and [`crate::sli`]), or format log lines (that is [`crate::log`]).

pub mod body;
pub mod h1;
pub mod h2;
pub mod io;
mod leg;
pub mod outcome;

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use futures_lite::AsyncWriteExt;
use futures_rustls::LazyConfigAcceptor;
use glommio::net::TcpStream;
use glommio::sync::Semaphore;
use rustls::server::Acceptor;

use self::io::{HoldWrites, Sock};
use crate::clock;
use crate::config::Config;
use crate::log::AccessLog;
use crate::metrics::{HandshakeOutcome, Resumption, ShardMetrics, TlsVersion};
use crate::rt::within;
use crate::tls::props::{connection_properties, SessionInfo};
use crate::tls::{CertKind, CertStore};
use crate::upstream::Group;
pub use crate::upstream::PoolKind;

/// Everything a shard's connections share. Lives in an `Rc` on one executor.
#[derive(Debug)]
pub struct ShardCtx {
    pub id: usize,
    pub cfg: Arc<Config>,
    /// This shard's TLS configuration, replaced when a new state is published.
    pub tls: RefCell<ShardTls>,
    /// The cache backends: keep-alive pools (and health-check pools) per backend.
    pub upstream: Group,
    pub log: AccessLog,
    /// Keep-alive ends: idle connections close, busy ones after their current response.
    pub draining: Latch,
    /// Accepting ends (implies `draining`).
    pub stopping: Latch,
    /// The grace period after `stopping` is over: requests still in flight end now, recorded
    /// with termination state `K` (killed).
    pub killing: Latch,
    /// Connections currently open on this shard.
    pub open_connections: Cell<usize>,
    /// Per-client-IP concurrency cap and penalties.
    pub per_ip: crate::limits::PerIp,
    /// This shard's counters (read by the admin listener on scrape).
    pub metrics: Arc<ShardMetrics>,
    /// Process-wide switches (access log on/off is read per request: a plain load).
    pub control: Arc<crate::shard::Control>,
}

impl ShardCtx {
    /// The pool kind for a request: health checks go to the reserved pools when configured.
    pub fn pool_kind(&self, host: Option<&str>, target: &str) -> PoolKind {
        match &self.cfg.upstream.health {
            Some(route) if route.matches(host, target) => PoolKind::Health,
            _ => PoolKind::Main,
        }
    }

    /// Refreshes the main pools' gauges (idle and open connections, all backends).
    pub fn note_pool(&self) {
        self.metrics
            .upstream_idle
            .set(self.upstream.idle_len() as u64);
        self.metrics
            .upstream_open
            .set(self.upstream.open_len() as u64);
    }
}

/// A shard-local one-way latch: once set, it stays set and wakes every waiter. Used three
/// times per shard: `draining` (idle keep-alive connections close, busy ones close after their
/// current response), `stopping` (accept loops end too) and `killing` (the grace period is
/// over: requests in flight end as `K`).
#[derive(Debug)]
pub struct Latch {
    set: Cell<bool>,
    /// Never has permits; closing it wakes every waiter.
    signal: Semaphore,
}

impl Default for Latch {
    fn default() -> Self {
        Latch {
            set: Cell::new(false),
            signal: Semaphore::new(0),
        }
    }
}

impl Latch {
    /// Sets the latch (idempotent).
    pub fn set(&self) {
        if !self.set.replace(true) {
            self.signal.close();
        }
    }

    pub fn is_set(&self) -> bool {
        self.set.get()
    }

    /// Resolves once the latch is set.
    pub async fn wait(&self) {
        if self.is_set() {
            return;
        }
        // Fails (and so returns) only when the semaphore is closed by `set`.
        let _ = self.signal.acquire(1).await;
    }
}

/// A shard's TLS configuration and the certificate store it resolves from.
#[derive(Debug, Clone)]
pub struct ShardTls {
    /// Generation of the published state this was built from.
    pub generation: u64,
    pub config: Arc<rustls::ServerConfig>,
    pub store: Arc<CertStore>,
}

/// Facts about an established client connection used by every exchange on it.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub peer: SocketAddr,
    /// TLS or the plain-HTTP listener.
    pub proto: crate::http::rewrite::Proto,
    /// The TLS session (placeholder values on the plain-HTTP listener; the log prints `-`).
    pub session: SessionInfo,
    /// Ready X-Connection-Properties value.
    pub properties: String,
    /// On the plain-HTTP listener: the path prefixes proxied instead of redirected.
    pub exempt_paths: Option<Arc<Vec<String>>>,
}

/// What a listener serves.
#[derive(Debug, Clone)]
pub enum Front {
    /// TLS, then HTTP/2 or HTTP/1.1 by ALPN.
    Tls,
    /// Plain HTTP/1.1: redirects to https, except these path prefixes (proxied).
    PlainRedirect(Arc<Vec<String>>),
}

/// Serves one connection accepted on a plain-HTTP (redirect) listener.
///
/// `peer` is the client's address as the accept loop read it. TCP_NODELAY comes from the
/// listening socket (accepted sockets inherit it: no system call per connection).
pub async fn serve_plain(
    ctx: Rc<ShardCtx>,
    tcp: TcpStream,
    peer: SocketAddr,
    exempt: Arc<Vec<String>>,
) {
    ctx.open_connections.set(ctx.open_connections.get() + 1);
    ctx.metrics.connections_accepted.add(1);
    let client = ClientInfo {
        peer,
        proto: crate::http::rewrite::Proto::Http,
        session: SessionInfo::plain(),
        properties: String::new(),
        exempt_paths: Some(exempt),
    };
    h1::serve(&ctx, tcp, client).await;
    ctx.open_connections.set(ctx.open_connections.get() - 1);
}

/// Serves one accepted TCP connection to the end.
///
/// `peer` and TCP_NODELAY: as for [`serve_plain`].
pub async fn serve_connection(ctx: Rc<ShardCtx>, tcp: TcpStream, peer: SocketAddr) {
    let accepted = clock::now();
    ctx.open_connections.set(ctx.open_connections.get() + 1);
    ctx.metrics.connections_accepted.add(1);
    ctx.metrics
        .connections_open
        .set(ctx.open_connections.get() as u64);
    let handshake = async {
        let start = LazyConfigAcceptor::new(Acceptor::default(), Sock::new(tcp))
            .await
            .ok()?;
        let hello = start.client_hello();
        // One snapshot per handshake: a reload during it does not mix old and new.
        let tls = ctx.tls.borrow().clone();
        let kind = tls
            .store
            .lookup(hello.server_name(), hello.signature_schemes())
            .map(|(_, kind)| kind)
            .unwrap_or(CertKind::Ecdsa);
        // The handshake's writes are held until it waits for the client (a flight leaves as
        // one send) or ends: a TLS 1.3 server's session tickets, written as it completes, then
        // leave with the first response, or with the close_notify (see `io::Sock`). TLS 1.2's
        // last flight (tickets, ChangeCipherSpec, Finished) is one the client waits for: it
        // leaves now, as does an alert on failure.
        let mut stream = match HoldWrites(start.into_stream(tls.config).into_fallible()).await {
            Ok(stream) => stream,
            Err((_, mut sock)) => {
                let _ = sock.flush().await;
                return None;
            }
        };
        if stream.get_ref().1.protocol_version() != Some(rustls::ProtocolVersion::TLSv1_3) {
            stream.get_mut().0.flush().await.ok()?;
        }
        Some((stream, kind))
    };
    // A client that does not finish its handshake in time is closed with a FIN (the TCP
    // stream is dropped, not reset).
    // The handshake and the front are boxed so that a connection's task stays small while
    // it idles: an async fn is as large as its largest state, and each of these is several
    // KiB (see `h1::serve` for the exchange).
    let serving: Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>>> =
        match within(ctx.cfg.timeouts.handshake, Box::pin(handshake)).await {
            Some(Some((stream, kind))) => {
                let session = SessionInfo::from_connection(stream.get_ref().1, kind);
                ctx.metrics.record_handshake(HandshakeOutcome::Ok {
                    took: clock::now().saturating_duration_since(accepted),
                    version: if session.version == "TLSv1.3" {
                        TlsVersion::Tls13
                    } else {
                        TlsVersion::Tls12
                    },
                    kind,
                    resumed: if session.resumed {
                        Resumption::Resumed
                    } else {
                        Resumption::Full
                    },
                });
                // ALPN decides the front: `h2` (offered first), else HTTP/1.1.
                let is_h2 = stream.get_ref().1.alpn_protocol() == Some(&b"h2"[..]);
                let properties = connection_properties(&session, is_h2);
                let client = ClientInfo {
                    peer,
                    proto: crate::http::rewrite::Proto::Https,
                    exempt_paths: None,
                    session,
                    properties,
                };
                // The stream moves into the boxed front here, and its binding ends with this
                // arm: it is not kept in this task's state while the connection is served.
                if is_h2 {
                    Some(Box::pin(h2::serve(&ctx, stream, client)))
                } else {
                    Some(Box::pin(h1::serve(&ctx, stream, client)))
                }
            }
            Some(None) => {
                ctx.metrics.record_handshake(HandshakeOutcome::Failed);
                None
            }
            None => {
                ctx.metrics.record_handshake(HandshakeOutcome::Timeout);
                None
            }
        };
    if let Some(serving) = serving {
        serving.await;
    }
    ctx.open_connections.set(ctx.open_connections.get() - 1);
    ctx.metrics
        .connections_open
        .set(ctx.open_connections.get() as u64);
}
