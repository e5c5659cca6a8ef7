//! The HAProxy `tls-ticket-keys` file parsed into [`TicketKeys`], and key sets generated in
//! memory for hosts without a key file.
//!
//! Does not: read files (the caller passes the text and adds the path to errors), schedule
//! rotation, or encrypt anything (see [`super::Ticketer`]).
//! Invariants of a [`TicketKeys`]: at least one key; all keys of one [`KeyLayout`]; key names
//! unique; order as in the file. Secret bytes never appear in `Debug` output or errors.

use super::base64::{self, Base64Error};
use ring::rand::SecureRandom;
use std::collections::HashMap;
use std::fmt;
use thiserror::Error;

/// Length of a key name, the first bytes of every key line.
pub const NAME_LEN: usize = 16;

/// How many keys [`TicketKeys::generate`] should make for the no-key-file case: previous,
/// current (encrypting) and next, as in a rotated HAProxy file.
pub const GENERATED_KEYS: usize = 3;

/// A key name. Not secret: it travels in clear at the start of every ticket. Shown as hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyName(pub [u8; NAME_LEN]);

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyName({self})")
    }
}

/// HAProxy's two key layouts; one file uses only one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyLayout {
    /// 48 bytes: 16-byte name, 16-byte AES-128 key, 16-byte HMAC key.
    Aes128,
    /// 80 bytes: 16-byte name, 32-byte AES-256 key, 32-byte HMAC key.
    Aes256,
}

impl KeyLayout {
    /// Decoded length of one key line.
    pub const fn key_len(self) -> usize {
        match self {
            KeyLayout::Aes128 => 48,
            KeyLayout::Aes256 => 80,
        }
    }

    fn from_len(len: usize) -> Option<Self> {
        match len {
            48 => Some(KeyLayout::Aes128),
            80 => Some(KeyLayout::Aes256),
            _ => None,
        }
    }
}

/// One key: its name and its secret (the AES key followed by the HMAC key, as in the file).
/// We do not use the two halves separately: [`super::Ticketer`] derives its own AEAD key from
/// the whole secret.
#[derive(Clone)]
pub(super) struct TicketKey {
    pub(super) name: KeyName,
    pub(super) secret: Vec<u8>,
}

impl TicketKey {
    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (name, secret) = bytes.split_at_checked(NAME_LEN)?;
        Some(TicketKey {
            name: KeyName(name.try_into().ok()?),
            secret: secret.to_vec(),
        })
    }
}

/// A validated set of ticket keys, in file order. The second-to-last key encrypts (the only
/// key when there is one); every key decrypts.
#[derive(Clone)]
pub struct TicketKeys {
    keys: Vec<TicketKey>,
    layout: KeyLayout,
}

/// What is wrong with a key file (a configuration error). Line numbers are 1-based and count
/// every line, blank and comment lines included. Never contains key bytes; key names (public)
/// appear as hex.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TicketKeyError {
    #[error("line {line}: not valid base64: {reason}")]
    Base64 { line: usize, reason: Base64Error },
    #[error(
        "line {line}: key decodes to {len} bytes; expected 48 (16-byte name, AES-128 key, \
         HMAC key) or 80 (16-byte name, AES-256 key, HMAC key)"
    )]
    WrongLength { line: usize, len: usize },
    #[error(
        "line {line}: key is {len} bytes but the first key (line {first_line}) is \
         {first_len} bytes; all keys of a file must have the same length"
    )]
    MixedLengths {
        line: usize,
        len: usize,
        first_line: usize,
        first_len: usize,
    },
    #[error("no keys: the file has only blank lines and # comments; at least one key is needed")]
    Empty,
    #[error(
        "line {line}: key name {name} is already used on line {first_line}; names must be unique"
    )]
    DuplicateName {
        line: usize,
        first_line: usize,
        name: KeyName,
    },
    #[error("the system random number generator failed while generating ticket keys")]
    Random,
}

