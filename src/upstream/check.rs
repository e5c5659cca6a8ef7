//! Active health checks of the upstream group: one thread per process (not per shard, so the
//! cache sees one check per backend per interval however many shards run).
//!
//! Each `interval`, every backend gets `GET path HTTP/1.1` with `Host: host` and
//! `Connection: close` on a fresh connection; a 2xx or 3xx status line within `timeout`
//! passes. `fall` consecutive failures mark an up backend down, `rise` consecutive passes
//! bring it back (HAProxy's `check inter/rise/fall`); each change is logged and published in
//! [`Health`], which every shard reads before picking a backend. Backends start up.
//!
//! What it does not do: count request failures (passive health is [`Health::failure`]) or
//! speak anything but the status line of the answer.
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::health::Health;
use crate::clock;
use crate::config::{ActiveCheck, UpstreamAddr, UpstreamConfig};

/// Starts the checker when `upstream.check_path` is set; `stop` ends it (checked between
/// rounds).
pub fn spawn(
    cfg: &UpstreamConfig,
    health: Arc<Health>,
    stop: impl Fn() -> bool + Send + 'static,
) -> io::Result<Option<JoinHandle<()>>> {
    let Some(check) = cfg.check.clone() else {
        return Ok(None);
    };
    let backends = cfg.backends.clone();
    std::thread::Builder::new()
        .name("tlsterm-check".into())
        .spawn(move || run(&check, &backends, &health, &stop))
        .map(Some)
}

/// Rise/fall bookkeeping of one backend (pure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub up: bool,
    passes: u32,
    fails: u32,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            up: true,
            passes: 0,
            fails: 0,
        }
    }
}

impl Tally {
    /// Counts one check; returns the new verdict when it changed.
    pub fn record(&mut self, passed: bool, rise: u32, fall: u32) -> Option<bool> {
        if passed {
            self.passes = self.passes.saturating_add(1);
            self.fails = 0;
            if !self.up && self.passes >= rise {
                self.up = true;
                return Some(true);
            }
        } else {
            self.fails = self.fails.saturating_add(1);
            self.passes = 0;
            if self.up && self.fails >= fall {
                self.up = false;
                return Some(false);
            }
        }
        None
    }
}

fn run(check: &ActiveCheck, backends: &[UpstreamAddr], health: &Health, stop: &dyn Fn() -> bool) {
    let mut tallies = vec![Tally::default(); backends.len()];
    while !stop() {
        for (i, addr) in backends.iter().enumerate() {
            let outcome = probe(addr, check);
            if outcome.is_err() {
                health.check_failed(i);
            }
            let change = tallies[i].record(outcome.is_ok(), check.rise, check.fall);
            match (change, &outcome) {
                (Some(false), Err(why)) => {
                    health.set_check(i, false);
                    eprintln!(
                        "tlsterm: backend {addr} is DOWN after {} failed checks: {why}",
                        check.fall
                    );
                }
                (Some(true), _) => {
                    health.set_check(i, true);
                    eprintln!(
                        "tlsterm: backend {addr} is UP after {} passed checks",
                        check.rise
                    );
                }
                _ => {}
            }
        }
        std::thread::sleep(check.interval);
    }
}

/// One check of one backend: `Ok(status)` for a 2xx/3xx answer within the timeout.
pub fn probe(addr: &UpstreamAddr, check: &ActiveCheck) -> Result<u16, String> {
    let deadline = clock::now() + check.timeout;
    let left = || {
        deadline
            .saturating_duration_since(clock::now())
            .max(Duration::from_millis(1))
    };
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: tlsterm-check\r\nConnection: close\r\n\r\n",
        check.path, check.host
    );
    let mut head = [0u8; 512];
    let n = match addr {
        UpstreamAddr::Tcp(a) => {
            let mut s =
                TcpStream::connect_timeout(a, left()).map_err(|e| format!("connect: {e}"))?;
            exchange(&mut s, &request, &mut head, &left, |s, d| {
                s.set_read_timeout(Some(d))?;
                s.set_write_timeout(Some(d))
            })?
        }
        UpstreamAddr::Unix(p) => {
            let mut s = UnixStream::connect(p).map_err(|e| format!("connect: {e}"))?;
            exchange(&mut s, &request, &mut head, &left, |s, d| {
                s.set_read_timeout(Some(d))?;
                s.set_write_timeout(Some(d))
            })?
        }
    };
    let status = status_of(&head[..n])?;
    if (200..400).contains(&status) {
        Ok(status)
    } else {
        Err(format!("status {status}"))
    }
}

