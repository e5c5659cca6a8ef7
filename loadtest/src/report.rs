//! The final result: figures derived from a [`RunResult`], as a human table and as JSON.
//!
//! Job: one function ([`Figures::from`]) computes every number that is shown, so the table and
//! the JSON cannot disagree. Definitions:
//! - throughput = successful operations completed inside the window / window length; an
//!   operation is a request (keepalive, bulk) or a connection (handshake, resume);
//! - latency percentiles over successful measured operations (µs recorded, ms shown), from the
//!   intended send time in the open loop;
//! - server-core µs per operation = server CPU time in the window (all `--server-pid`s) / the
//!   throughput numerator; per MB uses body bytes (10^6 bytes per MB); its user-space part
//!   from the utime half of the same /proc ticks (the kernel part is the rest);
//! - client CPU = this process's CPU time in the window / (window × shards);
//! - client-bound: client ≥ 90% of its cores while the servers are below 90% of
//!   `--server-cores` (see [`crate::procstat::bottleneck`]).
//!
//! The human table ends with the line `errors: N`, which scripts can check.
//!
//! What it does not do: write files (see `main.rs`).

use std::fmt::Write;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::json::Json;
use crate::plan::{Pacing, Scenario};
use crate::procstat::{self, Bottleneck};
use crate::run::RunResult;
use crate::stats::ErrorKind;

/// Latency percentiles, ms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Percentiles {
            count: h.len(),
            p50: ms(0.5),
            p90: ms(0.9),
            p99: ms(0.99),
            p999: ms(0.999),
            max: h.max() as f64 / 1000.0,
            mean: h.mean() / 1000.0,
        }
    }

    fn json(&self) -> Json {
        Json::obj([
            ("count", Json::Int(self.count)),
            ("p50", Json::Num(self.p50)),
            ("p90", Json::Num(self.p90)),
            ("p99", Json::Num(self.p99)),
            ("p99_9", Json::Num(self.p999)),
            ("max", Json::Num(self.max)),
            ("mean", Json::Num(self.mean)),
        ])
    }
}

/// Every number the report shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub ops: u64,
    pub ops_per_s: f64,
    pub body_mb_per_s: f64,
    pub latency: Percentiles,
    pub handshake: Percentiles,
    pub resumed_ratio: Option<f64>,
    pub errors: u64,
    pub client_util: f64,
    pub server_cpu: Option<Duration>,
    pub server_util: Option<f64>,
    pub server_us_per_op: Option<f64>,
    /// The user-space part of `server_us_per_op` (the rest is kernel time).
    pub server_user_us_per_op: Option<f64>,
    pub server_us_per_mb: Option<f64>,
    /// Reschedule IPIs taken by the `--server-cpus` per operation (whatever caused them).
    pub server_resched_ipis_per_op: Option<f64>,
    pub bottleneck: Bottleneck,
    /// idle: server resident memory growth per connection held, KiB.
    pub rss_per_conn_kib: Option<f64>,
}

