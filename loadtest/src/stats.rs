//! What one shard counted: histograms (µs) and counters, recorded as requests end, merged after
//! the run. Shard-local, no locking.
//!
//! Job: one place that decides what counts. A request is *recorded* when its ticket is measured
//! (intended inside the window, see [`crate::schedule`]); it counts towards *throughput* only when
//! it also completes inside the window. Latency is recorded for successful requests only; every
//! failure is counted once under one [`ErrorKind`]. Connection-level failures that carry no ticket
//! (a keep-alive connection that cannot reconnect) count when they happen inside the window.
//!
//! What it does not do: decide latencies (the caller passes them, computed by
//! [`crate::schedule::latency`]) or print anything.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::schedule::{Ticket, Window};

/// Histogram bounds: 1 µs to 1 hour, 3 significant digits.
pub const HIST_LOW_US: u64 = 1;
pub const HIST_HIGH_US: u64 = 3_600_000_000;
pub const HIST_SIGFIG: u8 = 3;

/// An empty latency histogram in µs.
pub fn histogram() -> Histogram<u64> {
    // Cannot fail: the bounds are constants that satisfy low >= 1, high >= 2 * low, sigfig <= 5.
    Histogram::new_with_bounds(HIST_LOW_US, HIST_HIGH_US, HIST_SIGFIG)
        .expect("constant histogram bounds are valid")
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// Why an operation failed (one kind per failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// TCP connect refused, unreachable, or out of local resources.
    Connect,
    /// TLS handshake failed (alert, bad certificate, protocol error).
    Tls,
    /// An HTTP response with a status outside 200–299.
    Status,
    /// No complete answer within `--timeout` (or the ticket expired in the client's queue).
    Timeout,
    /// A response the client could not parse.
    Parse,
    /// The connection was closed or reset with a request outstanding.
    Closed,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 6] = [
        ErrorKind::Connect,
        ErrorKind::Tls,
        ErrorKind::Status,
        ErrorKind::Timeout,
        ErrorKind::Parse,
        ErrorKind::Closed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Tls => "tls",
            ErrorKind::Status => "status",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Parse => "parse",
            ErrorKind::Closed => "closed",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Error counts by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Errors([u64; 6]);

impl Errors {
    pub fn add(&mut self, kind: ErrorKind) {
        self.0[kind.index()] += 1;
    }
    pub fn get(&self, kind: ErrorKind) -> u64 {
        self.0[kind.index()]
    }
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
    pub fn merge(&mut self, other: &Errors) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx response with this many body bytes.
    Ok {
        body_bytes: u64,
    },
    Failed(ErrorKind),
}

/// What a handshake was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    /// From the start of the TCP connect to the end of the TLS handshake (client side).
    pub took: Duration,
    pub resumed: bool,
}

/// Everything one shard counted in the measured window.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Latency of successful measured requests, µs.
    pub latency: Histogram<u64>,
    /// Handshake time of measured connections, µs.
    pub handshake: Histogram<u64>,
    /// Successful measured requests (including those completing after the window end).
    pub ok: u64,
    /// Successful requests completing inside the window: the throughput numerator.
    pub ok_in_window: u64,
    /// Body bytes of `ok_in_window` requests.
    pub body_bytes_in_window: u64,
    pub errors: Errors,
    pub handshakes_full: u64,
    pub handshakes_resumed: u64,
    /// Measured tickets resolved (success or failure).
    pub resolved: u64,
    /// Latest resolution of a measured ticket.
    pub last_resolution: Option<Instant>,
    /// idle: connections still up at the end of the window.
    pub idle_up: u64,
    /// The first message seen for each error kind that was counted (for the report).
    pub examples: Vec<(ErrorKind, String)>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            latency: histogram(),
            handshake: histogram(),
            ok: 0,
            ok_in_window: 0,
            body_bytes_in_window: 0,
            errors: Errors::default(),
            handshakes_full: 0,
            handshakes_resumed: 0,
            resolved: 0,
            last_resolution: None,
            idle_up: 0,
            examples: Vec::new(),
        }
    }
}

