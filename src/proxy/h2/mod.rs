//! HTTP/2 towards the client (ALPN `h2`): the connection driver. Each stream becomes one
//! HTTP/1.1 exchange on the shard's upstream pool ([`stream`]), run as its own task.
//!
//! The h2 crate does the framing, HPACK and flow control over the TLS stream (through the
//! [`io::Compat`] adapter). This driver polls the connection, which is what moves every
//! stream's frames, and reacts to four things:
//! - a new stream → a task in this connection's [`Gate`] (the connection ends only when all
//!   its stream tasks have);
//! - the abuse meter ([`guard::FrameMeter`]) tripping (RST_STREAM or control-frame rate) →
//!   GOAWAY ENHANCE_YOUR_CALM, then close;
//! - the shard draining, or no stream for the idle limit (`timeouts.header` before the first
//!   stream, `timeouts.keepalive` after) → graceful GOAWAY: open streams finish, new ones are
//!   refused, and the connection closes when the last one ends; a client that does not
//!   complete the GOAWAY exchange is closed [`CLOSE_GRACE`] after its last stream;
//! - the connection ending (the client closed it, or the h2 crate ended it for a protocol
//!   error or one of its own limits) → wait for the stream tasks, done.
//!
//! Limits by where they are enforced: header table, initial windows, max concurrent streams,
//! frame size, header list size (HPACK bomb: over the size → 431/refused stream, far over →
//! GOAWAY; CONTINUATION count and buffered header block bounded by it), streams reset before
//! being accepted (`max_pending_accept_reset_streams`), streams tlsterm resets for protocol
//! errors (`max_local_error_reset_streams`) and empty DATA frames: the h2 crate, configured from
//! `[h2]`. Resets and control frames per second: [`guard`]. Idle connections: here.
//!
//! What it does not do: HTTP/1.1 (that is [`super::h1`]), server push, CONNECT, or h2c.
mod body;
pub mod guard;
pub mod io;
mod send;
mod stream;

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use futures_lite::future::or;
use futures_rustls::server::TlsStream;
use glommio::net::TcpStream;
use glommio::sync::Gate;
use h2::server::{Builder, Connection, SendResponse};
use h2::{Reason, RecvStream};

use self::guard::{FrameMeter, RateLimits};
use self::io::Compat;
use super::io::Sock;
use super::{ClientInfo, ShardCtx};
use crate::config::H2Settings;
use crate::rt::within;

/// After a graceful GOAWAY, how long a connection without streams may stay open.
pub const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// How long the final GOAWAY of an abusive connection may take to be written.
const ABORT_FLUSH: Duration = Duration::from_secs(1);

type H2Conn = Connection<Compat<TlsStream<Sock<TcpStream>>>, Bytes>;

/// The h2 server configuration for `s` (values the h2 crate would panic on are clamped; a
/// validated `Config` never has them).
pub fn builder(s: &H2Settings) -> Builder {
    let mut b = Builder::new();
    b.header_table_size(s.header_table_size)
        .initial_window_size(s.initial_window_size.min(i32::MAX as u32))
        .initial_connection_window_size(s.connection_window_size.min(i32::MAX as u32))
        .max_concurrent_streams(s.max_concurrent_streams)
        .max_frame_size(s.max_frame_size.clamp(16_384, 16_777_215))
        .max_header_list_size(s.max_header_list_size)
        .max_send_buffer_size(s.max_send_buffer_size as usize)
        .max_pending_accept_reset_streams(s.max_pending_accept_reset_streams as usize)
        .max_local_error_reset_streams(Some(s.max_local_error_reset_streams as usize));
    b
}

/// Stream tasks of one connection, seen by the driver.
#[derive(Debug, Default)]
struct Streams {
    active: Cell<usize>,
    /// The driver, waiting for `active` to reach 0.
    idle_waker: RefCell<Option<Waker>>,
}

impl Streams {
    fn started(&self) {
        self.active.set(self.active.get() + 1);
    }

    fn ended(&self) {
        self.active.set(self.active.get().saturating_sub(1));
        if self.active.get() == 0 {
            if let Some(w) = self.idle_waker.borrow_mut().take() {
                w.wake();
            }
        }
    }

