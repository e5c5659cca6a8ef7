//! HTTP/1.1 framing for the OCSP fetcher, without I/O: the responder URL taken apart, the POST
//! request bytes, and the response body out of the bytes received so far.
//!
//! Job: [`Target::parse`], [`Target::request`], [`response_body`] — everything `fetch.rs` needs
//! to speak HTTP, pure so that it is tested on every prefix of real responses.
//!
//! Not done here: sockets and timeouts (`fetch.rs`); HTTPS, proxies, redirects, keep-alive,
//! content codings; response header values other than the framing ones are ignored.
//!
//! Invariants: never panics on received bytes; never yields more than [`MAX_RESPONSE_LEN`] body
//! bytes; `response_body(buf, true)` never answers "read more".

use super::fetch::HttpError;
use super::MAX_RESPONSE_LEN;

/// Response head and chunk framing allowed on top of the body.
pub(super) const MAX_HTTP_OVERHEAD: usize = 16 * 1024;

/// An `http://` URL taken apart.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Target {
    /// Host name or IP address (IPv6 without brackets).
    pub(super) host: String,
    pub(super) port: u16,
    /// `host[:port]` as written in the URL, for the Host header.
    pub(super) authority: String,
    /// Path and query, at least `/`.
    pub(super) path: String,
}

impl Target {
    pub(super) fn parse(url: &str) -> Result<Target, &'static str> {
        let rest = url
            .get(..7)
            .filter(|s| s.eq_ignore_ascii_case("http://"))
            .and_then(|_| url.get(7..))
            .ok_or("only http:// URLs are supported")?;
        if rest.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err("space or control character in the URL");
        }
        let rest = rest.split('#').next().unwrap_or("");
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        if authority.contains('@') {
            return Err("user information in the URL is not supported");
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or("unclosed '[' in the host")?;
            match after {
                "" => (host, None),
                p => (host, Some(p.strip_prefix(':').ok_or("junk after ']'")?)),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err("no host in the URL");
        }
        let port = match port {
            None | Some("") => 80,
            Some(p) => p.parse::<u16>().map_err(|_| "invalid port")?,
        };
        let path = match path {
            "" => "/".to_owned(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_owned(),
        };
        Ok(Target {
            host: host.to_owned(),
            port,
            authority: authority.to_owned(),
            path,
        })
    }

    /// The complete HTTP/1.1 POST carrying `body`.
    pub(super) fn request(&self, body: &[u8]) -> Vec<u8> {
        let mut req = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/ocsp-request\r\n\
             Accept: application/ocsp-response\r\nContent-Length: {}\r\n\
             Connection: close\r\nUser-Agent: tlsterm\r\n\r\n",
            self.path,
            self.authority,
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body);
        req
    }
}

/// The body of the HTTP response in `buf` once complete (`Ok(None)`: read more). `eof`: the
/// peer closed, so `buf` is all there is (then the answer is never `Ok(None)`).
pub(super) fn response_body(buf: &[u8], eof: bool) -> Result<Option<Vec<u8>>, HttpError> {
    let mut buf = buf;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        let head_len = match resp.parse(buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if eof => return Err(HttpError::Truncated),
            Ok(httparse::Status::Partial) if buf.len() > MAX_HTTP_OVERHEAD => {
                return Err(HttpError::Malformed("response head too large"))
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(HttpError::Malformed("invalid response head")),
        };
        let code = resp.code.unwrap_or(0);
        if (100..200).contains(&code) && code != 101 {
            // Interim response (e.g. 100 Continue): the real one follows. A loop, not
            // recursion: a responder may send thousands of them.
            buf = &buf[head_len..];
            continue;
        }
        if code != 200 {
            return Err(HttpError::Status(code));
        }
        return body_after_head(resp.headers, &buf[head_len..], eof);
    }
}

