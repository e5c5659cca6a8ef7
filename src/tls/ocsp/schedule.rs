//! When to fetch an OCSP response next: refresh half-way through the validity window after a
//! success, jittered exponential backoff after a failure.
//!
//! Job: [`FetchSchedule`] turns outcomes into a delay until the next attempt. Pure: `now` and
//! the random value are passed in, so tests pin every number.
//!
//! Not done here: timers, fetching, choosing the random value (the caller draws a `u32`).
//!
//! Invariants: every delay is ≥ [`MIN_BACKOFF`] × 0.8 (no hot loop against a responder, even
//! for a response already past its refresh point); failure delays are ≤ [`MAX_BACKOFF`] × 1.2;
//! a success resets the backoff.

use super::Staple;
use std::time::{Duration, SystemTime};

/// First retry delay after a failure (before jitter); also the shortest delay after a success.
pub const MIN_BACKOFF: Duration = Duration::from_secs(60);
/// Longest retry delay (before jitter); also the re-check period for a response that was
/// already past its refresh point when fetched (a responder serving a cached response).
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// Jitter: ± this many per mille of the backoff.
const JITTER_PER_MILLE: u64 = 200;

/// Backoff state of one certificate's fetcher.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchSchedule {
    /// Failures since the last success.
    failures: u32,
}

impl FetchSchedule {
    pub fn new() -> Self {
        Self::default()
    }

    /// Failures since the last success (for logs and metrics).
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// After obtaining (or loading) a valid `staple`: wait until its [`Staple::refresh_at`].
    /// If that point has passed, re-check after half the remaining validity, clamped to
    /// [`MIN_BACKOFF`]..=[`MAX_BACKOFF`].
    pub fn on_success(&mut self, staple: &Staple, now: SystemTime) -> Duration {
        self.failures = 0;
        match staple.refresh_at().duration_since(now) {
            Ok(wait) if wait >= MIN_BACKOFF => wait,
            Ok(_) => MIN_BACKOFF,
            Err(_) => {
                let left = staple
                    .next_update
                    .duration_since(now)
                    .unwrap_or(Duration::ZERO);
                (left / 2).clamp(MIN_BACKOFF, MAX_BACKOFF)
            }
        }
    }

    /// After a failed attempt: [`MIN_BACKOFF`] doubled per consecutive failure, capped at
    /// [`MAX_BACKOFF`], times a factor in [0.8, 1.2] taken from `random` (uniform `u32`: 0 →
    /// 0.8, `u32::MAX` → 1.2), so a fleet does not retry in step.
    pub fn on_failure(&mut self, random: u32) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let doublings = (self.failures - 1).min(16);
        let base = MIN_BACKOFF
            .saturating_mul(1u32 << doublings)
            .min(MAX_BACKOFF);
        let base_ms = u64::try_from(base.as_millis()).unwrap_or(u64::MAX);
        // Per mille in [800, 1200].
        let factor = 1000 - JITTER_PER_MILLE
            + u64::from(random) * 2 * JITTER_PER_MILLE / u64::from(u32::MAX);
        Duration::from_millis(base_ms.saturating_mul(factor) / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn staple(this: u64, next: u64) -> Staple {
        Staple {
            der: vec![],
            this_update: at(this),
            next_update: at(next),
        }
    }

    #[test]
    fn success_waits_until_half_window() {
        let mut s = FetchSchedule::new();
        // Window 1_000_000 .. 1_086_400 (one day): refresh at +43_200.
        let st = staple(1_000_000, 1_086_400);
        assert_eq!(st.refresh_at(), at(1_043_200));
        assert_eq!(
            s.on_success(&st, at(1_000_100)),
            Duration::from_secs(43_100)
        );
        // Close to the refresh point: at least MIN_BACKOFF.
        assert_eq!(s.on_success(&st, at(1_043_190)), MIN_BACKOFF);
        // Past it: half the remaining time, clamped.
        assert_eq!(s.on_success(&st, at(1_050_000)), MAX_BACKOFF);
        assert_eq!(
            s.on_success(&st, at(1_086_400 - 1000)),
            Duration::from_secs(500)
        );
        assert_eq!(s.on_success(&st, at(1_086_400 - 10)), MIN_BACKOFF);
        assert_eq!(s.on_success(&st, at(2_000_000)), MIN_BACKOFF);
    }

    #[test]
    fn failures_double_with_jitter_and_cap() {
        let mut s = FetchSchedule::new();
        let mid = 1 << 31; // factor exactly 1.0
        let secs: Vec<u64> = (0..9).map(|_| s.on_failure(mid).as_secs()).collect();
        assert_eq!(secs, [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        assert_eq!(s.failures(), 9);
        let mut s = FetchSchedule::new();
        assert_eq!(s.on_failure(0), Duration::from_secs(48));
        assert_eq!(s.on_failure(u32::MAX), Duration::from_secs(144));
        for _ in 0..100 {
            s.on_failure(u32::MAX);
        }
        assert_eq!(s.on_failure(u32::MAX), Duration::from_secs(4320));
        assert_eq!(s.on_failure(0), Duration::from_secs(2880));
        // A success resets the backoff.
        s.on_success(&staple(0, 86_400), at(10));
        assert_eq!(s.failures(), 0);
        assert_eq!(s.on_failure(0), Duration::from_secs(48));
    }

    #[test]
    fn delays_stay_within_the_documented_bounds() {
        let lowest = MIN_BACKOFF.mul_f64(0.8);
        let highest = MAX_BACKOFF.mul_f64(1.2);
        let randoms = [0, 1, 12_345, 1 << 31, u32::MAX - 1, u32::MAX];
        for r in randoms {
            let mut s = FetchSchedule::new();
            let mut previous = Duration::ZERO;
            for n in 1..=40 {
                let d = s.on_failure(r);
                assert!(
                    d >= lowest && d <= highest,
                    "failure {n}, random {r}: {d:?}"
                );
                // Same random value: never shorter than the previous delay.
                assert!(d >= previous, "failure {n}, random {r}");
                previous = d;
            }
            assert_eq!(s.failures(), 40);
        }
        // Different random values spread a fleet over the ±20 % band.
        let spread: Vec<u64> = randoms
            .iter()
            .map(|&r| FetchSchedule::new().on_failure(r).as_millis() as u64)
            .collect();
        assert_eq!(spread, [48_000, 48_000, 48_000, 60_000, 71_940, 72_000]);
        // After a success, even a staple about to expire is not re-fetched in a hot loop.
        let st = staple(0, 100);
        for now in [0, 50, 99, 100, 1_000] {
            assert!(FetchSchedule::new().on_success(&st, at(now)) >= MIN_BACKOFF);
        }
    }
}
