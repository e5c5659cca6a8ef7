//! OCSP stapling: validating responses, loading the `.ocsp` file beside a certificate, and the
//! optional built-in fetcher.
//!
//! Job: decide whether a DER OCSP response may be stapled to a certificate chain ([`validate`],
//! pure: bytes + chain + wall time in, [`Staple`] or a precise [`OcspError`] out), read the
//! HAProxy-style `<cert file>.ocsp` ([`load_staple`], [`default_ocsp_path`]), read the OCSP
//! facts of a certificate ([`ocsp_url`], [`must_staple`]), fetch a fresh response from the
//! responder and store it atomically ([`fetch_staple`], blocking I/O, kept in `fetch.rs`), and
//! say when to fetch next ([`FetchSchedule`], pure).
//!
//! Layout: `validate.rs` (the validator and signature checks), `cert.rs` (CertID, AIA, TLS
//! feature, the OCSP request), `http.rs` (HTTP/1.1 framing, pure), `fetch.rs` (the POST over
//! `std::net`, atomic write — the only file doing I/O besides [`load_staple`]'s one read),
//! `schedule.rs` (refresh/backoff), `testutil.rs` (openssl-made fixtures, tests only).
//!
//! Not done here: watching files, swapping staples into the served `CertifiedKey`s on every
//! shard, metrics and logging (the reload plumbing calls these functions and decides); reading
//! the clock (`now` is always passed in); HTTPS responders (OCSP is plain HTTP by design).
//!
//! Invariants: a [`Staple`] exists only for a response that passed every check at the `now` it
//! was validated with; its `der` is the exact bytes that were checked (it is what clients see).
//! Nothing here panics on response bytes, however malformed or truncated.
//! Clock skew: `thisUpdate` may be up to [`MAX_CLOCK_SKEW`] (5 minutes) in the future, because
//! responders stamp responses with their own clock; `nextUpdate` gets no grace — an expired
//! response is never stapled.

mod cert;
mod fetch;
mod http;
mod schedule;
#[cfg(test)]
mod testutil;
mod validate;

pub use cert::{must_staple, ocsp_request_der, ocsp_url};
pub use fetch::{fetch_staple, write_atomic, FetchError, HttpError};
pub use schedule::{FetchSchedule, MAX_BACKOFF, MIN_BACKOFF};
pub use validate::{validate, ResponderProblem};

use rustls::pki_types::CertificateDer;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How far in the future a response's `thisUpdate` may be (responder clock ahead of ours).
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// Largest OCSP response accepted, from a file or from a responder (real ones are 0.5–5 KiB).
pub const MAX_RESPONSE_LEN: usize = 64 * 1024;

/// A validated OCSP response, ready to be put in `CertifiedKey::ocsp`.
#[derive(Clone, PartialEq, Eq)]
pub struct Staple {
    /// The complete DER `OCSPResponse`, exactly as validated.
    pub der: Vec<u8>,
    /// `thisUpdate` of the matching SingleResponse.
    pub this_update: SystemTime,
    /// `nextUpdate` of the matching SingleResponse: the staple must not be served after it.
    pub next_update: SystemTime,
}

impl std::fmt::Debug for Staple {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Staple")
            .field("len", &self.der.len())
            .field("this_update", &fmt_time(self.this_update))
            .field("next_update", &fmt_time(self.next_update))
            .finish()
    }
}

impl Staple {
    /// When a fresh response should be fetched: half-way through the validity window
    /// (`thisUpdate + (nextUpdate − thisUpdate) / 2`), as the CA/B Forum expects.
    pub fn refresh_at(&self) -> SystemTime {
        let window = self
            .next_update
            .duration_since(self.this_update)
            .unwrap_or(Duration::ZERO);
        self.this_update + window / 2
    }

    /// Whether the staple may be served at `now` (same time rules as [`validate`]).
    pub fn is_current(&self, now: SystemTime) -> bool {
        now + MAX_CLOCK_SKEW >= self.this_update && now < self.next_update
    }

    /// Seconds from `now` until `nextUpdate`; negative once expired (for the metric).
    pub fn seconds_until_expiry(&self, now: SystemTime) -> f64 {
        match self.next_update.duration_since(now) {
            Ok(left) => left.as_secs_f64(),
            Err(past) => -past.duration().as_secs_f64(),
        }
    }
}

