//! HTTP/1.1 towards the client: the request loop of one connection and the exchange of one
//! request with the cache layer.
//!
//! Per request: read the head (header timeout; keep-alive timeout while idle; drain closes idle
//! connections) → take a pooled upstream connection or connect (one retry) → write the rewritten
//! head, coalesced with the body bytes already received → forward the body (length or chunked,
//! verbatim) → read the response head (server timeout), relaying 1xx → write the response head,
//! coalesced with the first body bytes → forward the body → return the upstream connection to
//! the pool when the exchange ended cleanly. Pipelined requests are answered in order because
//! each one is handled to its end before the next head is parsed from the buffer.
//!
//! A request that fits entirely in the first write (no body, or a body already buffered) is
//! replayed once on a fresh connection if a *reused* upstream connection turns out to be
//! closed before any response byte arrives (the cache closed it while idle).
//!
//! What it does not do: HTTP/2, re-chunking, or caching.

use std::rc::Rc;
use std::time::Duration;

use super::body::{self, Limits};
use super::io::{ByteStream, Inbound};
use super::leg::{debug_requested, debug_value, send_head, ExchangeState, HeadFail, Leg};
use super::outcome::Failure;
use super::{ClientInfo, ShardCtx};
use crate::clock;
use crate::http::framing::ChunkedScanner;
use crate::http::local::write_local_response;
use crate::http::request::{parse_request_head, RequestFraming, RequestHead};
use crate::http::response::{write_client_response_head, ResponseFraming, ResponseHead};
use crate::http::rewrite::{write_upstream_request, ForwardInfo};
use crate::http::Version;
use crate::limits::Admission;
use crate::metrics::Protocol;
use crate::sli::{Cause, Phase, RequestTimes, Termination};

type Client<S> = Inbound<S>;

/// How long to drain a closing client connection (see `serve`).
const LINGER: Duration = Duration::from_millis(500);

/// How long to wait for the cache's `100 Continue` before sending the body anyway.
const CONTINUE_WAIT: Duration = Duration::from_secs(1);

/// Serves HTTP/1.1 exchanges on an established TLS connection until it closes.
///
/// Written as a function returning an `async move` block (not an `async fn`) so the TLS
/// stream is stored once in the connection's task: an `async fn` keeps its arguments and the
/// locals built from them side by side (rust-lang/rust#62958), which cost every idle
/// connection another copy of the stream.
pub fn serve<'a, S: ByteStream + 'a>(
    ctx: &'a Rc<ShardCtx>,
    stream: S,
    info: ClientInfo,
) -> impl std::future::Future<Output = ()> + 'a {
    let mut conn = Inbound::new(stream);
    async move {
        let mut first = true;
        loop {
            let keep = match read_head(ctx, &mut conn, first).await {
                HeadRead::Idle => break,
                HeadRead::Failed { mut times, failure } => {
                    let mut state = ExchangeState::default();
                    // Boxed, like the exchange below: rare, and its state must not weigh on
                    // every idle connection.
                    let term = Box::pin(answer_failure(ctx, &mut conn, failure, &mut state)).await;
                    times.end = Some(clock::now());
                    record(ctx, &info, None, &times, &state, term);
                    false
                }
                HeadRead::Head(head, mut times) if redirects(&info, &head) => {
                    let answer = crate::redirect::decide(
                        &head.method,
                        head.host.as_deref(),
                        &head.target,
                        info.exempt_paths
                            .as_deref()
                            .map_or(&[][..], |v| v.as_slice()),
                    );
                    let mut state = ExchangeState {
                        close: !head.keep_alive,
                        ..ExchangeState::default()
                    };
                    let mut out = Vec::with_capacity(256);
                    let status = crate::redirect::write_answer(&answer, state.close, &mut out);
                    let limit = ctx.cfg.timeouts.client;
                    let sent = Box::pin(async {
                        conn.write_all(&out, limit).await.is_ok() && conn.flush(limit).await.is_ok()
                    });
                    if sent.await {
                        state.status = Some(status);
                        state.bytes = out.len() as u64;
                    } else {
                        state.close = true;
                    }
                    // A request body is not read: close rather than parse it as the next request.
                    if head.framing != RequestFraming::None {
                        state.close = true;
                    }
                    times.end = Some(clock::now());
                    let term = Termination::new(Cause::Local, Phase::Request);
                    record(ctx, &info, Some(&head), &times, &state, term);
                    !state.close
                }
                HeadRead::Head(head, mut times) => {
                    let ip = info.peer.ip();
                    match ctx.per_ip.begin_request(ip, clock::now()) {
                        Admission::Admitted => {
                            // Boxed: the exchange's state (several KiB) exists only while a
                            // request is in flight, not while the connection idles.
                            let keep = Box::pin(exchange(ctx, &mut conn, &info, head, times)).await;
                            ctx.per_ip.end_request(ip);
                            keep
                        }
                        Admission::OverCap => {
                            // Over the per-IP cap: the IP is penalized and this connection is
                            // closed without an answer.
                            ctx.metrics.per_ip_over_cap.add(1);
                            times.end = Some(clock::now());
                            let term = Termination::new(Cause::ProxyRefused, Phase::Request);
                            record(
                                ctx,
                                &info,
                                Some(&head),
                                &times,
                                &ExchangeState::default(),
                                term,
                            );
                            false
                        }
                    }
                }
            };
            if !keep || ctx.draining.is_set() {
                break;
            }
            first = false;
        }
        conn.close(Duration::from_secs(1)).await;
        // Lingering close: a client may still be sending (a refused or timed-out request). Closing
        // with unread bytes would send a RST that can destroy the answer in flight, so read and
        // discard briefly until the client's FIN.
        conn.linger(LINGER).await;
    }
}

