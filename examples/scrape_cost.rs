//! How much of a shard's time a `/metrics` scrape costs: renders the merged metrics of 16
//! shards (every counter and histogram populated) many times and prints the median and p99
//! render time. Run: `cargo run --release --example scrape_cost`.
use std::sync::Arc;
use std::time::{Duration, Instant};

use tlsterm::metrics::{render, ProcessInfo, Protocol, RequestRecord, ShardMetrics};
use tlsterm::sli::{Cause, Phase, Termination, Verdict};

fn main() {
    let shards: Vec<Arc<ShardMetrics>> = (0..16).map(|k| Arc::new(ShardMetrics::new(k))).collect();
    for (k, s) in shards.iter().enumerate() {
        for i in 0..10_000u64 {
            s.record_request(&RequestRecord {
                protocol: if i % 3 == 0 {
                    Protocol::H2
                } else {
                    Protocol::Http11
                },
                status: Some([200, 304, 404, 503][(i % 4) as usize]),
                termination: if i % 50 == 0 {
                    Termination::new(Cause::ServerAbort, Phase::Connect)
                } else {
                    Termination::NORMAL
                },
                verdict: Verdict::Good,
                internal_latency: Some(Duration::from_micros(100 + (i * 37 + k as u64) % 60_000)),
                upstream_response: Some(Duration::from_micros(i % 200_000)),
            });
        }
    }
    let info = ProcessInfo {
        version: "bench",
        certificates: (0..8)
            .map(|i| (format!("cert{i}.pem"), "ECDSA", 86_400 * i))
            .collect(),
        ..ProcessInfo::default()
    };
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..2000 {
        let t = Instant::now();
        let text = render(&shards, &info);
        times.push(t.elapsed());
        bytes = text.len();
    }
    times.sort();
    println!(
        "16 shards, {} bytes per scrape: median {:?}, p99 {:?}, max {:?}",
        bytes,
        times[times.len() / 2],
        times[times.len() * 99 / 100],
        times[times.len() - 1]
    );
}
