//! `tlsterm demo`: throwaway certificates for localhost.
//!
//! Job: write a fresh throwaway CA certificate (`demo-ca.pem`, for `curl --cacert`) and a leaf
//! certificate for `localhost`, `127.0.0.1`, `::1` signed by it, chain + key in one PEM file as
//! the loader takes it ([`crate::tls::load_cert`]).
//!
//! A second leaf with an RSA-2048 key (generated with the `rsa` crate, since ring cannot
//! generate RSA keys; signing still goes through rcgen/ring) covers RSA-only clients.
//!
//! Invariants: the CA private key is never written anywhere (it is dropped after signing, so no
//! further certificates can be minted from the CA a user may have trusted); files holding a
//! private key are created with mode 0600; validity is `now - 1 day .. now + 30 days` with `now`
//! passed in ([`generate_certs_at`]).
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256,
};
use rsa::pkcs8::EncodePrivateKey;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Names on the demo leaf certificate.
pub const DEMO_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];
/// File name of the throwaway CA certificate inside the demo directory.
pub const CA_FILE: &str = "demo-ca.pem";
/// File name of the ECDSA leaf (chain + key) inside the demo directory.
pub const ECDSA_FILE: &str = "localhost-ecdsa.pem";
/// File name of the RSA leaf (chain + key) inside the demo directory.
pub const RSA_FILE: &str = "localhost-rsa.pem";

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Writes a throwaway CA (`demo-ca.pem`) and an ECDSA P-256 and an RSA-2048 certificate for
/// `localhost`, `127.0.0.1`, `::1` (chain + key in one PEM each) into `dir`; returns the
/// certificate paths, ECDSA first. Reads the wall clock via [`crate::clock::wall`].
pub fn generate_certs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    generate_certs_at(dir, crate::clock::wall())
}

/// [`generate_certs`] with the current time passed in.
pub fn generate_certs_at(dir: &Path, now: SystemTime) -> std::io::Result<Vec<PathBuf>> {
    let not_before = now.checked_sub(DAY).unwrap_or(now);
    let not_after = now + 30 * DAY;

    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(rcgen_err)?;
    let mut ca_params = CertificateParams::default();
    ca_params.distinguished_name = name("tlsterm demo CA (throwaway)");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.not_before = not_before.into();
    ca_params.not_after = not_after.into();
    let ca_cert = ca_params.self_signed(&ca_key).map_err(rcgen_err)?;

    let ecdsa_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(rcgen_err)?;
    let ecdsa = leaf(&ecdsa_key, &ca_cert, &ca_key, not_before, not_after)?;
    let rsa_key = generate_rsa_2048()?;
    let rsa = leaf(&rsa_key, &ca_cert, &ca_key, not_before, not_after)?;

    std::fs::create_dir_all(dir)?;
    write_file(&dir.join(CA_FILE), ca_cert.pem().as_bytes(), 0o644)?;
    let mut paths = Vec::new();
    for (file, cert, key) in [(ECDSA_FILE, &ecdsa, &ecdsa_key), (RSA_FILE, &rsa, &rsa_key)] {
        let path = dir.join(file);
        let bundle = format!("{}{}", cert.pem(), key.serialize_pem());
        write_file(&path, bundle.as_bytes(), 0o600)?;
        paths.push(path);
    }
    Ok(paths)
}

/// A leaf for [`DEMO_NAMES`] with `key`, signed by the CA.
fn leaf(
    key: &KeyPair,
    ca_cert: &rcgen::Certificate,
    ca_key: &KeyPair,
    not_before: SystemTime,
    not_after: SystemTime,
) -> std::io::Result<rcgen::Certificate> {
    let names: Vec<String> = DEMO_NAMES.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).map_err(rcgen_err)?;
    params.distinguished_name = name("localhost");
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = not_before.into();
    params.not_after = not_after.into();
    params.signed_by(key, ca_cert, ca_key).map_err(rcgen_err)
}

/// A fresh RSA-2048 key pair (the `rsa` crate generates; ring signs).
fn generate_rsa_2048() -> std::io::Result<KeyPair> {
    let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048)
        .map_err(|e| std::io::Error::other(format!("RSA key generation: {e}")))?;
    let der = key
        .to_pkcs8_der()
        .map_err(|e| std::io::Error::other(format!("RSA key encoding: {e}")))?;
    KeyPair::from_pkcs8_der_and_sign_algo(&der.as_bytes().into(), &PKCS_RSA_SHA256)
        .map_err(rcgen_err)
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

fn rcgen_err(e: rcgen::Error) -> std::io::Error {
    std::io::Error::other(format!("demo certificate generation: {e}"))
}

/// Replaces `path` with `contents`, created with `mode` (a stale file is removed first so the
/// mode of a fresh file applies).
fn write_file(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    f.write_all(contents)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::testutil::{handshake, verifying_client_config, TempDir};
    use crate::tls::{load_cert, server_config, CertKind, CertStore};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;
    use std::time::UNIX_EPOCH;

    #[test]
    fn writes_loadable_ecdsa_cert_with_fixed_validity() {
        let dir = TempDir::new("demo-fixed");
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let paths = generate_certs_at(dir.path(), now).unwrap();
        assert_eq!(paths, [dir.join(ECDSA_FILE), dir.join(RSA_FILE)]);
        let r = load_cert(&paths[1], None).unwrap();
        assert_eq!(r.kind, CertKind::Rsa);
        assert_eq!(r.names, ["localhost", "127.0.0.1", "::1"]);
        let c = load_cert(&paths[0], None).unwrap();
        assert_eq!(c.kind, CertKind::Ecdsa);
        assert_eq!(c.names, ["localhost", "127.0.0.1", "::1"]);
        assert_eq!(c.not_before, now - DAY);
        assert_eq!(c.not_after, now + 30 * DAY);
        assert_eq!(c.certified_key.cert.len(), 1);
        let mode = |f: &str| std::fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(ECDSA_FILE), 0o600);
        assert_eq!(mode(RSA_FILE), 0o600);
        assert_eq!(mode(CA_FILE), 0o644);
        let ca = std::fs::read_to_string(dir.join(CA_FILE)).unwrap();
        assert!(!ca.contains("PRIVATE KEY"));
        // Running again replaces the files.
        generate_certs_at(dir.path(), now).unwrap();
        assert_ne!(
            load_cert(&paths[0], None).unwrap().certified_key.cert[0],
            c.certified_key.cert[0]
        );
    }

    #[test]
    fn demo_ca_verifies_localhost_and_ip() {
        let dir = TempDir::new("demo-verify");
        let paths = generate_certs(dir.path()).unwrap();
        let cert = load_cert(&paths[0], None).unwrap();
        let store = Arc::new(CertStore::new(vec![cert], None).unwrap());
        let server = server_config(store, &[b"http/1.1"]).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_file_iter(dir.join(CA_FILE)).unwrap() {
            roots.add(ca.unwrap()).unwrap();
        }
        let client = verifying_client_config(roots);
        for name in ["localhost", "127.0.0.1", "::1"] {
            let (c, _) = handshake(client.clone(), server.clone(), name).unwrap();
            assert_eq!(c.peer_certificates().unwrap().len(), 1);
        }
        // A name not on the certificate is refused by the verifier.
        assert!(handshake(client, server, "example.org").is_err());
    }
}
