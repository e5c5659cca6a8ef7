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
pub mod io;
pub mod outcome;

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use futures_rustls::LazyConfigAcceptor;
use glommio::net::TcpStream;
use glommio::sync::Semaphore;
use rustls::server::Acceptor;

use crate::config::Config;
use crate::log::AccessLog;
use crate::rt::within;
use crate::tls::props::{connection_properties, SessionInfo};
use crate::tls::{CertKind, CertStore};
use crate::upstream::Pool;

/// Everything a shard's connections share. Lives in an `Rc` on one executor.
#[derive(Debug)]
pub struct ShardCtx {
    pub id: usize,
    pub cfg: Arc<Config>,
    pub tls: Arc<rustls::ServerConfig>,
    pub store: Arc<CertStore>,
    pub pool: Pool,
    pub log: AccessLog,
    pub drain: Drain,
    /// Connections currently open on this shard.
    pub open_connections: Cell<usize>,
}

/// Shard-local drain signal: idle connections wake up and close, busy ones finish their
/// current exchange and then close.
#[derive(Debug)]
pub struct Drain {
    draining: Cell<bool>,
    /// Never has permits; closing it wakes every waiter.
    signal: Semaphore,
}

impl Default for Drain {
    fn default() -> Self {
        Drain {
            draining: Cell::new(false),
            signal: Semaphore::new(0),
        }
    }
}

impl Drain {
    /// Starts draining (idempotent).
    pub fn start(&self) {
        if !self.draining.replace(true) {
            self.signal.close();
        }
    }

    pub fn is_draining(&self) -> bool {
        self.draining.get()
    }

    /// Resolves once draining has started.
    pub async fn wait(&self) {
        if self.is_draining() {
            return;
        }
        // Fails (and so returns) only when the semaphore is closed by `start`.
        let _ = self.signal.acquire(1).await;
    }
}

/// Facts about an established client connection used by every exchange on it.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub peer: SocketAddr,
    pub session: SessionInfo,
    /// Ready X-Connection-Properties value.
    pub properties: String,
}

/// Serves one accepted TCP connection to the end.
pub async fn serve_connection(ctx: Rc<ShardCtx>, tcp: TcpStream) {
    let peer = match tcp.peer_addr() {
        Ok(p) => p,
        Err(_) => return,
    };
    let _ = tcp.set_nodelay(true);
    ctx.open_connections.set(ctx.open_connections.get() + 1);
    let handshake = async {
        let start = LazyConfigAcceptor::new(Acceptor::default(), tcp).await.ok()?;
        let hello = start.client_hello();
        let kind = ctx
            .store
            .lookup(hello.server_name(), hello.signature_schemes())
            .map(|(_, kind)| kind)
            .unwrap_or(CertKind::Ecdsa);
        let stream = start.into_stream(Arc::clone(&ctx.tls)).await.ok()?;
        Some((stream, kind))
    };
    // A client that does not finish its handshake in time is closed with a FIN (the TCP
    // stream is dropped, not reset).
    if let Some(Some((stream, kind))) = within(ctx.cfg.timeouts.handshake, handshake).await {
        let session = SessionInfo::from_connection(stream.get_ref().1, kind);
        let properties = connection_properties(&session, false);
        let client = ClientInfo {
            peer,
            session,
            properties,
        };
        h1::serve(&ctx, stream, client).await;
    }
    ctx.open_connections.set(ctx.open_connections.get() - 1);
}
