//! `h2`: HTTP/2 GETs on kept TLS connections (ALPN `h2`), `--streams` requests in flight on each.
//!
//! One task is one connection slot. It connects, checks that the server chose `h2`, runs the
//! HTTP/2 handshake (the h2 crate over [`Compat`]), spawns the connection driver as a glommio
//! local task, and starts `--streams` stream workers. Each worker loops: take a ticket (closed
//! loop: at once; open loop: when due), send the GET, read the whole body (releasing flow-control
//! capacity as it goes), record the outcome — 2xx is a success, anything else a `status` error.
//!
//! Failures: a stream reset by the server fails that request only and the worker carries on. A
//! timeout or any connection-level error (I/O, GOAWAY, protocol) fails the request, marks the
//! connection broken and cancels its driver: dropping the h2 connection fails the other streams
//! in flight at once (counted like keep-alive's `closed`), no worker takes a new ticket, and the
//! slot reconnects. A server that does not negotiate `h2` counts one `tls` error per attempt,
//! [`RECONNECT_PAUSE`] apart.
//!
//! Timeouts run from the actual send of each request (the latency, by contrast, runs from the
//! intended send). Waiting for a free stream (the server's SETTINGS_MAX_CONCURRENT_STREAMS) is
//! part of both.
//!
//! What it does not do: request bodies, trailers, server push (SETTINGS_ENABLE_PUSH is 0), or
//! count an error when an idle connection goes away (as keep-alive does not).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Instant;

use ::h2::client::{self, SendRequest};
use bytes::Bytes;
use glommio::Task;

use super::keepalive::RECONNECT_PAUSE;
use crate::clock;
use crate::compat::Compat;
use crate::conn::{self, Failure, Stream};
use crate::h2head::Head;
use crate::http1::Response;
use crate::shard::Ctx;
use crate::stats::ErrorKind;

/// Per-stream receive window the client advertises (bodies of bulk paths need more than the
/// protocol's 64 KiB default to keep the pipe full).
const STREAM_WINDOW: u32 = 1 << 20;
/// Connection receive window.
const CONNECTION_WINDOW: u32 = 16 << 20;

/// The state shared by a connection's workers.
struct Shared {
    /// A worker gave up on the connection: take no new tickets.
    broken: Cell<bool>,
    /// The driver finished (the server closed, or an error).
    ended: Rc<Cell<bool>>,
    /// The connection driver; dropping it cancels the task and fails every open stream.
    driver: RefCell<Option<Task<()>>>,
}

impl Shared {
    fn usable(&self) -> bool {
        !self.broken.get() && !self.ended.get()
    }

    fn kill(&self) {
        self.broken.set(true);
        drop(self.driver.borrow_mut().take());
    }
}

/// Why a worker stopped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    /// The schedule is finished.
    Stop,
    /// The connection cannot be used any more.
    Reconnect,
}

pub async fn task(ctx: &Rc<Ctx>) {
    // The plan builds the request for every h2 run; without it there is nothing to send.
    let Some(head) = ctx.h2.clone() else {
        return;
    };
    let head = Rc::new(head);
    loop {
        if ctx.finished(clock::now()) {
            return;
        }
        let stream = match ctx.dialer.dial().await {
            Ok((s, h)) => {
                ctx.handshake(h, clock::now());
                s
            }
            Err(f) => {
                ctx.connection_failure(&f, clock::now());
                glommio::timer::sleep(RECONNECT_PAUSE).await;
                continue;
            }
        };
        if stream.get_ref().1.alpn_protocol() != Some(b"h2".as_slice()) {
            let f = Failure::new(ErrorKind::Tls, "the server did not choose h2 by ALPN");
            ctx.connection_failure(&f, clock::now());
            glommio::timer::sleep(RECONNECT_PAUSE).await;
            continue;
        }
        ctx.live.set(ctx.live.get() + 1);
        let end = session(ctx, stream, &head).await;
        ctx.live.set(ctx.live.get().saturating_sub(1));
        if end == End::Stop {
            return;
        }
    }
}

