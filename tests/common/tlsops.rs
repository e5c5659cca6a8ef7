//! Probes for the TLS-operations end-to-end tests: `openssl s_client` runs that report what a
//! new connection sees (the OCSP staple, the served certificate's serial, whether the session
//! was resumed), reload signalling and waiting on tlsterm's stderr, admin-listener scrapes,
//! ticket-key lines, and a bounded curl loop (new connection per request) for reloads under
//! load.
//!
//! Does not: judge; each probe returns what openssl printed, parsed strictly (an unexpected
//! shape panics with the full output), and the tests assert on it.
use super::{require_tool, run_piped, toml_path, toml_str, Piped, StdinAfter, Tlsterm, POLL};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long one s_client probe may take.
pub const PROBE_DEADLINE: Duration = Duration::from_secs(20);

/// A tlsterm configuration with one certificate file `pem`, one listener on 127.0.0.1:0,
/// shards on `cpus`, the given upstream, access log on stdout, then `extra`.
pub fn one_cert_config(upstream: &str, pem: &Path, cpus: &[usize], extra: &str) -> String {
    let cpus: Vec<String> = cpus.iter().map(|c| c.to_string()).collect();
    format!(
        "[[listener]]\naddress = \"127.0.0.1:0\"\n\n\
         [shards]\ncpus = [{}]\n\n\
         [[certificate]]\npem = {}\n\n\
         [upstream]\naddress = {}\n\n\
         [log]\naccess = \"stdout\"\n\n{extra}",
        cpus.join(", "),
        toml_path(pem),
        toml_str(upstream),
    )
}

/// Replaces `path` by `bytes` the way operators and tlsterm's fetcher do: write a temporary
/// file beside it, then rename it over (a watcher never sees a half-written file).
pub fn replace_atomically(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp-replace");
    std::fs::write(&tmp, bytes).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
    std::fs::rename(&tmp, path).unwrap_or_else(|e| panic!("rename to {}: {e}", path.display()));
}

