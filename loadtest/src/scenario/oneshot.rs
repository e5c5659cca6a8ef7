//! `handshake` and `resume`: every operation is a new TCP + TLS connection.
//!
//! One operation: connect, handshake, then either one GET with `Connection: close` (the
//! operation ends when the response is complete) or, with `--no-request`, close_notify + FIN and
//! wait for the server to close too (the operation ends then, so the server has finished the
//! handshake and sent its TLS 1.3 tickets). After a response, the connection is drained until the
//! server closes, outside the measured time, so the server does the active close and the client
//! does not pile up TIME_WAIT sockets.
//!
//! Whether a handshake is full or resumed depends on the client config of the shard (session
//! store disabled for `handshake`, in memory for `resume`); this module only reports which it was.

use crate::clock;
use crate::conn::{self, Failure, ReadBuf, Stream};
use crate::http1::ResponseReader;
use crate::shard::Ctx;
use crate::stats::ErrorKind;

/// One connection slot: runs operations back to back as tickets come.
pub async fn task(ctx: &Ctx) {
    let mut buf = ReadBuf::new(16 * 1024);
    while let Some(ticket) = ctx.ticket().await {
        let deadline = clock::now() + ctx.timeout;
        match operation(ctx, &mut buf, deadline).await {
            Ok((response, stream)) => {
                let now = clock::now();
                match response {
                    Some(r) => ctx.response(&ticket, r, now),
                    None => ctx.done(&ticket, Ok(0), now),
                }
                if let Some(mut s) = stream {
                    conn::close_and_drain(&mut s, now + ctx.timeout).await;
                }
            }
            Err(f) => ctx.done(&ticket, Err(f), clock::now()),
        }
    }
}

/// Counts an established connection in `ctx.live` while it exists.
struct Live<'a>(&'a Ctx);

impl<'a> Live<'a> {
    fn new(ctx: &'a Ctx) -> Self {
        ctx.live.set(ctx.live.get() + 1);
        Live(ctx)
    }
}

impl Drop for Live<'_> {
    fn drop(&mut self) {
        self.0.live.set(self.0.live.get().saturating_sub(1));
    }
}

type Done = (Option<crate::http1::Response>, Option<Stream>);

async fn operation(
    ctx: &Ctx,
    buf: &mut ReadBuf,
    deadline: std::time::Instant,
) -> Result<Done, Failure> {
    let (mut stream, h) = ctx.dialer.dial().await?;
    ctx.handshake(h, clock::now());
    let _live = Live::new(ctx);
    if !ctx.send_request {
        return if conn::close_and_drain(&mut stream, deadline).await {
            Ok((None, None))
        } else {
            Err(Failure::new(
                ErrorKind::Timeout,
                "server did not close after close_notify",
            ))
        };
    }
    conn::send(&mut stream, &ctx.request, deadline).await?;
    buf.clear();
    let mut reader = ResponseReader::default();
    let r = conn::read_response(&mut stream, buf, &mut reader, deadline).await?;
    Ok((Some(r), Some(stream)))
}
