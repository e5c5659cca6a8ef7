//! End-to-end: an upstream group of several cache backends.
//!
//! - Round-robin spreads sequential requests evenly over two real Varnish instances.
//! - Passive health: a backend that refuses connections is ejected after
//!   `eject_after_failures` consecutive failures; every client request still succeeds (the
//!   failed connect is retried on the other backend) and the metrics show the ejection.
//! - Active checks: a backend whose checks answer 503 is marked DOWN (no request reaches it)
//!   and comes back UP once its checks pass.
//! - Least-outstanding: a backend holding a slow request gets no more while the other is idle.
//!
//! The second backend is a small in-test HTTP server where the test needs to control its
//! answers (check status, delay) and count what reaches it; the first is always a real Varnish.
mod common;

use common::tlsops::scrape;
use common::{config_toml, curl, Certs, TempDir, Tlsterm, Varnish};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A keep-alive HTTP/1.1 server standing in for a cache backend: answers health checks
/// (`User-Agent: tlsterm-check`) with `check_status`, other requests with 200 after `delay_ms`.
struct FakeCache {
    addr: SocketAddr,
    requests: Arc<AtomicU64>,
    checks: Arc<AtomicU64>,
    check_status: Arc<AtomicU16>,
    delay_ms: Arc<AtomicU64>,
}

impl FakeCache {
    fn start() -> FakeCache {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind fake cache");
        let f = FakeCache {
            addr: l.local_addr().expect("local addr"),
            requests: Arc::default(),
            checks: Arc::default(),
            check_status: Arc::new(AtomicU16::new(200)),
            delay_ms: Arc::default(),
        };
        let (requests, checks, status, delay) = (
            Arc::clone(&f.requests),
            Arc::clone(&f.checks),
            Arc::clone(&f.check_status),
            Arc::clone(&f.delay_ms),
        );
        // Threads end with the test process; each connection is bounded by a read timeout.
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let (requests, checks, status, delay) = (
                    Arc::clone(&requests),
                    Arc::clone(&checks),
                    Arc::clone(&status),
                    Arc::clone(&delay),
                );
                std::thread::spawn(move || serve(s, &requests, &checks, &status, &delay));
            }
        });
        f
    }

    fn upstream(&self) -> String {
        self.addr.to_string()
    }
}

fn serve(
    mut s: TcpStream,
    requests: &AtomicU64,
    checks: &AtomicU64,
    status: &AtomicU16,
    delay: &AtomicU64,
) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        buf.drain(..end + 4);
        if head.contains("user-agent: tlsterm-check") {
            checks.fetch_add(1, Ordering::SeqCst);
            let code = status.load(Ordering::SeqCst);
            let _ = write!(
                s,
                "HTTP/1.1 {code} Check\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            return;
        }
        requests.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(delay.load(Ordering::SeqCst)));
        if s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Backend: fake\r\n\r\nB\n")
            .is_err()
        {
            return;
        }
    }
}

/// Writes `tlsterm.toml`: one shard, admin on an ephemeral port, `[upstream]` with
/// `backends` plus the `upstream_extra` keys.
fn group_config(dir: &TempDir, certs: &Certs, backends: &[String], upstream_extra: &str) {
    let list: Vec<String> = backends.iter().map(common::toml_str).collect();
    let text = config_toml(
        "@GROUP@",
        certs,
        &[0],
        "[admin]\naddress = \"127.0.0.1:0\"\n",
    )
    .replace(
        "address = \"@GROUP@\"",
        &format!("backends = [{}]\n{upstream_extra}", list.join(", ")),
    );
    dir.write("tlsterm.toml", text);
}

/// `n` sequential GETs on one keep-alive connection; the status codes.
fn get_many(t: &Tlsterm, certs: &Certs, n: usize) -> Vec<String> {
    let url = t.url("/bytes/10");
    let mut args = vec!["-w", "%{http_code}\n"];
    for _ in 0..n {
        args.extend(["-o", "/dev/null", url.as_str()]);
    }
    let out = curl(t, certs, &args);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn client_req(v: &Varnish) -> u64 {
    v.counter("MAIN.client_req")
}

fn metric_line(text: &str, prefix: &str) -> String {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} in metrics:\n{text}"))
        .to_string()
}

#[test]
fn round_robin_spreads_requests_over_two_varnish() {
    let dir = TempDir::new("group-rr");
    let certs = common::certs::make(dir.path());
    let (a, b) = (Varnish::start(), Varnish::start());
    group_config(
        &dir,
        &certs,
        &[a.unix_upstream(), b.unix_upstream()],
        "balance = \"round-robin\"",
    );
    let t = Tlsterm::start(&dir.join("tlsterm.toml"));
    let (a0, b0) = (client_req(&a), client_req(&b));
    let codes = get_many(&t, &certs, 10);
    assert_eq!(codes, vec!["200"; 10]);
    let a1 = a.wait_counter("MAIN.client_req", a0 + 5, Duration::from_secs(5));
    let b1 = b.wait_counter("MAIN.client_req", b0 + 5, Duration::from_secs(5));
    assert_eq!((a1 - a0, b1 - b0), (5, 5), "one shard alternates exactly");
    let m = scrape(t.admin());
    assert!(m.contains(&format!(
        "tlsterm_upstream_backend_up{{backend=\"{}\"}} 1",
        a.unix_upstream()
    )));
}

