//! Shard-local counters and histograms, merged on scrape, rendered in the Prometheus text
//! format.
//!
//! Each shard owns one [`ShardMetrics`] (in an `Arc`, so the admin listener can read it). Every
//! value is an `AtomicU64` with exactly **one writer**, the owning shard, which updates it with a
//! relaxed load + store ([`Counter::add`]) — no locked read-modify-write instruction, no
//! contention, on the request path. A scrape reads every shard's values with relaxed loads and
//! sums them; a scrape racing a request may see that request's counters partly updated, which
//! the next scrape corrects (counters only grow).
//!
//! Label values are closed enums (STYLE point 14): cardinality is bounded by construction.
//!
//! # Metrics
//!
//! | name | type | labels |
//! | --- | --- | --- |
//! | `tlsterm_requests_total` | counter | `status_class` (1xx..5xx, none), `protocol` (http/1.0, http/1.1, h2) |
//! | `tlsterm_sli_requests_total` | counter | — |
//! | `tlsterm_sli_good_total` | counter | — |
//! | `tlsterm_sli_bad_total` | counter | `reason` (latency, error) |
//! | `tlsterm_termination_states_total` | counter | `state` (two letters, e.g. `--`, `SC`) |
//! | `tlsterm_internal_latency_seconds` | histogram | — |
//! | `tlsterm_upstream_response_seconds` | histogram | — (Tr: request sent → response head) |
//! | `tlsterm_handshake_duration_seconds` | histogram | — |
//! | `tlsterm_handshakes_total` | counter | `version`, `cert_kind`, `resumed`, `result` (ok, failed, timeout) |
//! | `tlsterm_connections_accepted_total` | counter | `shard` |
//! | `tlsterm_connections_open` | gauge | `shard` |
//! | `tlsterm_upstream_connections_opened_total` | counter | — |
//! | `tlsterm_upstream_connect_failures_total` | counter | — |
//! | `tlsterm_upstream_backend_up` | gauge | `backend` (1 = checks pass and not ejected) |
//! | `tlsterm_upstream_backend_ejections_total` | counter | `backend` |
//! | `tlsterm_upstream_backend_check_failures_total` | counter | `backend` |
//! | `tlsterm_upstream_pool_idle` | gauge | `shard` (all backends) |
//! | `tlsterm_upstream_pool_open` | gauge | `shard` (idle + busy connections of the main pools) |
//! | `tlsterm_accept_paused_total` | counter | — (accepting paused at `maxconn`) |
//! | `tlsterm_limit_rejections_total` | counter | `kind` (per_ip_penalty: connection closed at accept; per_ip_cap: request over the cap) |
//! | `tlsterm_certificate_expiry_seconds` | gauge | `cert` (file name), `kind` |
//! | `haproxy_frontend_http_responses_total` | counter | `proxy` ("tlsterm"), `code` (1xx..5xx, other) |
//! | `process_resident_memory_bytes` | gauge | — |
//! | `process_open_fds` | gauge | — |
//! | `process_start_time_seconds` | gauge | — |
//! | `tlsterm_build_info` | gauge | `version` |
//! | `tlsterm_scrape_duration_seconds` | gauge | — (time spent rendering the previous scrape) |
//! | `tlsterm_draining` | gauge | — (1 while draining) |
//! | `tlsterm_tls_generation` | gauge | — (generation of the TLS state in service) |
//! | `tlsterm_reloads_total` | counter | `result` (ok, failed) |
//! | `tlsterm_ticket_keys` | gauge | `source` (file, generated) |
//! | `tlsterm_ocsp_staple_seconds_remaining` | gauge | `cert` |
//! | `tlsterm_ocsp_staple_refused` | gauge | `cert` |
//! | `tlsterm_ocsp_must_staple_missing` | gauge | `cert` |
//! | `tlsterm_ocsp_fetches_total` | counter | `cert`, `result` (ok, failed) |
//! | `tlsterm_ocsp_last_fetch_ok` | gauge | `cert` |
//!
//! What it does not do: decide anything about a request (that is [`crate::sli`]) or serve HTTP
//! (that is [`crate::admin`]).

mod histogram;
mod render;

pub use histogram::{Histogram, LATENCY_BUCKETS};
pub use render::{render, ProcessInfo, StapleFacts, TlsFacts};

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::sli::{verdict, Cause, Phase, RequestTimes, Termination, Verdict};
use crate::tls::CertKind;

/// A counter or gauge with a single writer (its shard) and any number of readers.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the owning shard calls this (single writer: load + store, no RMW).
    #[inline]
    pub fn add(&self, n: u64) {
        let v = self.0.load(Ordering::Relaxed);
        self.0.store(v.wrapping_add(n), Ordering::Relaxed);
    }

    /// Sets a gauge. Only the owning shard calls this.
    #[inline]
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }

    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Reload outcomes, written by the reloader thread (off the request path).
#[derive(Debug, Default)]
pub struct ReloadCounters {
    pub ok: AtomicU64,
    pub failed: AtomicU64,
}