/// Parses a key file in HAProxy's `tls-ticket-keys` format.
///
/// One standard-alphabet, padded base64 key per line, decoding to 48 or 80 bytes (see
/// [`KeyLayout`]); ASCII whitespace around a line is ignored, as are empty lines and lines
/// whose first non-blank character is `#`. See the module doc of [`super`] for how this
/// differs from HAProxy.
pub fn parse_key_file(text: &str) -> Result<TicketKeys, TicketKeyError> {
    let mut keys = Vec::new();
    let mut first: Option<(usize, KeyLayout)> = None;
    let mut seen: HashMap<KeyName, usize> = HashMap::new();
    for (idx, raw) in text.split('\n').enumerate() {
        let line = idx + 1;
        let trimmed = raw.trim_start_matches(|c: char| c.is_ascii_whitespace());
        let indent = raw.len() - trimmed.len();
        let trimmed = trimmed.trim_end_matches(|c: char| c.is_ascii_whitespace());
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let bytes = base64::decode(trimmed.as_bytes()).map_err(|reason| {
            let reason = match reason {
                Base64Error::InvalidChar { column } => Base64Error::InvalidChar {
                    column: column + indent,
                },
                Base64Error::Padding { column } => Base64Error::Padding {
                    column: column + indent,
                },
                other => other,
            };
            TicketKeyError::Base64 { line, reason }
        })?;
        let len = bytes.len();
        let layout = KeyLayout::from_len(len).ok_or(TicketKeyError::WrongLength { line, len })?;
        match first {
            None => first = Some((line, layout)),
            Some((first_line, first_layout)) if first_layout != layout => {
                return Err(TicketKeyError::MixedLengths {
                    line,
                    len,
                    first_line,
                    first_len: first_layout.key_len(),
                })
            }
            Some(_) => {}
        }
        // Cannot fail: `len` is 48 or 80, longer than a name.
        let Some(key) = TicketKey::from_bytes(&bytes) else {
            return Err(TicketKeyError::WrongLength { line, len });
        };
        if let Some(&first_line) = seen.get(&key.name) {
            return Err(TicketKeyError::DuplicateName {
                line,
                first_line,
                name: key.name,
            });
        }
        seen.insert(key.name, line);
        keys.push(key);
    }
    match first {
        Some((_, layout)) => Ok(TicketKeys { keys, layout }),
        None => Err(TicketKeyError::Empty),
    }
}

fn random_key(
    layout: KeyLayout,
    rng: &dyn SecureRandom,
    taken: &[TicketKey],
) -> Result<TicketKey, TicketKeyError> {
    let mut bytes = vec![0u8; layout.key_len()];
    rng.fill(&mut bytes).map_err(|_| TicketKeyError::Random)?;
    let key = TicketKey::from_bytes(&bytes).ok_or(TicketKeyError::Random)?;
    // A repeated random 128-bit name means a broken generator, not bad luck.
    if taken.iter().any(|k| k.name == key.name) {
        return Err(TicketKeyError::Random);
    }
    Ok(key)
}

impl TicketKeys {
    /// `n` fresh random keys in the 80-byte layout, for a host without a key file. Use
    /// [`GENERATED_KEYS`] (3) and [`TicketKeys::rotated`] on a schedule; see the module doc of
    /// [`super`] for why. `n == 0` is [`TicketKeyError::Empty`].
    pub fn generate(n: usize, rng: &dyn SecureRandom) -> Result<Self, TicketKeyError> {
        if n == 0 {
            return Err(TicketKeyError::Empty);
        }
        let layout = KeyLayout::Aes256;
        let mut keys = Vec::with_capacity(n);
        for _ in 0..n {
            let key = random_key(layout, rng, &keys)?;
            keys.push(key);
        }
        Ok(TicketKeys { keys, layout })
    }

    /// The set after one rotation step, as HAProxy's key-file timer does it: the oldest (first)
    /// key is dropped and a fresh random key of the same layout appended, so the count stays
    /// the same and the old "next" key becomes the encrypting one. With three keys a ticket is
    /// accepted for one to two rotation periods; with one key, rotation invalidates every
    /// ticket.
    pub fn rotated(&self, rng: &dyn SecureRandom) -> Result<Self, TicketKeyError> {
        // Cannot panic: a set has at least one key.
        let mut keys = self.keys[1..].to_vec();
        let key = random_key(self.layout, rng, &self.keys)?;
        keys.push(key);
        Ok(TicketKeys {
            keys,
            layout: self.layout,
        })
    }

    /// Number of keys (at least one).
    pub fn count(&self) -> usize {
        self.keys.len()
    }

    /// The layout shared by all keys.
    pub fn layout(&self) -> KeyLayout {
        self.layout
    }

    /// Key names in file order.
    pub fn names(&self) -> impl Iterator<Item = KeyName> + '_ {
        self.keys.iter().map(|k| k.name)
    }

    /// Position (0-based, file order) of the encrypting key: the second-to-last, or the only one.
    pub fn encrypting_index(&self) -> usize {
        self.keys.len().saturating_sub(2)
    }

    /// Name of the encrypting key.
    pub fn encrypting(&self) -> KeyName {
        // Cannot panic: a set has at least one key and the index is below its length.
        self.keys[self.encrypting_index()].name
    }

    pub(super) fn keys(&self) -> &[TicketKey] {
        &self.keys
    }
}

