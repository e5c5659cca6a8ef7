//! Per-request timers, the HAProxy-style termination state, and the SLI verdict. Sans-IO.
//!
//! The connection driver calls the `mark_*` methods of [`RequestTimes`] with `now` as each phase
//! of a request ends; [`RequestTimes::timers`] turns them into the HAProxy log timers
//! `TR/Tw/Tc/Tr/Ta` (milliseconds, `-1` for a phase never reached) and
//! [`RequestTimes::internal_latency`] into the proxy-internal latency of the SLI (see SLO.md).
//!
//! What this module does not do: read the clock, write logs, or count metrics. It decides.
//!
//! Invariant: timestamps only move forward; a phase that was not reached stays `None` and
//! every derived figure treats it as absent, never as zero.

use std::fmt;
use std::time::{Duration, Instant};

/// Who or what ended the request (first letter of the termination state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cause {
    /// `-`: normal completion.
    Normal,
    /// `C`: the client aborted.
    ClientAbort,
    /// `S`: the server (cache layer) aborted or refused.
    ServerAbort,
    /// `P`: the proxy refused (limit, invalid request or response).
    ProxyRefused,
    /// `L`: answered locally by the proxy.
    Local,
    /// `R`: a proxy resource was exhausted.
    Resource,
    /// `I`: internal error.
    Internal,
    /// `D`: the server went down.
    Down,
    /// `K`: killed by an admin (drain deadline, hard stop).
    Killed,
    /// `c`: client timeout.
    ClientTimeout,
    /// `s`: server timeout.
    ServerTimeout,
}

impl Cause {
    pub fn letter(self) -> char {
        match self {
            Cause::Normal => '-',
            Cause::ClientAbort => 'C',
            Cause::ServerAbort => 'S',
            Cause::ProxyRefused => 'P',
            Cause::Local => 'L',
            Cause::Resource => 'R',
            Cause::Internal => 'I',
            Cause::Down => 'D',
            Cause::Killed => 'K',
            Cause::ClientTimeout => 'c',
            Cause::ServerTimeout => 's',
        }
    }

    /// A request ending with this cause counts as a proxy-originated error for the SLI.
    pub fn is_proxy_error(self) -> bool {
        matches!(
            self,
            Cause::Resource | Cause::Internal | Cause::Down | Cause::Killed
        )
    }
}

/// In which phase the request ended (second letter of the termination state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// `-`: normal completion.
    Normal,
    /// `R`: waiting for the complete request from the client.
    Request,
    /// `Q`: queued for an upstream connection.
    Queue,
    /// `C`: connecting to the upstream.
    Connect,
    /// `H`: waiting for the upstream's response head.
    Headers,
    /// `D`: body transfer (either direction).
    Data,
    /// `L`: sending the last data to the client.
    Last,
}

impl Phase {
    pub fn letter(self) -> char {
        match self {
            Phase::Normal => '-',
            Phase::Request => 'R',
            Phase::Queue => 'Q',
            Phase::Connect => 'C',
            Phase::Headers => 'H',
            Phase::Data => 'D',
            Phase::Last => 'L',
        }
    }
}

/// The two-letter termination state, e.g. `--`, `SC`, `sH`, `cR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Termination {
    pub cause: Cause,
    pub phase: Phase,
}

impl Termination {
    pub const NORMAL: Termination = Termination {
        cause: Cause::Normal,
        phase: Phase::Normal,
    };

    pub const fn new(cause: Cause, phase: Phase) -> Self {
        Termination { cause, phase }
    }
}

impl fmt::Display for Termination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.cause.letter(), self.phase.letter())
    }
}

