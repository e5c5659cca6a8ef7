//! The OCSP response validator: may these bytes be stapled to this chain at this time?
//!
//! Job: [`validate`] checks, in this order, and stops at the first failure: DER structure;
//! responseStatus successful; a BasicOCSPResponse; the signature over the exact received
//! tbsResponseData bytes, by the issuer (chain[1]) or by a delegated responder certificate
//! included in the response (issued and signed by the issuer, id-kp-OCSPSigning EKU, valid at
//! `now` with the clock-skew allowance on notBefore); a SingleResponse whose CertID names the
//! leaf (serial, issuer name and key hashes with the CertID's own hash: SHA-1, SHA-256,
//! SHA-384 or SHA-512); status good; `thisUpdate` ≤ `now` plus [`MAX_CLOCK_SKEW`]; a
//! `nextUpdate` present and > `now`. The signature is checked before any content is believed,
//! so an unsigned "revoked" reads as a bad signature.
//!
//! Not done here: fetching, files, nonces (stapled responses are pre-signed and shared by all
//! clients, so they carry none), CRL or chain-to-root validation of our own chain (the operator
//! configured it), the id-pkix-ocsp-nocheck extension (irrelevant to a stapling server).
//!
//! Invariants: pure and deterministic (bytes, chain and `now` in); never panics on response
//! bytes; signatures are verified by rustls's ring algorithms (the same set rustls trusts for
//! TLS), matched on the exact AlgorithmIdentifier DER, so no key parsing happens here.

use super::cert::{cert_id_matches, key_sha1, parse, serial_hex};
use super::{OcspError, Staple, MAX_CLOCK_SKEW, MAX_RESPONSE_LEN};
use der::asn1::{AnyRef, BitString, ObjectIdentifier};
use der::{Decode, Encode, Reader, SliceReader};
use rustls::pki_types::CertificateDer;
use std::time::SystemTime;
use x509_cert::ext::pkix::ExtendedKeyUsage;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_ocsp::{
    BasicOcspResponse, CertStatus, OcspResponse, OcspResponseStatus, ResponderId, SingleResponse,
};

/// id-pkix-ocsp-basic.
const ID_PKIX_OCSP_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
/// id-kp-OCSPSigning.
const ID_KP_OCSP_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.9");
/// id-ce-extKeyUsage.
const ID_CE_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");

/// Why a delegated responder was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResponderProblem {
    /// The ResponderID names neither the issuer nor a certificate included in the response.
    #[error("signer is neither the issuer nor a certificate included in the response")]
    NotFound,
    /// The responder certificate's issuer name or signature is not the issuer's.
    #[error("responder certificate was not issued by the certificate's issuer")]
    NotIssuedByIssuer,
    #[error("responder certificate lacks the OCSP-signing extended key usage")]
    NoOcspSigningEku,
    /// now + [`MAX_CLOCK_SKEW`] < notBefore, or now > notAfter of the responder certificate.
    #[error("responder certificate is not valid now")]
    NotValidNow,
}

fn malformed(what: &str, e: der::Error) -> OcspError {
    OcspError::Malformed(format!("{what}: {e}"))
}

fn status_name(s: OcspResponseStatus) -> &'static str {
    match s {
        OcspResponseStatus::Successful => "successful",
        OcspResponseStatus::MalformedRequest => "malformedRequest",
        OcspResponseStatus::InternalError => "internalError",
        OcspResponseStatus::TryLater => "tryLater",
        OcspResponseStatus::SigRequired => "sigRequired",
        OcspResponseStatus::Unauthorized => "unauthorized",
    }
}

