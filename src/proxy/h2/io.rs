//! Runtime glue: a glommio (futures-io) stream seen through the tokio-io traits the h2 crate is
//! written against, with the client's inbound bytes shown to the connection's [`FrameMeter`].
//!
//! The adapter is the only place where the two trait families meet (STYLE point 13). Reads go
//! through a `ReadBuf` (initialising only the part not initialised yet); writes, flushes and
//! shutdown map one to one (`poll_shutdown` → `poll_close`: TLS close_notify, then FIN).
//!
//! Once the meter trips, reads stop: the first read after the trip wakes the task and returns
//! `Pending` (the bytes of that read are dropped, the connection is ending), every later read
//! returns `Pending` without waking, so the h2 crate reads no more frames from an abusive
//! client while the driver sends GOAWAY and closes.
//!
//! What it does not do: buffer, time out (the driver bounds every wait), or decide anything.
use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_lite::{AsyncRead, AsyncWrite};
use tokio::io::ReadBuf;

use super::guard::FrameMeter;
use crate::clock;

/// A futures-io stream usable as a tokio-io stream.
#[derive(Debug)]
pub struct Compat<S> {
    inner: S,
    meter: Rc<RefCell<FrameMeter>>,
}

impl<S> Compat<S> {
    pub fn new(inner: S, meter: Rc<RefCell<FrameMeter>>) -> Self {
        Compat { inner, meter }
    }
}

impl<S: AsyncRead + Unpin> tokio::io::AsyncRead for Compat<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.meter.borrow().tripped().is_some() {
            return Poll::Pending;
        }
        let dst = buf.initialize_unfilled();
        let n = match Pin::new(&mut this.inner).poll_read(cx, dst) {
            Poll::Ready(Ok(n)) => n,
            other => return other.map_ok(|_| ()),
        };
        let tripped = this
            .meter
            .borrow_mut()
            .observe(&dst[..n], clock::now())
            .is_some();
        if tripped {
            // The driver polls its trip signal before the connection: wake it once.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        buf.advance(n);
        Poll::Ready(Ok(()))
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
    use super::super::guard::{RateLimits, Trip};
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn meter(resets: u32) -> Rc<RefCell<FrameMeter>> {
        Rc::new(RefCell::new(FrameMeter::new(RateLimits {
            resets_per_second: resets,
            control_frames_per_second: 100,
        })))
    }

    #[test]
    fn bytes_pass_both_ways_and_a_trip_stops_reads() {
        glommio::LocalExecutor::default().run(async {
            let mut wire = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
            wire.extend_from_slice(&[0, 0, 4, 3, 0, 0, 0, 0, 1, 0, 0, 0, 8]);
            let m = meter(1);
            let mut c = Compat::new(futures_lite::io::Cursor::new(wire.clone()), Rc::clone(&m));
            let mut got = vec![0u8; wire.len()];
            c.read_exact(&mut got).await.unwrap();
            assert_eq!(got, wire);
            c.write_all(b"xyz").await.unwrap();
            c.flush().await.unwrap();
            c.shutdown().await.unwrap();
            assert!(c.inner.get_ref().ends_with(b"xyz"));
            assert_eq!(m.borrow().tripped(), None);

            // A second RST_STREAM within the second trips the meter: the read never completes.
            let twice = [&wire[..], &wire[24..]].concat();
            let m = meter(1);
            let mut c = Compat::new(futures_lite::io::Cursor::new(twice), Rc::clone(&m));
            let mut buf = [0u8; 64];
            let read =
                crate::rt::within(std::time::Duration::from_millis(50), c.read(&mut buf)).await;
            assert!(read.is_none());
            assert_eq!(m.borrow().tripped(), Some(Trip::Resets));
        });
    }
}
