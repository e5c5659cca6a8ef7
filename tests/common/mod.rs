//! Harness for tlsterm's end-to-end tests: temporary directories, a real Varnish in front of the
//! in-process test origin, the `tlsterm` binary under test, and the command-line clients (curl,
//! openssl s_client) that talk to it.
//!
//! Job: start and stop real processes hermetically — unique temp dirs under /tmp, ephemeral
//! ports (port 0), deadlines instead of fixed sleeps, every child stopped on `Drop`.
//!
//! Does not: skip. A missing tool fails the test with the hint to run `ci/test.sh`, which
//! installs it. It does not judge responses either (see [`wire`]).
//!
//! Invariants: every directory handed to varnishd is 0755 and every file 0644, because varnishd
//! drops privileges to the `vcache` user; no test depends on the system Varnish service.
#![allow(dead_code, unused_imports)]

pub mod certs;
pub mod env;
pub mod ocsp;
pub mod proc;
pub mod tlsclient;
pub mod tlsops;
pub mod wire;

pub use certs::Certs;
pub use proc::{curl, run_piped, s_client, Piped, StdinAfter, Tlsterm};

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long tlsterm and varnishd may take to become ready.
pub const READY_DEADLINE: Duration = Duration::from_secs(30);
/// How long an access-log line may take to appear after its request finished.
pub const LOG_DEADLINE: Duration = Duration::from_secs(10);
/// Pause between two polls of a condition that has a deadline.
pub const POLL: Duration = Duration::from_millis(25);

/// Finds `name` on PATH (or in the sbin directories), or fails the test with the install hint.
pub fn require_tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from));
    for d in dirs {
        let p = d.join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("{name} not found: run ci/test.sh, which installs it");
}

/// Writes `contents` to `dir/name` with mode 0644; returns the path.
pub fn write_file(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, contents).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod 0644");
    p
}

/// Quotes `s` as a TOML basic string.
pub fn toml_str(s: impl AsRef<str>) -> String {
    let s = s.as_ref().replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{s}\"")
}

/// Quotes a path as a TOML basic string.
pub fn toml_path(p: &Path) -> String {
    toml_str(p.to_str().expect("test paths are UTF-8"))
}