/// On the plain-HTTP listener, the request is answered locally (redirect or 403) rather than
/// proxied.
fn redirects(info: &ClientInfo, head: &RequestHead) -> bool {
    info.exempt_paths.as_ref().is_some_and(|exempt| {
        crate::redirect::decide(&head.method, head.host.as_deref(), &head.target, exempt)
            != crate::redirect::PlainAnswer::Proxy
    })
}

enum HeadRead {
    /// The connection closed (or idled out, or the shard drains) between requests.
    Idle,
    Failed {
        times: RequestTimes,
        failure: Failure,
    },
    Head(RequestHead, RequestTimes),
}

async fn read_head<S: ByteStream>(ctx: &ShardCtx, conn: &mut Client<S>, first: bool) -> HeadRead {
    let t = &ctx.cfg.timeouts;
    if conn.buffered().is_empty() {
        // Idle until the next request: hold no read buffer meanwhile.
        conn.release_buffer();
        let idle_limit = if first { t.header } else { t.keepalive };
        let got = futures_lite::future::or(async { Some(conn.fill(idle_limit).await) }, async {
            // A fresh connection was accepted to be served: its first request is awaited even
            // while draining (the client may be sending it right now). Only idle keep-alive
            // connections close at once.
            if first {
                std::future::pending::<()>().await;
            }
            ctx.draining.wait().await;
            None
        })
        .await;
        if !matches!(got, Some(Ok(_))) {
            return HeadRead::Idle;
        }
    }
    let start = clock::now();
    let deadline = start + t.header;
    let mut times = RequestTimes::new(start);
    loop {
        match parse_request_head(conn.buffered(), &ctx.cfg.limits) {
            Ok(Some(head)) => {
                conn.consume(head.head_len);
                times.head_complete = Some(clock::now());
                return HeadRead::Head(head, times);
            }
            Ok(None) => {}
            Err(e) => {
                return HeadRead::Failed {
                    times,
                    failure: Failure::BadRequest(e),
                }
            }
        }
        let remaining = deadline.saturating_duration_since(clock::now());
        if remaining.is_zero() {
            return HeadRead::Failed {
                times,
                failure: Failure::ClientTimeout(Phase::Request),
            };
        }
        if let Err(f) = conn.fill(remaining).await {
            return HeadRead::Failed {
                times,
                failure: Failure::from_client(f, Phase::Request),
            };
        }
    }
}

/// Runs one exchange; returns whether the client connection stays open.
async fn exchange<S: ByteStream>(
    ctx: &Rc<ShardCtx>,
    conn: &mut Client<S>,
    info: &ClientInfo,
    head: RequestHead,
    mut times: RequestTimes,
) -> bool {
    let mut state = ExchangeState {
        close: !head.keep_alive,
        ..ExchangeState::default()
    };
    let forwarded = futures_lite::future::or(
        forward(ctx, conn, info, &head, &mut times, &mut state),
        async {
            ctx.killing.wait().await;
            Err(Failure::Killed(Phase::Data))
        },
    )
    .await;
    let term = match forwarded {
        Ok(()) => Termination::NORMAL,
        Err(Failure::Killed(_)) => {
            // Shutdown's hard stop: no answer (the client may not be reading), just the record.
            state.close = true;
            let phase = killed_phase(&times, &state);
            Failure::Killed(phase).verdict().1
        }
        Err(failure) => {
            let keepable = matches!(
                failure,
                Failure::Connect(_)
                    | Failure::QueueTimeout
                    | Failure::UpstreamClosed(Phase::Headers)
                    | Failure::UpstreamTimeout(Phase::Headers)
            ) && (state.request_body_done || head.framing == RequestFraming::None);
            if !keepable {
                state.close = true;
            }
            answer_failure(ctx, conn, failure, &mut state).await
        }
    };
    times.end = Some(clock::now());
    record(ctx, info, Some(&head), &times, &state, term);
    !state.close
}