/// `kill -HUP PID`.
pub fn sighup(t: &Tlsterm) {
    let st = Command::new("kill")
        .args(["-HUP", &t.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(st.success(), "kill -HUP failed");
}

/// Number of stderr lines satisfying `pred` so far.
pub fn count_stderr(t: &Tlsterm, pred: impl Fn(&str) -> bool) -> usize {
    t.stderr_lines().iter().filter(|l| pred(l)).count()
}

/// Waits up to `within` until more than `already` stderr lines satisfy `pred`; returns the
/// last of them. Panics with all of stderr when none comes.
pub fn wait_stderr(
    t: &Tlsterm,
    what: &str,
    already: usize,
    within: Duration,
    pred: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + within;
    loop {
        let lines = t.stderr_lines();
        let hits: Vec<&String> = lines.iter().filter(|l| pred(l)).collect();
        if hits.len() > already {
            return hits[hits.len() - 1].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no new stderr line {what} within {within:?}; stderr:\n{}",
            lines.join("\n")
        );
        std::thread::sleep(POLL);
    }
}

/// A published TLS state: `tlsterm: reload (...): TLS state generation N in service`.
pub fn is_reload_ok(l: &str) -> bool {
    l.starts_with("tlsterm: reload (") && l.contains("in service")
}

/// `openssl s_client -connect ADDR -servername localhost -CAfile CA -verify_hostname
/// localhost -verify_return_error EXTRA`, fed `input` (stdin closed afterwards).
pub fn s_client(addr: SocketAddr, ca: &Path, extra: &[&str], input: &[u8]) -> Piped {
    let mut cmd = Command::new(require_tool("openssl"));
    cmd.arg("s_client")
        .arg("-connect")
        .arg(addr.to_string())
        .args(["-servername", "localhost", "-CAfile"])
        .arg(ca)
        .args(["-verify_hostname", "localhost", "-verify_return_error"])
        .args(extra);
    let out = run_piped(cmd, input, StdinAfter::Close, PROBE_DEADLINE);
    assert!(
        out.status.is_some(),
        "s_client {extra:?} still running after {PROBE_DEADLINE:?}:\n{}{}",
        out.stdout_text(),
        out.stderr_text()
    );
    out
}

fn assert_verified(out: &Piped) {
    let text = out.stdout_text();
    assert!(
        text.contains("Verify return code: 0 (ok)"),
        "handshake did not complete with a verified certificate:\n{text}\n{}",
        out.stderr_text()
    );
}

/// What `s_client -status` reports about the OCSP staple of a new connection: `None` for
/// "OCSP response: no response sent", else the printed response (which must say
/// "OCSP Response Status: successful").
pub fn staple(addr: SocketAddr, ca: &Path) -> Option<String> {
    let out = s_client(addr, ca, &["-status"], b"");
    assert_verified(&out);
    let text = out.stdout_text();
    if text.contains("OCSP response: no response sent") {
        return None;
    }
    let start = text
        .find("OCSP Response Data:")
        .unwrap_or_else(|| panic!("s_client -status printed no OCSP section:\n{text}"));
    let end = text[start..]
        .find("======================================")
        .map_or(text.len(), |e| start + e);
    let section = text[start..end].to_string();
    assert!(
        section.contains("OCSP Response Status: successful"),
        "stapled response not successful:\n{section}"
    );
    Some(section)
}

/// Polls [`staple`] until `done` holds for what it returns, up to `within`.
pub fn wait_staple(
    addr: SocketAddr,
    ca: &Path,
    what: &str,
    within: Duration,
    done: impl Fn(&Option<String>) -> bool,
) -> Option<String> {
    let deadline = Instant::now() + within;
    loop {
        let s = staple(addr, ca);
        if done(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not seen within {within:?}; last s_client -status: {s:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The value after `label` on its line (e.g. `This Update: ` → the date), first occurrence.
pub fn field<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {label:?} in\n{text}"))
}

/// The serial (hex, as `openssl x509 -serial` prints it) of the certificate a new
/// connection is served.
pub fn served_serial(addr: SocketAddr, ca: &Path) -> String {
    let out = s_client(addr, ca, &[], b"");
    assert_verified(&out);
    let text = out.stdout_text();
    let begin = text
        .find("-----BEGIN CERTIFICATE-----")
        .unwrap_or_else(|| panic!("no server certificate in s_client output:\n{text}"));
    let end_marker = "-----END CERTIFICATE-----";
    let end = text[begin..]
        .find(end_marker)
        .map(|e| begin + e + end_marker.len())
        .expect("END CERTIFICATE");
    let mut child = Command::new(require_tool("openssl"))
        .args(["x509", "-noout", "-serial"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn openssl x509");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&text.as_bytes()[begin..end])
        .expect("feed openssl x509");
    let out = child.wait_with_output().expect("openssl x509");
    let s = String::from_utf8_lossy(&out.stdout);
    s.trim()
        .strip_prefix("serial=")
        .unwrap_or_else(|| panic!("openssl x509 -serial printed {s:?}"))
        .to_string()
}

/// TLS version forced on s_client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Tls13,
    Tls12,
}

impl Version {
    fn flag(self) -> &'static str {
        match self {
            Version::Tls13 => "-tls1_3",
            Version::Tls12 => "-tls1_2",
        }
    }

    /// How s_client names it.
    pub fn name(self) -> &'static str {
        match self {
            Version::Tls13 => "TLSv1.3",
            Version::Tls12 => "TLSv1.2",
        }
    }
}

/// One s_client connection with a session file.
#[derive(Debug, Clone, Copy)]
pub enum Sess<'a> {
    /// `-sess_out FILE`: save the session (tickets) the server gives.
    Out(&'a Path),
    /// `-sess_in FILE`: offer the saved session.
    In(&'a Path),
}

/// What one [`session`] run saw.
#[derive(Debug)]
pub struct Handshake {
    /// "Reused" (true) or "New" (false).
    pub reused: bool,
    /// The HTTP status of the one request sent.
    pub status: u16,
    pub stdout: String,
}

/// Connects with `version`, saving or offering a session, sends one
/// `GET {path}` with `Connection: close` and reads the answer (`-ign_eof`: s_client waits for
/// tlsterm to close, so TLS 1.3 tickets sent after the handshake are received and saved).
pub fn session(addr: SocketAddr, ca: &Path, version: Version, sess: Sess, path: &str) -> Handshake {
    let (flag, file) = match sess {
        Sess::Out(f) => ("-sess_out", f),
        Sess::In(f) => ("-sess_in", f),
    };
    let file = file.to_str().expect("utf-8 path");
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let out = s_client(
        addr,
        ca,
        &[version.flag(), flag, file, "-ign_eof"],
        req.as_bytes(),
    );
    assert_verified(&out);
    let text = out.stdout_text();
    let reused = if text.contains(&format!("\nReused, {}, ", version.name())) {
        true
    } else if text.contains(&format!("\nNew, {}, ", version.name())) {
        false
    } else {
        panic!(
            "s_client printed neither `New, {v}` nor `Reused, {v}`:\n{text}\n{}",
            out.stderr_text(),
            v = version.name()
        );
    };
    let status = text
        .lines()
        .find_map(|l| l.strip_prefix("HTTP/1.1 "))
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP response in s_client output:\n{text}"));
    Handshake {
        reused,
        status,
        stdout: text,
    }
}

/// `GET /metrics` on the admin listener; the body.
pub fn scrape(admin: SocketAddr) -> String {
    let mut s = TcpStream::connect(admin).expect("connect admin");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut buf = String::new();
    s.read_to_string(&mut buf).expect("read");
    assert!(buf.starts_with("HTTP/1.1 200"), "scrape failed: {buf}");
    buf.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// The value of sample line `name` (labels included, exact), if present.
pub fn sample(scrape: &str, name: &str) -> Option<f64> {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|e| panic!("bad value for {name}: {v:?}: {e}"))
        })
}

/// Sum of the samples of `family` whose label set contains every one of `labels`.
pub fn sum_where(scrape: &str, family: &str, labels: &[&str]) -> f64 {
    scrape
        .lines()
        .filter(|l| l.starts_with(&format!("{family}{{")))
        .filter(|l| labels.iter().all(|lab| l.contains(lab)))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

/// One HAProxy-format key line: 80 random bytes, base64 on one line.
pub fn key_line(dir: &super::TempDir, n: usize) -> String {
    let bin = format!("key{n}.bin");
    super::ocsp::openssl(dir.path(), &["rand", "-out", &bin, "80"]);
    let b64 = super::ocsp::openssl(dir.path(), &["base64", "-A", "-in", &bin]);
    String::from_utf8(b64)
        .expect("base64 is ASCII")
        .trim()
        .to_string()
}

/// Outcome counters of the client loop.
#[derive(Default)]
pub struct Load {
    pub stop: AtomicBool,
    /// Requests answered 200.
    pub ok: AtomicUsize,
    /// Every other outcome, described.
    pub failures: Mutex<Vec<String>>,
}

/// New-connection HTTPS requests with curl until `stop` (at most 90 s or 5000 requests).
pub fn client_loop(load: &Load, port: u16, ca: &Path) {
    let url = format!("https://localhost:{port}/bytes/100");
    let resolve = format!("localhost:{port}:127.0.0.1");
    let until = Instant::now() + Duration::from_secs(90);
    for _ in 0..5000 {
        if load.stop.load(Ordering::Relaxed) || Instant::now() > until {
            return;
        }
        let out = std::process::Command::new(require_tool("curl"))
            .args([
                "-sS",
                "--max-time",
                "10",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
            ])
            .arg("--cacert")
            .arg(ca)
            .args(["--resolve", &resolve, &url])
            .output()
            .expect("run curl");
        let code = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && code == "200" {
            load.ok.fetch_add(1, Ordering::Relaxed);
        } else {
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            load.failures
                .lock()
                .expect("failures lock")
                .push(format!("{}: {code} {err}", out.status));
        }
    }
}

/// Waits until the loop has `more` successful requests beyond `from`.
pub fn wait_requests(load: &Load, from: usize, more: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n = load.ok.load(Ordering::Relaxed);
        if n >= from + more {
            return n;
        }
        assert!(
            Instant::now() < deadline,
            "client loop stalled at {n} requests; failures: {:?}",
            load.failures.lock().expect("failures lock")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls the served serial until `n` consecutive new connections get `serial` (shards adopt a
/// published state within their 100 ms watcher period, so one may lag briefly).
pub fn wait_serial(addr: SocketAddr, ca: &Path, serial: &str, n: usize, within: Duration) {
    let deadline = Instant::now() + within;
    let mut run = 0;
    while run < n {
        let s = served_serial(addr, ca);
        run = if s == serial { run + 1 } else { 0 };
        assert!(
            Instant::now() < deadline,
            "serial {serial} not served {n} times in a row within {within:?} (last {s})"
        );
    }
}
