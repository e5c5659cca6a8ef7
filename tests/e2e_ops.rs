//! End-to-end: operating tlsterm under systemd and upgrading it without dropping a request.
//!
//! - sd_notify: `READY=1` once serving, `WATCHDOG=1` at half `WATCHDOG_USEC` while every shard
//!   answers, no pings while a shard is stuck (test-only `TLSTERM_TEST_STALL_SHARD`),
//!   `STOPPING=1` on SIGTERM — against a fake `NOTIFY_SOCKET` listener.
//! - Zero-downtime upgrade: under continuous load, a new process binds the same port
//!   (SO_REUSEPORT) and the old one drains on SIGTERM, three times in a row; the kernel's
//!   `net.ipv4.tcp_migrate_req` hands connections queued on the closing listener to the new one.
mod common;

use common::tlsclient::TlsClient;
use common::{config_toml, TempDir, Tlsterm, Varnish};
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Collects datagrams from a fake NOTIFY_SOCKET with their arrival times.
fn recv_until(sock: &UnixDatagram, within: Duration) -> Vec<(Instant, String)> {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return out;
        }
        sock.set_read_timeout(Some(left)).expect("timeout");
        match sock.recv(&mut buf) {
            Ok(n) => out.push((
                Instant::now(),
                String::from_utf8_lossy(&buf[..n]).into_owned(),
            )),
            Err(_) => return out,
        }
    }
}

#[test]
fn notify_ready_watchdog_pings_and_stuck_shard_withholds_them() {
    let dir = TempDir::new("sdnotify");
    let certs = common::certs::make(dir.path());
    let sock_path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("bind notify socket");
    let varnish = Varnish::start();
    let cfg = dir.write(
        "tlsterm.toml",
        config_toml(&varnish.unix_upstream(), &certs, &[0], ""),
    );
    let path = sock_path.to_str().expect("utf-8");
    let mut t = Tlsterm::start_env(
        &cfg,
        &[
            ("NOTIFY_SOCKET", path),
            ("WATCHDOG_USEC", "400000"),
            ("TLSTERM_TEST_STALL_SHARD", "0"),
        ],
    );
    // READY first, then pings every ~200 ms until shard 0 stalls (1 s after start, 10 s).
    let msgs = recv_until(&sock, Duration::from_millis(3500));
    assert!(
        msgs.first()
            .is_some_and(|(_, m)| m.starts_with("READY=1\nSTATUS=serving")),
        "{msgs:?}"
    );
    let pings: Vec<Instant> = msgs
        .iter()
        .filter(|(_, m)| m == "WATCHDOG=1")
        .map(|(at, _)| *at)
        .collect();
    assert!(
        (2..=8).contains(&pings.len()),
        "pings before the stall: {}",
        pings.len()
    );
    assert!(
        msgs.iter()
            .any(|(_, m)| m.starts_with("STATUS=shard(s) [0] not answering")),
        "{msgs:?}"
    );
    // Since the stall began, no ping for well over the watchdog period.
    let last_ping = *pings.last().expect("a ping");
    assert!(
        Instant::now().duration_since(last_ping) > Duration::from_millis(1500),
        "pings kept coming while a shard was stuck"
    );
    t.sigterm();
    let msgs = recv_until(&sock, Duration::from_secs(12));
    assert!(
        msgs.iter().any(|(_, m)| m.starts_with("STOPPING=1")),
        "{msgs:?}"
    );
    assert!(t.wait_exit(Duration::from_secs(20)).is_some());
}

/// Enables `net.ipv4.tcp_migrate_req` for the test's duration (root only; restored on drop).
struct MigrateReq(Option<String>);

impl MigrateReq {
    fn enable() -> MigrateReq {
        let path = "/proc/sys/net/ipv4/tcp_migrate_req";
        let old = std::fs::read_to_string(path)
            .expect("this kernel lacks tcp_migrate_req (Linux >= 5.14 needed)");
        std::fs::write(path, "1").expect("set tcp_migrate_req (the test runs as root in CI)");
        MigrateReq(Some(old))
    }
}

impl Drop for MigrateReq {
    fn drop(&mut self) {
        if let Some(old) = self.0.take() {
            let _ = std::fs::write("/proc/sys/net/ipv4/tcp_migrate_req", old.trim());
        }
    }
}