/// The phase an exchange was in when shutdown's hard stop killed it: `D` once the response
/// has started, `H` while waiting for the cache, `R` before the request was sent.
pub(super) fn killed_phase(times: &RequestTimes, state: &ExchangeState) -> Phase {
    if state.response_started {
        Phase::Data
    } else if times.head_sent.is_some() {
        Phase::Headers
    } else {
        Phase::Request
    }
}

/// Sends the local answer for `failure` if the response has not started; returns the
/// termination state.
async fn answer_failure<S: ByteStream>(
    ctx: &ShardCtx,
    conn: &mut Client<S>,
    failure: Failure,
    state: &mut ExchangeState,
) -> Termination {
    let (status, term) = failure.verdict();
    if let (Some(status), false) = (status, state.response_started) {
        let mut out = Vec::with_capacity(256);
        write_local_response(status, state.close, &mut out);
        let limit = ctx.cfg.timeouts.client;
        if conn.write_all(&out, limit).await.is_ok() && conn.flush(limit).await.is_ok() {
            state.status = Some(status);
            state.bytes += out.len() as u64;
        }
    }
    if state.response_started {
        // A truncated response can only be signalled by closing.
        state.close = true;
    }
    term
}

async fn forward<S: ByteStream>(
    ctx: &Rc<ShardCtx>,
    conn: &mut Client<S>,
    info: &ClientInfo,
    head: &RequestHead,
    times: &mut RequestTimes,
    state: &mut ExchangeState,
) -> Result<(), Failure> {
    let t = &ctx.cfg.timeouts;
    state.debug = debug_requested(ctx, info, head);
    let mut out = Vec::with_capacity(1024 + head.headers.len() * 64);
    write_upstream_request(
        head,
        &ForwardInfo {
            client_ip: info.peer.ip(),
            client_port: info.peer.port(),
            proto: info.proto,
            connection_properties: &info.properties,
        },
        &mut out,
    );
    // Coalesce the body bytes already received with the head (one write for small requests).
    let (inline, body_left) = match head.framing {
        RequestFraming::Length(n) => {
            let k = conn
                .buffered()
                .len()
                .min(usize::try_from(n).unwrap_or(usize::MAX));
            out.extend_from_slice(&conn.buffered()[..k]);
            (k, n - k as u64)
        }
        _ => (0, 0),
    };
    let replayable = match head.framing {
        RequestFraming::None => true,
        RequestFraming::Length(_) => body_left == 0,
        RequestFraming::Chunked => false,
    };
    if let Some(delay) = ctx.cfg.test.delay {
        // Test-only (TLSTERM_TEST_DELAY_MS): the proxy itself holds the request.
        glommio::timer::sleep(delay).await;
    }
    let (mut leg, response) =
        send_head(ctx, head, &out, replayable, times, state, t.server).await?;
    conn.consume(inline);

    let mut response = response;
    if !state.request_body_done {
        if head.expect_continue {
            // Give the cache a chance to answer 100 Continue (relayed) or a final status.
            match leg.read_head(ctx, head, CONTINUE_WAIT).await {
                Ok(resp) if resp.is_interim() => {
                    relay_interim(conn, &resp, head.version, state, t.client).await?;
                }
                Ok(resp) => {
                    // Final answer without the body: the client's body stays unread.
                    state.close = true;
                    response = Some(resp);
                }
                Err(HeadFail::TimedOut) => {}
                Err(e) => return Err(e.into_failure()),
            }
        }
        if response.is_none() {
            let limits = Limits {
                read: t.client,
                write: t.server,
            };
            let sent = match head.framing {
                RequestFraming::Length(_) => {
                    body::copy_exact(conn, &mut leg.io, body_left, limits).await
                }
                RequestFraming::Chunked => {
                    let mut scanner = ChunkedScanner::new(ctx.cfg.limits.max_body_bytes);
                    body::copy_chunked(conn, &mut leg.io, &mut scanner, limits).await
                }
                RequestFraming::None => Ok(0),
            };
            sent.map_err(Failure::from_request_body)?;
            state.request_body_done = true;
            times.body_sent = Some(clock::now());
        }
    }

    // Response head, relaying interim responses.
    let resp = loop {
        let resp = match response.take() {
            Some(r) => r,
            None => leg
                .read_head(ctx, head, t.server)
                .await
                .map_err(HeadFail::into_failure)?,
        };
        if !resp.is_interim() {
            break resp;
        }
        relay_interim(conn, &resp, head.version, state, t.client).await?;
    };
    times.response_head = Some(clock::now());
    respond(ctx, conn, leg, head, resp, times, state).await
}

