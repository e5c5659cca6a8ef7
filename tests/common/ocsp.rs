//! A small PKI and real OCSP responses made by the `openssl` CLI, for the TLS-operations
//! end-to-end tests: a CA, a delegated OCSP responder, an unrelated self-signed "stranger"
//! responder, leaves for `localhost` (optionally naming a responder in their Authority
//! Information Access), the responder's index file, `openssl ocsp -port 0` responders, and
//! `openssl ocsp -url` queries against them.
//!
//! Job: produce the files tlsterm serves (`<leaf>.pem` = leaf, CA, key) and the DER responses
//! the tests put in `<leaf>.pem.ocsp`. Every signature is made by openssl. One fixture needs
//! dates openssl cannot produce (`openssl ocsp` stamps `thisUpdate` with the current time and
//! only accepts a positive `-ndays`/`-nmin`): [`Pki::redate`] rewrites the validity of a real
//! response with the `der`/`x509-ocsp` crates and re-signs the new `tbsResponseData` with
//! `openssl dgst -sign` and the responder's key; tests confirm with [`Pki::check_signed`]
//! (`openssl ocsp -respin ... -CAfile`: "Response verify OK") that openssl accepts it.
//!
//! Does not: talk to tlsterm, or skip. A missing `openssl` fails with the `ci/test.sh` hint.
//!
//! Invariants: the CA, the delegated responder and the leaves are EC P-256; responses are
//! signed with SHA-256 (`-rmd sha256`); responders listen on an ephemeral port (`-port 0`; they
//! bind the wildcard address — OpenSSL 3.0's `-port` takes no host — and tests only ever
//! connect to 127.0.0.1) and are killed on drop. A responder counts as started once it logs
//! "waiting for OCSP client connections" (it prints its port before loading the index).
use super::{require_tool, TempDir};
use der::asn1::{BitString, OctetString};
use der::{Decode, Encode};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use x509_ocsp::{BasicOcspResponse, OcspGeneralizedTime, OcspResponse};

/// A number unique within the test process (for file names).
fn next_id() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Runs `openssl ARGS` in `dir`; returns stdout, panics with stderr on failure.
pub fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new(require_tool("openssl"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

const EC: &[&str] = &[
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
];

/// A leaf's status in the responder's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Valid,
    Revoked,
}

/// Who signs the responses of a responder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    /// `delegate.pem`: issued by the CA, EKU OCSPSigning.
    Delegate,
    /// `stranger.pem`: self-signed, EKU OCSPSigning, unrelated to the CA.
    Stranger,
}

impl Signer {
    fn files(self) -> (&'static str, &'static str) {
        match self {
            Signer::Delegate => ("delegate.pem", "delegate.key"),
            Signer::Stranger => ("stranger.pem", "stranger.key"),
        }
    }
}

/// The PKI's directory and files.
pub struct Pki {
    pub dir: TempDir,
}

/// A leaf issued by [`Pki::leaf`].
#[derive(Debug, Clone)]
pub struct Leaf {
    /// The certificate alone (`<name>.crt`).
    pub crt: PathBuf,
    /// What tlsterm serves (`<name>.pem`: leaf, CA, key).
    pub pem: PathBuf,
    /// Where tlsterm looks for the staple (`<name>.pem.ocsp`).
    pub ocsp: PathBuf,
    /// Serial in hex, upper case, as `openssl x509 -serial` prints it.
    pub serial: String,
}

