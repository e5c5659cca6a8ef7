//! Certificate store: PEM files (chain + key) loaded and indexed by SAN names (exact, wildcard).
use rustls::sign::CertifiedKey;
use rustls::SignatureScheme;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

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
    pub kind: CertKind,
    /// DNS names from the SAN extension (lower-case; wildcards as `*.example.org`).
    pub names: Vec<String>,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    /// Serial number, lower-case hex.
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

/// Why a certificate could not be loaded. Messages name the file and never include key bytes.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// Loads a chain and key. `key`: separate key file; `None` = the key is in `pem` too.
pub fn load_cert(pem: &Path, key: Option<&Path>) -> Result<LoadedCert, CertError> {
    let _ = (pem, key);
    todo!()
}

/// Certificates indexed by name; immutable once built (swapped whole on reload).
#[derive(Debug)]
pub struct CertStore {
    _certs: Vec<LoadedCert>,
}

impl CertStore {
    /// `default_name`: name whose certificates serve clients without SNI (or unknown SNI);
    /// `None` = the first certificate's first name. ECDSA is preferred within a name.
    pub fn new(certs: Vec<LoadedCert>, default_name: Option<&str>) -> Result<Self, CertError> {
        let _ = (certs, default_name);
        todo!()
    }

    /// Picks the certificate for `sni` (None: no SNI) given the client's signature schemes:
    /// ECDSA when the schemes allow it, else RSA. Unknown names fall back to the default.
    pub fn lookup(
        &self,
        sni: Option<&str>,
        schemes: &[SignatureScheme],
    ) -> Option<(Arc<CertifiedKey>, CertKind)> {
        let _ = (sni, schemes);
        todo!()
    }

    pub fn certs(&self) -> &[LoadedCert] {
        &self._certs
    }
}