impl Stats {
    pub fn merge(&mut self, o: &Stats) {
        // Cannot fail: all histograms are created by `histogram()` with the same bounds.
        self.latency.add(&o.latency).expect("same bounds");
        self.handshake.add(&o.handshake).expect("same bounds");
        self.ok += o.ok;
        self.ok_in_window += o.ok_in_window;
        self.body_bytes_in_window += o.body_bytes_in_window;
        self.errors.merge(&o.errors);
        self.handshakes_full += o.handshakes_full;
        self.handshakes_resumed += o.handshakes_resumed;
        self.resolved += o.resolved;
        self.last_resolution = self.last_resolution.max(o.last_resolution);
        self.idle_up += o.idle_up;
        for (kind, detail) in &o.examples {
            self.note(*kind, detail);
        }
    }

    /// Keeps `detail` as the example of `kind` unless one is already kept.
    pub fn note(&mut self, kind: ErrorKind, detail: &str) {
        if !self.examples.iter().any(|(k, _)| *k == kind) {
            self.examples.push((kind, detail.to_string()));
        }
    }
}

/// Counts since the last progress tick (warm-up included, so progress shows from the start).
#[derive(Debug, Clone)]
pub struct Interval {
    pub ok: u64,
    pub errors: u64,
    pub latency: Histogram<u64>,
}

impl Default for Interval {
    fn default() -> Self {
        Interval {
            ok: 0,
            errors: 0,
            latency: histogram(),
        }
    }
}

/// A shard's recorder: the window, the totals and the progress interval.
#[derive(Debug)]
pub struct Recorder {
    window: Window,
    pub stats: Stats,
    pub interval: Interval,
}

impl Recorder {
    pub fn new(window: Window) -> Self {
        Recorder {
            window,
            stats: Stats::default(),
            interval: Interval::default(),
        }
    }

    /// A request (or, for handshake/resume, one connection) ended at `now`; `detail` describes a
    /// failure.
    pub fn request(
        &mut self,
        ticket: &Ticket,
        latency: Duration,
        outcome: Outcome,
        detail: &str,
        now: Instant,
    ) {
        match outcome {
            Outcome::Ok { .. } => {
                self.interval.ok += 1;
                self.interval.latency.saturating_record(micros(latency));
            }
            Outcome::Failed(_) => self.interval.errors += 1,
        }
        if !ticket.measured {
            return;
        }
        let s = &mut self.stats;
        s.resolved += 1;
        s.last_resolution = s.last_resolution.max(Some(now));
        match outcome {
            Outcome::Ok { body_bytes } => {
                s.ok += 1;
                s.latency.saturating_record(micros(latency));
                if self.window.counts(now) {
                    s.ok_in_window += 1;
                    s.body_bytes_in_window += body_bytes;
                }
            }
            Outcome::Failed(kind) => {
                s.errors.add(kind);
                s.note(kind, detail);
            }
        }
    }

    /// A failure not tied to a ticket (e.g. a keep-alive reconnect failing) at `now`.
    pub fn connection_error(&mut self, kind: ErrorKind, detail: &str, now: Instant) {
        self.interval.errors += 1;
        if self.window.counts(now) {
            self.stats.errors.add(kind);
            self.stats.note(kind, detail);
        }
    }

    /// A handshake finished at `now`; counted when inside the window.
    pub fn handshake(&mut self, h: Handshake, now: Instant) {
        if !self.window.counts(now) {
            return;
        }
        self.stats.handshake.saturating_record(micros(h.took));
        if h.resumed {
            self.stats.handshakes_resumed += 1;
        } else {
            self.stats.handshakes_full += 1;
        }
    }

