//! The `loadtest` binary end to end, without a TLS server: `loadtest origin` answered over plain
//! TCP, command-line refusals and their exit codes, and a run against a closed port.
//!
//! Runs against tlsterm live in ci/test.sh (they need the root crate's binary).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_loadtest");

/// A running `loadtest origin`, killed on drop.
struct Origin {
    child: Child,
    addr: SocketAddr,
}

impl Origin {
    fn start() -> Origin {
        let mut child = Command::new(BIN)
            .args(["origin", "--listen", "127.0.0.1:0", "--cpus", "0"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut addr = None;
        let mut rings = None;
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(a) = line.strip_prefix("loadtest origin: listening on ") {
                addr = Some(a.parse().unwrap());
            }
            if let Some(r) = line.strip_prefix("loadtest origin: io_uring: ") {
                rings = Some(r.to_string());
            }
            if line == "loadtest origin: ready" {
                break;
            }
        }
        // The instrument's rings go through the shared hook (src/uring.rs) with the flags.
        let rings = rings.expect("origin printed its io_uring line");
        assert!(
            rings.ends_with("with SINGLE_ISSUER") && rings.contains("with COOP_TASKRUN"),
            "{rings}"
        );
        Origin {
            child,
            addr: addr.expect("origin printed its address"),
        }
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads one response with Content-Length; returns (head, body).
fn response(r: &mut impl Read) -> (String, Vec<u8>) {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        r.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    (head, body)
}

#[test]
fn origin_serves_pipelined_routes() {
    let o = Origin::start();
    let mut s = TcpStream::connect(o.addr).unwrap();
    s.write_all(
        b"GET /bytes/300 HTTP/1.1\r\nHost: t\r\n\r\nGET /delay/30ms/bytes/2 HTTP/1.1\r\nHost: t\r\n\r\nGET /other HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .unwrap();
    let t0 = Instant::now();
    let (head, body) = response(&mut s);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(body.len(), 300);
    assert!(body.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
    let (_, body) = response(&mut s);
    assert_eq!(body, vec![0, 1]);
    assert!(t0.elapsed() >= Duration::from_millis(30));
    let (head, body) = response(&mut s);
    assert!(!head.contains("Connection: close"));
    assert_eq!(body.len(), 100);
}

#[test]
fn origin_large_body_and_close() {
    let o = Origin::start();
    let mut s = TcpStream::connect(o.addr).unwrap();
    s.write_all(b"GET /bytes/3000000 HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (head, body) = response(&mut s);
    assert!(head.contains("Connection: close"));
    assert_eq!(body.len(), 3_000_000);
    assert!(body.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
    let mut rest = Vec::new();
    assert_eq!(s.read_to_end(&mut rest).unwrap(), 0);
}

#[test]
fn origin_refuses_garbage() {
    let o = Origin::start();
    let mut s = TcpStream::connect(o.addr).unwrap();
    s.write_all(b"\x01\x02 not http\r\n\r\n").unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    assert!(all.starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
}

fn loadtest(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn refusals_exit_64_with_a_reason() {
    let (code, _, err) = loadtest(&["--target", "192.0.2.1:443", "--insecure-skip-verify"]);
    assert_eq!(code, 64);
    assert!(
        err.contains("not a loopback address; pass --allow-remote"),
        "{err}"
    );
    let (code, _, err) = loadtest(&[
        "--target",
        "127.0.0.1:1",
        "--insecure-skip-verify",
        "--duration",
        "0s",
    ]);
    assert_eq!(code, 64);
    assert!(
        err.contains("--duration must be greater than zero"),
        "{err}"
    );
    let (code, _, err) = loadtest(&[
        "--target",
        "127.0.0.1:1",
        "--insecure-skip-verify",
        "--scenario",
        "h2",
        "--alpn",
        "http/1.1",
    ]);
    assert_eq!(code, 64);
    assert!(err.contains("the h2 scenario needs `h2`"), "{err}");
    let (code, _, _) = loadtest(&["--no-such-flag"]);
    assert_eq!(code, 64);
    let (code, out, _) = loadtest(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("--insecure-skip-verify"));
}

#[test]
fn errors_exceeding_the_budget_exit_2() {
    // A port that was just free: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = format!("127.0.0.1:{port}");
    let (code, out, _) = loadtest(&[
        "--target",
        &target,
        "--insecure-skip-verify",
        "--duration",
        "300ms",
        "--connections",
        "1",
        "--quiet",
    ]);
    assert_eq!(code, 2, "{out}");
    let last = out.lines().last().unwrap();
    let n: u64 = last.strip_prefix("errors: ").unwrap().parse().unwrap();
    assert!(n > 0);
    assert!(out.contains("first connect: Connection refused"), "{out}");
    let (code, _, _) = loadtest(&[
        "--target",
        &target,
        "--insecure-skip-verify",
        "--duration",
        "300ms",
        "--connections",
        "1",
        "--quiet",
        "--max-errors",
        "1000000",
    ]);
    assert_eq!(code, 0);
}
