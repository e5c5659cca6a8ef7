//! Body framing: a streaming validator for chunked bodies passed through verbatim. Sans-IO.

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

/// Walks a chunked body byte stream, validating sizes, CRLFs, extensions and trailers.
#[derive(Debug, Clone)]
pub struct ChunkedScanner {
    _max_body: u64,
}

impl ChunkedScanner {
    /// `max_body`: largest sum of chunk sizes accepted.
    pub fn new(max_body: u64) -> Self {
        ChunkedScanner { _max_body: max_body }
    }

    /// Feeds the next bytes of the stream.
    pub fn scan(&mut self, input: &[u8]) -> Result<Scan, ChunkError> {
        let _ = input;
        todo!()
    }
}
