//! A tiny blocking HTTP/1.1 origin standing in for the cache layer's backend in `tlsterm demo`
//! and in the end-to-end tests.
//!
//! Job: answer a handful of deterministic routes over HTTP/1.1 keep-alive, one OS thread per
//! connection, using only `std`:
//! - `GET /bytes/N` → N bytes, byte i = `(i % 251) as u8`, with `Content-Length`.
//! - `/chunked/N` → the same N bytes with `Transfer-Encoding: chunked`, in 16 KiB chunks.
//! - `/delay/MS/REST` → sleeps MS milliseconds, then answers as for `/REST`.
//! - `POST|PUT /echo` → the request body back, with `X-Body-Fnv` (FNV-1a 64, 16 hex digits)
//!   and `X-Body-Length`.
//! - `/headers` → the request headers as received, `name: value\n` lines, `text/plain`.
//! - `/stall/N` → promises N bytes (Content-Length), sends N/2, then stalls (≤ 30 s) and
//!   closes: an upstream that goes silent mid-body.
//! - anything else → 200 `hello from tlsterm demo origin\n`.
//!
//! What it deliberately does not do: performance, pipelining tricks beyond reading requests in
//! order, HTTP/2, TLS, trailers (chunked trailers are read and dropped), or any use of
//! `crate::http` (it must stay independent of the code it helps to test).
//!
//! Invariants: never panics on peer input; a malformed request gets a 400 and the connection is
//! closed; heads are bounded by [`MAX_HEAD_BYTES`], bodies by [`MAX_BODY_BYTES`].
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// Largest request head the origin reads (request line + headers), bytes.
pub const MAX_HEAD_BYTES: usize = 256 * 1024;
/// Largest request body the origin accepts (for `/echo`), bytes.
pub const MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;
/// Size of one chunk on `/chunked/N` and of the write buffer for `/bytes/N`.
pub const CHUNK_SIZE: usize = 16 * 1024;
/// Body of the default route.
pub const HELLO: &str = "hello from tlsterm demo origin\n";

/// Why a request could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The peer sent something that is not HTTP/1.1 as this origin understands it.
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    /// The peer closed the connection cleanly between two requests.
    #[error("connection closed")]
    Closed,
}

/// One parsed request (head + body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub target: String,
    /// `true` for HTTP/1.1, `false` for HTTP/1.0.
    pub http11: bool,
    /// Header fields in the order received, names as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the connection stays open after this request.
    fn persistence(&self) -> Persistence {
        let conn = self.header("connection").unwrap_or("").to_ascii_lowercase();
        let keep = if self.http11 {
            !conn.split(',').any(|t| t.trim() == "close")
        } else {
            conn.split(',').any(|t| t.trim() == "keep-alive")
        };
        if keep {
            Persistence::KeepAlive
        } else {
            Persistence::Close
        }
    }
}

/// FNV-1a 64-bit checksum of `data` (used for `X-Body-Fnv`).
pub fn fnv1a64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The deterministic byte at position `i` of `/bytes/N` and `/chunked/N`.
pub fn pattern_byte(i: u64) -> u8 {
    // `i % 251` is below 251, so the cast is lossless.
    (i % 251) as u8
}

/// Counters an observer (a test) can read while the origin serves.
#[derive(Debug, Default)]
pub struct OriginStats {
    connections: AtomicU64,
    requests: AtomicU64,
}

impl OriginStats {
    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }

    /// Requests read completely (head and body) so far; counted before the response is
    /// written, so a request under `/delay/` is counted while it is still in flight.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Binds `addr`, serves it on a background thread, returns the bound address.
pub fn spawn(addr: &str) -> io::Result<SocketAddr> {
    spawn_observed(addr).map(|(a, _)| a)
}

/// Like [`spawn`], also returning the origin's live counters.
pub fn spawn_observed(addr: &str) -> io::Result<(SocketAddr, Arc<OriginStats>)> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    let stats = Arc::new(OriginStats::default());
    let s = Arc::clone(&stats);
    thread::Builder::new()
        .name("origin-accept".into())
        .spawn(move || run_observed(listener, s))?;
    Ok((local, stats))
}

