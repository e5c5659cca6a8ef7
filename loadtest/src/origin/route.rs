//! The origin's request side, sans-IO: parse a request head, pick the response by path, and
//! write the response head.
//!
//! Routes (query strings ignored):
//! - `/bytes/N` → `N` body bytes (at most [`MAX_BODY`]), byte i = `i % 251`;
//! - `/delay/D/REST` → wait `D` (`20ms`, `1s`, `500us`; a bare number is ms, at most
//!   [`MAX_DELAY`]), then answer as for `/REST`; `/delay/D` alone answers the default;
//! - anything else → [`DEFAULT_BODY`] bytes.
//!
//! Every response is `200 OK` with `Content-Length`; a request that cannot be parsed gets `400`
//! and the connection is closed. Request bodies with `Content-Length` are skipped; chunked
//! request bodies are refused (`400`, close). HTTP/1.0 and `Connection: close` end the
//! connection after the response.
//!
//! What it does not do: sockets and timers (see `origin/mod.rs`). Never panics on peer input.

use std::time::Duration;

/// Body length of the default route, bytes.
pub const DEFAULT_BODY: u64 = 100;
/// Largest `/bytes/N`, bytes (1 GiB).
pub const MAX_BODY: u64 = 1 << 30;
/// Longest `/delay/D`.
pub const MAX_DELAY: Duration = Duration::from_secs(60);
/// Largest request head accepted, bytes.
pub const MAX_HEAD: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;

/// What to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub delay: Option<Duration>,
    pub body_len: u64,
}

/// A parsed request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// Bytes of the head (request line + headers + blank line).
    pub head_len: usize,
    /// Request body bytes that follow the head (to skip).
    pub body_len: u64,
    /// Keep the connection open after the response.
    pub keep_alive: bool,
    /// `None`: the path is not acceptable (answer 400).
    pub route: Option<Route>,
}

/// Why a request head was refused (the connection gets a 400 and is closed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("malformed request head")]
    Malformed,
    #[error("request head too large")]
    TooLarge,
    #[error("chunked or invalid request body framing")]
    BodyFraming,
}

/// Parses one request head at the start of `buf`; `Ok(None)` when more bytes are needed.
pub fn parse_request(buf: &[u8]) -> Result<Option<Request>, RequestError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => {
            return Err(RequestError::TooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(RequestError::Malformed),
    };
    let mut keep_alive = req.version == Some(1);
    let mut body_len = 0u64;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            body_len = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or(RequestError::BodyFraming)?;
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(RequestError::BodyFraming);
        } else if h.name.eq_ignore_ascii_case("connection") {
            let v = h.value.to_ascii_lowercase();
            if v.windows(5).any(|w| w == b"close") {
                keep_alive = false;
            } else if v.windows(10).any(|w| w == b"keep-alive") {
                keep_alive = true;
            }
        }
    }
    Ok(Some(Request {
        head_len,
        body_len,
        keep_alive,
        route: req.path.and_then(route),
    }))
}

/// The route for `path`; `None` for an unacceptable one (bad size or delay).
pub fn route(path: &str) -> Option<Route> {
    let path = path.split(['?', '#']).next().unwrap_or("");
    if let Some(rest) = path.strip_prefix("/delay/") {
        let (d, rest) = rest.split_once('/').unwrap_or((rest, ""));
        let delay = delay(d)?;
        let inner = route(&format!("/{rest}"))?;
        if inner.delay.is_some() {
            return None;
        }
        return Some(Route {
            delay: Some(delay),
            body_len: inner.body_len,
        });
    }
    if let Some(n) = path.strip_prefix("/bytes/") {
        let n: u64 = n.trim_end_matches('/').parse().ok()?;
        return (n <= MAX_BODY).then_some(Route {
            delay: None,
            body_len: n,
        });
    }
    Some(Route {
        delay: None,
        body_len: DEFAULT_BODY,
    })
}

fn delay(text: &str) -> Option<Duration> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let n: u64 = num.parse().ok()?;
    let d = match unit {
        "" | "ms" => Duration::from_millis(n),
        "us" => Duration::from_micros(n),
        "s" => Duration::from_secs(n),
        _ => return None,
    };
    (d <= MAX_DELAY).then_some(d)
}

