//! Buffered byte streams with per-operation deadlines, for both sides of the proxy.
//!
//! [`Inbound`] owns a read buffer in front of any `AsyncRead + AsyncWrite` stream: bytes read
//! past the current message stay buffered for the next one (pipelining). Every read and write
//! is bounded by a timeout given by the caller; outcomes are typed ([`IoFail`]) so the driver
//! can map them to termination states without inspecting `io::Error`s.
//!
//! What it does not do: parse anything, or decide which timeout applies.

use std::cell::{Cell, RefCell};
use std::io::{self, IoSlice};
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::rt::within;

/// Size of one read from a socket.
pub const READ_CHUNK: usize = 16 * 1024;

/// Size of one read while a large body is copied ([`Inbound::widen`]): four TLS records'
/// worth, sent to the client in one `sendmsg` by [`Sock`].
pub const BODY_CHUNK: usize = 64 * 1024;

/// A client or upstream byte stream (TLS over TCP, plain TCP, Unix socket).
pub trait ByteStream: AsyncRead + AsyncWrite + Unpin {}

impl<T: AsyncRead + AsyncWrite + Unpin> ByteStream for T {}

/// A socket stream whose vectored writes leave in one `sendmsg`, and whose writes can be held
/// back to leave with the next ones.
///
/// rustls hands its pending records to the transport as one vectored write (a handshake
/// flight is three to five records; a 64 KiB body write four), but glommio's streams write
/// only the first slice of a vectored write, so each record became its own `send`, its own
/// segment on the wire and its own wake-up of the peer. `Sock` sends them together with a
/// non-blocking `sendmsg`; only when the socket is full does it fall back to the stream's own
/// `poll_write`, which waits for room. Reads, flush and close are the stream's, once any held
/// bytes (below) are out.
///
/// Inside [`HoldWrites`] a write is kept in `held` rather than sent. Held bytes leave with the
/// next write outside it (one `sendmsg`), or when a read would wait (the peer may be waiting
/// for them), or on flush, or on close, where they are queued with `MSG_MORE` so that the FIN
/// of the `shutdown` rides on their segment. This is what joins a TLS 1.3 server's session
/// tickets, written as the handshake completes, to the first response (or to the
/// close_notify), and a close_notify to its FIN: one segment and one wake-up of the client
/// instead of two or three.
#[derive(Debug)]
pub struct Sock<S> {
    inner: S,
    held: Vec<u8>,
}

thread_local! {
    /// Set while a [`HoldWrites`] future is being polled (a shard is one thread, and only the
    /// future being polled touches its sockets).
    static HOLD: Cell<bool> = const { Cell::new(false) };
}

/// Polls a future with the writes of the [`Sock`]s it uses held back (see [`Sock`]).
#[derive(Debug)]
pub struct HoldWrites<F>(pub F);

impl<F: std::future::Future + Unpin> std::future::Future for HoldWrites<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let was = HOLD.with(|h| h.replace(true));
        let out = Pin::new(&mut self.0).poll(cx);
        HOLD.with(|h| h.set(was));
        out
    }
}

fn holding() -> bool {
    HOLD.with(Cell::get)
}

impl<S> Sock<S> {
    pub fn new(inner: S) -> Self {
        Sock {
            inner,
            held: Vec::new(),
        }
    }

    /// Bytes written but not yet sent (held by [`HoldWrites`]).
    #[cfg(test)]
    fn held(&self) -> usize {
        self.held.len()
    }
}

