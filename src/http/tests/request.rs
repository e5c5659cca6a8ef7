//! Request head parsing: every prefix, pipelining, limits, smuggling shapes, keep-alive rules.
use crate::http::request::{parse_request_head, RequestError, RequestFraming, RequestHead};
use crate::http::{Header, Limits, Method, Version};

fn parse(raw: &[u8]) -> Result<Option<RequestHead>, RequestError> {
    parse_request_head(raw, &Limits::default())
}

fn head(raw: &str) -> RequestHead {
    parse(raw.as_bytes()).unwrap().unwrap()
}

fn err(raw: &str) -> RequestError {
    parse(raw.as_bytes()).unwrap_err()
}

fn smuggling(raw: &str) {
    assert!(
        matches!(err(raw), RequestError::Smuggling(_)),
        "expected smuggling for {raw:?}, got {:?}",
        parse(raw.as_bytes())
    );
}

fn malformed(raw: &str) {
    assert!(
        matches!(err(raw), RequestError::Malformed(_)),
        "expected malformed for {raw:?}, got {:?}",
        parse(raw.as_bytes())
    );
}

const VALID: [&str; 6] = [
    "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n",
    "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    "PUT /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    "GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "\r\nHEAD / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Tab:\tv\t\r\n\r\n",
];

#[test]
fn every_strict_prefix_is_incomplete_and_the_whole_parses() {
    for raw in VALID {
        let raw = raw.as_bytes();
        for cut in 0..raw.len() {
            assert_eq!(parse(&raw[..cut]), Ok(None), "prefix {cut} of {raw:?}");
        }
        let full = parse(raw).unwrap().unwrap();
        assert_eq!(full.head_len, raw.len());
        // With a pipelined second request (or body bytes) after it: same head.
        let mut two = raw.to_vec();
        two.extend_from_slice(b"GET /second HTTP/1.1\r\nHost: h\r\n\r\n");
        let first = parse(&two).unwrap().unwrap();
        assert_eq!(first, full);
        let second = parse(&two[first.head_len..]).unwrap().unwrap();
        assert_eq!(second.target, "/second");
        assert_eq!(second.head_len, two.len() - first.head_len);
    }
}