/// Why an OCSP response is not stapled. Every variant but [`OcspError::Read`] and
/// [`OcspError::BadChain`] is the responder's (or the `.ocsp` file's) fault.
#[derive(Debug, thiserror::Error)]
pub enum OcspError {
    /// Not DER, truncated, trailing bytes, or a structure that does not follow RFC 6960.
    #[error("malformed OCSP response: {0}")]
    Malformed(String),
    /// responseStatus other than successful (e.g. `tryLater`, `unauthorized`).
    #[error("OCSP responder answered {0} instead of successful")]
    Unsuccessful(&'static str),
    /// responseType other than id-pkix-ocsp-basic (the only type RFC 6960 defines).
    #[error("unsupported OCSP response type {0}")]
    UnsupportedResponseType(String),
    /// The chain has only the leaf: the issuer is needed to check the CertID and signature.
    #[error("no issuer certificate in the chain")]
    NoIssuer,
    /// A certificate of our own chain cannot be parsed (configuration fault).
    #[error("certificate chain unusable for OCSP: {0}")]
    BadChain(String),
    /// No SingleResponse names this certificate (serial, issuer name and key hashes).
    #[error("OCSP response is for another certificate (no entry for serial {serial})")]
    WrongCertificate { serial: String },
    #[error("certificate is revoked (since {})", fmt_time(*since))]
    Revoked { since: SystemTime },
    #[error("OCSP responder does not know the certificate (status unknown)")]
    UnknownStatus,
    /// The signature over tbsResponseData does not verify with the signer's key.
    #[error("OCSP response signature does not verify")]
    BadSignature,
    /// The signature or key algorithm is not one ring verifies (e.g. SHA-1 RSA, DSA).
    #[error("unsupported OCSP signature algorithm {0}")]
    UnsupportedAlgorithm(String),
    /// The response was signed by someone the issuer did not delegate to.
    #[error("OCSP responder not authorized: {0}")]
    ResponderNotAuthorized(ResponderProblem),
    #[error("OCSP response not yet valid (thisUpdate {})", fmt_time(*this_update))]
    NotYetValid { this_update: SystemTime },
    #[error("OCSP response expired (nextUpdate {})", fmt_time(*next_update))]
    Expired { next_update: SystemTime },
    /// RFC 6960 allows omitting nextUpdate ("newer information is always available"); such a
    /// response could be served forever, so it is refused.
    #[error("OCSP response has no nextUpdate; refusing a response without an expiry")]
    NoNextUpdate,
    #[error("OCSP response larger than {MAX_RESPONSE_LEN} bytes")]
    TooLarge,
    /// The `.ocsp` file exists but cannot be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl OcspError {
    /// Closed set of metric label values, one per variant.
    pub fn label(&self) -> &'static str {
        match self {
            OcspError::Malformed(_) => "malformed",
            OcspError::Unsuccessful(_) => "unsuccessful",
            OcspError::UnsupportedResponseType(_) => "unsupported_type",
            OcspError::NoIssuer => "no_issuer",
            OcspError::BadChain(_) => "bad_chain",
            OcspError::WrongCertificate { .. } => "wrong_certificate",
            OcspError::Revoked { .. } => "revoked",
            OcspError::UnknownStatus => "unknown_status",
            OcspError::BadSignature => "bad_signature",
            OcspError::UnsupportedAlgorithm(_) => "unsupported_algorithm",
            OcspError::ResponderNotAuthorized(_) => "responder_not_authorized",
            OcspError::NotYetValid { .. } => "not_yet_valid",
            OcspError::Expired { .. } => "expired",
            OcspError::NoNextUpdate => "no_next_update",
            OcspError::TooLarge => "too_large",
            OcspError::Read { .. } => "read",
        }
    }
}

/// `2026-01-02T03:04:05Z`, or the raw duration since the epoch when out of DER's range.
pub(crate) fn fmt_time(t: SystemTime) -> String {
    match der::DateTime::from_system_time(t) {
        Ok(dt) => dt.to_string(),
        Err(_) => format!("{t:?}"),
    }
}

/// HAProxy's convention: the response for `cert.pem` lives in `cert.pem.ocsp`.
pub fn default_ocsp_path(pem: &Path) -> PathBuf {
    let mut name = pem.as_os_str().to_owned();
    name.push(".ocsp");
    PathBuf::from(name)
}

