//! The request head written to the cache layer: client-supplied forwarding headers removed,
//! hop-by-hop headers removed, X-Client-IP / X-Client-Port / X-Forwarded-Proto /
//! X-Forwarded-For / X-Connection-Properties added. Sans-IO.
use super::request::RequestHead;
use std::net::IpAddr;

/// What the proxy knows about the client connection.
#[derive(Debug, Clone)]
pub struct ForwardInfo<'a> {
    pub client_ip: IpAddr,
    pub client_port: u16,
    /// Ready-made X-Connection-Properties value (see `tls::props`).
    pub connection_properties: &'a str,
}

/// Writes the HTTP/1.1 request head for the upstream (always keep-alive).
pub fn write_upstream_request(head: &RequestHead, info: &ForwardInfo<'_>, out: &mut Vec<u8>) {
    let _ = (head, info, out);
    todo!()
}
