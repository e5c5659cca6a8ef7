//! The sending half of one HTTP/2 stream: its response head, DATA within the client's flow
//! control window, and resets. Shared between the exchange and the task watching for the
//! client's RST_STREAM through a `RefCell` that is only borrowed inside synchronous calls and
//! `poll` closures, never across an `.await`.
//!
//! Flow control: DATA is sent only within capacity granted by the h2 crate (`reserve_capacity`
//! then `poll_capacity`), so what the crate buffers for a stream stays under
//! `h2.max_send_buffer_size`; a client that opens no window for the client timeout makes the
//! send fail with [`IoFail::TimedOut`] (the caller resets the stream and drops the upstream
//! connection).
//!
//! What it does not do: read the request, or choose the response (that is the exchange).
use std::cell::RefCell;
use std::future::poll_fn;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{Reason, SendStream};

use super::super::io::IoFail;
use crate::rt::within;

/// Where the stream's sending side is.
#[derive(Debug)]
enum State {
    /// No final response head sent yet.
    AwaitingHead(SendResponse<Bytes>),
    /// The head is sent; DATA may follow.
    Body(SendStream<Bytes>),
    /// END_STREAM or RST_STREAM sent, or the stream is gone.
    Done,
}

/// The sending half of a stream.
#[derive(Debug)]
pub struct Responder {
    state: RefCell<State>,
}

impl Responder {
    pub fn new(respond: SendResponse<Bytes>) -> Self {
        Responder {
            state: RefCell::new(State::AwaitingHead(respond)),
        }
    }

    /// Sends an interim (1xx) head; ignored once the final head is sent.
    pub fn send_interim(&self, head: http::Response<()>) -> Result<(), IoFail> {
        match &mut *self.state.borrow_mut() {
            State::AwaitingHead(r) => r.send_informational(head).map_err(|_| IoFail::Closed),
            _ => Ok(()),
        }
    }

    /// Sends the final head; with `end` the stream ends with it (no body).
    pub fn send_head(&self, head: http::Response<()>, end: bool) -> Result<(), IoFail> {
        let mut state = self.state.borrow_mut();
        let State::AwaitingHead(r) = &mut *state else {
            return Err(IoFail::Closed);
        };
        match r.send_response(head, end) {
            Ok(stream) => {
                *state = if end {
                    State::Done
                } else {
                    State::Body(stream)
                };
                Ok(())
            }
            Err(_) => {
                *state = State::Done;
                Err(IoFail::Closed)
            }
        }
    }

    /// Sends `data` as DATA frames, each within the window the client granted; each wait
    /// for window is bounded by `limit`. `sent` counts the bytes handed to the connection
    /// (also when a later part of `data` fails).
    pub async fn send_data(
        &self,
        mut data: Bytes,
        limit: Duration,
        sent: &mut u64,
    ) -> Result<(), IoFail> {
        while !data.is_empty() {
            self.with_stream(|s| {
                s.reserve_capacity(data.len());
                Ok(())
            })?;
            let granted = within(
                limit,
                poll_fn(|cx| self.poll_stream(cx, |s, cx| s.poll_capacity(cx))),
            )
            .await;
            let cap = match granted {
                None => return Err(IoFail::TimedOut),
                Some(Some(Ok(n))) => n,
                Some(_) => return Err(IoFail::Closed),
            };
            if cap == 0 {
                continue;
            }
            let piece = data.split_to(cap.min(data.len()));
            let n = piece.len() as u64;
            self.with_stream(|s| s.send_data(piece, false).map_err(|_| IoFail::Closed))?;
            *sent += n;
        }
        Ok(())
    }

    /// Ends the stream after the body (an empty DATA frame with END_STREAM).
    pub fn finish(&self) -> Result<(), IoFail> {
        let result =
            self.with_stream(|s| s.send_data(Bytes::new(), true).map_err(|_| IoFail::Closed));
        *self.state.borrow_mut() = State::Done;
        result
    }

    /// Resets the stream with `reason` (nothing happens if it already ended).
    pub fn reset(&self, reason: Reason) {
        match std::mem::replace(&mut *self.state.borrow_mut(), State::Done) {
            State::AwaitingHead(mut r) => r.send_reset(reason),
            State::Body(mut s) => s.send_reset(reason),
            State::Done => {}
        }
    }

    /// Resolves when the client resets the stream (or the connection is gone).
    pub async fn client_reset(&self) {
        poll_fn(|cx| {
            let ready = match &mut *self.state.borrow_mut() {
                State::AwaitingHead(r) => r.poll_reset(cx).is_ready(),
                State::Body(s) => s.poll_reset(cx).is_ready(),
                State::Done => false,
            };
            if ready {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }

    fn with_stream<T>(
        &self,
        f: impl FnOnce(&mut SendStream<Bytes>) -> Result<T, IoFail>,
    ) -> Result<T, IoFail> {
        match &mut *self.state.borrow_mut() {
            State::Body(s) => f(s),
            _ => Err(IoFail::Closed),
        }
    }

    fn poll_stream<T>(
        &self,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut SendStream<Bytes>, &mut Context<'_>) -> Poll<Option<T>>,
    ) -> Poll<Option<T>> {
        match &mut *self.state.borrow_mut() {
            State::Body(s) => f(s, cx),
            _ => Poll::Ready(None),
        }
    }
}
