//! `tlsterm demo`: throwaway certificates for localhost.
//!
//! Job: write a fresh throwaway CA certificate (`demo-ca.pem`, for `curl --cacert`) and a leaf
//! certificate for `localhost`, `127.0.0.1`, `::1` signed by it, chain + key in one PEM file as
//! the loader takes it ([`crate::tls::load_cert`]).
//!
//! Not done here: RSA. ring (rcgen's backend here) cannot generate RSA keys and no other key
//! generator is a dependency, so the demo serves ECDSA P-256 only.
//!
//! Invariants: the CA private key is never written anywhere (it is dropped after signing, so no
//! further certificates can be minted from the CA a user may have trusted); files holding a
//! private key are created with mode 0600; validity is `now - 1 day .. now + 30 days` with `now`
//! passed in ([`generate_certs_at`]).
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
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

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Writes a throwaway CA (`demo-ca.pem`) and an ECDSA P-256 certificate for `localhost`,
/// `127.0.0.1`, `::1` (chain + key in one PEM) into `dir`; returns the certificate paths
/// (ECDSA first; no RSA, see the module doc). Reads the wall clock via [`crate::clock::wall`].
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

    let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(rcgen_err)?;
    let names: Vec<String> = DEMO_NAMES.iter().map(|n| n.to_string()).collect();
    let mut leaf_params = CertificateParams::new(names).map_err(rcgen_err)?;
    leaf_params.distinguished_name = name("localhost");
    leaf_params.is_ca = IsCa::ExplicitNoCa;
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.not_before = not_before.into();
    leaf_params.not_after = not_after.into();
    let leaf = leaf_params
        .signed_by(&leaf_key, &ca_cert, &ca_key)
        .map_err(rcgen_err)?;

    std::fs::create_dir_all(dir)?;
    write_file(&dir.join(CA_FILE), ca_cert.pem().as_bytes(), 0o644)?;
    let ecdsa_path = dir.join(ECDSA_FILE);
    let bundle = format!("{}{}", leaf.pem(), leaf_key.serialize_pem());
    write_file(&ecdsa_path, bundle.as_bytes(), 0o600)?;
    Ok(vec![ecdsa_path])
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