impl Figures {
    pub fn from(r: &RunResult) -> Self {
        let s = &r.stats;
        let secs = r.window.as_secs_f64();
        let per_s = |n: f64| if secs > 0.0 { n / secs } else { 0.0 };
        let mb = s.body_bytes_in_window as f64 / 1e6;
        let handshakes = s.handshakes_full + s.handshakes_resumed;
        let server_cpu =
            (!r.servers.is_empty()).then(|| r.servers.iter().map(|u| u.cpu).sum::<Duration>());
        let server_user =
            (!r.servers.is_empty()).then(|| r.servers.iter().map(|u| u.user).sum::<Duration>());
        let cores = r.plan.server_cores.get();
        let server_util = server_cpu.map(|c| procstat::utilization(c, r.sampled, cores));
        let client_util = procstat::utilization(r.client_cpu, r.sampled, r.plan.cpus.len() as u32);
        // The verdict looks at the cores when it can: the client's cores also carry the origin
        // and anything else scheduled there, and the server's core carries its softirq work.
        let mean_busy = |c: &[procstat::CoreUsage]| {
            (!c.is_empty()).then(|| c.iter().map(|u| u.busy).sum::<f64>() / c.len() as f64)
        };
        let client_side = mean_busy(&r.client_cores).map_or(client_util, |b| b.max(client_util));
        let server_side = mean_busy(&r.server_cores).or(server_util);
        let us = |c: Duration, n: f64| (n > 0.0).then(|| c.as_secs_f64() * 1e6 / n);
        let rss_per_conn_kib = match (r.plan.scenario, r.servers.as_slice()) {
            (Scenario::Idle, servers) if !servers.is_empty() && s.idle_up > 0 => {
                let grow: i64 = servers
                    .iter()
                    .map(|u| {
                        u.rss_end_kib.unwrap_or(0) as i64 - u.rss_before_kib.unwrap_or(0) as i64
                    })
                    .sum();
                Some(grow as f64 / s.idle_up as f64)
            }
            _ => None,
        };
        Figures {
            ops: s.ok_in_window,
            ops_per_s: per_s(s.ok_in_window as f64),
            body_mb_per_s: per_s(mb),
            latency: Percentiles::of(&s.latency),
            handshake: Percentiles::of(&s.handshake),
            resumed_ratio: (handshakes > 0)
                .then(|| s.handshakes_resumed as f64 / handshakes as f64),
            errors: s.errors.total(),
            client_util,
            server_cpu,
            server_util,
            server_us_per_op: server_cpu.and_then(|c| us(c, s.ok_in_window as f64)),
            server_user_us_per_op: server_user.and_then(|c| us(c, s.ok_in_window as f64)),
            server_us_per_mb: server_cpu.and_then(|c| us(c, mb)).filter(|_| mb >= 1.0),
            server_resched_ipis_per_op: (!r.server_cores.is_empty() && s.ok_in_window > 0).then(
                || {
                    r.server_cores.iter().map(|c| c.resched_ipis).sum::<u64>() as f64
                        / s.ok_in_window as f64
                },
            ),
            bottleneck: procstat::bottleneck(client_side, server_side),
            rss_per_conn_kib,
        }
    }
}

fn op_name(s: Scenario) -> &'static str {
    match s {
        Scenario::Handshake | Scenario::Resume => "handshake",
        Scenario::Keepalive | Scenario::Bulk | Scenario::H2 => "request",
        Scenario::Idle => "connection",
    }
}

fn pacing_text(p: Pacing) -> String {
    match p {
        Pacing::Closed => "closed loop".to_string(),
        Pacing::Open { rate } => format!("open loop at {rate} req/s"),
    }
}

fn pct_line(p: &Percentiles) -> String {
    if p.count == 0 {
        return "no samples".to_string();
    }
    format!(
        "p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  (mean {:.3}, n={})",
        p.p50, p.p90, p.p99, p.p999, p.max, p.mean, p.count
    )
}

