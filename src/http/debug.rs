//! The trusted debug header, like ATS's `X-ATS-Debug`: a request carrying
//! `X-Tlsterm-Debug: timers` from a trusted network (`[debug] networks`, default loopback)
//! gets its timers, shard, backend and termination state so far in an `X-Tlsterm-Debug`
//! response header. Sans-IO: recognising the request and formatting the value.
//!
//! Value: `shard=0; backend=unix:/run/varnish.sock; TR=0; Tw=0; Tc=1; Tr=3; internal_us=180;
//! term=--` — HAProxy's timers in ms (TR request head, Tw queue, Tc connect, Tr cache response;
//! -1 when the phase did not happen), the proxy-internal latency up to the response head in
//! µs, and the termination state at the time the head is written (`--` unless something
//! already went wrong; the final state and Ta are in the access log, which this header cannot
//! wait for).
//!
//! What it does not do: decide trust (the proxy checks the client address) or write the field
//! (the fronts do, into the HTTP/1.1 head or the HTTP/2 HEADERS). The request field itself is
//! never forwarded to the cache ([`super::rewrite`]).
use super::head::list_elements;
use super::request::RequestHead;
use crate::sli::Timers;
use std::fmt::Write;

/// The field name, in requests and responses.
pub const FIELD: &str = "X-Tlsterm-Debug";

/// The request asks for timers (`X-Tlsterm-Debug` with a `timers` element, any case).
pub fn wants_timers(head: &RequestHead) -> bool {
    head.headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(FIELD))
        .any(|h| list_elements(&h.value).any(|e| e.eq_ignore_ascii_case(b"timers")))
}

/// What the response header reports.
#[derive(Debug, Clone, Copy)]
pub struct DebugFacts<'a> {
    pub shard: usize,
    pub backend: &'a str,
    pub timers: Timers,
    /// Proxy-internal latency up to the response head, µs.
    pub internal_us: u64,
    /// Termination state so far (`--` for a normal exchange).
    pub term: &'a str,
}

/// The response header's value (printable ASCII only: a backend name with anything else is
/// replaced by `?`).
pub fn value(f: &DebugFacts<'_>) -> String {
    let backend: String = f
        .backend
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect();
    let t = &f.timers;
    let mut s = String::with_capacity(128);
    // Writing to a String cannot fail.
    let _ = write!(
        s,
        "shard={}; backend={backend}; TR={}; Tw={}; Tc={}; Tr={}; internal_us={}; term={}",
        f.shard, t.tr_request, t.tw_queue, t.tc_connect, t.tr_response, f.internal_us, f.term
    );
    s
}

/// Adds `FIELD: value` to a complete HTTP/1.1 response head in `out` (ending in the empty
/// line), before that empty line.
pub fn append_to_head(out: &mut Vec<u8>, value: &str) {
    if out.ends_with(b"\r\n\r\n") {
        out.truncate(out.len() - 2);
        super::head::push_field(out, FIELD.as_bytes(), value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::parse_request_head;
    use crate::http::Limits;

    fn head(text: &str) -> RequestHead {
        parse_request_head(text.as_bytes(), &Limits::default())
            .unwrap()
            .unwrap()
    }

    #[test]
    fn recognises_the_timers_element() {
        for (field, want) in [
            ("X-Tlsterm-Debug: timers\r\n", true),
            ("x-tlsterm-debug: other, TIMERS\r\n", true),
            ("X-Tlsterm-Debug: timer\r\n", false),
            ("X-Other: timers\r\n", false),
            ("", false),
        ] {
            let h = head(&format!("GET / HTTP/1.1\r\nHost: a\r\n{field}\r\n"));
            assert_eq!(wants_timers(&h), want, "{field:?}");
        }
    }

    #[test]
    fn value_format() {
        let v = value(&DebugFacts {
            shard: 1,
            backend: "unix:/run/varnish.sock",
            timers: Timers {
                tr_request: 0,
                tw_queue: 0,
                tc_connect: 2,
                tr_response: 15,
                ta_total: -1,
            },
            internal_us: 180,
            term: "--",
        });
        assert_eq!(
            v,
            "shard=1; backend=unix:/run/varnish.sock; TR=0; Tw=0; Tc=2; Tr=15; internal_us=180; term=--"
        );
        let odd = value(&DebugFacts {
            backend: "unix:/a b\r\n",
            ..DebugFacts {
                shard: 0,
                backend: "",
                timers: Timers {
                    tr_request: -1,
                    tw_queue: -1,
                    tc_connect: -1,
                    tr_response: -1,
                    ta_total: -1,
                },
                internal_us: 0,
                term: "--",
            }
        });
        assert!(odd.contains("backend=unix:/a?b??;"), "{odd}");
    }

    #[test]
    fn appended_before_the_empty_line() {
        let mut out = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec();
        append_to_head(&mut out, "shard=0");
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Tlsterm-Debug: shard=0\r\n\r\n"
        );
        let mut partial = b"HTTP/1.1 200 OK\r\n".to_vec();
        append_to_head(&mut partial, "x");
        assert_eq!(
            partial, b"HTTP/1.1 200 OK\r\n",
            "not a complete head: untouched"
        );
    }
}
