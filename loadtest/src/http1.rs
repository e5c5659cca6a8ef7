//! HTTP/1.1 on the client side, sans-IO: the request bytes, and a response reader that is fed
//! whatever arrived and says where each response ends.
//!
//! Job: framing only. Heads are parsed with httparse; bodies are framed by `Content-Length`,
//! `Transfer-Encoding: chunked`, or (without either) by the connection closing. Body bytes are
//! counted, not kept. 1xx interim responses are skipped; 204 and 304 have no body.
//!
//! What it does not do: sockets, timing, HEAD requests (only GET is sent), trailers (read and
//! dropped). Never panics on peer input: every malformed input is a [`ResponseError`].

use crate::plan::RequestSpec;

/// Largest response head accepted, bytes.
pub const MAX_HEAD: usize = 64 * 1024;
/// Largest chunk-size line accepted, bytes.
const MAX_CHUNK_LINE: usize = 1024;
const MAX_HEADERS: usize = 64;

/// The GET request for `spec`; `close` adds `Connection: close` (one request per connection).
pub fn request_bytes(spec: &RequestSpec, close: bool) -> Vec<u8> {
    let mut r = format!("GET {} HTTP/1.1\r\nHost: {}\r\n", spec.path, spec.host);
    for (name, value) in &spec.headers {
        r.push_str(name);
        r.push_str(": ");
        r.push_str(value);
        r.push_str("\r\n");
    }
    if close {
        r.push_str("Connection: close\r\n");
    }
    r.push_str("\r\n");
    r.into_bytes()
}

/// A complete response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body_bytes: u64,
    /// The server will close the connection after this response.
    pub close: bool,
}

/// What the peer sent wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error("malformed response head: {0}")]
    Head(String),
    #[error("response head larger than {MAX_HEAD} bytes")]
    HeadTooLarge,
    #[error("conflicting or invalid Content-Length")]
    ContentLength,
    #[error("malformed chunked body")]
    Chunked,
    #[error("connection closed inside a response")]
    Truncated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// Inside chunk data, this many bytes left.
    Data(u64),
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Sized { left: u64 },
    Chunked(Chunk),
    UntilClose,
}

/// Reads one response after another from a byte stream.
#[derive(Debug)]
pub struct ResponseReader {
    state: State,
    status: u16,
    close: bool,
    body: u64,
}

impl Default for ResponseReader {
    fn default() -> Self {
        ResponseReader {
            state: State::Head,
            status: 0,
            close: false,
            body: 0,
        }
    }
}

impl ResponseReader {
    /// Consumes a prefix of `input`. Returns the bytes consumed and the response if one ended.
    /// Call again with the rest while it consumes something; `(0, None)` means "need more".
    pub fn feed(&mut self, input: &[u8]) -> Result<(usize, Option<Response>), ResponseError> {
        match self.state {
            State::Head => self.head(input),
            State::Sized { left } => {
                let take = left.min(input.len() as u64);
                self.body += take;
                if take == left {
                    Ok((take as usize, Some(self.finish())))
                } else {
                    self.state = State::Sized { left: left - take };
                    Ok((take as usize, None))
                }
            }
            State::Chunked(c) => self.chunked(c, input),
            State::UntilClose => {
                self.body += input.len() as u64;
                Ok((input.len(), None))
            }
        }
    }

    /// The peer closed the connection: completes a close-delimited response, else an error if
    /// a response was in progress. `Ok(None)`: clean close between responses.
    pub fn eof(&mut self) -> Result<Option<Response>, ResponseError> {
        match self.state {
            State::Head => Ok(None),
            State::UntilClose => Ok(Some(self.finish())),
            _ => Err(ResponseError::Truncated),
        }
    }

    fn finish(&mut self) -> Response {
        let r = Response {
            status: self.status,
            body_bytes: self.body,
            close: self.close,
        };
        self.state = State::Head;
        self.body = 0;
        r
    }

    fn head(&mut self, input: &[u8]) -> Result<(usize, Option<Response>), ResponseError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        let len = match resp.parse(input) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if input.len() >= MAX_HEAD => {
                return Err(ResponseError::HeadTooLarge)
            }
            Ok(httparse::Status::Partial) => return Ok((0, None)),
            Err(e) => return Err(ResponseError::Head(e.to_string())),
        };
        let status = resp.code.unwrap_or(0);
        if (100..200).contains(&status) && status != 101 {
            // Interim response: skip it, the real one follows.
            return Ok((len, None));
        }
        let mut close = resp.version == Some(0);
        let mut length: Option<u64> = None;
        let mut chunked = false;
        for h in resp.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                let v = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .ok_or(ResponseError::ContentLength)?;
                if length.is_some_and(|l| l != v) {
                    return Err(ResponseError::ContentLength);
                }
                length = Some(v);
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = has_token(h.value, "chunked");
            } else if h.name.eq_ignore_ascii_case("connection") {
                if has_token(h.value, "close") {
                    close = true;
                } else if has_token(h.value, "keep-alive") {
                    close = false;
                }
            }
        }
        self.status = status;
        self.close = close;
        self.body = 0;
        if status == 204 || status == 304 {
            return Ok((len, Some(self.finish())));
        }
        self.state = match (chunked, length) {
            (true, _) => State::Chunked(Chunk::Size),
            (false, Some(0)) => return Ok((len, Some(self.finish()))),
            (false, Some(n)) => State::Sized { left: n },
            (false, None) => {
                self.close = true;
                State::UntilClose
            }
        };
        Ok((len, None))
    }

    fn chunked(
        &mut self,
        c: Chunk,
        input: &[u8],
    ) -> Result<(usize, Option<Response>), ResponseError> {
        match c {
            Chunk::Data(left) => {
                let take = left.min(input.len() as u64);
                self.body += take;
                self.state = State::Chunked(if take == left {
                    Chunk::DataEnd
                } else {
                    Chunk::Data(left - take)
                });
                Ok((take as usize, None))
            }
            Chunk::Size | Chunk::DataEnd | Chunk::Trailer => {
                let Some(line_len) = input.iter().position(|b| *b == b'\n') else {
                    if input.len() > MAX_CHUNK_LINE {
                        return Err(ResponseError::Chunked);
                    }
                    return Ok((0, None));
                };
                let line = &input[..line_len];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let used = line_len + 1;
                match c {
                    Chunk::DataEnd if line.is_empty() => {
                        self.state = State::Chunked(Chunk::Size);
                        Ok((used, None))
                    }
                    Chunk::DataEnd => Err(ResponseError::Chunked),
                    Chunk::Trailer if line.is_empty() => Ok((used, Some(self.finish()))),
                    Chunk::Trailer => Ok((used, None)),
                    _ => {
                        let size = chunk_size(line)?;
                        self.state = State::Chunked(if size == 0 {
                            Chunk::Trailer
                        } else {
                            Chunk::Data(size)
                        });
                        Ok((used, None))
                    }
                }
            }
        }
    }
}

fn chunk_size(line: &[u8]) -> Result<u64, ResponseError> {
    let hex = line.split(|b| *b == b';').next().unwrap_or(&[]);
    let hex = std::str::from_utf8(hex)
        .map_err(|_| ResponseError::Chunked)?
        .trim();
    if hex.is_empty() || hex.len() > 15 {
        return Err(ResponseError::Chunked);
    }
    u64::from_str_radix(hex, 16).map_err(|_| ResponseError::Chunked)
}

fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|b| *b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

#[cfg(test)]
mod tests;