/// Serves forever on `listener`, one thread per connection.
pub fn run(listener: TcpListener) -> io::Result<()> {
    run_observed(listener, Arc::new(OriginStats::default()))
}

/// Like [`run`], counting into `stats`.
pub fn run_observed(listener: TcpListener, stats: Arc<OriginStats>) -> io::Result<()> {
    loop {
        let (stream, _) = match listener.accept() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // Other accept errors (EMFILE, ECONNABORTED) are transient and must not stop the
            // origin: back off briefly and retry.
            Err(_) => {
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        stats.connections.fetch_add(1, Ordering::SeqCst);
        let s = Arc::clone(&stats);
        thread::Builder::new()
            .name("origin-conn".into())
            .spawn(move || {
                // Errors end this connection only; there is nobody to report them to.
                let _ = serve_connection(stream, &s);
            })?;
    }
}

/// Reads requests from `stream` and answers them in order until close or error.
fn serve_connection(stream: TcpStream, stats: &OriginStats) -> Result<(), OriginError> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = BufWriter::with_capacity(CHUNK_SIZE * 2, stream);
    loop {
        let req = match read_request(&mut reader) {
            Ok(r) => r,
            Err(OriginError::Closed) => return Ok(()),
            Err(OriginError::Malformed(why)) => {
                let body = format!("bad request: {why}\n");
                write_simple(
                    &mut writer,
                    "400 Bad Request",
                    &[],
                    body.as_bytes(),
                    Persistence::Close,
                    BodyMode::Send,
                )?;
                writer.flush()?;
                lingering_close(writer.get_ref(), &mut reader);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        stats.requests.fetch_add(1, Ordering::SeqCst);
        let conn = req.persistence();
        respond(&mut writer, &req, conn)?;
        writer.flush()?;
        if conn == Persistence::Close {
            return Ok(());
        }
    }
}

/// Closes after an error answer without losing it: a close with unread input makes the kernel
/// send RST, which can destroy the answer before the peer read it. So: shut down our sending
/// side, then drain what the peer still sends, bounded in time and bytes.
fn lingering_close(stream: &TcpStream, reader: &mut BufReader<TcpStream>) {
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut sink = [0u8; 4096];
    let mut drained = 0usize;
    while drained < 1024 * 1024 {
        match reader.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// Reads one request (head and body) from `r`.
pub fn read_request<R: BufRead>(r: &mut R) -> Result<Request, OriginError> {
    let mut head_bytes = 0usize;
    // Tolerate empty lines before the request line (RFC 9112 §2.2).
    let request_line = loop {
        let line = read_line(r, &mut head_bytes)?;
        match line {
            None => return Err(OriginError::Closed),
            Some(l) if l.is_empty() => continue,
            Some(l) => break l,
        }
    };
    let mut parts = request_line.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) if !m.is_empty() && !t.is_empty() => (m, t, v),
        _ => return Err(OriginError::Malformed("request line")),
    };
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err(OriginError::Malformed("version")),
    };
    let mut headers = Vec::new();
    loop {
        let line = read_line(r, &mut head_bytes)?.ok_or(OriginError::Malformed("eof in head"))?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(OriginError::Malformed("header without colon"))?;
        if name.is_empty() || name.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(OriginError::Malformed("header name"));
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let mut req = Request {
        method: method.to_string(),
        target: target.to_string(),
        http11,
        headers,
        body: Vec::new(),
    };
    let chunked = match req.header("transfer-encoding") {
        None => false,
        Some(te) if te.eq_ignore_ascii_case("chunked") => true,
        Some(_) => return Err(OriginError::Malformed("transfer-encoding")),
    };
    if chunked {
        if req.header("content-length").is_some() {
            return Err(OriginError::Malformed("both content-length and chunked"));
        }
        req.body = read_chunked(r, &mut head_bytes)?;
    } else if let Some(cl) = req.header("content-length") {
        let n: u64 = cl
            .parse()
            .map_err(|_| OriginError::Malformed("content-length"))?;
        if n > MAX_BODY_BYTES {
            return Err(OriginError::Malformed("body too large"));
        }
        let mut body = Vec::new();
        r.take(n).read_to_end(&mut body)?;
        if body.len() as u64 != n {
            return Err(OriginError::Malformed("eof in body"));
        }
        req.body = body;
    }
    Ok(req)
}

/// Reads a line ending in LF (CR before it dropped); `None` on EOF before any byte.
fn read_line<R: BufRead>(
    r: &mut R,
    budget_used: &mut usize,
) -> Result<Option<String>, OriginError> {
    let mut buf = Vec::new();
    let limit = MAX_HEAD_BYTES.saturating_sub(*budget_used) as u64 + 1;
    let n = r.take(limit).read_until(b'\n', &mut buf)?;
    *budget_used += n;
    if n == 0 {
        return Ok(None);
    }
    if *budget_used > MAX_HEAD_BYTES {
        return Err(OriginError::Malformed("head too large"));
    }
    if buf.last() != Some(&b'\n') {
        return Err(OriginError::Malformed("eof in line"));
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| OriginError::Malformed("non-utf8 head"))
}

/// Reads a chunked body (chunk extensions ignored, trailers dropped).
fn read_chunked<R: BufRead>(r: &mut R, budget: &mut usize) -> Result<Vec<u8>, OriginError> {
    let mut body = Vec::new();
    loop {
        // Size lines and trailers get their own small budget, separate from the head's.
        *budget = 0;
        let line = read_line(r, budget)?.ok_or(OriginError::Malformed("eof in chunk size"))?;
        let hex = line.split(';').next().unwrap_or("").trim();
        let size =
            u64::from_str_radix(hex, 16).map_err(|_| OriginError::Malformed("chunk size"))?;
        if size == 0 {
            loop {
                let trailer =
                    read_line(r, budget)?.ok_or(OriginError::Malformed("eof in trailers"))?;
                if trailer.is_empty() {
                    return Ok(body);
                }
            }
        }
        if body.len() as u64 + size > MAX_BODY_BYTES {
            return Err(OriginError::Malformed("body too large"));
        }
        let before = body.len();
        r.take(size).read_to_end(&mut body)?;
        if (body.len() - before) as u64 != size {
            return Err(OriginError::Malformed("eof in chunk"));
        }
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf)?;
        if &crlf != b"\r\n" {
            return Err(OriginError::Malformed("chunk not followed by CRLF"));
        }
    }
}

/// Routes `req` and writes the whole response to `w`.
fn respond<W: Write>(w: &mut W, req: &Request, conn: Persistence) -> io::Result<()> {
    let body_mode = if req.method == "HEAD" {
        BodyMode::HeadOnly
    } else {
        BodyMode::Send
    };
    let path = req.target.split('?').next().unwrap_or("");
    let mut route = path;
    // Each /delay/MS/ prefix sleeps and is stripped; repeated prefixes add up.
    while let Some(rest) = route.strip_prefix("/delay/") {
        let (ms, tail) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        match ms.parse::<u64>() {
            Ok(ms) => thread::sleep(Duration::from_millis(ms.min(600_000))),
            Err(_) => break,
        }
        route = tail;
    }
    if let Some(n) = route
        .strip_prefix("/bytes/")
        .and_then(|n| n.parse::<u64>().ok())
    {
        let extra = [("Content-Type", "application/octet-stream".to_string())];
        write_head(w, "200 OK", &extra, Framing::Length(n), conn)?;
        if body_mode == BodyMode::Send {
            write_pattern(w, n, false)?;
        }
        return Ok(());
    }
    if let Some(n) = route
        .strip_prefix("/chunked/")
        .and_then(|n| n.parse::<u64>().ok())
    {
        let extra = [("Content-Type", "application/octet-stream".to_string())];
        write_head(w, "200 OK", &extra, Framing::Chunked, conn)?;
        if body_mode == BodyMode::Send {
            write_pattern(w, n, true)?;
        }
        return Ok(());
    }
    if let Some(n) = route
        .strip_prefix("/stall/")
        .and_then(|n| n.parse::<u64>().ok())
    {
        // Promises N bytes, sends half, then goes silent (upstream body inactivity) for at
        // most 30 s before closing.
        let extra = [("Content-Type", "application/octet-stream".to_string())];
        write_head(w, "200 OK", &extra, Framing::Length(n), conn)?;
        if body_mode == BodyMode::Send {
            write_pattern(w, n / 2, false)?;
            w.flush()?;
            thread::sleep(Duration::from_secs(30));
        }
        return Err(io::Error::other("stalled on purpose"));
    }
    if route == "/echo" && (req.method == "POST" || req.method == "PUT") {
        let extra = [
            ("Content-Type", "application/octet-stream".to_string()),
            ("X-Body-Fnv", format!("{:016x}", fnv1a64(&req.body))),
            ("X-Body-Length", req.body.len().to_string()),
        ];
        return write_simple(w, "200 OK", &extra, &req.body, conn, body_mode);
    }
    if route == "/headers" {
        let mut body = String::new();
        for (n, v) in &req.headers {
            body.push_str(n);
            body.push_str(": ");
            body.push_str(v);
            body.push('\n');
        }
        let extra = [("Content-Type", "text/plain".to_string())];
        return write_simple(w, "200 OK", &extra, body.as_bytes(), conn, body_mode);
    }
    let extra = [("Content-Type", "text/plain".to_string())];
    write_simple(w, "200 OK", &extra, HELLO.as_bytes(), conn, body_mode)
}

/// Whether the connection stays open after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Persistence {
    KeepAlive,
    Close,
}

