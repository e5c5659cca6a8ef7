//! One HTTP/2 stream as one HTTP/1.1 exchange with the cache layer, with the same header
//! rewriting, upstream pool, timers, termination states and end-of-request record as the
//! HTTP/1.1 front (the pool leg, response-head reader and `record` are the HTTP/1.1 front's).
//!
//! Per stream: decide whether a body follows (END_STREAM on HEADERS; without Content-Length
//! the first DATA frame is awaited, so an empty body is not sent chunked) → translate the head
//! ([`crate::http::h2map`]; malformed → RST_STREAM(PROTOCOL_ERROR), refused → local answer)
//! → per-IP admission (over the cap → RST_STREAM(REFUSED_STREAM)) → upstream leg (pooled or
//! new, one retry for a body-less request on a stale pooled connection) → head (+ first body
//! bytes) → body → response head (1xx relayed, 101 refused) → response body within the
//! client's window → the upstream connection back to the pool when everything ended cleanly.
//!
//! The whole exchange races the client's RST_STREAM: a reset (or the connection going away)
//! ends it at once; the upstream connection in use is then closed, never pooled.
//!
//! Timestamps: `start` and `head_complete` are both the moment the stream was accepted (the
//! h2 crate hands over complete header blocks, so TR is 0); the rest as for HTTP/1.1.
//! `bytes` in the log counts response DATA bytes (HPACK-compressed heads have no fixed size).
//!
//! What it does not do: frame anything itself (the h2 crate does), or trailers (dropped).
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use h2::{Reason, RecvStream};

use super::super::body::Limits;
use super::super::leg::{
    debug_requested, debug_value, give_back, record, send_head, ExchangeState, HeadFail, Leg,
};
use super::super::outcome::Failure;
use super::super::{ClientInfo, ShardCtx};
use super::body::{download, frame_into, next_data, upload};
use super::send::Responder;
use crate::clock;
use crate::http::h2map::{self, Body, H2RequestError};
use crate::http::request::{RequestFraming, RequestHead};
use crate::http::response::{ResponseFraming, ResponseHead};
use crate::http::rewrite::{write_upstream_request, ForwardInfo};
use crate::limits::Admission;
use crate::metrics::Protocol;
use crate::sli::{Cause, Phase, RequestTimes, Termination};

/// How long to wait for the cache's `100 Continue` before sending the body anyway.
const CONTINUE_WAIT: Duration = Duration::from_secs(1);

/// Serves one accepted stream to its end and records it.
pub(super) async fn serve(
    ctx: Rc<ShardCtx>,
    info: Rc<ClientInfo>,
    request: http::Request<RecvStream>,
    respond: h2::server::SendResponse<Bytes>,
) {
    let start = clock::now();
    let mut times = RequestTimes::new(start);
    times.head_complete = Some(start);
    let mut state = ExchangeState::default();
    let out = Responder::new(respond);
    let (parts, mut recv) = request.into_parts();

    let (body, first) = match body_start(&ctx, &parts, &mut recv).await {
        Ok(b) => b,
        Err(failure) => {
            let term = answer(&ctx, &out, failure, &mut state).await;
            return finish(&ctx, &info, None, times, &state, term);
        }
    };
    let head = match h2map::request_head(&parts, body, &ctx.cfg.limits) {
        Ok(h) => h,
        Err(H2RequestError::Malformed(_)) => {
            out.reset(Reason::PROTOCOL_ERROR);
            let term = Termination::new(Cause::ProxyRefused, Phase::Request);
            return finish(&ctx, &info, None, times, &state, term);
        }
        Err(H2RequestError::Refused(e)) => {
            let term = answer(&ctx, &out, Failure::BadRequest(e), &mut state).await;
            return finish(&ctx, &info, None, times, &state, term);
        }
    };
    let ip = info.peer.ip();
    if ctx.per_ip.begin_request(ip, clock::now()) == Admission::OverCap {
        // Over the per-IP cap (the IP is now penalized): this stream is refused, the
        // connection's other streams go on.
        ctx.metrics.per_ip_over_cap.add(1);
        out.reset(Reason::REFUSED_STREAM);
        let term = Termination::new(Cause::ProxyRefused, Phase::Request);
        return finish(&ctx, &info, Some(&head), times, &state, term);
    }
    let ended = {
        let work = async {
            Some(
                forward(
                    &ctx, &info, &head, &mut recv, first, &out, &mut times, &mut state,
                )
                .await,
            )
        };
        let reset = async {
            out.client_reset().await;
            None
        };
        let killed = async {
            ctx.killing.wait().await;
            Some(Err(Failure::Killed(Phase::Data)))
        };
        futures_lite::future::or(work, futures_lite::future::or(reset, killed)).await
    };
    ctx.per_ip.end_request(ip);
    let term = match ended {
        Some(Ok(())) => Termination::NORMAL,
        Some(Err(Failure::Killed(_))) => {
            // Shutdown's hard stop: the stream is reset, the request recorded as killed.
            out.reset(Reason::CANCEL);
            Failure::Killed(super::super::h1::killed_phase(&times, &state))
                .verdict()
                .1
        }
        Some(Err(failure)) => answer(&ctx, &out, failure, &mut state).await,
        None => {
            let phase = if times.response_head_sent.is_some() {
                Phase::Data
            } else if state.request_body_done {
                Phase::Headers
            } else {
                Phase::Data
            };
            Failure::ClientClosed(phase).verdict().1
        }
    };
    finish(&ctx, &info, Some(&head), times, &state, term);
}

