//! Certificate store: loaded certificates indexed by SAN name (exact and wildcard), and the choice
//! between a name's ECDSA and RSA certificate for one ClientHello.
//!
//! Job: `lookup(sni, signature_schemes)` → the certificate to serve and its kind. The resolver
//! ([`super::resolver::Resolver`]) and the connection driver (which wants the kind before the
//! handshake finishes) both call it, so they always agree; it is pure and deterministic.
//!
//! Not done here: reading files (see [`load_cert`], in `load.rs`), expiry checks, OCSP, reload
//! (the whole store is rebuilt and swapped).
//!
//! Invariants: immutable after [`CertStore::new`]; names are stored lower-case without a trailing
//! dot; `*.example.org` matches exactly one extra non-empty label; an exact name wins over a
//! wildcard; within a name the first certificate of each kind loaded wins; unknown or missing SNI
//! gets the default slot. Lookups allocate only when the SNI has upper-case letters.
use rustls::sign::CertifiedKey;
use rustls::SignatureScheme;
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

pub use super::load::load_cert;

/// Key algorithm of a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertKind {
    Ecdsa,
    Rsa,
}

impl CertKind {
    /// Spelling used in X-Connection-Properties `KA=` and the access log.
    pub fn as_str(self) -> &'static str {
        match self {
            CertKind::Ecdsa => "ECDSA",
            CertKind::Rsa => "RSA",
        }
    }
}

/// A certificate chain with its private key, ready to serve.
#[derive(Clone)]
pub struct LoadedCert {
    /// File the chain came from (the `.ocsp` file sits beside it).
    pub path: PathBuf,
    /// Separate key file, when the key is not in `path`.
    pub key_path: Option<PathBuf>,
    /// OCSP response file; `None` = `<path>.ocsp` (HAProxy's convention).
    pub ocsp_path: Option<PathBuf>,
    /// `nextUpdate` of the validated OCSP staple in `certified_key.ocsp`, if any.
    pub staple_next_update: Option<SystemTime>,
    pub kind: CertKind,
    /// DNS names from the SAN extension (lower-case; wildcards as `*.example.org`), then IP
    /// address SANs in textual form (`127.0.0.1`, `::1`).
    pub names: Vec<String>,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    /// Serial number, lower-case hex, no leading zero bytes.
    pub serial: String,
    pub certified_key: Arc<CertifiedKey>,
}

impl std::fmt::Debug for LoadedCert {
    // Never prints key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedCert")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .field("names", &self.names)
            .field("serial", &self.serial)
            .finish()
    }
}

/// Why a certificate could not be loaded or the store built. Messages name the file (or the
/// configured name) and never include key bytes.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    /// The configured default name is not covered by any certificate.
    #[error("default certificate name {name:?} is not covered by any certificate")]
    UnknownDefault { name: String },
    /// A store needs at least one certificate.
    #[error("no certificates configured")]
    NoCertificates,
}

/// One certificate of a slot, with what the selection needs precomputed.
#[derive(Debug, Clone)]
struct Entry {
    key: Arc<CertifiedKey>,
    /// ECDSA: the one TLS 1.3 scheme matching the key's curve (None for RSA or unknown curves).
    ecdsa_scheme: Option<SignatureScheme>,
}

/// The certificates serving one name: at most one per kind.
#[derive(Debug, Clone, Default)]
struct Slot {
    ecdsa: Option<Entry>,
    rsa: Option<Entry>,
}

impl Slot {
    fn add(&mut self, cert: &LoadedCert) {
        let place = match cert.kind {
            CertKind::Ecdsa => &mut self.ecdsa,
            CertKind::Rsa => &mut self.rsa,
        };
        if place.is_none() {
            *place = Some(Entry {
                key: cert.certified_key.clone(),
                ecdsa_scheme: ecdsa_scheme(cert),
            });
        }
    }

