//! What OCSP needs from certificates: the CertID (match and build), the responder URL from
//! Authority Information Access, the must-staple TLS feature, and the DER OCSP request.
//!
//! Not done here: response parsing or signatures (`validate.rs`), network I/O (`fetch.rs`).
//!
//! Invariants: pure functions of certificate bytes; a certificate that cannot be parsed has no
//! OCSP URL and is not must-staple (the loader has already refused unparsable leaves); CertID
//! hashes follow RFC 6960 §4.1.1: the issuer's subject Name DER and the issuer's
//! subjectPublicKey BIT STRING value (without tag, length and unused-bits octet).

use super::OcspError;
use der::asn1::{Null, ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use ring::digest;
use rustls::pki_types::CertificateDer;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::AuthorityInfoAccessSyntax;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_ocsp::{CertId, OcspRequest, Request, TbsRequest};

pub(crate) const ID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
/// id-pe-authorityInfoAccess.
const ID_PE_AIA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.1");
/// id-ad-ocsp.
const ID_AD_OCSP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
/// id-pe-tlsfeature (RFC 7633).
const ID_PE_TLSFEATURE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.24");
/// TLS extension number of status_request, as listed in the TLS feature extension.
const STATUS_REQUEST: u16 = 5;

/// The ring digest for a CertID hash algorithm; `None` for algorithms we do not compute.
fn digest_alg(oid: &ObjectIdentifier) -> Option<&'static digest::Algorithm> {
    match *oid {
        ID_SHA1 => Some(&digest::SHA1_FOR_LEGACY_USE_ONLY),
        ID_SHA256 => Some(&digest::SHA256),
        ID_SHA384 => Some(&digest::SHA384),
        ID_SHA512 => Some(&digest::SHA512),
        _ => None,
    }
}

pub(crate) fn parse(der: &[u8], which: &str) -> Result<Certificate, OcspError> {
    Certificate::from_der(der).map_err(|e| OcspError::BadChain(format!("{which}: {e}")))
}

/// The issuer name and key hashes for `issuer` with `alg`.
fn issuer_hashes(
    issuer: &Certificate,
    alg: &'static digest::Algorithm,
) -> Result<(Vec<u8>, Vec<u8>), OcspError> {
    let tbs = &issuer.tbs_certificate;
    let name = tbs
        .subject
        .to_der()
        .map_err(|e| OcspError::BadChain(format!("issuer subject: {e}")))?;
    let key = tbs.subject_public_key_info.subject_public_key.raw_bytes();
    Ok((
        digest::digest(alg, &name).as_ref().to_vec(),
        digest::digest(alg, key).as_ref().to_vec(),
    ))
}

/// Whether `id` names `leaf` as issued by `issuer`. CertIDs with a hash algorithm we do not
/// compute never match.
pub(crate) fn cert_id_matches(id: &CertId, leaf: &Certificate, issuer: &Certificate) -> bool {
    if id.serial_number != leaf.tbs_certificate.serial_number {
        return false;
    }
    let Some(alg) = digest_alg(&id.hash_algorithm.oid) else {
        return false;
    };
    match issuer_hashes(issuer, alg) {
        Ok((name, key)) => {
            id.issuer_name_hash.as_bytes() == name && id.issuer_key_hash.as_bytes() == key
        }
        Err(_) => false,
    }
}

/// SHA-1 of a certificate's subjectPublicKey value: the ResponderID `byKey` form.
pub(crate) fn key_sha1(cert: &Certificate) -> Vec<u8> {
    let key = cert
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, key)
        .as_ref()
        .to_vec()
}

/// Lower-case hex of a serial number, for messages.
pub(crate) fn serial_hex(cert: &Certificate) -> String {
    cert.tbs_certificate
        .serial_number
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The DER `OCSPRequest` for the chain's leaf: one CertID with SHA-1 (what every responder
/// answers), no nonce (so responders may serve pre-signed responses), unsigned.
pub fn ocsp_request_der(chain: &[CertificateDer<'_>]) -> Result<Vec<u8>, OcspError> {
    let leaf_der = chain
        .first()
        .ok_or_else(|| OcspError::BadChain("empty chain".into()))?;
    let issuer_der = chain.get(1).ok_or(OcspError::NoIssuer)?;
    let leaf = parse(leaf_der, "leaf")?;
    let issuer = parse(issuer_der, "issuer")?;
    let (name, key) = issuer_hashes(&issuer, &digest::SHA1_FOR_LEGACY_USE_ONLY)?;
    let bad = |e: der::Error| OcspError::BadChain(format!("cannot encode the request: {e}"));
    let cert_id = CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: ID_SHA1,
            parameters: Some(Null.into()),
        },
        issuer_name_hash: OctetString::new(name).map_err(bad)?,
        issuer_key_hash: OctetString::new(key).map_err(bad)?,
        serial_number: leaf.tbs_certificate.serial_number.clone(),
    };
    let request = OcspRequest {
        tbs_request: TbsRequest {
            request_list: vec![Request {
                req_cert: cert_id,
                single_request_extensions: None,
            }],
            ..TbsRequest::default()
        },
        optional_signature: None,
    };
    request.to_der().map_err(bad)
}

