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
use crate::sli::{Phase, RequestTimes, Termination};
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
    /// A trusted client asked for `X-Tlsterm-Debug: timers`.
    pub(super) debug: bool,
}

/// The upstream side of an exchange in progress.
pub(super) struct Leg {
    pub(super) io: Upstream,
    pub(super) uses: u32,
    /// The pool capacity the connection holds (freed when the connection closes).
    pub(super) slot: upstream::Slot,
    pub(super) kind: PoolKind,
    /// Index of the backend in the upstream group.
    pub(super) backend: usize,
    /// Counts this exchange in the backend's requests in flight (least-outstanding).
    _in_flight: upstream::InFlight,
}

impl Leg {
    /// Reads the response head (see [`read_response_head`]) and tells the backend's health
    /// what happened: an answer is a success; a close before any answer on a fresh
    /// connection, a close midway or an unparsable head is a failure. A timeout is neither
    /// (a slow object is not a dead cache), nor is a reused connection found closed.
    pub(super) async fn read_head(
        &mut self,
        ctx: &ShardCtx,
        req: &RequestHead,
        limit: Duration,
    ) -> Result<ResponseHead, HeadFail> {
        let r = read_response_head(&mut self.io, req, limit).await;
        match &r {
            Ok(_) => ctx.upstream.health().success(self.backend),
            Err(HeadFail::ClosedEarly) if self.uses > 0 => {}
            Err(HeadFail::ClosedEarly | HeadFail::Closed | HeadFail::Invalid) => {
                backend_failed(ctx, self.backend)
            }
            Err(HeadFail::TimedOut) => {}
        }
        r
    }
}

/// Whether the request gets the debug header: it asks (`X-Tlsterm-Debug: timers`) and the
/// client is in `[debug] networks`.
pub(super) fn debug_requested(ctx: &ShardCtx, info: &ClientInfo, head: &RequestHead) -> bool {
    crate::http::debug::wants_timers(head)
        && ctx
            .cfg
            .debug_networks
            .iter()
            .any(|n| n.contains(info.peer.ip()))
}

/// The debug header's value for the response head about to be written.
pub(super) fn debug_value(ctx: &ShardCtx, leg: &Leg, times: &RequestTimes) -> String {
    let mut so_far = *times;
    so_far.response_head_sent = Some(clock::now());
    crate::http::debug::value(&crate::http::debug::DebugFacts {
        shard: ctx.id,
        backend: ctx.upstream.health().name(leg.backend),
        timers: so_far.timers(),
        internal_us: so_far
            .internal_latency()
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
        term: "--",
    })
}

/// Counts a failure against backend `b` (logs the ejection it causes).
fn backend_failed(ctx: &ShardCtx, b: usize) {
    let health = ctx.upstream.health();
    if health.failure(b, clock::now()) == upstream::health::Transition::Ejected {
        eprintln!(
            "tlsterm: shard{}: backend {} ejected for {} after {} consecutive failures",
            ctx.id,
            health.name(b),
            crate::config::format_duration(ctx.cfg.upstream.eject.duration),
            ctx.cfg.upstream.eject.after_failures
        );
    }
}

/// Takes a pooled connection or opens one (queueing at the pool's cap); marks the timestamps.
/// The backend is the group's pick; when connecting to it fails, one more attempt goes to
/// another backend (the same one when it is alone).
pub(super) async fn acquire(
    ctx: &ShardCtx,
    kind: PoolKind,
    times: &mut RequestTimes,
) -> Result<Leg, Failure> {
    let first = ctx.upstream.pick(clock::now(), None);
    match acquire_from(ctx, first, kind, times).await {
        Err(Failure::Connect(_)) => {
            let second = ctx.upstream.pick(clock::now(), Some(first));
            acquire_from(ctx, second, kind, times).await
        }
        r => r,
    }
}

async fn acquire_from(
    ctx: &ShardCtx,
    backend: usize,
    kind: PoolKind,
    times: &mut RequestTimes,
) -> Result<Leg, Failure> {
    let pool = ctx.upstream.pool(backend, kind);
    let now = clock::now();
    let leg = |c: upstream::Conn| Leg {
        io: Inbound::with_spare_buffer(c.stream),
        uses: c.uses,
        slot: c.slot,
        kind,
        backend,
        _in_flight: ctx.upstream.in_flight(backend),
    };
    if let Some(c) = pool.take_idle(now) {
        ctx.note_pool();
        times.upstream_ready = Some(clock::now());
        return Ok(leg(c));
    }
    let slot = pool
        .reserve(ctx.cfg.timeouts.queue)
        .await
        .ok_or(Failure::QueueTimeout)?;
    let now = clock::now();
    times.connect_start.get_or_insert(now);
    match pool.connect(slot, now).await {
        Ok(c) => {
            ctx.metrics.upstream_opened.add(1);
            ctx.note_pool();
            times.upstream_ready = Some(clock::now());
            Ok(leg(c))
        }
        Err(e) => {
            ctx.metrics.upstream_connect_failures.add(1);
            backend_failed(ctx, backend);
            Err(Failure::Connect(e))
        }
    }
}

/// Sends the request head (with any body bytes already framed into `wire`) on a connection
/// from [`acquire`] (the reserved health-check pool for health checks), shared by both fronts. When the request is `replayable` (no body left to
/// send) it also reads the response head; a reused connection found closed before answering
/// is replaced once by another (the cache closed it while idle). Returns the leg and, when
/// read, the response head; `state.request_body_done` and the head/body timestamps are set.
pub(super) async fn send_head(
    ctx: &ShardCtx,
    head: &RequestHead,
    wire: &[u8],
    replayable: bool,
    times: &mut RequestTimes,
    state: &mut ExchangeState,
    limit: Duration,
) -> Result<(Leg, Option<ResponseHead>), Failure> {
    let kind = ctx.pool_kind(head.host.as_deref(), &head.target);
    let mut retried = false;
    loop {
        let mut leg = acquire(ctx, kind, times).await?;
        let reused = leg.uses > 0;
        let sent = leg.io.write_all(wire, limit).await;
        times.head_sent.get_or_insert_with(clock::now);
        let may_retry = reused && replayable && !retried;
        if let Err(f) = sent {
            if may_retry {
                retried = true;
                continue;
            }
            if !reused {
                backend_failed(ctx, leg.backend);
            }
            return Err(Failure::from_upstream(f, Phase::Headers));
        }
        if !replayable {
            return Ok((leg, None));
        }
        state.request_body_done = true;
        times.body_sent = times.head_sent;
        match leg.read_head(ctx, head, limit).await {
            Err(HeadFail::ClosedEarly) if may_retry => {
                retried = true;
                continue;
            }
            Err(e) => return Err(e.into_failure()),
            Ok(resp) => return Ok((leg, Some(resp))),
        }
    }
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
    ctx.metrics.record_request(&RequestRecord::of(
        protocol,
        state.status,
        term,
        times,
        ctx.cfg.sli.latency_threshold,
    ));
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

/// Returns the upstream connection to its pool (its read buffer to the shard's spares) when the exchange ended
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
    if let Some(stream) = leg.io.into_idle() {
        ctx.upstream
            .pool(leg.backend, leg.kind)
            .put_back(stream, leg.uses, leg.slot, clock::now());
        ctx.note_pool();
    }
}
