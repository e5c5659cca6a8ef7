//! Response head parsing (from the cache layer) and the head written back to the client. Sans-IO.
//!
//! Parsing policy: the response arrives on a connection that is reused for other clients, so a
//! framing mistake would corrupt someone else's response. Heads are therefore scanned with the
//! same strict line rules as requests (bare LF/CR, obs-fold, whitespace before colon, control
//! characters → [`ResponseError::Malformed`]); Content-Length must be plain digits, and several
//! Content-Length values are accepted only when they are all identical (RFC 9112 §6.3).
//! Transfer-Encoding wins over Content-Length, but such a response is never followed by a reuse
//! of the upstream connection.
//!
//! Writing policy ([`write_client_response_head`]): the body is forwarded verbatim, so
//! Content-Length and Transfer-Encoding are kept as they are; hop-by-hop fields are dropped.
//!
//! Not done here: deciding whether the client connection stays open (the caller passes
//! `close`), 1xx handling policy (the caller forwards or drops interim heads; an HTTP/1.0 client
//! must not be sent any).
use super::head::{self, HeadScan};
use super::request::describe_httparse;
use super::{Header, Version};

/// Most header fields accepted in a response head.
pub const MAX_RESPONSE_HEADERS: usize = 256;

/// How the response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFraming {
    /// No body (HEAD request, 1xx, 204, 304).
    Empty,
    Length(u64),
    Chunked,
    /// Body runs until the upstream closes the connection.
    UntilClose,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    /// The reason phrase as received, or empty when it is the standard one for the status
    /// (or was empty): [`write_client_response_head`] writes the standard one then, so the
    /// common response costs no allocation for it.
    pub reason: String,
    pub version: Version,
    pub headers: Vec<Header>,
    pub framing: ResponseFraming,
    /// The upstream connection may be reused after this response.
    pub upstream_keep_alive: bool,
    pub head_len: usize,
}

