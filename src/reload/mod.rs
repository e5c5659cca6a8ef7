//! Live TLS state: built from the configured files (certificates, keys, OCSP responses, the
//! session-ticket key file), validated whole, then published to every shard.
//!
//! The reloader thread rebuilds the state on `SIGHUP`, on `POST /reload`, and when it sees a
//! watched file change (mtime polled once a second: certificates, keys, `.ocsp` files, the
//! ticket-key file). A build that fails leaves the published state untouched and reports the
//! file and the reason. Shards pick a new state up from their low-priority watcher (a
//! generation number compared every 100 ms) and build their own `ServerConfig` from it (own
//! TLS 1.2 session-ID cache); established connections keep the session they have.
//!
//! OCSP: a staple is served only after validation ([`crate::tls::ocsp::validate`]); when a
//! changed `.ocsp` file fails validation, the previously valid staple stays in service until
//! its `nextUpdate`. With `ocsp.fetch`, the reloader also fetches responses from the
//! certificate's responder on the schedule of [`crate::tls::ocsp`].
//!
//! What it does not do: re-read the configuration file itself (listeners, upstream and
//! timeouts need a restart), or anything on the request path.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustls::server::ProducesTickets;

use crate::config::Config;
use crate::tls::{CertStore, LoadedCert};

mod build;
mod fetcher;
mod thread;

pub use build::{build, ocsp_file, GeneratedKeys};
pub use fetcher::{spawn_fetcher, CertFetch, FetchStatus};
pub use thread::{spawn_reloader, ReloadTrigger};

/// One certificate's staple situation, for logs and metrics.
#[derive(Debug, Clone)]
pub struct StapleStatus {
    /// Certificate file name.
    pub cert: String,
    /// `nextUpdate` of the staple in service, if any.
    pub next_update: Option<SystemTime>,
    /// The certificate demands a staple (TLS feature extension) and has none.
    pub must_staple_missing: bool,
    /// Why the last `.ocsp` file read was refused, if it was.
    pub last_error: Option<String>,
}

/// Where the ticket keys come from (label of a metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketSource {
    File,
    Generated,
}

/// Everything a shard needs to build its TLS configuration. Immutable once published.
pub struct TlsState {
    pub generation: u64,
    pub store: Arc<CertStore>,
    pub ticketer: Arc<dyn ProducesTickets>,
    pub ticket_source: TicketSource,
    /// Number of ticket keys in service (file or generated).
    pub ticket_keys: usize,
    /// The in-memory keys, when no key file is configured (kept across reloads, rotated on
    /// schedule).
    pub generated_keys: Option<crate::tls::tickets::TicketKeys>,
    /// Name (hex) of the key that seals new tickets.
    pub encrypting_key: String,
    pub staples: Vec<StapleStatus>,
    /// Certificates as loaded (paths, expiry), for metrics.
    pub certs: Vec<LoadedCert>,
}

impl std::fmt::Debug for TlsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsState")
            .field("generation", &self.generation)
            .field("certs", &self.certs.len())
            .field("ticket_source", &self.ticket_source)
            .finish()
    }
}

/// Why a reload was refused. The message names the file and the reason.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("{0}")]
    Cert(String),
    #[error("{path}: {reason}")]
    TicketKeys { path: PathBuf, reason: String },
}

/// The published state and its generation number (shards compare the number, a plain load).
#[derive(Debug)]
pub struct Publisher {
    generation: AtomicU64,
    current: Mutex<Arc<TlsState>>,
}

impl Publisher {
    pub fn new(state: TlsState) -> Self {
        Publisher {
            generation: AtomicU64::new(state.generation),
            current: Mutex::new(Arc::new(state)),
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn current(&self) -> Arc<TlsState> {
        // A poisoned lock still holds a complete state (it is only ever replaced whole).
        Arc::clone(&self.current.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn publish(&self, state: TlsState) {
        let generation = state.generation;
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(state);
        self.generation.store(generation, Ordering::Release);
    }
}

/// Modification times of every file a TLS state depends on.
pub fn watched_files(cfg: &Config) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for c in &cfg.certificates {
        files.push(c.path.clone());
        if let Some(k) = &c.key_path {
            files.push(k.clone());
        }
        files.push(ocsp_file(c));
    }
    if let Some(t) = &cfg.tls.ticket_keys {
        files.push(t.clone());
    }
    files
}

/// mtime per watched file (`None`: missing).
pub type Stamps = HashMap<PathBuf, Option<SystemTime>>;

pub fn stamps(files: &[PathBuf]) -> Stamps {
    files
        .iter()
        .map(|f| {
            let m = std::fs::metadata(f).and_then(|m| m.modified()).ok();
            (f.clone(), m)
        })
        .collect()
}
