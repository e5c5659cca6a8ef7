//! Access-log lines (HAProxy-like timers and termination state), buffered per shard.
//!
//! Format, one line per request:
//!
//! ```text
//! {ip}:{port} [{dd/Mon/yyyy:HH:MM:SS.mmm}] shard{N} {TR}/{Tw}/{Tc}/{Tr}/{Ta} {status} {bytes} {TS} {tls_version}/{cipher}/{cert_kind} "{METHOD} {host} {target} {HTTP/1.x}"
//! ```
//!
//! Timers are milliseconds (`-1`: phase not reached), status `-1` when no response was sent,
//! `bytes` counts response bytes (head + body) written to the client, `TS` is the two-letter
//! termination state. Fields the client controls (host, target, method) are escaped so a line
//! stays one line. The buffer is flushed when it passes 32 KiB, by a low-priority timer once a
//! second, and at shutdown; writes are plain blocking `write(2)` of whole buffers (one syscall per
//! flush, not per request).
//!
//! What it does not do: decide anything about the request, or read the clock (the wall time of
//! the request is passed in).

use crate::sli::{Termination, Timers};
use std::cell::RefCell;
use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// Everything one access-log line says about a request.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub client: SocketAddr,
    pub wall: SystemTime,
    pub shard: usize,
    pub timers: Timers,
    /// `None`: no response was sent.
    pub status: Option<u16>,
    pub bytes: u64,
    pub termination: Termination,
    pub tls_version: &'a str,
    pub cipher: &'a str,
    pub cert_kind: &'a str,
    pub method: &'a str,
    pub host: &'a str,
    pub target: &'a str,
    pub http_version: &'a str,
}

/// Where a shard's lines go.
#[derive(Debug)]
pub enum Sink {
    Off,
    Stdout,
    File(File),
}

/// A shard's access log: lines are appended to a buffer and written in batches.
#[derive(Debug)]
pub struct AccessLog {
    sink: RefCell<Sink>,
    buf: RefCell<Vec<u8>>,
}

const FLUSH_AT: usize = 32 * 1024;

impl AccessLog {
    pub fn new(sink: Sink) -> Self {
        AccessLog {
            sink: RefCell::new(sink),
            buf: RefCell::new(Vec::with_capacity(FLUSH_AT + 1024)),
        }
    }

    pub fn is_off(&self) -> bool {
        matches!(*self.sink.borrow(), Sink::Off)
    }

    /// Appends one line; flushes when the buffer is large.
    pub fn record(&self, entry: &Entry<'_>) {
        if self.is_off() {
            return;
        }
        let full = {
            let mut buf = self.buf.borrow_mut();
            format_line(entry, &mut buf);
            buf.len() >= FLUSH_AT
        };
        if full {
            self.flush();
        }
    }

    /// Writes out what is buffered. Errors are reported once per flush on stderr and the lines
    /// are dropped: the access log must never stall traffic.
    pub fn flush(&self) {
        let mut buf = self.buf.borrow_mut();
        if buf.is_empty() {
            return;
        }
        let result = match &mut *self.sink.borrow_mut() {
            Sink::Off => Ok(()),
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(&buf).and_then(|_| out.flush())
            }
            Sink::File(f) => f.write_all(&buf),
        };
        if let Err(e) = result {
            eprintln!("tlsterm: access log write failed: {e}");
        }
        buf.clear();
    }
}

/// Appends one formatted line (with `\n`) to `out`.
pub fn format_line(e: &Entry<'_>, out: &mut Vec<u8>) {
    let t = &e.timers;
    let _ = write!(out, "{}:{} [", e.client.ip(), e.client.port());
    write_log_date(e.wall, out);
    let _ = write!(
        out,
        "] shard{} {}/{}/{}/{}/{} ",
        e.shard, t.tr_request, t.tw_queue, t.tc_connect, t.tr_response, t.ta_total
    );
    match e.status {
        Some(s) => {
            let _ = write!(out, "{s}");
        }
        None => out.extend_from_slice(b"-1"),
    }
    let _ = write!(
        out,
        " {} {} {}/{}/{} \"",
        e.bytes, e.termination, e.tls_version, e.cipher, e.cert_kind
    );
    push_escaped(out, e.method);
    out.push(b' ');
    push_escaped(out, if e.host.is_empty() { "-" } else { e.host });
    out.push(b' ');
    push_escaped(out, e.target);
    out.push(b' ');
    out.extend_from_slice(e.http_version.as_bytes());
    out.extend_from_slice(b"\"\n");
}

