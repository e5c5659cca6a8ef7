//! The upstream leg of an exchange and the end of every request, shared by the HTTP/1.1
//! ([`super::h1`]) and HTTP/2 ([`super::h2`]) fronts: taking a connection from the shard's
//! pool (or opening one, queueing at the pool's cap), reading the cache's response head, the
//! per-exchange state, and [`record`], the one end-of-request function (SLI verdict, metrics,
//! access log).
//!
//! What it does not do: talk to the client, or decide whether a connection goes back to the
//! pool (each front knows when its exchange ended cleanly).
use std::time::Duration;

use super::io::{Inbound, IoFail};
use super::outcome::Failure;
use super::{ClientInfo, PoolKind, ShardCtx};
use crate::clock;
use crate::http::request::RequestHead;
use crate::http::response::{parse_response_head, ResponseFraming, ResponseHead};
use crate::log::Entry;
use crate::metrics::{Protocol, RequestRecord};
use crate::sli::{verdict, Phase, RequestTimes, Termination};
use crate::upstream;

type Upstream = Inbound<upstream::Stream>;

/// What the client has been sent so far in this exchange.
#[derive(Debug, Default)]
pub(super) struct ExchangeState {
    /// Final status sent (or being sent) to the client.
    pub(super) status: Option<u16>,
    /// Response bytes written to the client.
    pub(super) bytes: u64,
    /// The final response head has been written: a failure can no longer be answered.
    pub(super) response_started: bool,
    /// The request body was forwarded completely (or there was none).
    pub(super) request_body_done: bool,
    /// The client connection must close after this exchange.
    pub(super) close: bool,
}

/// The upstream side of an exchange in progress.
pub(super) struct Leg {
    pub(super) io: Upstream,
    pub(super) uses: u32,
    /// The pool capacity the connection holds (freed when the connection closes).
    pub(super) slot: upstream::Slot,
    pub(super) kind: PoolKind,
}

/// Takes a pooled connection or opens one (queueing at the pool's cap); marks the timestamps.
pub(super) async fn acquire(
    ctx: &ShardCtx,
    kind: PoolKind,
    times: &mut RequestTimes,
) -> Result<Leg, Failure> {
    let pool = ctx.pool(kind);
    let now = clock::now();
    if let Some(c) = pool.take_idle(now) {
        ctx.note_pool();
        times.upstream_ready = Some(clock::now());
        return Ok(Leg {
            io: Inbound::with_buffer(c.stream, c.buf),
            uses: c.uses,
            slot: c.slot,
            kind,
        });
    }
    let slot = pool
        .reserve(ctx.cfg.timeouts.queue)
        .await
        .ok_or(Failure::QueueTimeout)?;
    let now = clock::now();
    times.connect_start.get_or_insert(now);
    let (result, failed_attempts) = pool.connect(slot, now).await;
    ctx.metrics.upstream_connect_failures.add(failed_attempts);
    let c = result.map_err(Failure::Connect)?;
    ctx.metrics.upstream_opened.add(1);
    ctx.note_pool();
    times.upstream_ready = Some(clock::now());
    Ok(Leg {
        io: Inbound::with_buffer(c.stream, c.buf),
        uses: c.uses,
        slot: c.slot,
        kind,
    })
}

/// Why no response head was read.
pub(super) enum HeadFail {
    /// Closed before any byte of a response arrived (a stale pooled connection, or a refusal).
    ClosedEarly,
    /// Closed midway through the head.
    Closed,
    TimedOut,
    Invalid,
}

impl HeadFail {
    pub(super) fn into_failure(self) -> Failure {
        match self {
            HeadFail::ClosedEarly | HeadFail::Closed => Failure::UpstreamClosed(Phase::Headers),
            HeadFail::TimedOut => Failure::UpstreamTimeout(Phase::Headers),
            HeadFail::Invalid => Failure::BadResponse,
        }
    }
}