    /// Resolves when no stream task is running.
    async fn none_active(&self) {
        poll_fn(|cx| {
            if self.active.get() == 0 {
                Poll::Ready(())
            } else {
                *self.idle_waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

/// What the driver reacts to.
enum Event {
    Stream(Box<(http::Request<RecvStream>, SendResponse<Bytes>)>),
    /// The connection ended (closed by the client, or by the h2 crate after an error).
    Closed,
    /// The abuse meter tripped.
    Abuse,
    Drain,
    /// No stream for the idle limit.
    Idle,
}

/// Where the connection is in its life; each state names what it awaits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    /// Streams accepted; idle for `idle` → graceful GOAWAY.
    Open { idle: Duration },
    /// Graceful GOAWAY sent: waiting for the streams to finish.
    Closing,
}

/// Serves HTTP/2 on an established TLS connection (ALPN `h2`) until it closes.
pub async fn serve(ctx: &Rc<ShardCtx>, tls: TlsStream<Sock<TcpStream>>, info: ClientInfo) {
    let s = &ctx.cfg.h2;
    let t = &ctx.cfg.timeouts;
    let meter = Rc::new(RefCell::new(FrameMeter::new(RateLimits {
        resets_per_second: s.max_resets_per_second,
        control_frames_per_second: s.max_control_frames_per_second,
    })));
    let io = Compat::new(tls, Rc::clone(&meter));
    // The client preface and SETTINGS, within the header timeout.
    let mut conn: H2Conn = match within(t.header, builder(s).handshake(io)).await {
        Some(Ok(c)) => c,
        _ => return,
    };
    let info = Rc::new(info);
    let streams = Rc::new(Streams::default());
    let gate = Gate::new();
    let mut life = Life::Open { idle: t.header };
    loop {
        match next_event(ctx, &mut conn, &meter, &streams, life).await {
            Event::Stream(accepted) => {
                let (request, respond) = *accepted;
                life = match life {
                    Life::Open { .. } => Life::Open { idle: t.keepalive },
                    closing => closing,
                };
                streams.started();
                let done = Rc::clone(&streams);
                // Boxed here, once: the stream's future is about 3 KiB, and the spawn below
                // moves its argument three times (this block, the gate's, glommio's task).
                let task = Box::pin(stream::serve(
                    Rc::clone(ctx),
                    Rc::clone(&info),
                    request,
                    respond,
                ));
                match gate.spawn(async move {
                    task.await;
                    done.ended();
                }) {
                    Ok(task) => {
                        task.detach();
                    }
                    // Only possible once the gate is closed, which happens after this loop.
                    Err(_) => streams.ended(),
                }
            }
            Event::Abuse => {
                conn.abrupt_shutdown(Reason::ENHANCE_YOUR_CALM);
                let _ = within(ABORT_FLUSH, poll_fn(|cx| conn.poll_closed(cx))).await;
                break;
            }
            Event::Drain | Event::Idle if life != Life::Closing => {
                conn.graceful_shutdown();
                life = Life::Closing;
            }
            Event::Idle | Event::Drain | Event::Closed => break,
        }
    }
    // Dropping the connection fails every stream still waiting on it; their tasks end.
    drop(conn);
    let _ = gate.close().await;
}

/// Waits for the next thing the driver must react to, polling the connection meanwhile.
async fn next_event(
    ctx: &ShardCtx,
    conn: &mut H2Conn,
    meter: &RefCell<FrameMeter>,
    streams: &Streams,
    life: Life,
) -> Event {
    // Polled first: once the meter trips, the connection is not polled again for frames.
    let abuse = poll_fn(|_| match meter.borrow().tripped() {
        Some(_) => Poll::Ready(Event::Abuse),
        // Woken by the I/O adapter, which runs inside this same task.
        None => Poll::Pending,
    });
    let accept = async {
        match conn.accept().await {
            Some(Ok(accepted)) => Event::Stream(Box::new(accepted)),
            Some(Err(_)) | None => Event::Closed,
        }
    };
    let drain = async {
        if life == Life::Closing {
            std::future::pending::<()>().await;
        }
        ctx.draining.wait().await;
        Event::Drain
    };
    let idle = async {
        streams.none_active().await;
        let limit = match life {
            Life::Open { idle } => idle,
            Life::Closing => CLOSE_GRACE,
        };
        glommio::timer::sleep(limit).await;
        Event::Idle
    };
    or(or(abuse, accept), or(drain, idle)).await
}
