//! End-to-end: every timeout and admission limit of tlsterm, against the real binary.
//!
//! Timeouts: TLS handshake (silent client, partial ClientHello), request head (slowloris →
//! 408 `cR`), keep-alive idle, client body inactivity (`cD`), upstream connect (`sC`), upstream
//! body inactivity (`sD`). Idle and pre-handshake connections must end with a FIN, never a RST.
//! Limits: the reserved health-check pool answers while the main pool is saturated (`sQ` for
//! the others), the per-IP cap penalizes, and `maxconn` holds new connections in the backlog.
//!
//! Does not: test the response-head timeout (tests/e2e_proxy.rs) or HTTP parsing limits
//! (tests/e2e_http.rs).
mod common;

use common::env::{start, Upstream};
use common::tlsclient::{tcp_wait_close, End, TlsClient};
use common::{config_toml, TempDir, Tlsterm};
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn log_with(t: &Tlsterm, status: &str, state: &str) -> String {
    let (s, st) = (format!(" {status} "), format!(" {state} "));
    t.wait_log(&format!("{status} {state}"), |l| {
        l.contains(&s) && l.contains(&st)
    })
}

#[test]
fn handshake_timeout_closes_silent_and_partial_clients_with_fin() {
    let env = start(
        "hs-timeout",
        Upstream::Absent,
        &[0],
        "[timeouts]\nhandshake = \"1s\"\n",
    );
    let started = Instant::now();
    let mut silent = TcpStream::connect(env.tls.addr()).expect("connect");
    let mut partial = TcpStream::connect(env.tls.addr()).expect("connect");
    // The first bytes of a TLS record carrying a ClientHello, then nothing.
    partial
        .write_all(&[0x16, 0x03, 0x01, 0x00, 0xc8, 0x01])
        .expect("write");
    assert_eq!(
        tcp_wait_close(&mut silent, Duration::from_secs(5)),
        End::Closed
    );
    assert_eq!(
        tcp_wait_close(&mut partial, Duration::from_secs(5)),
        End::Closed
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}"
    );
}

#[test]
fn slowloris_gets_408_cr() {
    let env = start(
        "slowloris",
        Upstream::Absent,
        &[0],
        "[timeouts]\nheader = \"1s\"\n",
    );
    let mut c = TlsClient::connect(env.tls.addr(), &env.certs);
    let started = Instant::now();
    c.send(b"GET / HTTP/1.1\r\n").expect("send");
    // One byte every 200 ms: never a complete head. Between bytes, look for the answer.
    let mut answer = Vec::new();
    let mut end = End::StillOpen;
    for b in b"Host: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaa".iter() {
        if c.send(&[*b]).is_err() {
            break;
        }
        let (bytes, e) = c.read_until_close(Duration::from_millis(200));
        answer.extend_from_slice(&bytes);
        end = e;
        if !answer.is_empty() || end != End::StillOpen || started.elapsed() > Duration::from_secs(4)
        {
            break;
        }
    }
    if end == End::StillOpen {
        let (bytes, e) = c.read_until_close(Duration::from_secs(5));
        answer.extend_from_slice(&bytes);
        end = e;
    }
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text:?}");
    assert_eq!(end, End::Closed);
    log_with(&env.tls, "408", "cR");
}

#[test]
fn keepalive_idle_connection_is_closed_with_fin() {
    let env = start(
        "keepalive",
        Upstream::VarnishUnix,
        &[0],
        "[timeouts]\nkeepalive = \"1s\"\n",
    );
    let mut c = TlsClient::connect(env.tls.addr(), &env.certs);
    c.send(b"GET /bytes/5 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("send");
    // The response arrives, then the idle connection is closed after ~1 s.
    let (bytes, end) = c.read_until_close(Duration::from_secs(5));
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text:?}");
    assert_eq!(end, End::Closed);
}

#[test]
fn client_body_inactivity_ends_with_cd() {
    let env = start(
        "body-idle",
        Upstream::VarnishUnix,
        &[0],
        "[timeouts]\nclient = \"1s\"\n",
    );
    let mut c = TlsClient::connect(env.tls.addr(), &env.certs);
    c.send(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n0123456789")
        .expect("send");
    let (_, end) = c.read_until_close(Duration::from_secs(6));
    assert_eq!(end, End::Closed);
    log_with(&env.tls, "-1", "cD");
}

#[test]
fn upstream_connect_timeout_gives_503_sc_lowercase() {
    // A listener that never accepts, its one-slot backlog already full: SYNs go unanswered.
    let sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    sock.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .expect("bind");
    sock.listen(0).expect("listen");
    let addr = sock.local_addr().expect("addr").as_socket().expect("inet");
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            fillers.push(s);
        }
    }
    let dir = TempDir::new("connect-timeout");
    let certs = common::certs::make(dir.path());
    let cfg = dir.write(
        "tlsterm.toml",
        config_toml(
            &addr.to_string(),
            &certs,
            &[0],
            "[timeouts]\nconnect = \"500ms\"\n",
        ),
    );
    let t = Tlsterm::start(&cfg);
    let started = Instant::now();
    let out = common::curl(
        &t,
        &certs,
        &["-s", "-o", "/dev/null", "-w", "%{http_code}", &t.url("/x")],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "503");
    // Two attempts of 500 ms each (one retry).
    assert!(started.elapsed() >= Duration::from_millis(900));
    log_with(&t, "503", "sC");
    drop(fillers);
}