/// HTTP protocol of a request (label `protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http10,
    Http11,
    H2,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Http10, Protocol::Http11, Protocol::H2];

    pub fn label(self) -> &'static str {
        match self {
            Protocol::Http10 => "http/1.0",
            Protocol::Http11 => "http/1.1",
            Protocol::H2 => "h2",
        }
    }
}

/// Status class of the response sent (label `status_class`); index 0 = no response.
pub const STATUS_CLASSES: [&str; 6] = ["none", "1xx", "2xx", "3xx", "4xx", "5xx"];

fn status_class(status: Option<u16>) -> usize {
    match status {
        Some(s @ 100..=599) => usize::from(s / 100),
        _ => 0,
    }
}

pub const CAUSES: [Cause; 11] = [
    Cause::Normal,
    Cause::ClientAbort,
    Cause::ServerAbort,
    Cause::ProxyRefused,
    Cause::Local,
    Cause::Resource,
    Cause::Internal,
    Cause::Down,
    Cause::Killed,
    Cause::ClientTimeout,
    Cause::ServerTimeout,
];

pub const PHASES: [Phase; 7] = [
    Phase::Normal,
    Phase::Request,
    Phase::Queue,
    Phase::Connect,
    Phase::Headers,
    Phase::Data,
    Phase::Last,
];

fn termination_index(t: Termination) -> usize {
    let c = CAUSES.iter().position(|c| *c == t.cause).unwrap_or(0);
    let p = PHASES.iter().position(|p| *p == t.phase).unwrap_or(0);
    c * PHASES.len() + p
}

/// How a handshake ended (label `result`, and the other labels for successful ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeOutcome {
    Ok {
        took: Duration,
        version: TlsVersion,
        kind: CertKind,
        resumed: Resumption,
    },
    Failed,
    Timeout,
}

/// Negotiated protocol version (label `version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

/// Whether the session was resumed (label `resumed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resumption {
    Full,
    Resumed,
}

/// Handshake label set: version (1.2, 1.3) × kind (ECDSA, RSA) × resumed × result.
pub const HS_VERSIONS: [&str; 2] = ["TLSv1.2", "TLSv1.3"];
pub const HS_KINDS: [&str; 2] = ["ECDSA", "RSA"];
pub const HS_RESULTS: [&str; 3] = ["ok", "failed", "timeout"];

/// Everything one shard counts.
#[derive(Debug)]
pub struct ShardMetrics {
    pub shard: usize,
    /// [protocol][status class]
    pub requests: [[Counter; 6]; 3],
    pub sli_requests: Counter,
    pub sli_good: Counter,
    pub sli_bad_latency: Counter,
    pub sli_bad_error: Counter,
    /// [cause * 7 + phase]
    pub terminations: [Counter; 77],
    pub internal_latency: Histogram,
    pub upstream_response: Histogram,
    pub handshake_duration: Histogram,
    /// Successful handshakes: [version][kind][resumed]
    pub handshakes_ok: [[[Counter; 2]; 2]; 2],
    /// Failed handshakes (version and kind unknown): [failed, timeout]
    pub handshakes_bad: [Counter; 2],
    pub connections_accepted: Counter,
    pub connections_open: Counter,
    pub upstream_opened: Counter,
    pub upstream_connect_failures: Counter,
    pub upstream_idle: Counter,
    /// Open upstream connections (idle + busy) of the main pool.
    pub upstream_open: Counter,
    /// Times accepting paused at the connection limit.
    pub accept_paused: Counter,
    /// Connections closed at accept because their IP is penalized.
    pub per_ip_refused: Counter,
    /// Requests over the per-IP cap (their IP got penalized).
    pub per_ip_over_cap: Counter,
}

/// What one finished request contributes to the metrics.
#[derive(Debug, Clone, Copy)]
pub struct RequestRecord {
    pub protocol: Protocol,
    pub status: Option<u16>,
    pub termination: Termination,
    pub verdict: Verdict,
    pub internal_latency: Option<Duration>,
    /// Tr, when a response head came from the upstream.
    pub upstream_response: Option<Duration>,
}

impl RequestRecord {
    /// The record of one finished request: its internal latency and SLI verdict (against
    /// `threshold`) and Tr, all derived from its lifecycle `times`.
    pub fn of(
        protocol: Protocol,
        status: Option<u16>,
        termination: Termination,
        times: &RequestTimes,
        threshold: Duration,
    ) -> Self {
        let latency = times.internal_latency();
        let upstream_response = match (times.body_sent.or(times.head_sent), times.response_head) {
            (Some(sent), Some(head)) => Some(head.saturating_duration_since(sent)),
            _ => None,
        };
        RequestRecord {
            protocol,
            status,
            termination,
            verdict: verdict(latency, termination, threshold),
            internal_latency: latency,
            upstream_response,
        }
    }
}

