//! The admin HTTP listener (plain HTTP, meant for 127.0.0.1): metrics, health, drain, access-log
//! switch. It runs on the first shard in the `background` task queue (`Latency::NotImportant`),
//! so a scrape yields to request traffic.
//!
//! Endpoints:
//! - `GET /metrics` — Prometheus text (see [`crate::metrics`]), all shards merged.
//! - `GET /healthz` — `200 ok` while serving normally, `503 draining` once a drain or stop began.
//! - `POST /drain` — end keep-alive on every shard (idle connections close, busy ones after their
//!   current response) and fail `/healthz`, while still accepting: the load balancer moves
//!   traffic away without a refused connection. `SIGTERM` then stops the process.
//! - `PUT /log-level` with body `info` (access log on) or `error`/`off` (access log off).
//! - `POST /reload` — same as `SIGHUP`: re-read certificates, keys, OCSP files and ticket keys
//!   (answered `202`; the outcome is logged and counted in `tlsterm_reloads_total`).
//!
//! One request per connection (`Connection: close`), 5 s to send it.
//!
//! What it does not do: authenticate. Bind it to loopback.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};

use crate::clock;
use crate::config::Config;
use crate::http::request::{parse_request_head, RequestFraming};
use crate::http::{Limits, Method};
use crate::log::unix_secs;
use crate::metrics::{render, ProcessInfo, ReloadCounters, ShardMetrics, StapleFacts, TlsFacts};
use crate::proxy::ShardCtx;
use crate::reload::{Publisher, ReloadTrigger, TicketSource};
use crate::rt::within;
use crate::shard::Control;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;

/// Everything the admin listener reads.
#[derive(Debug)]
pub struct AdminState {
    pub shards: Vec<Arc<ShardMetrics>>,
    pub control: Arc<Control>,
    pub publisher: Arc<Publisher>,
    pub reload: Sender<ReloadTrigger>,
    pub reload_counters: Arc<ReloadCounters>,
    pub ocsp_fetch: Option<Arc<crate::reload::FetchStatus>>,
    pub cfg: Arc<Config>,
    /// Health of the cache backends (for the per-backend metrics).
    pub upstream_health: Arc<crate::upstream::Health>,
    pub started: SystemTime,
    /// Seconds the previous `/metrics` render took.
    pub last_scrape: Cell<f64>,
}

