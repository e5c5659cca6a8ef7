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
#[derive(Debug)]
pub struct Inbound<S> {
    pub stream: S,
    buf: Vec<u8>,
    start: usize,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Inbound<S> {
    pub fn new(stream: S) -> Self {
        Inbound {
            stream,
            buf: Vec::with_capacity(READ_CHUNK),
            start: 0,
        }
    }

    /// Bytes received and not yet consumed.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Marks `n` buffered bytes as used.
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.buf.len());
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    /// Reads more bytes into the buffer (at most [`READ_CHUNK`]); returns how many arrived.
    pub async fn fill(&mut self, limit: Duration) -> Result<usize, IoFail> {
        if self.start > 0 && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + READ_CHUNK, 0);
        let res = within(limit, self.stream.read(&mut self.buf[old..])).await;
        let n = match res {
            None => {
                self.buf.truncate(old);
                return Err(IoFail::TimedOut);
            }
            Some(Ok(n)) => n,
            Some(Err(_)) => 0,
        };
        self.buf.truncate(old + n);
        if n == 0 {
            return Err(IoFail::Closed);
        }
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
