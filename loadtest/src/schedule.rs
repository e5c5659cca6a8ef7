//! When each request is due, whether it is measured, and what its latency is. Pure: time is
//! passed in.
//!
//! Job: the latency accounting that decides whether the harness lies. A [`Schedule`] hands out
//! [`Ticket`]s; the latency of a request is `completion - ticket.intended`.
//!
//! - Closed loop: a ticket is due at once and its intended time is *now*, so latency is measured
//!   from the actual send (what wrk and most closed-loop tools do).
//! - Open loop at rate R: ticket i is due at `start + i/R`, whether or not a connection is free
//!   to send it. A connection that is stuck (slow response, reconnect, stall) does not pause the
//!   schedule: the tickets that fall due meanwhile wait, are sent late, and their latencies count
//!   from their *intended* time. This is the coordinated-omission correction of wrk2: a stall
//!   shows up in every request queued behind it, not as one slow sample.
//! - A ticket that has waited longer than the request timeout before any connection could take it
//!   is handed out as [`Next::Expired`]: the caller counts it as a timeout without sending it (a
//!   real client would have given up), which also lets an overloaded run drain in bounded time.
//!
//! Window: tickets intended before `measure_from` are warm-up (`measured == false`); no ticket is
//! intended at or after `measure_until`; with a quota, at most `quota` measured tickets are issued.
//!
//! What it does not do: sockets, timers, histograms (see [`crate::stats`]).

use std::time::{Duration, Instant};

use crate::plan::Pacing;

/// The phases of a run, fixed before the first request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Load begins (warm-up starts here).
    pub start: Instant,
    /// Measured window begins (`start + warmup`).
    pub measure_from: Instant,
    /// Measured window ends; `None` when bounded by a request count only.
    pub measure_until: Option<Instant>,
}

impl Window {
    /// Whether a completion at `at` counts towards throughput (it falls inside the window).
    pub fn counts(&self, at: Instant) -> bool {
        at >= self.measure_from && self.measure_until.is_none_or(|u| at < u)
    }
}

/// The right to send one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    /// When the request should have been sent; latency is measured from here.
    pub intended: Instant,
    /// False for warm-up requests: they load the server but are not recorded.
    pub measured: bool,
}

/// What a connection should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Send a request now.
    Go(Ticket),
    /// Nothing is due before this instant.
    Wait(Instant),
    /// This ticket waited longer than the timeout before it could be sent: count a timeout.
    Expired(Ticket),
    /// No more requests.
    Stop,
}

/// Hands out tickets for one shard (shared by its connections).
#[derive(Debug, Clone)]
pub struct Schedule {
    window: Window,
    pacing: Pacing,
    expire_after: Duration,
    quota: Option<u64>,
    next_index: u64,
    issued_measured: u64,
}

impl Schedule {
    pub fn new(window: Window, pacing: Pacing, expire_after: Duration, quota: Option<u64>) -> Self {
        Schedule {
            window,
            pacing,
            expire_after,
            quota,
            next_index: 0,
            issued_measured: 0,
        }
    }

    pub fn window(&self) -> &Window {
        &self.window
    }

    /// Measured tickets handed out so far (including expired ones).
    pub fn issued_measured(&self) -> u64 {
        self.issued_measured
    }

    /// True once the quota of measured tickets is used up.
    pub fn quota_done(&self) -> bool {
        self.quota.is_some_and(|q| self.issued_measured >= q)
    }

    /// True when [`Schedule::next`] at `now` would say `Stop` (without taking a ticket).
    pub fn finished(&self, now: Instant) -> bool {
        self.clone().next(now) == Next::Stop
    }

    /// The next thing to do at `now`.
    pub fn next(&mut self, now: Instant) -> Next {
        if self.quota_done() {
            return Next::Stop;
        }
        let intended = match self.pacing {
            Pacing::Closed => now,
            Pacing::Open { rate } => {
                self.window.start + Duration::from_secs_f64(self.next_index as f64 / rate)
            }
        };
        if self.window.measure_until.is_some_and(|u| intended >= u) {
            return Next::Stop;
        }
        if intended > now {
            return Next::Wait(intended);
        }
        self.next_index += 1;
        let measured = intended >= self.window.measure_from;
        if measured {
            self.issued_measured += 1;
        }
        let ticket = Ticket { intended, measured };
        if now.saturating_duration_since(intended) > self.expire_after {
            Next::Expired(ticket)
        } else {
            Next::Go(ticket)
        }
    }
}