/// Whether a response carries its body (not for HEAD).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyMode {
    Send,
    HeadOnly,
}

/// How the response body is delimited.
enum Framing {
    Length(u64),
    Chunked,
}

fn write_head<W: Write>(
    w: &mut W,
    status: &str,
    extra: &[(&str, String)],
    framing: Framing,
    conn: Persistence,
) -> io::Result<()> {
    write!(w, "HTTP/1.1 {status}\r\nServer: tlsterm-origin\r\n")?;
    for (n, v) in extra {
        write!(w, "{n}: {v}\r\n")?;
    }
    match framing {
        Framing::Length(n) => write!(w, "Content-Length: {n}\r\n")?,
        Framing::Chunked => write!(w, "Transfer-Encoding: chunked\r\n")?,
    }
    let conn = match conn {
        Persistence::KeepAlive => "keep-alive",
        Persistence::Close => "close",
    };
    write!(w, "Connection: {conn}\r\n\r\n")
}

fn write_simple<W: Write>(
    w: &mut W,
    status: &str,
    extra: &[(&str, String)],
    body: &[u8],
    conn: Persistence,
    body_mode: BodyMode,
) -> io::Result<()> {
    write_head(w, status, extra, Framing::Length(body.len() as u64), conn)?;
    if body_mode == BodyMode::Send {
        w.write_all(body)?;
    }
    Ok(())
}

