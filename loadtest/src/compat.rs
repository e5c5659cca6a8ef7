//! Runtime glue: a futures-io stream (glommio TCP under futures-rustls) seen through the
//! tokio-io traits the h2 crate is written against.
//!
//! The adapter is the only place where the two trait families meet. Reads go through tokio's
//! `ReadBuf` (initialising only the part not initialised yet, then advancing by what was read);
//! writes and flushes map one to one; `poll_shutdown` → `poll_close` (TLS close_notify, then
//! FIN). No runtime of tokio's is used: glommio polls everything.
//!
//! What it does not do: buffer, time out (callers bound every wait), or inspect the bytes.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::{AsyncRead, AsyncWrite};
use tokio::io::ReadBuf;

/// A futures-io stream usable as a tokio-io stream.
#[derive(Debug)]
pub struct Compat<S> {
    inner: S,
}

impl<S> Compat<S> {
    pub fn new(inner: S) -> Self {
        Compat { inner }
    }
}

impl<S: AsyncRead + Unpin> tokio::io::AsyncRead for Compat<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let dst = buf.initialize_unfilled();
        match Pin::new(&mut self.get_mut().inner).poll_read(cx, dst) {
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncWrite + Unpin> tokio::io::AsyncWrite for Compat<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::{block_on, poll_fn};
    use futures_lite::io::Cursor;
    use tokio::io::{AsyncRead as _, AsyncWrite as _};

    #[test]
    fn bytes_pass_both_ways_in_order() {
        block_on(async {
            let mut c = Compat::new(Cursor::new(b"hello world".to_vec()));
            // A small buffer: the read fills it and stops; the rest comes next time.
            let mut mem = [0u8; 5];
            let mut rb = ReadBuf::new(&mut mem);
            poll_fn(|cx| Pin::new(&mut c).poll_read(cx, &mut rb))
                .await
                .unwrap();
            assert_eq!(rb.filled(), b"hello");
            let mut mem = [0u8; 64];
            let mut rb = ReadBuf::new(&mut mem);
            poll_fn(|cx| Pin::new(&mut c).poll_read(cx, &mut rb))
                .await
                .unwrap();
            assert_eq!(rb.filled(), b" world");
            // End of stream: a read that fills nothing.
            let mut rb = ReadBuf::new(&mut mem);
            poll_fn(|cx| Pin::new(&mut c).poll_read(cx, &mut rb))
                .await
                .unwrap();
            assert_eq!(rb.filled().len(), 0);

            let n = poll_fn(|cx| Pin::new(&mut c).poll_write(cx, b"xyz"))
                .await
                .unwrap();
            assert_eq!(n, 3);
            poll_fn(|cx| Pin::new(&mut c).poll_flush(cx)).await.unwrap();
            poll_fn(|cx| Pin::new(&mut c).poll_shutdown(cx))
                .await
                .unwrap();
            assert_eq!(c.inner.get_ref(), b"hello worldxyz");
        });
    }
}
