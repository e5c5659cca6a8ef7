//! Message bodies between an HTTP/2 stream and an HTTP/1.1 upstream connection.
//!
//! Upload (client → cache): DATA frames are written to the cache as they arrive, raw for a
//! `Content-Length` request, chunk-encoded otherwise; each frame's bytes are handed back to the
//! client's flow-control window (`release_capacity`) once written upstream, so at most one
//! window per stream is ever buffered. The byte count is checked against Content-Length and
//! the body limit here as well as by the h2 crate.
//!
//! Download (cache → client): at most one read (16 KiB) from the cache is held at a time; it
//! is sent as DATA within the client's window before the next read (chunked responses are
//! decoded first). Trailers of either direction are dropped.
//!
//! What it does not do: choose timeouts (passed in), or touch the response head.
use bytes::Bytes;
use h2::RecvStream;

use super::super::body::Limits;
use super::super::io::{Inbound, IoFail};
use super::super::outcome::Failure;
use super::send::Responder;
use crate::http::chunked::{write_chunk_head, ChunkedDecoder, CHUNK_END, LAST_CHUNK};
use crate::http::framing::ChunkError;
use crate::http::request::{RequestError, RequestFraming};
use crate::http::response::ResponseFraming;
use crate::rt::within;
use crate::sli::Phase;
use crate::upstream;

type Upstream = Inbound<upstream::Stream>;

/// Appends one piece of request body to `out`, framed for the cache.
pub(super) fn frame_into(framing: RequestFraming, data: &[u8], out: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    if framing == RequestFraming::Chunked {
        write_chunk_head(data.len(), out);
        out.extend_from_slice(data);
        out.extend_from_slice(CHUNK_END);
    } else {
        out.extend_from_slice(data);
    }
}

/// Reads the next DATA of the request within `limit`: `Ok(None)` at the end of the body.
/// Each frame's bytes are released to the client's window by the caller.
pub(super) async fn next_data(
    recv: &mut RecvStream,
    limit: std::time::Duration,
) -> Result<Option<Bytes>, Failure> {
    match within(limit, recv.data()).await {
        None => Err(Failure::ClientTimeout(Phase::Data)),
        Some(None) => Ok(None),
        Some(Some(Ok(b))) => Ok(Some(b)),
        // The h2 crate refused the stream (DATA beyond Content-Length, ...) and reset it.
        Some(Some(Err(e))) if !e.is_remote() && e.is_reset() => {
            Err(Failure::BadBody(ChunkError::InvalidFraming))
        }
        Some(Some(Err(_))) => Err(Failure::ClientClosed(Phase::Data)),
    }
}

/// Forwards the rest of the request body (`already` bytes of it were sent with the head).
pub(super) async fn upload(
    recv: &mut RecvStream,
    up: &mut Upstream,
    framing: RequestFraming,
    already: u64,
    max_body: u64,
    limits: Limits,
) -> Result<(), Failure> {
    let mut total = already;
    let mut out = Vec::new();
    loop {
        let Some(data) = next_data(recv, limits.read).await? else {
            break;
        };
        total += data.len() as u64;
        let too_long = match framing {
            RequestFraming::Length(n) => total > n,
            _ => total > max_body,
        };
        if too_long {
            return Err(match framing {
                RequestFraming::Length(_) => Failure::BadBody(ChunkError::InvalidFraming),
                _ => Failure::BadRequest(RequestError::BodyTooLarge),
            });
        }
        out.clear();
        frame_into(framing, &data, &mut out);
        up.write_all(&out, limits.write)
            .await
            .map_err(|f| Failure::from_upstream(f, Phase::Data))?;
        let _ = recv.flow_control().release_capacity(data.len());
    }
    match framing {
        RequestFraming::Length(n) if total != n => {
            return Err(Failure::BadBody(ChunkError::InvalidFraming))
        }
        RequestFraming::Chunked => up
            .write_all(LAST_CHUNK, limits.write)
            .await
            .map_err(|f| Failure::from_upstream(f, Phase::Data))?,
        _ => {}
    }
    Ok(())
}

/// Sends the response body to the client; `sent` counts the body bytes sent so far (also
/// when the transfer fails midway). Ends the stream when the body is complete.
pub(super) async fn download(
    up: &mut Upstream,
    out: &Responder,
    framing: ResponseFraming,
    limits: Limits,
    sent: &mut u64,
) -> Result<(), Failure> {
    let to_client = |f: IoFail| Failure::from_client(f, Phase::Data);
    let from_cache = |f: IoFail| Failure::from_upstream(f, Phase::Data);
    match framing {
        ResponseFraming::Empty => return Ok(()),
        ResponseFraming::Length(mut left) => {
            while left > 0 {
                if up.buffered().is_empty() {
                    up.fill(limits.read).await.map_err(from_cache)?;
                }
                let take = up
                    .buffered()
                    .len()
                    .min(usize::try_from(left).unwrap_or(usize::MAX));
                let piece = Bytes::copy_from_slice(&up.buffered()[..take]);
                up.consume(take);
                out.send_data(piece, limits.write, sent)
                    .await
                    .map_err(to_client)?;
                left -= take as u64;
            }
        }
        ResponseFraming::Chunked => {
            let mut decoder = ChunkedDecoder::new(u64::MAX);
            loop {
                if up.buffered().is_empty() {
                    up.fill(limits.read).await.map_err(from_cache)?;
                }
                let d = decoder
                    .decode(up.buffered())
                    .map_err(|_| Failure::BadResponse)?;
                let piece = Bytes::copy_from_slice(&up.buffered()[d.data.clone()]);
                up.consume(d.consumed);
                if !piece.is_empty() {
                    out.send_data(piece, limits.write, sent)
                        .await
                        .map_err(to_client)?;
                }
                if d.done {
                    break;
                }
                if d.consumed == 0 {
                    // A size line or trailer split across reads.
                    up.fill(limits.read).await.map_err(from_cache)?;
                }
            }
        }
        ResponseFraming::UntilClose => loop {
            if up.buffered().is_empty() {
                match up.fill(limits.read).await {
                    Ok(_) => {}
                    Err(IoFail::Closed) => break,
                    Err(f) => return Err(from_cache(f)),
                }
            }
            let piece = Bytes::copy_from_slice(up.buffered());
            up.consume(piece.len());
            out.send_data(piece, limits.write, sent)
                .await
                .map_err(to_client)?;
        },
    }
    out.finish()
        .map_err(|f| Failure::from_client(f, Phase::Last))
}