    fn select(&self, schemes: &[SignatureScheme]) -> Option<(Arc<CertifiedKey>, CertKind)> {
        if let Some(e) = &self.ecdsa {
            if e.ecdsa_scheme.is_some_and(|s| schemes.contains(&s)) {
                return Some((e.key.clone(), CertKind::Ecdsa));
            }
        }
        if let Some(r) = &self.rsa {
            if schemes.iter().any(|s| is_rsa_scheme(*s)) {
                return Some((r.key.clone(), CertKind::Rsa));
            }
        }
        // Nothing the client can verify: serve what exists and let rustls fail the handshake.
        match (&self.ecdsa, &self.rsa) {
            (Some(e), _) => Some((e.key.clone(), CertKind::Ecdsa)),
            (None, Some(r)) => Some((r.key.clone(), CertKind::Rsa)),
            (None, None) => None,
        }
    }
}

/// The curve of an ECDSA key, as the signature scheme a client must offer to accept it.
fn ecdsa_scheme(cert: &LoadedCert) -> Option<SignatureScheme> {
    if cert.kind != CertKind::Ecdsa {
        return None;
    }
    [
        SignatureScheme::ECDSA_NISTP256_SHA256,
        SignatureScheme::ECDSA_NISTP384_SHA384,
        SignatureScheme::ECDSA_NISTP521_SHA512,
    ]
    .into_iter()
    .find(|s| cert.certified_key.key.choose_scheme(&[*s]).is_some())
}

fn is_rsa_scheme(s: SignatureScheme) -> bool {
    matches!(
        s,
        SignatureScheme::RSA_PSS_SHA256
            | SignatureScheme::RSA_PSS_SHA384
            | SignatureScheme::RSA_PSS_SHA512
            | SignatureScheme::RSA_PKCS1_SHA256
            | SignatureScheme::RSA_PKCS1_SHA384
            | SignatureScheme::RSA_PKCS1_SHA512
    )
}

/// Lower-case, trailing dot removed; borrows when nothing changes.
fn normalize(name: &str) -> Cow<'_, str> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// Certificates indexed by name; immutable once built (swapped whole on reload).
#[derive(Debug)]
pub struct CertStore {
    certs: Vec<LoadedCert>,
    /// Exact names (including IP SANs) → slot.
    exact: HashMap<String, Slot>,
    /// `*.example.org` is stored under `example.org`.
    wildcard: HashMap<String, Slot>,
    default: Slot,
}

impl CertStore {
    /// `default_name`: name whose certificates serve clients without SNI (or unknown SNI);
    /// `None` = the first certificate's first name. ECDSA is preferred within a name.
    pub fn new(certs: Vec<LoadedCert>, default_name: Option<&str>) -> Result<Self, CertError> {
        let first = certs.first().ok_or(CertError::NoCertificates)?;
        let mut exact: HashMap<String, Slot> = HashMap::new();
        let mut wildcard: HashMap<String, Slot> = HashMap::new();
        for cert in &certs {
            for name in &cert.names {
                let name = normalize(name);
                match name.strip_prefix("*.") {
                    Some(suffix) if !suffix.is_empty() => {
                        wildcard.entry(suffix.to_owned()).or_default().add(cert)
                    }
                    _ => exact.entry(name.into_owned()).or_default().add(cert),
                }
            }
        }
        let mut store = CertStore {
            certs: Vec::new(),
            exact,
            wildcard,
            default: Slot::default(),
        };
        store.default = match default_name {
            Some(name) => {
                let norm = normalize(name);
                let slot = match norm.strip_prefix("*.") {
                    Some(suffix) => store.wildcard.get(suffix),
                    None => store.find(&norm),
                };
                slot.cloned().ok_or_else(|| CertError::UnknownDefault {
                    name: name.to_owned(),
                })?
            }
            None => match first.names.first() {
                Some(name) => {
                    let norm = normalize(name);
                    let slot = match norm.strip_prefix("*.") {
                        Some(suffix) => store.wildcard.get(suffix),
                        None => store.exact.get(norm.as_ref()),
                    };
                    slot.cloned().unwrap_or_default()
                }
                None => Slot::default(),
            },
        };
        if store.default.ecdsa.is_none() && store.default.rsa.is_none() {
            // The first certificate has no names (or only an unusable one): serve it alone.
            store.default.add(first);
        }
        store.certs = certs;
        Ok(store)
    }

