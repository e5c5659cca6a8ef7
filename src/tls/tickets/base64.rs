//! Strict base64 decoding (RFC 4648 §4: standard alphabet `A–Z a–z 0–9 + /`, `=` padding) for
//! ticket-key lines.
//!
//! Does not: accept the URL-safe alphabet, whitespace, missing padding or non-canonical
//! encodings; encode (tests have their own small encoder).
//! Invariants: errors carry a 1-based column, never the offending text (key lines are secret);
//! no input makes it panic.

use thiserror::Error;

/// Why a line is not strict base64. Columns are 1-based, counted in bytes of the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Base64Error {
    #[error("character at column {column} is not in the base64 alphabet (A-Z a-z 0-9 + /)")]
    InvalidChar { column: usize },
    #[error("{len} characters is not a multiple of 4 (padding with '=' is required)")]
    Length { len: usize },
    #[error("misplaced '=' padding at column {column}")]
    Padding { column: usize },
    #[error("non-canonical encoding: the unused bits of the last character are not zero")]
    NonCanonical,
}

fn sextet(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Decodes `input` strictly. Checks, in this order: every byte is in the alphabet or `=`; the
/// length is a multiple of 4; `=` appears only as one or two trailing characters; the bits
/// left over by the padding are zero.
pub fn decode(input: &[u8]) -> Result<Vec<u8>, Base64Error> {
    if let Some(i) = input.iter().position(|&c| c != b'=' && sextet(c).is_none()) {
        return Err(Base64Error::InvalidChar { column: i + 1 });
    }
    if input.len() % 4 != 0 {
        return Err(Base64Error::Length { len: input.len() });
    }
    let pad = input.iter().rev().take_while(|&&c| c == b'=').count();
    if pad > 2 {
        return Err(Base64Error::Padding {
            column: input.len() - pad + 1,
        });
    }
    let body = &input[..input.len() - pad];
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    // `acc` holds only the bits not yet emitted (fewer than 8 after each step).
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for (i, &c) in body.iter().enumerate() {
        let Some(v) = sextet(c) else {
            // Only `=` is left after the alphabet check above: padding inside the body.
            return Err(Base64Error::Padding { column: i + 1 });
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if acc != 0 {
        return Err(Base64Error::NonCanonical);
    }
    Ok(out)
}

/// Standard base64 with padding; for tests that need the file form of known bytes.
#[cfg(test)]
pub fn encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * k)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_vectors() {
        let cases: [(&str, &str); 7] = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, b64) in cases {
            assert_eq!(encode(plain.as_bytes()), b64);
            assert_eq!(decode(b64.as_bytes()).unwrap(), plain.as_bytes(), "{b64}");
        }
    }

    #[test]
    fn all_byte_values_round_trip() {
        let all: Vec<u8> = (0..=255).collect();
        for len in 0..all.len() {
            let b64 = encode(&all[..len]);
            assert_eq!(decode(b64.as_bytes()).unwrap(), &all[..len]);
        }
        assert_eq!(encode(&[0xfb, 0xff]), "+/8=");
        assert_eq!(decode(b"+/8=").unwrap(), [0xfb, 0xff]);
    }

    #[test]
    fn rejects_bad_characters() {
        use Base64Error::InvalidChar;
        assert_eq!(decode(b"Zm9v-g=="), Err(InvalidChar { column: 5 }));
        assert_eq!(decode(b"Zm9_"), Err(InvalidChar { column: 4 }));
        assert_eq!(decode(b" Zm9v"), Err(InvalidChar { column: 1 }));
        assert_eq!(decode(b"Zm9v\n"), Err(InvalidChar { column: 5 }));
        assert_eq!(decode(b"Zm\0v"), Err(InvalidChar { column: 3 }));
        assert_eq!(decode("Zmé=".as_bytes()), Err(InvalidChar { column: 3 }));
        // A bad character is reported even when the length is also wrong.
        assert_eq!(decode(b"Zm9v."), Err(InvalidChar { column: 5 }));
    }

    #[test]
    fn rejects_bad_length_and_padding() {
        use Base64Error::{Length, NonCanonical, Padding};
        assert_eq!(decode(b"Zm9"), Err(Length { len: 3 }));
        assert_eq!(decode(b"Zg"), Err(Length { len: 2 }));
        assert_eq!(decode(b"Zg="), Err(Length { len: 3 }));
        assert_eq!(decode(b"Zg==="), Err(Length { len: 5 }));
        assert_eq!(decode(b"Z==="), Err(Padding { column: 2 }));
        assert_eq!(decode(b"===="), Err(Padding { column: 1 }));
        assert_eq!(decode(b"Zg==Zm9v"), Err(Padding { column: 3 }));
        assert_eq!(decode(b"=m9v"), Err(Padding { column: 1 }));
        assert_eq!(decode(b"Zm=v"), Err(Padding { column: 3 }));
        // "Zh==" and "Zm9=" carry non-zero bits past the last byte.
        assert_eq!(decode(b"Zh=="), Err(NonCanonical));
        assert_eq!(decode(b"Zm9="), Err(NonCanonical));
        assert_eq!(decode(b"Zm8="), Ok(b"fo".to_vec()));
    }

    #[test]
    fn error_messages_name_the_column_not_the_text() {
        let e = decode(b"abc$").unwrap_err();
        assert_eq!(
            e.to_string(),
            "character at column 4 is not in the base64 alphabet (A-Z a-z 0-9 + /)"
        );
        assert!(!e.to_string().contains("abc"));
    }
}
