//! The main thread of a load run: start the shards, fix the window, sample CPU and memory at
//! its edges, print progress, and collect the shards' results.
//!
//! Job: everything that is not per shard. The window (load start, warm-up end, window end) is
//! chosen once, after every shard reported ready, and sent to all of them. Server CPU
//! (`/proc/PID/stat`), server memory (`/proc/PID/status`) and the client's own CPU
//! (`getrusage`) are sampled when the measured window begins and when it ends: at the window's
//! end time, or, for a run bounded by `--requests`, as soon as every shard has its quota
//! answered.
//!
//! What it does not do: generate load (shards do) or format the final result (see
//! [`crate::report`]).

use std::collections::BTreeMap;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::clock;
use crate::plan::{Plan, Scenario};
use crate::procstat::{self, CoreTicks, CoreUsage, CpuTicks, ProcError};
use crate::schedule::Window;
use crate::shard::{self, Msg, ShardError, ShardSetup};
use crate::stats::{self, Stats};
use crate::sys;
use crate::tls::{self, Sessions, TlsSetupError};

/// Why a run could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    #[error(transparent)]
    Shard(#[from] ShardError),
    #[error(transparent)]
    Proc(#[from] ProcError),
    #[error("a load shard stopped before it was ready (see its message above)")]
    ShardLost,
}

/// Delay between "all shards ready" and the first request, so every shard starts on time.
const START_DELAY: Duration = Duration::from_millis(20);

/// One server process over the window.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerUsage {
    pub pid: u32,
    /// CPU time used during the window (user + system, all threads).
    pub cpu: Duration,
    /// The part of `cpu` spent in user space (the rest is the kernel's, softirq work that ran
    /// in the process's context included).
    pub user: Duration,
    /// Resident memory before the first connection and at the window end, KiB.
    pub rss_before_kib: Option<u64>,
    pub rss_end_kib: Option<u64>,
}

/// Everything measured, for [`crate::report`].
#[derive(Debug)]
pub struct RunResult {
    pub plan: Arc<Plan>,
    pub stats: Stats,
    /// Length of the measured window (the throughput denominator).
    pub window: Duration,
    /// Wall time between the two CPU samples (≈ `window`).
    pub sampled: Duration,
    pub client_cpu: Duration,
    pub servers: Vec<ServerUsage>,
    /// Busy share of the `--cpus` cores over the window (whatever ran on them).
    pub client_cores: Vec<CoreUsage>,
    /// Busy share of the `--server-cpus` cores.
    pub server_cores: Vec<CoreUsage>,
    /// The flags loadtest's own io_uring rings got.
    pub rings: crate::uring::Report,
}

#[derive(Debug, Clone)]
struct Sample {
    at: Instant,
    client: Duration,
    servers: Vec<CpuTicks>,
    rss: Vec<Option<u64>>,
    cores: Vec<(usize, CoreTicks)>,
}

fn sample(pids: &[u32], now: Instant) -> Sample {
    // A server that exits mid-run reads as zero from then on; the report shows the odd figure
    // rather than aborting the run.
    Sample {
        at: now,
        client: sys::own_cpu().unwrap_or_default(),
        servers: pids
            .iter()
            .map(|p| procstat::process_ticks(*p).unwrap_or_default())
            .collect(),
        rss: pids
            .iter()
            .map(|p| procstat::process_rss_kib(*p).ok().flatten())
            .collect(),
        cores: procstat::read_cores().unwrap_or_default(),
    }
}

