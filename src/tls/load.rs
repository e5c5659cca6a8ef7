//! Loading one certificate chain and its private key from PEM files, as HAProxy and hitch take
//! them: the chain (leaf first) and, unless a separate key file is given, the key in the same file.
//!
//! Job: PEM → [`LoadedCert`] (chain, signing key, SAN names, validity, serial, key kind), with
//! errors that name the file and say what is wrong.
//!
//! Not done here: chain validation against a trust store, expiry decisions (the caller has `now`),
//! OCSP stapling, indexing by name (see [`super::store::CertStore`]).
//!
//! Invariants: an error message never contains key bytes (PEM decoder errors are mapped to our own
//! wording); a returned `LoadedCert` has a non-empty chain whose leaf matches the private key.
use super::store::{CertError, CertKind, LoadedCert};
use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::{InconsistentKeys, SignatureAlgorithm};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::Arc;
use x509_cert::der::Decode;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::Certificate;

fn invalid(path: &Path, reason: impl Into<String>) -> CertError {
    CertError::Invalid {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Our own wording for PEM decoder errors: some of theirs quote input lines.
fn pem_error(e: &pem::Error) -> String {
    match e {
        pem::Error::Io(io) => io.to_string(),
        pem::Error::MissingSectionEnd { .. } => "malformed PEM: section without END line".into(),
        pem::Error::IllegalSectionStart { .. } => "malformed PEM: bad BEGIN line".into(),
        pem::Error::Base64Decode(_) => "malformed PEM: bad base64".into(),
        pem::Error::SectionTooLarge => "malformed PEM: section too large".into(),
        pem::Error::NoItemsFound => "no PEM items found".into(),
        _ => "malformed PEM".into(),
    }
}

/// Loads a chain and key. `key`: separate key file; `None` = the key is in `pem` too.
pub fn load_cert(pem: &Path, key: Option<&Path>) -> Result<LoadedCert, CertError> {
    let pem_bytes = std::fs::read(pem).map_err(|e| invalid(pem, e.to_string()))?;
    let chain = CertificateDer::pem_slice_iter(&pem_bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(pem, pem_error(&e)))?;
    let Some(leaf) = chain.first() else {
        return Err(invalid(pem, "no certificate found"));
    };
    let parsed = Certificate::from_der(leaf.as_ref())
        .map_err(|e| invalid(pem, format!("unparsable certificate: {e}")))?;
    let names = san_names(&parsed).map_err(|e| invalid(pem, e))?;
    let tbs = &parsed.tbs_certificate;
    let not_before = tbs.validity.not_before.to_system_time();
    let not_after = tbs.validity.not_after.to_system_time();
    let serial = serial_hex(tbs.serial_number.as_bytes());

    let key_file;
    let (key_path, key_bytes) = match key {
        Some(path) => {
            key_file = std::fs::read(path).map_err(|e| invalid(path, e.to_string()))?;
            (path, key_file.as_slice())
        }
        None => (pem, pem_bytes.as_slice()),
    };
    let key_der = match PrivateKeyDer::from_pem_slice(key_bytes) {
        Ok(k) => k,
        Err(pem::Error::NoItemsFound) => {
            let reason = if contains(key_bytes, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") {
                "encrypted private keys are not supported"
            } else {
                "no private key found (expected PKCS#8, SEC1 EC or PKCS#1 RSA)"
            };
            return Err(invalid(key_path, reason));
        }
        Err(e) => return Err(invalid(key_path, pem_error(&e))),
    };
    let signing_key = any_supported_type(&key_der)
        .map_err(|_| invalid(key_path, "unsupported key type or malformed private key"))?;
    let kind = match signing_key.algorithm() {
        SignatureAlgorithm::ECDSA => CertKind::Ecdsa,
        SignatureAlgorithm::RSA => CertKind::Rsa,
        other => {
            return Err(invalid(
                key_path,
                format!("unsupported key type {other:?} (only ECDSA and RSA)"),
            ))
        }
    };
    let certified_key = CertifiedKey::new(chain, signing_key);
    match certified_key.keys_match() {
        // ring keys always expose their public key; `Unknown` would only mean "cannot tell".
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            return Err(invalid(
                key_path,
                "private key does not match the certificate",
            ))
        }
        Err(e) => return Err(invalid(pem, format!("unparsable certificate: {e}"))),
    }

    Ok(LoadedCert {
        path: pem.to_path_buf(),
        key_path: key.map(Path::to_path_buf),
        ocsp_path: None,
        staple_next_update: None,
        kind,
        names,
        not_before,
        not_after,
        serial,
        certified_key: Arc::new(certified_key),
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// dNSName SANs lower-cased, then iPAddress SANs in textual form; duplicates removed, order kept.
fn san_names(cert: &Certificate) -> Result<Vec<String>, String> {
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    for ext in cert.tbs_certificate.filter::<SubjectAltName>() {
        let (_critical, san) = ext.map_err(|e| format!("bad subjectAltName extension: {e}"))?;
        for name in san.0 {
            match name {
                GeneralName::DnsName(n) => dns.push(n.as_str().to_ascii_lowercase()),
                GeneralName::IpAddress(octets) => {
                    if let Some(ip) = ip_from_octets(octets.as_bytes()) {
                        ips.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    dns.extend(ips);
    let mut names: Vec<String> = Vec::with_capacity(dns.len());
    for n in dns {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    Ok(names)
}

fn ip_from_octets(b: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(b) {
        return Some(IpAddr::V4(Ipv4Addr::from(v4)));
    }
    <[u8; 16]>::try_from(b)
        .ok()
        .map(|v6| IpAddr::V6(Ipv6Addr::from(v6)))
}

/// Lower-case hex without leading zero bytes ("00" for a zero serial).
fn serial_hex(bytes: &[u8]) -> String {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let significant = &bytes[start..];
    if significant.is_empty() {
        return "00".into();
    }
    significant.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::testutil::{self, cert_pem, ecdsa_p256, ecdsa_p384, rsa, write, TempDir};
    use rcgen::KeyPair;
    use std::time::{Duration, UNIX_EPOCH};

    fn reason(e: CertError) -> (PathBuf, String) {
        match e {
            CertError::Invalid { path, reason } => (path, reason),
            other => panic!("unexpected {other:?}"),
        }
    }
    use std::path::PathBuf;

    #[test]
    fn loads_ecdsa_chain_and_key_from_one_file() {
        let dir = TempDir::new("load-ecdsa");
        let key = ecdsa_p256();
        let cert = cert_pem(
            &["WWW.Example.org", "*.example.org", "127.0.0.1", "::1"],
            &key,
        );
        let path = write(&dir, "a.pem", &[&cert, &key.serialize_pem()]);
        let c = load_cert(&path, None).unwrap();
        assert_eq!(c.path, path);
        assert_eq!(c.kind, CertKind::Ecdsa);
        assert_eq!(
            c.names,
            ["www.example.org", "*.example.org", "127.0.0.1", "::1"]
        );
        assert_eq!(c.serial, "0a0b");
        // 2020-01-01T00:00:00Z and 2040-01-01T00:00:00Z
        assert_eq!(
            c.not_before,
            UNIX_EPOCH + Duration::from_secs(1_577_836_800)
        );
        assert_eq!(c.not_after, UNIX_EPOCH + Duration::from_secs(2_208_988_800));
        assert_eq!(c.certified_key.cert.len(), 1);
        assert!(c.certified_key.keys_match().is_ok());
    }

    #[test]
    fn loads_p384_key() {
        let dir = TempDir::new("load-p384");
        let c = testutil::loaded(&dir, "a.pem", &["a.test"], &ecdsa_p384());
        assert_eq!(c.kind, CertKind::Ecdsa);
        assert_eq!(c.names, ["a.test"]);
    }

    #[test]
    fn loads_rsa_pkcs8_and_pkcs1() {
        let dir = TempDir::new("load-rsa");
        let key = rsa();
        let cert = cert_pem(&["rsa.test"], &key);
        let p8 = write(&dir, "p8.pem", &[&cert, testutil::RSA_PKCS8]);
        let p1 = write(&dir, "p1.pem", &[&cert, testutil::RSA_PKCS1]);
        for path in [p8, p1] {
            let c = load_cert(&path, None).unwrap();
            assert_eq!(c.kind, CertKind::Rsa);
            assert_eq!(c.names, ["rsa.test"]);
        }
    }

    #[test]
    fn loads_sec1_ec_key() {
        let dir = TempDir::new("load-sec1");
        let key = KeyPair::from_pem(testutil::EC_PKCS8).unwrap();
        let path = write(
            &dir,
            "a.pem",
            &[&cert_pem(&["ec.test"], &key), testutil::EC_SEC1],
        );
        assert_eq!(load_cert(&path, None).unwrap().kind, CertKind::Ecdsa);
    }

    #[test]
    fn key_before_chain_and_separate_key_file() {
        let dir = TempDir::new("load-sep");
        let key = ecdsa_p256();
        let cert = cert_pem(&["a.test"], &key);
        let swapped = write(&dir, "swapped.pem", &[&key.serialize_pem(), &cert]);
        assert_eq!(load_cert(&swapped, None).unwrap().names, ["a.test"]);
        let crt = write(&dir, "a.crt", &[&cert]);
        let k = write(&dir, "a.key", &[&key.serialize_pem()]);
        let c = load_cert(&crt, Some(&k)).unwrap();
        assert_eq!(c.path, crt);
    }

    #[test]
    fn key_mismatch_is_refused() {
        let dir = TempDir::new("load-mismatch");
        let cert = cert_pem(&["a.test"], &ecdsa_p256());
        let other = ecdsa_p256().serialize_pem();
        let path = write(&dir, "a.pem", &[&cert, &other]);
        let (p, r) = reason(load_cert(&path, None).unwrap_err());
        assert_eq!(p, path);
        assert_eq!(r, "private key does not match the certificate");
        // RSA certificate with an ECDSA key: also a mismatch.
        let path = write(&dir, "b.pem", &[&cert_pem(&["a.test"], &rsa()), &other]);
        let e = load_cert(&path, None).unwrap_err().to_string();
        assert!(e.ends_with("does not match the certificate"), "{e}");
        assert!(!e.contains(other.lines().nth(1).unwrap()), "{e}");
    }

    #[test]
    fn missing_file_names_it() {
        let dir = TempDir::new("load-missing");
        let path = dir.join("nope.pem");
        let e = load_cert(&path, None).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("{}: No such file", path.display())),
            "{text}"
        );
        assert!(text.contains("No such file"), "{text}");
        let key = dir.join("nope.key");
        let crt = write(&dir, "a.crt", &[&cert_pem(&["a.test"], &ecdsa_p256())]);
        let (p, _) = reason(load_cert(&crt, Some(&key)).unwrap_err());
        assert_eq!(p, key);
    }

    #[test]
    fn no_key_and_no_cert() {
        let dir = TempDir::new("load-nokey");
        let key = ecdsa_p256();
        let only_cert = write(&dir, "c.pem", &[&cert_pem(&["a.test"], &key)]);
        let (_, r) = reason(load_cert(&only_cert, None).unwrap_err());
        assert_eq!(
            r,
            "no private key found (expected PKCS#8, SEC1 EC or PKCS#1 RSA)"
        );
        let only_key = write(&dir, "k.pem", &[&key.serialize_pem()]);
        let (_, r) = reason(load_cert(&only_key, None).unwrap_err());
        assert_eq!(r, "no certificate found");
        let enc = write(
            &dir,
            "e.pem",
            &[
                &cert_pem(&["a.test"], &key),
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
            ],
        );
        let (_, r) = reason(load_cert(&enc, None).unwrap_err());
        assert_eq!(r, "encrypted private keys are not supported");
    }

    #[test]
    fn ed25519_is_unsupported() {
        let dir = TempDir::new("load-ed");
        let key = KeyPair::from_pem(testutil::ED25519_PKCS8).unwrap();
        let path = write(
            &dir,
            "a.pem",
            &[&cert_pem(&["a.test"], &key), testutil::ED25519_PKCS8],
        );
        let (_, r) = reason(load_cert(&path, None).unwrap_err());
        assert!(r.starts_with("unsupported key type"), "{r}");
    }

    #[test]
    fn garbage_certificate_and_bad_pem() {
        let dir = TempDir::new("load-garbage");
        let key = ecdsa_p256();
        let bogus = "-----BEGIN CERTIFICATE-----\nAAECAwQ=\n-----END CERTIFICATE-----\n";
        let path = write(&dir, "a.pem", &[bogus, &key.serialize_pem()]);
        let (_, r) = reason(load_cert(&path, None).unwrap_err());
        assert!(r.starts_with("unparsable certificate: "), "{r}");
        let cut = cert_pem(&["a.test"], &key);
        let cut = &cut[..cut.len() - 30];
        let path = write(&dir, "b.pem", &[cut]);
        let (_, r) = reason(load_cert(&path, None).unwrap_err());
        assert_eq!(r, "malformed PEM: section without END line");
    }

    #[test]
    fn serial_hex_strips_leading_zero_bytes() {
        assert_eq!(serial_hex(&[0x00, 0x00, 0x01, 0xab]), "01ab");
        assert_eq!(serial_hex(&[0x7f]), "7f");
        assert_eq!(serial_hex(&[0x00]), "00");
    }
}
