//! Buffered byte streams with per-operation deadlines, for both sides of the proxy.
//!
//! [`Inbound`] owns a read buffer in front of any `AsyncRead + AsyncWrite` stream: bytes read
//! past the current message stay buffered for the next one (pipelining). Every read and write
//! is bounded by a timeout given by the caller; outcomes are typed ([`IoFail`]) so the driver
//! can map them to termination states without inspecting `io::Error`s.
//!
//! What it does not do: parse anything, or decide which timeout applies.

use std::time::Duration;

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::rt::within;

/// Size of one read from a socket.
pub const READ_CHUNK: usize = 16 * 1024;

/// A client or upstream byte stream (TLS over TCP, plain TCP, Unix socket).
pub trait ByteStream: AsyncRead + AsyncWrite + Unpin {}

impl<T: AsyncRead + AsyncWrite + Unpin> ByteStream for T {}

/// Why an I/O operation did not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoFail {
    /// The peer closed the connection (EOF) or reset it.
    Closed,
    /// The operation's deadline passed.
    TimedOut,
}

/// A stream with a read buffer holding bytes not yet consumed.
///
/// The buffer is zero-filled once when allocated (or grown) and then reused: data lives in
/// `buf[start..end]`, reads go into `buf[end..]`, so a read never re-initializes memory.
#[derive(Debug)]
pub struct Inbound<S> {
    pub stream: S,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

/// Largest a read buffer may grow to (heads and partial chunk lines are bounded far below).
const MAX_BUFFER: usize = 256 * 1024;

impl<S: AsyncRead + AsyncWrite + Unpin> Inbound<S> {
    pub fn new(stream: S) -> Self {
        Self::with_buffer(stream, Vec::new())
    }

    /// Reuses `buf` (e.g. the buffer a pooled upstream connection kept) as the read buffer.
    pub fn with_buffer(stream: S, mut buf: Vec<u8>) -> Self {
        if buf.len() < READ_CHUNK {
            buf.resize(READ_CHUNK, 0);
        }
        Inbound {
            stream,
            buf,
            start: 0,
            end: 0,
        }
    }

    /// The stream and its (empty, reusable) buffer; `None` for the buffer when bytes are still
    /// unconsumed.
    pub fn into_parts(self) -> (S, Option<Vec<u8>>) {
        let empty = self.start == self.end;
        (self.stream, empty.then_some(self.buf))
    }

    /// Bytes received and not yet consumed.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Marks `n` buffered bytes as used.
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads more bytes into the buffer; returns how many arrived.
    pub async fn fill(&mut self, limit: Duration) -> Result<usize, IoFail> {
        if self.start > 0 && (self.end == self.buf.len() || self.start * 2 >= self.end) {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            if self.buf.len() >= MAX_BUFFER {
                return Err(IoFail::Closed);
            }
            let grown = (self.buf.len() * 2).clamp(READ_CHUNK, MAX_BUFFER);
            self.buf.resize(grown, 0);
        }
        let end = self.end;
        let res = within(limit, self.stream.read(&mut self.buf[end..])).await;
        let n = match res {
            None => return Err(IoFail::TimedOut),
            Some(Ok(n)) => n,
            Some(Err(_)) => 0,
        };
        if n == 0 {
            return Err(IoFail::Closed);
        }
        self.end += n;
        Ok(n)
    }

    /// Writes all of `data` within `limit`.
    pub async fn write_all(&mut self, data: &[u8], limit: Duration) -> Result<(), IoFail> {
        match within(limit, self.stream.write_all(data)).await {
            None => Err(IoFail::TimedOut),
            Some(Err(_)) => Err(IoFail::Closed),
            Some(Ok(())) => Ok(()),
        }
    }

    /// Flushes buffered output (for TLS: encrypts and sends pending records) within `limit`.
    pub async fn flush(&mut self, limit: Duration) -> Result<(), IoFail> {
        match within(limit, self.stream.flush()).await {
            None => Err(IoFail::TimedOut),
            Some(Err(_)) => Err(IoFail::Closed),
            Some(Ok(())) => Ok(()),
        }
    }

    /// Closes the write side gracefully (TLS close_notify, then FIN) within `limit`.
    pub async fn close(&mut self, limit: Duration) {
        let _ = within(limit, self.stream.close()).await;
    }

    /// After [`Inbound::close`]: reads and discards what the peer still sends, until its EOF
    /// or `limit` (at most 256 KiB), so the final close is a FIN rather than a RST.
    pub async fn linger(&mut self, limit: Duration) {
        let deadline = crate::clock::now() + limit;
        let mut drained = 0usize;
        while drained < 256 * 1024 {
            self.consume(self.buffered().len());
            let left = deadline.saturating_duration_since(crate::clock::now());
            if left.is_zero() {
                return;
            }
            match self.fill(left).await {
                Ok(n) => drained += n,
                Err(_) => return,
            }
        }
    }
}