/// Carries out the plan.
pub fn run(plan: Plan) -> Result<RunResult, RunError> {
    let plan = Arc::new(plan);
    let mut rss_before = Vec::new();
    for pid in &plan.server_pids {
        procstat::process_ticks(*pid)?;
        rss_before.push(procstat::process_rss_kib(*pid)?);
    }
    if plan.scenario == Scenario::Idle {
        let wanted = plan.connections.get() as u64 + 1024;
        match sys::raise_nofile(wanted) {
            Ok(have) if have < wanted => eprintln!(
                "loadtest: warning: file descriptor limit {have} is below the {wanted} needed"
            ),
            Ok(_) => {}
            Err(e) => eprintln!("loadtest: warning: cannot raise the file descriptor limit: {e}"),
        }
    }
    let sessions = if plan.scenario == Scenario::Resume {
        Sessions::Resume
    } else {
        Sessions::Disabled
    };
    let configs = (0..plan.cpus.len())
        .map(|_| tls::client_config(&plan.tls, sessions))
        .collect::<Result<Vec<_>, _>>()?;
    let name = tls::server_name(plan.tls.sni.as_deref(), plan.target)?;
    let n = plan.cpus.len();
    let (tx, rx) = mpsc::channel();
    let setup = ShardSetup {
        plan: Arc::clone(&plan),
        configs,
        name,
    };
    let shard::Started { windows, handles } = shard::start(setup, &tx)?;
    drop(tx);
    let mut ready = 0;
    while ready < n {
        match rx.recv() {
            Ok(Msg::Ready) => ready += 1,
            Ok(_) => {}
            Err(_) => return Err(RunError::ShardLost),
        }
    }
    let start = clock::now() + START_DELAY;
    let measure_from = start + plan.warmup;
    let window = Window {
        start,
        measure_from,
        measure_until: plan.duration.map(|d| measure_from + d),
    };
    for w in &windows {
        let _ = w.send(window);
    }

    let mut progress = Progress::new(&plan, window);
    let mut first: Option<Sample> = None;
    let mut last: Option<(Instant, Sample)> = None;
    let mut closed: Vec<Instant> = Vec::new();
    let mut done: Vec<Stats> = Vec::new();
    while done.len() < n {
        let now = clock::now();
        if first.is_none() && now >= measure_from {
            first = Some(sample(&plan.server_pids, now));
        }
        if let (Some(_), None, Some(u)) = (&first, &last, window.measure_until) {
            if now >= u {
                last = Some((u, sample(&plan.server_pids, now)));
            }
        }
        let wake = match (&first, &last, window.measure_until) {
            (None, _, _) => measure_from,
            (Some(_), None, Some(u)) => u,
            _ => now + Duration::from_secs(1),
        };
        match rx.recv_timeout(wake.saturating_duration_since(now)) {
            Ok(Msg::Tick {
                seq,
                ok,
                errors,
                live,
                latency,
            }) => progress.tick(seq, ok, errors, live, &latency, n - done.len()),
            Ok(Msg::WindowClosed { at }) => {
                closed.push(at);
                if closed.len() == n && last.is_none() && first.is_some() {
                    let end = closed.iter().copied().max().unwrap_or(at);
                    last = Some((end, sample(&plan.server_pids, clock::now())));
                }
            }
            Ok(Msg::Done { stats }) => done.push(*stats),
            Ok(Msg::Ready) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    for h in handles {
        if let Err(e) = h.join() {
            eprintln!("loadtest: a load shard failed: {e}");
        }
    }
    let mut stats = Stats::default();
    for s in &done {
        stats.merge(s);
    }
    let now = clock::now();
    let first = first.unwrap_or_else(|| sample(&plan.server_pids, now));
    let (end, last) = last.unwrap_or_else(|| {
        let end = stats.last_resolution.unwrap_or(now).max(measure_from);
        (end, sample(&plan.server_pids, now))
    });
    let servers = plan
        .server_pids
        .iter()
        .enumerate()
        .map(|(i, pid)| {
            let used = last.servers[i].since(first.servers[i]);
            ServerUsage {
                pid: *pid,
                cpu: procstat::ticks_to_duration(used.total()),
                user: procstat::ticks_to_duration(used.user),
                rss_before_kib: rss_before[i],
                rss_end_kib: last.rss[i],
            }
        })
        .collect();
    let usage = |cpus: &[usize]| -> Vec<CoreUsage> {
        cpus.iter()
            .filter_map(|cpu| {
                let at = |s: &Sample| s.cores.iter().find(|(c, _)| c == cpu).map(|(_, t)| *t);
                Some(procstat::core_usage(*cpu, at(&first)?, at(&last)?))
            })
            .collect()
    };
    let client_cores = usage(&plan.cpus);
    let server_cores = usage(&plan.server_cpus);
    Ok(RunResult {
        client_cores,
        server_cores,
        window: end.saturating_duration_since(measure_from),
        sampled: last.at.saturating_duration_since(first.at),
        client_cpu: last.client.saturating_sub(first.client),
        servers,
        stats,
        plan,
        rings: crate::uring::report(),
    })
}

/// Merges the shards' ticks and prints one line per second.
struct Progress {
    quiet: bool,
    unit: &'static str,
    window: Window,
    pending: BTreeMap<u64, (usize, u64, u64, u64, Histogram<u64>)>,
}

impl Progress {
    fn new(plan: &Plan, window: Window) -> Self {
        Progress {
            quiet: plan.outputs.quiet,
            unit: match plan.scenario {
                Scenario::Handshake | Scenario::Resume => "handshakes/s",
                Scenario::Idle => "idle",
                Scenario::Keepalive | Scenario::Bulk | Scenario::H2 => "req/s",
            },
            window,
            pending: BTreeMap::new(),
        }
    }

    fn tick(
        &mut self,
        seq: u64,
        ok: u64,
        errors: u64,
        live: u64,
        lat: &Histogram<u64>,
        running: usize,
    ) {
        let e = self
            .pending
            .entry(seq)
            .or_insert_with(|| (0, 0, 0, 0, stats::histogram()));
        e.0 += 1;
        e.1 += ok;
        e.2 += errors;
        e.3 += live;
        // Cannot fail: all histograms have the bounds of `stats::histogram()`.
        e.4.add(lat).expect("same bounds");
        if e.0 < running {
            return;
        }
        let Some((_, ok, errors, live, hist)) = self.pending.remove(&seq) else {
            return;
        };
        if self.quiet {
            return;
        }
        let at = self.window.start + Duration::from_secs(seq);
        let phase = if at <= self.window.measure_from {
            "  (warm-up)"
        } else {
            ""
        };
        let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
        if self.unit == "idle" {
            eprintln!("[{seq:>4}s] up {live}  errors {errors}{phase}");
        } else {
            eprintln!(
                "[{seq:>4}s] {ok} {}  errors {errors}  p50 {:.3} ms  p99 {:.3} ms  conns {live}{phase}",
                self.unit,
                ms(0.5),
                ms(0.99),
            );
        }
    }
}