    /// Takes the progress interval, leaving an empty one.
    pub fn take_interval(&mut self) -> Interval {
        std::mem::take(&mut self.interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn setup() -> (Instant, Recorder) {
        let t0 = Instant::now();
        let w = Window {
            start: t0,
            measure_from: t0 + 10 * MS,
            measure_until: Some(t0 + 20 * MS),
        };
        (t0, Recorder::new(w))
    }

    #[test]
    fn warmup_requests_show_in_progress_only() {
        let (t0, mut r) = setup();
        let t = Ticket {
            intended: t0,
            measured: false,
        };
        r.request(&t, MS, Outcome::Ok { body_bytes: 5 }, "", t0 + MS);
        r.request(&t, MS, Outcome::Failed(ErrorKind::Status), "503", t0 + MS);
        assert_eq!(r.stats.ok, 0);
        assert_eq!(r.stats.errors.total(), 0);
        assert_eq!(r.stats.latency.len(), 0);
        let i = r.take_interval();
        assert_eq!((i.ok, i.errors, i.latency.len()), (1, 1, 1));
        assert_eq!(r.interval.ok, 0);
    }

    #[test]
    fn throughput_counts_completions_inside_the_window_only() {
        let (t0, mut r) = setup();
        let t = Ticket {
            intended: t0 + 15 * MS,
            measured: true,
        };
        r.request(
            &t,
            3 * MS,
            Outcome::Ok { body_bytes: 100 },
            "",
            t0 + 18 * MS,
        );
        r.request(
            &t,
            7 * MS,
            Outcome::Ok { body_bytes: 100 },
            "",
            t0 + 22 * MS,
        );
        r.request(
            &t,
            MS,
            Outcome::Failed(ErrorKind::Timeout),
            "slow",
            t0 + 25 * MS,
        );
        assert_eq!(r.stats.ok, 2);
        assert_eq!(r.stats.ok_in_window, 1);
        assert_eq!(r.stats.body_bytes_in_window, 100);
        assert_eq!(r.stats.latency.len(), 2);
        assert_eq!(
            r.stats.latency.max(),
            r.stats.latency.highest_equivalent(7000)
        );
        assert_eq!(r.stats.errors.get(ErrorKind::Timeout), 1);
        assert_eq!(r.stats.resolved, 3);
        assert_eq!(r.stats.last_resolution, Some(t0 + 25 * MS));
        assert_eq!(
            r.stats.examples,
            vec![(ErrorKind::Timeout, "slow".to_string())]
        );
    }

    #[test]
    fn connection_errors_and_handshakes_count_inside_the_window() {
        let (t0, mut r) = setup();
        r.connection_error(ErrorKind::Connect, "early", t0 + MS);
        r.connection_error(ErrorKind::Connect, "refused", t0 + 11 * MS);
        r.connection_error(ErrorKind::Connect, "again", t0 + 12 * MS);
        r.connection_error(ErrorKind::Tls, "late", t0 + 21 * MS);
        assert_eq!(r.stats.errors.get(ErrorKind::Connect), 2);
        assert_eq!(r.stats.errors.total(), 2);
        assert_eq!(r.interval.errors, 4);
        assert_eq!(
            r.stats.examples,
            vec![(ErrorKind::Connect, "refused".to_string())]
        );
        let h = |resumed| Handshake {
            took: 2 * MS,
            resumed,
        };
        r.handshake(h(false), t0 + MS);
        r.handshake(h(false), t0 + 12 * MS);
        r.handshake(h(true), t0 + 13 * MS);
        assert_eq!(
            (r.stats.handshakes_full, r.stats.handshakes_resumed),
            (1, 1)
        );
        assert_eq!(r.stats.handshake.len(), 2);
    }

    #[test]
    fn merge_adds_everything() {
        let (t0, mut a) = setup();
        let (_, mut b) = setup();
        let t = Ticket {
            intended: t0 + 11 * MS,
            measured: true,
        };
        a.request(&t, MS, Outcome::Ok { body_bytes: 10 }, "", t0 + 12 * MS);
        b.request(&t, 2 * MS, Outcome::Ok { body_bytes: 20 }, "", t0 + 13 * MS);
        b.request(
            &t,
            2 * MS,
            Outcome::Failed(ErrorKind::Parse),
            "bad",
            t0 + 14 * MS,
        );
        let mut s = a.stats.clone();
        s.merge(&b.stats);
        assert_eq!((s.ok, s.ok_in_window, s.body_bytes_in_window), (2, 2, 30));
        assert_eq!(s.errors.get(ErrorKind::Parse), 1);
        assert_eq!(s.latency.len(), 2);
        assert_eq!(s.resolved, 3);
        assert_eq!(s.last_resolution, Some(t0 + 14 * MS));
        assert_eq!(s.examples, vec![(ErrorKind::Parse, "bad".to_string())]);
    }
}