/// The human table (ends with `errors: N`).
pub fn human(r: &RunResult, f: &Figures) -> String {
    let p = &r.plan;
    let s = &r.stats;
    let mut o = String::new();
    let cpus: Vec<String> = p.cpus.iter().map(|c| c.to_string()).collect();
    let shape = match p.scenario {
        Scenario::Idle => format!("{} conns", p.connections),
        Scenario::Handshake | Scenario::Resume => {
            format!("{}  {} conns", pacing_text(p.pacing), p.connections)
        }
        Scenario::Keepalive | Scenario::Bulk => format!(
            "{}  {} conns x pipeline {}",
            pacing_text(p.pacing),
            p.connections,
            p.pipeline
        ),
        Scenario::H2 => format!(
            "{}  {} conns x {} streams",
            pacing_text(p.pacing),
            p.connections,
            p.pipeline
        ),
    };
    let _ = writeln!(
        o,
        "loadtest {} -> {}  {}  CPUs {}",
        p.scenario.name(),
        p.target,
        shape,
        cpus.join(",")
    );
    let _ = writeln!(
        o,
        "  window        {:.2} s (warm-up {:.2} s)",
        r.window.as_secs_f64(),
        p.warmup.as_secs_f64()
    );
    if p.scenario == Scenario::Idle {
        let _ = writeln!(
            o,
            "  idle          {} of {} connections up at the end",
            s.idle_up, p.connections
        );
    } else {
        let _ = writeln!(
            o,
            "  throughput    {:.1} {}s/s  ({} ok in window)",
            f.ops_per_s,
            op_name(p.scenario),
            f.ops
        );
        if p.scenario == Scenario::Bulk || f.body_mb_per_s >= 1.0 {
            let _ = writeln!(o, "  body          {:.2} MB/s", f.body_mb_per_s);
        }
        let _ = writeln!(o, "  latency ms    {}", pct_line(&f.latency));
    }
    let _ = writeln!(
        o,
        "  handshakes    {} full, {} resumed{}",
        s.handshakes_full,
        s.handshakes_resumed,
        f.resumed_ratio
            .filter(|_| p.scenario == Scenario::Resume)
            .map(|x| format!("  (resumed ratio {:.3})", x))
            .unwrap_or_default()
    );
    if f.handshake.count > 0 {
        let _ = writeln!(o, "  handshake ms  {}", pct_line(&f.handshake));
    }
    let kinds: Vec<String> = ErrorKind::ALL
        .iter()
        .map(|k| format!("{} {}", k.name(), s.errors.get(*k)))
        .collect();
    let _ = writeln!(o, "  errors        {}  ({})", f.errors, kinds.join(", "));
    for (k, detail) in &s.examples {
        let _ = writeln!(o, "    first {}: {}", k.name(), detail);
    }
    for u in &r.servers {
        let _ = writeln!(
            o,
            "  server pid {}  CPU {:.3} s{}",
            u.pid,
            u.cpu.as_secs_f64(),
            match (u.rss_before_kib, u.rss_end_kib) {
                (Some(a), Some(b)) => format!("  RSS {a} KiB -> {b} KiB"),
                _ => String::new(),
            }
        );
    }
    if let (Some(cpu), Some(util)) = (f.server_cpu, f.server_util) {
        let _ = writeln!(
            o,
            "  server CPU    {:.3} s = {:.1}% of {} core(s)",
            cpu.as_secs_f64(),
            util * 100.0,
            p.server_cores
        );
        if let Some(us) = f.server_us_per_op {
            let split = f.server_user_us_per_op.map_or(String::new(), |user| {
                format!(" (user {user:.2}, kernel {:.2})", us - user)
            });
            let _ = writeln!(
                o,
                "  server-core   {us:.2} µs per {}{split}",
                op_name(p.scenario)
            );
        }
        if let Some(us) = f.server_us_per_mb.filter(|_| p.scenario == Scenario::Bulk) {
            let _ = writeln!(o, "  server-core   {us:.2} µs per MB");
        }
    }
    if let Some(kib) = f.rss_per_conn_kib {
        let _ = writeln!(o, "  server RSS    {kib:.2} KiB per idle connection");
    }
    let _ = writeln!(
        o,
        "  client CPU    {:.3} s = {:.1}% of {} core(s)",
        r.client_cpu.as_secs_f64(),
        f.client_util * 100.0,
        p.cpus.len()
    );
    let _ = writeln!(o, "  client        {}", rings_line(&r.rings));
    for (role, cores) in [("client", &r.client_cores), ("server", &r.server_cores)] {
        for c in cores.iter() {
            let _ = writeln!(
                o,
                "  CPU {:<3} busy  {:.1}% (softirq {:.1}%), {} reschedule IPIs  [{role} core]",
                c.cpu,
                c.busy * 100.0,
                c.softirq * 100.0,
                c.resched_ipis
            );
        }
    }
    match f.bottleneck {
        Bottleneck::Client => {
            let _ = writeln!(o, "  WARNING: client-bound: the client's cores were saturated and the server's were not; the throughput measures the client. Compare server-core µs per operation instead.");
        }
        Bottleneck::ClientMaybe => {
            let _ = writeln!(o, "  WARNING: client CPU saturated; the client may be the bottleneck (pass --server-pid to tell).");
        }
        Bottleneck::NotClient => {}
    }
    let _ = writeln!(o, "errors: {}", f.errors);
    o
}