/// Copies `s`, replacing bytes outside printable ASCII, `"` and `\` by `\xNN`.
fn push_escaped(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        if (0x21..0x7f).contains(&b) && b != b'"' && b != b'\\' {
            out.push(b);
        } else {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// UTC calendar date and time of day from seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

/// Converts Unix seconds to a UTC civil date (Howard Hinnant's days-to-civil algorithm).
pub fn civil(unix_secs: i64) -> Civil {
    let days = unix_secs.div_euclid(86_400);
    let rem = unix_secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: (rem / 3600) as u32,
        minute: (rem % 3600 / 60) as u32,
        second: (rem % 60) as u32,
    }
}

/// Seconds since the Unix epoch (negative before it).
pub fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// `23/Nov/2026:19:45:01.123` (UTC).
fn write_log_date(t: SystemTime, out: &mut Vec<u8>) {
    let millis = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_millis())
        .unwrap_or(0);
    let c = civil(unix_secs(t));
    let _ = write!(
        out,
        "{:02}/{}/{}:{:02}:{:02}:{:02}.{:03}",
        c.day,
        MONTHS[(c.month as usize).saturating_sub(1) % 12],
        c.year,
        c.hour,
        c.minute,
        c.second,
        millis
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sli::{Cause, Phase};
    use std::time::Duration;

    #[test]
    fn civil_dates() {
        assert_eq!(
            civil(0),
            Civil {
                year: 1970,
                month: 1,
                day: 1,
                hour: 0,
                minute: 0,
                second: 0
            }
        );
        // 2026-11-23 19:45:01 UTC
        let c = civil(1_795_463_101);
        assert_eq!((c.year, c.month, c.day), (2026, 11, 23));
        assert_eq!((c.hour, c.minute, c.second), (19, 45, 1));
        // 2024-02-29 (leap day) 12:00:00
        let c = civil(1_709_208_000);
        assert_eq!((c.year, c.month, c.day, c.hour), (2024, 2, 29, 12));
    }

    #[test]
    fn line_format() {
        let entry = Entry {
            client: "127.0.0.1:40312".parse().unwrap(),
            wall: UNIX_EPOCH + Duration::from_millis(1_795_463_101_123),
            shard: 0,
            timers: Timers {
                tr_request: 0,
                tw_queue: 0,
                tc_connect: 1,
                tr_response: 2,
                ta_total: 3,
            },
            status: Some(200),
            bytes: 1234,
            termination: Termination::NORMAL,
            tls_version: "TLSv1.3",
            cipher: "TLS_AES_128_GCM_SHA256",
            cert_kind: "ECDSA",
            method: "GET",
            host: "localhost",
            target: "/bytes/10",
            http_version: "HTTP/1.1",
        };
        let mut out = Vec::new();
        format_line(&entry, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "127.0.0.1:40312 [23/Nov/2026:19:45:01.123] shard0 0/0/1/2/3 200 1234 -- \
             TLSv1.3/TLS_AES_128_GCM_SHA256/ECDSA \"GET localhost /bytes/10 HTTP/1.1\"\n"
        );
    }

    #[test]
    fn client_controlled_fields_are_escaped() {
        let entry = Entry {
            client: "[::1]:9".parse().unwrap(),
            wall: UNIX_EPOCH,
            shard: 1,
            timers: Timers {
                tr_request: -1,
                tw_queue: -1,
                tc_connect: -1,
                tr_response: -1,
                ta_total: 5,
            },
            status: None,
            bytes: 0,
            termination: Termination::new(Cause::ClientTimeout, Phase::Request),
            tls_version: "TLSv1.2",
            cipher: "ECDHE-RSA-AES128-GCM-SHA256",
            cert_kind: "RSA",
            method: "GET",
            host: "",
            target: "/a b\"\n",
            http_version: "HTTP/1.0",
        };
        let mut out = Vec::new();
        format_line(&entry, &mut out);
        let line = String::from_utf8(out).unwrap();
        assert_eq!(
            line,
            "::1:9 [01/Jan/1970:00:00:00.000] shard1 -1/-1/-1/-1/5 -1 0 cR \
             TLSv1.2/ECDHE-RSA-AES128-GCM-SHA256/RSA \"GET - /a\\x20b\\x22\\x0a HTTP/1.0\"\n"
        );
    }
}