/// Timestamps of one request's lifecycle, in the order they happen.
///
/// `start` is when the proxy started waiting for this request's head with the first byte
/// available (first byte received, or the previous response finished with bytes already
/// buffered, for pipelining).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestTimes {
    pub start: Instant,
    /// The request head was complete and valid.
    pub head_complete: Option<Instant>,
    /// An upstream connection was in hand (reused or freshly connected).
    pub upstream_ready: Option<Instant>,
    /// A fresh connection started connecting at this instant (None when reused).
    pub connect_start: Option<Instant>,
    /// The request head was written to the upstream.
    pub head_sent: Option<Instant>,
    /// The request body, if any, was fully forwarded.
    pub body_sent: Option<Instant>,
    /// The final response head was received from the upstream.
    pub response_head: Option<Instant>,
    /// The response head was written to the client socket.
    pub response_head_sent: Option<Instant>,
    /// The exchange ended (last byte written, or the error decided).
    pub end: Option<Instant>,
}

/// HAProxy log timers in milliseconds; `-1` when the phase was not reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// TR: receiving the request head.
    pub tr_request: i64,
    /// Tw: waiting for an upstream connection slot.
    pub tw_queue: i64,
    /// Tc: connecting to the upstream (0 when a pooled connection was reused).
    pub tc_connect: i64,
    /// Tr: upstream response time (request fully sent → response head received).
    pub tr_response: i64,
    /// Ta: total active time of the request.
    pub ta_total: i64,
}

fn ms_between(a: Option<Instant>, b: Option<Instant>) -> i64 {
    match (a, b) {
        (Some(a), Some(b)) => b.saturating_duration_since(a).as_millis() as i64,
        _ => -1,
    }
}

impl RequestTimes {
    pub fn new(start: Instant) -> Self {
        RequestTimes {
            start,
            head_complete: None,
            upstream_ready: None,
            connect_start: None,
            head_sent: None,
            body_sent: None,
            response_head: None,
            response_head_sent: None,
            end: None,
        }
    }

    /// HAProxy timers. Tw spans head complete → connection wanted (connect start or reuse).
    pub fn timers(&self) -> Timers {
        let connect_or_ready = self.connect_start.or(self.upstream_ready);
        Timers {
            tr_request: ms_between(Some(self.start), self.head_complete),
            tw_queue: ms_between(self.head_complete, connect_or_ready),
            tc_connect: match (self.connect_start, self.upstream_ready) {
                (Some(_), Some(_)) => ms_between(self.connect_start, self.upstream_ready),
                (None, Some(_)) => 0,
                _ => -1,
            },
            tr_response: ms_between(self.body_sent.or(self.head_sent), self.response_head),
            ta_total: ms_between(Some(self.start), self.end),
        }
    }

    /// Proxy-internal latency: (head complete → head sent upstream) + (response head received →
    /// response head written to the client). The connect time is excluded (connection
    /// establishment), queueing is included. For a request answered locally (no upstream
    /// response), the time from head complete to the end. `None` when the head never completed.
    pub fn internal_latency(&self) -> Option<Duration> {
        let head = self.head_complete?;
        let outbound = match self.head_sent {
            Some(sent) => {
                let connect = match (self.connect_start, self.upstream_ready) {
                    (Some(c), Some(r)) => r.saturating_duration_since(c),
                    _ => Duration::ZERO,
                };
                sent.saturating_duration_since(head).saturating_sub(connect)
            }
            None => {
                // Never reached the upstream: the proxy held the request from head to end,
                // minus connection attempts (establishment is excluded).
                let end = self.end.unwrap_or(head);
                let connect = match self.connect_start {
                    Some(c) => end.saturating_duration_since(c),
                    None => Duration::ZERO,
                };
                return Some(end.saturating_duration_since(head).saturating_sub(connect));
            }
        };
        let inbound = match (self.response_head, self.response_head_sent) {
            (Some(r), Some(s)) => s.saturating_duration_since(r),
            _ => Duration::ZERO,
        };
        Some(outbound + inbound)
    }
}

