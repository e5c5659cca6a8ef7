//! The health of each backend of the upstream group, shared by every shard and the checker.
//!
//! Two inputs decide whether a backend takes requests:
//! - **passive**: each shard reports failures (connect refused or timed out, closed without
//!   answering on a fresh connection, unparsable response) and successes (a response head);
//!   `eject.after_failures` consecutive failures, counted over all shards, eject the backend
//!   for `eject.duration`. When the period ends the backend takes requests again; the count
//!   restarted at the ejection (failures reported during the period, e.g. requests already in
//!   flight, still count), so it takes `after_failures` new consecutive failures to eject it
//!   again (HAProxy's `observe layer4` + `error-limit` with `on-error mark-down`, without
//!   its slow start).
//! - **active**: the checker thread ([`super::check`]) marks a backend down after `fall`
//!   failed checks and up again after `rise` good ones.
//!
//! Cost per request: one relaxed load per backend considered to pick one, and on success one
//! relaxed load (the failure counter is only written when it is not already zero), so a
//! healthy group adds no cross-core cache-line traffic.
//!
//! What it does not do: pick a backend (that is [`super::group`]), or run checks.
//!
//! Invariant: times are milliseconds since `epoch` (an `Instant` fixed at creation), passed in
//! by the caller; nothing here reads the clock.
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use crate::config::{Eject, UpstreamConfig};

/// Health of every backend, index = position in `upstream.backends`.
#[derive(Debug)]
pub struct Health {
    epoch: Instant,
    eject: Eject,
    backends: Vec<BackendHealth>,
}

/// One backend's shared state.
#[derive(Debug)]
pub struct BackendHealth {
    /// `unix:/path` or `host:port`, for logs and metric labels.
    pub name: String,
    /// Active checks say up (true when checks are off).
    check_up: AtomicBool,
    /// Consecutive passive failures (all shards).
    failures: AtomicU32,
    /// Ejected until this many ms after `epoch` (0 = not ejected).
    ejected_until: AtomicU64,
    ejections: AtomicU64,
    checks_failed: AtomicU64,
}

/// A passive-health report changed the backend's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    None,
    /// This failure ejected the backend.
    Ejected,
}

/// What the metrics show of one backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendFacts {
    pub name: String,
    /// Takes requests now (checks up and not ejected).
    pub available: bool,
    pub ejections: u64,
    pub checks_failed: u64,
}