impl fmt::Debug for TicketKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TicketKeys")
            .field("count", &self.keys.len())
            .field("layout", &self.layout)
            .field(
                "names",
                &self.keys.iter().map(|k| k.name).collect::<Vec<_>>(),
            )
            .field("encrypting", &self.encrypting())
            .finish()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::base64::encode;
    use super::*;
    use ring::rand::SystemRandom;

    /// A key of `layout` whose name is 16 × `tag` and whose secret bytes are `tag + i`.
    pub fn key_bytes(tag: u8, layout: KeyLayout) -> Vec<u8> {
        (0..layout.key_len())
            .map(|i| {
                if i < NAME_LEN {
                    tag
                } else {
                    tag.wrapping_add(i as u8)
                }
            })
            .collect()
    }

    /// A key file with one line per tag.
    pub fn key_file(tags: &[u8], layout: KeyLayout) -> String {
        tags.iter()
            .map(|&t| encode(&key_bytes(t, layout)) + "\n")
            .collect()
    }

    fn name(tag: u8) -> KeyName {
        KeyName([tag; NAME_LEN])
    }

    #[test]
    fn parses_48_byte_keys_second_to_last_encrypts() {
        let keys = parse_key_file(&key_file(&[1, 2, 3], KeyLayout::Aes128)).unwrap();
        assert_eq!(keys.count(), 3);
        assert_eq!(keys.layout(), KeyLayout::Aes128);
        assert_eq!(
            keys.names().collect::<Vec<_>>(),
            [name(1), name(2), name(3)]
        );
        assert_eq!(keys.encrypting_index(), 1);
        assert_eq!(keys.encrypting(), name(2));
        let k = &keys.keys()[2];
        assert_eq!(k.secret, &key_bytes(3, KeyLayout::Aes128)[16..]);
        assert_eq!(k.secret.len(), 32);
    }

    #[test]
    fn parses_80_byte_keys() {
        let text = key_file(&[7, 8, 9, 10], KeyLayout::Aes256);
        // 80 bytes encode to 108 characters ending in one '='.
        let first = text.lines().next().unwrap();
        assert_eq!(first.len(), 108);
        assert!(first.ends_with('=') && !first.ends_with("=="));
        let keys = parse_key_file(&text).unwrap();
        assert_eq!(keys.layout(), KeyLayout::Aes256);
        assert_eq!(keys.encrypting(), name(9));
        assert_eq!(
            keys.keys()[0].secret,
            &key_bytes(7, KeyLayout::Aes256)[16..]
        );
        assert_eq!(keys.keys()[0].secret.len(), 64);
    }

    #[test]
    fn one_and_two_keys() {
        let one = parse_key_file(&key_file(&[5], KeyLayout::Aes128)).unwrap();
        assert_eq!((one.count(), one.encrypting()), (1, name(5)));
        let two = parse_key_file(&key_file(&[5, 6], KeyLayout::Aes128)).unwrap();
        assert_eq!((two.count(), two.encrypting()), (2, name(5)));
    }

    #[test]
    fn comments_blank_lines_whitespace_crlf() {
        let k = |t| encode(&key_bytes(t, KeyLayout::Aes128));
        let text = format!(
            "# rotated by ticket-keys.timer\n\n  {}\r\n\t# indented comment\n{}  \n   \n{}",
            k(1),
            k(2),
            k(3)
        );
        let keys = parse_key_file(&text).unwrap();
        assert_eq!(
            keys.names().collect::<Vec<_>>(),
            [name(1), name(2), name(3)]
        );
        assert_eq!(keys.encrypting(), name(2));
    }

    #[test]
    fn error_cases_name_the_line() {
        let k = |t| encode(&key_bytes(t, KeyLayout::Aes128));
        let long = |t| encode(&key_bytes(t, KeyLayout::Aes256));
        let short = encode(&[9u8; 47]);
        let cases: Vec<(String, TicketKeyError)> = vec![
            (String::new(), TicketKeyError::Empty),
            ("# only\n\n   \n".into(), TicketKeyError::Empty),
            (
                format!("# c\n{}\n{}!\n", k(1), k(2)),
                TicketKeyError::Base64 {
                    line: 3,
                    reason: Base64Error::InvalidChar { column: 65 },
                },
            ),
            (
                format!("{}\n  {}\n", k(1), &k(2)[..10]),
                TicketKeyError::Base64 {
                    line: 2,
                    reason: Base64Error::Length { len: 10 },
                },
            ),
            (
                format!("\n\n  ab=c{}\n", k(1)),
                TicketKeyError::Base64 {
                    line: 3,
                    reason: Base64Error::Padding { column: 5 },
                },
            ),
            (
                format!("{}\n\n{}\n", k(1), short),
                TicketKeyError::WrongLength { line: 3, len: 47 },
            ),
            (
                format!("{}\n# x\n{}\n", k(1), long(2)),
                TicketKeyError::MixedLengths {
                    line: 3,
                    len: 80,
                    first_line: 1,
                    first_len: 48,
                },
            ),
            (
                format!("\n{}\n{}\n{}\n", long(1), long(2), k(3)),
                TicketKeyError::MixedLengths {
                    line: 4,
                    len: 48,
                    first_line: 2,
                    first_len: 80,
                },
            ),
            (
                format!("{}\n{}\n# again\n{}\n", k(1), k(2), k(1)),
                TicketKeyError::DuplicateName {
                    line: 4,
                    first_line: 1,
                    name: name(1),
                },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse_key_file(&text).unwrap_err(), want, "{text:?}");
        }
    }

    #[test]
    fn duplicate_name_with_different_secret_is_refused() {
        let mut other = key_bytes(1, KeyLayout::Aes128);
        other[20] ^= 0xff;
        let text = format!(
            "{}\n{}\n",
            encode(&key_bytes(1, KeyLayout::Aes128)),
            encode(&other)
        );
        assert!(matches!(
            parse_key_file(&text),
            Err(TicketKeyError::DuplicateName { line: 2, .. })
        ));
    }

    #[test]
    fn error_messages() {
        let short = encode(&[0xab; 47]);
        let e = parse_key_file(&format!("\n{short}\n")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 2: key decodes to 47 bytes; expected 48 (16-byte name, AES-128 key, HMAC key) \
             or 80 (16-byte name, AES-256 key, HMAC key)"
        );
        let k = encode(&key_bytes(0xcd, KeyLayout::Aes128));
        let e = parse_key_file(&format!("{k}\n{k}\n")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 2: key name cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd is already used on line 1; \
             names must be unique"
        );
        let e = parse_key_file(&format!("{}!\n", &k[..63])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 1: not valid base64: character at column 64 is not in the base64 alphabet \
             (A-Z a-z 0-9 + /)"
        );
        assert!(!e.to_string().contains(&k[..10]));
    }

    #[test]
    fn debug_shows_names_not_secrets() {
        let keys = parse_key_file(&key_file(&[0x11, 0x22], KeyLayout::Aes128)).unwrap();
        let s = format!("{keys:?}");
        assert_eq!(
            s,
            "TicketKeys { count: 2, layout: Aes128, names: \
             [KeyName(11111111111111111111111111111111), \
             KeyName(22222222222222222222222222222222)], \
             encrypting: KeyName(11111111111111111111111111111111) }"
        );
    }

    #[test]
    fn generate_and_rotate() {
        let rng = SystemRandom::new();
        assert_eq!(
            TicketKeys::generate(0, &rng).unwrap_err(),
            TicketKeyError::Empty
        );
        let a = TicketKeys::generate(GENERATED_KEYS, &rng).unwrap();
        assert_eq!((a.count(), a.layout()), (3, KeyLayout::Aes256));
        assert!(a.keys().iter().all(|k| k.secret.len() == 64));
        let names: Vec<_> = a.names().collect();
        assert!(names[0] != names[1] && names[1] != names[2] && names[0] != names[2]);
        let b = a.rotated(&rng).unwrap();
        let b_names: Vec<_> = b.names().collect();
        assert_eq!(b_names[..2], names[1..]);
        assert!(!names.contains(&b_names[2]));
        // The old "next" key now encrypts; the old encrypting key still decrypts.
        assert_eq!(b.encrypting(), names[2]);
        assert_eq!(b.keys()[0].secret, a.keys()[1].secret);

        let file = parse_key_file(&key_file(&[1, 2, 3], KeyLayout::Aes128)).unwrap();
        let r = file.rotated(&rng).unwrap();
        assert_eq!(r.layout(), KeyLayout::Aes128);
        assert_eq!(r.encrypting(), name(3));
        assert_eq!(r.keys()[2].secret.len(), 32);
        let single = TicketKeys::generate(1, &rng).unwrap();
        let next = single.rotated(&rng).unwrap();
        assert_eq!(next.count(), 1);
        assert_ne!(next.encrypting(), single.encrypting());
    }

    #[test]
    #[allow(deprecated)] // ring's only deterministic generator lives in `ring::test`.
    fn repeating_generator_is_refused() {
        let stuck = ring::test::rand::FixedByteRandom { byte: 7 };
        assert_eq!(TicketKeys::generate(1, &stuck).unwrap().count(), 1);
        assert_eq!(
            TicketKeys::generate(2, &stuck).unwrap_err(),
            TicketKeyError::Random
        );
        let keys = TicketKeys::generate(1, &stuck).unwrap();
        assert_eq!(keys.rotated(&stuck).unwrap_err(), TicketKeyError::Random);
    }
}
