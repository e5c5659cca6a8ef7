//! Chunked transfer coding (RFC 9112 §7.1) decoded and encoded, for the HTTP/2 front: the
//! cache answers HTTP/1.1, and a chunked response must reach an HTTP/2 client as plain DATA
//! frames; a request body of unknown length from an HTTP/2 client goes to the cache chunked.
//! Sans-IO.
//!
//! [`ChunkedDecoder`] does not re-implement the grammar: it drives the same
//! [`ChunkedScanner`] the HTTP/1 path uses (so both fronts accept and refuse exactly the same
//! bodies, with the same size-line, extension and trailer limits) and only keeps track of
//! where the chunk data lies. Trailers are validated and dropped. The encoder side is
//! [`write_chunk_head`] + [`CHUNK_END`] per chunk and [`LAST_CHUNK`] at the end.
//!
//! Invariants: [`ChunkedDecoder::decode`] never consumes a byte past the final CRLF; feeding
//! the input split anywhere yields the same data bytes and the same verdict as one call;
//! after an error every later call returns that error; it never panics on any input.
use std::ops::Range;

use super::framing::{ChunkError, ChunkedScanner};

/// The last chunk with an empty trailer section.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";
/// What follows the data of every chunk.
pub const CHUNK_END: &[u8] = b"\r\n";

/// Appends the size line of a chunk of `len` bytes (`len` must not be 0: that is the last
/// chunk, [`LAST_CHUNK`]).
pub fn write_chunk_head(len: usize, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut i = digits.len();
    let mut n = len as u64;
    loop {
        i -= 1;
        digits[i] = HEX[(n & 0xf) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(b"\r\n");
}

/// What one call to [`ChunkedDecoder::decode`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Bytes of the input used (framing and data); the caller drops them from its buffer
    /// after taking the data.
    pub consumed: usize,
    /// Body bytes: this range of the input (empty when the call saw framing only).
    pub data: Range<usize>,
    /// The last chunk and the trailer section are complete: the body ended at `consumed`.
    pub done: bool,
}

/// Decodes a chunked body incrementally.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    scanner: ChunkedScanner,
    /// Data bytes of the current chunk not yet seen.
    data_left: u64,
    /// A size line ended (its CR was accepted) announcing this many bytes; the data starts
    /// after the LF, the only byte the scanner accepts next.
    announced: Option<u64>,
}

impl ChunkedDecoder {
    /// `max_body`: largest sum of chunk sizes accepted ([`ChunkError::TooLarge`] beyond).
    pub fn new(max_body: u64) -> Self {
        ChunkedDecoder {
            scanner: ChunkedScanner::new(max_body),
            data_left: 0,
            announced: None,
        }
    }

    /// Whether the whole body (last chunk and trailers) has been seen.
    pub fn is_done(&self) -> bool {
        self.scanner.is_done()
    }

