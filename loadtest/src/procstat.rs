//! CPU time and memory of processes from /proc, and the verdict on who was the bottleneck.
//!
//! Job: `/proc/PID/stat` → user + system CPU ticks of the whole process (all threads), and
//! `/proc/PID/status` → resident memory; the parsers are pure and tested on captured text. The
//! server's CPU is sampled at the start and at the end of the measured window, giving server CPU
//! seconds and server-core µs per operation; [`bottleneck`] flags a run where the client's cores
//! were saturated while the server's were not (its throughput then says nothing about the server).
//!
//! What it does not do: per-thread accounting, or attribute kernel softirq work (loopback packet
//! processing is charged to whichever process happens to be running; see BENCHMARKING.md).

use std::time::Duration;

use crate::sys;

/// Why a /proc file could not be used.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProcError {
    #[error("cannot read /proc/{pid}/{file}: {reason} (is process {pid} running?)")]
    Read {
        pid: u32,
        file: &'static str,
        reason: String,
    },
    #[error("unexpected format of /proc/{0}/stat")]
    Format(u32),
    #[error("cannot read /proc/stat: {0}")]
    Stat(String),
}

/// CPU time of one process in clock ticks (`sysconf(_SC_CLK_TCK)` per second).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuTicks {
    pub user: u64,
    pub system: u64,
}

impl CpuTicks {
    pub fn total(self) -> u64 {
        self.user + self.system
    }

    /// The ticks spent between `earlier` and `self` (zero where a counter went backwards, as
    /// when the process is gone and reads as zero).
    pub fn since(self, earlier: CpuTicks) -> CpuTicks {
        CpuTicks {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }
}

/// Parses the text of `/proc/PID/stat`: fields 14 (utime) and 15 (stime). The command name
/// (field 2) may contain spaces and parentheses, so fields are counted after the *last* `)`.
pub fn parse_stat(text: &str) -> Option<CpuTicks> {
    let after = &text[text.rfind(')')? + 1..];
    let mut fields = after.split_ascii_whitespace();
    // `after` starts at field 3 (state): utime is field 14, i.e. the 12th token here.
    let user = fields.nth(11)?.parse().ok()?;
    let system = fields.next()?.parse().ok()?;
    Some(CpuTicks { user, system })
}

/// Parses `VmRSS:  12345 kB` from the text of `/proc/PID/status`, in KiB.
pub fn parse_rss_kib(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut parts = line["VmRSS:".len()..].split_ascii_whitespace();
    let value = parts.next()?.parse().ok()?;
    (parts.next()? == "kB").then_some(value)
}

fn read(pid: u32, file: &'static str) -> Result<String, ProcError> {
    std::fs::read_to_string(format!("/proc/{pid}/{file}")).map_err(|e| ProcError::Read {
        pid,
        file,
        reason: e.to_string(),
    })
}

/// CPU ticks of process `pid` (all threads, user + system).
pub fn process_ticks(pid: u32) -> Result<CpuTicks, ProcError> {
    parse_stat(&read(pid, "stat")?).ok_or(ProcError::Format(pid))
}

/// Resident memory of process `pid`, KiB (`None` for kernel threads or an odd format).
pub fn process_rss_kib(pid: u32) -> Result<Option<u64>, ProcError> {
    Ok(parse_rss_kib(&read(pid, "status")?))
}

/// Time one CPU spent, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CoreTicks {
    /// user + nice + system + irq + softirq + steal.
    pub busy: u64,
    pub softirq: u64,
    /// busy + idle + iowait.
    pub total: u64,
    /// Rescheduling inter-processor interrupts taken by the CPU so far (`RES` in
    /// /proc/interrupts; a count, not ticks): how often another CPU had to interrupt this one
    /// to make a task on it run something (a wake-up, or io_uring task work).
    pub resched_ipis: u64,
}

/// Parses the per-CPU lines of /proc/stat (`cpuN user nice system idle iowait irq softirq steal
/// …`). Idle and iowait are not busy: a glommio executor parked in io_uring shows as iowait.
pub fn parse_cores(text: &str) -> Vec<(usize, CoreTicks)> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_ascii_whitespace();
            let cpu: usize = f.next()?.strip_prefix("cpu")?.parse().ok()?;
            let v: Vec<u64> = f.take(8).map(|x| x.parse().ok()).collect::<Option<_>>()?;
            let [user, nice, system, idle, iowait, irq, softirq, steal] = v[..] else {
                return None;
            };
            let busy = user + nice + system + irq + softirq + steal;
            Some((
                cpu,
                CoreTicks {
                    busy,
                    softirq,
                    total: busy + idle + iowait,
                    resched_ipis: 0,
                },
            ))
        })
        .collect()
}

