//! `keepalive` and `bulk`: HTTP/1.1 requests on a kept connection, up to `--pipeline` in flight.
//!
//! One task is one connection slot. It connects, then loops: take every ticket that is due (up
//! to the pipeline depth) and write those requests in one batch; read; match each complete
//! response to the oldest outstanding ticket. In the open loop it also wakes when the next ticket
//! falls due while fewer than `--pipeline` requests are outstanding.
//!
//! Failures: a connection that breaks, times out or sends garbage fails every outstanding
//! request with that kind of error and is replaced; a failed reconnect counts once (no ticket)
//! and is retried after [`RECONNECT_PAUSE`]. A response with `Connection: close` ends the
//! connection normally; pipelined requests behind it count as `closed`.
//!
//! Timeouts run from the actual send of the oldest outstanding request (the latency, by
//! contrast, runs from the intended send).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::clock;
use crate::conn::{self, Failure, ReadBuf, Stream};
use crate::http1::ResponseReader;
use crate::schedule::{Next, Ticket};
use crate::shard::Ctx;
use crate::stats::ErrorKind;

/// Pause after a failed connect before the next attempt (keeps a dead target from turning the
/// client into a busy loop of errors).
pub const RECONNECT_PAUSE: Duration = Duration::from_millis(10);

/// Read buffer per connection.
const BUF: usize = 64 * 1024;

/// How a connection ended.
enum End {
    /// The schedule is finished.
    Stop,
    /// Replace the connection.
    Reconnect,
}

/// An outstanding request: its ticket and when it was actually written.
struct Sent {
    ticket: Ticket,
    at: Instant,
}

pub async fn task(ctx: &Ctx) {
    let mut buf = ReadBuf::new(BUF);
    let mut batch = Vec::with_capacity(ctx.request.len() * ctx.pipeline);
    loop {
        if ctx.finished(clock::now()) {
            return;
        }
        let mut stream = match ctx.dialer.dial().await {
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
        ctx.live.set(ctx.live.get() + 1);
        let end = session(ctx, &mut stream, &mut buf, &mut batch).await;
        ctx.live.set(ctx.live.get().saturating_sub(1));
        match end {
            End::Stop => return,
            End::Reconnect => {}
        }
    }
}

fn fail_all(ctx: &Ctx, outstanding: &mut VecDeque<Sent>, f: &Failure, now: Instant) {
    for s in outstanding.drain(..) {
        ctx.done(&s.ticket, Err(f.clone()), now);
    }
}

async fn session(ctx: &Ctx, stream: &mut Stream, buf: &mut ReadBuf, batch: &mut Vec<u8>) -> End {
    let mut outstanding: VecDeque<Sent> = VecDeque::with_capacity(ctx.pipeline);
    let mut reader = ResponseReader::default();
    let mut stopping = false;
    buf.clear();
    loop {
        // Take what is due.
        let now = clock::now();
        let mut wake = None;
        batch.clear();
        while outstanding.len() < ctx.pipeline && !stopping {
            match ctx.next(now) {
                Next::Go(ticket) => {
                    outstanding.push_back(Sent { ticket, at: now });
                    batch.extend_from_slice(&ctx.request);
                }
                Next::Wait(at) => {
                    wake = Some(at);
                    break;
                }
                Next::Stop | Next::Expired(_) => stopping = true,
            }
        }
        if !batch.is_empty() {
            if let Err(f) = conn::send(stream, batch, now + ctx.timeout).await {
                fail_all(ctx, &mut outstanding, &f, clock::now());
                return End::Reconnect;
            }
        }
        let Some(oldest) = outstanding.front() else {
            if stopping {
                return End::Stop;
            }
            if let Some(at) = wake {
                conn::sleep_until(at).await;
            }
            continue;
        };
        // Read until the oldest request times out, or until the next ticket is due if there
        // is room for it.
        let deadline = oldest.at + ctx.timeout;
        let wake_at = match wake {
            Some(w) if outstanding.len() < ctx.pipeline => w.min(deadline),
            _ => deadline,
        };
        let read = conn::until(wake_at, buf.fill(stream)).await;
        let now = clock::now();
        match read {
            None if now >= deadline => {
                let f = Failure::new(ErrorKind::Timeout, "response timed out");
                fail_all(ctx, &mut outstanding, &f, now);
                return End::Reconnect;
            }
            None => {}
            Some(Err(e)) => {
                fail_all(
                    ctx,
                    &mut outstanding,
                    &Failure::new(ErrorKind::Closed, e.to_string()),
                    now,
                );
                return End::Reconnect;
            }
            Some(Ok(0)) => {
                let last = match reader.eof() {
                    Ok(Some(r)) => outstanding.pop_front().map(|s| (s, r)),
                    _ => None,
                };
                if let Some((s, r)) = last {
                    ctx.response(&s.ticket, r, now);
                }
                let f = Failure::new(ErrorKind::Closed, "connection closed by the server");
                fail_all(ctx, &mut outstanding, &f, now);
                return End::Reconnect;
            }
            Some(Ok(_)) => loop {
                match buf.parse(&mut reader) {
                    Ok(None) => break,
                    Ok(Some(r)) => {
                        let Some(s) = outstanding.pop_front() else {
                            let f = Failure::new(ErrorKind::Parse, "response without a request");
                            ctx.connection_failure(&f, now);
                            return End::Reconnect;
                        };
                        ctx.response(&s.ticket, r, now);
                        if r.close {
                            let f = Failure::new(
                                ErrorKind::Closed,
                                "pipelined request after Connection: close",
                            );
                            fail_all(ctx, &mut outstanding, &f, now);
                            return if stopping { End::Stop } else { End::Reconnect };
                        }
                    }
                    Err(e) => {
                        fail_all(ctx, &mut outstanding, &Failure::from(e), now);
                        return End::Reconnect;
                    }
                }
            },
        }
    }
}
