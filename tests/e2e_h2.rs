//! End-to-end: HTTP/2 clients (curl --http2, nghttp, h2load, and a raw-frame client) →
//! tlsterm (ALPN h2) → real Varnish → in-process test origin.
//!
//! Covers: what the cache layer sees for HTTP/2 streams (X-Client-IP, `H2=1` in
//! X-Connection-Properties, Host from `:authority`), the access log (`HTTP/2.0`), large bodies
//! both ways (length-delimited and chunked from the cache; with and without Content-Length
//! from the client), many concurrent streams on one connection, an h2load smoke run, every
//! abuse limit (rapid reset, CONTINUATION flood, HPACK bomb, oversized header list, SETTINGS /
//! PING / empty-DATA floods, the concurrent-stream cap, malformed requests), each followed by a
//! check that another client on the same shard is still served, and drain (GOAWAY, open
//! streams finish).
//!
//! Does not: test HTTP/1.1 (tests/e2e_proxy.rs, tests/e2e_http.rs). Every test starts its own
//! Varnish and tlsterm on ephemeral ports, one shard, so all clients share it.
mod common;
mod h2wire;

use common::env::{start, Env, Upstream};
use common::wire::{connection_properties, connection_properties_ok};
use common::{require_tool, run_piped, StdinAfter};
use h2wire::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// Another client on the same shard gets a normal answer.
fn assert_served(env: &Env) {
    let (resp, body, _) = env.curl("/", &["--http2"]);
    assert_eq!((resp.version.as_str(), resp.status), ("HTTP/2", 200));
    assert_eq!(body, tlsterm::origin::HELLO.as_bytes());
}

/// A GET on `stream` (END_STREAM, END_HEADERS).
fn get(stream: u32, path: &str) -> Vec<u8> {
    frame(
        HEADERS,
        END_STREAM | END_HEADERS,
        stream,
        &request_block("GET", path, &[]),
    )
}

fn raw(env: &Env) -> RawH2 {
    RawH2::connect(env.tls.addr(), &env.certs.ca)
}

/// The response HEADERS on `stream` arrived.
fn answered(c: &mut RawH2, stream: u32) -> bool {
    c.read_until(WAIT, |f| f.kind == HEADERS && f.stream == stream) == End::Matched
}

#[test]
fn cache_sees_h2_streams_with_h2_properties() {
    let env = start("h2-headers", Upstream::VarnishUnix, &[0], "");
    let (resp, body, stdout) = env.curl(
        "/headers?x=1",
        &[
            "--http2",
            "-w",
            "%{local_port}",
            "-H",
            "Cookie: a=1",
            "-H",
            "Cookie: b=2",
            "-H",
            "X-Connection-Properties: evil",
        ],
    );
    let port: u16 = stdout.trim().parse().expect("curl local_port");
    assert_eq!((resp.version.as_str(), resp.status), ("HTTP/2", 200));
    assert_eq!(resp.header("x-echo-client-ip"), Some("127.0.0.1"));
    assert_eq!(
        resp.header("x-echo-client-port"),
        Some(port.to_string().as_str())
    );
    assert_eq!(
        resp.header("x-echo-host"),
        Some(format!("localhost:{}", env.tls.port()).as_str())
    );
    let props = resp
        .header("x-echo-connection-properties")
        .expect("X-Connection-Properties reached Varnish");
    assert!(connection_properties_ok(props), "{props}");
    assert_eq!(
        connection_properties(props)[0],
        ("H2".to_string(), "1".to_string())
    );
    // Hop-by-hop fields never reach an HTTP/2 client.
    assert_eq!(resp.header("connection"), None);
    assert_eq!(resp.header("transfer-encoding"), None);
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("cookie: a=1; b=2\n"), "{text}");
    assert!(!text.contains("evil"), "{text}");

    let log = env.log_for("/headers?x=1");
    assert_eq!((log.status, log.ts.as_str()), (200, "--"));
    assert_eq!(log.http_version, "HTTP/2.0");
    assert_eq!((log.method.as_str(), log.client_port), ("GET", port));
    assert_eq!(log.timers[0], 0, "TR is 0: h2 hands over complete heads");
}

