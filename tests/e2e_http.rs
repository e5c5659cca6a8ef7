//! End-to-end HTTP/1.1 behaviour through tlsterm to a real Varnish: pipelining, large request
//! and response bodies (Content-Length and chunked), malformed and oversize requests, and the
//! graceful SIGTERM shutdown.
//!
//! Does not: test header rewriting or certificate choice (tests/e2e_proxy.rs).
mod common;

use common::env::{start, Upstream};
use common::wire::{parse_access_line, parse_responses};
use common::{curl, pattern, s_client, StdinAfter};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tlsterm::origin::fnv1a64;

/// 1 MiB of deterministic, non-repeating-looking bytes.
fn mib_of_noise() -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..1 << 20)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) as u8
        })
        .collect()
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let env = start("pipeline", Upstream::VarnishUnix, &[0], "");
    let input = b"GET /bytes/11 HTTP/1.1\r\nHost: localhost\r\n\r\n\
                  GET /bytes/22 HTTP/1.1\r\nHost: localhost\r\n\r\n\
                  GET /bytes/33 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let p = s_client(
        &env.tls,
        &env.certs,
        &["-quiet"],
        input,
        StdinAfter::KeepOpen,
        Duration::from_secs(20),
    );
    assert!(
        p.status.is_some(),
        "tlsterm did not close after `Connection: close`; got:\n{}",
        p.stdout_text()
    );
    let rs = parse_responses(&p.stdout).unwrap_or_else(|e| panic!("{e}\n{}", p.stdout_text()));
    let got: Vec<(u16, Option<&str>)> = rs
        .iter()
        .map(|r| (r.status, r.header("content-length")))
        .collect();
    assert_eq!(
        got,
        vec![(200, Some("11")), (200, Some("22")), (200, Some("33"))]
    );
    for (r, n) in rs.iter().zip([11, 22, 33]) {
        assert_eq!(r.body, pattern(n));
    }
}

#[test]
fn one_mib_bodies_pass_intact_both_ways() {
    let env = start("bodies", Upstream::VarnishUnix, &[0], "");
    let data = mib_of_noise();
    let file = env.dir.write("upload.bin", &data);
    let upload = format!("@{}", file.display());
    let fnv = format!("{:016x}", fnv1a64(&data));

    for framing in [None, Some("Transfer-Encoding: chunked")] {
        let mut args = vec!["--http1.1", "--data-binary", upload.as_str()];
        if let Some(h) = framing {
            args.extend_from_slice(&["-H", h]);
        }
        let (resp, body, _) = env.curl("/echo", &args);
        assert_eq!(resp.status, 200, "{framing:?}");
        assert_eq!(resp.header("x-body-length"), Some("1048576"), "{framing:?}");
        assert_eq!(resp.header("x-body-fnv"), Some(fnv.as_str()), "{framing:?}");
        assert!(body == data, "echoed body differs ({framing:?})");
    }

    for path in ["/bytes/1048576", "/chunked/1048576"] {
        let (resp, body, _) = env.curl(path, &["--http1.1"]);
        assert_eq!(resp.status, 200, "{path}");
        assert_eq!(body.len(), 1 << 20, "{path}");
        assert!(body == pattern(1 << 20), "{path}: body differs");
    }
    let log = env.log_for("/bytes/1048576");
    assert_eq!((log.status, log.ts.as_str()), (200, "--"));
    assert!(log.bytes >= 1 << 20, "logged {} bytes", log.bytes);
}

#[test]
fn content_length_with_transfer_encoding_is_refused_and_closed() {
    let env = start("smuggle", Upstream::VarnishUnix, &[0], "");
    let before = env.varnish().origin_stats.requests();
    let input = b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\
                  Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let p = s_client(
        &env.tls,
        &env.certs,
        &["-quiet"],
        input,
        StdinAfter::KeepOpen,
        Duration::from_secs(20),
    );
    assert!(
        p.status.is_some(),
        "tlsterm kept the connection open after a 400; got:\n{}",
        p.stdout_text()
    );
    let rs = parse_responses(&p.stdout).unwrap_or_else(|e| panic!("{e}\n{}", p.stdout_text()));
    let statuses: Vec<u16> = rs.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![400]);
    let line = env.tls.wait_log("with status 400", |l| l.contains(" 400 "));
    let log = parse_access_line(&line).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(log.status, 400);
    assert!(
        log.ts == "PR" || log.ts == "CR",
        "termination state {:?}",
        log.ts
    );
    assert_eq!(
        env.varnish().origin_stats.requests(),
        before,
        "the ambiguous request reached the origin"
    );
}

