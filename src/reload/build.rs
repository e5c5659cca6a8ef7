//! Building a [`TlsState`] from the configured files. All-or-nothing: any error leaves the
//! caller's previous state in place.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use rustls::server::ProducesTickets;

use super::{ReloadError, StapleStatus, TicketSource, TlsState};
use crate::config::Config;
use crate::tls::ocsp;
use crate::tls::tickets::{parse_key_file, TicketKeyError, TicketKeys, Ticketer, GENERATED_KEYS};
use crate::tls::{load_cert, CertStore, LoadedCert};
use ring::rand::SystemRandom;
use rustls::sign::CertifiedKey;

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
    let mut staples = Vec::with_capacity(certs.len());
    for cert in &mut certs {
        let old = previous.and_then(|p| p.certs.iter().find(|c| c.path == cert.path));
        staples.push(attach_staple(cert, old, now));
    }
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
    cert.ocsp_path
        .clone()
        .unwrap_or_else(|| ocsp::default_ocsp_path(&cert.path))
}

/// Reads and validates the certificate's OCSP file and staples it. When the file is refused,
/// the previous state's staple for the same certificate file stays in service while current.
fn attach_staple(cert: &mut LoadedCert, old: Option<&LoadedCert>, now: SystemTime) -> StapleStatus {
    let chain = cert.certified_key.cert.clone();
    let must = chain.first().is_some_and(|leaf| ocsp::must_staple(leaf));
    let path = ocsp_file(cert);
    let (fresh, error) = match ocsp::load_staple(&path, &chain, now) {
        Ok(s) => (s, None),
        Err(e) => (None, Some(format!("{}: {e}", path.display()))),
    };
    let kept = || {
        let old = old?;
        let next = old.staple_next_update.filter(|n| *n > now)?;
        // Only a staple for the very same leaf can be kept.
        (old.certified_key.cert.first() == chain.first())
            .then(|| old.certified_key.ocsp.clone().map(|der| (der, next)))
            .flatten()
    };
    let chosen = match (fresh, &error) {
        (Some(s), _) => Some((s.der, s.next_update)),
        (None, Some(_)) => kept(),
        (None, None) => None,
    };
    let next_update = chosen.as_ref().map(|(_, n)| *n);
    if let Some((der, next)) = chosen {
        cert.certified_key = Arc::new(CertifiedKey {
            cert: chain,
            key: Arc::clone(&cert.certified_key.key),
            ocsp: Some(der),
        });
        cert.staple_next_update = Some(next);
    }
    StapleStatus {
        cert: file_name(&cert.path),
        next_update,
        must_staple_missing: must && next_update.is_none(),
        last_error: error,
    }
}