impl ShardMetrics {
    pub fn new(shard: usize) -> Self {
        ShardMetrics {
            shard,
            requests: Default::default(),
            sli_requests: Counter::default(),
            sli_good: Counter::default(),
            sli_bad_latency: Counter::default(),
            sli_bad_error: Counter::default(),
            terminations: std::array::from_fn(|_| Counter::default()),
            internal_latency: Histogram::new(),
            upstream_response: Histogram::new(),
            handshake_duration: Histogram::new(),
            handshakes_ok: Default::default(),
            handshakes_bad: Default::default(),
            connections_accepted: Counter::default(),
            connections_open: Counter::default(),
            upstream_opened: Counter::default(),
            upstream_connect_failures: Counter::default(),
            upstream_idle: Counter::default(),
            upstream_open: Counter::default(),
            accept_paused: Counter::default(),
            per_ip_refused: Counter::default(),
            per_ip_over_cap: Counter::default(),
        }
    }

    /// Records one finished request: the single end-of-request entry point.
    pub fn record_request(&self, r: &RequestRecord) {
        let proto = Protocol::ALL
            .iter()
            .position(|p| *p == r.protocol)
            .unwrap_or(1);
        self.requests[proto][status_class(r.status)].add(1);
        self.terminations[termination_index(r.termination)].add(1);
        self.sli_requests.add(1);
        match r.verdict {
            Verdict::Good => self.sli_good.add(1),
            Verdict::BadLatency => self.sli_bad_latency.add(1),
            Verdict::BadError => self.sli_bad_error.add(1),
        }
        if let Some(l) = r.internal_latency {
            self.internal_latency.observe(l);
        }
        if let Some(u) = r.upstream_response {
            self.upstream_response.observe(u);
        }
    }

    /// Records a finished (or failed) handshake.
    pub fn record_handshake(&self, outcome: HandshakeOutcome) {
        match outcome {
            HandshakeOutcome::Ok {
                took,
                version,
                kind,
                resumed,
            } => {
                self.handshake_duration.observe(took);
                let v = usize::from(version == TlsVersion::Tls13);
                let k = usize::from(kind == CertKind::Rsa);
                let r = usize::from(resumed == Resumption::Resumed);
                self.handshakes_ok[v][k][r].add(1);
            }
            HandshakeOutcome::Failed => self.handshakes_bad[0].add(1),
            HandshakeOutcome::Timeout => self.handshakes_bad[1].add(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_derives_latency_verdict_and_tr_from_the_times() {
        let t0 = std::time::Instant::now();
        let at = |ms: u64| Some(t0 + Duration::from_millis(ms));
        let mut times = RequestTimes::new(t0);
        times.head_complete = at(1);
        times.upstream_ready = at(2);
        times.head_sent = at(3);
        times.body_sent = at(10);
        times.response_head = at(40);
        times.response_head_sent = at(100);
        let threshold = Duration::from_millis(50);
        let r = RequestRecord::of(
            Protocol::H2,
            Some(200),
            Termination::NORMAL,
            &times,
            threshold,
        );
        // (3 − 1) + (100 − 40) ms; Tr from the end of the body, not the head.
        assert_eq!(r.internal_latency, Some(Duration::from_millis(62)));
        assert_eq!(r.upstream_response, Some(Duration::from_millis(30)));
        assert_eq!(r.verdict, Verdict::BadLatency);
        assert_eq!((r.protocol, r.status), (Protocol::H2, Some(200)));

        // The head never completed: no latency, judged by the termination alone.
        let refused = Termination::new(Cause::ProxyRefused, Phase::Request);
        let r = RequestRecord::of(
            Protocol::Http11,
            Some(400),
            refused,
            &RequestTimes::new(t0),
            threshold,
        );
        assert_eq!((r.internal_latency, r.upstream_response), (None, None));
        assert_eq!(r.verdict, verdict(None, refused, threshold));
    }

    #[test]
    fn record_counts_each_dimension_once() {
        let m = ShardMetrics::new(0);
        m.record_request(&RequestRecord {
            protocol: Protocol::Http11,
            status: Some(503),
            termination: Termination::new(Cause::ServerAbort, Phase::Connect),
            verdict: Verdict::Good,
            internal_latency: Some(Duration::from_micros(300)),
            upstream_response: None,
        });
        assert_eq!(m.requests[1][5].get(), 1);
        assert_eq!(m.sli_requests.get(), 1);
        assert_eq!(m.sli_good.get(), 1);
        let sc = termination_index(Termination::new(Cause::ServerAbort, Phase::Connect));
        assert_eq!(m.terminations[sc].get(), 1);
        assert_eq!(m.terminations.iter().map(Counter::get).sum::<u64>(), 1);
        assert_eq!(m.internal_latency.count(), 1);
        assert_eq!(m.upstream_response.count(), 0);
    }

    #[test]
    fn termination_indexes_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for c in CAUSES {
            for p in PHASES {
                assert!(seen.insert(termination_index(Termination::new(c, p))));
            }
        }
        assert_eq!(seen.len(), 77);
        assert!(seen.iter().all(|i| *i < 77));
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(None), 0);
        assert_eq!(status_class(Some(100)), 1);
        assert_eq!(status_class(Some(204)), 2);
        assert_eq!(status_class(Some(599)), 5);
        assert_eq!(status_class(Some(600)), 0);
    }
}
