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
use std::future::{poll_fn, Future};
use std::pin::Pin;
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

/// Finished stream futures of one connection, kept to hold its next streams. A stream's future
/// is about 3 KiB, past the sizes glibc's per-thread cache serves, and a busy connection would
/// otherwise allocate and free one per request. A future is reused in place (`Pin::set`) once
/// its task is done with it; the spares go when the connection has had no stream for
/// [`SPARE_HOLD`] (a client sending its requests in bursts keeps them between bursts, an idle
/// connection holds none).
struct Recycler<F> {
    spare: RefCell<Vec<Pin<Box<F>>>>,
}

/// Finished stream futures a connection keeps at most (about 24 KiB).
const MAX_SPARE_STREAMS: usize = 8;
/// How long a connection without streams keeps its spare stream futures.
const SPARE_HOLD: Duration = Duration::from_millis(500);

impl<F: Future> Recycler<F> {
    fn new() -> Self {
        Recycler {
            spare: RefCell::new(Vec::new()),
        }
    }

    /// `fut` in a box: a spare one when there is one.
    fn boxed(&self, fut: F) -> Pin<Box<F>> {
        match self.spare.borrow_mut().pop() {
            Some(mut b) => {
                // The future in it has completed: dropping it in place frees nothing.
                b.set(fut);
                b
            }
            None => Box::pin(fut),
        }
    }

    /// Takes back a completed future's box.
    fn done(&self, b: Pin<Box<F>>) {
        let mut spare = self.spare.borrow_mut();
        if spare.len() < MAX_SPARE_STREAMS {
            spare.push(b);
        }
    }

    fn clear(&self) {
        self.spare.borrow_mut().clear();
    }
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
    let recycler = Rc::new(Recycler::new());
    let gate = Gate::new();
    let mut life = Life::Open { idle: t.header };
    loop {
        match next_event(ctx, &mut conn, &meter, &streams, &recycler, life).await {
            Event::Stream(accepted) => {
                let (request, respond) = *accepted;
                life = match life {
                    Life::Open { .. } => Life::Open { idle: t.keepalive },
                    closing => closing,
                };
                streams.started();
                let done = Rc::clone(&streams);
                let spares = Rc::clone(&recycler);
                // Boxed here (in a spare box when the connection has one): the stream's future
                // is about 3 KiB, and the spawn below moves its argument three times (this
                // block, the gate's, glommio's task).
                let mut task = recycler.boxed(stream::serve(
                    Rc::clone(ctx),
                    Rc::clone(&info),
                    request,
                    respond,
                ));
                match gate.spawn(async move {
                    task.as_mut().await;
                    spares.done(task);
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
async fn next_event<F: Future>(
    ctx: &ShardCtx,
    conn: &mut H2Conn,
    meter: &RefCell<FrameMeter>,
    streams: &Streams,
    recycler: &Recycler<F>,
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
        let hold = SPARE_HOLD.min(limit);
        glommio::timer::sleep(hold).await;
        recycler.clear();
        glommio::timer::sleep(limit - hold).await;
        Event::Idle
    };
    or(or(abuse, accept), or(drain, idle)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recycler_reuses_finished_futures_and_keeps_a_few() {
        glommio::LocalExecutor::default().run(async {
            let r = Recycler::new();
            let make = |n: u32| async move { n };
            let mut a = r.boxed(make(1));
            assert_eq!(a.as_mut().await, 1);
            let first: *const _ = &*a;
            r.done(a);
            // The next stream's future goes into the same allocation.
            let mut b = r.boxed(make(2));
            assert!(std::ptr::eq(first, &*b));
            assert_eq!(b.as_mut().await, 2);
            r.done(b);
            // At most MAX_SPARE_STREAMS are kept; clear() drops them all.
            let many: Vec<_> = (0..MAX_SPARE_STREAMS as u32 + 3)
                .map(|n| r.boxed(make(n)))
                .collect();
            assert!(r.spare.borrow().is_empty());
            for f in many {
                r.done(f);
            }
            assert_eq!(r.spare.borrow().len(), MAX_SPARE_STREAMS);
            r.clear();
            assert!(r.spare.borrow().is_empty());
        });
    }
}