/// The body following a 200 head with `headers`.
fn body_after_head(
    headers: &[httparse::Header<'_>],
    rest: &[u8],
    eof: bool,
) -> Result<Option<Vec<u8>>, HttpError> {
    let mut chunked = false;
    let mut length: Option<usize> = None;
    for h in headers {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = true;
            let v = std::str::from_utf8(h.value).unwrap_or("");
            if !v.trim().eq_ignore_ascii_case("chunked") {
                return Err(HttpError::Malformed("unsupported transfer-encoding"));
            }
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or(HttpError::Malformed("invalid content-length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(HttpError::Malformed("conflicting content-length"));
            }
            length = Some(n);
        }
    }
    if chunked {
        return dechunk(rest, eof);
    }
    match length {
        Some(n) if n > MAX_RESPONSE_LEN => Err(HttpError::TooLarge),
        Some(n) if rest.len() >= n => Ok(Some(rest[..n].to_vec())),
        Some(_) if eof => Err(HttpError::Truncated),
        Some(_) => Ok(None),
        None if rest.len() > MAX_RESPONSE_LEN => Err(HttpError::TooLarge),
        None if eof => Ok(Some(rest.to_vec())),
        None => Ok(None),
    }
}

/// Decodes a complete chunked body (trailers skipped); `Ok(None)` while incomplete.
fn dechunk(data: &[u8], eof: bool) -> Result<Option<Vec<u8>>, HttpError> {
    let more = || {
        if eof {
            Err(HttpError::Truncated)
        } else {
            Ok(None)
        }
    };
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let Some(line_len) = find_crlf(&data[pos..]) else {
            return more();
        };
        let line = &data[pos..pos + line_len];
        let size_text = line.split(|&b| b == b';').next().unwrap_or(b"");
        let size = std::str::from_utf8(size_text)
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
            .ok_or(HttpError::Malformed("invalid chunk size"))?;
        pos += line_len + 2;
        if size == 0 {
            // Trailer section: header lines, then an empty line.
            loop {
                let Some(len) = find_crlf(&data[pos..]) else {
                    return more();
                };
                pos += len + 2;
                if len == 0 {
                    return Ok(Some(out));
                }
            }
        }
        if size > MAX_RESPONSE_LEN || out.len() + size > MAX_RESPONSE_LEN {
            return Err(HttpError::TooLarge);
        }
        let Some(chunk) = data.get(pos..pos + size + 2) else {
            return more();
        };
        if &chunk[size..] != b"\r\n" {
            return Err(HttpError::Malformed("chunk not followed by CRLF"));
        }
        out.extend_from_slice(&chunk[..size]);
        pos += size + 2;
    }
}

