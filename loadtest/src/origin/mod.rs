//! `loadtest origin`: a fast HTTP/1.1 keep-alive origin to stand in for the cache layer when
//! the cache itself would be the bottleneck of a benchmark.
//!
//! Job: one glommio executor per `--cpus` CPU, each with its own SO_REUSEPORT listener on the
//! same port (the first shard resolves port 0, the others reuse it); one task per connection,
//! reading requests in order (pipelined requests are answered in one write), answering by path
//! (see [`route`]). Prints `loadtest origin: listening on ADDR` and `loadtest origin: ready` on
//! stderr, then serves until killed.
//!
//! What it does not do: TLS, HTTP/2, request bodies beyond skipping them, logging per request.
//! Invariants: never panics on peer input; a bad request gets a 400 and the connection closes;
//! memory per connection is bounded (a 16 KiB read buffer plus at most one 64 KiB output batch).

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use glommio::{LocalExecutorBuilder, Placement};

use crate::cli::OriginArgs;
use crate::parse::{self, ParseError};

pub mod route;

/// Why the origin could not start.
#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("{0} is not a loopback address; pass --allow-remote if you mean it")]
    Remote(SocketAddr),
    #[error("cannot start an origin shard on CPU {cpu}: {reason}")]
    Spawn { cpu: usize, reason: String },
    #[error("cannot listen on {addr}: {reason}")]
    Bind { addr: SocketAddr, reason: String },
}

/// Output batch size: pipelined responses are gathered up to this size before a write; larger
/// bodies are written from the pattern buffer in slices of this size.
const BATCH: usize = 64 * 1024;
const READ_BUF: usize = route::MAX_HEAD;

/// Runs the origin until the process is killed.
pub fn serve(args: &OriginArgs) -> Result<(), OriginError> {
    let addr = parse::address(&args.listen)?;
    if !args.allow_remote && !parse::is_loopback(addr.ip()) {
        return Err(OriginError::Remote(addr));
    }
    let cpus = parse::cpu_list(&args.cpus)?;
    let mut handles = Vec::new();
    let mut bound = addr;
    for (k, &cpu) in cpus.iter().enumerate() {
        let (tx, rx) = mpsc::channel::<Result<SocketAddr, String>>();
        let want = bound;
        let handle = LocalExecutorBuilder::new(Placement::Fixed(cpu))
            .name(&format!("origin-{k}"))
            .spawn(move || shard(want, tx))
            .map_err(|e| OriginError::Spawn {
                cpu,
                reason: e.to_string(),
            })?;
        match rx.recv() {
            Ok(Ok(a)) => bound = a,
            Ok(Err(reason)) => return Err(OriginError::Bind { addr: want, reason }),
            Err(_) => {
                return Err(OriginError::Spawn {
                    cpu,
                    reason: "executor exited".into(),
                })
            }
        }
        handles.push(handle);
    }
    eprintln!("loadtest origin: listening on {bound}");
    eprintln!(
        "loadtest origin: {}",
        crate::report::rings_line(&crate::uring::report())
    );
    eprintln!("loadtest origin: ready");
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}

async fn shard(addr: SocketAddr, bound: mpsc::Sender<Result<SocketAddr, String>>) {
    let listener = match TcpListener::bind(addr).and_then(|l| Ok((l.local_addr()?, l))) {
        Ok((a, l)) => {
            let _ = bound.send(Ok(a));
            l
        }
        Err(e) => {
            let _ = bound.send(Err(e.to_string()));
            return;
        }
    };
    let pattern: Rc<[u8]> = route::pattern(BATCH).into();
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                glommio::spawn_local(connection(stream, Rc::clone(&pattern))).detach();
            }
            // Out of descriptors or similar: back off instead of spinning.
            Err(_) => glommio::timer::sleep(Duration::from_millis(10)).await,
        }
    }
}

async fn connection(mut stream: TcpStream, pattern: Rc<[u8]>) {
    let _ = serve_connection(&mut stream, &pattern).await;
}

/// Serves requests until the peer closes, asks to close, or misbehaves.
async fn serve_connection(stream: &mut TcpStream, pattern: &[u8]) -> std::io::Result<()> {
    let mut buf = vec![0u8; READ_BUF];
    let (mut start, mut end) = (0usize, 0usize);
    let mut skip: u64 = 0;
    let mut out: Vec<u8> = Vec::with_capacity(BATCH);
    loop {
        // Answer every complete request in the buffer.
        loop {
            if skip > 0 {
                let n = skip.min((end - start) as u64);
                start += n as usize;
                skip -= n;
                if skip > 0 {
                    break;
                }
            }
            let req = match route::parse_request(&buf[start..end]) {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(_) => {
                    out.extend_from_slice(route::BAD_REQUEST);
                    return stream.write_all(&out).await;
                }
            };
            start += req.head_len;
            skip = req.body_len;
            let Some(r) = req.route else {
                out.extend_from_slice(route::BAD_REQUEST);
                return stream.write_all(&out).await;
            };
            if let Some(d) = r.delay {
                flush(stream, &mut out).await?;
                glommio::timer::sleep(d).await;
            }
            route::ok_head(&mut out, r.body_len, req.keep_alive);
            write_body(stream, &mut out, pattern, r.body_len).await?;
            if !req.keep_alive {
                flush(stream, &mut out).await?;
                return Ok(());
            }
        }
        flush(stream, &mut out).await?;
        // Read more.
        if start == end {
            start = 0;
            end = 0;
        } else if end == buf.len() {
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        if end == buf.len() {
            // A whole buffer without a complete head cannot happen (MAX_HEAD = buffer size makes
            // parse_request fail first); refuse rather than loop.
            return stream.write_all(route::BAD_REQUEST).await;
        }
        let n = stream.read(&mut buf[end..]).await?;
        if n == 0 {
            return Ok(());
        }
        end += n;
    }
}

async fn flush(stream: &mut TcpStream, out: &mut Vec<u8>) -> std::io::Result<()> {
    if !out.is_empty() {
        stream.write_all(out).await?;
        out.clear();
    }
    Ok(())
}

/// Appends (or, past the batch size, writes) `len` bytes of the pattern.
async fn write_body(
    stream: &mut TcpStream,
    out: &mut Vec<u8>,
    pattern: &[u8],
    len: u64,
) -> std::io::Result<()> {
    let mut left = len;
    let mut offset = 0usize;
    while left > 0 {
        if out.len() >= BATCH {
            flush(stream, out).await?;
        }
        let room = (BATCH - out.len().min(BATCH)).max(1);
        let take = (left.min(room as u64) as usize).min(pattern.len() - offset);
        out.extend_from_slice(&pattern[offset..offset + take]);
        offset = (offset + take) % pattern.len();
        left -= take as u64;
    }
    Ok(())
}
