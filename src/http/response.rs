//! Response head parsing (from the cache layer) and the head written back to the client. Sans-IO.
use super::{Header, Version};

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
    let _ = (buf, request_is_head, max_head_bytes);
    todo!()
}

/// Writes the response head for the client: hop-by-hop fields removed, `Connection: close` when
/// `close`, version matching the client's.
pub fn write_client_response_head(
    head: &ResponseHead,
    client_version: Version,
    close: bool,
    out: &mut Vec<u8>,
) {
    let _ = (head, client_version, close, out);
    todo!()
}