fn finish(
    ctx: &ShardCtx,
    info: &ClientInfo,
    head: Option<&RequestHead>,
    mut times: RequestTimes,
    state: &ExchangeState,
    term: Termination,
) {
    times.end = Some(clock::now());
    record(ctx, info, head, Protocol::H2, &times, state, term);
}

/// Whether a body follows the head, and its first bytes when they had to be awaited.
async fn body_start(
    ctx: &ShardCtx,
    parts: &http::request::Parts,
    recv: &mut RecvStream,
) -> Result<(Body, Option<Bytes>), Failure> {
    if recv.is_end_stream() {
        return Ok((Body::None, None));
    }
    let has_length = parts.headers.contains_key(http::header::CONTENT_LENGTH);
    let expects = parts.headers.contains_key(http::header::EXPECT);
    if has_length || expects {
        return Ok((Body::Some, None));
    }
    // No length: wait for the first DATA, so a request whose body turns out empty is sent
    // without one (a chunked GET would surprise the cache).
    loop {
        match next_data(recv, ctx.cfg.timeouts.client).await {
            Err(Failure::ClientTimeout(_)) => return Err(Failure::ClientTimeout(Phase::Request)),
            Err(Failure::ClientClosed(_)) => return Err(Failure::ClientClosed(Phase::Request)),
            Err(f) => return Err(f),
            Ok(None) => return Ok((Body::None, None)),
            Ok(Some(b)) if b.is_empty() => {}
            Ok(Some(b)) => {
                let _ = recv.flow_control().release_capacity(b.len());
                return Ok((Body::Some, Some(b)));
            }
        }
    }
}