/// Parses the `RES:` line of /proc/interrupts into (cpu, count) pairs. The columns follow the
/// header line (`CPU0 CPU1 …`, online CPUs only); empty when either line is missing or odd.
pub fn parse_resched_ipis(text: &str) -> Vec<(usize, u64)> {
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let cpus: Option<Vec<usize>> = header
        .split_ascii_whitespace()
        .map(|c| c.strip_prefix("CPU")?.parse().ok())
        .collect();
    let Some(cpus) = cpus else {
        return Vec::new();
    };
    let Some(res) = lines.find(|l| l.trim_start().starts_with("RES:")) else {
        return Vec::new();
    };
    let counts: Option<Vec<u64>> = res
        .split_ascii_whitespace()
        .skip(1)
        .take(cpus.len())
        .map(|n| n.parse().ok())
        .collect();
    match counts {
        Some(counts) if counts.len() == cpus.len() => cpus.into_iter().zip(counts).collect(),
        _ => Vec::new(),
    }
}

/// Per-CPU times of the whole machine, with each CPU's reschedule IPIs when /proc/interrupts
/// has them (zero otherwise).
pub fn read_cores() -> Result<Vec<(usize, CoreTicks)>, ProcError> {
    let text = std::fs::read_to_string("/proc/stat").map_err(|e| ProcError::Stat(e.to_string()))?;
    let mut cores = parse_cores(&text);
    let ipis = std::fs::read_to_string("/proc/interrupts")
        .map(|t| parse_resched_ipis(&t))
        .unwrap_or_default();
    for (cpu, ticks) in &mut cores {
        if let Some((_, n)) = ipis.iter().find(|(c, _)| c == cpu) {
            ticks.resched_ipis = *n;
        }
    }
    Ok(cores)
}

/// How busy one CPU was between two samples (fractions of the elapsed ticks).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CoreUsage {
    pub cpu: usize,
    pub busy: f64,
    pub softirq: f64,
    /// Reschedule IPIs the CPU took between the samples.
    pub resched_ipis: u64,
}

pub fn core_usage(cpu: usize, before: CoreTicks, after: CoreTicks) -> CoreUsage {
    let total = after.total.saturating_sub(before.total).max(1) as f64;
    CoreUsage {
        cpu,
        busy: after.busy.saturating_sub(before.busy) as f64 / total,
        softirq: after.softirq.saturating_sub(before.softirq) as f64 / total,
        resched_ipis: after.resched_ipis.saturating_sub(before.resched_ipis),
    }
}

/// Converts clock ticks to time.
pub fn ticks_to_duration(ticks: u64) -> Duration {
    Duration::from_secs_f64(ticks as f64 / sys::clock_ticks_per_second() as f64)
}

/// CPU used over a wall-clock window, as a fraction of `cores` fully busy cores.
pub fn utilization(cpu: Duration, wall: Duration, cores: u32) -> f64 {
    let denom = wall.as_secs_f64() * f64::from(cores.max(1));
    if denom <= 0.0 {
        0.0
    } else {
        cpu.as_secs_f64() / denom
    }
}

/// Utilization at or above which a side counts as saturated.
pub const SATURATED: f64 = 0.90;

/// Who ran out of CPU first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bottleneck {
    /// Client saturated, server not: the throughput measures the client.
    Client,
    /// Client saturated, server not sampled: throughput may measure the client.
    ClientMaybe,
    /// Server saturated (or neither): the run measured the server (or the network/latency).
    NotClient,
}

