//! ChunkedScanner: every split point of valid bodies, exact stop, invalid shapes, limits.
use crate::http::framing::{ChunkError, ChunkedScanner, Scan, MAX_SIZE_LINE, MAX_TRAILER_BYTES};

const VALID: [&str; 6] = [
    "0\r\n\r\n",
    "5\r\nhello\r\n0\r\n\r\n",
    "3;name=value\r\nabc\r\nA;x;y=\"q s\"\r\n0123456789\r\n0\r\n\r\n",
    "1\r\n\r\r\n1\r\n\n\r\n0;ext\r\nX-Trailer: v\r\nChecksum:\tabc \r\n\r\n",
    "000010\r\n0123456789abcdef\r\n00\r\nT:\r\n\r\n",
    "Ff\r\n",
];

/// Scans `stream` split at the given cut points; returns (total consumed, done) or the error.
fn scan_pieces(max: u64, stream: &[u8], cuts: &[usize]) -> Result<(usize, bool), ChunkError> {
    let mut s = ChunkedScanner::new(max);
    let mut total = 0;
    let mut prev = 0;
    for &cut in cuts.iter().chain(std::iter::once(&stream.len())) {
        let r = s.scan(&stream[prev..cut])?;
        assert!(r.consumed <= cut - prev);
        total += r.consumed;
        if r.done {
            return Ok((total, true));
        }
        assert_eq!(
            r.consumed,
            cut - prev,
            "an unfinished scanner consumes everything"
        );
        prev = cut;
    }
    Ok((total, s.is_done()))
}

fn body(i: usize) -> Vec<u8> {
    if i == 5 {
        // 255-byte chunk.
        let mut v = b"Ff\r\n".to_vec();
        v.extend(std::iter::repeat_n(b'z', 255));
        v.extend_from_slice(b"\r\n0\r\n\r\n");
        v
    } else {
        VALID[i].as_bytes().to_vec()
    }
}

#[test]
fn valid_bodies_at_every_split_point_stop_exactly_at_the_end() {
    for i in 0..VALID.len() {
        let b = body(i);
        let mut stream = b.clone();
        stream.extend_from_slice(b"GET /next HTTP/1.1\r\n\r\n");
        // One piece.
        assert_eq!(
            scan_pieces(u64::MAX, &stream, &[]),
            Ok((b.len(), true)),
            "body {i}"
        );
        // Every single split point.
        for cut in 0..=stream.len() {
            assert_eq!(
                scan_pieces(u64::MAX, &stream, &[cut]),
                Ok((b.len(), true)),
                "body {i} cut {cut}"
            );
        }
        // Byte by byte.
        let all: Vec<usize> = (1..stream.len()).collect();
        assert_eq!(
            scan_pieces(u64::MAX, &stream, &all),
            Ok((b.len(), true)),
            "body {i} bytewise"
        );
        // Every strict prefix is incomplete.
        for cut in 0..b.len() {
            let mut s = ChunkedScanner::new(u64::MAX);
            assert_eq!(
                s.scan(&b[..cut]),
                Ok(Scan {
                    consumed: cut,
                    done: false
                })
            );
        }
    }
}

#[test]
fn body_bytes_and_done_state() {
    let mut s = ChunkedScanner::unlimited();
    let b = VALID[2].as_bytes();
    assert_eq!(
        s.scan(b),
        Ok(Scan {
            consumed: b.len(),
            done: true
        })
    );
    assert_eq!(s.body_bytes(), 13);
    assert!(s.is_done());
    assert_eq!(
        s.scan(b"more"),
        Ok(Scan {
            consumed: 0,
            done: true
        })
    );
}

#[test]
fn limit_on_the_sum_of_sizes() {
    assert_eq!(
        scan_pieces(10, b"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", &[]),
        Ok((25, true))
    );
    assert_eq!(
        scan_pieces(9, b"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", &[]),
        Err(ChunkError::TooLarge)
    );
    assert_eq!(
        scan_pieces(u64::MAX, b"ffffffffffffffff\r\n", &[]),
        Ok((18, false))
    );
    assert_eq!(
        scan_pieces(u64::MAX, b"ffffffffffffffff\r\n", &[]).and(
            ChunkedScanner::unlimited()
                .scan(b"1\r\nx\r\nffffffffffffffff\r\n")
                .map(|_| (0, false))
        ),
        Err(ChunkError::TooLarge)
    );
}

fn invalid(stream: &[u8]) -> ChunkError {
    // Same verdict whole and byte by byte.
    let whole = ChunkedScanner::unlimited().scan(stream).unwrap_err();
    let mut s = ChunkedScanner::unlimited();
    let mut bytewise = None;
    for b in stream.chunks(1) {
        if let Err(e) = s.scan(b) {
            bytewise = Some(e);
            break;
        }
    }
    assert_eq!(bytewise.as_ref(), Some(&whole), "{stream:?}");
    whole
}

