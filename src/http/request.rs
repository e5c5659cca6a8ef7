//! Request head parsing (httparse) with limits and smuggling checks. Sans-IO.
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
    /// `Expect: 100-continue` was sent.
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
        todo!()
    }
}

/// Parses a request head from the start of `buf`. `Ok(None)`: incomplete, read more.
pub fn parse_request_head(buf: &[u8], limits: &Limits) -> Result<Option<RequestHead>, RequestError> {
    let _ = (buf, limits);
    todo!()
}
