//! End-to-end: curl / openssl s_client → tlsterm → real Varnish → in-process test origin.
//!
//! Covers what the cache layer sees (rewritten headers, connection properties), certificate
//! choice (ECDSA preferred, RSA for RSA-only clients, TLS 1.3 and 1.2), keep-alive reuse towards
//! Varnish, and the proxy's own answers when Varnish is absent (503 `SC`) or slow (504 `sH`).
//!
//! Does not: test HTTP framing edge cases (tests/e2e_http.rs) or `tlsterm check`
//! (tests/e2e_check.rs). Every test starts its own Varnish and tlsterm on ephemeral ports.
mod common;

use common::env::{start, Env, Upstream};
use common::wire::{connection_properties, connection_properties_ok, parse_access_line};
use common::{curl, s_client, StdinAfter, TempDir, Tlsterm, Varnish};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// Header fields of the origin's `/headers` body, names lower-cased.
fn origin_saw(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
        .collect()
}

fn values<'a>(fields: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    fields
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn harness_varnish_echoes_request_headers() {
    let v = Varnish::start();
    let mut s = UnixStream::connect(&v.sock).expect("connect varnish socket");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set timeout");
    s.write_all(
        b"GET /headers HTTP/1.1\r\nHost: h\r\nX-Client-IP: 192.0.2.1\r\n\
          X-Connection-Properties: x\r\nConnection: close\r\n\r\n",
    )
    .expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
    let r = common::wire::parse_responses(&buf).expect("parse");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status, 200);
    assert_eq!(r[0].header("x-echo-client-ip"), Some("192.0.2.1"));
    assert_eq!(r[0].header("x-echo-connection-properties"), Some("x"));
    assert!(String::from_utf8_lossy(&r[0].body).contains("X-Client-IP: 192.0.2.1\n"));
    assert!(v.sess_conn() >= 1);
}

