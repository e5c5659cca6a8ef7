//! Test fixtures for OCSP (compiled only for tests): a small PKI and real OCSP responses made
//! by the `openssl` CLI in a temporary directory, and an `openssl ocsp` responder on loopback.
//!
//! Not for production code; helpers panic on failure, as tests should. A missing `openssl`
//! fails the test with a clear message: these tests never skip (ci/test.sh installs openssl).
//!
//! The PKI: "Test CA" (EC P-256); leaves `good` (serial 1001, status V in the index,
//! must-staple, AIA OCSP URL if given), `revoked` (1002, R) and `unknown` (1003, not in the
//! index), all EC P-256 signed by the CA; responder certificates for every [`Signer`].

use crate::tls::testutil::{TempDir, RSA_PKCS8};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::SystemTime;

/// Validity arguments for `openssl ocsp`: nextUpdate one day after thisUpdate.
pub const ONE_DAY: &[&str] = &["-ndays", "1"];

/// Who signs a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    /// The CA itself.
    Ca,
    /// Delegated responder (RSA 2048): issued by the CA, EKU OCSPSigning, valid 30 days.
    Delegate,
    /// Issued by the CA but without the OCSPSigning EKU.
    NoEku,
    /// Issued by the CA, EKU OCSPSigning, valid only one day.
    ShortLived,
    /// Self-signed "Stranger" with EKU OCSPSigning: not issued by the CA.
    Stranger,
    /// Self-signed with the CA's own name ("Test CA") but another key.
    Impostor,
}

impl Signer {
    fn files(self) -> (&'static str, &'static str) {
        match self {
            Signer::Ca => ("ca.pem", "ca.key"),
            Signer::Delegate => ("delegate.pem", "rsa.key"),
            Signer::NoEku => ("noeku.pem", "noeku.key"),
            Signer::ShortLived => ("short.pem", "short.key"),
            Signer::Stranger => ("stranger.pem", "stranger.key"),
            Signer::Impostor => ("impostor.pem", "impostor.key"),
        }
    }
}

/// Runs `openssl args...` in `dir`; returns stdout. Panics with stderr on failure.
pub fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run the `openssl` CLI ({e}): install openssl; OCSP tests never skip")
        });
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

pub struct Pki {
    pub dir: TempDir,
    now: SystemTime,
}

const EC: &[&str] = &[
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
];

impl Pki {
    /// CA, responder certificates and index file; then the leaves with `ocsp_url` in AIA.
    pub fn new(tag: &str, ocsp_url: Option<&str>) -> Pki {
        let pki = Pki::ca_only(tag);
        pki.make_leaves(ocsp_url);
        pki
    }

    /// Everything but the leaves (so a responder can start before the leaves name its port).
    pub fn ca_only(tag: &str) -> Pki {
        let pki = Pki {
            dir: TempDir::new(tag),
            now: crate::clock::wall(),
        };
        let d = pki.dir.path();
        let mut ca = vec!["req", "-x509", "-keyout", "ca.key", "-out", "ca.pem"];
        ca.extend_from_slice(EC);
        ca.extend_from_slice(&["-subj", "/CN=Test CA", "-days", "30"]);
        ca.extend_from_slice(&["-addext", "basicConstraints=critical,CA:TRUE"]);
        ca.extend_from_slice(&["-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
        openssl(d, &ca);
        std::fs::write(pki.dir.join("rsa.key"), RSA_PKCS8).unwrap();
        let eku = "extendedKeyUsage=OCSPSigning\n";
        pki.issue("delegate", "rsa.key", "/CN=OCSP Responder", "2001", 30, eku);
        pki.issue(
            "noeku",
            "",
            "/CN=No EKU Responder",
            "2002",
            30,
            "keyUsage=digitalSignature\n",
        );
        pki.issue("short", "", "/CN=Short Responder", "2003", 1, eku);
        for (name, subj) in [("stranger", "/CN=Stranger"), ("impostor", "/CN=Test CA")] {
            let (pem, key) = (format!("{name}.pem"), format!("{name}.key"));
            let mut args = vec!["req", "-x509", "-keyout", &key, "-out", &pem];
            args.extend_from_slice(EC);
            args.extend_from_slice(&["-subj", subj, "-days", "30"]);
            args.extend_from_slice(&["-addext", "extendedKeyUsage=OCSPSigning"]);
            openssl(d, &args);
        }
        let index = "V\t491231235959Z\t\t1001\tunknown\t/CN=good.test\n\
                     R\t491231235959Z\t250101000000Z\t1002\tunknown\t/CN=revoked.test\n";
        std::fs::write(pki.dir.join("index.txt"), index).unwrap();
        // After every responder certificate's notBefore (openssl truncates it to the second).
        Pki {
            now: crate::clock::wall(),
            ..pki
        }
    }

    /// The leaves `good`, `revoked`, `unknown`, each written as `<name>.pem` = leaf + CA.
    pub fn make_leaves(&self, ocsp_url: Option<&str>) {
        let aia = ocsp_url
            .map(|u| format!("authorityInfoAccess=OCSP;URI:{u}\n"))
            .unwrap_or_default();
        for (name, serial, extra) in [
            ("good", "1001", "tlsfeature=status_request\n"),
            ("revoked", "1002", ""),
            ("unknown", "1003", ""),
        ] {
            let ext = format!("subjectAltName=DNS:{name}.test\n{aia}{extra}");
            self.issue(name, "", &format!("/CN={name}.test"), serial, 30, &ext);
            let leaf = std::fs::read_to_string(self.dir.join(&format!("{name}.crt"))).unwrap();
            let ca = std::fs::read_to_string(self.dir.join("ca.pem")).unwrap();
            std::fs::write(self.dir.join(&format!("{name}.pem")), leaf + &ca).unwrap();
        }
    }

    /// `<name>.crt` issued by the CA with `ext` (openssl extfile lines); key `<name>.key`
    /// generated (EC P-256) unless `key` names an existing file.
    fn issue(&self, name: &str, key: &str, subj: &str, serial: &str, days: u32, ext: &str) {
        let d = self.dir.path();
        let (csr, crt, ext_file) = (
            format!("{name}.csr"),
            format!("{name}.crt"),
            format!("{name}.ext"),
        );
        let own_key = format!("{name}.key");
        let mut req = vec!["req", "-new", "-subj", subj, "-out", &csr];
        if key.is_empty() {
            req.extend_from_slice(EC);
            req.extend_from_slice(&["-keyout", &own_key]);
        } else {
            req.extend_from_slice(&["-key", key]);
        }
        openssl(d, &req);
        std::fs::write(self.dir.join(&ext_file), ext).unwrap();
        let days = days.to_string();
        let serial = format!("0x{serial}");
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-set_serial",
                &serial,
                "-days",
                &days,
                "-extfile",
                &ext_file,
                "-out",
                &crt,
            ],
        );
        if matches!(name, "delegate" | "noeku" | "short") {
            std::fs::copy(self.dir.join(&crt), self.dir.join(&format!("{name}.pem"))).unwrap();
        }
    }

