//! HTTP/2 ↔ HTTP/1.1 translation for the HTTP/2 front (RFC 9113 §8). Sans-IO.
//!
//! Requests: the decoded HTTP/2 request (method, URI built from `:scheme`/`:authority`/`:path`,
//! fields) becomes the same [`RequestHead`] an HTTP/1.1 client would have produced, so the one
//! rewriting function ([`super::rewrite::write_upstream_request`]) and the one failure mapping
//! serve both fronts:
//! - `:authority` → `Host` (first field); a `Host` field that differs from `:authority` is
//!   malformed, an equal one is dropped; without `:authority` the `Host` field is used, and
//!   with neither the request is refused (400, as an HTTP/1.1 request without Host);
//! - `:path` → the request target (origin-form, or `*` for OPTIONS); `:scheme` must be `https`
//!   or `http`; userinfo in `:authority` is malformed; CONNECT is refused (400, no tunnels);
//! - connection-specific fields (Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding,
//!   Upgrade) and `TE` other than `trailers` are malformed (§8.2.2); field values with leading
//!   or trailing whitespace or control characters are malformed (§8.2.1);
//! - cookie crumbs are rejoined into one `Cookie` field with `"; "` (§8.2.3);
//! - framing: `Content-Length` (one plain-digits value) → length framing; no length and a
//!   body → `Transfer-Encoding: chunked` is added (the driver encodes); no body → none;
//! - the limits of HTTP/1.1 heads apply: target length (414), field count and head size (431),
//!   body length (413).
//!
//! Responses: [`response_head`] turns the cache's HTTP/1.1 head into an HTTP/2 response head:
//! hop-by-hop and Connection-listed fields and Transfer-Encoding dropped, Content-Length kept
//! only when the body is length-delimited (it then must match the DATA sent), names
//! lower-cased by `http`.
//!
//! What it does not do: check DATA lengths against Content-Length (the driver counts, and the
//! h2 crate checks too), read bodies, or decide what a refusal looks like on the wire.
use http::header::{HeaderName, HeaderValue};

use super::head::{is_connection_specific, is_ctl_in_value, parse_content_length};
use super::request::{RequestError, RequestFraming, RequestHead};
use super::response::{ResponseError, ResponseFraming, ResponseHead};
use super::{Header, Limits, Method, Version};

/// Why an HTTP/2 request cannot be forwarded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum H2RequestError {
    /// Malformed (RFC 9113 §8.1.1): a stream error, RST_STREAM(PROTOCOL_ERROR), no response.
    #[error("malformed HTTP/2 request: {0}")]
    Malformed(&'static str),
    /// Well-formed but refused: answered locally with the error's status.
    #[error(transparent)]
    Refused(RequestError),
}

/// Whether the request has a body (decided by the driver: END_STREAM on HEADERS, or the
/// first DATA frame turning out to be empty with END_STREAM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    None,
    Some,
}

