//! A fixed-bucket histogram with a single writer (the owning shard), read on scrape.
//!
//! Buckets are upper bounds in microseconds, fine around 1–50 ms (the SLI threshold) and coarse
//! up to 180 s (the server timeout). Counts are stored per bucket (not cumulative); the
//! renderer accumulates. The sum is kept in microseconds.

use std::time::Duration;

use super::Counter;

/// Upper bounds of the buckets, in microseconds (`+Inf` is implicit).
pub const LATENCY_BUCKETS: [u64; 26] = [
    100,
    250,
    500,
    1_000,
    2_000,
    3_000,
    5_000,
    7_500,
    10_000,
    15_000,
    20_000,
    25_000,
    30_000,
    40_000,
    50_000,
    75_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    30_000_000,
    60_000_000,
    180_000_000,
];

/// Counts per bucket plus one overflow bucket, the sum and the count.
#[derive(Debug)]
pub struct Histogram {
    buckets: [Counter; LATENCY_BUCKETS.len() + 1],
    sum_micros: Counter,
    count: Counter,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    pub fn new() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| Counter::default()),
            sum_micros: Counter::default(),
            count: Counter::default(),
        }
    }

    /// Records one observation (owning shard only).
    pub fn observe(&self, d: Duration) {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = LATENCY_BUCKETS.partition_point(|&b| b < micros);
        self.buckets[i].add(1);
        self.sum_micros.add(micros);
        self.count.add(1);
    }

    pub fn count(&self) -> u64 {
        self.count.get()
    }

    pub fn sum_micros(&self) -> u64 {
        self.sum_micros.get()
    }

    /// Per-bucket counts (last = above the largest bound).
    pub fn bucket_counts(&self) -> [u64; LATENCY_BUCKETS.len() + 1] {
        std::array::from_fn(|i| self.buckets[i].get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_inclusive_upper_limits() {
        let h = Histogram::new();
        h.observe(Duration::from_micros(100)); // le=0.0001
        h.observe(Duration::from_micros(101)); // le=0.00025
        h.observe(Duration::from_millis(50)); // le=0.05
        h.observe(Duration::from_secs(1000)); // +Inf
        let c = h.bucket_counts();
        assert_eq!(c[0], 1);
        assert_eq!(c[1], 1);
        assert_eq!(
            c[LATENCY_BUCKETS.iter().position(|b| *b == 50_000).unwrap()],
            1
        );
        assert_eq!(c[LATENCY_BUCKETS.len()], 1);
        assert_eq!(h.count(), 4);
        assert_eq!(h.sum_micros(), 100 + 101 + 50_000 + 1_000_000_000);
    }
}
