//! Request head parsing with limits and smuggling checks. Sans-IO.
//!
//! [`parse_request_head`] is called with everything received so far on a connection (from the
//! start of the next request) and answers "incomplete", "here is the head" or "refuse with this
//! status". It re-scans from the start on every call; heads are small and bounded by
//! [`Limits::max_head_bytes`].
//!
//! Order of checks: the request-target length first (so a long URI is a 414 even before its
//! line ends), then the strict line scan ([`super::head::scan_head`]: size, field count, CRLF,
//! obs-fold, whitespace before colon, control characters), then httparse on the complete head
//! (method token, target, version), then header semantics (framing, Host, Connection, Expect).
//!
//! Invariants: never panics on any input; an `Ok(Some(head))` has `head.head_len <= buf.len()`
//! and `head.head_len <= limits.max_head_bytes`; the bytes after `head_len` are untouched (body
//! or the next pipelined request).
use super::head::{self, HeadScan};
use super::{Header, Limits, Method, Version};

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestFraming {
    /// No body.
    None,
    /// `Content-Length: n` (n may be 0).
    Length(u64),
    /// `Transfer-Encoding: chunked` (final coding).
    Chunked,
}

/// A complete, validated request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: Method,
    /// Request target as sent (origin-form or absolute-form).
    pub target: String,
    pub version: Version,
    /// All header fields in order, as received.
    pub headers: Vec<Header>,
    /// Value of the Host header (or authority of an absolute-form target), if any.
    pub host: Option<String>,
    pub framing: RequestFraming,
    /// The client wants the connection kept open after this exchange.
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent (only honoured on HTTP/1.1, per RFC 9110 §10.1.1).
    pub expect_continue: bool,
    /// Bytes of the buffer the head occupied (up to and including the blank line).
    pub head_len: usize,
}

/// Why a request head was refused; each maps to one status code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("request head larger than the limit")]
    HeadTooLarge,
    #[error("too many header fields")]
    TooManyHeaders,
    #[error("request target longer than the limit")]
    UriTooLong,
    #[error("request body larger than the limit")]
    BodyTooLarge,
    #[error("unsupported transfer coding")]
    UnsupportedTransferCoding,
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    #[error("request smuggling shape: {0}")]
    Smuggling(&'static str),
}

impl RequestError {
    /// The status code answered to the client for this error.
    pub fn status(&self) -> u16 {
        match self {
            RequestError::HeadTooLarge | RequestError::TooManyHeaders => 431,
            RequestError::UriTooLong => 414,
            RequestError::BodyTooLarge => 413,
            RequestError::UnsupportedTransferCoding => 501,
            RequestError::Malformed(_) | RequestError::Smuggling(_) => 400,
        }
    }
}

/// Parses a request head from the start of `buf`. `Ok(None)`: incomplete, read more.
pub fn parse_request_head(
    buf: &[u8],
    limits: &Limits,
) -> Result<Option<RequestHead>, RequestError> {
    check_target_len(buf, limits)?;
    let (start, head_len, fields) =
        match head::scan_head(buf, limits.max_head_bytes, limits.max_headers) {
            HeadScan::Incomplete => return Ok(None),
            HeadScan::TooLarge => return Err(RequestError::HeadTooLarge),
            HeadScan::TooManyFields => return Err(RequestError::TooManyHeaders),
            HeadScan::Fault(fault) if fault.is_smuggling() => {
                return Err(RequestError::Smuggling(fault.describe()))
            }
            HeadScan::Fault(fault) => return Err(RequestError::Malformed(fault.describe())),
            HeadScan::Complete {
                start,
                head_len,
                fields,
            } => (start, head_len, fields),
        };

    let mut slots = head::Slots::new();
    let mut req = httparse::Request::new(slots.take(fields));
    match req.parse(&buf[start..head_len]) {
        Ok(httparse::Status::Complete(n)) if n == head_len - start => {}
        Ok(_) => return Err(RequestError::Malformed("head shape")),
        Err(httparse::Error::TooManyHeaders) => return Err(RequestError::TooManyHeaders),
        Err(e) => return Err(RequestError::Malformed(describe_httparse(e))),
    }
    let method = parse_method(req.method.unwrap_or(""))?;
    let target = req.path.unwrap_or("");
    if target.is_empty() {
        return Err(RequestError::Malformed("empty request target"));
    }
    if target.len() > limits.max_uri_bytes {
        return Err(RequestError::UriTooLong);
    }
    let version = match req.version {
        Some(0) => Version::Http10,
        Some(1) => Version::Http11,
        _ => return Err(RequestError::Malformed("unsupported HTTP version")),
    };

    let headers: Vec<Header> = req
        .headers
        .iter()
        .map(|h| Header {
            name: h.name.to_owned(),
            value: h.value.to_vec(),
        })
        .collect();
    let semantics = Semantics::of(&headers, version, limits)?;
    let host = match semantics.host {
        Some(h) => Some(h),
        None if version == Version::Http11 => return Err(RequestError::Malformed("missing Host")),
        None => absolute_form_authority(target).map(str::to_owned),
    };
    let keep_alive = match version {
        Version::Http11 => !semantics.conn_close,
        Version::Http10 => semantics.conn_keep_alive && !semantics.conn_close,
    };
    Ok(Some(RequestHead {
        method,
        target: target.to_owned(),
        version,
        headers,
        host,
        framing: semantics.framing,
        keep_alive,
        expect_continue: semantics.expect_continue && version == Version::Http11,
        head_len,
    }))
}