#[test]
fn large_bodies_both_ways_are_intact() {
    let env = start("h2-bodies", Upstream::VarnishUnix, &[0], "");
    const N: usize = 1 << 20;
    for path in [format!("/bytes/{N}"), format!("/chunked/{N}")] {
        let (resp, body, _) = env.curl(&path, &["--http2"]);
        assert_eq!((resp.version.as_str(), resp.status), ("HTTP/2", 200));
        assert_eq!(body.len(), N, "{path}");
        assert!(body == common::pattern(N), "{path}: body differs");
        let log = env.log_for(&path);
        assert_eq!((log.ts.as_str(), log.bytes), ("--", N as u64));
    }

    let upload: Vec<u8> = (0..N as u64).map(|i| (i * 7 % 253) as u8).collect();
    let fnv = format!("{:016x}", tlsterm::origin::fnv1a64(&upload));
    let file = env.dir.write("upload.bin", &upload);
    // With Content-Length.
    let (resp, _, _) = env.curl(
        "/echo",
        &["--http2", "--data-binary", &format!("@{}", file.display())],
    );
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("x-body-length"), Some(N.to_string().as_str()));
    assert_eq!(resp.header("x-body-fnv"), Some(fnv.as_str()));
    // Without Content-Length (curl reads stdin): tlsterm sends it chunked to the cache.
    let mut cmd = Command::new(require_tool("curl"));
    cmd.args(["-sS", "--http2", "-D", "-", "-o", "/dev/null", "--cacert"])
        .arg(&env.certs.ca)
        .arg("--resolve")
        .arg(format!("localhost:{}:127.0.0.1", env.tls.port()))
        .args(["-X", "PUT", "-T", "-"])
        .arg(env.tls.url("/echo"));
    let out = run_piped(cmd, &upload, StdinAfter::Close, Duration::from_secs(60));
    let head = out.stdout_text();
    assert!(
        head.starts_with("HTTP/2 200"),
        "{head}{}",
        out.stderr_text()
    );
    assert!(head.contains(&format!("x-body-length: {N}")), "{head}");
    assert!(head.contains(&format!("x-body-fnv: {fnv}")), "{head}");
}

#[test]
fn nghttp_twenty_concurrent_streams_on_one_connection() {
    let env = start("h2-nghttp", Upstream::VarnishUnix, &[0], "");
    let mut cmd = Command::new(require_tool("nghttp"));
    cmd.args(["-v", "-m", "20"])
        .arg(format!("https://127.0.0.1:{}/headers", env.tls.port()));
    let out = run_piped(cmd, b"", StdinAfter::Close, Duration::from_secs(60));
    assert!(
        out.status.is_some_and(|s| s.success()),
        "{}",
        out.stderr_text()
    );
    let text = out.stdout_text();
    let count = |needle: &str| text.matches(needle).count();
    assert_eq!(count(":status: 200"), 20, "{text}");
    assert_eq!(count("x-echo-client-ip: 127.0.0.1"), 20, "{text}");
    assert_eq!(
        count("x-echo-connection-properties: H2=1; SSR=0; SSL=TLSv1.3;"),
        20,
        "{text}"
    );
    // One connection: every log line has the same client port.
    let lines = env.tls.wait_log_count(20);
    let ports: std::collections::BTreeSet<&str> = lines
        .iter()
        .filter(|l| l.ends_with(" /headers HTTP/2.0\""))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert_eq!(ports.len(), 1, "{lines:?}");
}

#[test]
fn h2load_smoke_run_has_no_errors() {
    let env = start("h2-h2load", Upstream::VarnishUnix, &[0], "");
    let mut cmd = Command::new(require_tool("h2load"));
    cmd.args(["-n", "2000", "-c", "4", "-m", "10"])
        .arg(format!("https://127.0.0.1:{}/", env.tls.port()));
    let out = run_piped(cmd, b"", StdinAfter::Close, Duration::from_secs(120));
    let text = out.stdout_text();
    assert!(out.status.is_some_and(|s| s.success()), "{text}");
    assert!(
        text.contains("requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed, 0 errored, 0 timeout"),
        "{text}"
    );
    assert!(
        text.contains("status codes: 2000 2xx, 0 3xx, 0 4xx, 0 5xx"),
        "{text}"
    );
}

