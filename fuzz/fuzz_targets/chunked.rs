//! Fuzz target: `tlsterm::http::framing::ChunkedScanner` (and `http::chunked::ChunkedDecoder`,
//! which drives it) fed the same stream whole and in fuzzer-chosen pieces.
//!
//! Input: byte 0 = flags (low 4 bits: number of cut lengths that follow; bit 4: a small body
//! limit, `byte 1 * 64`, instead of none), byte 1 = limit, then the cut lengths (one byte each,
//! 0 allowed: an empty feed), then the stream. The last piece is whatever the cuts leave.
//!
//! Checked beyond "no panic":
//! - `consumed <= input.len()` on every call; a scan that is not done consumed everything;
//! - whole vs. pieces: same verdict (done at the same offset with the same body size, still
//!   incomplete, or the same error), and errors are sticky;
//! - after done, more input is not consumed;
//! - the decoder (fed the same pieces) reaches the scanner's verdict at the same offset, never
//!   stalls (a call consuming nothing is done), and its data bytes are exactly the chunk data a
//!   naive reference decoder finds in an accepted stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlsterm::http::chunked::ChunkedDecoder;
use tlsterm::http::framing::{ChunkError, ChunkedScanner};

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Done after this many stream bytes, with this decoded body size.
    Done {
        at: usize,
        body: u64,
    },
    Incomplete,
    Failed(ChunkError),
}

fn split(data: &[u8]) -> Option<(u64, Vec<usize>, &[u8])> {
    let (&flags, rest) = data.split_first()?;
    let (&lim, rest) = rest.split_first()?;
    let ncuts = usize::from(flags & 0x0f);
    if rest.len() < ncuts {
        return None;
    }
    let limit = if flags & 0x10 != 0 {
        u64::from(lim) * 64
    } else {
        u64::MAX
    };
    let cuts = rest[..ncuts].iter().map(|&b| usize::from(b)).collect();
    Some((limit, cuts, &rest[ncuts..]))
}

fn pieces<'a>(stream: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut at = 0;
    for &c in cuts {
        let end = (at + c).min(stream.len());
        out.push(&stream[at..end]);
        at = end;
    }
    out.push(&stream[at..]);
    out
}

fn scan_pieces(limit: u64, parts: &[&[u8]]) -> Verdict {
    let mut s = ChunkedScanner::new(limit);
    let mut total = 0usize;
    for p in parts {
        match s.scan(p) {
            Ok(r) => {
                assert!(r.consumed <= p.len());
                assert_eq!(r.done, s.is_done());
                total += r.consumed;
                if r.done {
                    let body = s.body_bytes();
                    // More input after the end is not consumed.
                    assert_eq!(s.scan(b"0\r\n\r\n").map(|r| r.consumed), Ok(0));
                    return Verdict::Done { at: total, body };
                }
                assert_eq!(r.consumed, p.len(), "not done but stopped early");
            }
            Err(e) => {
                assert_eq!(s.scan(b"x"), Err(e.clone()), "error not sticky");
                assert_eq!(
                    s.scan(b""),
                    Err(e.clone()),
                    "error not sticky on empty input"
                );
                return Verdict::Failed(e);
            }
        }
    }
    Verdict::Incomplete
}

fn decode_pieces(limit: u64, parts: &[&[u8]]) -> (Verdict, Vec<u8>) {
    let mut d = ChunkedDecoder::new(limit);
    let mut data = Vec::new();
    let mut total = 0usize;
    for p in parts {
        let mut off = 0;
        while off < p.len() {
            match d.decode(&p[off..]) {
                Ok(r) => {
                    assert!(r.consumed <= p.len() - off);
                    assert!(r.data.start <= r.data.end && r.data.end <= r.consumed);
                    data.extend_from_slice(&p[off + r.data.start..off + r.data.end]);
                    off += r.consumed;
                    total += r.consumed;
                    if r.done {
                        return (
                            Verdict::Done {
                                at: total,
                                body: data.len() as u64,
                            },
                            data,
                        );
                    }
                    assert!(r.consumed > 0, "decoder stalled at offset {total}");
                }
                Err(e) => return (Verdict::Failed(e), data),
            }
        }
    }
    (Verdict::Incomplete, data)
}

/// Chunk data of a stream the scanner accepted up to `end` (a naive second opinion).
fn reference_decode(stream: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let mut size = 0u64;
        while let Some(d) = stream.get(i).and_then(|&b| (b as char).to_digit(16)) {
            size = size * 16 + u64::from(d);
            i += 1;
        }
        while stream[i] != b'\n' {
            i += 1;
        }
        i += 1;
        if size == 0 {
            return out;
        }
        let n = usize::try_from(size).expect("accepted chunk fits the input");
        out.extend_from_slice(&stream[i..i + n]);
        i += n + 2;
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((limit, cuts, stream)) = split(data) else {
        return;
    };
    let whole = scan_pieces(limit, &[stream]);
    let parts = pieces(stream, &cuts);
    let split_verdict = scan_pieces(limit, &parts);
    assert_eq!(
        whole, split_verdict,
        "verdict depends on where the input is split"
    );

    let (dec_verdict, decoded) = decode_pieces(limit, &parts);
    assert_eq!(whole, dec_verdict, "decoder and scanner disagree");
    if let Verdict::Done { at, body } = whole {
        assert!(body <= limit);
        assert_eq!(decoded.len() as u64, body);
        assert_eq!(
            decoded,
            reference_decode(&stream[..at]),
            "decoded data differs"
        );
    }
});