fn find_crlf(data: &[u8]) -> Option<usize> {
    data.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Result<(String, u16, String, String), &'static str> {
        Target::parse(url).map(|t| (t.host, t.port, t.authority, t.path))
    }

    fn t(host: &str, port: u16, authority: &str, path: &str) -> (String, u16, String, String) {
        (host.into(), port, authority.into(), path.into())
    }

    #[test]
    fn urls() {
        assert_eq!(
            target("http://ocsp.example.com"),
            Ok(t("ocsp.example.com", 80, "ocsp.example.com", "/"))
        );
        assert_eq!(
            target("HTTP://r3.o.lencr.org/"),
            Ok(t("r3.o.lencr.org", 80, "r3.o.lencr.org", "/"))
        );
        assert_eq!(
            target("http://127.0.0.1:8888/ocsp/x?y=1#frag"),
            Ok(t("127.0.0.1", 8888, "127.0.0.1:8888", "/ocsp/x?y=1"))
        );
        assert_eq!(target("http://[::1]:9/"), Ok(t("::1", 9, "[::1]:9", "/")));
        assert_eq!(target("http://[::1]"), Ok(t("::1", 80, "[::1]", "/")));
        assert_eq!(target("http://h?q"), Ok(t("h", 80, "h", "/?q")));
        assert_eq!(target("http://h:/"), Ok(t("h", 80, "h:", "/")));
        for (url, reason) in [
            ("https://ocsp.example/", "only http:// URLs are supported"),
            ("ftp://x/", "only http:// URLs are supported"),
            ("http:/", "only http:// URLs are supported"),
            ("", "only http:// URLs are supported"),
            ("http://", "no host in the URL"),
            ("http://:80/", "no host in the URL"),
            (
                "http://u:p@host/",
                "user information in the URL is not supported",
            ),
            ("http://host:99999/", "invalid port"),
            ("http://host:x/", "invalid port"),
            ("http://[::1/", "unclosed '[' in the host"),
            ("http://[::1]x/", "junk after ']'"),
            ("http://host/a b", "space or control character in the URL"),
            (
                "http://host/\r\nX: y",
                "space or control character in the URL",
            ),
            ("htt\u{e9}://h/", "only http:// URLs are supported"),
        ] {
            assert_eq!(target(url), Err(reason), "{url}");
        }
    }

    #[test]
    fn request_bytes() {
        let t = Target::parse("http://127.0.0.1:8888/ocsp").unwrap();
        let req = t.request(b"\x30\x03abc");
        let want = "POST /ocsp HTTP/1.1\r\nHost: 127.0.0.1:8888\r\n\
                    Content-Type: application/ocsp-request\r\n\
                    Accept: application/ocsp-response\r\nContent-Length: 5\r\n\
                    Connection: close\r\nUser-Agent: tlsterm\r\n\r\n\x30\x03abc";
        assert_eq!(String::from_utf8(req).unwrap(), want);
    }

    const HEAD: &str = "HTTP/1.0 200 OK\r\nContent-Type: application/ocsp-response\r\n";

    /// Every strict prefix needs more bytes (or, at EOF, is truncated); the whole gives `body`.
    fn every_prefix(resp: &[u8], body: &[u8]) {
        for len in 0..resp.len() {
            assert_eq!(response_body(&resp[..len], false).unwrap(), None, "{len}");
            let e = response_body(&resp[..len], true).unwrap_err();
            assert!(matches!(e, HttpError::Truncated), "{len}: {e:?}");
        }
        assert_eq!(response_body(resp, false).unwrap().unwrap(), body);
        assert_eq!(response_body(resp, true).unwrap().unwrap(), body);
    }

    #[test]
    fn content_length_body_every_prefix() {
        let resp = format!("{HEAD}Content-Length: 7\r\n\r\n0123456");
        every_prefix(resp.as_bytes(), b"0123456");
        // Extra bytes after the declared length are ignored.
        let more = format!("{HEAD}Content-Length: 2\r\n\r\nabcdef");
        assert_eq!(
            response_body(more.as_bytes(), false).unwrap().unwrap(),
            b"ab"
        );
        let empty = format!("{HEAD}Content-Length: 0\r\n\r\n");
        assert_eq!(
            response_body(empty.as_bytes(), false).unwrap().unwrap(),
            b""
        );
    }

    #[test]
    fn chunked_body_every_prefix() {
        let resp = format!(
            "{HEAD}Transfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n\
             A\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n"
        );
        every_prefix(resp.as_bytes(), b"abc0123456789");
        let plain_end = format!("{HEAD}Transfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n");
        every_prefix(plain_end.as_bytes(), b"z");
        for bad in ["g\r\n", "3\r\nabcX\r\n", "-1\r\n"] {
            let r = format!("{HEAD}Transfer-Encoding: chunked\r\n\r\n{bad}");
            let e = response_body(r.as_bytes(), false).unwrap_err();
            assert!(matches!(e, HttpError::Malformed(_)), "{bad:?}: {e:?}");
        }
        let big = format!("{HEAD}Transfer-Encoding: chunked\r\n\r\nFFFFFFFF\r\n");
        let e = response_body(big.as_bytes(), false).unwrap_err();
        assert!(matches!(e, HttpError::TooLarge), "{e:?}");
        let gzip = format!("{HEAD}Transfer-Encoding: gzip, chunked\r\n\r\n");
        let e = response_body(gzip.as_bytes(), false).unwrap_err();
        assert!(matches!(
            e,
            HttpError::Malformed("unsupported transfer-encoding")
        ));
    }

    #[test]
    fn close_delimited_body() {
        let resp = format!("{HEAD}\r\nxyz");
        assert_eq!(response_body(resp.as_bytes(), false).unwrap(), None);
        assert_eq!(
            response_body(resp.as_bytes(), true).unwrap().unwrap(),
            b"xyz"
        );
        let mut big = format!("{HEAD}\r\n").into_bytes();
        big.resize(big.len() + MAX_RESPONSE_LEN + 1, b'x');
        assert!(matches!(
            response_body(&big, false),
            Err(HttpError::TooLarge)
        ));
    }

    #[test]
    fn statuses_and_bad_heads() {
        let r = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n";
        assert!(matches!(
            response_body(r, false),
            Err(HttpError::Status(500))
        ));
        let r = b"HTTP/1.1 404 Not Found\r\n\r\n";
        assert!(matches!(
            response_body(r, true),
            Err(HttpError::Status(404))
        ));
        let r = format!("HTTP/1.1 100 Continue\r\n\r\n{HEAD}Content-Length: 1\r\n\r\nq");
        assert_eq!(response_body(r.as_bytes(), false).unwrap().unwrap(), b"q");
        let mut many = "HTTP/1.1 100 Continue\r\n\r\n".repeat(4000);
        many.push_str(&format!("{HEAD}Content-Length: 1\r\n\r\nw"));
        assert_eq!(
            response_body(many.as_bytes(), false).unwrap().unwrap(),
            b"w"
        );
        let r = b"HTTP/1.1 100 Continue\r\n\r\n";
        assert_eq!(response_body(r, false).unwrap(), None);
        assert!(matches!(response_body(r, true), Err(HttpError::Truncated)));
        let r = b"SSH-2.0-OpenSSH\r\n\r\n";
        assert!(matches!(
            response_body(r, false),
            Err(HttpError::Malformed(_))
        ));
        let r = format!("{HEAD}Content-Length: 1\r\nContent-Length: 2\r\n\r\nab");
        let e = response_body(r.as_bytes(), false).unwrap_err();
        assert!(matches!(
            e,
            HttpError::Malformed("conflicting content-length")
        ));
        let r = format!("{HEAD}Content-Length: -1\r\n\r\n");
        let e = response_body(r.as_bytes(), false).unwrap_err();
        assert!(matches!(e, HttpError::Malformed("invalid content-length")));
        let r = format!("{HEAD}Content-Length: {}\r\n\r\n", MAX_RESPONSE_LEN + 1);
        assert!(matches!(
            response_body(r.as_bytes(), false),
            Err(HttpError::TooLarge)
        ));
        let mut endless = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        endless.resize(MAX_HTTP_OVERHEAD + 1, b'a');
        let e = response_body(&endless, false).unwrap_err();
        assert!(matches!(e, HttpError::Malformed("response head too large")));
    }
}