/// Latency of a request completed at `completed`: from its intended send time.
pub fn latency(ticket: &Ticket, completed: Instant) -> Duration {
    completed.saturating_duration_since(ticket.intended)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const US: Duration = Duration::from_micros(1);

    fn window(t0: Instant, warmup: Duration, len: Option<Duration>) -> Window {
        Window {
            start: t0,
            measure_from: t0 + warmup,
            measure_until: len.map(|l| t0 + warmup + l),
        }
    }

    /// One connection, one request at a time; request `k` takes `service(k)`. Returns the
    /// recorded latencies (µs) and the number of expired tickets.
    fn simulate(
        mut s: Schedule,
        t0: Instant,
        service: impl Fn(usize) -> Duration,
    ) -> (Vec<u64>, u64) {
        let mut now = t0;
        let mut lat = Vec::new();
        let mut expired = 0;
        loop {
            match s.next(now) {
                Next::Go(t) => {
                    now += service(lat.len() + expired as usize);
                    lat.push(latency(&t, now).as_micros() as u64);
                }
                Next::Wait(at) => {
                    assert!(at > now);
                    now = at;
                }
                Next::Expired(_) => expired += 1,
                Next::Stop => return (lat, expired),
            }
        }
    }

    fn stall_at_10(k: usize) -> Duration {
        if k == 10 {
            100 * MS
        } else {
            100 * US
        }
    }

    #[test]
    fn closed_loop_hides_a_stall_in_one_sample() {
        let t0 = Instant::now();
        let s = Schedule::new(
            window(t0, Duration::ZERO, None),
            Pacing::Closed,
            10 * MS * 1000,
            Some(1000),
        );
        let (lat, expired) = simulate(s, t0, stall_at_10);
        assert_eq!(lat.len(), 1000);
        assert_eq!(expired, 0);
        assert_eq!(lat[10], 100_000);
        assert_eq!(lat.iter().filter(|&&l| l > 100).count(), 1);
    }

    #[test]
    fn open_loop_charges_the_stall_to_every_request_queued_behind_it() {
        let t0 = Instant::now();
        let open = Pacing::Open { rate: 1000.0 };
        let s = Schedule::new(
            window(t0, Duration::ZERO, None),
            open,
            10 * MS * 1000,
            Some(1000),
        );
        let (lat, expired) = simulate(s, t0, stall_at_10);
        assert_eq!(lat.len(), 1000);
        assert_eq!(expired, 0);
        // On schedule before the stall.
        assert!(lat[..10].iter().all(|&l| l == 100));
        // The stalled request itself, then its queue: request k (intended k ms) is sent when the
        // previous one completes, at 110 ms + (k - 11) * 0.1 ms, so it waited 109 - 0.9k ms.
        assert_eq!(lat[10], 100_000);
        assert_eq!(lat[11], 99_100);
        assert_eq!(lat[12], 98_200);
        assert_eq!(lat[100], 19_000);
        assert_eq!(lat[120], 1_000);
        // Caught up again: the schedule runs ahead of the service from request 121 on.
        assert_eq!(lat[121], 100);
        assert_eq!(lat.iter().filter(|&&l| l > 100).count(), 111);
        // p99 (rank 990 of 1000) is the stall's queue, not the service time.
        let mut sorted = lat.clone();
        sorted.sort_unstable();
        assert_eq!(sorted[989], 91_000);
    }

    #[test]
    fn tickets_that_waited_past_the_timeout_expire() {
        let t0 = Instant::now();
        let open = Pacing::Open { rate: 1000.0 };
        let s = Schedule::new(window(t0, Duration::ZERO, None), open, 50 * MS, Some(200));
        let (lat, expired) = simulate(s, t0, stall_at_10);
        // At 110 ms, tickets intended 11..=59 ms have waited more than 50 ms.
        assert_eq!(expired, 49);
        assert_eq!(lat.len(), 200 - 49);
        // The first one sent after the stall is intended at 60 ms: waited exactly 50 ms.
        assert_eq!(lat[11], 50_100);
    }

    #[test]
    fn open_loop_waits_for_the_intended_time_and_stops_at_the_window_end() {
        let t0 = Instant::now();
        let open = Pacing::Open { rate: 100.0 };
        let mut s = Schedule::new(window(t0, 20 * MS, Some(30 * MS)), open, 100 * MS, None);
        // Ticket 0 at t0 is warm-up; ticket 1 at 10 ms too; ticket 2 at 20 ms is measured.
        assert_eq!(
            s.next(t0),
            Next::Go(Ticket {
                intended: t0,
                measured: false
            })
        );
        assert_eq!(s.next(t0), Next::Wait(t0 + 10 * MS));
        assert_eq!(
            s.next(t0 + 10 * MS),
            Next::Go(Ticket {
                intended: t0 + 10 * MS,
                measured: false
            })
        );
        assert_eq!(
            s.next(t0 + 20 * MS),
            Next::Go(Ticket {
                intended: t0 + 20 * MS,
                measured: true
            })
        );
        assert_eq!(
            s.next(t0 + 30 * MS),
            Next::Go(Ticket {
                intended: t0 + 30 * MS,
                measured: true
            })
        );
        assert_eq!(
            s.next(t0 + 45 * MS),
            Next::Go(Ticket {
                intended: t0 + 40 * MS,
                measured: true
            })
        );
        // Ticket 5 would be intended at 50 ms = the end of the window.
        assert_eq!(s.next(t0 + 45 * MS), Next::Stop);
        assert_eq!(s.issued_measured(), 3);
    }

    #[test]
    fn closed_loop_window_and_quota() {
        let t0 = Instant::now();
        let mut s = Schedule::new(
            window(t0, 10 * MS, Some(10 * MS)),
            Pacing::Closed,
            MS,
            Some(2),
        );
        assert_eq!(
            s.next(t0),
            Next::Go(Ticket {
                intended: t0,
                measured: false
            })
        );
        let t = t0 + 12 * MS;
        assert_eq!(
            s.next(t),
            Next::Go(Ticket {
                intended: t,
                measured: true
            })
        );
        assert!(!s.quota_done());
        assert_eq!(
            s.next(t),
            Next::Go(Ticket {
                intended: t,
                measured: true
            })
        );
        assert!(s.quota_done());
        assert_eq!(s.next(t), Next::Stop);
        let mut s = Schedule::new(window(t0, 10 * MS, Some(10 * MS)), Pacing::Closed, MS, None);
        assert_eq!(s.next(t0 + 20 * MS), Next::Stop);
    }

    #[test]
    fn window_counts_completions_inside_it() {
        let t0 = Instant::now();
        let w = window(t0, 10 * MS, Some(10 * MS));
        assert!(!w.counts(t0 + 9 * MS));
        assert!(w.counts(t0 + 10 * MS));
        assert!(w.counts(t0 + 19 * MS));
        assert!(!w.counts(t0 + 20 * MS));
        assert!(window(t0, Duration::ZERO, None).counts(t0 + 1000 * MS));
    }
}
