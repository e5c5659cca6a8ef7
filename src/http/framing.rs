//! Body framing: a streaming validator for chunked bodies passed through verbatim. Sans-IO.
//!
//! The proxy never re-encodes a chunked body: it forwards the bytes as received and runs them
//! through a [`ChunkedScanner`] on the way, which checks the framing (RFC 9112 §7.1) and says
//! where the message ends. The same scanner serves request bodies (limit = the request body
//! limit) and upstream responses ([`ChunkedScanner::unlimited`]).
//!
//! What it checks:
//! - chunk size: 1 to 16 hex digits, nothing else (no sign, no `0x`, no whitespace); the sum of
//!   the sizes must stay within `max_body` ([`ChunkError::TooLarge`]);
//! - chunk extensions after `;`: any visible characters, SP and HTAB, at most
//!   [`MAX_SIZE_LINE`] bytes per size line; they are not interpreted;
//! - CRLF exactly after each size line and after each chunk's data;
//! - trailer fields: `name:value` lines (token name, no whitespace before the colon, no control
//!   characters in the value, no obs-fold), at most [`MAX_TRAILER_BYTES`] in total, then CRLF.
//!
//! Invariants: [`ChunkedScanner::scan`] never consumes a byte past the final CRLF (the next
//! pipelined message starts there); splitting the input anywhere gives the same verdicts as one
//! call; after an error the scanner stays failed (every later call returns the same error).
use super::head::{is_ctl_in_value, is_tchar};

/// Longest chunk-size line (size digits + extensions, without CRLF), bytes.
pub const MAX_SIZE_LINE: usize = 4096;
/// Largest trailer section (all trailer lines with their CRLFs), bytes.
pub const MAX_TRAILER_BYTES: usize = 16 * 1024;
/// Most hex digits in a chunk size (16 fill a `u64`).
const MAX_SIZE_DIGITS: usize = 16;

/// Result of feeding bytes to a [`ChunkedScanner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scan {
    /// Bytes of the input that belong to this message (forward them as they are).
    pub consumed: usize,
    /// The last chunk and trailers have been seen; the message ends after `consumed` bytes.
    pub done: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("invalid chunk size")]
    InvalidSize,
    #[error("invalid chunk framing")]
    InvalidFraming,
    #[error("body larger than the limit")]
    TooLarge,
}

/// Where the scanner is in the chunked grammar; each state names what it awaits.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Hex digits of a chunk size (`digits` read so far, `line` bytes of the size line so far).
    Size {
        digits: usize,
        value: u64,
        line: usize,
    },
    /// Chunk extensions until CR.
    Extension {
        value: u64,
        line: usize,
    },
    /// LF after the size line.
    SizeLf {
        value: u64,
    },
    /// Chunk data.
    Data {
        remaining: u64,
    },
    /// CR after chunk data.
    DataCr,
    /// LF after chunk data.
    DataLf,
    /// Start of a trailer line, or the CR of the final empty line.
    TrailerStart,
    /// Trailer field name until `:`.
    TrailerName,
    /// Trailer field value until CR.
    TrailerValue,
    /// LF ending a trailer line.
    TrailerLf,
    /// LF of the final empty line.
    FinalLf,
    Done,
    Failed(ChunkError),
}

/// Walks a chunked body byte stream, validating sizes, CRLFs, extensions and trailers.
#[derive(Debug, Clone)]
pub struct ChunkedScanner {
    max_body: u64,
    state: State,
    /// Sum of the chunk sizes seen so far, bytes.
    body: u64,
    /// Trailer bytes seen so far.
    trailer: usize,
}

impl ChunkedScanner {
    /// `max_body`: largest sum of chunk sizes accepted.
    pub fn new(max_body: u64) -> Self {
        ChunkedScanner {
            max_body,
            state: State::Size {
                digits: 0,
                value: 0,
                line: 0,
            },
            body: 0,
            trailer: 0,
        }
    }

    /// A scanner without a body limit (for responses from the cache layer).
    pub fn unlimited() -> Self {
        Self::new(u64::MAX)
    }

    /// The final CRLF has been seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Sum of the chunk sizes announced so far, bytes (the decoded body length).
    pub fn body_bytes(&self) -> u64 {
        self.body
    }