#[test]
fn oversize_head_gets_431() {
    let env = start("bighead", Upstream::VarnishUnix, &[0], "");
    let before = env.varnish().origin_stats.requests();
    let big = format!("X-Big: {}", "a".repeat(20 * 1024));
    let out = curl(
        &env.tls,
        &env.certs,
        &[
            "--http1.1",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            &big,
            &env.tls.url("/bytes/1"),
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "431", "{out:?}");
    let line = env.tls.wait_log("with status 431", |l| l.contains(" 431 "));
    let log = parse_access_line(&line).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(log.status, 431);
    assert_eq!(env.varnish().origin_stats.requests(), before);
}

#[test]
fn sigterm_finishes_in_flight_requests_then_exits_zero() {
    let mut env = start("sigterm", Upstream::VarnishUnix, &[0], "");
    let stats = std::sync::Arc::clone(&env.varnish().origin_stats);
    let before = stats.requests();
    let body = env.dir.join("slow.bin");
    let mut cmd = std::process::Command::new(common::require_tool("curl"));
    cmd.args(["-sS", "--http1.1", "--max-time", "30", "--cacert"])
        .arg(&env.certs.ca)
        .arg("--resolve")
        .arg(format!("localhost:{}:127.0.0.1", env.tls.port()))
        .arg("-o")
        .arg(&body)
        .args(["-w", "%{http_code}"])
        .arg(env.tls.url("/delay/3000/bytes/10"));
    let client = std::thread::spawn(move || cmd.output().expect("run curl"));

    // Wait until the request is in flight at the origin (hence inside tlsterm too).
    let deadline = Instant::now() + Duration::from_secs(10);
    while stats.requests() == before {
        assert!(
            Instant::now() < deadline,
            "slow request never reached the origin"
        );
        std::thread::sleep(common::POLL);
    }
    env.tls.sigterm();

    // New connections are refused while the in-flight request (about 3 s) still runs.
    let addr = env.tls.addr();
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "tlsterm still accepts connections 2 s after SIGTERM"
        );
        std::thread::sleep(common::POLL);
    }

    let out = client.join().expect("curl thread");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "{out:?}");
    assert_eq!(std::fs::read(&body).expect("body"), pattern(10));
    let status = env.tls.wait_exit(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "exit after SIGTERM: {status:?}"
    );
    let log = env.log_for("/delay/3000/bytes/10");
    assert_eq!((log.status, log.ts.as_str()), (200, "--"));
}

/// Past `timeouts.grace`, requests still in flight are killed: the client's connection
/// closes, tlsterm exits 0, and the access log records the request with `K` (here `KH`:
/// killed while waiting for the cache's response head).
#[test]
fn requests_past_the_grace_period_are_killed_and_logged_k() {
    let mut env = start(
        "sigterm-kill",
        Upstream::VarnishUnix,
        &[0],
        "[timeouts]\ngrace = \"1s\"\n",
    );
    let stats = std::sync::Arc::clone(&env.varnish().origin_stats);
    let before = stats.requests();
    let mut cmd = std::process::Command::new(common::require_tool("curl"));
    cmd.args(["-sS", "--http1.1", "--max-time", "30", "--cacert"])
        .arg(&env.certs.ca)
        .arg("--resolve")
        .arg(format!("localhost:{}:127.0.0.1", env.tls.port()))
        .args(["-o", "/dev/null", "-w", "%{http_code}"])
        .arg(env.tls.url("/delay/20000/bytes/10"));
    let client = std::thread::spawn(move || cmd.output().expect("run curl"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while stats.requests() == before {
        assert!(
            Instant::now() < deadline,
            "slow request never reached the origin"
        );
        std::thread::sleep(common::POLL);
    }
    let stopped = Instant::now();
    env.tls.sigterm();
    let status = env.tls.wait_exit(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "exit after SIGTERM: {status:?}"
    );
    let took = stopped.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(6),
        "stopped after {took:?} with a 1 s grace period"
    );
    let out = client.join().expect("curl thread");
    assert_ne!(String::from_utf8_lossy(&out.stdout), "200", "{out:?}");
    let log = env.log_for("/delay/20000/bytes/10");
    assert_eq!(log.ts, "KH", "{log:?}");
    assert!(
        env.tls
            .stderr_lines()
            .iter()
            .any(|l| l.contains("grace period of 1s over") && l.contains("killing")),
        "{:#?}",
        env.tls.stderr_lines()
    );
}

#[test]
fn expect_100_continue_is_passed_through_and_relayed() {
    let env = start("expect", Upstream::VarnishUnix, &[0], "");
    let dir = &env.dir;
    let upload = dir.write("upload.bin", vec![b'x'; 5000]);
    let upload = format!("@{}", upload.display());
    let started = std::time::Instant::now();
    let out = curl(
        &env.tls,
        &env.certs,
        &[
            "--http1.1",
            "-v",
            "-H",
            "Expect: 100-continue",
            "--expect100-timeout",
            "10",
            "--data-binary",
            upload.as_str(),
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &env.tls.url("/echo"),
        ],
    );
    let verbose = String::from_utf8_lossy(&out.stderr);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "{verbose}");
    // The cache's interim answer reached the client, so curl did not wait out its timeout.
    assert!(verbose.contains("HTTP/1.1 100 Continue"), "{verbose}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