fn cores_json(cores: &[procstat::CoreUsage]) -> Json {
    Json::Arr(
        cores
            .iter()
            .map(|c| {
                Json::obj([
                    ("cpu", Json::Int(c.cpu as u64)),
                    ("busy", Json::Num(c.busy)),
                    ("softirq", Json::Num(c.softirq)),
                    ("resched_ipis", Json::Int(c.resched_ipis)),
                ])
            })
            .collect(),
    )
}

/// The startup-style line on loadtest's own io_uring rings (WARNING when a ring lacks the
/// flags it was meant to get: the server's core then pays IPIs the other runs did not).
pub fn rings_line(rings: &crate::uring::Report) -> String {
    let warn = if rings.degraded() { "WARNING: " } else { "" };
    format!("{warn}{}", rings.describe("--plain-rings"))
}

/// The JSON document for `--json`.
pub fn json(r: &RunResult, f: &Figures) -> String {
    let p = &r.plan;
    let s = &r.stats;
    let errors = {
        let mut v: Vec<(String, Json)> = vec![("total".into(), Json::Int(f.errors))];
        v.extend(
            ErrorKind::ALL
                .iter()
                .map(|k| (k.name().to_string(), Json::Int(s.errors.get(*k)))),
        );
        v.push((
            "examples".into(),
            Json::obj(
                s.examples
                    .iter()
                    .map(|(k, d)| (k.name(), Json::str(d.clone()))),
            ),
        ));
        Json::Obj(v)
    };
    let servers = Json::Arr(
        r.servers
            .iter()
            .map(|u| {
                Json::obj([
                    ("pid", Json::Int(u64::from(u.pid))),
                    ("cpu_s", Json::Num(u.cpu.as_secs_f64())),
                    ("user_s", Json::Num(u.user.as_secs_f64())),
                    (
                        "rss_before_kib",
                        u.rss_before_kib.map_or(Json::Null, Json::Int),
                    ),
                    ("rss_end_kib", u.rss_end_kib.map_or(Json::Null, Json::Int)),
                ])
            })
            .collect(),
    );
    let doc = Json::obj([
        ("scenario", Json::str(p.scenario.name())),
        ("target", Json::str(p.target.to_string())),
        (
            "rate",
            match p.pacing {
                Pacing::Closed => Json::Null,
                Pacing::Open { rate } => Json::Num(rate),
            },
        ),
        ("connections", Json::Int(p.connections.get() as u64)),
        ("pipeline", Json::Int(p.pipeline.get() as u64)),
        (
            "cpus",
            Json::Arr(p.cpus.iter().map(|c| Json::Int(*c as u64)).collect()),
        ),
        ("window_s", Json::Num(r.window.as_secs_f64())),
        ("warmup_s", Json::Num(p.warmup.as_secs_f64())),
        ("operation", Json::str(op_name(p.scenario))),
        ("ok_in_window", Json::Int(f.ops)),
        ("throughput_per_s", Json::Num(f.ops_per_s)),
        ("body_mb_per_s", Json::Num(f.body_mb_per_s)),
        ("latency_ms", f.latency.json()),
        ("handshake_ms", f.handshake.json()),
        ("handshakes_full", Json::Int(s.handshakes_full)),
        ("handshakes_resumed", Json::Int(s.handshakes_resumed)),
        ("resumed_ratio", Json::opt(f.resumed_ratio)),
        ("idle_up", Json::Int(s.idle_up)),
        ("errors", errors),
        ("client_cpu_s", Json::Num(r.client_cpu.as_secs_f64())),
        ("client_utilization", Json::Num(f.client_util)),
        (
            "client_rings_cooperative",
            Json::Bool(r.rings.enabled && !r.rings.degraded()),
        ),
        ("servers", servers),
        ("client_cores", cores_json(&r.client_cores)),
        ("server_cores", cores_json(&r.server_cores)),
        (
            "server_cpu_s",
            Json::opt(f.server_cpu.map(|c| c.as_secs_f64())),
        ),
        ("server_utilization", Json::opt(f.server_util)),
        ("server_us_per_op", Json::opt(f.server_us_per_op)),
        ("server_user_us_per_op", Json::opt(f.server_user_us_per_op)),
        ("server_us_per_mb", Json::opt(f.server_us_per_mb)),
        (
            "server_resched_ipis_per_op",
            Json::opt(f.server_resched_ipis_per_op),
        ),
        ("server_rss_per_conn_kib", Json::opt(f.rss_per_conn_kib)),
        (
            "client_bound",
            Json::Bool(f.bottleneck == Bottleneck::Client),
        ),
        (
            "bottleneck",
            Json::str(match f.bottleneck {
                Bottleneck::Client => "client",
                Bottleneck::ClientMaybe => "client?",
                Bottleneck::NotClient => "not-client",
            }),
        ),
    ]);
    let mut out = doc.render();
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use crate::plan::Plan;
    use crate::run::ServerUsage;
    use clap::Parser;
    use std::sync::Arc;

    fn plan(extra: &[&str]) -> Arc<Plan> {
        let mut argv = vec![
            "loadtest",
            "--target",
            "127.0.0.1:1",
            "--insecure-skip-verify",
        ];
        argv.extend_from_slice(extra);
        Arc::new(Plan::from_args(&Cli::try_parse_from(argv).unwrap().load).unwrap())
    }

    fn result(plan: Arc<Plan>, servers: Vec<ServerUsage>) -> RunResult {
        let mut stats = crate::stats::Stats::default();
        for v in 1..=1000u64 {
            stats.latency.record(v).unwrap(); // 1..1000 µs
        }
        stats.ok = 1000;
        stats.ok_in_window = 1000;
        stats.body_bytes_in_window = 2_000_000;
        stats.handshakes_full = 4;
        stats.errors.add(ErrorKind::Status);
        stats.note(ErrorKind::Status, "HTTP status 503");
        RunResult {
            plan,
            stats,
            window: Duration::from_secs(2),
            sampled: Duration::from_secs(2),
            client_cpu: Duration::from_millis(1900),
            servers,
            client_cores: Vec::new(),
            server_cores: Vec::new(),
            rings: crate::uring::Report {
                enabled: true,
                rings: 1,
                cooperative: 1,
                single_issuer: 1,
            },
        }
    }

    fn server(cpu_ms: u64) -> ServerUsage {
        ServerUsage {
            pid: 42,
            cpu: Duration::from_millis(cpu_ms),
            user: Duration::from_millis(cpu_ms / 5),
            rss_before_kib: Some(1000),
            rss_end_kib: Some(3000),
        }
    }

    #[test]
    fn figures_per_operation() {
        let r = result(plan(&[]), vec![server(500)]);
        let f = Figures::from(&r);
        assert_eq!(f.ops, 1000);
        assert_eq!(f.ops_per_s, 500.0);
        assert_eq!(f.body_mb_per_s, 1.0);
        assert_eq!(f.errors, 1);
        assert_eq!(f.latency.count, 1000);
        assert_eq!(f.latency.p50, 0.5);
        assert_eq!(f.latency.max, 1.0);
        // 0.5 s of server CPU over 1000 requests and 2 MB.
        assert_eq!(f.server_us_per_op, Some(500.0));
        assert_eq!(f.server_user_us_per_op, Some(100.0));
        assert_eq!(f.server_us_per_mb, Some(250_000.0));
        assert_eq!(f.server_util, Some(0.25));
        assert_eq!(f.client_util, 0.95);
        assert_eq!(f.bottleneck, Bottleneck::Client);
        assert_eq!(f.resumed_ratio, Some(0.0));
        assert_eq!(f.rss_per_conn_kib, None);
    }

    #[test]
    fn no_server_pid_no_server_figures() {
        let f = Figures::from(&result(plan(&[]), vec![]));
        assert_eq!(f.server_cpu, None);
        assert_eq!(f.server_us_per_op, None);
        assert_eq!(f.server_user_us_per_op, None);
        assert_eq!(f.server_resched_ipis_per_op, None);
        assert_eq!(f.bottleneck, Bottleneck::ClientMaybe);
    }

    #[test]
    fn verdict_uses_core_busy_time_when_sampled() {
        use crate::procstat::CoreUsage;
        let mut r = result(plan(&[]), vec![server(500)]);
        r.client_cpu = Duration::from_millis(600); // the process alone: 30%
        r.client_cores = vec![CoreUsage {
            cpu: 0,
            busy: 0.95,
            softirq: 0.2,
            resched_ipis: 7,
        }];
        r.server_cores = vec![CoreUsage {
            cpu: 1,
            busy: 0.97,
            softirq: 0.2,
            resched_ipis: 1500,
        }];
        assert_eq!(Figures::from(&r).bottleneck, Bottleneck::NotClient);
        // 1500 IPIs on the server's core over 1000 requests.
        assert_eq!(Figures::from(&r).server_resched_ipis_per_op, Some(1.5));
        r.server_cores[0].busy = 0.5;
        let f = Figures::from(&r);
        assert_eq!(f.client_util, 0.3);
        assert_eq!(f.bottleneck, Bottleneck::Client);
        let text = human(&r, &f);
        assert!(
            text.contains("CPU 0   busy  95.0% (softirq 20.0%), 7 reschedule IPIs  [client core]"),
            "{text}"
        );
        assert!(
            text.contains(
                "CPU 1   busy  50.0% (softirq 20.0%), 1500 reschedule IPIs  [server core]"
            ),
            "{text}"
        );
    }

    #[test]
    fn idle_memory_per_connection() {
        let mut r = result(plan(&["--scenario", "idle"]), vec![server(10)]);
        r.stats.idle_up = 100;
        let f = Figures::from(&r);
        assert_eq!(f.rss_per_conn_kib, Some(20.0));
    }

    #[test]
    fn human_table_ends_with_the_error_line() {
        let r = result(plan(&[]), vec![server(500)]);
        let text = human(&r, &Figures::from(&r));
        assert!(text.ends_with("\nerrors: 1\n"), "{text}");
        assert!(text.contains("throughput    500.0 requests/s  (1000 ok in window)"));
        assert!(text.contains("server-core   500.00 µs per request (user 100.00, kernel 400.00)"));
        assert!(text.contains("first status: HTTP status 503"));
        assert!(text.contains("WARNING: client-bound"));
        assert!(text.contains("client        io_uring: 1 rings, 1 with COOP_TASKRUN"));
    }

    #[test]
    fn json_document() {
        let r = result(plan(&["--rate", "600"]), vec![server(500)]);
        let j = json(&r, &Figures::from(&r));
        assert!(
            j.starts_with("{\"scenario\":\"keepalive\",\"target\":\"127.0.0.1:1\",\"rate\":600,")
        );
        assert!(j.contains("\"throughput_per_s\":500,"));
        assert!(j.contains("\"errors\":{\"total\":1,\"connect\":0,\"tls\":0,\"status\":1,"));
        assert!(j.contains("\"server_us_per_op\":500,"));
        assert!(j.contains("\"client_bound\":true,"));
        assert!(j.contains("\"client_rings_cooperative\":true,"));
        assert!(j.ends_with("}\n"));
    }
}