/// The exchange proper: the request to the cache, the response to the client.
#[allow(clippy::too_many_arguments)]
async fn forward(
    ctx: &ShardCtx,
    info: &ClientInfo,
    head: &RequestHead,
    recv: &mut RecvStream,
    first: Option<Bytes>,
    out: &Responder,
    times: &mut RequestTimes,
    state: &mut ExchangeState,
) -> Result<(), Failure> {
    let t = &ctx.cfg.timeouts;
    state.debug = debug_requested(ctx, info, head);
    let mut wire = Vec::with_capacity(1024 + head.headers.len() * 64);
    write_upstream_request(
        head,
        &ForwardInfo {
            client_ip: info.peer.ip(),
            client_port: info.peer.port(),
            proto: info.proto,
            connection_properties: &info.properties,
        },
        &mut wire,
    );
    let inline = first.as_ref().map_or(0, |b| b.len() as u64);
    if let Some(b) = &first {
        frame_into(head.framing, b, &mut wire);
    }
    let replayable = matches!(
        head.framing,
        RequestFraming::None | RequestFraming::Length(0)
    );
    if let Some(delay) = ctx.cfg.test.delay {
        // Test-only (TLSTERM_TEST_DELAY_MS): the proxy itself holds the request.
        glommio::timer::sleep(delay).await;
    }
    let (mut leg, mut response) =
        send_head(ctx, head, &wire, replayable, times, state, t.server).await?;

    if !state.request_body_done {
        if head.expect_continue && first.is_none() {
            // Give the cache a chance to answer 100 Continue (relayed) or a final status.
            match leg.read_head(ctx, head, CONTINUE_WAIT).await {
                Ok(resp) if resp.is_interim() => relay_interim(out, &resp)?,
                // A final answer before the body: the body is not read (the upstream
                // connection is not pooled, its request being incomplete).
                Ok(resp) => response = Some(resp),
                Err(HeadFail::TimedOut) => {}
                Err(e) => return Err(e.into_failure()),
            }
        }
        if response.is_none() {
            let limits = Limits {
                read: t.client,
                write: t.server,
            };
            let max = ctx.cfg.limits.max_body_bytes;
            upload(recv, &mut leg.io, head.framing, inline, max, limits).await?;
            state.request_body_done = true;
            times.body_sent = Some(clock::now());
        }
    }

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
        relay_interim(out, &resp)?;
    };
    times.response_head = Some(clock::now());
    respond(ctx, leg, resp, out, times, state).await
}

fn relay_interim(out: &Responder, resp: &ResponseHead) -> Result<(), Failure> {
    if resp.status == 101 {
        // Upgrades are not offered (Upgrade is stripped), so a 101 is a protocol error.
        return Err(Failure::BadResponse);
    }
    let head = h2map::response_head(resp).map_err(|_| Failure::BadResponse)?;
    out.send_interim(head)
        .map_err(|f| Failure::from_client(f, Phase::Headers))
}

/// Sends the final response to the client; pools the upstream connection when it is clean.
async fn respond(
    ctx: &ShardCtx,
    mut leg: Leg,
    resp: ResponseHead,
    out: &Responder,
    times: &mut RequestTimes,
    state: &mut ExchangeState,
) -> Result<(), Failure> {
    let t = &ctx.cfg.timeouts;
    let mut head = h2map::response_head(&resp).map_err(|_| Failure::BadResponse)?;
    if state.debug {
        let v = debug_value(ctx, &leg, times);
        if let Ok(v) = http::HeaderValue::from_str(&v) {
            head.headers_mut()
                .insert(http::HeaderName::from_static("x-tlsterm-debug"), v);
        }
    }
    let empty = matches!(
        resp.framing,
        ResponseFraming::Empty | ResponseFraming::Length(0)
    );
    state.status = Some(resp.status);
    state.response_started = true;
    out.send_head(head, empty)
        .map_err(|f| Failure::from_client(f, Phase::Data))?;
    times.response_head_sent = Some(clock::now());
    if !empty {
        let limits = Limits {
            read: t.server,
            write: t.client,
        };
        download(&mut leg.io, out, resp.framing, limits, &mut state.bytes).await?;
    }
    give_back(ctx, leg, &resp, state);
    Ok(())
}

/// Answers `failure` locally if no response head was sent yet (else resets the stream);
/// returns the termination state.
async fn answer(
    ctx: &ShardCtx,
    out: &Responder,
    failure: Failure,
    state: &mut ExchangeState,
) -> Termination {
    let (status, term) = failure.verdict();
    match (status, state.response_started) {
        (Some(status), false) => {
            let (head, body) = h2map::local_response(status);
            let mut n = 0;
            let sent = out.send_head(head, false).is_ok()
                && out
                    .send_data(Bytes::from(body), ctx.cfg.timeouts.client, &mut n)
                    .await
                    .is_ok()
                && out.finish().is_ok();
            state.bytes += n;
            if sent {
                state.status = Some(status);
            } else {
                out.reset(Reason::CANCEL);
            }
        }
        _ => out.reset(match failure {
            Failure::ClientClosed(_) | Failure::ClientTimeout(_) => Reason::CANCEL,
            _ => Reason::INTERNAL_ERROR,
        }),
    }
    term
}