#[test]
fn upstream_body_inactivity_ends_with_sd() {
    let origin = tlsterm::origin::spawn("127.0.0.1:0").expect("origin");
    let dir = TempDir::new("upstream-idle");
    let certs = common::certs::make(dir.path());
    let cfg = dir.write(
        "tlsterm.toml",
        config_toml(
            &origin.to_string(),
            &certs,
            &[0],
            "[timeouts]\nserver = \"1s\"\n",
        ),
    );
    let t = Tlsterm::start(&cfg);
    let mut c = TlsClient::connect(t.addr(), &certs);
    c.send(b"GET /stall/100000 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("send");
    let (bytes, end) = c.read_until_close(Duration::from_secs(8));
    assert_eq!(end, End::Closed, "a truncated body must end the connection");
    assert!(bytes.len() < 100_000, "{} bytes", bytes.len());
    log_with(&t, "200", "sD");
}

#[test]
fn health_checks_use_the_reserved_pool_when_the_main_pool_is_full() {
    // The upstream section comes from config_toml; add the pool settings to it.
    let dir = TempDir::new("health-pool-2");
    let certs = common::certs::make(dir.path());
    let varnish = common::Varnish::start();
    let toml = config_toml(
        &varnish.unix_upstream(),
        &certs,
        &[0],
        "[timeouts]\nqueue = \"300ms\"\n",
    )
    .replace(
        "[upstream]\n",
        "[upstream]\nmax_connections_per_shard = 1\nhealth_path = \"/varnish-fe\"\n\
             health_host_prefix = \"healthcheck.\"\n",
    );
    let cfg = dir.write("tlsterm.toml", toml);
    let t = Tlsterm::start(&cfg);
    let slow_url = t.url("/delay/3000/bytes/10");
    let (ca, port) = (certs.ca.clone(), t.port());
    let seen = varnish.origin_stats.requests();
    let slow = std::thread::spawn(move || {
        std::process::Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(&ca)
            .arg("--resolve")
            .arg(format!("localhost:{port}:127.0.0.1"))
            .arg(&slow_url)
            .output()
            .expect("curl")
    });
    // The slow request holds the pool's only connection once the origin has it.
    varnish.wait_origin_requests(seen, Duration::from_secs(10));
    let code = |extra: &[&str], path: &str| {
        let mut args = vec!["-s", "-o", "/dev/null", "-w", "%{http_code}"];
        args.extend_from_slice(extra);
        let url = t.url(path);
        args.push(&url);
        String::from_utf8_lossy(&common::curl(&t, &certs, &args).stdout).into_owned()
    };
    // The main pool's only connection is busy: an ordinary request queues, then 503 sQ.
    assert_eq!(code(&[], "/bytes/10"), "503");
    // The load balancer's check goes through its reserved pool.
    let started = Instant::now();
    assert_eq!(
        code(&["-H", "Host: healthcheck.example.org"], "/varnish-fe"),
        "200"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    let out = slow.join().expect("slow thread");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
    log_with(&t, "503", "sQ");
}

#[test]
fn per_ip_cap_penalizes_then_forgives() {
    let env = start(
        "per-ip",
        Upstream::VarnishUnix,
        &[0],
        "[limits]\nper_ip_max_concurrent = 1\nper_ip_penalty = \"2s\"\n",
    );
    let url = env.tls.url("/delay/1500/bytes/10");
    let (ca, port) = (env.certs.ca.clone(), env.tls.port());
    let seen = env.varnish().origin_stats.requests();
    let first = std::thread::spawn(move || {
        std::process::Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(&ca)
            .arg("--resolve")
            .arg(format!("localhost:{port}:127.0.0.1"))
            .arg(&url)
            .output()
            .expect("curl")
    });
    // The first request is in flight (at the origin for 1.5 s) once the origin has it.
    env.varnish()
        .wait_origin_requests(seen, Duration::from_secs(10));
    let try_once = || {
        let out = common::curl(
            &env.tls,
            &env.certs,
            &[
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                &env.tls.url("/bytes/1"),
            ],
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Second concurrent request: over the cap → closed without an answer.
    assert_eq!(try_once(), "000");
    // The first request is unaffected.
    assert_eq!(
        String::from_utf8_lossy(&first.join().expect("first").stdout),
        "200"
    );
    // During the penalty, new connections are closed at once.
    assert_eq!(try_once(), "000");
    log_with(&env.tls, "-1", "PR");
    // After it, the client is served again.
    std::thread::sleep(Duration::from_millis(2200));
    assert_eq!(try_once(), "200");
}

#[test]
fn maxconn_holds_new_connections_in_the_backlog() {
    let dir = TempDir::new("maxconn");
    let certs = common::certs::make(dir.path());
    let varnish = common::Varnish::start();
    let toml = config_toml(&varnish.unix_upstream(), &certs, &[0], "").replace(
        "address = \"127.0.0.1:0\"\n",
        "address = \"127.0.0.1:0\"\nmaxconn = 2\n",
    );
    let cfg = dir.write("tlsterm.toml", toml);
    let t = Tlsterm::start(&cfg);
    let a = TlsClient::connect(t.addr(), &certs);
    let _b = TlsClient::connect(t.addr(), &certs);
    // The third connection is not accepted (its handshake waits in the kernel backlog)...
    let (tx, rx) = std::sync::mpsc::channel();
    let addr = t.addr();
    let certs2 = certs.clone();
    std::thread::spawn(move || {
        let c = TlsClient::connect(addr, &certs2);
        let _ = tx.send(Instant::now());
        drop(c);
    });
    assert!(
        rx.recv_timeout(Duration::from_millis(800)).is_err(),
        "a third connection was served while two were open with maxconn = 2"
    );
    // ...until one of the first two closes: below the low-water mark, accepting resumes.
    let closed = Instant::now();
    drop(a);
    let served = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("third connection served");
    assert!(served >= closed);
}