    /// Wall time just after the CA and responder certificates were made; responses made
    /// afterwards are stamped a few seconds later (well within the clock-skew allowance).
    pub fn now(&self) -> SystemTime {
        self.now
    }

    /// The chain (leaf, CA) of leaf `name` as DER.
    pub fn chain(&self, name: &str) -> Vec<CertificateDer<'static>> {
        let path = self.dir.join(&format!("{name}.pem"));
        CertificateDer::pem_file_iter(&path)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// `openssl ocsp -reqout` for leaf `name`: SHA-1 CertID, or SHA-256 when asked.
    pub fn request(&self, name: &str, sha256: bool) -> Vec<u8> {
        let out = format!("{name}-{sha256}.req");
        let crt = format!("{name}.crt");
        // The digest option must come before -cert.
        let mut args = vec!["ocsp", "-issuer", "ca.pem", "-no_nonce"];
        if sha256 {
            args.push("-sha256");
        }
        args.extend_from_slice(&["-cert", &crt, "-reqout", &out]);
        openssl(self.dir.path(), &args);
        std::fs::read(self.dir.join(&out)).unwrap()
    }

    /// `openssl ocsp` as a one-shot responder: answers `request` from the index, signed by
    /// `signer`, with `args` appended (validity: [`ONE_DAY`], `-resp_key_id`, ...).
    pub fn respond_to(&self, request: &[u8], signer: Signer, args: &[&str]) -> Vec<u8> {
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (req, resp) = (format!("q{n}.der"), format!("r{n}.der"));
        std::fs::write(self.dir.join(&req), request).unwrap();
        let (cert, key) = signer.files();
        let mut all = vec![
            "ocsp",
            "-index",
            "index.txt",
            "-CA",
            "ca.pem",
            "-rsigner",
            cert,
        ];
        all.extend_from_slice(&["-rkey", key, "-reqin", &req, "-respout", &resp]);
        all.extend_from_slice(args);
        openssl(self.dir.path(), &all);
        std::fs::read(self.dir.join(&resp)).unwrap()
    }

    /// A response for leaf `name` (SHA-1 CertID) signed by `signer`, valid one day.
    pub fn respond(&self, name: &str, signer: Signer) -> Vec<u8> {
        self.respond_to(&self.request(name, false), signer, ONE_DAY)
    }

    /// Starts `openssl ocsp -port 0` signing with `signer`; killed on drop.
    pub fn spawn_responder(&self, signer: Signer) -> Responder {
        let (cert, key) = signer.files();
        let mut child = Command::new("openssl")
            .args([
                "ocsp",
                "-index",
                "index.txt",
                "-CA",
                "ca.pem",
                "-rsigner",
                cert,
            ])
            .args(["-rkey", key, "-port", "0", "-ndays", "1"])
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run the `openssl` CLI ({e}): install openssl; tests never skip")
            });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        // "ACCEPT [::]:39109 PID=2691" (or "ACCEPT 0.0.0.0:39109 ...").
        let port = line
            .split_whitespace()
            .nth(1)
            .and_then(|addr| addr.rsplit(':').next())
            .and_then(|p| p.parse::<u16>().ok());
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("openssl ocsp did not report its port: {line:?}");
        };
        Responder {
            child,
            _stdout: stdout,
            port,
        }
    }
}

/// A running `openssl ocsp` responder process.
pub struct Responder {
    child: Child,
    /// Kept open: openssl must not meet a closed pipe (SIGPIPE) if it prints more.
    _stdout: BufReader<ChildStdout>,
    pub port: u16,
}

impl Responder {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Stops the process and waits for it (the port is closed afterwards).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop();
    }
}