/// Writes the request and reads until the status line is complete (or the buffer is full).
fn exchange<S: Read + Write>(
    s: &mut S,
    request: &str,
    buf: &mut [u8],
    left: &dyn Fn() -> Duration,
    set_timeouts: impl Fn(&S, Duration) -> io::Result<()>,
) -> Result<usize, String> {
    let timed = |e: io::Error| match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => "timed out".to_string(),
        _ => e.to_string(),
    };
    set_timeouts(s, left()).map_err(timed)?;
    s.write_all(request.as_bytes()).map_err(timed)?;
    let mut n = 0;
    while n < buf.len() && !buf[..n].contains(&b'\n') {
        set_timeouts(s, left()).map_err(timed)?;
        match s.read(&mut buf[n..]).map_err(timed)? {
            0 => return Err("closed before answering".into()),
            k => n += k,
        }
    }
    Ok(n)
}

/// The status code of an `HTTP/1.x NNN ...` line.
fn status_of(head: &[u8]) -> Result<u16, String> {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    if !version.starts_with(b"HTTP/1.") || code.len() != 3 {
        return Err("not an HTTP/1.x answer".into());
    }
    std::str::from_utf8(code)
        .ok()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| "not an HTTP/1.x answer".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn check() -> ActiveCheck {
        ActiveCheck {
            path: "/ping".into(),
            host: "localhost".into(),
            interval: Duration::from_millis(50),
            timeout: Duration::from_millis(500),
            rise: 2,
            fall: 3,
        }
    }

    /// A one-shot server answering `answer` (or nothing) and returning the request it read.
    fn server(answer: &'static [u8]) -> (UpstreamAddr, std::thread::JoinHandle<Vec<u8>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 256];
            while !req.ends_with(b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => req.extend_from_slice(&buf[..k]),
                }
            }
            if answer.is_empty() {
                std::thread::sleep(Duration::from_millis(800));
            } else {
                let _ = s.write_all(answer);
            }
            req
        });
        (UpstreamAddr::Tcp(addr), t)
    }

    #[test]
    fn a_2xx_passes_and_the_request_is_exact() {
        let (addr, t) = server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(probe(&addr, &check()), Ok(200));
        assert_eq!(
            String::from_utf8(t.join().unwrap()).unwrap(),
            "GET /ping HTTP/1.1\r\nHost: localhost\r\nUser-Agent: tlsterm-check\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn a_5xx_fails() {
        let (addr, t) = server(b"HTTP/1.1 503 Backend fetch failed\r\n\r\n");
        assert_eq!(probe(&addr, &check()), Err("status 503".into()));
        t.join().unwrap();
    }

    #[test]
    fn silence_times_out_and_garbage_fails() {
        let (addr, t) = server(b"");
        assert_eq!(probe(&addr, &check()), Err("timed out".into()));
        t.join().unwrap();
        let (addr, t) = server(b"SSH-2.0-OpenSSH\r\n");
        assert_eq!(probe(&addr, &check()), Err("not an HTTP/1.x answer".into()));
        t.join().unwrap();
    }

    #[test]
    fn refused_connection_fails() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = UpstreamAddr::Tcp(l.local_addr().unwrap());
        drop(l);
        assert!(probe(&addr, &check()).unwrap_err().starts_with("connect: "));
        let missing = UpstreamAddr::Unix("/nonexistent/tlsterm-check.sock".into());
        assert!(probe(&missing, &check())
            .unwrap_err()
            .starts_with("connect: "));
    }

    #[test]
    fn rise_and_fall() {
        let mut t = Tally::default();
        assert_eq!(t.record(false, 2, 3), None);
        assert_eq!(t.record(false, 2, 3), None);
        assert_eq!(t.record(false, 2, 3), Some(false));
        assert_eq!(t.record(false, 2, 3), None);
        assert_eq!(t.record(true, 2, 3), None);
        assert_eq!(t.record(false, 2, 3), None, "a failure resets the passes");
        assert_eq!(t.record(true, 2, 3), None);
        assert_eq!(t.record(true, 2, 3), Some(true));
        assert!(t.up);
    }
}
