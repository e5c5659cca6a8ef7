//! Fuzz target: `tlsterm::tls::ocsp::validate(data, &chain, now)` with a fixed chain and a fixed
//! `now`.
//!
//! The chain ("Fuzz CA" → "leaf.fuzz", EC P-256) and `now` (fixtures/NOW, Unix seconds) were
//! made once by fixtures/make.sh and are committed; the seeds in seeds/ocsp_validate/ are real
//! `openssl ocsp` responses for that chain (good by the CA and by a delegated responder,
//! revoked, unknown, SHA-256 CertID, key-id responder id), so mutations start from inputs that
//! reach the signature and CertID checks.
//!
//! Input: the DER bytes of a candidate OCSPResponse.
//!
//! Checked beyond "no panic": an accepted staple keeps the exact input bytes, is current at
//! `now` (its own `is_current` agrees with the validator), has `thisUpdate <= nextUpdate`, and
//! validating the same bytes again gives the same answer (pure, deterministic). Errors render.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rustls_pki_types::CertificateDer;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};
use tlsterm::tls::ocsp::validate;

const LEAF: &[u8] = include_bytes!("../fixtures/leaf.der");
const CA: &[u8] = include_bytes!("../fixtures/ca.der");
const NOW: &str = include_str!("../fixtures/NOW");

fn fixed() -> &'static (Vec<CertificateDer<'static>>, SystemTime) {
    static FIXED: OnceLock<(Vec<CertificateDer<'static>>, SystemTime)> = OnceLock::new();
    FIXED.get_or_init(|| {
        let secs: u64 = NOW.trim().parse().expect("fixtures/NOW holds Unix seconds");
        let chain = vec![CertificateDer::from(LEAF), CertificateDer::from(CA)];
        (chain, SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
    })
}

/// `TLSTERM_FUZZ_DEBUG=1` prints each verdict (for triage: run the binary on one input).
fn debug() -> bool {
    static DEBUG: OnceLock<bool> = OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("TLSTERM_FUZZ_DEBUG").is_some())
}

fuzz_target!(|data: &[u8]| {
    let (chain, now) = fixed();
    let verdict = validate(data, chain, *now);
    if debug() {
        eprintln!("verdict: {verdict:?}");
    }
    match verdict {
        Ok(staple) => {
            assert_eq!(
                staple.der, data,
                "staple bytes differ from the validated input"
            );
            assert!(staple.this_update <= staple.next_update);
            assert!(
                staple.is_current(*now),
                "accepted a staple that is not current: {staple:?}"
            );
            let _ = staple.refresh_at();
            let _ = staple.seconds_until_expiry(*now);
            let again = validate(data, chain, *now).expect("second validation of the same bytes");
            assert!(again == staple, "validation is not deterministic");
        }
        Err(e) => {
            let _ = e.to_string();
            let _ = e.label();
            assert!(
                validate(data, chain, *now).is_err(),
                "validation is not deterministic"
            );
        }
    }
});