/// Verdict of the SLI for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    Good,
    /// Internal latency at or over the threshold.
    BadLatency,
    /// Ended in a proxy-originated error (termination state R, I, D, U or K).
    BadError,
}

/// Judges one request. Requests whose head never completed have no internal latency and are
/// judged by their termination state alone.
pub fn verdict(latency: Option<Duration>, term: Termination, threshold: Duration) -> Verdict {
    if term.cause.is_proxy_error() {
        Verdict::BadError
    } else if latency.is_some_and(|l| l >= threshold) {
        Verdict::BadLatency
    } else {
        Verdict::Good
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, ms: u64) -> Option<Instant> {
        Some(base + Duration::from_millis(ms))
    }

    #[test]
    fn termination_letters() {
        assert_eq!(Termination::NORMAL.to_string(), "--");
        assert_eq!(
            Termination::new(Cause::ServerAbort, Phase::Connect).to_string(),
            "SC"
        );
        assert_eq!(
            Termination::new(Cause::ServerTimeout, Phase::Headers).to_string(),
            "sH"
        );
        assert_eq!(
            Termination::new(Cause::ClientTimeout, Phase::Request).to_string(),
            "cR"
        );
        assert_eq!(
            Termination::new(Cause::Killed, Phase::Data).to_string(),
            "KD"
        );
    }

    #[test]
    fn timers_for_reused_connection() {
        let t0 = Instant::now();
        let mut t = RequestTimes::new(t0);
        t.head_complete = at(t0, 2);
        t.upstream_ready = at(t0, 3);
        t.head_sent = at(t0, 4);
        t.response_head = at(t0, 40);
        t.response_head_sent = at(t0, 41);
        t.end = at(t0, 50);
        let timers = t.timers();
        assert_eq!(
            timers,
            Timers {
                tr_request: 2,
                tw_queue: 1,
                tc_connect: 0,
                tr_response: 36,
                ta_total: 50
            }
        );
        // 2ms out (head 2 → sent 4) + 1ms back (40 → 41); the upstream's 36 ms are excluded.
        assert_eq!(t.internal_latency(), Some(Duration::from_millis(3)));
    }

    #[test]
    fn connect_time_is_excluded_from_internal_latency() {
        let t0 = Instant::now();
        let mut t = RequestTimes::new(t0);
        t.head_complete = at(t0, 0);
        t.connect_start = at(t0, 1);
        t.upstream_ready = at(t0, 31);
        t.head_sent = at(t0, 32);
        t.response_head = at(t0, 100);
        t.response_head_sent = at(t0, 100);
        t.end = at(t0, 100);
        assert_eq!(t.timers().tc_connect, 30);
        assert_eq!(t.timers().tw_queue, 1);
        assert_eq!(t.internal_latency(), Some(Duration::from_millis(2)));
    }

    #[test]
    fn unreached_phases_are_minus_one() {
        let t0 = Instant::now();
        let mut t = RequestTimes::new(t0);
        t.end = at(t0, 10_000);
        let timers = t.timers();
        assert_eq!(timers.tr_request, -1);
        assert_eq!(timers.tw_queue, -1);
        assert_eq!(timers.tc_connect, -1);
        assert_eq!(timers.tr_response, -1);
        assert_eq!(timers.ta_total, 10_000);
        assert_eq!(t.internal_latency(), None);
    }

    #[test]
    fn failed_connect_counts_only_proxy_time() {
        let t0 = Instant::now();
        let mut t = RequestTimes::new(t0);
        t.head_complete = at(t0, 1);
        t.connect_start = at(t0, 5);
        t.end = at(t0, 3000);
        // 4 ms between head and the connect attempt; the 2995 ms of connecting are excluded.
        assert_eq!(t.internal_latency(), Some(Duration::from_millis(4)));
    }

    #[test]
    fn verdicts() {
        let th = Duration::from_millis(50);
        let ok = Some(Duration::from_millis(49));
        let slow = Some(Duration::from_millis(50));
        assert_eq!(verdict(ok, Termination::NORMAL, th), Verdict::Good);
        assert_eq!(verdict(slow, Termination::NORMAL, th), Verdict::BadLatency);
        let sc = Termination::new(Cause::ServerAbort, Phase::Connect);
        assert_eq!(verdict(ok, sc, th), Verdict::Good);
        let pr = Termination::new(Cause::ProxyRefused, Phase::Request);
        assert_eq!(verdict(None, pr, th), Verdict::Good);
        let kd = Termination::new(Cause::Killed, Phase::Data);
        assert_eq!(verdict(ok, kd, th), Verdict::BadError);
        let ih = Termination::new(Cause::Internal, Phase::Headers);
        assert_eq!(verdict(ok, ih, th), Verdict::BadError);
    }

    #[test]
    fn pipelined_request_starts_when_the_previous_response_ended() {
        // Request 2 was already buffered when response 1 finished at t = 10 ms: its TR is 0
        // and the time it waited behind request 1 is not counted against it.
        let t0 = Instant::now();
        let mut t = RequestTimes::new(t0 + Duration::from_millis(10));
        t.head_complete = at(t0, 10);
        t.upstream_ready = at(t0, 10);
        t.head_sent = at(t0, 11);
        t.response_head = at(t0, 20);
        t.response_head_sent = at(t0, 20);
        t.end = at(t0, 21);
        assert_eq!(t.timers().tr_request, 0);
        assert_eq!(t.timers().ta_total, 11);
        assert_eq!(t.internal_latency(), Some(Duration::from_millis(1)));
    }

    #[test]
    fn expect_100_continue_upload_time_is_the_clients() {
        // Head sent at once; the client uploads its body for 2 s after the 100 Continue;
        // the cache answers 5 ms after the body. Only the proxy's 1 ms + 1 ms count.
        let t0 = Instant::now();
        let mut t = RequestTimes::new(t0);
        t.head_complete = at(t0, 0);
        t.upstream_ready = at(t0, 0);
        t.head_sent = at(t0, 1);
        t.body_sent = at(t0, 2001);
        t.response_head = at(t0, 2006);
        t.response_head_sent = at(t0, 2007);
        t.end = at(t0, 2007);
        assert_eq!(t.internal_latency(), Some(Duration::from_millis(2)));
        assert_eq!(t.timers().tr_response, 5);
    }

    #[test]
    fn upstream_retry_time_is_connection_establishment() {
        // A pooled connection was stale; the request is replayed on a fresh one. The second
        // connect (1..41 ms) is establishment, excluded; Tc shows it.
        let t0 = Instant::now();
        let mut t = RequestTimes::new(t0);
        t.head_complete = at(t0, 0);
        t.connect_start = at(t0, 1);
        t.upstream_ready = at(t0, 41);
        t.head_sent = at(t0, 42);
        t.response_head = at(t0, 60);
        t.response_head_sent = at(t0, 60);
        t.end = at(t0, 61);
        assert_eq!(t.timers().tc_connect, 40);
        assert_eq!(t.internal_latency(), Some(Duration::from_millis(2)));
    }

    #[test]
    fn client_abort_mid_body_counts_only_the_proxy_part() {
        let t0 = Instant::now();
        let mut t = RequestTimes::new(t0);
        t.head_complete = at(t0, 0);
        t.upstream_ready = at(t0, 0);
        t.head_sent = at(t0, 3);
        // The client vanished 30 s into its upload: no body_sent, no response.
        t.end = at(t0, 30_000);
        assert_eq!(t.internal_latency(), Some(Duration::from_millis(3)));
        assert_eq!(t.timers().tr_response, -1);
        let term = Termination::new(Cause::ClientAbort, Phase::Data);
        assert_eq!(
            verdict(t.internal_latency(), term, Duration::from_millis(50)),
            Verdict::Good
        );
    }
}
