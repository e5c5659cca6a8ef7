//! Sans-IO HTTP/1.1: request and response heads, body framing, header rewriting, local answers.
//!
//! Nothing here touches a socket or reads the clock: functions take bytes and return values.
//! The connection driver in [`crate::proxy`] feeds them.
//!
//! INTERFACE CONTRACT (used by `proxy`; keep these names and shapes):
//! - [`Limits`], [`Version`], [`Method`], [`Header`]
//! - [`request::parse_request_head`] → `Result<Option<RequestHead>, RequestError>`
//! - [`framing::ChunkedScanner`] (validates chunked bytes passed through verbatim)
//! - [`response::parse_response_head`] and [`response::write_client_response_head`]
//! - [`rewrite::write_upstream_request`] with [`rewrite::ForwardInfo`]
//! - [`local::write_local_response`]

pub mod framing;
pub mod local;
pub mod request;
pub mod response;
pub mod rewrite;

/// Size limits applied to client requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request head (request line + headers + final CRLF), bytes. Default 16384. Over → 431.
    pub max_head_bytes: usize,
    /// Longest request target (URI), bytes. Default 8192. Over → 414.
    pub max_uri_bytes: usize,
    /// Most header fields in one head. Default 100. Over → 431.
    pub max_headers: usize,
    /// Largest request body, bytes (Content-Length or sum of chunk sizes). Default 1 GiB. Over → 413.
    pub max_body_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: 16 * 1024,
            max_uri_bytes: 8 * 1024,
            max_headers: 100,
            max_body_bytes: 1 << 30,
        }
    }
}

/// HTTP version of a message on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// Request method. `Other` keeps the token as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
    Patch,
    Connect,
    Trace,
    Other(String),
}

impl Method {
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Patch => "PATCH",
            Method::Connect => "CONNECT",
            Method::Trace => "TRACE",
            Method::Other(s) => s,
        }
    }
}

/// One header field as received (name case preserved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: Vec<u8>,
}