/// HEADERS + RST_STREAM(CANCEL) pairs for streams 1, 3, 5, ...
fn rapid_resets(pairs: u32) -> Vec<u8> {
    let mut all = Vec::new();
    for i in 0..pairs {
        let id = 2 * i + 1;
        all.extend_from_slice(&get(id, "/"));
        all.extend_from_slice(&rst(id, CANCEL));
    }
    all
}

#[test]
fn rapid_reset_with_default_limits_gets_enhance_your_calm() {
    let env = start("h2-rapid", Upstream::VarnishUnix, &[0], "");
    let mut c = raw(&env);
    c.send(&rapid_resets(1000));
    let goaway = c.goaway(WAIT).expect("GOAWAY after a rapid-reset burst");
    assert_eq!(
        goaway.error_code(),
        Some(ENHANCE_YOUR_CALM),
        "{:?}",
        String::from_utf8_lossy(goaway.debug_data())
    );
    assert_served(&env);
}

/// tlsterm's own per-second caps (the h2 crate's pending-accept guard set out of the way).
const OWN_CAPS: &str = "[h2]\nmax_pending_accept_reset_streams = 100000\n\
                        max_resets_per_second = 50\nmax_control_frames_per_second = 200\n";

#[test]
fn per_second_caps_on_resets_settings_and_pings() {
    let env = start("h2-caps", Upstream::VarnishUnix, &[0], OWN_CAPS);

    // Rapid reset: the 51st RST_STREAM within a second.
    let mut c = raw(&env);
    c.send(&rapid_resets(200));
    let goaway = c.goaway(WAIT).expect("GOAWAY after 200 resets");
    assert_eq!(goaway.error_code(), Some(ENHANCE_YOUR_CALM));
    // tlsterm's GOAWAY carries no debug data (the h2 crate's say which of its limits).
    assert_eq!(goaway.debug_data(), b"");
    assert_served(&env);

    // SETTINGS flood.
    let mut c = raw(&env);
    let flood: Vec<u8> = (0..1000).flat_map(|_| frame(SETTINGS, 0, 0, &[])).collect();
    c.send(&flood);
    let goaway = c.goaway(WAIT).expect("GOAWAY after a SETTINGS flood");
    assert_eq!(goaway.error_code(), Some(ENHANCE_YOUR_CALM));
    assert_served(&env);

    // PING flood.
    let mut c = raw(&env);
    let flood: Vec<u8> = (0..1000u64)
        .flat_map(|i| frame(PING, 0, 0, &i.to_be_bytes()))
        .collect();
    c.send(&flood);
    let goaway = c.goaway(WAIT).expect("GOAWAY after a PING flood");
    assert_eq!(goaway.error_code(), Some(ENHANCE_YOUR_CALM));
    let pongs = c
        .frames
        .iter()
        .filter(|f| f.kind == PING && f.flags == ACK)
        .count();
    assert!(pongs <= 200, "{pongs} PING ACKs before the GOAWAY");
    assert_served(&env);

    // Under the caps, the same connection stays usable.
    let mut c = raw(&env);
    let few: Vec<u8> = (0..20u64)
        .flat_map(|i| frame(PING, 0, 0, &i.to_be_bytes()))
        .collect();
    c.send(&few);
    c.send(&get(1, "/"));
    assert!(answered(&mut c, 1), "{:?}", c.frames);
    assert!(!c.frames.iter().any(|f| f.kind == GOAWAY));
}