/// The verdict from the client's and (if sampled) the server's utilization.
pub fn bottleneck(client: f64, server: Option<f64>) -> Bottleneck {
    match (client >= SATURATED, server) {
        (false, _) => Bottleneck::NotClient,
        (true, Some(s)) if s < SATURATED => Bottleneck::Client,
        (true, Some(_)) => Bottleneck::NotClient,
        (true, None) => Bottleneck::ClientMaybe,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from a real process whose name contains ") (" to test the last-paren rule.
    const STAT: &str = "4242 (tls) (term) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                        731 129 0 0 20 0 3 0 123456 1048576000 2048 18446744073709551615 \
                        1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";

    #[test]
    fn stat_fields_after_the_last_paren() {
        assert_eq!(
            parse_stat(STAT),
            Some(CpuTicks {
                user: 731,
                system: 129
            })
        );
        assert_eq!(parse_stat(STAT).map(CpuTicks::total), Some(860));
    }

    #[test]
    fn ticks_since_an_earlier_sample_split_user_and_system() {
        let earlier = CpuTicks {
            user: 700,
            system: 100,
        };
        let later = CpuTicks {
            user: 731,
            system: 129,
        };
        assert_eq!(
            later.since(earlier),
            CpuTicks {
                user: 31,
                system: 29
            }
        );
        // A process that is gone reads as zero: nothing rather than a wrapped count.
        assert_eq!(CpuTicks::default().since(earlier), CpuTicks::default());
    }

    #[test]
    fn stat_garbage_is_none() {
        assert_eq!(parse_stat(""), None);
        assert_eq!(parse_stat("1 (x) S 1 2 3"), None);
        assert_eq!(parse_stat("1 (x) S 1 1 1 0 -1 0 0 0 0 0 x 5 0"), None);
    }

    #[test]
    fn own_stat_parses() {
        let text = std::fs::read_to_string("/proc/self/stat").unwrap();
        assert!(parse_stat(&text).is_some());
        assert!(process_ticks(std::process::id()).is_ok());
        let rss = process_rss_kib(std::process::id()).unwrap().unwrap();
        assert!(rss > 0);
    }

    #[test]
    fn missing_process_is_a_clear_error() {
        // PIDs are at most 2^22 on Linux; this one cannot exist.
        let e = process_ticks(u32::MAX).unwrap_err();
        assert!(matches!(
            e,
            ProcError::Read {
                pid: u32::MAX,
                file: "stat",
                ..
            }
        ));
    }

    #[test]
    fn rss() {
        let status = "Name:\ttlsterm\nVmPeak:\t  9000 kB\nVmRSS:\t    5120 kB\nThreads:\t3\n";
        assert_eq!(parse_rss_kib(status), Some(5120));
        assert_eq!(parse_rss_kib("Name:\tkthreadd\n"), None);
        assert_eq!(parse_rss_kib("VmRSS:\t5 MB\n"), None);
    }

    #[test]
    fn proc_stat_cores() {
        let text = "cpu  10 0 10 80 0 0 0 0 0 0\n\
                    cpu0 30 1 20 40 5 1 3 0 0 0\n\
                    cpu1 5 0 5 90 0 0 0 0 0 0\n\
                    intr 12345\n";
        assert_eq!(
            parse_cores(text),
            vec![
                (
                    0,
                    CoreTicks {
                        busy: 55,
                        softirq: 3,
                        total: 100,
                        resched_ipis: 0
                    }
                ),
                (
                    1,
                    CoreTicks {
                        busy: 10,
                        softirq: 0,
                        total: 100,
                        resched_ipis: 0
                    }
                ),
            ]
        );
        let a = CoreTicks {
            busy: 100,
            softirq: 10,
            total: 1000,
            resched_ipis: 500,
        };
        let b = CoreTicks {
            busy: 190,
            softirq: 30,
            total: 1100,
            resched_ipis: 740,
        };
        assert_eq!(
            core_usage(1, a, b),
            CoreUsage {
                cpu: 1,
                busy: 0.9,
                softirq: 0.2,
                resched_ipis: 240
            }
        );
        assert!(!read_cores().unwrap().is_empty());
    }

    #[test]
    fn proc_interrupts_reschedule_line() {
        // Captured shape of /proc/interrupts (two CPUs, trailing descriptions).
        let text = "           CPU0       CPU1       \n\
                    \x20 1:          9          0   IO-APIC   1-edge      i8042\n\
                    NMI:          0          0   Non-maskable interrupts\n\
                    RES:    1234567      89012   Rescheduling interrupts\n\
                    CAL:       4242       4343   Function call interrupts\n";
        assert_eq!(parse_resched_ipis(text), vec![(0, 1_234_567), (1, 89_012)]);
        // Offline CPUs are absent from the header: columns follow it, not 0..n.
        let sparse = "  CPU0  CPU2\nRES:  5  7  Rescheduling interrupts\n";
        assert_eq!(parse_resched_ipis(sparse), vec![(0, 5), (2, 7)]);
        assert_eq!(parse_resched_ipis(""), vec![]);
        assert_eq!(parse_resched_ipis("  CPU0  CPU1\nRES:  5\n"), vec![]);
        assert_eq!(parse_resched_ipis("  CPU0\nNMI:  0\n"), vec![]);
        // On this machine's kind (x86, several CPUs) the line is there and has counted.
        let interrupts = std::fs::read_to_string("/proc/interrupts").unwrap();
        if interrupts.contains("RES:") && read_cores().unwrap().len() > 1 {
            let cores = read_cores().unwrap();
            assert!(cores.iter().any(|(_, t)| t.resched_ipis > 0), "{cores:?}");
        }
    }

    #[test]
    fn utilization_and_verdict() {
        let s = Duration::from_secs;
        assert_eq!(utilization(s(9), s(10), 1), 0.9);
        assert_eq!(utilization(s(9), s(10), 2), 0.45);
        assert_eq!(utilization(s(1), Duration::ZERO, 1), 0.0);
        assert_eq!(bottleneck(0.95, Some(0.60)), Bottleneck::Client);
        assert_eq!(bottleneck(0.95, Some(0.97)), Bottleneck::NotClient);
        assert_eq!(bottleneck(0.50, Some(0.10)), Bottleneck::NotClient);
        assert_eq!(bottleneck(0.90, None), Bottleneck::ClientMaybe);
        assert_eq!(bottleneck(0.89, None), Bottleneck::NotClient);
    }
}