/// Fields that never appear in HTTP/2 (RFC 9113 §8.2.2).
const CONNECTION_SPECIFIC: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// Translates a decoded HTTP/2 request head into the HTTP/1.1 head sent upstream.
pub fn request_head(
    parts: &http::request::Parts,
    body: Body,
    limits: &Limits,
) -> Result<RequestHead, H2RequestError> {
    use H2RequestError::{Malformed, Refused};
    let method = method_of(&parts.method);
    if method == Method::Connect {
        return Err(Refused(RequestError::Malformed("CONNECT is not supported")));
    }
    match parts.uri.scheme_str() {
        Some("https" | "http") => {}
        Some(_) => return Err(Refused(RequestError::Malformed("unsupported :scheme"))),
        // The h2 crate checked that :scheme was sent; it leaves it out of the URI when there
        // is no :authority (a URI cannot hold a scheme without an authority).
        None => {}
    }
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .ok_or(Malformed("missing :path"))?;
    let valid_target = target.starts_with('/') || (target == "*" && method == Method::Options);
    if !valid_target {
        return Err(Malformed("invalid :path"));
    }
    if target.len() > limits.max_uri_bytes {
        return Err(Refused(RequestError::UriTooLong));
    }
    let authority = parts.uri.authority().map(|a| a.as_str());
    if authority.is_some_and(|a| a.contains('@')) {
        return Err(Malformed("userinfo in :authority"));
    }

    let fields = &parts.headers;
    if fields.len() > limits.max_headers {
        return Err(Refused(RequestError::TooManyHeaders));
    }
    let mut size = method.as_str().len() + target.len() + 12;
    let mut headers: Vec<Header> = Vec::with_capacity(fields.len() + 2);
    let mut host: Option<String> = authority.map(str::to_owned);
    if let Some(a) = authority {
        headers.push(field("Host", a.as_bytes()));
    }
    let mut content_length: Option<u64> = None;
    let mut cookie: Option<usize> = None;
    let mut expect_continue = false;
    for (name, value) in fields {
        let n = name.as_str();
        let v = value.as_bytes();
        size += n.len() + v.len() + 4;
        check_value(v)?;
        if CONNECTION_SPECIFIC.contains(&n) {
            return Err(Malformed("connection-specific header field"));
        }
        match n {
            "te" if !v.eq_ignore_ascii_case(b"trailers") => {
                return Err(Malformed("TE other than trailers"))
            }
            "te" => continue,
            "host" => match authority {
                Some(a) if a.as_bytes() != v => {
                    return Err(Malformed("Host differs from :authority"))
                }
                Some(_) => continue,
                None if host.is_some() => return Err(Malformed("multiple Host fields")),
                None => {
                    let h = std::str::from_utf8(v).map_err(|_| Malformed("invalid Host"))?;
                    host = Some(h.to_owned());
                    headers.insert(0, field("Host", v));
                    continue;
                }
            },
            "content-length" => {
                if content_length.is_some() {
                    return Err(Malformed("multiple Content-Length fields"));
                }
                content_length =
                    Some(parse_content_length(v).ok_or(Malformed("invalid Content-Length"))?);
            }
            "cookie" => {
                // RFC 9113 §8.2.3: crumbs are concatenated with "; " for HTTP/1.1.
                if let Some(i) = cookie {
                    headers[i].value.extend_from_slice(b"; ");
                    headers[i].value.extend_from_slice(v);
                    continue;
                }
                cookie = Some(headers.len());
            }
            "expect" => expect_continue |= v.eq_ignore_ascii_case(b"100-continue"),
            _ => {}
        }
        headers.push(field(n, v));
    }
    if size > limits.max_head_bytes {
        return Err(Refused(RequestError::HeadTooLarge));
    }
    if host.is_none() {
        return Err(Refused(RequestError::Malformed(
            "missing :authority and Host",
        )));
    }
    let framing = match (content_length, body) {
        (Some(n), _) if n > limits.max_body_bytes => {
            return Err(Refused(RequestError::BodyTooLarge))
        }
        (Some(n), Body::None) if n > 0 => return Err(Malformed("Content-Length without body")),
        (Some(n), _) => RequestFraming::Length(n),
        (None, Body::None) => RequestFraming::None,
        (None, Body::Some) => {
            headers.push(field("Transfer-Encoding", b"chunked"));
            RequestFraming::Chunked
        }
    };
    Ok(RequestHead {
        method,
        target: target.to_owned(),
        version: Version::Http11,
        headers,
        host,
        framing,
        keep_alive: true,
        expect_continue,
        head_len: 0,
    })
}

fn field(name: &str, value: &[u8]) -> Header {
    Header {
        name: name.to_owned(),
        value: value.to_vec(),
    }
}

/// RFC 9113 §8.2.1: no NUL, CR, LF (nor other controls, as for HTTP/1.1), no leading or
/// trailing whitespace.
fn check_value(v: &[u8]) -> Result<(), H2RequestError> {
    let ws = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
    if v.iter().any(|&b| is_ctl_in_value(b)) || ws(v.first()) || ws(v.last()) {
        return Err(H2RequestError::Malformed("invalid field value"));
    }
    Ok(())
}

