//! Building a [`TlsState`] from the configured files. All-or-nothing: any error leaves the
//! caller's previous state in place.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use rustls::server::ProducesTickets;

use super::{ReloadError, StapleStatus, TicketSource, TlsState};
use crate::config::Config;
use crate::tls::tickets::{parse_key_file, TicketKeyError, TicketKeys, Ticketer, GENERATED_KEYS};
use crate::tls::{load_cert, CertStore, LoadedCert};
use ring::rand::SystemRandom;

/// Builds the TLS state from the files named by `cfg`. `previous` supplies staples to keep
/// when a changed `.ocsp` file is refused, and the generated ticketer to keep without a file.
pub fn build(
    cfg: &Config,
    previous: Option<&TlsState>,
    generated: GeneratedKeys,
    now: SystemTime,
) -> Result<TlsState, ReloadError> {
    let mut certs = Vec::with_capacity(cfg.certificates.len());
    for c in &cfg.certificates {
        let mut fresh = load_cert(&c.path, c.key_path.as_deref())
            .map_err(|e| ReloadError::Cert(e.to_string()))?;
        fresh.ocsp_path = c.ocsp_path.clone();
        certs.push(fresh);
    }
    let staples = certs
        .iter()
        .map(|c| StapleStatus {
            cert: file_name(&c.path),
            next_update: None,
            must_staple_missing: false,
            last_error: None,
        })
        .collect();
    let _ = now;
    let store = CertStore::new(certs.clone(), cfg.tls.default_name.as_deref())
        .map_err(|e| ReloadError::Cert(e.to_string()))?;
    let tickets = ticketer(cfg, previous, generated)?;
    Ok(TlsState {
        generation: previous.map_or(1, |p| p.generation + 1),
        store: Arc::new(store),
        ticketer: tickets.ticketer,
        ticket_source: tickets.source,
        ticket_keys: tickets.count,
        generated_keys: tickets.generated,
        encrypting_key: tickets.encrypting,
        staples,
        certs,
    })
}

/// What to do with in-memory ticket keys (used when no key file is configured).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeneratedKeys {
    /// Keep the previous state's keys (a reload must not invalidate outstanding tickets).
    Keep,
    /// Retire the oldest key and add a new one (the rotation schedule).
    Rotate,
}

struct TicketChoice {
    ticketer: Arc<dyn ProducesTickets>,
    source: TicketSource,
    count: usize,
    generated: Option<TicketKeys>,
    encrypting: String,
}

fn ticketer(
    cfg: &Config,
    previous: Option<&TlsState>,
    generated: GeneratedKeys,
) -> Result<TicketChoice, ReloadError> {
    let lifetime = cfg.tls.ticket_lifetime;
    let (keys, source) = match &cfg.tls.ticket_keys {
        Some(path) => {
            let fail = |reason: String| ReloadError::TicketKeys {
                path: path.clone(),
                reason,
            };
            let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
            let keys = parse_key_file(&text).map_err(|e| fail(e.to_string()))?;
            (keys, TicketSource::File)
        }
        None => {
            let rng = SystemRandom::new();
            let fail = |e: TicketKeyError| ReloadError::TicketKeys {
                path: PathBuf::from("(generated ticket keys)"),
                reason: e.to_string(),
            };
            let keys = match (previous.and_then(|p| p.generated_keys.as_ref()), generated) {
                (Some(k), GeneratedKeys::Keep) => k.clone(),
                (Some(k), GeneratedKeys::Rotate) => k.rotated(&rng).map_err(fail)?,
                (None, _) => TicketKeys::generate(GENERATED_KEYS, &rng).map_err(fail)?,
            };
            (keys, TicketSource::Generated)
        }
    };
    let count = keys.count();
    let encrypting = keys.encrypting().to_string();
    let generated = (source == TicketSource::Generated).then(|| keys.clone());
    Ok(TicketChoice {
        ticketer: Arc::new(Ticketer::from_keys(keys, lifetime)),
        source,
        count,
        generated,
        encrypting,
    })
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The OCSP file of a certificate: configured, or `<pem>.ocsp`.
pub fn ocsp_file(cert: &LoadedCert) -> PathBuf {
    cert.ocsp_path.clone().unwrap_or_else(|| {
        let mut p = cert.path.clone().into_os_string();
        p.push(".ocsp");
        PathBuf::from(p)
    })
}