#[test]
fn invalid_sizes() {
    assert_eq!(invalid(b"-1\r\n"), ChunkError::InvalidSize);
    assert_eq!(invalid(b"+1\r\n"), ChunkError::InvalidSize);
    assert_eq!(invalid(b"0x10\r\n"), ChunkError::InvalidSize);
    assert_eq!(invalid(b"zz\r\n"), ChunkError::InvalidSize);
    assert_eq!(invalid(b"\r\n"), ChunkError::InvalidSize);
    assert_eq!(invalid(b";ext\r\n"), ChunkError::InvalidSize);
    assert_eq!(invalid(b" 5\r\n"), ChunkError::InvalidSize);
    assert_eq!(invalid(b"5 \r\n"), ChunkError::InvalidSize);
    assert_eq!(invalid(b"5\r\nhello\r\n1g\r\n"), ChunkError::InvalidSize);
    assert_eq!(invalid(b"10000000000000000\r\n"), ChunkError::TooLarge);
    assert_eq!(invalid(b"00000000000000000\r\n"), ChunkError::TooLarge);
}

#[test]
fn invalid_framing() {
    // Bare LF after the size line, after data, in trailers, at the end.
    assert_eq!(
        invalid(b"5\nhello\r\n0\r\n\r\n"),
        ChunkError::InvalidFraming
    );
    assert_eq!(invalid(b"\n"), ChunkError::InvalidFraming);
    assert_eq!(invalid(b"5;a\nhello\r\n"), ChunkError::InvalidFraming);
    assert_eq!(
        invalid(b"5\r\nhello\n0\r\n\r\n"),
        ChunkError::InvalidFraming
    );
    assert_eq!(invalid(b"0\r\n\n"), ChunkError::InvalidFraming);
    assert_eq!(invalid(b"0\r\nT: v\n\r\n"), ChunkError::InvalidFraming);
    // Missing CRLF after data (data longer than announced).
    assert_eq!(
        invalid(b"5\r\nhello!\r\n0\r\n\r\n"),
        ChunkError::InvalidFraming
    );
    assert_eq!(invalid(b"5\r\nhello0\r\n\r\n"), ChunkError::InvalidFraming);
    // Bare CR.
    assert_eq!(invalid(b"5\rhello"), ChunkError::InvalidFraming);
    assert_eq!(invalid(b"0\r\n\rx"), ChunkError::InvalidFraming);
    // Control characters in extensions and trailers.
    assert_eq!(invalid(b"5;a\0\r\n"), ChunkError::InvalidFraming);
    assert_eq!(
        invalid(b"0\r\nT: a\x01\r\n\r\n"),
        ChunkError::InvalidFraming
    );
    // Bad trailer lines: obs-fold, space before colon, no name, no colon.
    assert_eq!(
        invalid(b"0\r\nT: a\r\n b\r\n\r\n"),
        ChunkError::InvalidFraming
    );
    assert_eq!(invalid(b"0\r\nT : a\r\n\r\n"), ChunkError::InvalidFraming);
    assert_eq!(invalid(b"0\r\n: a\r\n\r\n"), ChunkError::InvalidFraming);
    assert_eq!(invalid(b"0\r\nNoColon\r\n\r\n"), ChunkError::InvalidFraming);
}

#[test]
fn bounded_extensions_and_trailers() {
    let mut ok = b"1;".to_vec();
    ok.extend(std::iter::repeat_n(b'a', MAX_SIZE_LINE - 2));
    ok.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
    assert_eq!(scan_pieces(u64::MAX, &ok, &[]), Ok((ok.len(), true)));
    let mut long = b"1;".to_vec();
    long.extend(std::iter::repeat_n(b'a', MAX_SIZE_LINE - 1));
    long.extend_from_slice(b"\r\n");
    assert_eq!(invalid(&long), ChunkError::InvalidFraming);

    let mut trailers = b"0\r\n".to_vec();
    while trailers.len() < MAX_TRAILER_BYTES + 10 {
        trailers.extend_from_slice(b"X-T: 0123456789\r\n");
    }
    trailers.extend_from_slice(b"\r\n");
    assert_eq!(invalid(&trailers), ChunkError::TooLarge);
}

#[test]
fn failure_is_sticky() {
    let mut s = ChunkedScanner::unlimited();
    assert_eq!(s.scan(b"zz"), Err(ChunkError::InvalidSize));
    assert_eq!(s.scan(b"0\r\n\r\n"), Err(ChunkError::InvalidSize));
}

#[test]
fn single_byte_mutations_never_panic_and_never_overrun() {
    const INTERESTING: [u8; 8] = [0, b'\r', b'\n', b' ', b';', b'0', b'f', 0xff];
    for i in 0..VALID.len() {
        let raw = body(i);
        for pos in 0..raw.len() {
            for b in INTERESTING {
                let mut m = raw.clone();
                m[pos] = b;
                if let Ok(scan) = ChunkedScanner::unlimited().scan(&m) {
                    assert!(scan.consumed <= m.len());
                    if scan.done {
                        assert_eq!(&m[scan.consumed - 2..scan.consumed], b"\r\n");
                    }
                }
            }
        }
    }
}