fn method_of(m: &http::Method) -> Method {
    match m.as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "OPTIONS" => Method::Options,
        "PATCH" => Method::Patch,
        "CONNECT" => Method::Connect,
        "TRACE" => Method::Trace,
        other => Method::Other(other.to_owned()),
    }
}

/// The HTTP/2 response head for the cache's response `head` (final or interim).
pub fn response_head(head: &ResponseHead) -> Result<http::Response<()>, ResponseError> {
    let status = http::StatusCode::from_u16(head.status)
        .map_err(|_| ResponseError::Malformed("invalid status"))?;
    let mut resp = http::Response::new(());
    *resp.status_mut() = status;
    let keep_length = matches!(
        head.framing,
        ResponseFraming::Length(_) | ResponseFraming::Empty
    );
    let out = resp.headers_mut();
    for h in &head.headers {
        let name = h.name.as_str();
        if is_connection_specific(&head.headers, name)
            || name.eq_ignore_ascii_case("transfer-encoding")
            || (!keep_length && name.eq_ignore_ascii_case("content-length"))
        {
            continue;
        }
        let n = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ResponseError::Malformed("invalid field name"))?;
        let v = HeaderValue::from_bytes(&h.value)
            .map_err(|_| ResponseError::Malformed("invalid field value"))?;
        out.append(n, v);
    }
    Ok(resp)
}

