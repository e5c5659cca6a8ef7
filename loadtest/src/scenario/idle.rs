//! `idle`: open connections, finish their handshakes, and hold them until the window ends.
//!
//! For memory-per-connection measurements: the server's resident memory is sampled before the
//! first connection and at the end of the window (see [`crate::run`]). At most [`MAX_OPENING`]
//! handshakes per shard are in progress at once, so the listen backlog does not overflow into
//! SYN retransmits. A connection that cannot be opened is counted (connect / tls / timeout) and
//! not retried; one the server closes early counts as `closed`. Survivors at the end of the
//! window are reported as "up".
//!
//! No HTTP request is sent; whatever the server sends (TLS 1.3 session tickets) is read and
//! discarded.

use std::time::Duration;

use futures_lite::AsyncReadExt;
use glommio::sync::Semaphore;

use crate::clock;
use crate::conn::{self, Failure};
use crate::shard::Ctx;
use crate::stats::ErrorKind;

/// Handshakes in progress at once, per shard.
pub const MAX_OPENING: usize = 64;

/// How long survivors stay open after the window end, so the end-of-window sample of the
/// server's memory still sees them.
const HOLD_AFTER_END: Duration = Duration::from_millis(500);

pub async fn task(ctx: &Ctx, opening: &Semaphore) {
    let Some(end) = ctx.window().measure_until else {
        return;
    };
    let dialed = {
        let Ok(_permit) = opening.acquire_permit(1).await else {
            return;
        };
        if clock::now() >= end {
            return;
        }
        ctx.dialer.dial().await
    };
    let mut stream = match dialed {
        Ok((s, h)) => {
            ctx.handshake(h, clock::now());
            s
        }
        Err(f) => {
            ctx.connection_failure(&f, clock::now());
            return;
        }
    };
    ctx.live.set(ctx.live.get() + 1);
    let mut sink = [0u8; 256];
    loop {
        match conn::until(end, stream.read(&mut sink)).await {
            None => {
                ctx.idle_survivor();
                // Still open while the main thread samples the server at the window end.
                conn::sleep_until(end + HOLD_AFTER_END).await;
                break;
            }
            Some(Ok(0)) | Some(Err(_)) => {
                let f = Failure::new(ErrorKind::Closed, "server closed an idle connection");
                ctx.connection_failure(&f, clock::now());
                break;
            }
            Some(Ok(_)) => {}
        }
    }
    ctx.live.set(ctx.live.get().saturating_sub(1));
}
