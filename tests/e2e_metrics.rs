//! End-to-end: the SLI and the Prometheus metrics, scraped from the admin listener of a real
//! tlsterm in front of a real Varnish.
//!
//! Covers: a slow cache does not make requests SLI-bad (the upstream's time is excluded); a slow
//! proxy does (test-only delay injection through `TLSTERM_TEST_DELAY_MS`); a dead cache is
//! counted as `SC` and 5xx but is not a proxy error; exact counter values after a known
//! sequence; `/healthz` and `POST /drain`; the real scrape passes `promtool check metrics`.
mod common;

use common::env::{start, Env, Upstream};
use common::{config_toml, require_tool, Tlsterm};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

const ADMIN: &str = "[admin]\naddress = \"127.0.0.1:0\"\n\n[sli]\nlatency_threshold = \"50ms\"\n";

/// One plain HTTP/1.1 request to the admin listener; returns (status, body).
fn admin(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect admin");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut buf = String::new();
    s.read_to_string(&mut buf).expect("read");
    let status = buf
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {buf:?}"));
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The value of the sample line `name` (exact, labels included).
fn sample(scrape: &str, name: &str) -> f64 {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no sample {name} in\n{scrape}"))
        .parse()
        .unwrap_or_else(|e| panic!("bad value for {name}: {e}"))
}

fn get_ok(env: &Env, path: &str) {
    let (resp, _, _) = env.curl(path, &["--http1.1"]);
    assert_eq!(resp.status, 200, "{path}");
}

/// Waits until `expected` requests are counted (the last counter update may trail the
/// response by a moment).
fn scrape_after(addr: SocketAddr, expected: u64) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, text) = admin(addr, "GET", "/metrics");
        assert_eq!(status, 200);
        if sample(&text, "tlsterm_sli_requests_total") as u64 >= expected
            || std::time::Instant::now() > deadline
        {
            return text;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn slow_cache_is_good_dead_cache_is_sc_and_counted_exactly() {
    let mut env = start("metrics", Upstream::VarnishUnix, &[0], ADMIN);
    let addr = env.tls.admin();
    for _ in 0..5 {
        get_ok(&env, "/bytes/10");
    }
    // The cache takes 200 ms: the upstream's own time is not the proxy's.
    for _ in 0..3 {
        get_ok(&env, "/delay/200/bytes/10");
    }
    let text = scrape_after(addr, 8);
    assert_eq!(sample(&text, "tlsterm_sli_requests_total"), 8.0);
    assert_eq!(sample(&text, "tlsterm_sli_good_total"), 8.0);
    assert_eq!(
        sample(&text, "tlsterm_sli_bad_total{reason=\"latency\"}"),
        0.0
    );
    assert_eq!(
        sample(
            &text,
            "tlsterm_requests_total{status_class=\"2xx\",protocol=\"http/1.1\"}"
        ),
        8.0
    );
    assert_eq!(
        sample(&text, "tlsterm_termination_states_total{state=\"--\"}"),
        8.0
    );
    assert_eq!(
        sample(&text, "tlsterm_upstream_response_seconds_count"),
        8.0
    );
    // The three slow ones are above 0.1 s of upstream time...
    assert_eq!(
        sample(
            &text,
            "tlsterm_upstream_response_seconds_bucket{le=\"0.1\"}"
        ),
        5.0
    );
    // ...but every request spent under 50 ms inside the proxy.
    assert_eq!(
        sample(
            &text,
            "tlsterm_internal_latency_seconds_bucket{le=\"0.05\"}"
        ),
        8.0
    );
    assert_eq!(
        sample(
            &text,
            "haproxy_frontend_http_responses_total{proxy=\"tlsterm\",code=\"2xx\"}"
        ),
        8.0
    );
    assert_eq!(
        sample(
            &text,
            "tlsterm_handshakes_total{version=\"TLSv1.3\",cert_kind=\"ECDSA\",resumed=\"false\",result=\"ok\"}"
        ),
        8.0
    );

    // The cache goes away: 503 SC, a 5xx, not a proxy error for the SLI.
    drop(env.varnish.take());
    let out = common::curl(
        &env.tls,
        &env.certs,
        &[
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &env.tls.url("/x"),
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "503");
    let text = scrape_after(addr, 9);
    assert_eq!(sample(&text, "tlsterm_sli_requests_total"), 9.0);
    assert_eq!(sample(&text, "tlsterm_sli_good_total"), 9.0);
    assert_eq!(
        sample(&text, "tlsterm_termination_states_total{state=\"SC\"}"),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "haproxy_frontend_http_responses_total{proxy=\"tlsterm\",code=\"5xx\"}"
        ),
        1.0
    );
    assert!(sample(&text, "tlsterm_upstream_connect_failures_total") >= 2.0);

    // The scrape is valid Prometheus text (promtool is installed by ci/test.sh).
    let promtool = require_tool("promtool");
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("feed promtool");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn slow_proxy_makes_requests_bad_for_latency() {
    let dir = common::TempDir::new("metrics-slow");
    let certs = common::certs::make(dir.path());
    let varnish = common::Varnish::start();
    let cfg = dir.write(
        "tlsterm.toml",
        config_toml(&varnish.unix_upstream(), &certs, &[0], ADMIN),
    );
    let t = Tlsterm::start_env(&cfg, &[("TLSTERM_TEST_DELAY_MS", "80")]);
    for _ in 0..3 {
        let out = common::curl(
            &t,
            &certs,
            &[
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                &t.url("/bytes/10"),
            ],
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
    }
    let text = scrape_after(t.admin(), 3);
    assert_eq!(sample(&text, "tlsterm_sli_requests_total"), 3.0);
    assert_eq!(sample(&text, "tlsterm_sli_good_total"), 0.0);
    assert_eq!(
        sample(&text, "tlsterm_sli_bad_total{reason=\"latency\"}"),
        3.0
    );
    assert_eq!(
        sample(
            &text,
            "tlsterm_internal_latency_seconds_bucket{le=\"0.075\"}"
        ),
        0.0
    );
    drop(varnish);
}

#[test]
fn healthz_turns_503_on_drain_and_connections_are_still_served() {
    let env = start("metrics-drain", Upstream::VarnishUnix, &[0], ADMIN);
    let addr = env.tls.admin();
    assert_eq!(admin(addr, "GET", "/healthz"), (200, "ok\n".to_string()));
    assert_eq!(admin(addr, "POST", "/drain").0, 200);
    assert_eq!(
        admin(addr, "GET", "/healthz"),
        (503, "draining\n".to_string())
    );
    // Draining ends keep-alive but still serves new connections.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (resp, _, _) = env.curl("/bytes/10", &["--http1.1"]);
        assert_eq!(resp.status, 200);
        if resp.header("connection") == Some("close") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "responses never carried Connection: close after POST /drain"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(admin(addr, "GET", "/nope").0, 404);
    assert_eq!(admin(addr, "DELETE", "/metrics").0, 405);
}
