//! The reloader thread: rebuilds and publishes the TLS state on request (SIGHUP, admin) or
//! when a watched file changes. Runs off the shards, so slow disks or validation never stall
//! traffic.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Duration;

use super::{build, stamps, watched_files, GeneratedKeys, Publisher, Stamps};
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
///
/// `seen` are the watched files' stamps taken *before* the state in service was built (see
/// [`super::stamps`]): a file that changes after that — such as an `.ocsp` file the fetcher
/// writes a few milliseconds after start-up — then differs from `seen` and is picked up.
/// Stamps taken later, on this thread, would silently count such a change as already loaded.
pub fn spawn_reloader(
    cfg: Arc<Config>,
    publisher: Arc<Publisher>,
    counters: Arc<ReloadCounters>,
    seen: Stamps,
) -> std::io::Result<Sender<ReloadTrigger>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("tlsterm-reload".into())
        .spawn(move || run(&cfg, &publisher, &counters, &rx, seen))?;
    Ok(tx)
}

fn run(
    cfg: &Config,
    publisher: &Publisher,
    counters: &ReloadCounters,
    rx: &Receiver<ReloadTrigger>,
    mut seen: Stamps,
) {
    let files = watched_files(cfg);
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

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::config::QuickStart;
    use crate::tls::testutil::{cert_pem, ecdsa_p256, write, TempDir};

    /// The OCSP fetcher can write a certificate's `.ocsp` file within milliseconds of start-up,
    /// before this thread runs. That change must still cause a reload (it once did not: the
    /// thread stamped the files itself and took the new file for the one in service).
    #[test]
    fn a_file_changed_after_the_initial_build_but_before_the_thread_starts_is_reloaded() {
        let dir = TempDir::new("reload-early-change");
        let key = ecdsa_p256();
        let pem = write(
            &dir,
            "site.pem",
            &[&cert_pem(&["site.test"], &key), &key.serialize_pem()],
        );
        let cfg = Config::quick(&QuickStart {
            listen: vec!["127.0.0.1:0".parse().unwrap()],
            upstream: "127.0.0.1:9".into(),
            certs: vec![pem.clone()],
            shards: None,
            admin: None,
            ticket_keys: None,
            ocsp_fetch: false,
        })
        .unwrap();
        let loaded_stamps = stamps(&watched_files(&cfg));
        let state = build(&cfg, None, GeneratedKeys::Keep, clock::wall()).unwrap();
        let publisher = Arc::new(Publisher::new(state));
        let first = publisher.generation();

        // Written between the build and the thread's start (the content does not matter: a
        // refused staple still yields a new generation, with the old staple state).
        std::fs::write(pem.with_extension("pem.ocsp"), b"not an OCSP response").unwrap();
        let tx = spawn_reloader(
            Arc::new(cfg),
            Arc::clone(&publisher),
            Arc::new(ReloadCounters::default()),
            loaded_stamps,
        )
        .unwrap();
        let deadline = Instant::now() + POLL * 10;
        while publisher.generation() == first && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = tx.send(ReloadTrigger::Stop);
        assert!(
            publisher.generation() > first,
            "the .ocsp file written after the initial build was never loaded"
        );
    }
}