async fn session(ctx: &Rc<Ctx>, stream: Stream, head: &Rc<Head>) -> End {
    let handshake = client::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .enable_push(false)
        .handshake::<_, Bytes>(Compat::new(stream));
    let (send, connection) = match conn::within(ctx.timeout, handshake).await {
        None => {
            let f = Failure::new(ErrorKind::Timeout, "HTTP/2 handshake timed out");
            ctx.connection_failure(&f, clock::now());
            return End::Reconnect;
        }
        Some(Err(e)) => {
            ctx.connection_failure(&failure(&e), clock::now());
            return End::Reconnect;
        }
        Some(Ok(pair)) => pair,
    };
    let ended = Rc::new(Cell::new(false));
    let driver = {
        let ended = Rc::clone(&ended);
        glommio::spawn_local(async move {
            // Errors surface on the streams in flight; with none in flight there is no request
            // to charge them to (keep-alive does not count an idle close either).
            let _ = connection.await;
            ended.set(true);
        })
    };
    let shared = Rc::new(Shared {
        broken: Cell::new(false),
        ended,
        driver: RefCell::new(Some(driver)),
    });
    let workers: Vec<_> = (0..ctx.pipeline)
        .map(|_| {
            glommio::spawn_local(worker(
                Rc::clone(ctx),
                Rc::clone(&shared),
                send.clone(),
                Rc::clone(head),
            ))
        })
        .collect();
    drop(send);
    let mut end = End::Reconnect;
    for w in workers {
        if w.await == End::Stop {
            end = End::Stop;
        }
    }
    // Every request handle is gone: the h2 connection closes (GOAWAY, close_notify, FIN) once
    // the driver runs out of work. Give it the timeout to do so cleanly, then cancel it.
    let driver = shared.driver.borrow_mut().take();
    if let Some(d) = driver {
        let _ = conn::within(ctx.timeout, d).await;
    }
    end
}

async fn worker(
    ctx: Rc<Ctx>,
    shared: Rc<Shared>,
    mut send: SendRequest<Bytes>,
    head: Rc<Head>,
) -> End {
    loop {
        if !shared.usable() {
            return End::Reconnect;
        }
        let Some(ticket) = ctx.ticket().await else {
            return End::Stop;
        };
        let sent = clock::now();
        let result = conn::until(sent + ctx.timeout, exchange(&mut send, &head)).await;
        let now: Instant = clock::now();
        match result {
            Some(Ok((status, body_bytes))) => {
                let r = Response {
                    status,
                    body_bytes,
                    close: false,
                };
                ctx.response(&ticket, r, now);
            }
            Some(Err(e)) => {
                ctx.done(&ticket, Err(failure(&e)), now);
                if !e.is_reset() {
                    shared.kill();
                    return End::Reconnect;
                }
            }
            None => {
                let f = Failure::new(ErrorKind::Timeout, "response timed out");
                ctx.done(&ticket, Err(f), now);
                shared.kill();
                return End::Reconnect;
            }
        }
    }
}

/// One GET on a new stream: the status and the body length.
async fn exchange(send: &mut SendRequest<Bytes>, head: &Head) -> Result<(u16, u64), ::h2::Error> {
    futures_lite::future::poll_fn(|cx| send.poll_ready(cx)).await?;
    let (response, _) = send.send_request(head.request(), true)?;
    let response = response.await?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut n = 0u64;
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        n += chunk.len() as u64;
        // Give the window back at once so the server can keep sending.
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    Ok((status, n))
}

/// How an h2 error counts: a broken transport, or a RST_STREAM/GOAWAY the server sent, is
/// `closed`; anything h2 raised itself (a protocol violation it detected) is `parse`.
fn failure(e: &::h2::Error) -> Failure {
    let kind = if e.is_io() || e.is_remote() {
        ErrorKind::Closed
    } else {
        ErrorKind::Parse
    };
    Failure::new(kind, format!("HTTP/2: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::h2::Reason;

    #[test]
    fn errors_are_classified() {
        // The only h2::Error a caller can build: a bare reason, not from the server. (I/O,
        // RST_STREAM and GOAWAY errors come from a live connection only.)
        let local = ::h2::Error::from(Reason::PROTOCOL_ERROR);
        assert_eq!(failure(&local).kind, ErrorKind::Parse);
        assert!(!local.is_reset() && !local.is_remote() && !local.is_io());
        assert_eq!(
            failure(&local).detail,
            format!("HTTP/2: {local}"),
            "the detail names the protocol"
        );
    }
}