/// A unique directory under /tmp (mode 0755), removed on drop unless the test failed.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = PathBuf::from(format!("/tmp/tlsterm-e2e-{}-{n}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        write_file(&self.path, name, contents)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept test directory {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Sends SIGTERM to `child`, waits up to `grace`, then SIGKILLs it. Returns its status
/// if it exited on SIGTERM within `grace`.
pub fn stop_child(child: &mut Child, grace: Duration) -> Option<std::process::ExitStatus> {
    if let Ok(Some(st)) = child.try_wait() {
        return Some(st);
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        std::thread::sleep(POLL);
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// A varnishd of its own (work dir, VCL, Unix socket and TCP port), in front of the in-process
/// test origin (`tlsterm::origin`), configured by `tests/vcl/echo.vcl`.
pub struct Varnish {
    child: Child,
    /// The varnishd working directory (`-n`).
    pub workdir: PathBuf,
    /// The Unix socket clients connect to.
    pub sock: PathBuf,
    /// The TCP address clients connect to.
    pub tcp: std::net::SocketAddr,
    /// The test origin behind Varnish.
    pub origin: std::net::SocketAddr,
    /// The origin's live counters.
    pub origin_stats: std::sync::Arc<tlsterm::origin::OriginStats>,
    log: PathBuf,
    dir: TempDir,
}

impl Varnish {
    pub fn start() -> Varnish {
        let varnishd = require_tool("varnishd");
        require_tool("varnishstat");
        require_tool("varnishadm");
        let dir = TempDir::new("varnish");
        let (origin, origin_stats) =
            tlsterm::origin::spawn_observed("127.0.0.1:0").expect("spawn test origin");
        let vcl =
            include_str!("../vcl/echo.vcl").replace("@ORIGIN_PORT@", &origin.port().to_string());
        let vcl_path = dir.write("echo.vcl", vcl);
        let workdir = dir.join("work");
        let sock = dir.join("varnish.sock");
        let log = dir.join("varnishd.log");
        let logf = std::fs::File::create(&log).expect("create varnishd log");
        let child = Command::new(varnishd)
            .arg("-F")
            .arg("-n")
            .arg(&workdir)
            .arg("-f")
            .arg(&vcl_path)
            .arg("-a")
            .arg(format!("{},mode=666", sock.display()))
            .args(["-a", "127.0.0.1:0", "-s", "malloc,32m"])
            .args(["-p", "thread_pools=1", "-p", "thread_pool_min=10"])
            .args(["-p", "timeout_idle=30"])
            .stdin(Stdio::null())
            .stdout(Stdio::from(logf.try_clone().expect("dup log fd")))
            .stderr(Stdio::from(logf))
            .spawn()
            .expect("spawn varnishd");
        let mut v = Varnish {
            child,
            workdir,
            sock,
            tcp: "127.0.0.1:0".parse().expect("literal address"),
            origin,
            origin_stats,
            log,
            dir,
        };
        v.wait_ready();
        v.tcp = v.tcp_address();
        v
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until a request through the Unix socket reaches the origin and comes back.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("varnishd exited early ({st}):\n{}", self.log_text());
            }
            if probe(&self.sock) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "varnishd not ready within {READY_DEADLINE:?}:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// The TCP listen address varnishd bound for `-a 127.0.0.1:0`.
    fn tcp_address(&self) -> std::net::SocketAddr {
        let out = Command::new(require_tool("varnishadm"))
            .arg("-n")
            .arg(&self.workdir)
            .arg("debug.listen_address")
            .output()
            .expect("run varnishadm");
        let text = String::from_utf8_lossy(&out.stdout);
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() == 3 && f[1] == "127.0.0.1" {
                if let Ok(port) = f[2].parse::<u16>() {
                    return std::net::SocketAddr::from(([127, 0, 0, 1], port));
                }
            }
        }
        panic!(
            "no TCP address in varnishadm debug.listen_address: {text:?} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The value of a varnishstat counter such as `MAIN.sess_conn`.
    pub fn counter(&self, name: &str) -> u64 {
        let out = Command::new(require_tool("varnishstat"))
            .arg("-n")
            .arg(&self.workdir)
            .args(["-1", "-f", name])
            .output()
            .expect("run varnishstat");
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find_map(|l| {
                let mut f = l.split_whitespace();
                (f.next() == Some(name))
                    .then(|| f.next().and_then(|v| v.parse().ok()))
                    .flatten()
            })
            .unwrap_or_else(|| panic!("no {name} in varnishstat output {text:?}"))
    }

    /// Waits until the origin has read more than `seen` requests (a request under `/delay/`
    /// counts while it is still in flight) and returns the count; panics after `within`.
    /// For tests that need a slow request to be in progress before they go on.
    pub fn wait_origin_requests(&self, seen: u64, within: Duration) -> u64 {
        let deadline = Instant::now() + within;
        loop {
            let n = self.origin_stats.requests();
            if n > seen {
                return n;
            }
            assert!(
                Instant::now() < deadline,
                "the origin saw no request beyond the first {seen} within {within:?}"
            );
            std::thread::sleep(POLL);
        }
    }

    /// Client connections Varnish accepted so far (includes the readiness probe).
    pub fn sess_conn(&self) -> u64 {
        self.counter("MAIN.sess_conn")
    }

    /// Polls counter `name` until it reaches `min` (varnishstat lags the workers slightly).
    pub fn wait_counter(&self, name: &str, min: u64, within: Duration) -> u64 {
        let deadline = Instant::now() + within;
        loop {
            let v = self.counter(name);
            if v >= min || Instant::now() > deadline {
                return v;
            }
            std::thread::sleep(POLL * 4);
        }
    }

    /// `unix:/path/varnish.sock`
    pub fn unix_upstream(&self) -> String {
        format!("unix:{}", self.sock.display())
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// One GET through the Unix socket; true when a 200 came back.
fn probe(sock: &Path) -> bool {
    let Ok(mut s) = UnixStream::connect(sock) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /ready HTTP/1.1\r\nHost: ready\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    buf.starts_with(b"HTTP/1.1 200")
}

impl Drop for Varnish {
    fn drop(&mut self) {
        if stop_child(&mut self.child, Duration::from_secs(10)).is_none() {
            eprintln!("varnishd did not stop on SIGTERM; killed");
        }
        if std::thread::panicking() {
            eprintln!("--- varnishd log ---\n{}", self.log_text());
        }
    }
}

/// Builds a tlsterm TOML configuration: one listener on 127.0.0.1:0, shards on `cpus`, both
/// test certificates (ECDSA first), the given upstream, access log on stdout, then `extra`
/// (more tables, e.g. `[timeouts]`).
pub fn config_toml(upstream: &str, certs: &Certs, cpus: &[usize], extra: &str) -> String {
    let cpus: Vec<String> = cpus.iter().map(|c| c.to_string()).collect();
    format!(
        "[[listener]]\naddress = \"127.0.0.1:0\"\n\n\
         [shards]\ncpus = [{}]\n\n\
         [[certificate]]\npem = {}\n\n\
         [[certificate]]\npem = {}\n\n\
         [upstream]\naddress = {}\n\n\
         [log]\naccess = \"stdout\"\n\n{admin}{extra}",
        cpus.join(", "),
        toml_path(&certs.ecdsa),
        toml_path(&certs.rsa),
        toml_str(upstream),
        // Tests use ephemeral ports only: no admin listener on the default 127.0.0.1:9422.
        admin = if extra.contains("[admin]") {
            ""
        } else {
            "[admin]\naddress = \"off\"\n\n"
        },
    )
}

/// The CPUs for a two-shard run when the machine has two, else just CPU 0.
pub fn two_cpus_if_available() -> Vec<usize> {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    if n >= 2 {
        vec![0, 1]
    } else {
        vec![0]
    }
}

/// The deterministic bytes of the origin's `/bytes/N` and `/chunked/N`.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n as u64).map(tlsterm::origin::pattern_byte).collect()
}
