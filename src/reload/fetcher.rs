//! The OCSP fetcher thread (`ocsp.fetch = true`): for every certificate whose Authority
//! Information Access names an http OCSP responder, POST a request, validate the answer, and
//! write it atomically to the certificate's `.ocsp` file — which the reloader then notices and
//! staples. Refreshes at half the validity window; on failure, jittered exponential backoff
//! (1 min doubling to 1 h), the old file untouched. A certificate without an OCSP URL is left
//! alone, silently.
//!
//! Runs on its own thread because fetching blocks (network with timeouts); never on a shard.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ring::rand::{SecureRandom, SystemRandom};
use rustls::pki_types::CertificateDer;

use super::ocsp_file;
use crate::clock;
use crate::config::Config;
use crate::shard::Control;
use crate::tls::ocsp::{self, FetchSchedule};

/// Per-certificate fetch outcomes, read by the admin listener.
#[derive(Debug, Default)]
pub struct FetchStatus {
    pub certs: Mutex<Vec<CertFetch>>,
}

#[derive(Debug, Clone)]
pub struct CertFetch {
    /// Certificate file name.
    pub cert: String,
    pub ok: u64,
    pub failed: u64,
    /// Label of the last outcome: `ok` or the error's label.
    pub last: &'static str,
}

struct Target {
    index: usize,
    url: String,
    chain: Vec<CertificateDer<'static>>,
    path: std::path::PathBuf,
    schedule: FetchSchedule,
    due: Instant,
}

/// Overall deadline of one fetch (connect, send, receive).
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts the fetcher when `ocsp.fetch` is on. Returns the status it keeps.
pub fn spawn_fetcher(
    cfg: &Config,
    control: Arc<Control>,
) -> std::io::Result<Option<Arc<FetchStatus>>> {
    if !cfg.tls.ocsp_fetch {
        return Ok(None);
    }
    let now = clock::now();
    let wall = clock::wall();
    let mut targets = Vec::new();
    let mut certs = Vec::new();
    for c in &cfg.certificates {
        let chain = c.certified_key.cert.clone();
        let Some(url) = chain.first().and_then(ocsp::ocsp_url) else {
            continue;
        };
        let path = ocsp_file(c);
        // A current staple on disk is refreshed at its half-life, not at once.
        let due = match ocsp::load_staple(&path, &chain, wall) {
            Ok(Some(s)) => {
                now + s
                    .refresh_at()
                    .duration_since(wall)
                    .unwrap_or(Duration::ZERO)
            }
            _ => now,
        };
        certs.push(CertFetch {
            cert: c
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            ok: 0,
            failed: 0,
            last: "none",
        });
        targets.push(Target {
            index: certs.len() - 1,
            url,
            chain,
            path,
            schedule: FetchSchedule::new(),
            due,
        });
    }
    let status = Arc::new(FetchStatus {
        certs: Mutex::new(certs),
    });
    if targets.is_empty() {
        eprintln!("tlsterm: ocsp.fetch: no certificate names an OCSP responder; nothing to fetch");
        return Ok(Some(status));
    }
    let shared = Arc::clone(&status);
    std::thread::Builder::new()
        .name("tlsterm-ocsp".into())
        .spawn(move || run(targets, &shared, &control))?;
    Ok(Some(status))
}

fn run(mut targets: Vec<Target>, status: &FetchStatus, control: &Control) {
    let rng = SystemRandom::new();
    loop {
        let now = clock::now();
        if control.stop_requested() {
            return;
        }
        let Some(next) = targets.iter_mut().min_by_key(|t| t.due) else {
            return;
        };
        if next.due > now {
            // Sleep in short steps so a stop is noticed promptly.
            std::thread::sleep((next.due - now).min(Duration::from_secs(1)));
            continue;
        }
        let result = ocsp::fetch_staple(
            &next.url,
            &next.chain,
            &next.path,
            clock::wall(),
            FETCH_TIMEOUT,
        );
        let mut certs = status.certs.lock().unwrap_or_else(|e| e.into_inner());
        let entry = &mut certs[next.index];
        match result {
            Ok(staple) => {
                let wait = next.schedule.on_success(&staple, clock::wall());
                next.due = clock::now() + wait;
                entry.ok += 1;
                entry.last = "ok";
            }
            Err(e) => {
                let mut b = [0u8; 4];
                let random = rng.fill(&mut b).map_or(0, |_| u32::from_le_bytes(b));
                let wait = next.schedule.on_failure(random);
                next.due = clock::now() + wait;
                if entry.last != e.label() {
                    eprintln!(
                        "tlsterm: OCSP fetch for {} failed ({}); retrying in {wait:?}; the current staple stays",
                        entry.cert, e
                    );
                }
                entry.failed += 1;
                entry.last = e.label();
            }
        }
    }
}
