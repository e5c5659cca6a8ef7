//! One end-to-end test's world: a temp dir, certificates, optionally a Varnish, and a tlsterm
//! configured to forward to it; plus the curl call and access-log lookup most tests need.
//!
//! Does not: assert anything about tlsterm beyond "it started" and "curl ran".
use super::wire::{parse_access_line, parse_curl_dump, AccessLine, HttpResponse};
use super::{config_toml, curl, Certs, TempDir, Tlsterm, Varnish};

/// One test's world. Field order is drop order: tlsterm stops before Varnish.
pub struct Env {
    /// The proxy under test.
    pub tls: Tlsterm,
    pub varnish: Option<Varnish>,
    pub certs: Certs,
    pub dir: TempDir,
}

/// Makes certificates, starts the chosen upstream and a tlsterm configured by
/// [`config_toml`]`(upstream, certs, cpus, extra)`; tlsterm is ready when this returns.
pub fn start(tag: &str, upstream: Upstream, cpus: &[usize], extra: &str) -> Env {
    let dir = TempDir::new(tag);
    let certs = super::certs::make(dir.path());
    let (varnish, address) = match upstream {
        Upstream::VarnishUnix => {
            let v = Varnish::start();
            let a = v.unix_upstream();
            (Some(v), a)
        }
        Upstream::VarnishTcp => {
            let v = Varnish::start();
            let a = v.tcp.to_string();
            (Some(v), a)
        }
        Upstream::Absent => (None, format!("unix:{}", dir.join("absent.sock").display())),
    };
    let cfg = dir.write("tlsterm.toml", config_toml(&address, &certs, cpus, extra));
    let tls = Tlsterm::start(&cfg);
    Env {
        tls,
        varnish,
        certs,
        dir,
    }
}

/// What tlsterm forwards to.
#[derive(Clone, Copy)]
pub enum Upstream {
    /// Varnish on its Unix socket.
    VarnishUnix,
    /// Varnish on TCP.
    VarnishTcp,
    /// Nothing listens (a socket path that does not exist).
    Absent,
}

impl Env {
    pub fn varnish(&self) -> &Varnish {
        self.varnish.as_ref().expect("this test runs Varnish")
    }

    /// curl; returns (final response head, body, stdout text).
    pub fn curl(&self, path: &str, args: &[&str]) -> (HttpResponse, Vec<u8>, String) {
        let n = unique();
        let head = self.dir.join(&format!("head-{n}.txt"));
        let body = self.dir.join(&format!("body-{n}.bin"));
        let mut all: Vec<&str> = vec![
            "-D",
            head.to_str().expect("utf-8 path"),
            "-o",
            body.to_str().expect("utf-8 path"),
        ];
        all.extend_from_slice(args);
        let url = self.tls.url(path);
        all.push(&url);
        let out = curl(&self.tls, &self.certs, &all);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "curl {path} failed: {}{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dump = std::fs::read_to_string(&head).expect("read curl header dump");
        let resp = parse_curl_dump(&dump).unwrap_or_else(|e| panic!("{e}: {dump:?}"));
        (resp, std::fs::read(&body).expect("read curl body"), stdout)
    }

    /// The parsed access-log line for `target` (waits for it).
    pub fn log_for(&self, target: &str) -> AccessLine {
        let needle = format!(" {target} HTTP/");
        let line = self
            .tls
            .wait_log(&format!("for {target}"), |l| l.contains(&needle));
        parse_access_line(&line).unwrap_or_else(|e| panic!("{e}"))
    }
}

fn unique() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