/// The extension value (inner DER) with `oid`, if the certificate parses and has it.
fn extension(leaf: &CertificateDer<'_>, oid: ObjectIdentifier) -> Option<Vec<u8>> {
    let cert = Certificate::from_der(leaf).ok()?;
    let exts = cert.tbs_certificate.extensions?;
    exts.into_iter()
        .find(|e| e.extn_id == oid)
        .map(|e| e.extn_value.into_bytes())
}

/// The first `http://` OCSP responder URL in the leaf's Authority Information Access extension.
/// `None` when there is none (e.g. Let's Encrypt since 2025): serve without a staple, quietly.
pub fn ocsp_url(leaf: &CertificateDer<'_>) -> Option<String> {
    let value = extension(leaf, ID_PE_AIA)?;
    let aia = AuthorityInfoAccessSyntax::from_der(&value).ok()?;
    aia.0.into_iter().find_map(|ad| match ad.access_location {
        GeneralName::UniformResourceIdentifier(uri) if ad.access_method == ID_AD_OCSP => {
            let uri = uri.as_str();
            let http = uri
                .get(..7)
                .is_some_and(|s| s.eq_ignore_ascii_case("http://"));
            http.then(|| uri.to_owned())
        }
        _ => None,
    })
}

/// Whether the leaf carries the TLS feature extension (RFC 7633) listing status_request: the
/// "OCSP must-staple" certificates that clients refuse without a staple.
pub fn must_staple(leaf: &CertificateDer<'_>) -> bool {
    extension(leaf, ID_PE_TLSFEATURE)
        .and_then(|v| Vec::<u16>::from_der(&v).ok())
        .is_some_and(|features| features.contains(&STATUS_REQUEST))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::ocsp::testutil::{Pki, Signer, ONE_DAY};

    #[test]
    fn url_and_must_staple_from_openssl_extensions() {
        let pki = Pki::new("cert-ext", Some("http://127.0.0.1:8080/ocsp"));
        let leaf = &pki.chain("good")[0];
        assert_eq!(
            ocsp_url(leaf).as_deref(),
            Some("http://127.0.0.1:8080/ocsp")
        );
        assert!(must_staple(leaf));
        // The "revoked" leaf is made without must-staple; the CA has neither extension.
        assert!(!must_staple(&pki.chain("revoked")[0]));
        let ca = &pki.chain("good")[1];
        assert_eq!(ocsp_url(ca), None);
        assert!(!must_staple(ca));
        assert_eq!(ocsp_url(&CertificateDer::from(&b"junk"[..])), None);
        assert!(!must_staple(&CertificateDer::from(&b"junk"[..])));
    }

    #[test]
    fn https_or_missing_url_is_none() {
        let pki = Pki::new("cert-https", Some("https://ocsp.example/"));
        assert_eq!(ocsp_url(&pki.chain("good")[0]), None);
        let pki = Pki::new("cert-nourl", None);
        assert_eq!(ocsp_url(&pki.chain("good")[0]), None);
    }

    #[test]
    fn our_request_matches_openssls_and_is_answered() {
        let pki = Pki::new("cert-req", None);
        let chain = pki.chain("good");
        let ours = ocsp_request_der(&chain).unwrap();
        // Byte-identical to `openssl ocsp -no_nonce -reqout` (SHA-1 CertID, no extensions).
        assert_eq!(ours, pki.request("good", false));
        let resp = pki.respond_to(&ours, Signer::Ca, ONE_DAY);
        let staple = super::super::validate(&resp, &chain, pki.now()).unwrap();
        assert_eq!(staple.der, resp);
    }

    #[test]
    fn request_needs_an_issuer() {
        let pki = Pki::new("cert-noiss", None);
        let chain = pki.chain("good");
        assert!(matches!(
            ocsp_request_der(&chain[..1]),
            Err(OcspError::NoIssuer)
        ));
        assert!(matches!(ocsp_request_der(&[]), Err(OcspError::BadChain(_))));
    }

    #[test]
    fn cert_id_hashes_sha1_and_sha256() {
        let pki = Pki::new("cert-id", None);
        let chain = pki.chain("good");
        let leaf = parse(&chain[0], "leaf").unwrap();
        let issuer = parse(&chain[1], "issuer").unwrap();
        for sha256 in [false, true] {
            let req = OcspRequest::from_der(&pki.request("good", sha256)).unwrap();
            let id = &req.tbs_request.request_list[0].req_cert;
            let want = if sha256 { ID_SHA256 } else { ID_SHA1 };
            assert_eq!(id.hash_algorithm.oid, want);
            assert!(cert_id_matches(id, &leaf, &issuer));
            // Another serial, or the leaf taken as its own issuer: no match.
            let other = parse(&pki.chain("revoked")[0], "leaf").unwrap();
            assert!(!cert_id_matches(id, &other, &issuer));
            assert!(!cert_id_matches(id, &leaf, &leaf));
            let mut unknown_alg = id.clone();
            unknown_alg.hash_algorithm.oid = ID_PE_AIA;
            assert!(!cert_id_matches(&unknown_alg, &leaf, &issuer));
        }
        assert_eq!(serial_hex(&leaf), "1001");
    }
}
