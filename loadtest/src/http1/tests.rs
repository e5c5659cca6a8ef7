//! Response framing tests: every input is also fed split at every position, and byte by byte.

use super::*;

/// Feeds `chunks` in order, keeping unconsumed bytes like a connection buffer does; then EOF.
fn run(chunks: &[&[u8]]) -> Result<Vec<Response>, ResponseError> {
    let mut r = ResponseReader::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    for c in chunks {
        buf.extend_from_slice(c);
        loop {
            let (used, done) = r.feed(&buf)?;
            buf.drain(..used);
            if let Some(d) = done {
                out.push(d);
            }
            if used == 0 && done.is_none() {
                break;
            }
        }
    }
    if let Some(d) = r.eof()? {
        out.push(d);
    }
    Ok(out)
}

/// Runs `input` whole, split at every position, and one byte at a time: all must agree.
fn every_split(input: &[u8]) -> Result<Vec<Response>, ResponseError> {
    let whole = run(&[input]);
    for i in 0..=input.len() {
        assert_eq!(run(&[&input[..i], &input[i..]]), whole, "split at {i}");
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(run(&bytes), whole, "byte by byte");
    whole
}

const fn ok(status: u16, body_bytes: u64, close: bool) -> Response {
    Response {
        status,
        body_bytes,
        close,
    }
}

#[test]
fn request_bytes_are_exact() {
    let spec = RequestSpec {
        path: "/bytes/100".into(),
        host: "localhost".into(),
        headers: vec![("X-A".into(), "1".into())],
        send: true,
    };
    assert_eq!(
        request_bytes(&spec, false),
        b"GET /bytes/100 HTTP/1.1\r\nHost: localhost\r\nX-A: 1\r\n\r\n".to_vec()
    );
    assert_eq!(
        request_bytes(&spec, true),
        b"GET /bytes/100 HTTP/1.1\r\nHost: localhost\r\nX-A: 1\r\nConnection: close\r\n\r\n"
            .to_vec()
    );
}

#[test]
fn content_length_pipelined() {
    let input = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc";
    assert_eq!(
        every_split(input),
        Ok(vec![ok(200, 5, false), ok(404, 0, false), ok(200, 3, true)])
    );
}

#[test]
fn chunked_with_extensions_and_trailers() {
    let input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nz";
    assert_eq!(
        every_split(input),
        Ok(vec![ok(200, 15, false), ok(201, 1, false)])
    );
}

#[test]
fn chunked_wins_over_content_length() {
    let input =
        b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n";
    assert_eq!(every_split(input), Ok(vec![ok(200, 2, false)]));
}

#[test]
fn close_delimited_and_http10() {
    let input = b"HTTP/1.1 200 OK\r\n\r\nall of this until close";
    assert_eq!(every_split(input), Ok(vec![ok(200, 23, true)]));
    let input = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi";
    assert_eq!(every_split(input), Ok(vec![ok(200, 2, true)]));
    let input = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi";
    assert_eq!(every_split(input), Ok(vec![ok(200, 2, false)]));
}

#[test]
fn interim_and_bodiless_statuses() {
    let input = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n";
    assert_eq!(
        every_split(input),
        Ok(vec![ok(204, 0, false), ok(304, 0, false)])
    );
}

#[test]
fn truncated_bodies_are_errors() {
    let input = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort";
    assert_eq!(run(&[input]), Err(ResponseError::Truncated));
    let input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel";
    assert_eq!(run(&[input]), Err(ResponseError::Truncated));
    // A partial head at EOF is just a clean close between responses from the reader's view;
    // the connection driver counts the outstanding request as closed.
    assert_eq!(run(&[b"HTTP/1.1 200"]), Ok(vec![]));
}

#[test]
fn malformed_input_is_an_error_not_a_panic() {
    assert!(matches!(
        run(&[b"garbage\r\n\r\n"]),
        Err(ResponseError::Head(_))
    ));
    assert_eq!(
        run(&[b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"]),
        Err(ResponseError::ContentLength)
    );
    assert_eq!(
        run(&[b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"]),
        Err(ResponseError::ContentLength)
    );
    assert_eq!(
        run(&[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]),
        Err(ResponseError::Chunked)
    );
    assert_eq!(
        run(&[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabX\r\n"]),
        Err(ResponseError::Chunked)
    );
    let huge = vec![b'a'; MAX_HEAD + 10];
    let mut head = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
    head.extend_from_slice(&huge);
    assert_eq!(run(&[&head]), Err(ResponseError::HeadTooLarge));
    let long_line = vec![b'1'; MAX_CHUNK_LINE + 2];
    let mut c = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    c.extend_from_slice(&long_line);
    assert_eq!(run(&[&c]), Err(ResponseError::Chunked));
}
