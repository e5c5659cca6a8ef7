//! Forwarding message bodies between the two sides: exact length, chunked (validated and
//! passed through verbatim), and until-close. Bytes past the end of a message stay buffered.
//!
//! What it does not do: decode or re-encode chunked framing, or choose timeouts.

use std::time::Duration;

use futures_lite::{AsyncRead, AsyncWrite};

use super::io::{Inbound, IoFail, READ_CHUNK};
use crate::http::framing::{ChunkError, ChunkedScanner};

/// Why a body transfer stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyFail {
    /// Reading from the source failed.
    Read(IoFail),
    /// Writing to the destination failed.
    Write(IoFail),
    /// The source sent invalid chunked framing.
    Invalid(ChunkError),
}

/// Per-copy deadlines: each read and each write gets its own limit (inactivity timeouts).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub read: Duration,
    pub write: Duration,
}

/// Copies exactly `n` bytes from `from` (its buffer first) to `to`. A body larger than a
/// standard read buffer is read through a wide one ([`Inbound::widen`]).
pub async fn copy_exact<A, B>(
    from: &mut Inbound<A>,
    to: &mut Inbound<B>,
    n: u64,
    limits: Limits,
) -> Result<u64, BodyFail>
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    if n > READ_CHUNK as u64 {
        from.widen();
    }
    let copied = copy_exact_through(from, to, n, limits).await;
    from.narrow();
    copied
}

async fn copy_exact_through<A, B>(
    from: &mut Inbound<A>,
    to: &mut Inbound<B>,
    mut n: u64,
    limits: Limits,
) -> Result<u64, BodyFail>
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let mut copied = 0;
    while n > 0 {
        if from.buffered().is_empty() {
            from.fill(limits.read).await.map_err(BodyFail::Read)?;
        }
        let take = from
            .buffered()
            .len()
            .min(usize::try_from(n).unwrap_or(usize::MAX));
        to.write_all(&from.buffered()[..take], limits.write)
            .await
            .map_err(BodyFail::Write)?;
        from.consume(take);
        n -= take as u64;
        copied += take as u64;
    }
    Ok(copied)
}

/// Copies a chunked body verbatim, validating it with `scanner`, up to its last CRLF (through
/// a wide buffer: the length is not known in advance).
pub async fn copy_chunked<A, B>(
    from: &mut Inbound<A>,
    to: &mut Inbound<B>,
    scanner: &mut ChunkedScanner,
    limits: Limits,
) -> Result<u64, BodyFail>
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    from.widen();
    let copied = copy_chunked_through(from, to, scanner, limits).await;
    from.narrow();
    copied
}

async fn copy_chunked_through<A, B>(
    from: &mut Inbound<A>,
    to: &mut Inbound<B>,
    scanner: &mut ChunkedScanner,
    limits: Limits,
) -> Result<u64, BodyFail>
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let mut copied = 0;
    loop {
        if from.buffered().is_empty() {
            from.fill(limits.read).await.map_err(BodyFail::Read)?;
        }
        let scan = scanner.scan(from.buffered()).map_err(BodyFail::Invalid)?;
        if scan.consumed > 0 {
            to.write_all(&from.buffered()[..scan.consumed], limits.write)
                .await
                .map_err(BodyFail::Write)?;
            from.consume(scan.consumed);
            copied += scan.consumed as u64;
        }
        if scan.done {
            return Ok(copied);
        }
        if scan.consumed == 0 && !from.buffered().is_empty() {
            // The scanner needs more bytes to decide (e.g. a split size line).
            from.fill(limits.read).await.map_err(BodyFail::Read)?;
        }
    }
}

/// Copies until `from` closes (through a wide buffer). The end of the body is the upstream's
/// EOF.
pub async fn copy_until_close<A, B>(
    from: &mut Inbound<A>,
    to: &mut Inbound<B>,
    limits: Limits,
) -> Result<u64, BodyFail>
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    from.widen();
    let copied = copy_until_close_through(from, to, limits).await;
    from.narrow();
    copied
}

async fn copy_until_close_through<A, B>(
    from: &mut Inbound<A>,
    to: &mut Inbound<B>,
    limits: Limits,
) -> Result<u64, BodyFail>
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let mut copied = 0;
    loop {
        if from.buffered().is_empty() {
            match from.fill(limits.read).await {
                Ok(_) => {}
                Err(IoFail::Closed) => return Ok(copied),
                Err(f) => return Err(BodyFail::Read(f)),
            }
        }
        let n = from.buffered().len();
        to.write_all(from.buffered(), limits.write)
            .await
            .map_err(BodyFail::Write)?;
        from.consume(n);
        copied += n as u64;
    }
}