/// Appends the response head for a 200 with `body_len` bytes.
pub fn ok_head(out: &mut Vec<u8>, body_len: u64, keep_alive: bool) {
    out.extend_from_slice(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ",
    );
    out.extend_from_slice(body_len.to_string().as_bytes());
    out.extend_from_slice(if keep_alive {
        b"\r\n\r\n".as_slice()
    } else {
        b"\r\nConnection: close\r\n\r\n".as_slice()
    });
}

/// The complete 400 response (the connection is closed after it).
pub const BAD_REQUEST: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// `len` bytes of the body pattern (byte i = i % 251) repeated: a multiple of 251 long, so any
/// slice starting at offset 0 continues the pattern when written again from its start.
pub fn pattern(len: usize) -> Vec<u8> {
    let len = (len / 251).max(1) * 251;
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn routes() {
        let r = |body_len, delay| Some(Route { delay, body_len });
        assert_eq!(route("/"), r(100, None));
        assert_eq!(route("/anything/else?x=1"), r(100, None));
        assert_eq!(route("/bytes/0"), r(0, None));
        assert_eq!(route("/bytes/1048576"), r(1_048_576, None));
        assert_eq!(route("/bytes/100?cache=no"), r(100, None));
        assert_eq!(route("/bytes/1073741825"), None);
        assert_eq!(route("/bytes/x"), None);
        assert_eq!(route("/delay/20ms"), r(100, Some(20 * MS)));
        assert_eq!(route("/delay/20/bytes/5"), r(5, Some(20 * MS)));
        assert_eq!(route("/delay/1s/x"), r(100, Some(1000 * MS)));
        assert_eq!(
            route("/delay/500us/"),
            r(100, Some(Duration::from_micros(500)))
        );
        assert_eq!(route("/delay/61s"), None);
        assert_eq!(route("/delay/5h"), None);
        assert_eq!(route("/delay/1ms/delay/1ms"), None);
    }

    #[test]
    fn requests() {
        let req = b"GET /bytes/5 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n";
        let r = parse_request(req).unwrap().unwrap();
        assert_eq!(r.head_len, 34);
        assert_eq!(r.body_len, 0);
        assert!(r.keep_alive);
        assert_eq!(
            r.route,
            Some(Route {
                delay: None,
                body_len: 5
            })
        );
        // The second request is incomplete.
        assert_eq!(parse_request(&req[34..]), Ok(None));
        // Every prefix of the first is incomplete, never an error.
        for i in 0..34 {
            assert_eq!(parse_request(&req[..i]), Ok(None), "prefix {i}");
        }
    }

    #[test]
    fn connection_handling_and_bodies() {
        let r = parse_request(b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!r.keep_alive);
        let r = parse_request(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!r.keep_alive);
        let r = parse_request(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(r.keep_alive);
        let r = parse_request(b"POST / HTTP/1.1\r\nContent-Length: 7\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r.body_len, 7);
        assert_eq!(
            parse_request(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(RequestError::BodyFraming)
        );
        assert_eq!(
            parse_request(b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
            Err(RequestError::BodyFraming)
        );
        assert_eq!(
            parse_request(b"\x00\x01 nonsense\r\n\r\n"),
            Err(RequestError::Malformed)
        );
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.resize(MAX_HEAD + 1, b'a');
        assert_eq!(parse_request(&big), Err(RequestError::TooLarge));
        let r = parse_request(b"GET /bytes/99999999999 HTTP/1.1\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r.route, None);
    }

    #[test]
    fn heads_and_pattern() {
        let mut out = Vec::new();
        ok_head(&mut out, 5, true);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 5\r\n\r\n"
        );
        out.clear();
        ok_head(&mut out, 0, false);
        assert!(out.ends_with(b"Content-Length: 0\r\nConnection: close\r\n\r\n"));
        let p = pattern(1000);
        assert_eq!(p.len(), 753);
        assert_eq!((p[0], p[250], p[251], p[752]), (0, 250, 0, 250));
    }
}