#[test]
fn a_refusing_backend_is_ejected_and_no_request_fails() {
    let dir = TempDir::new("group-eject");
    let certs = common::certs::make(dir.path());
    let a = Varnish::start();
    let dead = format!("unix:{}", dir.join("no-such.sock").display());
    group_config(
        &dir,
        &certs,
        &[a.unix_upstream(), dead.clone()],
        "eject_after_failures = 2\neject_duration = \"60s\"",
    );
    let t = Tlsterm::start(&dir.join("tlsterm.toml"));
    let a0 = client_req(&a);
    let codes = get_many(&t, &certs, 10);
    assert_eq!(
        codes,
        vec!["200"; 10],
        "failed connects are retried on the other"
    );
    assert_eq!(
        a.wait_counter("MAIN.client_req", a0 + 10, Duration::from_secs(5)) - a0,
        10
    );
    t.wait_stderr("about the ejection", Duration::from_secs(5), |l| {
        l.contains(&format!("backend {dead} ejected for 60s"))
            && l.contains("after 2 consecutive failures")
    });
    let m = scrape(t.admin());
    for line in [
        format!("tlsterm_upstream_backend_up{{backend=\"{dead}\"}} 0"),
        format!("tlsterm_upstream_backend_ejections_total{{backend=\"{dead}\"}} 1"),
        format!(
            "tlsterm_upstream_backend_up{{backend=\"{}\"}} 1",
            a.unix_upstream()
        ),
        // Exactly two attempts on the dead one: once ejected it is not tried again.
        "tlsterm_upstream_connect_failures_total 2".to_string(),
    ] {
        assert!(m.lines().any(|l| l == line), "missing {line:?} in\n{m}");
    }
    // The access log shows only successes.
    let lines = t.wait_log_count(10);
    assert!(lines.iter().all(|l| l.contains(" 200 ")), "{lines:#?}");
}

#[test]
fn active_checks_take_a_backend_out_and_bring_it_back() {
    let dir = TempDir::new("group-check");
    let certs = common::certs::make(dir.path());
    let a = Varnish::start();
    let fake = FakeCache::start();
    fake.check_status.store(503, Ordering::SeqCst);
    group_config(
        &dir,
        &certs,
        &[a.unix_upstream(), fake.upstream()],
        "check_path = \"/ping\"\ncheck_interval = \"100ms\"\ncheck_timeout = \"500ms\"\n\
         check_rise = 2\ncheck_fall = 2",
    );
    let t = Tlsterm::start(&dir.join("tlsterm.toml"));
    t.wait_stderr("marking the fake DOWN", Duration::from_secs(10), |l| {
        l.contains(&format!(
            "backend {} is DOWN after 2 failed checks: status 503",
            fake.addr
        ))
    });
    let codes = get_many(&t, &certs, 10);
    assert_eq!(codes, vec!["200"; 10]);
    assert_eq!(
        fake.requests.load(Ordering::SeqCst),
        0,
        "a DOWN backend gets nothing"
    );
    let m = scrape(t.admin());
    assert!(m.contains(&format!(
        "tlsterm_upstream_backend_up{{backend=\"{}\"}} 0",
        fake.addr
    )));
    let failed = metric_line(
        &m,
        &format!(
            "tlsterm_upstream_backend_check_failures_total{{backend=\"{}\"}}",
            fake.addr
        ),
    );
    let n: u64 = failed
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(n >= 2, "{failed}");

    fake.check_status.store(200, Ordering::SeqCst);
    t.wait_stderr("marking the fake UP", Duration::from_secs(10), |l| {
        l.contains(&format!(
            "backend {} is UP after 2 passed checks",
            fake.addr
        ))
    });
    let codes = get_many(&t, &certs, 10);
    assert_eq!(codes, vec!["200"; 10]);
    assert_eq!(fake.requests.load(Ordering::SeqCst), 5, "round-robin again");
    assert!(fake.checks.load(Ordering::SeqCst) >= 4);
}

#[test]
fn least_outstanding_avoids_the_busy_backend() {
    let dir = TempDir::new("group-lor");
    let certs = common::certs::make(dir.path());
    let a = Varnish::start();
    let fake = FakeCache::start();
    fake.delay_ms.store(4000, Ordering::SeqCst);
    group_config(
        &dir,
        &certs,
        &[a.unix_upstream(), fake.upstream()],
        "balance = \"least-outstanding\"",
    );
    let t = Arc::new(Tlsterm::start(&dir.join("tlsterm.toml")));
    let certs = Arc::new(certs);
    let a0 = client_req(&a);
    // Eight single-request clients, 250 ms apart: the first tie goes to the Varnish, the
    // second to the fake (which holds it 4 s), every later one to the idle Varnish.
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (t, certs) = (Arc::clone(&t), Arc::clone(&certs));
        clients.push(std::thread::spawn(move || {
            let out = curl(
                &t,
                &certs,
                &["-o", "/dev/null", "-w", "%{http_code}", &t.url("/")],
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        }));
        std::thread::sleep(Duration::from_millis(250));
    }
    let codes: Vec<String> = clients
        .into_iter()
        .map(|c| c.join().expect("client thread"))
        .collect();
    assert_eq!(codes, vec!["200"; 8]);
    // Exactly 1 when no two clients overlap at the Varnish; 2 if one did on a loaded machine
    // (a tie again). Round-robin would send 4.
    let slow = fake.requests.load(Ordering::SeqCst);
    assert!(
        (1..=2).contains(&slow),
        "{slow} requests reached the busy backend"
    );
    assert_eq!(
        a.wait_counter("MAIN.client_req", a0 + 8 - slow, Duration::from_secs(5)) - a0,
        8 - slow
    );
}
