//! Fuzz target: `tlsterm::http::request::parse_request_head`, and the upstream head written
//! from what it accepts (`tlsterm::http::rewrite::write_upstream_request`).
//!
//! Input: byte 0 bit 0 selects the limits (0: `Limits::default()`; 1: small limits taken from
//! bytes 1..=4, so the 413/414/431 paths are reached), bit 1 the listener (0: TLS, 1: the plain
//! HTTP listener, `Proto::Http`); the rest is the bytes received.
//!
//! Checked beyond "no panic":
//! - `Ok(None)` (incomplete) only while fewer than `max_head_bytes` bytes are buffered;
//! - an accepted head respects every limit, `head_len <= buf.len()`, parses identically from
//!   `buf[..head_len]` (bytes after it are untouched), and every shorter prefix of it is
//!   `Ok(None)` (a valid head is never refused because it arrived in pieces);
//! - every error maps to 400/413/414/431/501;
//! - round trip: the head written to the cache layer parses again with the same method,
//!   target, host and framing, keep-alive, exactly one proxy-owned X-Client-IP and
//!   X-Forwarded-Proto (`https` or `http`), X-Connection-Properties only over TLS, no Connection
//!   field (only for heads that carry a Host field: an HTTP/1.0 request without one is forwarded
//!   without one, by design).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr};
use tlsterm::http::request::{parse_request_head, RequestError, RequestHead};
use tlsterm::http::rewrite::{write_upstream_request, ForwardInfo, Proto};
use tlsterm::http::Limits;

const PROPS: &str = "H2=0; SSR=0; SSL=TLSv1.3; C=TLS_AES_128_GCM_SHA256; EC=X25519; KA=ECDSA;";

fn limits_and_buf(data: &[u8]) -> Option<(Limits, Proto, &[u8])> {
    let (&sel, rest) = data.split_first()?;
    let proto = if sel & 2 == 0 {
        Proto::Https
    } else {
        Proto::Http
    };
    if sel & 1 == 0 {
        return Some((Limits::default(), proto, rest));
    }
    if rest.len() < 4 {
        return None;
    }
    let limits = Limits {
        max_head_bytes: 32 + usize::from(rest[0]) * 8,
        max_uri_bytes: 1 + usize::from(rest[1]) * 4,
        max_headers: usize::from(rest[2] % 32),
        max_body_bytes: u64::from(rest[3]) * 1000,
    };
    Some((limits, proto, &rest[4..]))
}

/// Prefix lengths to re-check: all of them for short heads, a spread plus the tail otherwise.
fn prefixes(len: usize) -> Vec<usize> {
    if len <= 600 {
        return (0..len).collect();
    }
    let mut v: Vec<usize> = (0..64).map(|i| i * len / 64).collect();
    v.extend(len.saturating_sub(8)..len);
    v
}

fn check_round_trip(head: &RequestHead, limits: &Limits, proto: Proto) {
    if !head
        .headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("host"))
    {
        return;
    }
    let info = ForwardInfo {
        client_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        client_port: 4242,
        proto,
        connection_properties: PROPS,
    };
    let mut out = Vec::new();
    write_upstream_request(head, &info, &mut out);
    let relaxed = Limits {
        max_head_bytes: out.len() + 1,
        max_uri_bytes: usize::MAX,
        max_headers: head.headers.len() + 8,
        max_body_bytes: limits.max_body_bytes,
    };
    let again = match parse_request_head(&out, &relaxed) {
        Ok(Some(h)) => h,
        other => panic!(
            "upstream head not accepted: {other:?}\nhead: {head:?}\nwritten: {:?}",
            String::from_utf8_lossy(&out)
        ),
    };
    assert_eq!(again.head_len, out.len(), "written head has trailing bytes");
    assert_eq!(again.method, head.method);
    assert_eq!(again.target, head.target);
    assert_eq!(again.host, head.host);
    assert_eq!(again.framing, head.framing);
    assert!(again.keep_alive, "upstream head must be keep-alive");
    let count = |name: &str| {
        again
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .count()
    };
    let tls = proto == Proto::Https;
    assert_eq!(count("x-client-ip"), 1);
    assert_eq!(count("x-forwarded-proto"), 1);
    let forwarded_proto = again
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("x-forwarded-proto"))
        .map(|h| h.value.as_slice());
    let want: &[u8] = if tls { b"https" } else { b"http" };
    assert_eq!(forwarded_proto, Some(want));
    assert_eq!(count("x-connection-properties"), usize::from(tls));
    assert_eq!(count("connection"), 0);
}

fuzz_target!(|data: &[u8]| {
    let Some((limits, proto, buf)) = limits_and_buf(data) else {
        return;
    };
    match parse_request_head(buf, &limits) {
        Ok(None) => assert!(
            buf.len() < limits.max_head_bytes,
            "incomplete with {} bytes buffered (limit {})",
            buf.len(),
            limits.max_head_bytes
        ),
        Ok(Some(head)) => {
            assert!(head.head_len <= buf.len());
            assert!(head.head_len <= limits.max_head_bytes);
            assert!(head.headers.len() <= limits.max_headers);
            assert!(head.target.len() <= limits.max_uri_bytes);
            if let tlsterm::http::request::RequestFraming::Length(n) = head.framing {
                assert!(n <= limits.max_body_bytes);
            }
            let exact = parse_request_head(&buf[..head.head_len], &limits);
            assert_eq!(
                exact,
                Ok(Some(head.clone())),
                "result depends on bytes after the head"
            );
            for p in prefixes(head.head_len) {
                let r = parse_request_head(&buf[..p], &limits);
                assert_eq!(r, Ok(None), "prefix {p} of a valid head refused");
            }
            check_round_trip(&head, &limits, proto);
        }
        Err(e) => {
            let status = e.status();
            assert!(
                matches!(status, 400 | 413 | 414 | 431 | 501),
                "{e:?} → {status}"
            );
            let _ = e.to_string();
            if let RequestError::Malformed(m) | RequestError::Smuggling(m) = &e {
                assert!(!m.is_empty());
            }
        }
    }
});