/// Reads one response head within `limit` (total, not per read).
pub(super) async fn read_response_head(
    up: &mut Upstream,
    req: &RequestHead,
    limit: Duration,
) -> Result<ResponseHead, HeadFail> {
    let deadline = clock::now() + limit;
    let is_head = req.method == crate::http::Method::Head;
    loop {
        match parse_response_head(up.buffered(), is_head, MAX_RESPONSE_HEAD) {
            Ok(Some(resp)) => {
                up.consume(resp.head_len);
                return Ok(resp);
            }
            Ok(None) => {}
            Err(_) => return Err(HeadFail::Invalid),
        }
        let remaining = deadline.saturating_duration_since(clock::now());
        if remaining.is_zero() {
            return Err(HeadFail::TimedOut);
        }
        let had_bytes = !up.buffered().is_empty();
        match up.fill(remaining).await {
            Ok(_) => {}
            Err(IoFail::TimedOut) => return Err(HeadFail::TimedOut),
            Err(IoFail::Closed) if had_bytes => return Err(HeadFail::Closed),
            Err(IoFail::Closed) => return Err(HeadFail::ClosedEarly),
        }
    }
}

/// Largest response head accepted from the cache layer.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// The one end-of-request function, for both fronts: judges the request for the SLI, counts
/// it in the shard's metrics and writes its access-log line. `protocol` is the client's
/// (the access log says `HTTP/1.0`, `HTTP/1.1` or `HTTP/2.0`; `-` when no head was read).
pub(super) fn record(
    ctx: &ShardCtx,
    info: &ClientInfo,
    head: Option<&RequestHead>,
    protocol: Protocol,
    times: &RequestTimes,
    state: &ExchangeState,
    term: Termination,
) {
    let plain = info.proto == crate::http::rewrite::Proto::Http;
    let latency = times.internal_latency();
    let upstream_response = match (times.body_sent.or(times.head_sent), times.response_head) {
        (Some(sent), Some(head)) => Some(head.saturating_duration_since(sent)),
        _ => None,
    };
    ctx.metrics.record_request(&RequestRecord {
        protocol,
        status: state.status,
        termination: term,
        verdict: verdict(latency, term, ctx.cfg.sli.latency_threshold),
        internal_latency: latency,
        upstream_response,
    });
    if ctx.log.is_off() || !ctx.control.access_log_enabled() {
        return;
    }
    let (method, host, target, version) = match head {
        Some(h) => (
            h.method.as_str(),
            h.host.as_deref().unwrap_or(""),
            h.target.as_str(),
            match protocol {
                Protocol::Http10 => "HTTP/1.0",
                Protocol::Http11 => "HTTP/1.1",
                Protocol::H2 => "HTTP/2.0",
            },
        ),
        None => ("-", "", "-", "-"),
    };
    ctx.log.record(&Entry {
        client: info.peer,
        wall: clock::wall(),
        shard: ctx.id,
        timers: times.timers(),
        status: state.status,
        bytes: state.bytes,
        termination: term,
        tls_version: if plain { "-" } else { info.session.version },
        cipher: if plain { "-" } else { info.session.cipher },
        cert_kind: if plain {
            "-"
        } else {
            info.session.cert_kind.as_str()
        },
        method,
        host,
        target,
        http_version: version,
    });
}

/// Returns the upstream connection (with its read buffer) to its pool when the exchange ended
/// cleanly: keep-alive response fully read, request body fully sent, nothing unread, shard not
/// stopping. Otherwise it is closed here.
pub(super) fn give_back(ctx: &ShardCtx, leg: Leg, resp: &ResponseHead, state: &ExchangeState) {
    let clean = resp.upstream_keep_alive
        && resp.framing != ResponseFraming::UntilClose
        && state.request_body_done
        && !ctx.stopping.is_set();
    if !clean {
        return;
    }
    if let (stream, Some(buf)) = leg.io.into_parts() {
        ctx.pool(leg.kind)
            .put_back(stream, buf, leg.uses, leg.slot, clock::now());
        ctx.note_pool();
    }
}