    /// Feeds the next bytes of the stream.
    pub fn scan(&mut self, input: &[u8]) -> Result<Scan, ChunkError> {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::Done => break,
                State::Failed(ref e) => return Err(e.clone()),
                State::Data { remaining } => {
                    let avail = (input.len() - i) as u64;
                    let take = remaining.min(avail);
                    // `take <= avail`, which came from a usize.
                    i += take as usize;
                    self.state = if take == remaining {
                        State::DataCr
                    } else {
                        State::Data {
                            remaining: remaining - take,
                        }
                    };
                }
                _ => {
                    if let Err(e) = self.step(input[i]) {
                        self.state = State::Failed(e.clone());
                        return Err(e);
                    }
                    i += 1;
                }
            }
        }
        if let State::Failed(ref e) = self.state {
            return Err(e.clone());
        }
        Ok(Scan {
            consumed: i,
            done: self.state == State::Done,
        })
    }

    /// Advances over one byte outside chunk data.
    fn step(&mut self, b: u8) -> Result<(), ChunkError> {
        self.state = match self.state {
            State::Size {
                digits,
                value,
                line,
            } => {
                if let Some(d) = hex_value(b) {
                    if digits == MAX_SIZE_DIGITS {
                        return Err(ChunkError::TooLarge);
                    }
                    State::Size {
                        digits: digits + 1,
                        value: (value << 4) | u64::from(d),
                        line: line + 1,
                    }
                } else if b == b'\n' {
                    return Err(ChunkError::InvalidFraming);
                } else if digits == 0 {
                    return Err(ChunkError::InvalidSize);
                } else if b == b';' {
                    State::Extension {
                        value,
                        line: line + 1,
                    }
                } else if b == b'\r' {
                    self.end_size_line(value)?
                } else {
                    return Err(ChunkError::InvalidSize);
                }
            }
            State::Extension { value, line } => {
                if b == b'\r' {
                    self.end_size_line(value)?
                } else if is_ctl_in_value(b) || line >= MAX_SIZE_LINE {
                    return Err(ChunkError::InvalidFraming);
                } else {
                    State::Extension {
                        value,
                        line: line + 1,
                    }
                }
            }
            State::SizeLf { value } => match (b, value) {
                (b'\n', 0) => State::TrailerStart,
                (b'\n', remaining) => State::Data { remaining },
                _ => return Err(ChunkError::InvalidFraming),
            },
            State::DataCr if b == b'\r' => State::DataLf,
            State::DataLf if b == b'\n' => State::Size {
                digits: 0,
                value: 0,
                line: 0,
            },
            State::TrailerStart => {
                self.count_trailer()?;
                if b == b'\r' {
                    State::FinalLf
                } else if is_tchar(b) {
                    State::TrailerName
                } else {
                    return Err(ChunkError::InvalidFraming);
                }
            }
            State::TrailerName => {
                self.count_trailer()?;
                if b == b':' {
                    State::TrailerValue
                } else if is_tchar(b) {
                    State::TrailerName
                } else {
                    return Err(ChunkError::InvalidFraming);
                }
            }
            State::TrailerValue => {
                self.count_trailer()?;
                if b == b'\r' {
                    State::TrailerLf
                } else if is_ctl_in_value(b) {
                    return Err(ChunkError::InvalidFraming);
                } else {
                    State::TrailerValue
                }
            }
            State::TrailerLf if b == b'\n' => {
                self.count_trailer()?;
                State::TrailerStart
            }
            State::FinalLf if b == b'\n' => State::Done,
            _ => return Err(ChunkError::InvalidFraming),
        };
        Ok(())
    }

    /// The CR of a size line: account the chunk against the limit.
    fn end_size_line(&mut self, value: u64) -> Result<State, ChunkError> {
        self.body = self
            .body
            .checked_add(value)
            .filter(|&sum| sum <= self.max_body)
            .ok_or(ChunkError::TooLarge)?;
        Ok(State::SizeLf { value })
    }

    fn count_trailer(&mut self) -> Result<(), ChunkError> {
        self.trailer += 1;
        if self.trailer > MAX_TRAILER_BYTES {
            return Err(ChunkError::TooLarge);
        }
        Ok(())
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}