/// Writes the final response head and body to the client; pools the upstream connection.
async fn respond<S: ByteStream>(
    ctx: &Rc<ShardCtx>,
    conn: &mut Client<S>,
    mut leg: Leg,
    head: &RequestHead,
    resp: ResponseHead,
    times: &mut RequestTimes,
    state: &mut ExchangeState,
) -> Result<(), Failure> {
    let t = &ctx.cfg.timeouts;
    if resp.framing == ResponseFraming::UntilClose
        || ctx.draining.is_set()
        || (head.version == Version::Http10 && resp.framing == ResponseFraming::Chunked)
    {
        state.close = true;
    }
    let mut out = Vec::with_capacity(512 + resp.headers.len() * 64);
    write_client_response_head(&resp, head.version, state.close, &mut out);
    if state.debug {
        crate::http::debug::append_to_head(&mut out, &debug_value(ctx, &leg, times));
    }
    let left = match resp.framing {
        ResponseFraming::Length(n) => {
            let k = leg
                .io
                .buffered()
                .len()
                .min(usize::try_from(n).unwrap_or(usize::MAX));
            out.extend_from_slice(&leg.io.buffered()[..k]);
            leg.io.consume(k);
            n - k as u64
        }
        _ => 0,
    };
    state.status = Some(resp.status);
    state.response_started = true;
    conn.write_all(&out, t.client)
        .await
        .map_err(|f| Failure::from_client(f, Phase::Data))?;
    state.bytes += out.len() as u64;
    times.response_head_sent = Some(clock::now());

    let limits = Limits {
        read: t.server,
        write: t.client,
    };
    let copied = match resp.framing {
        ResponseFraming::Empty => Ok(0),
        ResponseFraming::Length(_) => body::copy_exact(&mut leg.io, conn, left, limits).await,
        ResponseFraming::Chunked => {
            let mut scanner = ChunkedScanner::new(u64::MAX);
            body::copy_chunked(&mut leg.io, conn, &mut scanner, limits).await
        }
        ResponseFraming::UntilClose => body::copy_until_close(&mut leg.io, conn, limits).await,
    };
    // Count what reached the client even when the copy failed midway.
    let n = copied.map_err(Failure::from_response_body)?;
    state.bytes += n;
    conn.flush(t.client)
        .await
        .map_err(|f| Failure::from_client(f, Phase::Last))?;
    super::leg::give_back(ctx, leg, &resp, state);
    Ok(())
}

async fn relay_interim<S: ByteStream>(
    conn: &mut Client<S>,
    resp: &ResponseHead,
    client_version: Version,
    state: &mut ExchangeState,
    limit: Duration,
) -> Result<(), Failure> {
    if resp.status == 101 {
        // Upgrades are not offered (Upgrade is stripped), so a 101 is a protocol error.
        return Err(Failure::BadResponse);
    }
    if client_version == Version::Http10 {
        return Ok(());
    }
    let mut out = Vec::with_capacity(128);
    write_client_response_head(resp, client_version, false, &mut out);
    conn.write_all(&out, limit)
        .await
        .map_err(|f| Failure::from_client(f, Phase::Headers))?;
    conn.flush(limit)
        .await
        .map_err(|f| Failure::from_client(f, Phase::Headers))?;
    state.bytes += out.len() as u64;
    Ok(())
}

/// The end of an HTTP/1.x request: [`super::leg::record`] with the client's protocol.
fn record(
    ctx: &ShardCtx,
    info: &ClientInfo,
    head: Option<&RequestHead>,
    times: &RequestTimes,
    state: &ExchangeState,
    term: Termination,
) {
    let protocol = match head.map(|h| h.version) {
        Some(Version::Http10) => Protocol::Http10,
        _ => Protocol::Http11,
    };
    super::leg::record(ctx, info, head, protocol, times, state, term);
}