/// Writes the first `n` pattern bytes, raw or as 16 KiB chunks plus the last chunk.
fn write_pattern<W: Write>(w: &mut W, n: u64, chunked: bool) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK_SIZE];
    let mut pos = 0u64;
    while pos < n {
        let len = (n - pos).min(CHUNK_SIZE as u64) as usize;
        for (i, b) in buf[..len].iter_mut().enumerate() {
            *b = pattern_byte(pos + i as u64);
        }
        if chunked {
            write!(w, "{len:x}\r\n")?;
        }
        w.write_all(&buf[..len])?;
        if chunked {
            w.write_all(b"\r\n")?;
        }
        pos += len as u64;
    }
    if chunked {
        w.write_all(b"0\r\n\r\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A response as the test client read it.
    #[derive(Debug)]
    struct Resp {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        /// Chunk sizes seen on the wire, when chunked.
        chunks: Vec<usize>,
    }

    impl Resp {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    fn line<R: BufRead>(r: &mut R) -> String {
        let mut s = String::new();
        r.read_line(&mut s).unwrap();
        assert!(s.ends_with("\r\n"), "line without CRLF: {s:?}");
        s.truncate(s.len() - 2);
        s
    }

    fn read_response<R: BufRead>(r: &mut R, head_only: bool) -> Resp {
        let status_line = line(r);
        let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
        let mut headers = Vec::new();
        loop {
            let l = line(r);
            if l.is_empty() {
                break;
            }
            let (n, v) = l.split_once(':').unwrap();
            headers.push((n.to_string(), v.trim().to_string()));
        }
        let mut resp = Resp {
            status,
            headers,
            body: Vec::new(),
            chunks: Vec::new(),
        };
        if head_only {
            return resp;
        }
        if resp.header("transfer-encoding") == Some("chunked") {
            loop {
                let size = usize::from_str_radix(&line(r), 16).unwrap();
                resp.chunks.push(size);
                if size == 0 {
                    assert_eq!(line(r), "");
                    break;
                }
                let mut chunk = vec![0u8; size];
                r.read_exact(&mut chunk).unwrap();
                resp.body.extend_from_slice(&chunk);
                assert_eq!(line(r), "");
            }
        } else {
            let n: usize = resp.header("content-length").unwrap().parse().unwrap();
            resp.body = vec![0u8; n];
            r.read_exact(&mut resp.body).unwrap();
        }
        resp
    }

    struct Client {
        reader: BufReader<TcpStream>,
        writer: TcpStream,
    }

    impl Client {
        fn connect() -> Client {
            let addr = spawn("127.0.0.1:0").unwrap();
            let s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            Client {
                reader: BufReader::new(s.try_clone().unwrap()),
                writer: s,
            }
        }

        fn send(&mut self, raw: &[u8]) {
            self.writer.write_all(raw).unwrap();
        }

        fn get(&mut self, target: &str) -> Resp {
            self.send(format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
            read_response(&mut self.reader, false)
        }

        /// Asserts the server closed the connection (EOF, no further bytes).
        fn assert_closed(&mut self) {
            let mut rest = Vec::new();
            self.reader.read_to_end(&mut rest).unwrap();
            assert_eq!(rest, b"");
        }
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n as u64).map(pattern_byte).collect()
    }

    #[test]
    fn fnv1a64_known_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn bytes_route_sends_the_pattern_with_content_length() {
        let mut c = Client::connect();
        let r = c.get("/bytes/300");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-length"), Some("300"));
        assert_eq!(r.body.len(), 300);
        assert_eq!(
            (r.body[0], r.body[250], r.body[251], r.body[299]),
            (0, 250, 0, 48)
        );
        assert_eq!(r.body, pattern(300));
        let r = c.get("/bytes/0");
        assert_eq!((r.status, r.body.len()), (200, 0));
        assert_eq!(r.header("content-length"), Some("0"));
    }

    #[test]
    fn chunked_route_sends_16k_chunks() {
        let mut c = Client::connect();
        let r = c.get("/chunked/40000");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-length"), None);
        assert_eq!(r.chunks, vec![16384, 16384, 7232, 0]);
        assert_eq!(r.body, pattern(40000));
        let r = c.get("/chunked/0");
        assert_eq!((r.chunks, r.body.len()), (vec![0], 0));
    }

    #[test]
    fn echo_returns_content_length_body_and_checksum() {
        let mut c = Client::connect();
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nfoobar");
        let r = read_response(&mut c.reader, false);
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"foobar");
        assert_eq!(r.header("x-body-fnv"), Some("85944171f73967e8"));
        assert_eq!(r.header("x-body-length"), Some("6"));
    }

    #[test]
    fn echo_decodes_a_chunked_request_body() {
        let mut c = Client::connect();
        c.send(
            b"PUT /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
              5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n",
        );
        let r = read_response(&mut c.reader, false);
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"hello world");
        assert_eq!(r.header("x-body-length"), Some("11"));
        assert_eq!(
            r.header("x-body-fnv"),
            Some(format!("{:016x}", fnv1a64(b"hello world")).as_str())
        );
        // The connection is still usable after a chunked body with trailers.
        assert_eq!(c.get("/bytes/2").body, vec![0, 1]);
    }

    #[test]
    fn headers_route_lists_the_received_headers_in_order() {
        let mut c = Client::connect();
        c.send(b"GET /headers HTTP/1.1\r\nHost: example\r\nX-Test:  some value \r\n\r\n");
        let r = read_response(&mut c.reader, false);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("text/plain"));
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            "Host: example\nX-Test: some value\n"
        );
    }

    #[test]
    fn delay_prefix_sleeps_then_routes_the_rest() {
        let mut c = Client::connect();
        let start = crate::clock::now();
        let r = c.get("/delay/200/bytes/3");
        assert!(
            start.elapsed() >= Duration::from_millis(200),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(r.body, vec![0, 1, 2]);
        let r = c.get("/delay/1");
        assert_eq!(r.body, HELLO.as_bytes());
    }

    #[test]
    fn other_paths_get_hello_and_head_gets_no_body() {
        let mut c = Client::connect();
        let r = c.get("/anything?x=1");
        assert_eq!((r.status, r.body.as_slice()), (200, HELLO.as_bytes()));
        c.send(b"HEAD /bytes/10 HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = read_response(&mut c.reader, true);
        assert_eq!(r.header("content-length"), Some("10"));
        // The next response starts right after the head: no body bytes were sent.
        assert_eq!(c.get("/bytes/1").body, vec![0]);
    }

    #[test]
    fn pipelined_requests_are_answered_in_order_then_close_is_honoured() {
        let mut c = Client::connect();
        c.send(
            b"GET /bytes/1 HTTP/1.1\r\nHost: t\r\n\r\n\
              GET /bytes/2 HTTP/1.1\r\nHost: t\r\n\r\n\
              GET /bytes/3 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        );
        let sizes: Vec<usize> = (0..3)
            .map(|_| read_response(&mut c.reader, false).body.len())
            .collect();
        assert_eq!(sizes, vec![1, 2, 3]);
        c.assert_closed();
    }

    #[test]
    fn http10_without_keep_alive_closes() {
        let mut c = Client::connect();
        c.send(b"GET /bytes/4 HTTP/1.0\r\n\r\n");
        let r = read_response(&mut c.reader, false);
        assert_eq!(r.header("connection"), Some("close"));
        assert_eq!(r.body, vec![0, 1, 2, 3]);
        c.assert_closed();
    }

    #[test]
    fn malformed_requests_get_400_and_close() {
        for raw in [
            &b"GARBAGE\r\n\r\n"[..],
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
            b"POST /echo HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"POST /echo HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ] {
            let mut c = Client::connect();
            c.send(raw);
            let r = read_response(&mut c.reader, false);
            assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(raw));
            assert_eq!(r.header("connection"), Some("close"));
            assert!(r.body.starts_with(b"bad request: "), "{:?}", r.body);
            c.assert_closed();
        }
    }

    #[test]
    fn stats_count_connections_and_requests() {
        let (addr, stats) = spawn_observed("127.0.0.1:0").unwrap();
        assert_eq!((stats.connections(), stats.requests()), (0, 0));
        for _ in 0..2 {
            let s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut c = Client {
                reader: BufReader::new(s.try_clone().unwrap()),
                writer: s,
            };
            c.get("/bytes/1");
            c.get("/bytes/1");
        }
        assert_eq!((stats.connections(), stats.requests()), (2, 4));
    }

    #[test]
    fn read_request_parses_and_bounds_heads() {
        let mut r = Cursor::new(&b"\r\nGET /x HTTP/1.1\r\nA: 1\nB:2\r\n\r\n"[..]);
        let req = read_request(&mut r).unwrap();
        assert_eq!(
            (req.method.as_str(), req.target.as_str(), req.http11),
            ("GET", "/x", true)
        );
        assert_eq!(
            req.headers,
            vec![("A".into(), "1".into()), ("B".into(), "2".into())]
        );
        assert!(matches!(read_request(&mut r), Err(OriginError::Closed)));

        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.resize(MAX_HEAD_BYTES + 10, b'a');
        big.extend_from_slice(b"\r\n\r\n");
        assert!(matches!(
            read_request(&mut Cursor::new(big)),
            Err(OriginError::Malformed("head too large"))
        ));

        let truncated = b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc";
        assert!(matches!(
            read_request(&mut Cursor::new(&truncated[..])),
            Err(OriginError::Malformed("eof in body"))
        ));
        let too_big = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY_BYTES + 1
        );
        assert!(matches!(
            read_request(&mut Cursor::new(too_big.into_bytes())),
            Err(OriginError::Malformed("body too large"))
        ));
    }
}
