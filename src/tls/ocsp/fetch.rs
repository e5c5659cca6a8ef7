//! The built-in OCSP fetcher: POST the request to the responder named in the certificate,
//! validate the answer, store it atomically as the `.ocsp` file.
//!
//! Job: [`fetch_staple`] (one attempt, blocking): the socket side of the HTTP/1.1 POST (the
//! framing is pure, in `http.rs`), validation, and [`write_atomic`].
//!
//! Not done here: scheduling and retries ([`super::FetchSchedule`]), swapping the staple into
//! the served certificates (the file watcher picks up the new file, or the caller uses the
//! returned [`Staple`]), HTTPS, proxies, redirects, keep-alive, GET requests (RFC 6960
//! appendix A.1 allows them; POST always works).
//!
//! Invariants: blocking `std::net` I/O bounded by one overall `timeout` (connect, write and
//! every read share the deadline) — run it on a blocking thread, never on a shard's executor;
//! loopback or not, only the URL's host is contacted; at most [`MAX_RESPONSE_LEN`] body bytes
//! are read; the `.ocsp` file is only replaced by a response that passed [`validate`], and
//! only by rename, so readers see the old file or the new one, never a mix.

use super::http::{response_body, Target, MAX_HTTP_OVERHEAD};
use super::{ocsp_request_der, validate, OcspError, Staple, MAX_RESPONSE_LEN};
use rustls::pki_types::CertificateDer;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// What went wrong talking to the responder.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("timed out")]
    Timeout,
    #[error("answered HTTP status {0}")]
    Status(u16),
    #[error("malformed HTTP response: {0}")]
    Malformed(&'static str),
    #[error("response larger than {MAX_RESPONSE_LEN} bytes")]
    TooLarge,
    #[error("connection closed before the response was complete")]
    Truncated,
}

/// Why one fetch attempt failed. The `.ocsp` file is untouched in every case.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("unsupported OCSP responder URL {url:?}: {reason}")]
    BadUrl { url: String, reason: &'static str },
    #[error("cannot build the OCSP request: {0}")]
    Request(OcspError),
    #[error("OCSP responder {url}: {source}")]
    Http { url: String, source: HttpError },
    #[error("OCSP responder {url}: {source}")]
    Invalid { url: String, source: OcspError },
    #[error("{}: cannot write: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
}

impl FetchError {
    /// Closed set of metric label values.
    pub fn label(&self) -> &'static str {
        match self {
            FetchError::BadUrl { .. } => "bad_url",
            FetchError::Request(_) => "request",
            FetchError::Http { .. } => "http",
            FetchError::Invalid { .. } => "invalid",
            FetchError::Write { .. } => "write",
        }
    }
}

/// One attempt: request a response for `chain`'s leaf from `url` (normally [`super::ocsp_url`]
/// of the leaf), validate it at `now`, write it to `ocsp_path` atomically, return it.
pub fn fetch_staple(
    url: &str,
    chain: &[CertificateDer<'_>],
    ocsp_path: &Path,
    now: SystemTime,
    timeout: Duration,
) -> Result<Staple, FetchError> {
    let target = Target::parse(url).map_err(|reason| FetchError::BadUrl {
        url: url.to_owned(),
        reason,
    })?;
    let request = ocsp_request_der(chain).map_err(FetchError::Request)?;
    let body = post(&target, &request, timeout).map_err(|source| FetchError::Http {
        url: url.to_owned(),
        source,
    })?;
    let staple = validate(&body, chain, now).map_err(|source| FetchError::Invalid {
        url: url.to_owned(),
        source,
    })?;
    write_atomic(ocsp_path, &staple.der).map_err(|source| FetchError::Write {
        path: ocsp_path.to_owned(),
        source,
    })?;
    Ok(staple)
}

/// Replaces `path` with `bytes`: a temporary file in the same directory, fsync, rename, fsync
/// of the directory. On failure the temporary file is removed and `path` is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(
        ".{}.tmp.{}.{seq}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // Make the rename itself durable.
    std::fs::File::open(dir)?.sync_all()
}

/// Time left before `deadline`, or [`HttpError::Timeout`] (never zero: std refuses a zero
/// socket timeout).
fn remaining(deadline: Instant) -> Result<Duration, HttpError> {
    deadline
        .checked_duration_since(crate::clock::now())
        .filter(|d| !d.is_zero())
        .ok_or(HttpError::Timeout)
}

fn timeout_kind(e: io::Error) -> HttpError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => HttpError::Timeout,
        _ => HttpError::Io(e),
    }
}