/// Validates `response_der` (a complete DER `OCSPResponse`) for `chain` (leaf first, then its
/// issuer) at wall time `now`. See the module docs for the checks and their order.
pub fn validate(
    response_der: &[u8],
    chain: &[CertificateDer<'_>],
    now: SystemTime,
) -> Result<Staple, OcspError> {
    if response_der.len() > MAX_RESPONSE_LEN {
        return Err(OcspError::TooLarge);
    }
    let leaf_der = chain
        .first()
        .ok_or_else(|| OcspError::BadChain("empty chain".into()))?;
    let issuer_der = chain.get(1).ok_or(OcspError::NoIssuer)?;
    let leaf = parse(leaf_der, "leaf")?;
    let issuer = parse(issuer_der, "issuer")?;

    let response =
        OcspResponse::from_der(response_der).map_err(|e| malformed("OCSPResponse", e))?;
    if response.response_status != OcspResponseStatus::Successful {
        return Err(OcspError::Unsuccessful(status_name(
            response.response_status,
        )));
    }
    let bytes = response
        .response_bytes
        .ok_or_else(|| OcspError::Malformed("successful response without responseBytes".into()))?;
    if bytes.response_type != ID_PKIX_OCSP_BASIC {
        return Err(OcspError::UnsupportedResponseType(
            bytes.response_type.to_string(),
        ));
    }
    let basic_der = bytes.response.as_bytes();
    let basic =
        BasicOcspResponse::from_der(basic_der).map_err(|e| malformed("BasicOCSPResponse", e))?;
    let tbs = first_element(basic_der).map_err(|e| malformed("tbsResponseData", e))?;
    check_signer(&basic, tbs, &issuer, now)?;

    let single = basic
        .tbs_response_data
        .responses
        .iter()
        .find(|r| cert_id_matches(&r.cert_id, &leaf, &issuer))
        .ok_or_else(|| OcspError::WrongCertificate {
            serial: serial_hex(&leaf),
        })?;
    match single.cert_status {
        CertStatus::Good(_) => {}
        CertStatus::Revoked(info) => {
            return Err(OcspError::Revoked {
                since: info.revocation_time.0.to_system_time(),
            })
        }
        CertStatus::Unknown(_) => return Err(OcspError::UnknownStatus),
    }
    let (this_update, next_update) = times(single, now)?;
    Ok(Staple {
        der: response_der.to_vec(),
        this_update,
        next_update,
    })
}

/// thisUpdate and nextUpdate, checked against `now`.
fn times(single: &SingleResponse, now: SystemTime) -> Result<(SystemTime, SystemTime), OcspError> {
    let this_update = single.this_update.0.to_system_time();
    let next_update = single
        .next_update
        .ok_or(OcspError::NoNextUpdate)?
        .0
        .to_system_time();
    if this_update > now + MAX_CLOCK_SKEW {
        return Err(OcspError::NotYetValid { this_update });
    }
    if next_update <= now {
        return Err(OcspError::Expired { next_update });
    }
    Ok((this_update, next_update))
}

/// The complete DER (tag, length, value) of the first element inside the SEQUENCE `seq`: the
/// signed bytes exactly as received, never a re-encoding.
fn first_element(seq: &[u8]) -> Result<&[u8], der::Error> {
    let outer = AnyRef::from_der(seq)?;
    let inner = outer.value();
    let mut reader = SliceReader::new(inner)?;
    let _first: AnyRef<'_> = reader.decode()?;
    let end = usize::try_from(reader.position())?;
    inner
        .get(..end)
        .ok_or_else(|| reader.error(der::ErrorKind::Overlength))
}

/// Whether `rid` designates `cert` (byName: subject equality; byKey: SHA-1 of its key).
fn responder_is(rid: &ResponderId, cert: &Certificate) -> bool {
    match rid {
        ResponderId::ByName(name) => *name == cert.tbs_certificate.subject,
        ResponderId::ByKey(hash) => hash.as_bytes() == key_sha1(cert),
    }
}

/// Finds who signed the response and verifies the signature over `tbs`.
fn check_signer(
    basic: &BasicOcspResponse,
    tbs: &[u8],
    issuer: &Certificate,
    now: SystemTime,
) -> Result<(), OcspError> {
    let rid = &basic.tbs_response_data.responder_id;
    let signer = if responder_is(rid, issuer) {
        issuer
    } else {
        let delegate = basic
            .certs
            .iter()
            .flatten()
            .find(|c| responder_is(rid, c))
            .ok_or(OcspError::ResponderNotAuthorized(
                ResponderProblem::NotFound,
            ))?;
        authorize_delegate(delegate, issuer, now).map_err(OcspError::ResponderNotAuthorized)?;
        delegate
    };
    verify_signature(signer, &basic.signature_algorithm, tbs, &basic.signature)
}

/// RFC 6960 §4.2.2.2: a delegated responder is issued directly by the CA that issued the
/// certificate in question and carries id-kp-OCSPSigning.
fn authorize_delegate(
    delegate: &Certificate,
    issuer: &Certificate,
    now: SystemTime,
) -> Result<(), ResponderProblem> {
    let tbs = &delegate.tbs_certificate;
    if tbs.issuer != issuer.tbs_certificate.subject {
        return Err(ResponderProblem::NotIssuedByIssuer);
    }
    // x509-cert decodes DER strictly, so this re-encoding is the signed TBS byte for byte; if it
    // ever were not, the signature check fails closed.
    let signed = tbs
        .to_der()
        .map_err(|_| ResponderProblem::NotIssuedByIssuer)?;
    verify_signature(
        issuer,
        &delegate.signature_algorithm,
        &signed,
        &delegate.signature,
    )
    .map_err(|_| ResponderProblem::NotIssuedByIssuer)?;
    let eku = tbs
        .extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == ID_CE_EXT_KEY_USAGE)
        .and_then(|e| ExtendedKeyUsage::from_der(e.extn_value.as_bytes()).ok());
    if !eku.is_some_and(|k| k.0.contains(&ID_KP_OCSP_SIGNING)) {
        return Err(ResponderProblem::NoOcspSigningEku);
    }
    // The same allowance for a responder clock ahead of ours as for thisUpdate.
    let validity = &tbs.validity;
    if now + MAX_CLOCK_SKEW < validity.not_before.to_system_time()
        || now > validity.not_after.to_system_time()
    {
        return Err(ResponderProblem::NotValidNow);
    }
    Ok(())
}

