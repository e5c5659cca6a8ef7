//! What the per-request SLI measurement costs: one `clock::now()` (a request takes a handful,
//! the `RequestTimes` instants), and the end-of-request bookkeeping (internal latency, verdict,
//! counters and the two latency histograms of one shard). Prints medians over many batches.
//!
//! Run: `cargo run --release --example timer_cost [READS_PER_REQUEST [US_PER_REQUEST]]`:
//! clock reads per request (default 8, every `RequestTimes` instant; bench/README.md "Cost of
//! the per-request timers" gives the count measured under load) and the server CPU of one
//! request (default 30 µs) that the cost is a share of.
use std::hint::black_box;
use std::time::{Duration, Instant};

use tlsterm::clock;
use tlsterm::metrics::{Protocol, RequestRecord, ShardMetrics};
use tlsterm::sli::{RequestTimes, Termination};

const BATCH: u32 = 1_000;
const BATCHES: usize = 2_000;

/// Median nanoseconds per call of `f` over `BATCHES` batches of `BATCH` calls.
fn median_ns(mut f: impl FnMut(u32)) -> f64 {
    let mut per_call: Vec<f64> = (0..BATCHES)
        .map(|_| {
            let t = Instant::now();
            for i in 0..BATCH {
                f(i);
            }
            t.elapsed().as_nanos() as f64 / f64::from(BATCH)
        })
        .collect();
    per_call.sort_by(f64::total_cmp);
    per_call[per_call.len() / 2]
}

fn main() {
    let arg = |k: usize, default: f64| {
        std::env::args()
            .nth(k)
            .map_or(default, |a| a.parse().expect("arguments are numbers"))
    };
    let reads = arg(1, 8.0);
    let request_us = arg(2, 30.0);

    let clock_ns = median_ns(|_| {
        black_box(clock::now());
    });

    let metrics = ShardMetrics::new(0);
    let threshold = Duration::from_millis(50);
    let base = clock::now();
    let record_ns = median_ns(|i| {
        // A served request with every instant set, spread so the histograms see varied values.
        let at = |us: u64| Some(base + Duration::from_micros(us + u64::from(i % 97)));
        let times = RequestTimes {
            start: base,
            head_complete: at(5),
            upstream_ready: at(9),
            connect_start: None,
            head_sent: at(12),
            body_sent: None,
            response_head: at(150 + u64::from(i % 4_000)),
            response_head_sent: at(4_200),
            end: at(4_300),
        };
        metrics.record_request(&RequestRecord::of(
            Protocol::Http11,
            Some(200),
            Termination::NORMAL,
            black_box(&times),
            threshold,
        ));
    });

    let total = reads * clock_ns + record_ns;
    println!("clock::now(): {clock_ns:.1} ns per call (median of {BATCHES} batches of {BATCH})");
    println!("end-of-request record (latency, verdict, counters, 2 histograms): {record_ns:.1} ns");
    println!(
        "per request with {reads} clock reads: {total:.0} ns = {:.2}% of a {request_us} µs request",
        total / (request_us * 1_000.0) * 100.0
    );
}