/// What the header fields say about framing and the connection.
struct Semantics {
    framing: RequestFraming,
    host: Option<String>,
    conn_close: bool,
    conn_keep_alive: bool,
    expect_continue: bool,
}

impl Semantics {
    fn of(headers: &[Header], version: Version, limits: &Limits) -> Result<Self, RequestError> {
        let mut host: Option<&[u8]> = None;
        let mut hosts = 0usize;
        let mut content_length: Option<&[u8]> = None;
        let mut cls = 0usize;
        let mut te_seen = false;
        let mut codings = 0usize;
        let mut chunked = 0usize;
        let mut last_is_chunked = false;
        let mut empty_coding = false;
        let mut s = Semantics {
            framing: RequestFraming::None,
            host: None,
            conn_close: false,
            conn_keep_alive: false,
            expect_continue: false,
        };
        for h in headers {
            let name = h.name.as_str();
            if name.eq_ignore_ascii_case("host") {
                hosts += 1;
                host = Some(&h.value);
            } else if name.eq_ignore_ascii_case("content-length") {
                cls += 1;
                content_length = Some(&h.value);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                te_seen = true;
                for coding in head::list_elements(&h.value) {
                    codings += 1;
                    empty_coding |= coding.is_empty();
                    last_is_chunked = coding.eq_ignore_ascii_case(b"chunked");
                    chunked += usize::from(last_is_chunked);
                }
            } else if name.eq_ignore_ascii_case("connection") {
                s.conn_close |= head::list_contains(&h.value, "close");
                s.conn_keep_alive |= head::list_contains(&h.value, "keep-alive");
            } else if name.eq_ignore_ascii_case("expect") {
                s.expect_continue |= h.value.eq_ignore_ascii_case(b"100-continue");
            }
        }

        if te_seen && version == Version::Http10 {
            return Err(RequestError::Smuggling("Transfer-Encoding on HTTP/1.0"));
        }
        if te_seen && cls > 0 {
            return Err(RequestError::Smuggling(
                "Content-Length with Transfer-Encoding",
            ));
        }
        if cls > 1 {
            return Err(RequestError::Smuggling("duplicate Content-Length"));
        }
        if let Some(value) = content_length {
            let n = head::parse_content_length(value)
                .ok_or(RequestError::Smuggling("invalid Content-Length"))?;
            if n > limits.max_body_bytes {
                return Err(RequestError::BodyTooLarge);
            }
            s.framing = RequestFraming::Length(n);
        }
        if te_seen {
            if chunked > 1 {
                return Err(RequestError::Smuggling("chunked applied more than once"));
            }
            if empty_coding {
                return Err(RequestError::Smuggling("empty transfer coding"));
            }
            if chunked == 1 && !last_is_chunked {
                // RFC 9112 §6.3: chunked not final in a request → 400 and close.
                return Err(RequestError::Smuggling("chunked is not the final coding"));
            }
            if codings != 1 || chunked != 1 {
                return Err(RequestError::UnsupportedTransferCoding);
            }
            s.framing = RequestFraming::Chunked;
        }

        if hosts > 1 {
            return Err(RequestError::Malformed("multiple Host headers"));
        }
        if let Some(value) = host {
            let value =
                std::str::from_utf8(value).map_err(|_| RequestError::Malformed("invalid Host"))?;
            s.host = Some(value.to_owned());
        }
        Ok(s)
    }
}

/// Refuses a request target longer than the limit, also while its line is still arriving.
fn check_target_len(buf: &[u8], limits: &Limits) -> Result<(), RequestError> {
    let start = head::skip_leading_crlf(buf);
    let line = &buf[start..buf.len().min(start.saturating_add(limits.max_head_bytes))];
    let Some(sp) = line.iter().position(|&b| matches!(b, b' ' | b'\r' | b'\n')) else {
        return Ok(());
    };
    if line[sp] != b' ' {
        return Ok(());
    }
    let rest = &line[sp + 1..];
    let window = &rest[..rest.len().min(limits.max_uri_bytes.saturating_add(1))];
    let ended = window.iter().any(|&b| matches!(b, b' ' | b'\r' | b'\n'));
    if !ended && window.len() > limits.max_uri_bytes {
        return Err(RequestError::UriTooLong);
    }
    Ok(())
}

fn parse_method(token: &str) -> Result<Method, RequestError> {
    if token.is_empty() || !token.bytes().all(head::is_tchar) {
        return Err(RequestError::Malformed("invalid method"));
    }
    Ok(match token {
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
    })
}

/// The authority of an absolute-form target (`http://authority/path`), if it is one.
fn absolute_form_authority(target: &str) -> Option<&str> {
    let (scheme, rest) = target.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    (!authority.is_empty()).then_some(authority)
}

pub(crate) fn describe_httparse(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status",
        httparse::Error::Token => "invalid token in the start line",
        httparse::Error::TooManyHeaders => "too many header fields",
        httparse::Error::Version => "unsupported HTTP version",
    }
}
