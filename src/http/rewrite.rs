//! The request head written to the cache layer: client-supplied forwarding headers removed,
//! hop-by-hop headers removed, X-Client-IP / X-Client-Port / X-Forwarded-Proto /
//! X-Forwarded-For / X-Connection-Properties added. Sans-IO.
//!
//! Output shape: `<METHOD> <target> HTTP/1.1`, the client's fields in their order minus the
//! removed ones, then `X-Forwarded-For` (client values joined with `, ` and the client IP
//! appended, in one field), `X-Client-IP`, `X-Client-Port`, `X-Forwarded-Proto: https`,
//! `X-Connection-Properties`.
//!
//! Removed: client copies of X-Client-IP, X-Client-Port, X-Forwarded-Proto, X-Forwarded-Host,
//! X-Forwarded-Port, X-Connection-Properties (the client never sets them), X-Tlsterm-Debug
//! (a request to tlsterm itself, see [`super::debug`]), hop-by-hop fields
//! (Connection, Keep-Alive, Proxy-Connection, TE, Upgrade) and the fields the client's
//! Connection header lists, except Host, Content-Length, Transfer-Encoding and Expect, which are
//! always kept (the body is forwarded verbatim with the client's framing).
//!
//! Not done: no `Connection` field is ever written (HTTP/1.1 upstream connections are kept
//! alive by default); no Host is invented for an HTTP/1.0 request without one. Writes go
//! straight into `out`; nothing is allocated per field.
use super::head::{self, push_decimal, push_field};
use super::request::RequestHead;
use std::io::Write;
use std::net::IpAddr;

/// Client-supplied fields that only the proxy may set (and tlsterm's own debug request
/// field, which is for tlsterm, not the cache).
const PROXY_OWNED: [&str; 7] = [
    "x-client-ip",
    "x-client-port",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-connection-properties",
    "x-tlsterm-debug",
];

/// How the client reached the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// TLS (the normal case): `X-Forwarded-Proto: https` and X-Connection-Properties.
    Https,
    /// The plain-HTTP listener's exempt paths: `X-Forwarded-Proto: http`, no properties.
    Http,
}

/// What the proxy knows about the client connection.
#[derive(Debug, Clone)]
pub struct ForwardInfo<'a> {
    pub client_ip: IpAddr,
    pub client_port: u16,
    pub proto: Proto,
    /// Ready-made X-Connection-Properties value (see `tls::props`); unused for plain HTTP.
    pub connection_properties: &'a str,
}

/// Writes the HTTP/1.1 request head for the upstream (always keep-alive).
pub fn write_upstream_request(head: &RequestHead, info: &ForwardInfo<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(head.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(head.target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");

    for h in &head.headers {
        let name = h.name.as_str();
        if name.eq_ignore_ascii_case("x-forwarded-for")
            || PROXY_OWNED.iter().any(|p| name.eq_ignore_ascii_case(p))
            || head::is_connection_specific(&head.headers, name)
        {
            continue;
        }
        push_field(out, name.as_bytes(), &h.value);
    }

    out.extend_from_slice(b"X-Forwarded-For: ");
    for h in &head.headers {
        if h.name.eq_ignore_ascii_case("x-forwarded-for") {
            for element in head::list_elements(&h.value).filter(|e| !e.is_empty()) {
                out.extend_from_slice(element);
                out.extend_from_slice(b", ");
            }
        }
    }
    write_ip(out, info.client_ip);
    out.extend_from_slice(b"\r\nX-Client-IP: ");
    write_ip(out, info.client_ip);
    out.extend_from_slice(b"\r\nX-Client-Port: ");
    push_decimal(out, u64::from(info.client_port));
    match info.proto {
        Proto::Https => {
            out.extend_from_slice(b"\r\nX-Forwarded-Proto: https\r\n");
            // The value is built by the proxy; refuse to write one that could break the head.
            let props = info.connection_properties.as_bytes();
            if !props.iter().any(|&b| head::is_ctl_in_value(b)) {
                push_field(out, b"X-Connection-Properties", props);
            }
        }
        Proto::Http => out.extend_from_slice(b"\r\nX-Forwarded-Proto: http\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

/// IPv4 dotted, IPv6 in its canonical text form without brackets (e.g. `::1`); an IPv4-mapped
/// IPv6 address (a v4 client on a dual-stack listener) is written as the IPv4 address.
fn write_ip(out: &mut Vec<u8>, ip: IpAddr) {
    // Writing into a Vec<u8> cannot fail; formatting an IpAddr does not allocate.
    let _ = write!(out, "{}", ip.to_canonical());
}