/// Accepts admin connections until the hosting shard stops.
pub async fn serve(listener: TcpListener, state: AdminState, ctx: Rc<ShardCtx>) {
    let state = Rc::new(state);
    loop {
        let accepted = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            ctx.stopping.wait().await;
            None
        })
        .await;
        match accepted {
            None => return,
            Some(Ok(stream)) => {
                let state = Rc::clone(&state);
                glommio::spawn_local(async move {
                    let _ = within(Duration::from_secs(5), handle(stream, &state)).await;
                })
                .detach();
            }
            Some(Err(_)) => glommio::timer::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// A response: status, content type, body.
type Reply = (u16, &'static str, String);

async fn handle(mut stream: TcpStream, state: &AdminState) {
    let limits = Limits {
        max_body_bytes: 1024,
        ..Limits::default()
    };
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 2048];
    let head = loop {
        match parse_request_head(&buf, &limits) {
            Ok(Some(head)) => break head,
            Ok(None) => {}
            Err(e) => {
                let msg = format!("{e}\n");
                return write_reply(&mut stream, (e.status(), "text/plain", msg)).await;
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let body_len = match head.framing {
        RequestFraming::Length(n) => n as usize,
        _ => 0,
    };
    while buf.len() < head.head_len + body_len {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = &buf[head.head_len..head.head_len + body_len];
    let path = head.target.split('?').next().unwrap_or("");
    let reply = route(state, &head.method, path, body);
    write_reply(&mut stream, reply).await;
}

fn route(state: &AdminState, method: &Method, path: &str, body: &[u8]) -> Reply {
    match (method, path) {
        (Method::Get, "/metrics") => {
            let started = clock::now();
            let text = render(&state.shards, &process_info(state));
            state.last_scrape.set(
                clock::now()
                    .saturating_duration_since(started)
                    .as_secs_f64(),
            );
            (200, "text/plain; version=0.0.4", text)
        }
        (Method::Get, "/healthz") => {
            if state.control.drain_requested() {
                (503, "text/plain", "draining\n".into())
            } else {
                (200, "text/plain", "ok\n".into())
            }
        }
        (Method::Post, "/drain") => {
            state.control.request_drain();
            (200, "text/plain", "draining\n".into())
        }
        (Method::Put, "/log-level") => match std::str::from_utf8(body).map(str::trim) {
            Ok("info") | Ok("debug") => {
                state.control.set_access_log(true);
                (200, "text/plain", "access log on\n".into())
            }
            Ok("error") | Ok("warn") | Ok("off") => {
                state.control.set_access_log(false);
                (200, "text/plain", "access log off\n".into())
            }
            _ => (
                400,
                "text/plain",
                "body must be one of: info, debug (access log on), warn, error, off\n".into(),
            ),
        },
        (Method::Post, "/reload") => match state.reload.send(ReloadTrigger::Admin) {
            Ok(()) => (
                202,
                "text/plain",
                "reload requested; the outcome is logged and counted in tlsterm_reloads_total\n"
                    .into(),
            ),
            Err(_) => (503, "text/plain", "the reloader is not running\n".into()),
        },
        (_, "/metrics" | "/healthz" | "/drain" | "/log-level" | "/reload") => {
            (405, "text/plain", "method not allowed\n".into())
        }
        _ => (404, "text/plain", "not found\n".into()),
    }
}

async fn write_reply(stream: &mut TcpStream, (status, ctype, body): Reply) {
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        crate::http::local::reason_phrase(status),
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.flush().await;
}

fn process_info(state: &AdminState) -> ProcessInfo {
    let now = clock::wall();
    let tls = state.publisher.current();
    let certificates = tls
        .certs
        .iter()
        .map(|c| {
            let name = c
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (
                name,
                c.kind.as_str(),
                unix_secs(c.not_after) - unix_secs(now),
            )
        })
        .collect();
    let staples = tls
        .staples
        .iter()
        .map(|s| StapleFacts {
            cert: s.cert.clone(),
            seconds_left: s.next_update.map(|n| unix_secs(n) - unix_secs(now)),
            must_staple_missing: s.must_staple_missing,
            refused: s.last_error.is_some(),
        })
        .collect();
    let fetches = state
        .ocsp_fetch
        .as_ref()
        .map(|f| f.certs.lock().unwrap_or_else(|e| e.into_inner()).clone())
        .unwrap_or_default();
    ProcessInfo {
        backends: state.upstream_health.facts(clock::now()),
        resident_bytes: resident_bytes().unwrap_or(0),
        open_fds: std::fs::read_dir("/proc/self/fd")
            .map(|d| d.count() as u64)
            .unwrap_or(0),
        start_time_unix: unix_secs(state.started).max(0) as u64,
        version: env!("CARGO_PKG_VERSION"),
        certificates,
        last_scrape_seconds: state.last_scrape.get(),
        draining: state.control.drain_requested(),
        tls: TlsFacts {
            generation: tls.generation,
            reloads_ok: state.reload_counters.ok.load(Ordering::Relaxed),
            reloads_failed: state.reload_counters.failed.load(Ordering::Relaxed),
            ticket_keys: tls.ticket_keys as u64,
            ticket_keys_from_file: tls.ticket_source == TicketSource::File,
            staples,
            fetches: fetches
                .into_iter()
                .map(|f| (f.cert, f.ok, f.failed, f.last))
                .collect(),
        },
    }
}

/// VmRSS from /proc/self/status, in bytes.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_parses() {
        let status = "Name:\ttlsterm\nVmPeak:\t  123 kB\nVmRSS:\t    5120 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(5120 * 1024));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
    }
}