impl Pki {
    /// CA (`ca.pem`), delegated responder, stranger responder, empty index.
    pub fn new(tag: &str) -> Pki {
        let pki = Pki {
            dir: TempDir::new(tag),
        };
        let mut ca = vec!["req", "-x509", "-keyout", "ca.key", "-out", "ca.pem"];
        ca.extend_from_slice(EC);
        ca.extend_from_slice(&["-subj", "/CN=tlsterm e2e OCSP CA", "-days", "30"]);
        ca.extend_from_slice(&["-addext", "basicConstraints=critical,CA:TRUE"]);
        ca.extend_from_slice(&["-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
        pki.run(&ca);
        pki.issue(
            "delegate",
            "/CN=tlsterm e2e OCSP responder",
            "2001",
            "extendedKeyUsage=OCSPSigning\n",
        );
        let mut stranger = vec![
            "req",
            "-x509",
            "-keyout",
            "stranger.key",
            "-out",
            "stranger.pem",
        ];
        stranger.extend_from_slice(EC);
        stranger.extend_from_slice(&["-subj", "/CN=Stranger", "-days", "30"]);
        stranger.extend_from_slice(&["-addext", "extendedKeyUsage=OCSPSigning"]);
        pki.run(&stranger);
        pki.dir.write("index.txt", "");
        pki
    }

    fn run(&self, args: &[&str]) -> Vec<u8> {
        openssl(self.dir.path(), args)
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// Writes the responder's index: one line per (serial, status), subjects made unique
    /// (openssl refuses an index with duplicate subjects). Responders read it when they start.
    pub fn index(&self, entries: &[(&str, Status)]) {
        let mut text = String::new();
        for (serial, status) in entries {
            match status {
                Status::Valid => text.push_str(&format!(
                    "V\t491231235959Z\t\t{serial}\tunknown\t/CN=leaf-{serial}\n"
                )),
                Status::Revoked => text.push_str(&format!(
                    "R\t491231235959Z\t250101000000Z\t{serial}\tunknown\t/CN=leaf-{serial}\n"
                )),
            }
        }
        self.dir.write("index.txt", text);
    }

    /// `<name>.crt` signed by the CA with serial `0x{serial}` and the extension lines `ext`;
    /// a fresh EC key in `<name>.key`.
    fn issue(&self, name: &str, subj: &str, serial: &str, ext: &str) {
        let (csr, crt, key, ext_file) = (
            format!("{name}.csr"),
            format!("{name}.crt"),
            format!("{name}.key"),
            format!("{name}.ext"),
        );
        let mut req = vec!["req", "-new", "-subj", subj, "-keyout", &key, "-out", &csr];
        req.extend_from_slice(EC);
        self.run(&req);
        self.dir.write(&ext_file, ext);
        let serial = format!("0x{serial}");
        self.run(&[
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
            "30",
            "-extfile",
            &ext_file,
            "-out",
            &crt,
        ]);
        if name == "delegate" {
            std::fs::copy(self.dir.join(&crt), self.dir.join("delegate.pem"))
                .expect("copy delegate.crt");
        }
    }

    /// A leaf for `localhost` and 127.0.0.1, serial `0x{serial}` (4 hex digits), with
    /// `authorityInfoAccess = OCSP;URI:{ocsp_url}` when given. Writes `<name>.pem` = leaf + CA +
    /// key (chain and key in one file, as tlsterm takes it).
    pub fn leaf(&self, name: &str, serial: &str, ocsp_url: Option<&str>) -> Leaf {
        let mut ext = String::from("subjectAltName=DNS:localhost,IP:127.0.0.1\n");
        ext.push_str("keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n");
        if let Some(u) = ocsp_url {
            ext.push_str(&format!("authorityInfoAccess=OCSP;URI:{u}\n"));
        }
        self.issue(name, "/CN=localhost", serial, &ext);
        let read = |f: &str| std::fs::read_to_string(self.dir.join(f)).expect("read PEM");
        let pem = format!(
            "{}{}{}",
            read(&format!("{name}.crt")),
            read("ca.pem"),
            read(&format!("{name}.key"))
        );
        let pem_path = self.dir.write(&format!("{name}.pem"), pem);
        Leaf {
            crt: self.dir.join(&format!("{name}.crt")),
            ocsp: self.dir.join(&format!("{name}.pem.ocsp")),
            pem: pem_path,
            serial: serial.to_uppercase(),
        }
    }

    /// `openssl ocsp -issuer ca.pem -cert LEAF -url URL -respout OUT`: asks a running
    /// responder about `leaf`; returns the DER response. With `verify`, openssl must also find
    /// the response correctly signed (`-CAfile ca.pem`), else it is not checked (`-noverify`).
    pub fn query(&self, responder: &Responder, leaf: &Leaf, out: &str, verify: bool) -> Vec<u8> {
        let url = responder.url();
        let crt = leaf.crt.to_str().expect("utf-8 path");
        let mut args = vec!["ocsp", "-issuer", "ca.pem", "-cert", crt, "-url", &url];
        args.extend_from_slice(&["-no_nonce", "-timeout", "10", "-respout", out]);
        if verify {
            args.extend_from_slice(&["-CAfile", "ca.pem"]);
        } else {
            args.push("-noverify");
        }
        let out_text = Command::new(require_tool("openssl"))
            .args(&args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("run openssl ocsp");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out_text.stdout),
            String::from_utf8_lossy(&out_text.stderr)
        );
        assert!(
            out_text.status.success(),
            "openssl ocsp query failed: {text}"
        );
        if verify {
            assert!(text.contains("Response verify OK"), "{text}");
        }
        std::fs::read(self.dir.join(out)).expect("read -respout file")
    }

    /// The text `openssl ocsp -respin FILE -resp_text` prints, after checking that openssl
    /// verifies the response's signature against the CA ("Response verify OK").
    pub fn check_signed(&self, der: &[u8], leaf: &Leaf) -> String {
        let file = format!("check-{}.der", next_id());
        self.dir.write(&file, der);
        let crt = leaf.crt.to_str().expect("utf-8 path");
        let out = Command::new(require_tool("openssl"))
            .args(["ocsp", "-respin", &file, "-resp_text", "-issuer", "ca.pem"])
            .args(["-cert", crt, "-CAfile", "ca.pem"])
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("run openssl ocsp -respin");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("Response verify OK"), "{text}");
        text
    }

    /// A copy of the real response `der` with `producedAt` and `thisUpdate` set to
    /// `this_update` and `nextUpdate` to `next_update`, re-signed by `signer` with `openssl
    /// dgst -sha256 -sign`. Only the dates and the signature differ from the original.
    pub fn redate(
        &self,
        der: &[u8],
        signer: Signer,
        this_update: SystemTime,
        next_update: SystemTime,
    ) -> Vec<u8> {
        let whole = |t: SystemTime| {
            let secs = t.duration_since(UNIX_EPOCH).expect("after 1970").as_secs();
            OcspGeneralizedTime::from(
                der::DateTime::from_unix_duration(Duration::from_secs(secs))
                    .expect("representable time"),
            )
        };
        let resp = OcspResponse::from_der(der).expect("openssl made a DER OCSPResponse");
        let bytes = resp.response_bytes.clone().expect("successful response");
        let mut basic =
            BasicOcspResponse::from_der(bytes.response.as_bytes()).expect("BasicOCSPResponse");
        basic.tbs_response_data.produced_at = whole(this_update);
        for single in &mut basic.tbs_response_data.responses {
            single.this_update = whole(this_update);
            single.next_update = Some(whole(next_update));
        }
        let n = next_id();
        let (tbs_file, sig_file) = (format!("tbs-{n}.der"), format!("sig-{n}.bin"));
        self.dir.write(
            &tbs_file,
            basic
                .tbs_response_data
                .to_der()
                .expect("encode tbsResponseData"),
        );
        let (_, key) = signer.files();
        self.run(&[
            "dgst", "-sha256", "-sign", key, "-out", &sig_file, &tbs_file,
        ]);
        let sig = std::fs::read(self.dir.join(&sig_file)).expect("read signature");
        basic.signature = BitString::from_bytes(&sig).expect("signature bit string");
        let mut resp = resp;
        resp.response_bytes = Some(x509_ocsp::ResponseBytes {
            response_type: bytes.response_type,
            response: OctetString::new(basic.to_der().expect("encode BasicOCSPResponse"))
                .expect("octet string"),
        });
        resp.to_der().expect("encode OCSPResponse")
    }

    /// Starts `openssl ocsp -port PORT` answering from the index, signed by `signer`, each
    /// response valid one day. `port` 0 picks an ephemeral one.
    pub fn responder(&self, signer: Signer, port: u16) -> Responder {
        let (cert, key) = signer.files();
        let port_arg = port.to_string();
        let log_path = self.dir.join(&format!("responder-{}.log", next_id()));
        let log = std::fs::File::create(&log_path).expect("create responder log");
        let mut child = Command::new(require_tool("openssl"))
            .args([
                "ocsp",
                "-index",
                "index.txt",
                "-CA",
                "ca.pem",
                "-rsigner",
                cert,
            ])
            .args([
                "-rkey", key, "-rmd", "sha256", "-port", &port_arg, "-ndays", "1",
            ])
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn openssl ocsp responder");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        let _ = stdout.read_line(&mut line);
        // "ACCEPT 0.0.0.0:39109 PID=2691" or "ACCEPT [::]:39109 PID=2691".
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
        let log_text = || std::fs::read_to_string(&log_path).unwrap_or_default();
        // openssl prints ACCEPT before it loads the index, and "waiting for OCSP client
        // connections" once it has. (No probe connection: the responder is single-threaded
        // and would wait for that connection's request.)
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !log_text().contains("waiting for OCSP client connections") {
            if let Ok(Some(st)) = child.try_wait() {
                panic!("openssl ocsp responder exited ({st}): {}", log_text());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "openssl ocsp responder not ready on port {port}: {}",
                log_text()
            );
            std::thread::sleep(super::POLL);
        }
        Responder {
            child: Some(child),
            _stdout: stdout,
            port,
        }
    }
}

/// A running `openssl ocsp` responder, killed on drop.
pub struct Responder {
    child: Option<Child>,
    /// Kept open so openssl never writes to a closed pipe.
    _stdout: BufReader<ChildStdout>,
    pub port: u16,
}

impl Responder {
    /// `http://127.0.0.1:PORT/`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Kills the responder and waits until its port refuses connections.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        assert!(
            TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err(),
            "port {} still accepts after the responder was killed",
            self.port
        );
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
