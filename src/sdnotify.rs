//! systemd notification (`Type=notify`) and the watchdog, spoken directly over the
//! `NOTIFY_SOCKET` datagram socket (no libsystemd).
//!
//! - `READY=1` once every shard listens, `STATUS=` lines on state changes, `STOPPING=1` on
//!   shutdown, `RELOADING=1`/`READY=1` around reloads is not sent (reloads are live and never
//!   block serving).
//! - `WATCHDOG=1` every half `WATCHDOG_USEC`, **only while every shard's executor answers**:
//!   each shard's low-priority watcher bumps its own heartbeat counter every 100 ms; the
//!   watchdog thread pings only if every counter moved since its last look. A stuck shard stops
//!   the pings, systemd's `WatchdogSec=` expires, and systemd restarts the service.
//!
//! What it does not do: anything when `NOTIFY_SOCKET` is unset (not under systemd).

use std::io;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::shard::Control;

/// A connection to systemd's notification socket.
#[derive(Debug)]
pub struct Notifier {
    sock: UnixDatagram,
    path: String,
}

impl Notifier {
    /// From `NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace). `None` when
    /// unset or empty.
    pub fn from_env() -> io::Result<Option<Notifier>> {
        match std::env::var("NOTIFY_SOCKET") {
            Ok(p) if !p.is_empty() => Ok(Some(Notifier {
                sock: UnixDatagram::unbound()?,
                path: p,
            })),
            _ => Ok(None),
        }
    }

    /// Sends one notification (e.g. `READY=1\nSTATUS=serving`).
    pub fn notify(&self, state: &str) -> io::Result<()> {
        if let Some(name) = self.path.strip_prefix('@') {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            self.sock.send_to_addr(state.as_bytes(), &addr).map(|_| ())
        } else {
            self.sock.send_to(state.as_bytes(), &self.path).map(|_| ())
        }
    }
}

/// The ping interval from `WATCHDOG_USEC` (half of it), if the watchdog is on for this process
/// (`WATCHDOG_PID` unset or ours).
pub fn watchdog_interval(usec: Option<&str>, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    let usec: u64 = usec?.parse().ok().filter(|u| *u > 0)?;
    if let Some(p) = pid {
        if p.parse::<u32>().ok()? != own_pid {
            return None;
        }
    }
    Some(Duration::from_micros(usec / 2))
}

/// One heartbeat counter per shard, each written only by its shard.
#[derive(Debug)]
pub struct Heartbeats {
    beats: Vec<AtomicU64>,
}

impl Heartbeats {
    pub fn new(shards: usize) -> Arc<Self> {
        Arc::new(Heartbeats {
            beats: (0..shards).map(|_| AtomicU64::new(0)).collect(),
        })
    }

    /// Called by shard `k`'s watcher (single writer: load + store).
    pub fn beat(&self, k: usize) {
        if let Some(b) = self.beats.get(k) {
            b.store(b.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
        }
    }

    fn snapshot(&self) -> Vec<u64> {
        self.beats
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect()
    }
}

/// Shards whose counter did not move between two snapshots.
pub fn stuck(before: &[u64], after: &[u64]) -> Vec<usize> {
    before
        .iter()
        .zip(after)
        .enumerate()
        .filter(|(_, (a, b))| a == b)
        .map(|(k, _)| k)
        .collect()
}

/// Starts the watchdog thread: pings every `interval` while all shards beat; stops when
/// `stop` is set.
pub fn spawn_watchdog(
    notifier: Arc<Notifier>,
    beats: Arc<Heartbeats>,
    interval: Duration,
    control: Arc<Control>,
) -> io::Result<()> {
    std::thread::Builder::new()
        .name("tlsterm-watchdog".into())
        .spawn(move || {
            let mut last = beats.snapshot();
            let mut reported = false;
            while !control.stop_requested() {
                std::thread::sleep(interval);
                let now = beats.snapshot();
                let stuck = stuck(&last, &now);
                if stuck.is_empty() {
                    let _ = notifier.notify("WATCHDOG=1");
                    reported = false;
                } else if !reported {
                    eprintln!(
                        "tlsterm: watchdog: shard(s) {stuck:?} not answering; withholding WATCHDOG=1"
                    );
                    let _ = notifier.notify(&format!(
                        "STATUS=shard(s) {stuck:?} not answering"
                    ));
                    reported = true;
                }
                last = now;
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_is_half_of_watchdog_usec_for_this_pid() {
        assert_eq!(
            watchdog_interval(Some("30000000"), None, 7),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            watchdog_interval(Some("30000000"), Some("7"), 7),
            Some(Duration::from_secs(15))
        );
        assert_eq!(watchdog_interval(Some("30000000"), Some("8"), 7), None);
        assert_eq!(watchdog_interval(Some("0"), None, 7), None);
        assert_eq!(watchdog_interval(Some("x"), None, 7), None);
        assert_eq!(watchdog_interval(None, None, 7), None);
    }

    #[test]
    fn stuck_shards_are_those_whose_counter_did_not_move() {
        assert_eq!(stuck(&[1, 5, 9], &[2, 5, 10]), vec![1]);
        assert!(stuck(&[1, 2], &[3, 4]).is_empty());
        let hb = Heartbeats::new(2);
        let a = hb.snapshot();
        hb.beat(1);
        assert_eq!(stuck(&a, &hb.snapshot()), vec![0]);
    }

    #[test]
    fn notifies_a_datagram_listener() {
        let dir = std::env::temp_dir().join(format!("tlsterm-sdn-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixDatagram::bind(&path).unwrap();
        let n = Notifier {
            sock: UnixDatagram::unbound().unwrap(),
            path: path.to_string_lossy().into_owned(),
        };
        n.notify("READY=1\nSTATUS=serving").unwrap();
        let mut buf = [0u8; 64];
        let got = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..got], b"READY=1\nSTATUS=serving");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