/// The AlgorithmIdentifier's contents (OID and parameters, without the SEQUENCE header): the
/// form rustls-pki-types uses to name algorithms.
fn alg_id_contents(alg: &AlgorithmIdentifierOwned) -> Option<Vec<u8>> {
    let der = alg.to_der().ok()?;
    let any = AnyRef::from_der(&der).ok()?;
    Some(any.value().to_vec())
}

/// Verifies `signature` over `message` with `signer`'s public key.
fn verify_signature(
    signer: &Certificate,
    alg: &AlgorithmIdentifierOwned,
    message: &[u8],
    signature: &BitString,
) -> Result<(), OcspError> {
    let spki = &signer.tbs_certificate.subject_public_key_info;
    let unsupported = || {
        OcspError::UnsupportedAlgorithm(format!("{} with a {} key", alg.oid, spki.algorithm.oid))
    };
    let sig_alg = alg_id_contents(alg).ok_or_else(unsupported)?;
    let key_alg = alg_id_contents(&spki.algorithm).ok_or_else(unsupported)?;
    let algs = rustls::crypto::ring::default_provider().signature_verification_algorithms;
    let verifier = algs
        .all
        .iter()
        .find(|a| {
            a.signature_alg_id().as_ref() == sig_alg && a.public_key_alg_id().as_ref() == key_alg
        })
        .ok_or_else(unsupported)?;
    let (Some(key), Some(sig)) = (spki.subject_public_key.as_bytes(), signature.as_bytes()) else {
        return Err(OcspError::BadSignature);
    };
    verifier
        .verify_signature(key, message, sig)
        .map_err(|_| OcspError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::ocsp::testutil::{Pki, Signer, ONE_DAY};
    use std::time::{Duration, UNIX_EPOCH};

    const DAY: Duration = Duration::from_secs(86_400);

    fn err(pki: &Pki, resp: &[u8], leaf: &str) -> OcspError {
        validate(resp, &pki.chain(leaf), pki.now()).unwrap_err()
    }

    fn not_authorized(e: OcspError) -> ResponderProblem {
        match e {
            OcspError::ResponderNotAuthorized(p) => p,
            other => panic!("expected ResponderNotAuthorized, got {other:?}"),
        }
    }

    #[test]
    fn good_signed_by_issuer() {
        let pki = Pki::new("v-issuer", None);
        let chain = pki.chain("good");
        let now = pki.now();
        for extra in [&[][..], &["-resp_key_id"], &["-resp_no_certs"]] {
            let mut args = ONE_DAY.to_vec();
            args.extend_from_slice(extra);
            let resp = pki.respond_to(&pki.request("good", false), Signer::Ca, &args);
            let staple = validate(&resp, &chain, now).unwrap();
            assert_eq!(staple.der, resp);
            assert_eq!(
                staple.next_update.duration_since(staple.this_update).ok(),
                Some(DAY)
            );
            // openssl stamps thisUpdate with its own clock, seconds after `now`.
            let lag = staple
                .this_update
                .duration_since(now - Duration::from_secs(1));
            assert!(
                lag.is_ok_and(|l| l < Duration::from_secs(120)),
                "{staple:?}"
            );
        }
    }

    #[test]
    fn good_signed_by_delegated_rsa_responder_sha1_and_sha256() {
        let pki = Pki::new("v-delegate", None);
        let chain = pki.chain("good");
        for sha256 in [false, true] {
            for extra in [&[][..], &["-resp_key_id"]] {
                let mut args = ONE_DAY.to_vec();
                args.extend_from_slice(extra);
                let resp = pki.respond_to(&pki.request("good", sha256), Signer::Delegate, &args);
                assert_eq!(validate(&resp, &chain, pki.now()).unwrap().der, resp);
            }
        }
        // Without the responder certificate in the response, the signer is unknown.
        let mut args = ONE_DAY.to_vec();
        args.push("-resp_no_certs");
        let resp = pki.respond_to(&pki.request("good", false), Signer::Delegate, &args);
        let e = err(&pki, &resp, "good");
        assert_eq!(not_authorized(e), ResponderProblem::NotFound);
    }

    #[test]
    fn revoked_and_unknown_are_refused() {
        let pki = Pki::new("v-status", None);
        let e = err(&pki, &pki.respond("revoked", Signer::Delegate), "revoked");
        let since = UNIX_EPOCH + Duration::from_secs(1_735_689_600); // 2025-01-01T00:00:00Z
        assert!(
            matches!(e, OcspError::Revoked { since: s } if s == since),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "certificate is revoked (since 2025-01-01T00:00:00Z)"
        );
        let e = err(&pki, &pki.respond("unknown", Signer::Ca), "unknown");
        assert!(matches!(e, OcspError::UnknownStatus), "{e:?}");
    }

    #[test]
    fn response_for_another_certificate() {
        let pki = Pki::new("v-other", None);
        let e = err(&pki, &pki.respond("revoked", Signer::Ca), "good");
        assert!(
            matches!(&e, OcspError::WrongCertificate { serial } if serial == "1001"),
            "{e:?}"
        );
        // Same names, same serial, but another CA: its signature fails with our CA's key.
        let other = Pki::new("v-other-ca", None);
        let e = err(&pki, &other.respond("good", Signer::Ca), "good");
        assert!(matches!(e, OcspError::BadSignature), "{e:?}");
    }

    #[test]
    fn bad_signatures() {
        let pki = Pki::new("v-badsig", None);
        // Self-signed with the CA's name: the responder ID names our issuer, the key is not.
        let e = err(&pki, &pki.respond("good", Signer::Impostor), "good");
        assert!(matches!(e, OcspError::BadSignature), "{e:?}");
        // A flipped bit in the signature (the last byte: no certs follow it).
        let mut args = ONE_DAY.to_vec();
        args.push("-resp_no_certs");
        let good = pki.respond_to(&pki.request("good", false), Signer::Ca, &args);
        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(matches!(
            err(&pki, &flipped, "good"),
            OcspError::BadSignature
        ));
        // The serial changed in the signed data: bad signature, not "another certificate".
        let serial = [0x02, 0x02, 0x10, 0x01];
        let at = good.windows(4).position(|w| w == serial).unwrap();
        let mut edited = good.clone();
        edited[at + 3] = 0x02;
        assert!(matches!(
            err(&pki, &edited, "good"),
            OcspError::BadSignature
        ));
        assert!(validate(&good, &pki.chain("good"), pki.now()).is_ok());
    }

    #[test]
    fn unauthorized_delegates() {
        let pki = Pki::new("v-delegates", None);
        let e = err(&pki, &pki.respond("good", Signer::Stranger), "good");
        assert_eq!(not_authorized(e), ResponderProblem::NotIssuedByIssuer);
        let e = err(&pki, &pki.respond("good", Signer::NoEku), "good");
        assert_eq!(not_authorized(e), ResponderProblem::NoOcspSigningEku);
        // A 30-day response by a responder certificate valid one day.
        let req = pki.request("good", false);
        let resp = pki.respond_to(&req, Signer::ShortLived, &["-ndays", "30"]);
        let chain = pki.chain("good");
        assert!(validate(&resp, &chain, pki.now()).is_ok());
        let e = validate(&resp, &chain, pki.now() + 2 * DAY).unwrap_err();
        assert_eq!(not_authorized(e), ResponderProblem::NotValidNow);
    }

    #[test]
    fn validity_window_with_skew() {
        let pki = Pki::new("v-time", None);
        let chain = pki.chain("good");
        // Signed by the CA: a delegate issued just now would not be valid before `now`.
        let resp = pki.respond("good", Signer::Ca);
        let s = validate(&resp, &chain, pki.now()).unwrap();
        let (this, next) = (s.this_update, s.next_update);
        assert!(validate(&resp, &chain, next - Duration::from_secs(1)).is_ok());
        let e = validate(&resp, &chain, next).unwrap_err();
        assert!(matches!(e, OcspError::Expired { next_update } if next_update == next));
        assert!(validate(&resp, &chain, this - MAX_CLOCK_SKEW).is_ok());
        let early = this - MAX_CLOCK_SKEW - Duration::from_secs(1);
        let e = validate(&resp, &chain, early).unwrap_err();
        assert!(matches!(e, OcspError::NotYetValid { this_update } if this_update == this));
        // No -ndays: openssl omits nextUpdate.
        let forever = pki.respond_to(&pki.request("good", false), Signer::Ca, &[]);
        let e = validate(&forever, &chain, pki.now()).unwrap_err();
        assert!(matches!(e, OcspError::NoNextUpdate), "{e:?}");
    }

    #[test]
    fn unsuccessful_unsupported_and_chain_errors() {
        let pki = Pki::new("v-misc", None);
        let chain = pki.chain("good");
        let now = pki.now();
        let later = OcspResponse::try_later().to_der().unwrap();
        let e = validate(&later, &chain, now).unwrap_err();
        assert_eq!(
            e.to_string(),
            "OCSP responder answered tryLater instead of successful"
        );
        let good = pki.respond("good", Signer::Ca);
        let mut odd = OcspResponse::from_der(&good).unwrap();
        odd.response_bytes.as_mut().unwrap().response_type = ID_KP_OCSP_SIGNING;
        let e = validate(&odd.to_der().unwrap(), &chain, now).unwrap_err();
        assert!(matches!(&e, OcspError::UnsupportedResponseType(t) if t == "1.3.6.1.5.5.7.3.9"));
        let e = validate(&good, &chain[..1], now).unwrap_err();
        assert_eq!(e.to_string(), "no issuer certificate in the chain");
        assert!(matches!(
            validate(&good, &[], now),
            Err(OcspError::BadChain(_))
        ));
        let junk = [chain[0].clone(), CertificateDer::from(&b"junk"[..])];
        assert!(matches!(
            validate(&good, &junk, now),
            Err(OcspError::BadChain(_))
        ));
        let huge = vec![0u8; MAX_RESPONSE_LEN + 1];
        assert!(matches!(
            validate(&huge, &chain, now),
            Err(OcspError::TooLarge)
        ));
    }

    #[test]
    fn malformed_truncated_and_mutated_never_panic() {
        let pki = Pki::new("v-malformed", None);
        let chain = pki.chain("good");
        let now = pki.now();
        for bytes in [&b""[..], b"junk", &[0x30, 0x03, 0x0a, 0x01, 0x00]] {
            let e = validate(bytes, &chain, now).unwrap_err();
            assert!(matches!(e, OcspError::Malformed(_)), "{bytes:?}: {e:?}");
        }
        // With certs (delegate) and without: every strict prefix is malformed.
        for resp in [
            pki.respond("good", Signer::Delegate),
            pki.respond("good", Signer::Ca),
        ] {
            assert!(validate(&resp, &chain, now).is_ok());
            for len in 0..resp.len() {
                let e = validate(&resp[..len], &chain, now).unwrap_err();
                assert!(matches!(e, OcspError::Malformed(_)), "prefix {len}: {e:?}");
            }
            let mut trailing = resp.clone();
            trailing.push(0);
            let e = validate(&trailing, &chain, now).unwrap_err();
            assert!(matches!(e, OcspError::Malformed(_)), "{e:?}");
            // Any single byte changed: an answer (mostly errors), never a panic.
            for i in 0..resp.len() {
                for x in [0x01, 0x80, 0xff] {
                    let mut m = resp.clone();
                    m[i] ^= x;
                    let _ = validate(&m, &chain, now);
                }
            }
        }
    }

    #[test]
    fn first_element_is_exact() {
        let seq = [0x30, 0x06, 0x02, 0x01, 0x05, 0x04, 0x01, 0xaa];
        assert_eq!(first_element(&seq).unwrap(), &[0x02, 0x01, 0x05]);
        assert!(first_element(&[0x30, 0x00]).is_err());
        assert!(first_element(&[0x30, 0x03, 0x02, 0x05, 0x00]).is_err());
    }
}