/// Reads and validates the staple file for `chain`.
///
/// `Ok(None)`: no file, or an empty file (HAProxy accepts an empty `.ocsp` as "no response
/// yet", and deployments create them as placeholders). Errors other than [`OcspError::Read`]
/// do not name the file: the caller adds the path to its log line.
pub fn load_staple(
    ocsp_path: &Path,
    chain: &[CertificateDer<'_>],
    now: SystemTime,
) -> Result<Option<Staple>, OcspError> {
    let bytes = match std::fs::read(ocsp_path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(OcspError::Read {
                path: ocsp_path.to_owned(),
                source,
            })
        }
    };
    if bytes.is_empty() {
        return Ok(None);
    }
    if bytes.len() > MAX_RESPONSE_LEN {
        return Err(OcspError::TooLarge);
    }
    validate(&bytes, chain, now).map(Some)
}

/// A copy of `key` serving `staple` (or no staple), for the reload plumbing.
pub fn with_staple(
    key: &rustls::sign::CertifiedKey,
    staple: Option<&Staple>,
) -> rustls::sign::CertifiedKey {
    let mut key = key.clone();
    key.ocsp = staple.map(|s| s.der.clone());
    key
}

#[cfg(test)]
mod tests {
    use super::testutil::{Pki, Signer};
    use super::*;
    use rustls::pki_types::pem::PemObject;
    use std::time::UNIX_EPOCH;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn default_path_appends_ocsp() {
        assert_eq!(
            default_ocsp_path(Path::new("/etc/ssl/site.pem")),
            PathBuf::from("/etc/ssl/site.pem.ocsp")
        );
        assert_eq!(
            default_ocsp_path(Path::new("rel/a.crt")),
            PathBuf::from("rel/a.crt.ocsp")
        );
    }

    #[test]
    fn staple_helpers() {
        let s = Staple {
            der: vec![1, 2, 3],
            this_update: at(1_000),
            next_update: at(2_000),
        };
        assert_eq!(s.refresh_at(), at(1_500));
        assert!(s.is_current(at(1_000)));
        assert!(s.is_current(at(1_999)));
        assert!(!s.is_current(at(2_000)));
        assert!(s.is_current(at(1_000 - 300)));
        assert!(!s.is_current(at(1_000 - 301)));
        assert_eq!(s.seconds_until_expiry(at(1_250)), 750.0);
        assert_eq!(s.seconds_until_expiry(at(2_010)), -10.0);
        assert_eq!(
            format!("{s:?}"),
            "Staple { len: 3, this_update: \"1970-01-01T00:16:40Z\", \
             next_update: \"1970-01-01T00:33:20Z\" }"
        );
    }

    #[test]
    fn load_staple_file_cases() {
        let pki = Pki::new("ocsp-load", None);
        let chain = pki.chain("good");
        let now = pki.now();
        let path = default_ocsp_path(&pki.dir.join("good.pem"));
        assert!(load_staple(&path, &chain, now).unwrap().is_none());
        std::fs::write(&path, b"").unwrap();
        assert!(load_staple(&path, &chain, now).unwrap().is_none());
        let good = pki.respond("good", Signer::Delegate);
        std::fs::write(&path, &good).unwrap();
        let staple = load_staple(&path, &chain, now).unwrap().unwrap();
        assert_eq!(staple.der, good);
        std::fs::write(&path, pki.respond("revoked", Signer::Delegate)).unwrap();
        let e = load_staple(&path, &pki.chain("revoked"), now).unwrap_err();
        assert_eq!(e.label(), "revoked");
        std::fs::write(&path, vec![0x30; MAX_RESPONSE_LEN + 1]).unwrap();
        let e = load_staple(&path, &chain, now).unwrap_err();
        assert!(matches!(e, OcspError::TooLarge), "{e:?}");
        // A directory where the file should be: a read error naming the path.
        let e = load_staple(pki.dir.path(), &chain, now).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("{}: cannot read: ", pki.dir.path().display())),
            "{text}"
        );
        assert_eq!(e.label(), "read");
    }

    #[test]
    fn with_staple_sets_and_clears() {
        let pki = Pki::new("ocsp-with", None);
        let chain = pki.chain("good");
        let key = rustls::crypto::ring::sign::any_supported_type(
            &rustls::pki_types::PrivateKeyDer::from_pem_file(pki.dir.join("good.key")).unwrap(),
        )
        .unwrap();
        let ck = rustls::sign::CertifiedKey::new(chain.clone(), key);
        let staple = validate(&pki.respond("good", Signer::Ca), &chain, pki.now()).unwrap();
        let stapled = with_staple(&ck, Some(&staple));
        assert_eq!(stapled.ocsp.as_deref(), Some(&staple.der[..]));
        assert_eq!(stapled.cert, chain);
        assert_eq!(with_staple(&stapled, None).ocsp, None);
    }
}