    /// The slot for an already normalized name: exact, else wildcard one label up.
    fn find(&self, name: &str) -> Option<&Slot> {
        if let Some(slot) = self.exact.get(name) {
            return Some(slot);
        }
        let (label, parent) = name.split_once('.')?;
        if label.is_empty() || parent.is_empty() {
            return None;
        }
        self.wildcard.get(parent)
    }

    /// Picks the certificate for `sni` (None: no SNI) given the client's signature schemes:
    /// ECDSA when the schemes allow it (a scheme for the key's curve), else RSA when any RSA
    /// scheme is offered, else whichever exists. Unknown names fall back to the default.
    pub fn lookup(
        &self,
        sni: Option<&str>,
        schemes: &[SignatureScheme],
    ) -> Option<(Arc<CertifiedKey>, CertKind)> {
        let slot = sni
            .and_then(|name| self.find(&normalize(name)))
            .unwrap_or(&self.default);
        slot.select(schemes)
    }

    /// Just the kind [`Self::lookup`] would choose (same rules, same answer).
    pub fn kind_for(&self, sni: Option<&str>, schemes: &[SignatureScheme]) -> Option<CertKind> {
        self.lookup(sni, schemes).map(|(_, kind)| kind)
    }

    pub fn certs(&self) -> &[LoadedCert] {
        &self.certs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::testutil::{ecdsa_p256, ecdsa_p384, loaded, rsa, TempDir};
    use SignatureScheme as S;

    const ALL: &[SignatureScheme] = &[
        S::ECDSA_NISTP256_SHA256,
        S::ECDSA_NISTP384_SHA384,
        S::RSA_PSS_SHA256,
        S::RSA_PKCS1_SHA256,
    ];

    /// Which loaded certificate (by index into `certs`) a lookup returned.
    fn which(store: &CertStore, sni: Option<&str>, schemes: &[SignatureScheme]) -> Option<usize> {
        let (key, kind) = store.lookup(sni, schemes)?;
        let i = store
            .certs()
            .iter()
            .position(|c| Arc::ptr_eq(&c.certified_key, &key))
            .unwrap();
        assert_eq!(store.certs()[i].kind, kind);
        assert_eq!(store.kind_for(sni, schemes), Some(kind));
        Some(i)
    }

    #[test]
    fn wildcard_matches_exactly_one_label() {
        let dir = TempDir::new("store-wild");
        let certs = vec![
            loaded(&dir, "0.pem", &["default.test"], &ecdsa_p256()),
            loaded(&dir, "1.pem", &["*.example.org"], &ecdsa_p256()),
            loaded(&dir, "2.pem", &["www.example.org"], &ecdsa_p256()),
        ];
        let store = CertStore::new(certs, None).unwrap();
        assert_eq!(which(&store, Some("a.example.org"), ALL), Some(1));
        assert_eq!(which(&store, Some("A.Example.ORG."), ALL), Some(1));
        assert_eq!(which(&store, Some("www.example.org"), ALL), Some(2));
        // Not covered by the wildcard: falls back to the default.
        assert_eq!(which(&store, Some("a.b.example.org"), ALL), Some(0));
        assert_eq!(which(&store, Some("example.org"), ALL), Some(0));
        assert_eq!(which(&store, Some(".example.org"), ALL), Some(0));
        assert_eq!(which(&store, Some("*.example.org"), ALL), Some(1));
    }

    #[test]
    fn default_is_first_name_ecdsa_preferred() {
        let dir = TempDir::new("store-default");
        let certs = vec![
            loaded(&dir, "0.pem", &["a.test"], &rsa()),
            loaded(&dir, "1.pem", &["b.test"], &ecdsa_p256()),
            loaded(&dir, "2.pem", &["a.test"], &ecdsa_p256()),
        ];
        let store = CertStore::new(certs, None).unwrap();
        assert_eq!(which(&store, None, ALL), Some(2));
        assert_eq!(which(&store, Some("unknown.test"), ALL), Some(2));
        assert_eq!(which(&store, None, &[S::RSA_PSS_SHA256]), Some(0));
        assert_eq!(which(&store, Some("b.test"), ALL), Some(1));
    }

    #[test]
    fn configured_default_name() {
        let dir = TempDir::new("store-defname");
        let certs = vec![
            loaded(&dir, "0.pem", &["a.test"], &ecdsa_p256()),
            loaded(&dir, "1.pem", &["*.b.test"], &ecdsa_p256()),
        ];
        let store = CertStore::new(certs.clone(), Some("x.B.test")).unwrap();
        assert_eq!(which(&store, None, ALL), Some(1));
        let store = CertStore::new(certs.clone(), Some("*.b.test")).unwrap();
        assert_eq!(which(&store, None, ALL), Some(1));
        let e = CertStore::new(certs, Some("c.test")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "default certificate name \"c.test\" is not covered by any certificate"
        );
        assert!(matches!(
            CertStore::new(Vec::new(), None),
            Err(CertError::NoCertificates)
        ));
    }

    #[test]
    fn scheme_choice_follows_curve_and_rsa() {
        let dir = TempDir::new("store-schemes");
        let certs = vec![
            loaded(&dir, "0.pem", &["p256.test", "both.test"], &ecdsa_p256()),
            loaded(&dir, "1.pem", &["both.test", "rsa.test"], &rsa()),
            loaded(&dir, "2.pem", &["p384.test"], &ecdsa_p384()),
        ];
        let store = CertStore::new(certs, None).unwrap();
        let both = Some("both.test");
        assert_eq!(which(&store, both, ALL), Some(0));
        assert_eq!(which(&store, both, &[S::ECDSA_NISTP256_SHA256]), Some(0));
        // P-384 only: the P-256 key cannot sign, RSA can.
        let p384_rsa = &[S::ECDSA_NISTP384_SHA384, S::RSA_PKCS1_SHA384];
        assert_eq!(which(&store, both, p384_rsa), Some(1));
        assert_eq!(which(&store, both, &[S::RSA_PSS_SHA512]), Some(1));
        assert_eq!(which(&store, both, &[S::RSA_PKCS1_SHA512]), Some(1));
        // Nothing usable: ECDSA, and rustls fails the handshake.
        assert_eq!(which(&store, both, &[S::ED25519]), Some(0));
        assert_eq!(which(&store, both, &[]), Some(0));
        assert_eq!(
            which(&store, Some("rsa.test"), &[S::ECDSA_NISTP256_SHA256]),
            Some(1)
        );
        let p384 = Some("p384.test");
        assert_eq!(which(&store, p384, &[S::ECDSA_NISTP384_SHA384]), Some(2));
        // Only a P-384 key for the name: served anyway.
        assert_eq!(which(&store, p384, &[S::ECDSA_NISTP256_SHA256]), Some(2));
    }

    #[test]
    fn exact_beats_wildcard_and_first_of_a_kind_wins() {
        let dir = TempDir::new("store-order");
        let certs = vec![
            loaded(&dir, "0.pem", &["*.x.test"], &ecdsa_p256()),
            loaded(&dir, "1.pem", &["a.x.test"], &rsa()),
            loaded(&dir, "2.pem", &["*.x.test"], &ecdsa_p256()),
        ];
        let store = CertStore::new(certs, None).unwrap();
        // Exact slot has only RSA: it is served even to ECDSA-capable clients.
        assert_eq!(which(&store, Some("a.x.test"), ALL), Some(1));
        assert_eq!(which(&store, Some("b.x.test"), ALL), Some(0));
        assert_eq!(which(&store, None, ALL), Some(0));
    }

    #[test]
    fn ip_sans_are_exact_names() {
        let dir = TempDir::new("store-ip");
        let certs = vec![
            loaded(&dir, "0.pem", &["a.test"], &ecdsa_p256()),
            loaded(&dir, "1.pem", &["127.0.0.1", "::1"], &ecdsa_p256()),
        ];
        let store = CertStore::new(certs, None).unwrap();
        assert_eq!(which(&store, Some("127.0.0.1"), ALL), Some(1));
        assert_eq!(which(&store, Some("::1"), ALL), Some(1));
        assert_eq!(which(&store, Some("127.0.0.2"), ALL), Some(0));
    }

    #[test]
    fn normalize_borrows_lower_case() {
        assert!(matches!(normalize("a.test"), Cow::Borrowed("a.test")));
        assert!(matches!(normalize("a.test."), Cow::Borrowed("a.test")));
        assert_eq!(normalize("A.Test."), "a.test");
    }
}