#[test]
fn cache_sees_rewritten_headers_and_no_client_copies() {
    let env = start("headers", Upstream::VarnishUnix, &[0], "");
    let (resp, body, stdout) = env.curl(
        "/headers",
        &[
            "--http1.1",
            "-w",
            "%{local_port}",
            "-H",
            "X-Client-IP: 6.6.6.6",
            "-H",
            "X-Client-Port: 1",
            "-H",
            "X-Connection-Properties: evil",
            "-H",
            "X-Forwarded-Proto: http",
            "-H",
            "X-Forwarded-For: 192.0.2.7",
        ],
    );
    let local_port: u16 = stdout.trim().parse().expect("curl local_port");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("x-echo-client-ip"), Some("127.0.0.1"));
    assert_eq!(
        resp.header("x-echo-client-port"),
        Some(local_port.to_string().as_str())
    );
    assert_eq!(resp.header("x-echo-forwarded-proto"), Some("https"));
    // tlsterm appends the client to the client's list; Varnish then appends its own peer
    // (0.0.0.0 on a Unix socket).
    assert_eq!(
        resp.header("x-echo-forwarded-for"),
        Some("192.0.2.7, 127.0.0.1, 0.0.0.0")
    );
    let props = resp
        .header("x-echo-connection-properties")
        .expect("X-Connection-Properties reached Varnish");
    assert!(connection_properties_ok(props), "bad properties {props:?}");
    let want: Vec<(String, String)> = [
        ("H2", "0"),
        ("SSR", "0"),
        ("SSL", "TLSv1.3"),
        ("C", "TLS_AES_128_GCM_SHA256"),
        ("EC", "X25519"),
        ("KA", "ECDSA"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(connection_properties(props), want);

    // What the origin behind Varnish received: exactly one copy of each, never the client's.
    let saw = origin_saw(&body);
    assert_eq!(values(&saw, "x-client-ip"), vec!["127.0.0.1"]);
    assert_eq!(values(&saw, "x-client-port"), vec![local_port.to_string()]);
    assert_eq!(values(&saw, "x-forwarded-proto"), vec!["https"]);
    assert_eq!(values(&saw, "x-connection-properties"), vec![props]);
    let text = String::from_utf8_lossy(&body);
    assert!(
        !text.contains("6.6.6.6") && !text.contains("evil"),
        "{text}"
    );

    let log = env.log_for("/headers");
    assert_eq!(
        (log.client_ip.as_str(), log.client_port),
        ("127.0.0.1", local_port)
    );
    assert_eq!((log.status, log.ts.as_str()), (200, "--"));
    assert_eq!(log.shard, 0);
    assert_eq!(
        (
            log.tls_version.as_str(),
            log.cipher.as_str(),
            log.cert_kind.as_str()
        ),
        ("TLSv1.3", "TLS_AES_128_GCM_SHA256", "ECDSA")
    );
    assert_eq!(
        (
            log.method.as_str(),
            log.target.as_str(),
            log.http_version.as_str()
        ),
        ("GET", "/headers", "HTTP/1.1")
    );
    let port_host = format!("localhost:{}", env.tls.port());
    assert!(
        log.host == "localhost" || log.host == port_host,
        "host {:?}",
        log.host
    );
    assert!(log.bytes >= body.len() as u64, "bytes {} < body", log.bytes);
    let [tr, tw, tc, tr2, ta] = log.timers;
    assert!(
        tr >= 0 && tw >= 0 && tc >= 0 && tr2 >= 0,
        "{:?}",
        log.timers
    );
    assert!(ta >= tr2, "Ta {ta} < Tr {tr2}");
}

#[test]
fn tcp_upstream_and_default_protocol_choice() {
    let env = start("tcp", Upstream::VarnishTcp, &[0], "");
    let (resp, body, _) = env.curl("/bytes/10", &["--http1.1"]);
    assert_eq!(resp.status, 200);
    assert_eq!(body, common::pattern(10));
    assert_eq!(
        resp.header("x-echo-forwarded-for"),
        Some("127.0.0.1, 127.0.0.1")
    );

    // Without --http1.1 curl offers h2 by ALPN; whatever was negotiated must work and the
    // H2 flag must say which.
    let (resp, body, stdout) = env.curl("/headers", &["-w", "%{http_version}"]);
    assert_eq!(resp.status, 200, "{resp:?}");
    let props = resp
        .header("x-echo-connection-properties")
        .expect("properties");
    assert!(connection_properties_ok(props), "{props:?}");
    let h2 = if stdout.trim() == "2" { "1" } else { "0" };
    assert_eq!(
        connection_properties(props)[0],
        ("H2".to_string(), h2.to_string()),
        "curl spoke HTTP/{}",
        stdout.trim()
    );
    assert!(String::from_utf8_lossy(&body).contains("X-Client-IP: 127.0.0.1\n"));
}

#[test]
fn quick_start_flags_run_a_working_proxy() {
    let dir = TempDir::new("quick");
    let certs = common::certs::make(dir.path());
    let v = Varnish::start();
    let upstream = v.unix_upstream();
    let tls = Tlsterm::start_args([
        "run",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        upstream.as_str(),
        "--cert",
        certs.ecdsa.to_str().expect("utf-8"),
        "--cert",
        certs.rsa.to_str().expect("utf-8"),
        "--shards",
        "0",
    ]);
    let body = dir.join("b");
    let out = curl(
        &tls,
        &certs,
        &[
            "--http1.1",
            "-o",
            body.to_str().expect("utf-8"),
            "-w",
            "%{http_code}",
            &tls.url("/bytes/100"),
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
    assert_eq!(std::fs::read(&body).expect("body"), common::pattern(100));
}

/// One s_client handshake; returns its stdout.
fn handshake(env: &Env, extra: &[&str]) -> String {
    let p = s_client(
        &env.tls,
        &env.certs,
        extra,
        b"",
        StdinAfter::Close,
        Duration::from_secs(20),
    );
    assert!(p.status.is_some(), "s_client hung: {}", p.stderr_text());
    p.stdout_text()
}

#[test]
fn ecdsa_preferred_rsa_for_rsa_only_clients() {
    let env = start("certs", Upstream::Absent, &[0], "");
    let rsa_only = ["-sigalgs", "rsa_pss_rsae_sha256:RSA+SHA256"];
    for (version, proto_line) in [("-tls1_3", "TLSv1.3"), ("-tls1_2", "TLSv1.2")] {
        let no_sni_rsa_only = ["-noservername", rsa_only[0], rsa_only[1]];
        let cases: [(&[&str], &str); 5] = [
            (&[], "ECDSA"),
            (&rsa_only, "RSA"),
            // Load balancer health checks send no SNI: the default (ECDSA) certificate.
            (&["-noservername"], "ECDSA"),
            (&no_sni_rsa_only, "RSA"),
            // An unknown name gets the default certificate too.
            (&["-servername", "unknown.example"], "ECDSA"),
        ];
        for (args, want) in cases {
            let mut all = vec![version];
            all.extend_from_slice(args);
            let out = handshake(&env, &all);
            let ctx = format!("{all:?}:\n{out}");
            assert!(
                out.contains(&format!("New, {proto_line}, Cipher is ")),
                "{ctx}"
            );
            assert!(out.contains("Verify return code: 0 (ok)"), "{ctx}");
            let (bits, sig, cipher12) = if want == "ECDSA" {
                ("256", "ECDSA", "ECDHE-ECDSA-AES128-GCM-SHA256")
            } else {
                ("2048", "RSA-PSS", "ECDHE-RSA-AES128-GCM-SHA256")
            };
            assert!(
                out.contains(&format!("Server public key is {bits} bit")),
                "{ctx}"
            );
            assert!(
                out.contains(&format!("Peer signature type: {sig}\n")),
                "{ctx}"
            );
            let cipher = if proto_line == "TLSv1.3" {
                "TLS_AES_128_GCM_SHA256"
            } else {
                cipher12
            };
            // Server preference: AES-128-GCM first although openssl lists AES-256 first.
            assert!(out.contains(&format!("Cipher is {cipher}\n")), "{ctx}");
        }
    }
}

#[test]
fn upstream_connections_are_reused_across_requests_and_clients() {
    let env = start(
        "keepalive",
        Upstream::VarnishUnix,
        &common::two_cpus_if_available(),
        "",
    );
    let v = env.varnish();
    let conns_before = v.sess_conn();
    let reqs_before = v.counter("MAIN.client_req");
    let mut connects = 0;
    for i in 0..5 {
        let urls: Vec<String> = (0..10)
            .map(|j| env.tls.url(&format!("/bytes/{}", i * 10 + j)))
            .collect();
        let mut args = vec!["--http1.1", "-w", "%{http_code} %{num_connects}\n"];
        for u in &urls {
            args.extend_from_slice(&["-o", "/dev/null", u.as_str()]);
        }
        let out = curl(&env.tls, &env.certs, &args);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 10, "{text}");
        for l in lines {
            let (code, n) = l.split_once(' ').expect("code and connects");
            assert_eq!(code, "200", "{text}");
            connects += n.parse::<u32>().expect("num_connects");
        }
    }
    // Client side: curl reused each connection for its 10 requests.
    assert_eq!(connects, 5);
    let reqs = v.wait_counter("MAIN.client_req", reqs_before + 50, Duration::from_secs(10));
    assert!(
        reqs >= reqs_before + 50,
        "Varnish saw {} requests",
        reqs - reqs_before
    );
    let conns = v.sess_conn() - conns_before;
    assert!(
        conns < 50,
        "tlsterm opened {conns} connections to Varnish for 50 requests"
    );
    let lines = env.tls.wait_log_count(50);
    let ok = lines
        .iter()
        .filter_map(|l| parse_access_line(l).ok())
        .filter(|a| a.status == 200 && a.ts == "--")
        .count();
    assert_eq!(ok, 50, "{lines:#?}");
}

#[test]
fn absent_upstream_gives_503_sc() {
    let env = start("down", Upstream::Absent, &[0], "");
    let out = curl(
        &env.tls,
        &env.certs,
        &[
            "--http1.1",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &env.tls.url("/bytes/10"),
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "503", "{out:?}");
    let log = env.log_for("/bytes/10");
    assert_eq!((log.status, log.ts.as_str()), (503, "SC"), "{log:?}");
}

#[test]
fn slow_upstream_gives_504_sh_after_server_timeout() {
    let env = start(
        "slow",
        Upstream::VarnishUnix,
        &[0],
        "[timeouts]\nserver = \"1s\"\n",
    );
    let started = Instant::now();
    let out = curl(
        &env.tls,
        &env.certs,
        &[
            "--http1.1",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &env.tls.url("/delay/3000/bytes/10"),
        ],
    );
    let took = started.elapsed();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "504", "{out:?}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2800),
        "answered after {took:?}"
    );
    let log = env.log_for("/delay/3000/bytes/10");
    assert_eq!((log.status, log.ts.as_str()), (504, "sH"), "{log:?}");
}

#[test]
fn tls12_properties_use_openssl_cipher_names() {
    let env = start("tls12", Upstream::VarnishUnix, &[0], "");
    let cases = [
        (&[][..], "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDSA"),
        (
            &["--ciphers", "ECDHE-RSA-AES128-GCM-SHA256"][..],
            "ECDHE-RSA-AES128-GCM-SHA256",
            "RSA",
        ),
    ];
    for (extra, cipher, kind) in cases {
        let mut args = vec!["--http1.1", "--tlsv1.2", "--tls-max", "1.2"];
        args.extend_from_slice(extra);
        let (resp, _, _) = env.curl("/bytes/5", &args);
        assert_eq!(resp.status, 200);
        let props = resp
            .header("x-echo-connection-properties")
            .expect("properties");
        assert!(connection_properties_ok(props), "{props:?}");
        let p = connection_properties(props);
        let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(
            (get("SSL"), get("C"), get("KA")),
            (Some("TLSv1.2"), Some(cipher), Some(kind)),
            "{props}"
        );
    }
    let lines = env.tls.wait_log_count(2);
    let kinds: Vec<(String, String, String)> = lines
        .iter()
        .map(|l| parse_access_line(l).unwrap_or_else(|e| panic!("{e}")))
        .map(|a| (a.tls_version, a.cipher, a.cert_kind))
        .collect();
    let want = |c: &str, k: &str| ("TLSv1.2".to_string(), c.to_string(), k.to_string());
    assert_eq!(
        kinds,
        vec![
            want("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDSA"),
            want("ECDHE-RSA-AES128-GCM-SHA256", "RSA")
        ]
    );
}

/// `X-Tlsterm-Debug: timers` from a trusted network (loopback by default) gets the timers in a
/// response header, over HTTP/1.1 and HTTP/2; the request field never reaches the cache; an
/// untrusted client (loopback left out of `[debug] networks`) gets nothing.
#[test]
fn debug_header_for_trusted_clients_only() {
    let env = start("debug", Upstream::VarnishUnix, &[0], "");
    let backend = format!("unix:{}", env.varnish().sock.display());
    for proto in ["--http1.1", "--http2"] {
        let (resp, body, _) = env.curl("/headers", &[proto, "-H", "X-Tlsterm-Debug: timers"]);
        assert_eq!(resp.status, 200, "{proto}");
        let v = resp
            .header("x-tlsterm-debug")
            .unwrap_or_else(|| panic!("{proto}: no debug header in {resp:?}"));
        let fields: Vec<(&str, &str)> = v.split("; ").filter_map(|f| f.split_once('=')).collect();
        let names: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "shard",
                "backend",
                "TR",
                "Tw",
                "Tc",
                "Tr",
                "internal_us",
                "term"
            ],
            "{proto}: {v}"
        );
        assert_eq!(fields[0].1, "0");
        assert_eq!(fields[1].1, backend);
        assert_eq!(fields[7].1, "--");
        for (name, value) in &fields[2..7] {
            let n: i64 = value
                .parse()
                .unwrap_or_else(|_| panic!("{name}={value} in {v}"));
            assert!((0..10_000_000).contains(&n), "{name}={value} in {v}");
        }
        let saw = origin_saw(&body);
        assert!(
            values(&saw, "x-tlsterm-debug").is_empty(),
            "{proto}: the debug field reached the cache: {saw:?}"
        );
    }
    // Without the request field: no header.
    let (resp, _, _) = env.curl("/bytes/1", &["--http1.1"]);
    assert_eq!(resp.header("x-tlsterm-debug"), None);

    let untrusted = start(
        "debug-untrusted",
        Upstream::VarnishUnix,
        &[0],
        "[debug]\nnetworks = [\"10.0.0.0/8\"]\n",
    );
    let (resp, _, _) = untrusted.curl("/bytes/1", &["--http1.1", "-H", "X-Tlsterm-Debug: timers"]);
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("x-tlsterm-debug"),
        None,
        "not a trusted network"
    );
}