/// A response generated by the proxy for an HTTP/2 stream: the same plain-text, uncacheable
/// answer as HTTP/1.1's [`super::local::write_local_response`] (`"502 Bad Gateway\n"`), as a
/// head and a body. A `status` outside 200..=599 is answered as 500.
pub fn local_response(status: u16) -> (http::Response<()>, Vec<u8>) {
    let status = if (200..=599).contains(&status) {
        status
    } else {
        500
    };
    let mut body = Vec::with_capacity(48);
    super::head::push_decimal(&mut body, u64::from(status));
    body.push(b' ');
    body.extend_from_slice(super::local::reason_phrase(status).as_bytes());
    body.push(b'\n');
    let mut resp = http::Response::new(());
    // In range by construction, so `from_u16` cannot fail; 500 is the fallback anyway.
    *resp.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain"),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    h.insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    (resp, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, uri: &str, fields: &[(&str, &str)]) -> http::request::Parts {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (n, v) in fields {
            b = b.header(*n, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn head(parts: &http::request::Parts, body: Body) -> Result<RequestHead, H2RequestError> {
        request_head(parts, body, &Limits::default())
    }

    fn fields(h: &RequestHead) -> Vec<(String, String)> {
        h.headers
            .iter()
            .map(|f| (f.name.clone(), String::from_utf8(f.value.clone()).unwrap()))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn authority_becomes_host_and_cookies_are_rejoined() {
        let p = req(
            "GET",
            "https://example.com:8443/a/b?c=d",
            &[
                ("cookie", "a=1"),
                ("accept", "*/*"),
                ("cookie", "b=2"),
                ("host", "example.com:8443"),
                ("te", "trailers"),
                ("cookie", "c=3"),
            ],
        );
        let h = head(&p, Body::None).unwrap();
        assert_eq!(h.method, Method::Get);
        assert_eq!(h.target, "/a/b?c=d");
        assert_eq!(h.version, Version::Http11);
        assert_eq!(h.host.as_deref(), Some("example.com:8443"));
        assert_eq!(h.framing, RequestFraming::None);
        assert!(h.keep_alive && !h.expect_continue);
        assert_eq!(
            fields(&h),
            pairs(&[
                ("Host", "example.com:8443"),
                ("cookie", "a=1; b=2; c=3"),
                ("accept", "*/*"),
            ])
        );
    }

    #[test]
    fn host_field_without_authority() {
        // Without :authority, h2 hands over a URI holding only the path.
        let p = req("GET", "/x", &[("accept", "a"), ("host", "h.example")]);
        let h = head(&p, Body::None).unwrap();
        assert_eq!(h.host.as_deref(), Some("h.example"));
        assert_eq!(fields(&h), pairs(&[("Host", "h.example"), ("accept", "a")]));
        let two = req("GET", "/x", &[("host", "a"), ("host", "b")]);
        assert_eq!(
            head(&two, Body::None),
            Err(H2RequestError::Malformed("multiple Host fields"))
        );
        let none = req("GET", "/x", &[]);
        assert_eq!(
            head(&none, Body::None),
            Err(H2RequestError::Refused(RequestError::Malformed(
                "missing :authority and Host"
            )))
        );
    }

    #[test]
    fn bodies_get_length_or_chunked_framing() {
        let p = req("POST", "https://h/up", &[("content-length", "10")]);
        assert_eq!(
            head(&p, Body::Some).unwrap().framing,
            RequestFraming::Length(10)
        );
        let p = req("POST", "https://h/up", &[("content-length", "0")]);
        assert_eq!(
            head(&p, Body::None).unwrap().framing,
            RequestFraming::Length(0)
        );
        let p = req("POST", "https://h/up", &[("content-type", "x")]);
        let h = head(&p, Body::Some).unwrap();
        assert_eq!(h.framing, RequestFraming::Chunked);
        assert_eq!(
            fields(&h),
            pairs(&[
                ("Host", "h"),
                ("content-type", "x"),
                ("Transfer-Encoding", "chunked")
            ])
        );
        let p = req("PUT", "https://h/up", &[("expect", "100-continue")]);
        assert!(head(&p, Body::Some).unwrap().expect_continue);
    }

    #[test]
    fn malformed_requests_are_stream_errors() {
        use H2RequestError::Malformed;
        type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: [Case; 13] = [
            (
                "GET",
                "https://h/",
                &[("connection", "close")],
                "connection-specific header field",
            ),
            (
                "GET",
                "https://h/",
                &[("keep-alive", "5")],
                "connection-specific header field",
            ),
            (
                "GET",
                "https://h/",
                &[("proxy-connection", "x")],
                "connection-specific header field",
            ),
            (
                "GET",
                "https://h/",
                &[("transfer-encoding", "chunked")],
                "connection-specific header field",
            ),
            (
                "GET",
                "https://h/",
                &[("upgrade", "websocket")],
                "connection-specific header field",
            ),
            (
                "GET",
                "https://h/",
                &[("te", "gzip")],
                "TE other than trailers",
            ),
            (
                "GET",
                "https://h/",
                &[("host", "other")],
                "Host differs from :authority",
            ),
            (
                "GET",
                "https://h/",
                &[("x", " lead")],
                "invalid field value",
            ),
            (
                "GET",
                "https://h/",
                &[("x", "trail\t")],
                "invalid field value",
            ),
            (
                "POST",
                "https://h/",
                &[("content-length", "1"), ("content-length", "1")],
                "multiple Content-Length fields",
            ),
            (
                "POST",
                "https://h/",
                &[("content-length", "+1")],
                "invalid Content-Length",
            ),
            (
                "POST",
                "https://h/",
                &[("content-length", "5")],
                "Content-Length without body",
            ),
            ("GET", "https://u@h/", &[], "userinfo in :authority"),
        ];
        for (m, u, f, why) in cases {
            assert_eq!(
                head(&req(m, u, f), Body::None),
                Err(Malformed(why)),
                "{f:?}"
            );
        }
        // A :path that is not origin-form (h2 lets "*" through for any method).
        let mut star = req("GET", "https://h/", &[]);
        star.uri = http::Uri::from_parts({
            let mut parts = http::uri::Parts::default();
            parts.scheme = Some(http::uri::Scheme::HTTPS);
            parts.authority = Some("h".parse().unwrap());
            parts.path_and_query = Some("*".parse().unwrap());
            parts
        })
        .unwrap();
        assert_eq!(head(&star, Body::None), Err(Malformed("invalid :path")));
        star.method = http::Method::OPTIONS;
        assert_eq!(head(&star, Body::None).unwrap().target, "*");
    }

    #[test]
    fn refusals_carry_the_http1_status() {
        let status = |r: Result<RequestHead, H2RequestError>| match r {
            Err(H2RequestError::Refused(e)) => e.status(),
            other => panic!("{other:?}"),
        };
        let limits = Limits {
            max_head_bytes: 200,
            max_uri_bytes: 20,
            max_headers: 3,
            max_body_bytes: 100,
        };
        let long = format!("https://h/{}", "a".repeat(20));
        assert_eq!(
            status(request_head(&req("GET", &long, &[]), Body::None, &limits)),
            414
        );
        let many = req(
            "GET",
            "https://h/",
            &[("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")],
        );
        assert_eq!(status(request_head(&many, Body::None, &limits)), 431);
        let big = "v".repeat(200);
        let big = req("GET", "https://h/", &[("a", big.as_str())]);
        assert_eq!(status(request_head(&big, Body::None, &limits)), 431);
        let body = req("POST", "https://h/", &[("content-length", "101")]);
        assert_eq!(status(request_head(&body, Body::Some, &limits)), 413);
        assert_eq!(status(head(&req("CONNECT", "h:443", &[]), Body::None)), 400);
        assert_eq!(status(head(&req("GET", "ftp://h/", &[]), Body::None)), 400);
    }

    fn response(status: u16, framing: ResponseFraming, fields: &[(&str, &str)]) -> ResponseHead {
        ResponseHead {
            status,
            reason: String::new(),
            version: Version::Http11,
            headers: fields.iter().map(|(n, v)| field(n, v.as_bytes())).collect(),
            framing,
            upstream_keep_alive: true,
            head_len: 0,
        }
    }

    fn resp_fields(r: &http::Response<()>) -> Vec<(String, String)> {
        r.headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap().to_string()))
            .collect()
    }

    #[test]
    fn response_drops_hop_by_hop_and_chunked_framing() {
        let r = response(
            200,
            ResponseFraming::Chunked,
            &[
                ("Content-Type", "text/plain"),
                ("Transfer-Encoding", "chunked"),
                ("Connection", "keep-alive, X-Private"),
                ("Keep-Alive", "timeout=5"),
                ("X-Private", "p"),
                ("Set-Cookie", "a=1"),
                ("Set-Cookie", "b=2"),
                ("Content-Length", "7"),
            ],
        );
        let out = response_head(&r).unwrap();
        assert_eq!(out.status(), 200);
        assert_eq!(
            resp_fields(&out),
            pairs(&[
                ("content-type", "text/plain"),
                ("set-cookie", "a=1"),
                ("set-cookie", "b=2"),
            ])
        );
        let r = response(
            200,
            ResponseFraming::Length(7),
            &[("Content-Length", "7"), ("Upgrade", "h2c")],
        );
        assert_eq!(
            resp_fields(&response_head(&r).unwrap()),
            pairs(&[("content-length", "7")])
        );
        let r = response(304, ResponseFraming::Empty, &[("ETag", "\"x\"")]);
        let out = response_head(&r).unwrap();
        assert_eq!(
            (out.status().as_u16(), resp_fields(&out)),
            (304, pairs(&[("etag", "\"x\"")]))
        );
    }

    #[test]
    fn local_answers() {
        let (head, body) = local_response(502);
        assert_eq!(head.status(), 502);
        assert_eq!(body, b"502 Bad Gateway\n");
        assert_eq!(
            resp_fields(&head),
            pairs(&[
                ("content-type", "text/plain"),
                ("cache-control", "no-store"),
                ("content-length", "16"),
            ])
        );
        assert_eq!(local_response(42).0.status(), 500);
    }

    #[test]
    fn response_with_unrepresentable_parts_is_refused() {
        let r = response(99, ResponseFraming::Empty, &[]);
        assert!(response_head(&r).is_err());
        let r = response(200, ResponseFraming::Empty, &[("bad name", "v")]);
        assert_eq!(
            response_head(&r).unwrap_err(),
            ResponseError::Malformed("invalid field name")
        );
    }
}