#[test]
fn upgrade_three_times_under_load_loses_nothing() {
    let _migrate = MigrateReq::enable();
    let dir = TempDir::new("upgrade");
    let certs = common::certs::make(dir.path());
    let varnish = Varnish::start();
    // A fixed port for every generation: take a free one.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port();
    let toml = config_toml(&varnish.unix_upstream(), &certs, &[0], "")
        .replace("127.0.0.1:0", &format!("127.0.0.1:{port}"))
        .replace("access = \"stdout\"", "access = \"off\"");
    let cfg = dir.write("tlsterm.toml", toml);
    let mut current = Tlsterm::start(&cfg);
    let addr = current.addr();

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    for _ in 0..2 {
        let (stop, ok, failed, certs) = (
            Arc::clone(&stop),
            Arc::clone(&ok),
            Arc::clone(&failed),
            certs.clone(),
        );
        load.push(std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let result = std::panic::catch_unwind(|| {
                    let mut c = TlsClient::connect(addr, &certs);
                    c.send(
                        b"GET /bytes/10 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                    )
                    .expect("send");
                    let (bytes, _) = c.read_until_close(Duration::from_secs(10));
                    bytes.starts_with(b"HTTP/1.1 200 ")
                });
                match result {
                    Ok(true) => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..3 {
        let next = Tlsterm::start(&cfg);
        assert_eq!(next.addr(), addr);
        std::thread::sleep(Duration::from_millis(300));
        current.sigterm();
        assert!(
            current
                .wait_exit(Duration::from_secs(40))
                .is_some_and(|s| s.success()),
            "old generation did not exit cleanly"
        );
        current = next;
        std::thread::sleep(Duration::from_millis(300));
    }
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.join().expect("load thread");
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert!(ok > 20, "too few requests to mean anything: {ok}");
    assert_eq!(failed, 0, "{failed} of {} requests failed", ok + failed);
}

#[test]
fn plain_http_listener_redirects_forbids_and_proxies_exempt_paths() {
    use std::io::{Read, Write};
    let dir = TempDir::new("redirect");
    let certs = common::certs::make(dir.path());
    let varnish = Varnish::start();
    let cfg = dir.write(
        "tlsterm.toml",
        config_toml(
            &varnish.unix_upstream(),
            &certs,
            &[0],
            "[[redirect]]\naddress = \"127.0.0.1:0\"\nexempt_paths = [\"/headers\"]\n",
        ),
    );
    let t = Tlsterm::start(&cfg);
    let addr: std::net::SocketAddr = t
        .stderr_lines()
        .iter()
        .find_map(|l| l.strip_prefix("tlsterm: redirecting http on "))
        .expect("redirect listener address")
        .parse()
        .expect("address");
    let ask = |request: &str| -> String {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        s.write_all(request.as_bytes()).expect("write");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    let r = ask("GET /a/b?c=d HTTP/1.1\r\nHost: example.org:80\r\nConnection: close\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 301 Moved Permanently\r\n"), "{r}");
    assert!(
        r.contains("\r\nLocation: https://example.org/a/b?c=d\r\n"),
        "{r}"
    );
    let r = ask("POST /form HTTP/1.1\r\nHost: example.org\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 403 "), "{r}");
    // Exempt paths reach the cache as plain HTTP, with no TLS properties.
    let r = ask(
        "GET /headers HTTP/1.1\r\nHost: example.org\r\nX-Connection-Properties: evil\r\nConnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 200 "), "{r}");
    assert!(r.contains("X-Forwarded-Proto: http\n"), "{r}");
    assert!(!r.contains("X-Connection-Properties"), "{r}");
    let line = t.wait_log("redirect log line", |l| {
        l.contains(" 301 ") && l.contains(" LR ")
    });
    assert!(line.contains("-/-/-"), "{line}");
}

/// `[shards] steering = "cpu"`: a connection goes to the shard on the CPU that processes its
/// SYN. On loopback that is the client's CPU, so curl pinned to CPU 0 lands on shard 0 every
/// time, pinned to CPU 1 on shard 1 (with the kernel's hash, about half would go each way).
#[test]
fn cpu_steering_sends_each_connection_to_the_shard_on_its_cpu() {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(n >= 2, "this test needs CPUs 0 and 1 (the machine has {n})");
    let taskset = common::require_tool("taskset");
    let curl_bin = common::require_tool("curl");
    let dir = TempDir::new("steering");
    let certs = common::certs::make(dir.path());
    let varnish = Varnish::start();
    let cfg = dir.write(
        "tlsterm.toml",
        config_toml(
            &varnish.unix_upstream(),
            &certs,
            &[0, 1],
            "[admin]\naddress = \"127.0.0.1:0\"\n",
        )
        .replace("[shards]\n", "[shards]\nsteering = \"cpu\"\n"),
    );
    let t = Tlsterm::start(&cfg);
    assert!(
        t.stderr_lines()
            .iter()
            .any(|l| l.contains("steered to the shard on the CPU")),
        "{:#?}",
        t.stderr_lines()
    );
    let accepted = |shard: usize| -> u64 {
        let m = common::tlsops::scrape(t.admin());
        let prefix = format!("tlsterm_connections_accepted_total{{shard=\"{shard}\"}} ");
        m.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} in\n{m}"))
    };
    for (cpu, expect) in [(0usize, [6u64, 0]), (1, [6, 6])] {
        for _ in 0..6 {
            let out = std::process::Command::new(&taskset)
                .args(["-c", &cpu.to_string()])
                .arg(&curl_bin)
                .args(["-sS", "--max-time", "30", "--cacert"])
                .arg(&certs.ca)
                .arg("--resolve")
                .arg(format!("localhost:{}:127.0.0.1", t.port()))
                .args(["-o", "/dev/null", "-w", "%{http_code}"])
                .arg(t.url("/bytes/1"))
                .output()
                .expect("run taskset curl");
            assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "{out:?}");
        }
        assert_eq!(
            [accepted(0), accepted(1)],
            expect,
            "after 6 connections from CPU {cpu}"
        );
    }
}
