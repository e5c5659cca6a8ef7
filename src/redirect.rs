//! The plain-HTTP (:80) listener's decisions: `GET`/`HEAD` → `301` to the same URL over https
//! (Host preserved without its port, path and query kept), other methods → `403`, and paths
//! under a configured exempt prefix (e.g. `/.well-known/acme-challenge/`) proxied to the cache
//! as plain HTTP (`X-Forwarded-Proto: http`). Answers given here are logged with the
//! termination state `LR`. Sans-IO.
//!
//! What it does not do: TLS, or anything on the TLS listeners.

use crate::http::local::reason_phrase;
use crate::http::Method;

/// What to do with one request on the plain-HTTP listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlainAnswer {
    /// `301 Moved Permanently` to this https URL.
    Redirect(String),
    /// `403 Forbidden` (not GET/HEAD, or no Host to redirect to).
    Forbidden,
    /// An exempt path: forward to the cache.
    Proxy,
}

/// Decides the answer for a request on the plain-HTTP listener.
pub fn decide(method: &Method, host: Option<&str>, target: &str, exempt: &[String]) -> PlainAnswer {
    // Absolute-form targets (`http://host/path`) carry their own path.
    let path = match target.strip_prefix("http://") {
        Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => target,
    };
    if exempt.iter().any(|p| path.starts_with(p.as_str())) {
        return PlainAnswer::Proxy;
    }
    if !matches!(method, Method::Get | Method::Head) {
        return PlainAnswer::Forbidden;
    }
    let Some(host) = host.map(strip_port).filter(|h| !h.is_empty()) else {
        return PlainAnswer::Forbidden;
    };
    let path = if path.starts_with('/') { path } else { "/" };
    PlainAnswer::Redirect(format!("https://{host}{path}"))
}

/// `example.org:80` → `example.org`; `[2001:db8::1]:80` → `[2001:db8::1]`.
fn strip_port(host: &str) -> &str {
    if let Some(end) = host.strip_prefix('[').and_then(|h| h.find(']')) {
        return &host[..end + 2];
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

/// Writes the complete local answer (`301` with Location, or `403`).
pub fn write_answer(answer: &PlainAnswer, close: bool, out: &mut Vec<u8>) -> u16 {
    let (status, location) = match answer {
        PlainAnswer::Redirect(url) => (301, Some(url.as_str())),
        _ => (403, None),
    };
    let body = format!("{status} {}\n", reason_phrase(status));
    out.extend_from_slice(format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status)).as_bytes());
    if let Some(url) = location {
        out.extend_from_slice(b"Location: ");
        out.extend_from_slice(url.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(
        format!(
            "Content-Type: text/plain\r\nContent-Length: {}\r\nCache-Control: no-store\r\n",
            body.len()
        )
        .as_bytes(),
    );
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body.as_bytes());
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acme() -> Vec<String> {
        vec!["/.well-known/acme-challenge/".to_string()]
    }

    #[test]
    fn get_and_head_redirect_keeping_path_and_query() {
        assert_eq!(
            decide(&Method::Get, Some("example.org"), "/a/b?c=d", &acme()),
            PlainAnswer::Redirect("https://example.org/a/b?c=d".into())
        );
        assert_eq!(
            decide(&Method::Head, Some("example.org:80"), "/", &acme()),
            PlainAnswer::Redirect("https://example.org/".into())
        );
        assert_eq!(
            decide(&Method::Get, Some("[2001:db8::1]:80"), "/x", &[]),
            PlainAnswer::Redirect("https://[2001:db8::1]/x".into())
        );
        assert_eq!(
            decide(
                &Method::Get,
                Some("example.org"),
                "http://example.org/p?q",
                &[]
            ),
            PlainAnswer::Redirect("https://example.org/p?q".into())
        );
    }

    #[test]
    fn other_methods_and_missing_host_are_forbidden() {
        assert_eq!(
            decide(&Method::Post, Some("example.org"), "/", &acme()),
            PlainAnswer::Forbidden
        );
        assert_eq!(
            decide(&Method::Get, None, "/", &acme()),
            PlainAnswer::Forbidden
        );
    }

    #[test]
    fn exempt_paths_are_proxied_whatever_the_method() {
        for m in [Method::Get, Method::Post] {
            assert_eq!(
                decide(&m, Some("a"), "/.well-known/acme-challenge/tok", &acme()),
                PlainAnswer::Proxy
            );
        }
        assert_eq!(
            decide(&Method::Get, Some("a"), "/.well-known/other", &acme()),
            PlainAnswer::Redirect("https://a/.well-known/other".into())
        );
    }

    #[test]
    fn answers_are_complete_responses() {
        let mut out = Vec::new();
        let status = write_answer(
            &PlainAnswer::Redirect("https://a/b".into()),
            false,
            &mut out,
        );
        assert_eq!(status, 301);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 301 Moved Permanently\r\nLocation: https://a/b\r\n"));
        assert!(text.ends_with("\r\n\r\n301 Moved Permanently\n"), "{text}");
        let mut out = Vec::new();
        assert_eq!(write_answer(&PlainAnswer::Forbidden, true, &mut out), 403);
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("Connection: close\r\n"));
    }
}