impl<S: AsyncWrite + AsRawFd + Unpin> Sock<S> {
    /// Sends the held bytes through the stream's own write (which waits for room).
    fn poll_send_held(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.held.is_empty() {
            match Pin::new(&mut self.inner).poll_write(cx, &self.held) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => drop(self.held.drain(..n)),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        // An idle connection keeps no capacity.
        self.held = Vec::new();
        Poll::Ready(Ok(()))
    }

    /// One non-blocking `sendmsg` of `slices` with `flags` added; `WouldBlock` and
    /// `Interrupted` are `Ok(None)`.
    fn try_send(&self, slices: &[IoSlice<'_>], flags: libc::c_int) -> io::Result<Option<usize>> {
        let flags = flags | libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
        match socket2::SockRef::from(&self.inner).send_vectored_with_flags(slices, flags) {
            Ok(n) => Ok(Some(n)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + AsRawFd + Unpin> AsyncRead for Sock<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        if read.is_pending() && !this.held.is_empty() {
            // About to wait for the peer, which may be waiting for these.
            if let Poll::Ready(Err(e)) = this.poll_send_held(cx) {
                return Poll::Ready(Err(e));
            }
        }
        read
    }
}

impl<S: AsyncWrite + AsRawFd + Unpin> AsyncWrite for Sock<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if holding() {
            let n = bufs.iter().map(|b| b.len()).sum();
            this.held.reserve(n);
            for b in bufs {
                this.held.extend_from_slice(b);
            }
            return Poll::Ready(Ok(n));
        }
        if !this.held.is_empty() {
            // The held bytes and these in one sendmsg.
            let mut slices = Vec::with_capacity(bufs.len() + 1);
            slices.push(IoSlice::new(&this.held));
            slices.extend(
                bufs.iter()
                    .filter(|b| !b.is_empty())
                    .map(|b| IoSlice::new(b)),
            );
            let held = this.held.len();
            match this.try_send(&slices, 0)? {
                Some(n) if n > held => {
                    this.held = Vec::new();
                    return Poll::Ready(Ok(n - held));
                }
                Some(n) => drop(this.held.drain(..n)),
                None => {}
            }
            ready!(this.poll_send_held(cx))?;
        }
        let mut slices = bufs.iter().filter(|b| !b.is_empty());
        let Some(first) = slices.next() else {
            return Poll::Ready(Ok(0));
        };
        if slices.next().is_none() {
            return Pin::new(&mut this.inner).poll_write(cx, first);
        }
        match this.try_send(bufs, 0)? {
            Some(n) => Poll::Ready(Ok(n)),
            // Full: the stream's own write registers for writability (or, if room
            // appeared meanwhile, sends the first slice).
            None => Pin::new(&mut this.inner).poll_write(cx, first),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if holding() {
            return Poll::Ready(Ok(()));
        }
        ready!(this.poll_send_held(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.held.is_empty() {
            // Queued, not pushed: the shutdown below adds the FIN to this segment and sends it.
            if let Some(n) = this.try_send(&[IoSlice::new(&this.held)], libc::MSG_MORE)? {
                drop(this.held.drain(..n));
            }
            ready!(this.poll_send_held(cx))?;
        }
        Pin::new(&mut this.inner).poll_close(cx)
    }
}

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
///
/// An idle keep-alive connection holds no buffer: [`Inbound::release_buffer`] returns an
/// empty buffer to the shard's spare list, and the next [`Inbound::fill`] reads into the
/// shard's one scratch buffer, taking a spare buffer only once bytes arrived. Ten thousand
/// idle connections then cost no read buffers at all (the scratch buffer is only borrowed
/// for the duration of one synchronous `poll_read`, so one per shard serves every
/// connection).
#[derive(Debug)]
pub struct Inbound<S> {
    pub stream: S,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

/// Largest a read buffer may grow to (heads and partial chunk lines are bounded far below).
const MAX_BUFFER: usize = 256 * 1024;

/// Spare read buffers kept per shard (READ_CHUNK each: at most 4 MiB).
const MAX_SPARE: usize = 256;

thread_local! {
    /// This shard's spare read buffers, each `READ_CHUNK` long and already initialized. A shard
    /// is one thread, so thread-local is shard-local.
    static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    /// This shard's scratch buffer for reads on a connection that holds no buffer.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// This shard's spare body buffers, each `BODY_CHUNK` long (see [`Inbound::widen`]).
    static WIDE_SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// Spare body buffers kept per shard (BODY_CHUNK each: at most 4 MiB).
const MAX_WIDE_SPARE: usize = 64;

/// A `READ_CHUNK` buffer from the shard's spares, or a new one.
fn take_spare() -> Vec<u8> {
    SPARE
        .with(|s| s.borrow_mut().pop())
        .unwrap_or_else(|| vec![0; READ_CHUNK])
}

/// Keeps `buf` for reuse when it has the standard size and the spare list has room.
fn give_spare(buf: Vec<u8>) {
    if buf.len() == READ_CHUNK {
        SPARE.with(|s| {
            let mut s = s.borrow_mut();
            if s.len() < MAX_SPARE {
                s.push(buf);
            }
        });
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Inbound<S> {
    /// A stream without a buffer yet (one is taken when the first bytes arrive).
    pub fn new(stream: S) -> Self {
        Inbound {
            stream,
            buf: Vec::new(),
            start: 0,
            end: 0,
        }
    }

    /// A stream about to be read (e.g. an upstream connection taken for an exchange): it takes
    /// a read buffer from the shard's spares now.
    pub fn with_spare_buffer(stream: S) -> Self {
        Inbound {
            stream,
            buf: take_spare(),
            start: 0,
            end: 0,
        }
    }

    /// The stream, to be kept idle, when every byte read was consumed (its buffer goes to the
    /// shard's spares); `None` when bytes are still unconsumed (the stream must be closed).
    pub fn into_idle(mut self) -> Option<S> {
        if self.start != self.end {
            return None;
        }
        give_spare(std::mem::take(&mut self.buf));
        Some(self.stream)
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

    /// Gives the read buffer back to the shard's spares when nothing is buffered (before a
    /// keep-alive connection waits for its next request).
    pub fn release_buffer(&mut self) {
        if self.start == self.end && !self.buf.is_empty() {
            give_spare(std::mem::take(&mut self.buf));
            self.start = 0;
            self.end = 0;
        }
    }

    /// Swaps a standard read buffer for a `BODY_CHUNK` one (from the shard's spares), keeping
    /// the buffered bytes: a large body then arrives in a quarter of the reads and leaves in
    /// a quarter of the writes. [`Inbound::narrow`] undoes it when the body is through, so an
    /// idle or pooled connection keeps holding a standard buffer at most.
    pub fn widen(&mut self) {
        if self.buf.len() >= BODY_CHUNK {
            return;
        }
        let mut wide = WIDE_SPARE
            .with(|s| s.borrow_mut().pop())
            .unwrap_or_else(|| vec![0; BODY_CHUNK]);
        let n = self.end - self.start;
        wide[..n].copy_from_slice(&self.buf[self.start..self.end]);
        give_spare(std::mem::replace(&mut self.buf, wide));
        self.start = 0;
        self.end = n;
    }

    /// Undoes [`Inbound::widen`] when what is buffered fits a standard buffer (else keeps
    /// the wide one: the bytes are not lost, only the memory is not given back yet).
    pub fn narrow(&mut self) {
        let n = self.end - self.start;
        if self.buf.len() != BODY_CHUNK || n > READ_CHUNK {
            return;
        }
        let mut standard = take_spare();
        standard[..n].copy_from_slice(&self.buf[self.start..self.end]);
        let wide = std::mem::replace(&mut self.buf, standard);
        self.start = 0;
        self.end = n;
        WIDE_SPARE.with(|s| {
            let mut s = s.borrow_mut();
            if s.len() < MAX_WIDE_SPARE {
                s.push(wide);
            }
        });
    }

    /// Reads more bytes into the buffer; returns how many arrived.
    pub async fn fill(&mut self, limit: Duration) -> Result<usize, IoFail> {
        if self.buf.is_empty() {
            return self.fill_unbuffered(limit).await;
        }
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

    /// [`Inbound::fill`] without a buffer: each poll reads into the shard's scratch buffer;
    /// bytes that arrive are copied into a spare buffer, which the connection then keeps.
    async fn fill_unbuffered(&mut self, limit: Duration) -> Result<usize, IoFail> {
        let stream = &mut self.stream;
        let read = futures_lite::future::poll_fn(|cx| {
            SCRATCH.with(|scratch| {
                let Ok(mut scratch) = scratch.try_borrow_mut() else {
                    // Not reachable (one poll at a time per thread); read into a fresh
                    // buffer rather than fail.
                    let mut own = take_spare();
                    return Pin::new(&mut *stream)
                        .poll_read(cx, &mut own)
                        .map_ok(|n| (n, own));
                };
                if scratch.len() < READ_CHUNK {
                    scratch.resize(READ_CHUNK, 0);
                }
                Pin::new(&mut *stream)
                    .poll_read(cx, &mut scratch)
                    .map_ok(|n| {
                        let mut own = take_spare();
                        own[..n].copy_from_slice(&scratch[..n]);
                        (n, own)
                    })
            })
        });
        let (n, buf) = match within(limit, read).await {
            None => return Err(IoFail::TimedOut),
            Some(Ok(got)) => got,
            Some(Err(_)) => return Err(IoFail::Closed),
        };
        if n == 0 {
            give_spare(buf);
            return Err(IoFail::Closed);
        }
        self.buf = buf;
        self.start = 0;
        self.end = n;
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

    /// Closes the write side gracefully (TLS close_notify, then FIN) within `limit`. On a
    /// [`Sock`] the close_notify and the FIN leave in one segment (see [`HoldWrites`]).
    pub async fn close(&mut self, limit: Duration) {
        let _ = within(limit, HoldWrites(self.stream.close())).await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::io::Cursor;
    use futures_lite::FutureExt;

    fn spares() -> usize {
        SPARE.with(|s| s.borrow().len())
    }

    #[test]
    fn an_idle_stream_holds_no_buffer_and_reads_through_the_scratch() {
        glommio::LocalExecutor::default().run(async {
            let limit = Duration::from_secs(1);
            let mut s = Inbound::new(Cursor::new(b"GET / HTTP/1.1\r\n\r\nrest".to_vec()));
            assert!(s.buf.is_empty(), "no buffer before the first bytes");
            assert_eq!(s.fill(limit).await, Ok(22));
            assert_eq!(s.buffered(), b"GET / HTTP/1.1\r\n\r\nrest");
            assert_eq!(s.buf.len(), READ_CHUNK);
            // Not empty: keeps its buffer.
            s.consume(18);
            s.release_buffer();
            assert_eq!(s.buffered(), b"rest");
            // Empty: the buffer goes to the shard's spares, and comes back for the next one.
            s.consume(4);
            let before = spares();
            s.release_buffer();
            assert!(s.buf.is_empty());
            assert_eq!(spares(), before + 1);
            let up = Inbound::with_spare_buffer(Cursor::new(Vec::new()));
            assert_eq!(up.buf.len(), READ_CHUNK);
            assert_eq!(spares(), before, "the spare was reused");
            // EOF on a released stream is a close, and holds no buffer.
            assert_eq!(s.fill(limit).await, Err(IoFail::Closed));
            assert!(s.buf.is_empty());
        });
    }

    #[test]
    fn a_released_stream_grows_as_before_for_large_input() {
        glommio::LocalExecutor::default().run(async {
            let limit = Duration::from_secs(1);
            let data: Vec<u8> = (0..READ_CHUNK * 2 + 5).map(|i| (i % 251) as u8).collect();
            let mut s = Inbound::new(Cursor::new(data.clone()));
            let mut got = 0;
            while got < data.len() {
                got += s.fill(limit).await.unwrap();
            }
            assert_eq!(s.buffered(), &data[..]);
            assert!(s.buf.len() >= data.len());
        });
    }

    #[test]
    fn widen_keeps_the_bytes_and_narrow_gives_the_wide_buffer_back() {
        glommio::LocalExecutor::default().run(async {
            let limit = Duration::from_secs(1);
            let data: Vec<u8> = (0..BODY_CHUNK * 2).map(|i| (i % 251) as u8).collect();
            let mut s = Inbound::with_spare_buffer(Cursor::new(data.clone()));
            assert_eq!(s.fill(limit).await, Ok(READ_CHUNK));
            s.consume(100);
            s.widen();
            assert_eq!(s.buf.len(), BODY_CHUNK);
            assert_eq!(s.buffered(), &data[100..READ_CHUNK]);
            // A wide buffer reads a body in larger pieces.
            assert_eq!(s.fill(limit).await, Ok(BODY_CHUNK - (READ_CHUNK - 100)));
            assert_eq!(s.buffered(), &data[100..BODY_CHUNK + 100]);
            // More buffered than a standard buffer holds: stays wide, nothing lost.
            s.narrow();
            assert_eq!(s.buf.len(), BODY_CHUNK);
            s.consume(BODY_CHUNK - 10);
            let wide_spares = WIDE_SPARE.with(|w| w.borrow().len());
            s.narrow();
            assert_eq!(s.buf.len(), READ_CHUNK);
            assert_eq!(s.buffered(), &data[BODY_CHUNK + 90..BODY_CHUNK + 100]);
            assert_eq!(WIDE_SPARE.with(|w| w.borrow().len()), wide_spares + 1);
            // The next widen reuses it.
            s.widen();
            assert_eq!(WIDE_SPARE.with(|w| w.borrow().len()), wide_spares);
            assert_eq!(s.buffered(), &data[BODY_CHUNK + 90..BODY_CHUNK + 100]);
        });
    }

    /// A connected pair: `Sock` over glommio's stream, and the std peer.
    async fn pair() -> (Sock<glommio::net::TcpStream>, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let ours = glommio::net::TcpStream::connect(addr).await.unwrap();
        let (theirs, _) = listener.accept().unwrap();
        (Sock::new(ours), theirs)
    }

    #[test]
    fn a_vectored_write_sends_every_slice_at_once() {
        glommio::LocalExecutor::default().run(async {
            let (mut ours, mut theirs) = pair().await;
            let parts: [&[u8]; 4] = [b"first ", b"", b"second ", b"third"];
            let slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
            // glommio's own stream would take only the first slice here.
            let n = ours.write_vectored(&slices).await.unwrap();
            assert_eq!(n, 18);
            let mut got = vec![0; 18];
            std::io::Read::read_exact(&mut theirs, &mut got).unwrap();
            assert_eq!(&got, b"first second third");
        });
    }

    /// Reads from the std peer until `n` bytes arrived (or EOF).
    fn read_n(theirs: &mut std::net::TcpStream, n: usize) -> Vec<u8> {
        let mut got = vec![0; n];
        std::io::Read::read_exact(theirs, &mut got).unwrap();
        got
    }

    #[test]
    fn held_writes_leave_with_the_next_write() {
        glommio::LocalExecutor::default().run(async {
            let (mut ours, mut theirs) = pair().await;
            HoldWrites(ours.write_all(b"tickets ")).await.unwrap();
            HoldWrites(ours.flush()).await.unwrap();
            assert_eq!(ours.held(), 8, "held, not sent, even through a flush");
            theirs.set_nonblocking(true).unwrap();
            let mut probe = [0u8; 1];
            assert_eq!(
                std::io::Read::read(&mut theirs, &mut probe)
                    .unwrap_err()
                    .kind(),
                io::ErrorKind::WouldBlock,
                "nothing on the wire yet"
            );
            theirs.set_nonblocking(false).unwrap();
            let parts: [&[u8]; 2] = [b"response ", b"body"];
            let slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
            // The count is of the caller's bytes; the held ones went first.
            assert_eq!(ours.write_vectored(&slices).await.unwrap(), 13);
            assert_eq!(ours.held(), 0);
            assert_eq!(read_n(&mut theirs, 21), b"tickets response body");
        });
    }

    #[test]
    fn held_writes_leave_before_a_read_waits() {
        glommio::LocalExecutor::default().run(async {
            let (mut ours, theirs) = pair().await;
            // The peer answers only once it has what we wrote: holding it through the read
            // would be a deadlock.
            let peer = std::thread::spawn(move || {
                let mut theirs = theirs;
                let got = read_n(&mut theirs, 6);
                std::io::Write::write_all(&mut theirs, b"answer").unwrap();
                got
            });
            HoldWrites(ours.write_all(b"flight")).await.unwrap();
            let mut buf = [0u8; 6];
            within(Duration::from_secs(5), ours.read_exact(&mut buf))
                .await
                .expect("the held bytes went out when the read had to wait")
                .unwrap();
            assert_eq!(&buf, b"answer");
            assert_eq!(peer.join().unwrap(), b"flight");
        });
    }

    #[test]
    fn a_close_sends_held_bytes_and_the_fin() {
        glommio::LocalExecutor::default().run(async {
            let (mut ours, mut theirs) = pair().await;
            HoldWrites(ours.write_all(b"tickets ")).await.unwrap();
            HoldWrites(
                async {
                    ours.write_all(b"close_notify").await?;
                    ours.close().await
                }
                .boxed_local(),
            )
            .await
            .unwrap();
            let mut all = Vec::new();
            std::io::Read::read_to_end(&mut theirs, &mut all).unwrap();
            assert_eq!(all, b"tickets close_notify", "every byte, then EOF");
        });
    }

    #[test]
    fn a_flush_outside_hold_sends_held_bytes() {
        glommio::LocalExecutor::default().run(async {
            let (mut ours, mut theirs) = pair().await;
            HoldWrites(ours.write_all(b"alert")).await.unwrap();
            ours.flush().await.unwrap();
            assert_eq!(ours.held(), 0);
            assert_eq!(read_n(&mut theirs, 5), b"alert");
        });
    }

    #[test]
    fn a_vectored_write_to_a_full_socket_waits_for_room() {
        glommio::LocalExecutor::default().run(async {
            let (mut ours, theirs) = pair().await;
            let chunk = vec![7u8; 64 * 1024];
            let slices = [IoSlice::new(&chunk), IoSlice::new(&chunk)];
            // Fill the socket (and the peer's receive buffer) while the peer does not read.
            let mut sent = 0usize;
            let full = loop {
                match within(Duration::from_millis(200), ours.write_vectored(&slices)).await {
                    Some(Ok(n)) => sent += n,
                    Some(Err(e)) => panic!("write failed: {e}"),
                    None => break true,
                }
                if sent > 64 << 20 {
                    break false;
                }
            };
            assert!(full, "the socket never filled");
            // The peer drains everything; the pending write then completes.
            let reader = std::thread::spawn(move || {
                let mut theirs = theirs;
                let mut buf = vec![0u8; 1 << 16];
                let mut total = 0usize;
                loop {
                    match std::io::Read::read(&mut theirs, &mut buf) {
                        Ok(0) | Err(_) => return total,
                        Ok(n) => total += n,
                    }
                }
            });
            let n = within(Duration::from_secs(5), ours.write_vectored(&slices))
                .await
                .expect("the write waited for room and went through")
                .unwrap();
            assert!(n > 0);
            sent += n;
            ours.close().await.unwrap();
            drop(ours);
            assert_eq!(reader.join().unwrap(), sent);
        });
    }
}