#[test]
fn fields_are_exact() {
    let h = head(VALID[1]);
    assert_eq!(h.method, Method::Get);
    assert_eq!(h.target, "/a/b?c=d");
    assert_eq!(h.version, Version::Http11);
    assert_eq!(h.host.as_deref(), Some("example.com"));
    assert_eq!(h.framing, RequestFraming::None);
    assert!(h.keep_alive);
    assert!(!h.expect_continue);
    assert_eq!(
        h.headers,
        vec![
            Header {
                name: "Host".into(),
                value: b"example.com".to_vec()
            },
            Header {
                name: "User-Agent".into(),
                value: b"t".to_vec()
            },
            Header {
                name: "Accept".into(),
                value: b"*/*".to_vec()
            },
        ]
    );

    let h = head(VALID[2]);
    assert_eq!(h.method, Method::Post);
    assert_eq!(h.framing, RequestFraming::Length(5));
    assert!(h.expect_continue);

    let h = head(VALID[3]);
    assert_eq!(h.method, Method::Put);
    assert_eq!(h.framing, RequestFraming::Chunked);
    assert!(!h.keep_alive);

    let h = head(VALID[5]);
    assert_eq!(h.method, Method::Head);
    assert_eq!(h.headers[1].value, b"");
    assert_eq!(h.headers[2].value, b"v");

    let h = head("PURGE /x HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(h.method, Method::Other("PURGE".into()));
}

#[test]
fn keep_alive_rules() {
    let ka = |raw: &str| head(raw).keep_alive;
    assert!(ka("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
    assert!(!ka(
        "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    ));
    assert!(!ka(
        "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, CLOSE\r\n\r\n"
    ));
    assert!(!ka(
        "GET / HTTP/1.1\r\nHost: h\r\nConnection: foo\r\nConnection: close\r\n\r\n"
    ));
    assert!(ka(
        "GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n"
    ));
    assert!(!ka("GET / HTTP/1.0\r\n\r\n"));
    assert!(ka("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    assert!(ka("GET / HTTP/1.0\r\nConnection: foo , keep-alive\r\n\r\n"));
    assert!(!ka(
        "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"
    ));
    assert!(!ka(
        "GET / HTTP/1.0\r\nHost: h\r\nKeep-Alive: timeout=5\r\n\r\n"
    ));
}

#[test]
fn expect_and_host_rules() {
    assert!(
        head("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n")
            .expect_continue
    );
    assert!(
        !head("POST / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\n")
            .expect_continue
    );
    // RFC 9110 §10.1.1: ignore 100-continue from an HTTP/1.0 client.
    assert!(
        !head("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")
            .expect_continue
    );
    assert_eq!(head("GET / HTTP/1.0\r\n\r\n").host, None);
    assert_eq!(
        head("GET http://a.example:8080/p?q HTTP/1.0\r\n\r\n")
            .host
            .as_deref(),
        Some("a.example:8080")
    );
    assert_eq!(
        head("GET / HTTP/1.1\r\nHost:\r\n\r\n").host.as_deref(),
        Some("")
    );
    malformed("GET / HTTP/1.1\r\n\r\n");
    malformed("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n");
    malformed("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n");
}

#[test]
fn status_codes() {
    assert_eq!(RequestError::HeadTooLarge.status(), 431);
    assert_eq!(RequestError::TooManyHeaders.status(), 431);
    assert_eq!(RequestError::UriTooLong.status(), 414);
    assert_eq!(RequestError::BodyTooLarge.status(), 413);
    assert_eq!(RequestError::UnsupportedTransferCoding.status(), 501);
    assert_eq!(RequestError::Malformed("x").status(), 400);
    assert_eq!(RequestError::Smuggling("x").status(), 400);
}

fn small_limits() -> Limits {
    Limits {
        max_head_bytes: 64,
        max_uri_bytes: 16,
        max_headers: 3,
        max_body_bytes: 1000,
    }
}

#[test]
fn limits() {
    let l = small_limits();
    let p = |raw: &str| parse_request_head(raw.as_bytes(), &l);
    // Exactly at the head limit: accepted (64 bytes).
    let exact = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    assert_eq!(exact.len(), 64);
    assert_eq!(p(exact).unwrap().unwrap().head_len, 64);
    // One more byte: 431, whether complete or not.
    let over = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    assert_eq!(p(over), Err(RequestError::HeadTooLarge));
    assert_eq!(p(&over[..64]), Err(RequestError::HeadTooLarge));
    assert_eq!(p(&over[..63]), Ok(None));
    assert_eq!(p(&"\r\n".repeat(40)), Err(RequestError::HeadTooLarge));
    // Header count.
    assert!(p("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n")
        .unwrap()
        .is_some());
    assert_eq!(
        p("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"),
        Err(RequestError::TooManyHeaders)
    );
    assert_eq!(
        p("GET / HTTP/1.1\r\nA:\r\nB:\r\nC:\r\nD:\r\n"),
        Err(RequestError::TooManyHeaders)
    );
    // URI: 16 bytes fine, 17 → 414, also before the line ends.
    assert!(p("GET /aaaaaaaaaaaaaaa HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap()
        .is_some());
    assert_eq!(
        p("GET /aaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: h\r\n\r\n"),
        Err(RequestError::UriTooLong)
    );
    assert_eq!(p("GET /aaaaaaaaaaaaaaa"), Ok(None));
    assert_eq!(p("GET /aaaaaaaaaaaaaaaa"), Err(RequestError::UriTooLong));
    // Body.
    assert_eq!(
        p("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n")
            .unwrap()
            .unwrap()
            .framing,
        RequestFraming::Length(1000)
    );
    assert_eq!(
        p("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1001\r\n\r\n"),
        Err(RequestError::BodyTooLarge)
    );
    // Default limits: a 16 KiB head of one huge header.
    let big = format!(
        "GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    assert_eq!(parse(big.as_bytes()), Err(RequestError::HeadTooLarge));
    let long_uri = format!("GET /{} HTTP/1.1\r\n", "a".repeat(9000));
    assert_eq!(parse(long_uri.as_bytes()), Err(RequestError::UriTooLong));
}

#[test]
fn transfer_coding_rules() {
    let te = |v: &str| {
        parse(format!("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: {v}\r\n\r\n").as_bytes())
    };
    assert_eq!(
        te("chunked").unwrap().unwrap().framing,
        RequestFraming::Chunked
    );
    assert_eq!(
        te("Chunked").unwrap().unwrap().framing,
        RequestFraming::Chunked
    );
    assert_eq!(
        te("gzip, chunked"),
        Err(RequestError::UnsupportedTransferCoding)
    );
    assert_eq!(te("gzip"), Err(RequestError::UnsupportedTransferCoding));
    assert_eq!(te("identity"), Err(RequestError::UnsupportedTransferCoding));
    assert_eq!(
        te("chunked;q=1"),
        Err(RequestError::UnsupportedTransferCoding)
    );
    assert!(matches!(
        te("chunked, chunked"),
        Err(RequestError::Smuggling(_))
    ));
    assert!(matches!(
        te("chunked, gzip"),
        Err(RequestError::Smuggling(_))
    ));
    assert!(matches!(te("chunked,"), Err(RequestError::Smuggling(_))));
    assert!(matches!(te(""), Err(RequestError::Smuggling(_))));
    smuggling("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(
        parse(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"),
        Err(RequestError::UnsupportedTransferCoding)
    );
    smuggling("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
}

#[test]
fn smuggling_shapes() {
    // CL + TE, in both orders.
    smuggling(
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    smuggling(
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
    );
    // Duplicate CL, even equal.
    smuggling("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
    smuggling("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\n");
    // Invalid CL values.
    for v in [
        "5, 5",
        "+5",
        "-1",
        "0x5",
        "5a",
        "",
        "1 2",
        "99999999999999999999999",
    ] {
        smuggling(&format!(
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {v}\r\n\r\n"
        ));
    }
    // obs-fold.
    smuggling("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n");
    smuggling("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n\tb\r\n\r\n");
    smuggling("GET / HTTP/1.1\r\n Host: h\r\n\r\n");
    // Bare LF / bare CR anywhere, detected before the head completes.
    smuggling("GET / HTTP/1.1\nHost: h\r\n\r\n");
    smuggling("GET / HTTP/1.1\r\nHost: h\n\r\n");
    smuggling("GET / HTTP/1.1\r\nHost: h\r\n\n");
    smuggling("GET / HTTP/1.1\r\nHost: h\n\n");
    smuggling("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n");
    smuggling("GET / HTTP/1.1\rHost: h\r\n\r\n");
    assert!(matches!(
        parse(b"GET / HTTP/1.1\r\nHost: h\n"),
        Err(RequestError::Smuggling(_))
    ));
    // Whitespace before the colon.
    smuggling("GET / HTTP/1.1\r\nHost : h\r\n\r\n");
    smuggling("POST / HTTP/1.1\r\nHost: h\r\nContent-Length\t: 5\r\n\r\n");
    smuggling("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n");
    // Control characters in values.
    smuggling("GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n");
    smuggling("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7fb\r\n\r\n");
    smuggling("GET / HTTP/1.1\r\nHost: h\r\nX: \x01\r\n\r\n");
}

#[test]
fn malformations() {
    malformed("G@T / HTTP/1.1\r\nHost: h\r\n\r\n");
    malformed("GET / HTTP/2.0\r\nHost: h\r\n\r\n");
    malformed("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    malformed("GET / HTTP/1.2\r\nHost: h\r\n\r\n");
    malformed("GET / http/1.1\r\nHost: h\r\n\r\n");
    malformed("GET /\r\nHost: h\r\n\r\n");
    malformed("GET  HTTP/1.1\r\nHost: h\r\n\r\n");
    malformed("GET  / HTTP/1.1\r\nHost: h\r\n\r\n");
    malformed("GET / HTTP/1.1 \r\nHost: h\r\n\r\n");
    malformed("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n");
    malformed("GET / HTTP/1.1\r\nHost: h\r\n: empty\r\n\r\n");
    malformed("GET / HTTP/1.1\r\nHost: h\r\nBad(name): v\r\n\r\n");
    let tls_hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n";
    assert!(matches!(parse(tls_hello), Err(RequestError::Malformed(_))));
}

#[test]
fn single_byte_mutations_never_panic_and_never_overrun() {
    const INTERESTING: [u8; 9] = [0, b'\r', b'\n', b' ', b'\t', b':', b',', 0xff, b'a'];
    let limits = small_limits();
    for raw in VALID {
        let raw = raw.as_bytes();
        for pos in 0..raw.len() {
            for b in INTERESTING {
                let mut m = raw.to_vec();
                m[pos] = b;
                for l in [&Limits::default(), &limits] {
                    if let Ok(Some(h)) = parse_request_head(&m, l) {
                        assert!(h.head_len <= m.len() && h.head_len <= l.max_head_bytes);
                        assert_eq!(&m[h.head_len - 4..h.head_len], b"\r\n\r\n");
                    }
                }
            }
        }
    }
}

#[test]
fn heads_with_more_fields_than_the_stack_slots_parse() {
    for n in [31, 32, 33, 90] {
        let mut raw = String::from("GET / HTTP/1.1\r\nHost: h\r\n");
        for i in 1..n {
            raw.push_str(&format!("X-F{i}: {i}\r\n"));
        }
        raw.push_str("\r\n");
        let h = head(&raw);
        assert_eq!(h.headers.len(), n, "{n}");
        assert_eq!(h.headers[n - 1].name, format!("X-F{}", n - 1));
    }
}