/// POSTs `body` to `target` and returns the response body of a 200 answer.
fn post(target: &Target, body: &[u8], timeout: Duration) -> Result<Vec<u8>, HttpError> {
    let deadline = crate::clock::now() + timeout;
    let mut last = None;
    let mut stream = None;
    for addr in (target.host.as_str(), target.port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, remaining(deadline)?) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let mut stream = match (stream, last) {
        (Some(s), _) => s,
        (None, Some(e)) => return Err(timeout_kind(e)),
        (None, None) => return Err(HttpError::Malformed("host name resolves to no address")),
    };
    stream.set_write_timeout(Some(remaining(deadline)?))?;
    stream
        .write_all(&target.request(body))
        .map_err(timeout_kind)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        stream.set_read_timeout(Some(remaining(deadline)?))?;
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(timeout_kind(e)),
        };
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_RESPONSE_LEN + MAX_HTTP_OVERHEAD {
            return Err(HttpError::TooLarge);
        }
        if let Some(body) = response_body(&buf, n == 0)? {
            return Ok(body);
        }
        if n == 0 {
            return Err(HttpError::Truncated);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::ocsp::testutil::{Pki, Signer};
    use crate::tls::ocsp::{default_ocsp_path, ocsp_url};
    use crate::tls::testutil::TempDir;
    use std::net::TcpListener;
    use std::thread::JoinHandle;

    const TIMEOUT: Duration = Duration::from_secs(10);

    /// Temporary files left beside `path` by `write_atomic`.
    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp."))
            .collect()
    }

    #[test]
    fn fetches_from_openssl_responder_and_keeps_file_when_it_is_down() {
        let pki = Pki::ca_only("fetch-real");
        let mut responder = pki.spawn_responder(Signer::Delegate);
        pki.make_leaves(Some(&responder.url()));
        let chain = pki.chain("good");
        let url = ocsp_url(&chain[0]).unwrap();
        assert_eq!(url, format!("http://127.0.0.1:{}/", responder.port));
        let path = default_ocsp_path(&pki.dir.join("good.pem"));

        let staple = fetch_staple(&url, &chain, &path, pki.now(), TIMEOUT).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), staple.der);
        let window = staple.next_update.duration_since(staple.this_update);
        assert_eq!(window.ok(), Some(Duration::from_secs(86_400)));
        let again = fetch_staple(&url, &chain, &path, pki.now(), TIMEOUT).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), again.der);
        assert_eq!(leftovers(pki.dir.path()), Vec::<String>::new());

        // The responder says revoked: an error, and no file is written.
        let revoked = pki.chain("revoked");
        let rpath = default_ocsp_path(&pki.dir.join("revoked.pem"));
        let e = fetch_staple(&url, &revoked, &rpath, pki.now(), TIMEOUT).unwrap_err();
        assert!(
            matches!(
                &e,
                FetchError::Invalid {
                    source: OcspError::Revoked { .. },
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(!rpath.exists());

        // Responder down: an error naming it; the previous file is untouched.
        responder.stop();
        let e = fetch_staple(&url, &chain, &path, pki.now(), TIMEOUT).unwrap_err();
        assert!(
            matches!(
                &e,
                FetchError::Http {
                    source: HttpError::Io(_),
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .starts_with(&format!("OCSP responder {url}: ")),
            "{e}"
        );
        assert_eq!(e.label(), "http");
        assert_eq!(std::fs::read(&path).unwrap(), again.der);
    }

    /// A one-connection HTTP server on loopback: reads the request (head + Content-Length
    /// body), answers `reply` (or nothing, holding the connection until the client closes),
    /// and returns the request bytes.
    fn serve_once(reply: Option<Vec<u8>>) -> (String, JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/ocsp", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(TIMEOUT)).unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = s.read(&mut buf).unwrap();
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).into_owned();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len: usize = text
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .unwrap()
                        .parse()
                        .unwrap();
                    if got.len() >= end + 4 + len {
                        break;
                    }
                }
                assert!(n > 0, "client closed before sending its request");
            }
            match reply {
                Some(r) => s.write_all(&r).unwrap(),
                // Wait for the client to give up.
                None => while s.read(&mut buf).unwrap() > 0 {},
            }
            got
        });
        (url, handle)
    }

    #[test]
    fn sends_a_proper_post_and_refuses_bad_answers() {
        let pki = Pki::new("fetch-fake", None);
        let chain = pki.chain("good");
        let path = pki.dir.join("good.pem.ocsp");
        let now = pki.now();

        let (url, server) = serve_once(Some(
            b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n".to_vec(),
        ));
        let e = fetch_staple(&url, &chain, &path, now, TIMEOUT).unwrap_err();
        assert!(
            matches!(
                &e,
                FetchError::Http {
                    source: HttpError::Status(500),
                    ..
                }
            ),
            "{e:?}"
        );
        let request = server.join().unwrap();
        let der = ocsp_request_der(&chain).unwrap();
        let head = format!(
            "POST /ocsp HTTP/1.1\r\nHost: {}\r\nContent-Type: application/ocsp-request\r\n",
            &url[7..url.len() - 5]
        );
        assert!(request.starts_with(head.as_bytes()), "{request:?}");
        assert!(request.ends_with(&der));

        let mut garbage = b"HTTP/1.0 200 OK\r\n\r\n".to_vec();
        garbage.extend_from_slice(b"not DER");
        let (url, server) = serve_once(Some(garbage));
        let e = fetch_staple(&url, &chain, &path, now, TIMEOUT).unwrap_err();
        assert!(
            matches!(
                &e,
                FetchError::Invalid {
                    source: OcspError::Malformed(_),
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.label(), "invalid");
        server.join().unwrap();

        // A valid response but for another certificate, chunked.
        let other = pki.respond("revoked", Signer::Ca);
        let mut chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        chunked.extend_from_slice(format!("{:x}\r\n", other.len()).as_bytes());
        chunked.extend_from_slice(&other);
        chunked.extend_from_slice(b"\r\n0\r\n\r\n");
        let (url, server) = serve_once(Some(chunked));
        let e = fetch_staple(&url, &chain, &path, now, TIMEOUT).unwrap_err();
        assert!(
            matches!(
                &e,
                FetchError::Invalid {
                    source: OcspError::WrongCertificate { .. },
                    ..
                }
            ),
            "{e:?}"
        );
        server.join().unwrap();

        // No answer at all: the overall timeout.
        let (url, server) = serve_once(None);
        let short = Duration::from_millis(300);
        let e = fetch_staple(&url, &chain, &path, now, short).unwrap_err();
        assert!(
            matches!(
                &e,
                FetchError::Http {
                    source: HttpError::Timeout,
                    ..
                }
            ),
            "{e:?}"
        );
        server.join().unwrap();
        assert!(!path.exists());

        // Good answer, Content-Length framed: stored.
        let good = pki.respond("good", Signer::Delegate);
        let mut ok =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", good.len()).into_bytes();
        ok.extend_from_slice(&good);
        let (url, server) = serve_once(Some(ok));
        let staple = fetch_staple(&url, &chain, &path, now, TIMEOUT).unwrap();
        assert_eq!(staple.der, good);
        assert_eq!(std::fs::read(&path).unwrap(), good);
        server.join().unwrap();
    }

    #[test]
    fn bad_url_and_chain_fail_before_any_connection() {
        let pki = Pki::new("fetch-url", None);
        let chain = pki.chain("good");
        let path = pki.dir.join("x.ocsp");
        let e =
            fetch_staple("https://ocsp.example/", &chain, &path, pki.now(), TIMEOUT).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unsupported OCSP responder URL \"https://ocsp.example/\": only http:// URLs are supported"
        );
        assert_eq!(e.label(), "bad_url");
        let e = fetch_staple(
            "http://127.0.0.1:9/",
            &chain[..1],
            &path,
            pki.now(),
            TIMEOUT,
        )
        .unwrap_err();
        assert!(
            matches!(e, FetchError::Request(OcspError::NoIssuer)),
            "{e:?}"
        );
    }

    #[test]
    fn write_atomic_replaces_and_cleans_up() {
        let dir = TempDir::new("ocsp-atomic");
        let path = dir.join("a.pem.ocsp");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(leftovers(dir.path()), Vec::<String>::new());
        let missing = dir.join("no/such/dir/a.ocsp");
        let e = write_atomic(&missing, b"x").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        // Renaming over a directory fails: the temporary file is removed.
        let blocker = dir.join("blocker");
        std::fs::create_dir(&blocker).unwrap();
        std::fs::write(blocker.join("f"), b"keep").unwrap();
        assert!(write_atomic(&blocker, b"x").is_err());
        assert_eq!(leftovers(dir.path()), Vec::<String>::new());
        assert_eq!(std::fs::read(blocker.join("f")).unwrap(), b"keep");
    }
}
