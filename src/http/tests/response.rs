//! Response heads: framing table, keep-alive, strictness, and the head written to the client.
use crate::http::response::{
    parse_response_head, write_client_response_head, ResponseError, ResponseFraming, ResponseHead,
};
use crate::http::{Header, Version};

fn parse(raw: &str, is_head: bool) -> ResponseHead {
    parse_response_head(raw.as_bytes(), is_head, 16384)
        .unwrap()
        .unwrap()
}

fn framing(raw: &str, is_head: bool) -> (ResponseFraming, bool) {
    let h = parse(raw, is_head);
    (h.framing, h.upstream_keep_alive)
}

#[test]
fn every_strict_prefix_is_incomplete() {
    let raw =
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: b\r\n\r\nabcHTTP/1.1 204 No Content\r\n\r\n";
    let first_len = raw.len() - b"abcHTTP/1.1 204 No Content\r\n\r\n".len();
    for cut in 0..first_len {
        assert_eq!(
            parse_response_head(&raw[..cut], false, 16384),
            Ok(None),
            "cut {cut}"
        );
    }
    let h = parse_response_head(raw, false, 16384).unwrap().unwrap();
    assert_eq!(h.head_len, first_len);
    assert_eq!(h.status, 200);
    // The standard phrase is not kept (it is written back from the status).
    assert_eq!(h.reason, "");
    assert_eq!(h.version, Version::Http11);
    assert_eq!(
        h.headers,
        vec![
            Header {
                name: "Content-Length".into(),
                value: b"3".to_vec()
            },
            Header {
                name: "X-A".into(),
                value: b"b".to_vec()
            },
        ]
    );
    let next = parse_response_head(&raw[first_len + 3..], false, 16384)
        .unwrap()
        .unwrap();
    assert_eq!(next.status, 204);
}

#[test]
fn framing_table() {
    use ResponseFraming::*;
    let cl = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
    assert_eq!(framing(cl, false), (Length(10), true));
    assert_eq!(framing(cl, true), (Empty, true));
    assert_eq!(
        framing("HTTP/1.1 204 No Content\r\n\r\n", false),
        (Empty, true)
    );
    assert_eq!(
        framing(
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
            false
        ),
        (Empty, true)
    );
    assert_eq!(
        framing("HTTP/1.1 100 Continue\r\n\r\n", false),
        (Empty, true)
    );
    assert!(parse("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", false).is_interim());
    assert!(!parse(cl, false).is_interim());
    assert_eq!(
        framing(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            false
        ),
        (Chunked, true)
    );
    assert_eq!(
        framing(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            false
        ),
        (Chunked, true)
    );
    assert_eq!(
        framing(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            true
        ),
        (Empty, true)
    );
    assert_eq!(
        framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false),
        (UntilClose, false)
    );
    // TE wins over CL, but the connection is not reused.
    assert_eq!(
        framing(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            false
        ),
        (Chunked, false)
    );
    assert_eq!(
        framing("HTTP/1.1 200 OK\r\n\r\n", false),
        (UntilClose, false)
    );
    assert_eq!(
        framing(
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            false
        ),
        (Length(0), false)
    );
    // HTTP/1.0 upstream: keep-alive only when announced.
    assert_eq!(
        framing("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n", false),
        (Length(2), false)
    );
    assert_eq!(
        framing(
            "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\n",
            false
        ),
        (Length(2), true)
    );
    assert_eq!(
        framing("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", false),
        (UntilClose, false)
    );
    // Identical duplicate CL values are one.
    assert_eq!(
        framing(
            "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n",
            false
        ),
        (Length(7), true)
    );
    assert_eq!(
        framing("HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\n\r\n", false),
        (Length(7), true)
    );
}

fn malformed(raw: &str) {
    assert!(
        matches!(
            parse_response_head(raw.as_bytes(), false, 16384),
            Err(ResponseError::Malformed(_))
        ),
        "{raw:?}: {:?}",
        parse_response_head(raw.as_bytes(), false, 16384)
    );
}

#[test]
fn malformed_responses() {
    malformed("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 8\r\n\r\n");
    malformed("HTTP/1.1 200 OK\r\nContent-Length: 7, 8\r\n\r\n");
    malformed("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n");
    malformed("HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n");
    malformed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n");
    malformed("HTTP/1.1 200 OK\nContent-Length: 1\r\n\r\n");
    malformed("HTTP/1.1 200 OK\r\nContent-Length: 1\n\n");
    malformed("HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n");
    malformed("HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\n");
    malformed("HTTP/1.1 200 OK\r\nX: a\0\r\n\r\n");
    malformed("HTTP/2.0 200 OK\r\n\r\n");
    malformed("HTTP/1.1 2000 OK\r\n\r\n");
    malformed("ICY 200 OK\r\n\r\n");
    assert_eq!(
        parse_response_head(b"HTTP/1.1 200 OK\r\nX: aaaaaaaaaa\r\n", false, 20),
        Err(ResponseError::HeadTooLarge)
    );
}