    /// Feeds the next bytes. Returns at most one run of data per call: call again with the
    /// input after `consumed` until it is empty or `done`.
    pub fn decode(&mut self, input: &[u8]) -> Result<Decoded, ChunkError> {
        let mut i = 0;
        while i < input.len() && !self.scanner.is_done() {
            if self.data_left > 0 {
                let avail = (input.len() - i) as u64;
                // `take <= avail`, which came from a usize.
                let take = self.data_left.min(avail) as usize;
                let scan = self.scanner.scan(&input[i..i + take])?;
                debug_assert_eq!(scan.consumed, take);
                self.data_left -= take as u64;
                return Ok(Decoded {
                    consumed: i + take,
                    data: i..i + take,
                    done: false,
                });
            }
            // Framing: one byte at a time, so the scanner's accounting tells where data starts.
            let before = self.scanner.body_bytes();
            let scan = self.scanner.scan(&input[i..i + 1])?;
            if scan.consumed == 0 {
                break;
            }
            i += 1;
            if let Some(n) = self.announced.take() {
                // The byte just accepted was the LF of the size line.
                self.data_left = n;
            }
            let announced = self.scanner.body_bytes() - before;
            if announced > 0 {
                self.announced = Some(announced);
            }
        }
        Ok(Decoded {
            consumed: i,
            data: i..i,
            done: self.scanner.is_done(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces cut at `cuts`; returns the body, or the error.
    fn decode_split(input: &[u8], cuts: &[usize], max: u64) -> Result<(Vec<u8>, bool), ChunkError> {
        let mut dec = ChunkedDecoder::new(max);
        let mut body = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut bounds: Vec<usize> = cuts.to_vec();
        bounds.push(input.len());
        let mut from = 0;
        for to in bounds {
            buf.extend_from_slice(&input[from..to]);
            from = to;
            loop {
                let d = dec.decode(&buf)?;
                body.extend_from_slice(&buf[d.data.clone()]);
                buf.drain(..d.consumed);
                if d.done {
                    assert!(dec.is_done());
                    return Ok((body, buf.is_empty()));
                }
                if d.consumed == 0 || buf.is_empty() {
                    break;
                }
            }
        }
        Ok((body, false))
    }

    const BODY: &[u8] = b"5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-T: v\r\n\r\n";

    #[test]
    fn decodes_every_two_way_split() {
        for cut in 0..=BODY.len() {
            let (body, exact) = decode_split(BODY, &[cut], u64::MAX).unwrap();
            assert_eq!(body, b"hello 0123456789", "cut at {cut}");
            assert!(exact, "cut at {cut}");
        }
    }

    #[test]
    fn decodes_byte_by_byte_and_three_way_splits() {
        let all: Vec<usize> = (1..BODY.len()).collect();
        assert_eq!(
            decode_split(BODY, &all, u64::MAX).unwrap().0,
            b"hello 0123456789"
        );
        for a in 0..BODY.len() {
            for b in a..BODY.len() {
                let (body, _) = decode_split(BODY, &[a, b], u64::MAX).unwrap();
                assert_eq!(body, b"hello 0123456789", "cuts {a} {b}");
            }
        }
    }

    #[test]
    fn stops_at_the_end_of_the_body() {
        let mut input = BODY.to_vec();
        input.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        let mut dec = ChunkedDecoder::new(u64::MAX);
        let mut at = 0;
        let mut body = Vec::new();
        loop {
            let d = dec.decode(&input[at..]).unwrap();
            body.extend_from_slice(&input[at..][d.data.clone()]);
            at += d.consumed;
            if d.done {
                break;
            }
        }
        assert_eq!(at, BODY.len());
        assert_eq!(body, b"hello 0123456789");
        // Done: nothing more is consumed.
        let d = dec.decode(b"more").unwrap();
        assert_eq!((d.consumed, d.done), (0, true));
    }

    #[test]
    fn errors_are_the_scanner_errors_and_stick() {
        for (input, want) in [
            (&b"z\r\n"[..], ChunkError::InvalidSize),
            (b"5\r\nhelloX", ChunkError::InvalidFraming),
            (b"5\nhello", ChunkError::InvalidFraming),
            (b"11111111111111111\r\n", ChunkError::TooLarge),
        ] {
            for cut in 0..=input.len() {
                assert_eq!(
                    decode_split(input, &[cut], u64::MAX),
                    Err(want.clone()),
                    "{input:?} cut {cut}"
                );
            }
        }
        let mut dec = ChunkedDecoder::new(u64::MAX);
        assert!(dec.decode(b"q").is_err());
        assert_eq!(dec.decode(b"0\r\n\r\n"), Err(ChunkError::InvalidSize));
    }

    #[test]
    fn body_limit_applies() {
        assert_eq!(
            decode_split(b"6\r\nabcdef\r\n0\r\n\r\n", &[], 5),
            Err(ChunkError::TooLarge)
        );
        assert_eq!(
            decode_split(b"5\r\nabcde\r\n0\r\n\r\n", &[], 5).unwrap().0,
            b"abcde"
        );
    }

    #[test]
    fn empty_body_and_incomplete_input() {
        assert_eq!(
            decode_split(b"0\r\n\r\n", &[], 0).unwrap(),
            (Vec::new(), true)
        );
        let (body, exact) = decode_split(b"3\r\nab", &[], 10).unwrap();
        assert_eq!((body.as_slice(), exact), (&b"ab"[..], false));
    }

    #[test]
    fn encoder_output_decodes_to_the_input() {
        let mut wire = Vec::new();
        for piece in [&b"a"[..], &[7u8; 300][..], b"tail"] {
            write_chunk_head(piece.len(), &mut wire);
            wire.extend_from_slice(piece);
            wire.extend_from_slice(CHUNK_END);
        }
        wire.extend_from_slice(LAST_CHUNK);
        assert!(wire.starts_with(b"1\r\na\r\n12c\r\n"));
        let mut want = b"a".to_vec();
        want.extend_from_slice(&[7u8; 300]);
        want.extend_from_slice(b"tail");
        for cut in 0..=wire.len() {
            assert_eq!(
                decode_split(&wire, &[cut], u64::MAX).unwrap(),
                (want.clone(), true)
            );
        }
    }
}
