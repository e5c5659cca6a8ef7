//! Fuzz target: `tlsterm::http::response::parse_response_head` and the framing that follows
//! it, plus the head written back to the client (`write_client_response_head`).
//!
//! Input: byte 0 = flags (bit 0: the request was HEAD; bit 1: the client speaks HTTP/1.0;
//! bit 2: a small head limit, `32 + byte 1 * 16`, instead of 64 KiB), byte 1 = limit, then the
//! bytes the cache layer sent (head, then body).
//!
//! Checked beyond "no panic":
//! - `Ok(None)` only while fewer than `max_head_bytes` bytes are buffered;
//! - an accepted head has `head_len <= min(buf.len(), max_head_bytes)`, parses identically from
//!   `buf[..head_len]`, and every shorter prefix of it is `Ok(None)`;
//! - HEAD requests, 1xx, 204 and 304 have no body; keep-alive is never offered for a body that
//!   runs until close;
//! - round trip: the head written to the client (with `close` as the contract demands) parses
//!   again with the same status and framing, and says `Connection: close` exactly when asked;
//! - a chunked body after the head goes through `ChunkedScanner::unlimited` without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlsterm::http::framing::ChunkedScanner;
use tlsterm::http::response::{
    parse_response_head, write_client_response_head, ResponseFraming, ResponseHead,
    MAX_RESPONSE_HEADERS,
};
use tlsterm::http::Version;

fn prefixes(len: usize) -> Vec<usize> {
    if len <= 600 {
        return (0..len).collect();
    }
    let mut v: Vec<usize> = (0..64).map(|i| i * len / 64).collect();
    v.extend(len.saturating_sub(8)..len);
    v
}

/// Findings reported to the lead and not fixed yet; each skip goes when its fix lands.
/// 1. `HTTP/1.1 000 OK` (any status below 100) is accepted, and written back to the client as
///    `HTTP/1.1 0 OK`, an invalid status line (httparse accepts any three digits).
const SKIP_STATUS_BELOW_100: bool = false;
/// 2. A response with both `Transfer-Encoding: chunked` and `Content-Length` (even an invalid
///    one, e.g. `Content-Length: 200 OK`) is accepted as chunked and both fields are written to
///    the client verbatim (RFC 9112 §6.1: a server MUST NOT send both; a downstream hop that
///    frames by Content-Length desyncs).
const SKIP_TE_WITH_CL: bool = false;

fn check_round_trip(head: &ResponseHead, is_head: bool, client: Version) {
    if head.is_interim() || (SKIP_STATUS_BELOW_100 && head.status < 100) {
        return;
    }
    // The written head may add one field (Connection); at the field limit it would not parse
    // again here, though clients have no such limit.
    if head.headers.len() >= MAX_RESPONSE_HEADERS {
        return;
    }
    let close = head.framing == ResponseFraming::UntilClose
        || (head.framing == ResponseFraming::Chunked && client == Version::Http10);
    let mut out = Vec::new();
    write_client_response_head(head, client, close, &mut out);
    let again = match parse_response_head(&out, is_head, out.len() + 1) {
        Ok(Some(h)) => h,
        other => panic!(
            "client head not parseable: {other:?}\nhead: {head:?}\nwritten: {:?}",
            String::from_utf8_lossy(&out)
        ),
    };
    assert_eq!(again.head_len, out.len());
    assert_eq!(again.status, head.status);
    assert_eq!(again.version, Version::Http11);
    // A body delimited by the connection end stays so; the others keep their framing.
    assert_eq!(
        again.framing, head.framing,
        "framing changed on the way to the client"
    );
    let count = |name: &str| {
        again
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .count()
    };
    assert!(
        count("connection") <= 1,
        "more than one Connection field written"
    );
    if count("transfer-encoding") > 0 && count("content-length") > 0 {
        if !SKIP_TE_WITH_CL {
            panic!(
                "Transfer-Encoding and Content-Length both sent to the client: {:?}",
                String::from_utf8_lossy(&out)
            );
        }
        return;
    }
    assert_eq!(
        again.upstream_keep_alive, !close,
        "client keep-alive differs from `close`"
    );
}

fuzz_target!(|data: &[u8]| {
    let [flags, lim, buf @ ..] = data else {
        return;
    };
    let is_head = flags & 1 != 0;
    let client = if flags & 2 != 0 {
        Version::Http10
    } else {
        Version::Http11
    };
    let max_head = if flags & 4 != 0 {
        32 + usize::from(*lim) * 16
    } else {
        64 * 1024
    };
    match parse_response_head(buf, is_head, max_head) {
        Ok(None) => assert!(buf.len() < max_head, "incomplete with {} bytes", buf.len()),
        Ok(Some(head)) => {
            assert!(head.head_len <= buf.len() && head.head_len <= max_head);
            let exact = parse_response_head(&buf[..head.head_len], is_head, max_head);
            assert_eq!(
                exact,
                Ok(Some(head.clone())),
                "result depends on bytes after the head"
            );
            for p in prefixes(head.head_len) {
                let r = parse_response_head(&buf[..p], is_head, max_head);
                assert_eq!(r, Ok(None), "prefix {p} of a valid head refused");
            }
            let bodiless = is_head || head.is_interim() || matches!(head.status, 204 | 304);
            assert_eq!(bodiless, head.framing == ResponseFraming::Empty);
            if head.framing == ResponseFraming::UntilClose {
                assert!(!head.upstream_keep_alive);
            }
            if head.framing == ResponseFraming::Chunked {
                let body = &buf[head.head_len..];
                let mut s = ChunkedScanner::unlimited();
                if let Ok(r) = s.scan(body) {
                    assert!(r.consumed <= body.len());
                }
            }
            check_round_trip(&head, is_head, client);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