fn client_head(raw: &str, client: Version, close: bool) -> String {
    let mut out = Vec::new();
    write_client_response_head(&parse(raw, false), client, close, &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn client_head_drops_hop_by_hop_and_keeps_framing() {
    let raw =
        "HTTP/1.1 200 OK\r\nDate: d\r\nConnection: keep-alive, X-Secret, Transfer-Encoding\r\n\
               Keep-Alive: timeout=5\r\nProxy-Connection: x\r\nTE: trailers\r\nUpgrade: h2c\r\n\
               X-Secret: s\r\nTrailer: Checksum\r\nTransfer-Encoding: chunked\r\nX-Kept: k\r\n\r\n";
    assert_eq!(
        client_head(raw, Version::Http11, false),
        "HTTP/1.1 200 OK\r\nDate: d\r\nTrailer: Checksum\r\nTransfer-Encoding: chunked\r\n\
         X-Kept: k\r\n\r\n"
    );
    assert_eq!(
        client_head(raw, Version::Http11, true),
        "HTTP/1.1 200 OK\r\nDate: d\r\nTrailer: Checksum\r\nTransfer-Encoding: chunked\r\n\
         X-Kept: k\r\nConnection: close\r\n\r\n"
    );
}

#[test]
fn heads_with_more_fields_than_the_stack_slots_parse() {
    for n in [31, 32, 33, 200] {
        let mut raw = String::from("HTTP/1.1 200 OK\r\n");
        for i in 0..n {
            raw.push_str(&format!("X-F{i}: {i}\r\n"));
        }
        raw.push_str("Content-Length: 5\r\n\r\n");
        let h = parse(&raw, false);
        assert_eq!(h.headers.len(), n + 1, "{n}");
        assert_eq!(h.headers[n].name, "Content-Length");
        assert_eq!(h.framing, ResponseFraming::Length(5));
    }
}

#[test]
fn client_head_connection_for_each_client_version() {
    let raw = "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n";
    assert_eq!(
        client_head(raw, Version::Http10, false),
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"
    );
    assert_eq!(
        client_head(raw, Version::Http10, true),
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(
        client_head(raw, Version::Http11, false),
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    );
    // An empty reason is replaced by the standard one.
    assert_eq!(
        client_head(
            "HTTP/1.1 503 \r\nContent-Length: 0\r\n\r\n",
            Version::Http11,
            false
        ),
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
    );
    // A reason other than the standard one is relayed as it came.
    let raw = "HTTP/1.1 200 Fine Thanks\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(parse(raw, false).reason, "Fine Thanks");
    assert_eq!(
        client_head(raw, Version::Http11, false),
        "HTTP/1.1 200 Fine Thanks\r\nContent-Length: 0\r\n\r\n"
    );
    // The written head parses back with the same framing.
    let written = client_head(
        "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n",
        Version::Http11,
        false,
    );
    assert_eq!(parse(&written, false).framing, ResponseFraming::Length(12));
}

#[test]
fn single_byte_mutations_never_panic() {
    const INTERESTING: [u8; 8] = [0, b'\r', b'\n', b' ', b':', b',', 0xff, b'9'];
    let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    for pos in 0..raw.len() {
        for b in INTERESTING {
            let mut m = raw.to_vec();
            m[pos] = b;
            for is_head in [false, true] {
                if let Ok(Some(h)) = parse_response_head(&m, is_head, 16384) {
                    assert!(h.head_len <= m.len());
                    let mut out = Vec::new();
                    write_client_response_head(&h, Version::Http11, true, &mut out);
                    assert!(out.ends_with(b"\r\n\r\n"));
                }
            }
        }
    }
}

#[test]
fn fuzz_findings_status_range_and_te_with_cl() {
    use crate::http::response::{parse_response_head, write_client_response_head, ResponseError};
    use crate::http::Version;
    assert_eq!(
        parse_response_head(
            b"HTTP/1.1 000 OK\r\nContent-Length: 0\r\n\r\n",
            false,
            16384
        ),
        Err(ResponseError::Malformed("status outside 100-599"))
    );
    assert!(parse_response_head(b"HTTP/1.1 600 X\r\n\r\n", false, 16384).is_err());
    let head = parse_response_head(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
        false,
        16384,
    )
    .unwrap()
    .unwrap();
    let mut out = Vec::new();
    write_client_response_head(&head, Version::Http11, false, &mut out);
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("Transfer-Encoding: chunked\r\n"), "{text}");
    assert!(
        !text.to_ascii_lowercase().contains("content-length"),
        "{text}"
    );
}
