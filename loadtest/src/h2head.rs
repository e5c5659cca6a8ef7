//! The HTTP/2 request of the `h2` scenario, built once from the [`RequestSpec`] and checked when
//! the plan is made, so a shard never meets a request it cannot send.
//!
//! Job: turn `--host`, `--path` and `--header` into an absolute `https://HOST/PATH` URI (the h2
//! crate takes `:scheme`, `:authority` and `:path` from it) and a header map, refusing what
//! HTTP/2 forbids: connection-specific headers (RFC 9113 §8.2.2) and a `Host` header next to
//! `:authority` (use `--host`).
//!
//! What it does not do: send anything (see [`crate::scenario::h2`]).
//!
//! Invariant: a [`Head`] always yields a request the h2 client accepts (GET, absolute URI, no
//! forbidden header).

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Uri};

use crate::plan::RequestSpec;

/// Why the request cannot be sent over HTTP/2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    #[error("cannot make an HTTP/2 request URI of host {host:?} and path {path:?}")]
    Uri { host: String, path: String },
    #[error("header {0:?} is not a valid HTTP/2 header")]
    Header(String),
    #[error("header {0:?} is connection-specific: HTTP/2 forbids it")]
    ConnectionSpecific(String),
    #[error("a Host header is not sent over HTTP/2: use --host (it becomes :authority)")]
    Host,
}

/// Headers HTTP/2 forbids (RFC 9113 §8.2.2); `te` is allowed only as `trailers`.
const CONNECTION_SPECIFIC: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// One checked GET, cheap to turn into a request (`Uri` and `HeaderMap` clone shared bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    uri: Uri,
    headers: HeaderMap,
}

impl Head {
    pub fn new(spec: &RequestSpec) -> Result<Head, HeadError> {
        let uri: Uri = format!("https://{}{}", spec.host, spec.path)
            .parse()
            .map_err(|_| HeadError::Uri {
                host: spec.host.clone(),
                path: spec.path.clone(),
            })?;
        let mut headers = HeaderMap::new();
        for (name, value) in &spec.headers {
            let bad = || HeadError::Header(name.clone());
            let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
            let v = HeaderValue::from_str(value).map_err(|_| bad())?;
            if n == http::header::HOST {
                return Err(HeadError::Host);
            }
            let te_other = n == http::header::TE && !value.eq_ignore_ascii_case("trailers");
            if te_other || CONNECTION_SPECIFIC.contains(&n.as_str()) {
                return Err(HeadError::ConnectionSpecific(name.clone()));
            }
            headers.append(n, v);
        }
        Ok(Head { uri, headers })
    }

    /// A fresh GET request (end of stream after the headers).
    pub fn request(&self) -> Request<()> {
        let mut r = Request::new(());
        *r.method_mut() = Method::GET;
        *r.uri_mut() = self.uri.clone();
        *r.headers_mut() = self.headers.clone();
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(host: &str, path: &str, headers: &[(&str, &str)]) -> RequestSpec {
        RequestSpec {
            path: path.into(),
            host: host.into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            send: true,
        }
    }

    #[test]
    fn builds_an_absolute_get_with_the_extra_headers() {
        let h = Head::new(&spec(
            "127.0.0.1:8443",
            "/bytes/10?x=1",
            &[("X-Test", "a"), ("accept", "*/*"), ("x-test", "b")],
        ))
        .unwrap();
        let r = h.request();
        assert_eq!(r.method(), Method::GET);
        assert_eq!(r.uri().scheme_str(), Some("https"));
        assert_eq!(r.uri().authority().unwrap().as_str(), "127.0.0.1:8443");
        assert_eq!(r.uri().path_and_query().unwrap().as_str(), "/bytes/10?x=1");
        let xs: Vec<_> = r.headers().get_all("x-test").iter().collect();
        assert_eq!(xs, vec!["a", "b"]);
        assert_eq!(r.headers().get("accept").unwrap(), "*/*");
        assert_eq!(r.headers().len(), 3);
        // Each call gives an equal, independent request.
        assert_eq!(h.request().uri(), r.uri());
    }

    #[test]
    fn refuses_what_http2_forbids() {
        let e = |hs: &[(&str, &str)]| Head::new(&spec("localhost", "/", hs)).unwrap_err();
        assert_eq!(
            e(&[("Connection", "close")]),
            HeadError::ConnectionSpecific("Connection".into())
        );
        assert_eq!(
            e(&[("transfer-encoding", "chunked")]),
            HeadError::ConnectionSpecific("transfer-encoding".into())
        );
        assert_eq!(
            e(&[("TE", "gzip")]),
            HeadError::ConnectionSpecific("TE".into())
        );
        assert_eq!(e(&[("Host", "x")]), HeadError::Host);
        assert_eq!(
            e(&[("bad name", "x")]),
            HeadError::Header("bad name".into())
        );
        // `te: trailers` is the one allowed value.
        assert!(Head::new(&spec("localhost", "/", &[("te", "Trailers")])).is_ok());
    }

    #[test]
    fn refuses_an_unusable_authority() {
        assert_eq!(
            Head::new(&spec("a b", "/", &[])).unwrap_err(),
            HeadError::Uri {
                host: "a b".into(),
                path: "/".into()
            }
        );
    }
}
