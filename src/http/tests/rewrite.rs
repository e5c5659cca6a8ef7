//! The head written to the cache layer: removed, appended and added fields.
use crate::http::request::parse_request_head;
use crate::http::rewrite::{write_upstream_request, ForwardInfo, Proto};
use crate::http::Limits;
use std::net::IpAddr;

const PROPS: &str = "H2=0; SSR=0; SSL=TLSv1.3; C=TLS_AES_128_GCM_SHA256; EC=X25519; KA=ECDSA;";

fn rewrite_with(raw: &str, ip: &str, props: &str) -> String {
    let head = parse_request_head(raw.as_bytes(), &Limits::default())
        .unwrap()
        .unwrap();
    let info = ForwardInfo {
        client_ip: ip.parse::<IpAddr>().unwrap(),
        client_port: 51234,
        proto: Proto::Https,
        connection_properties: props,
    };
    let mut out = Vec::new();
    write_upstream_request(&head, &info, &mut out);
    String::from_utf8(out).unwrap()
}

fn rewrite(raw: &str) -> String {
    rewrite_with(raw, "192.0.2.7", PROPS)
}

fn count(text: &str, name: &str) -> usize {
    text.lines()
        .filter(|l| {
            l.split(':')
                .next()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .count()
}

#[test]
fn simple_get_is_exact() {
    assert_eq!(
        rewrite("GET /p?q HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"),
        format!(
            "GET /p?q HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\
             X-Forwarded-For: 192.0.2.7\r\nX-Client-IP: 192.0.2.7\r\nX-Client-Port: 51234\r\n\
             X-Forwarded-Proto: https\r\nX-Connection-Properties: {PROPS}\r\n\r\n"
        )
    );
}

#[test]
fn client_supplied_forwarding_headers_are_replaced() {
    let out = rewrite(
        "POST /u HTTP/1.1\r\nX-Client-IP: 6.6.6.6\r\nHost: h\r\nx-forwarded-proto: http\r\n\
         X-Connection-Properties: H2=1; fake\r\nX-Client-Port: 1\r\nX-Forwarded-Host: evil\r\n\
         X-Forwarded-Port: 80\r\nX-Forwarded-For: 10.0.0.1, 10.0.0.2\r\nContent-Length: 3\r\n\
         X-Forwarded-For: 10.0.0.3\r\nExpect: 100-continue\r\n\r\n",
    );
    for name in [
        "X-Client-IP",
        "X-Client-Port",
        "X-Forwarded-Proto",
        "X-Connection-Properties",
        "X-Forwarded-For",
    ] {
        assert_eq!(count(&out, name), 1, "{name} in {out}");
    }
    assert_eq!(count(&out, "X-Forwarded-Host"), 0);
    assert_eq!(count(&out, "X-Forwarded-Port"), 0);
    assert!(!out.contains("6.6.6.6"));
    assert!(!out.contains("fake"));
    assert!(out.contains("\r\nX-Forwarded-For: 10.0.0.1, 10.0.0.2, 10.0.0.3, 192.0.2.7\r\n"));
    assert!(out.contains("\r\nX-Client-IP: 192.0.2.7\r\n"));
    assert!(out.contains("\r\nX-Forwarded-Proto: https\r\n"));
    assert!(out.starts_with(
        "POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n"
    ));
}

#[test]
fn hop_by_hop_removed_but_framing_protected() {
    let out = rewrite(
        "POST / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Drop, Content-Length, Host\r\n\
         Keep-Alive: 300\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nUpgrade: websocket\r\n\
         X-Drop: 1\r\nContent-Length: 2\r\nX-Keep: 1\r\n\r\n",
    );
    for name in [
        "Connection",
        "Keep-Alive",
        "Proxy-Connection",
        "TE",
        "Upgrade",
        "X-Drop",
    ] {
        assert_eq!(count(&out, name), 0, "{name} in {out}");
    }
    assert!(out.starts_with(
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nX-Keep: 1\r\nX-Forwarded-For: "
    ));
    // Connection: close from the client never reaches upstream.
    let out = rewrite("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assert!(!out.to_ascii_lowercase().contains("close"));
    let out = rewrite("PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert!(out.contains("\r\nTransfer-Encoding: chunked\r\n"));
}

#[test]
fn http10_and_ipv6() {
    let out = rewrite_with("GET / HTTP/1.0\r\n\r\n", "::1", PROPS);
    assert!(out.starts_with("GET / HTTP/1.1\r\nX-Forwarded-For: ::1\r\nX-Client-IP: ::1\r\n"));
    assert_eq!(count(&out, "Host"), 0);
    let out = rewrite_with("GET / HTTP/1.1\r\nHost: h\r\n\r\n", "2001:db8::5", PROPS);
    assert!(out.contains("\r\nX-Client-IP: 2001:db8::5\r\n"));
    let out = rewrite_with(
        "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
        "::ffff:192.0.2.9",
        PROPS,
    );
    assert!(out.contains("\r\nX-Client-IP: 192.0.2.9\r\n"));
}

/// Hand-written matcher for `^H2=[01]; SSR=[012]; SSL=[^; ]+; C=[^; ]+; EC=[^; ]+; KA=[^; ]+;$`.
fn props_match(v: &str) -> bool {
    let mut rest = v;
    let fixed: [(&str, Option<&[u8]>); 6] = [
        ("H2=", Some(b"01")),
        (" SSR=", Some(b"012")),
        (" SSL=", None),
        (" C=", None),
        (" EC=", None),
        (" KA=", None),
    ];
    for (prefix, allowed) in fixed {
        let Some(r) = rest.strip_prefix(prefix) else {
            return false;
        };
        let end = r.find(';').unwrap_or(r.len());
        let value = &r[..end];
        let ok = match allowed {
            Some(set) => value.len() == 1 && set.contains(&value.as_bytes()[0]),
            None => !value.is_empty() && !value.contains(' '),
        };
        if !ok || end == r.len() {
            return false;
        }
        rest = &r[end + 1..];
    }
    rest.is_empty()
}

#[test]
fn connection_properties_value_matches_the_cache_regex() {
    assert!(props_match(PROPS));
    assert!(props_match(
        "H2=1; SSR=2; SSL=TLSv1.2; C=ECDHE-ECDSA-AES128-GCM-SHA256; EC=P-256; KA=RSA;"
    ));
    assert!(!props_match("H2=2; SSR=0; SSL=a; C=b; EC=c; KA=d;"));
    assert!(!props_match("H2=1; SSR=0; SSL=a; C=b; EC=c; KA=d"));
    assert!(!props_match("H2=1; SSR=0; SSL=; C=b; EC=c; KA=d;"));
    assert!(!props_match("H2=1; SSR=0; SSL=a b; C=b; EC=c; KA=d;"));
    let out = rewrite("GET / HTTP/1.1\r\nHost: h\r\nX-Connection-Properties: H2=1; SSR=9;\r\n\r\n");
    let values: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("X-Connection-Properties: "))
        .collect();
    assert_eq!(values.len(), 1);
    assert!(props_match(values[0]), "{}", values[0]);
    // A value that would break the head is not written.
    let out = rewrite_with(
        "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
        "192.0.2.7",
        "H2=0;\r\nX-Evil: 1",
    );
    assert!(!out.contains("X-Evil"));
}

#[test]
fn plain_http_says_http_and_sends_no_connection_properties() {
    let head = parse_request_head(
        b"GET /.well-known/acme-challenge/x HTTP/1.1\r\nHost: a.example\r\nX-Connection-Properties: evil\r\n\r\n",
        &Limits::default(),
    )
    .unwrap()
    .unwrap();
    let info = ForwardInfo {
        client_ip: "192.0.2.9".parse::<IpAddr>().unwrap(),
        client_port: 80,
        proto: Proto::Http,
        connection_properties: "",
    };
    let mut out = Vec::new();
    write_upstream_request(&head, &info, &mut out);
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("\r\nX-Forwarded-Proto: http\r\n"), "{text}");
    assert!(
        !text
            .to_ascii_lowercase()
            .contains("x-connection-properties"),
        "{text}"
    );
}