impl ResponseHead {
    /// 1xx (interim) response: another head follows.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error("response head larger than the limit")]
    HeadTooLarge,
    #[error("malformed response: {0}")]
    Malformed(&'static str),
}

/// Parses a response head. `request_is_head`: the request was HEAD (no body follows).
pub fn parse_response_head(
    buf: &[u8],
    request_is_head: bool,
    max_head_bytes: usize,
) -> Result<Option<ResponseHead>, ResponseError> {
    let (start, head_len, fields) = match head::scan_head(buf, max_head_bytes, MAX_RESPONSE_HEADERS)
    {
        HeadScan::Incomplete => return Ok(None),
        HeadScan::TooLarge => return Err(ResponseError::HeadTooLarge),
        HeadScan::TooManyFields => return Err(ResponseError::Malformed("too many header fields")),
        HeadScan::Fault(fault) => return Err(ResponseError::Malformed(fault.describe())),
        HeadScan::Complete {
            start,
            head_len,
            fields,
        } => (start, head_len, fields),
    };
    let mut slots = head::Slots::new();
    let mut resp = httparse::Response::new(slots.take(fields));
    match resp.parse(&buf[start..head_len]) {
        Ok(httparse::Status::Complete(n)) if n == head_len - start => {}
        Ok(_) => return Err(ResponseError::Malformed("head shape")),
        Err(e) => return Err(ResponseError::Malformed(describe_httparse(e))),
    }
    let version = match resp.version {
        Some(0) => Version::Http10,
        Some(1) => Version::Http11,
        _ => return Err(ResponseError::Malformed("unsupported HTTP version")),
    };
    let status = resp
        .code
        .ok_or(ResponseError::Malformed("missing status"))?;
    // httparse takes any three digits; only 100..=599 are HTTP statuses (found by fuzzing).
    if !(100..=599).contains(&status) {
        return Err(ResponseError::Malformed("status outside 100-599"));
    }
    let reason = match resp.reason {
        Some(r) if r != super::local::reason_phrase(status) => r.to_owned(),
        _ => String::new(),
    };
    let headers: Vec<Header> = resp
        .headers
        .iter()
        .map(|h| Header {
            name: h.name.to_owned(),
            value: h.value.to_vec(),
        })
        .collect();

    let mut conn_close = false;
    let mut conn_keep_alive = false;
    let mut te_seen = false;
    let mut last_is_chunked = false;
    let mut chunked = 0usize;
    let mut length: Option<Option<u64>> = None; // None: no CL; Some(None): invalid/conflicting
    for h in &headers {
        let name = h.name.as_str();
        if name.eq_ignore_ascii_case("connection") {
            conn_close |= head::list_contains(&h.value, "close");
            conn_keep_alive |= head::list_contains(&h.value, "keep-alive");
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            te_seen = true;
            for coding in head::list_elements(&h.value).filter(|c| !c.is_empty()) {
                last_is_chunked = coding.eq_ignore_ascii_case(b"chunked");
                chunked += usize::from(last_is_chunked);
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            for v in head::list_elements(&h.value) {
                let n = head::parse_content_length(v);
                length = match (length, n) {
                    (None, n) => Some(n),
                    (Some(Some(a)), Some(b)) if a == b => Some(Some(a)),
                    _ => Some(None),
                };
            }
        }
    }

    let no_body = request_is_head || (100..200).contains(&status) || status == 204 || status == 304;
    let framing = if no_body {
        ResponseFraming::Empty
    } else if te_seen {
        if chunked > 1 {
            return Err(ResponseError::Malformed("chunked applied more than once"));
        }
        if last_is_chunked {
            ResponseFraming::Chunked
        } else {
            // RFC 9112 §6.3: a response whose final coding is not chunked runs until close.
            ResponseFraming::UntilClose
        }
    } else {
        match length {
            None => ResponseFraming::UntilClose,
            Some(Some(n)) => ResponseFraming::Length(n),
            Some(None) => return Err(ResponseError::Malformed("invalid Content-Length")),
        }
    };
    let version_keep_alive = match version {
        Version::Http11 => !conn_close,
        Version::Http10 => conn_keep_alive && !conn_close,
    };
    let upstream_keep_alive = version_keep_alive
        && framing != ResponseFraming::UntilClose
        && !(te_seen && length.is_some());
    Ok(Some(ResponseHead {
        status,
        reason,
        version,
        headers,
        framing,
        upstream_keep_alive,
        head_len,
    }))
}

/// Writes the response head for the client: hop-by-hop fields removed, `Connection: close` when
/// `close`, `Connection: keep-alive` for an HTTP/1.0 client that stays.
///
/// The status line always says `HTTP/1.1` (RFC 9110 §6.2: a server sends its own version; a
/// 1.0 client accepts it). Content-Length and Transfer-Encoding are kept verbatim since the body
/// is forwarded verbatim, except a Content-Length beside a Transfer-Encoding (dropped). The caller must pass `close = true` when the body is
/// [`ResponseFraming::UntilClose`], and when the framing is [`ResponseFraming::Chunked`] and the
/// client speaks HTTP/1.0 (it cannot find the end of a chunked body; the connection end marks
/// it instead). For an interim (1xx) head pass `close = false`: the connection decision belongs
/// to the final head.
pub fn write_client_response_head(
    head: &ResponseHead,
    client_version: Version,
    close: bool,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    head::push_decimal(out, u64::from(head.status));
    out.push(b' ');
    if head.reason.is_empty() {
        out.extend_from_slice(super::local::reason_phrase(head.status).as_bytes());
    } else {
        out.extend_from_slice(head.reason.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    let has_te = head
        .headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("transfer-encoding"));
    for h in &head.headers {
        if head::is_connection_specific(&head.headers, &h.name) {
            continue;
        }
        // With Transfer-Encoding the body is framed by it (or by the close): a Content-Length
        // beside it (which the cache should never send) must not reach the client (RFC 9112
        // §6.1; found by fuzzing).
        if has_te && h.name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        head::push_field(out, h.name.as_bytes(), &h.value);
    }
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if client_version == Version::Http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
}
