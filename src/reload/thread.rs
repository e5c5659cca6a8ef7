//! The reloader thread: rebuilds and publishes the TLS state on request (SIGHUP, admin) or
//! when a watched file changes. Runs off the shards, so slow disks or validation never stall
//! traffic.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Duration;

use super::{build, stamps, watched_files, GeneratedKeys, Publisher};
use crate::clock;
use crate::config::Config;
use crate::metrics::ReloadCounters;

/// Why a reload was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadTrigger {
    Signal,
    Admin,
    /// The process is stopping: the thread ends.
    Stop,
}

/// How often watched files are checked.
const POLL: Duration = Duration::from_secs(1);

/// Starts the reloader thread. Send triggers through the returned sender.
pub fn spawn_reloader(
    cfg: Arc<Config>,
    publisher: Arc<Publisher>,
    counters: Arc<ReloadCounters>,
) -> std::io::Result<Sender<ReloadTrigger>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("tlsterm-reload".into())
        .spawn(move || run(&cfg, &publisher, &counters, &rx))?;
    Ok(tx)
}

fn run(
    cfg: &Config,
    publisher: &Publisher,
    counters: &ReloadCounters,
    rx: &Receiver<ReloadTrigger>,
) {
    let files = watched_files(cfg);
    let mut seen = stamps(&files);
    // Generated ticket keys rotate once per ticket lifetime (no-op with a key file).
    let mut next_rotation = clock::now() + cfg.tls.ticket_lifetime;
    loop {
        let mut keys = GeneratedKeys::Keep;
        let why = match rx.recv_timeout(POLL) {
            Ok(ReloadTrigger::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            Ok(t) => {
                seen = stamps(&files);
                format!("{t:?}").to_lowercase()
            }
            Err(RecvTimeoutError::Timeout) => {
                let now = stamps(&files);
                if now != seen {
                    seen = now;
                    "file change".to_string()
                } else if cfg.tls.ticket_keys.is_none() && clock::now() >= next_rotation {
                    next_rotation = clock::now() + cfg.tls.ticket_lifetime;
                    keys = GeneratedKeys::Rotate;
                    "ticket-key rotation".to_string()
                } else {
                    continue;
                }
            }
        };
        let previous = publisher.current();
        match build(cfg, Some(&previous), keys, clock::wall()) {
            Ok(state) => {
                let generation = state.generation;
                for s in &state.staples {
                    if let Some(e) = &s.last_error {
                        eprintln!("tlsterm: reload: OCSP response for {} refused: {e}", s.cert);
                    }
                }
                publisher.publish(state);
                counters
                    .ok
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                eprintln!("tlsterm: reload ({why}): TLS state generation {generation} in service");
            }
            Err(e) => {
                counters
                    .failed
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                eprintln!("tlsterm: reload ({why}) refused, previous state kept: {e}");
            }
        }
    }
}