#[test]
fn header_block_abuse_is_refused() {
    let env = start("h2-headers-abuse", Upstream::VarnishUnix, &[0], "");

    // CONTINUATION flood: a header block that never ends.
    let mut c = raw(&env);
    let mut flood = frame(HEADERS, 0, 1, &request_block("GET", "/", &[]));
    for i in 0..50 {
        let mut piece = Vec::new();
        hpack_literal(b"x-filler", format!("{i}").as_bytes(), &mut piece);
        flood.extend_from_slice(&frame(CONTINUATION, 0, 1, &piece));
    }
    c.send(&flood);
    let goaway = c.goaway(WAIT).expect("GOAWAY after a CONTINUATION flood");
    assert_eq!(goaway.error_code(), Some(ENHANCE_YOUR_CALM));
    assert_served(&env);

    // HPACK bomb: one 4000-byte field in the dynamic table, referenced 200 times (~800 KB
    // decoded from ~4 KB), far over the 32 KiB header list size.
    let mut c = raw(&env);
    let mut block = request_block("GET", "/", &[]);
    hpack_indexed_literal(b"x-bomb", &[b'a'; 4000], &mut block);
    for _ in 0..200 {
        hpack_index(62, &mut block);
    }
    c.send(&frame(HEADERS, END_STREAM | END_HEADERS, 1, &block));
    let goaway = c.goaway(WAIT).expect("GOAWAY after an HPACK bomb");
    assert_eq!(goaway.error_code(), Some(ENHANCE_YOUR_CALM));
    assert_served(&env);

    // A header list over the size (but not abusive): 431, the connection stays.
    let big = format!("X-Big: {}", "b".repeat(40_000));
    let (resp, _, _) = env.curl("/", &["--http2", "-H", &big]);
    assert_eq!((resp.version.as_str(), resp.status), ("HTTP/2", 431));
    assert_served(&env);
}

#[test]
fn stream_level_refusals_leave_the_connection_up() {
    let env = start("h2-streams", Upstream::VarnishUnix, &[0], "");
    let mut c = raw(&env);
    // Connection-specific field (refused by the h2 crate) and a Host that differs from
    // :authority (refused by tlsterm's translation): RST_STREAM(PROTOCOL_ERROR) each.
    let bad = request_block("GET", "/", &[("connection", "close")]);
    c.send(&frame(HEADERS, END_STREAM | END_HEADERS, 1, &bad));
    let bad = request_block("GET", "/", &[("host", "elsewhere.example")]);
    c.send(&frame(HEADERS, END_STREAM | END_HEADERS, 3, &bad));
    for id in [1, 3] {
        let end = c.read_until(WAIT, |f| f.kind == RST_STREAM && f.stream == id);
        assert_eq!(end, End::Matched, "stream {id}: {:?}", c.frames);
        let f = c.on_stream(id).into_iter().last().cloned().expect("frame");
        assert_eq!(f.error_code(), Some(PROTOCOL_ERROR), "stream {id}");
    }
    c.send(&get(5, "/"));
    assert!(answered(&mut c, 5), "{:?}", c.frames);
    // The refusal by tlsterm is logged (no response: status -1, no bytes).
    env.tls
        .wait_log("for the refused Host", |l| l.contains(" -1 0 PR "));

    // The concurrent-stream cap (100): the 101st open stream is refused.
    let mut c = raw(&env);
    let mut opens = Vec::new();
    for i in 0..101u32 {
        let block = request_block("POST", "/echo", &[("content-length", "10")]);
        opens.extend_from_slice(&frame(HEADERS, END_HEADERS, 2 * i + 1, &block));
    }
    c.send(&opens);
    let end = c.read_until(WAIT, |f| f.kind == RST_STREAM && f.stream == 201);
    assert_eq!(end, End::Matched, "{:?}", c.frames);
    assert_eq!(
        c.on_stream(201)[0].error_code(),
        Some(REFUSED_STREAM),
        "{:?}",
        c.on_stream(201)
    );
    assert_served(&env);
    // The client goes away: every open stream ends at once as a client abort (the upstream
    // connections they held are closed with them).
    drop(c);
    let aborted = |lines: &[String]| {
        lines
            .iter()
            .filter(|l| l.contains(" CD ") && l.ends_with("\"POST localhost /echo HTTP/2.0\""))
            .count()
    };
    let lines = env.tls.wait_log_count(100);
    let deadline = std::time::Instant::now() + WAIT;
    let mut lines = lines;
    while aborted(&lines) < 100 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        lines = env.tls.log_lines();
    }
    assert_eq!(aborted(&lines), 100, "{lines:#?}");

    // Empty DATA frames: the h2 crate allows 100 per connection.
    let mut c = raw(&env);
    let block = request_block("POST", "/echo", &[("content-length", "1")]);
    let mut flood = frame(HEADERS, END_HEADERS, 1, &block);
    for _ in 0..150 {
        flood.extend_from_slice(&frame(DATA, 0, 1, &[]));
    }
    c.send(&flood);
    let goaway = c.goaway(WAIT).expect("GOAWAY after empty DATA frames");
    assert_eq!(goaway.error_code(), Some(ENHANCE_YOUR_CALM));
    assert_served(&env);
}