impl Health {
    pub fn new(cfg: &UpstreamConfig, epoch: Instant) -> Self {
        Health {
            epoch,
            eject: cfg.eject,
            backends: cfg
                .backends
                .iter()
                .map(|b| BackendHealth {
                    name: b.to_string(),
                    check_up: AtomicBool::new(true),
                    failures: AtomicU32::new(0),
                    ejected_until: AtomicU64::new(0),
                    ejections: AtomicU64::new(0),
                    checks_failed: AtomicU64::new(0),
                })
                .collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.backends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.backends.is_empty()
    }

    pub fn name(&self, i: usize) -> &str {
        self.backends.get(i).map_or("", |b| b.name.as_str())
    }

    fn ms(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// The backend takes requests at `now`: its checks pass and it is not ejected.
    pub fn available(&self, i: usize, now: Instant) -> bool {
        self.backends.get(i).is_some_and(|b| {
            b.check_up.load(Relaxed) && b.ejected_until.load(Relaxed) <= self.ms(now)
        })
    }

    /// A response head arrived from the backend.
    pub fn success(&self, i: usize) {
        if let Some(b) = self.backends.get(i) {
            if b.failures.load(Relaxed) != 0 {
                b.failures.store(0, Relaxed);
            }
        }
    }

    /// The backend failed a request (see the module doc for what counts).
    pub fn failure(&self, i: usize, now: Instant) -> Transition {
        let Some(b) = self.backends.get(i) else {
            return Transition::None;
        };
        let n = b.failures.fetch_add(1, Relaxed).saturating_add(1);
        let limit = self.eject.after_failures;
        if limit == 0 || n < limit {
            return Transition::None;
        }
        let now_ms = self.ms(now);
        let until = now_ms
            .saturating_add(u64::try_from(self.eject.duration.as_millis()).unwrap_or(u64::MAX));
        // One ejection per period however many shards report at once: only the report that
        // moves `ejected_until` from the past to the future counts.
        let prev = b.ejected_until.load(Relaxed);
        if prev > now_ms
            || b.ejected_until
                .compare_exchange(prev, until, Relaxed, Relaxed)
                .is_err()
        {
            return Transition::None;
        }
        b.failures.store(0, Relaxed);
        b.ejections.fetch_add(1, Relaxed);
        Transition::Ejected
    }

    /// The checker's verdict (after rise/fall); returns true when it changed.
    pub fn set_check(&self, i: usize, up: bool) -> bool {
        self.backends
            .get(i)
            .is_some_and(|b| b.check_up.swap(up, Relaxed) != up)
    }

    /// One active check failed (counted whatever the verdict).
    pub fn check_failed(&self, i: usize) {
        if let Some(b) = self.backends.get(i) {
            b.checks_failed.fetch_add(1, Relaxed);
        }
    }

    /// Every backend's state for the metrics.
    pub fn facts(&self, now: Instant) -> Vec<BackendFacts> {
        self.backends
            .iter()
            .enumerate()
            .map(|(i, b)| BackendFacts {
                name: b.name.clone(),
                available: self.available(i, now),
                ejections: b.ejections.load(Relaxed),
                checks_failed: b.checks_failed.load(Relaxed),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{UpstreamAddr, UpstreamConfig};
    use std::time::Duration;

    fn health(n: usize, after: u32) -> (Health, Instant) {
        let epoch = Instant::now();
        let mut cfg = UpstreamConfig::single(UpstreamAddr::Tcp("127.0.0.1:1".parse().unwrap()));
        cfg.backends = (0..n)
            .map(|k| UpstreamAddr::Tcp(format!("127.0.0.1:{}", 6081 + k).parse().unwrap()))
            .collect();
        cfg.eject = Eject {
            after_failures: after,
            duration: Duration::from_secs(10),
        };
        (Health::new(&cfg, epoch), epoch)
    }

    #[test]
    fn consecutive_failures_eject_for_the_period() {
        let (h, t0) = health(2, 3);
        let t = t0 + Duration::from_secs(1);
        assert_eq!(h.failure(0, t), Transition::None);
        assert_eq!(h.failure(0, t), Transition::None);
        assert!(h.available(0, t));
        assert_eq!(h.failure(0, t), Transition::Ejected);
        assert!(!h.available(0, t));
        assert!(!h.available(0, t + Duration::from_millis(9_999)));
        assert!(h.available(0, t + Duration::from_secs(10)));
        assert!(h.available(1, t), "the other backend is untouched");
        assert_eq!(h.facts(t)[0].ejections, 1);
        assert!(!h.facts(t)[0].available);
        assert_eq!(h.facts(t)[0].name, "127.0.0.1:6081");
    }

    #[test]
    fn a_success_resets_the_count() {
        let (h, t0) = health(1, 2);
        assert_eq!(h.failure(0, t0), Transition::None);
        h.success(0);
        assert_eq!(h.failure(0, t0), Transition::None);
        assert!(h.available(0, t0));
        assert_eq!(h.failure(0, t0), Transition::Ejected);
    }

    #[test]
    fn reports_while_ejected_do_not_extend_or_recount() {
        let (h, t0) = health(1, 1);
        assert_eq!(h.failure(0, t0), Transition::Ejected);
        let later = t0 + Duration::from_secs(5);
        assert_eq!(h.failure(0, later), Transition::None);
        assert!(h.available(0, t0 + Duration::from_secs(10)));
        assert_eq!(h.facts(t0)[0].ejections, 1);
        // After the period, the next failure ejects again.
        assert_eq!(
            h.failure(0, t0 + Duration::from_secs(11)),
            Transition::Ejected
        );
        assert_eq!(h.facts(t0)[0].ejections, 2);
    }

    #[test]
    fn zero_never_ejects() {
        let (h, t0) = health(1, 0);
        for _ in 0..100 {
            assert_eq!(h.failure(0, t0), Transition::None);
        }
        assert!(h.available(0, t0));
    }

    #[test]
    fn checks_take_a_backend_out_and_back() {
        let (h, t0) = health(2, 3);
        assert!(h.set_check(1, false));
        assert!(!h.set_check(1, false), "no change the second time");
        assert!(!h.available(1, t0));
        h.check_failed(1);
        assert_eq!(h.facts(t0)[1].checks_failed, 1);
        assert!(h.set_check(1, true));
        assert!(h.available(1, t0));
        assert!(!h.available(7, t0), "unknown index");
    }
}