/// One plain HTTP/1.1 request to the admin listener; returns the status.
fn admin_post(addr: SocketAddr, path: &str) -> u16 {
    let mut s = TcpStream::connect(addr).expect("connect admin");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut buf = String::new();
    s.read_to_string(&mut buf).expect("read");
    buf.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {buf:?}"))
}

#[test]
fn drain_sends_goaway_and_open_streams_finish() {
    let env = start(
        "h2-drain",
        Upstream::VarnishUnix,
        &[0],
        "[admin]\naddress = \"127.0.0.1:0\"\n",
    );
    let seen = env.varnish().origin_stats.requests();
    let mut c = raw(&env);
    c.send(&get(1, "/delay/1500/bytes/1000"));
    // Let the stream reach the origin, then drain.
    env.varnish().wait_origin_requests(seen, WAIT);
    assert_eq!(admin_post(env.tls.admin(), "/drain"), 200);
    let goaway = c.goaway(WAIT).expect("GOAWAY on drain");
    assert_eq!(goaway.error_code(), Some(NO_ERROR));
    // The open stream still completes.
    let end = c.read_until(WAIT, |f| {
        f.stream == 1 && f.kind == DATA && f.flags & END_STREAM != 0
    });
    assert_eq!(end, End::Matched, "{:?}", c.frames);
    let body: usize = c
        .on_stream(1)
        .iter()
        .filter(|f| f.kind == DATA)
        .map(|f| f.payload.len())
        .sum();
    assert_eq!(body, 1000);
    // Then the connection closes (after the final GOAWAY).
    assert_eq!(c.read_until(WAIT, |_| false), End::Closed);
    let log = env.log_for("/delay/1500/bytes/1000");
    assert_eq!((log.status, log.ts.as_str()), (200, "--"));
}

#[test]
fn slow_reader_is_reset_after_the_client_timeout() {
    let env = start(
        "h2-slow",
        Upstream::VarnishUnix,
        &[0],
        "[timeouts]\nclient = \"2s\"\n",
    );
    // Never opens more window than the initial 65535 bytes: the response stalls.
    let mut c = raw(&env);
    c.send(&get(1, "/bytes/1000000"));
    let end = c.read_until(Duration::from_secs(15), |f| {
        f.kind == RST_STREAM && f.stream == 1
    });
    assert_eq!(end, End::Matched, "{:?}", c.frames.len());
    assert_eq!(
        c.on_stream(1).last().and_then(|f| f.error_code()),
        Some(CANCEL)
    );
    let body: usize = c
        .on_stream(1)
        .iter()
        .filter(|f| f.kind == DATA)
        .map(|f| f.payload.len())
        .sum();
    assert_eq!(body, 65_535);
    let log = env.log_for("/bytes/1000000");
    assert_eq!(
        (log.status, log.ts.as_str(), log.bytes),
        (200, "cD", 65_535)
    );
    // The connection itself is still usable.
    c.send(&get(3, "/"));
    assert!(answered(&mut c, 3));
}
