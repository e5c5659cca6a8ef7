//! Session-ticket keys: HAProxy's `tls-ticket-keys` file, and [`Ticketer`], the rustls
//! [`ProducesTickets`] that seals TLS 1.2 and TLS 1.3 tickets with those keys, so that every
//! shard, and every tlsterm process given the same file, resumes the others' sessions.
//!
//! # The key file
//!
//! One key per line, standard base64 with padding, decoding to 48 bytes (16-byte name,
//! 16-byte AES-128 key, 16-byte HMAC key) or 80 bytes (16-byte name, 32-byte AES-256 key,
//! 32-byte HMAC key); all keys of a file have the same length, names are unique, at least one
//! key. Blank lines and `#` comments are skipped, whitespace around a line is ignored.
//! **The second-to-last key encrypts** (the only key, when there is one); **every key
//! decrypts**. The file is meant to be rotated the HAProxy way: drop the first line, append a
//! new one. With three keys (previous, current, next) every host that has either the old or
//! the new file can open tickets sealed by hosts with the other one.
//!
//! Differences from HAProxy: HAProxy wants at least 3 lines (`TLS_TICKETS_NO`), keeps only the
//! last 3 for decryption and has no comments; we take one or more, all of them decrypt, and skip
//! comments. We are stricter in refusing duplicate names and non-canonical base64. A file of
//! three or more canonical lines with distinct names means the same encrypting key to both.
//! Make 80-byte lines with `openssl rand 80 | openssl base64 -A`: `openssl rand -base64 80`
//! wraps at 64 characters, which reads as one 48-byte key and a broken line.
//!
//! # Tickets
//!
//! Only the file format is shared with HAProxy, not the tickets (OpenSSL's ticket and session
//! encodings differ from rustls' anyway): a fleet resumes across tlsterm hosts, not across
//! tlsterm and HAProxy. A ticket is
//!
//! ```text
//! key name (16) || nonce (12) || AES-256-GCM ciphertext || tag (16)
//! ```
//!
//! with the key name as associated data. The AEAD key of each file key is
//! HKDF-SHA256(salt: none, input: the key's AES and HMAC bytes, info: `tlsterm ticket key v1`);
//! the label names the format, so a future format can derive different keys from the same file.
//! Decryption looks the name up among all keys and returns `None` on any failure: unknown
//! name, short or oversized input ([`MAX_TICKET_LEN`]), failed authentication.
//!
//! Nonces are 96 random bits from the system generator (a counter would need state shared by
//! all shards and hosts, and would reveal the ticket count). With random nonces a repeat is a
//! birthday event: after `q` tickets under one key its probability is about `q² / 2^97`. NIST
//! SP 800-38D caps one key at 2^32 random-nonce encryptions (repeat chance ≈ 2^-33). One key
//! encrypts only while it is second-to-last, i.e. one rotation period, summed over every host
//! sharing the file: with a 4-hour period 2^32 tickets means ~300,000 tickets/s sustained across
//! the fleet for 4 hours (rustls sends 2 TLS 1.3 tickets per handshake by default, so ~150,000
//! handshakes/s). A fleet near that rate should rotate more often.
//!
//! # How long tickets last
//!
//! A ticket opens as long as its key is in the file; rustls does not enforce
//! [`ProducesTickets::lifetime`], which is only the hint sent to clients. With three keys rotated
//! every `T`, a ticket is accepted for between `T` and `2T`, so the hint should be `T`
//! ([`DEFAULT_LIFETIME`]: 2 hours). Hints are capped at 7 days (RFC 8446 §4.6.1).
//!
//! # Without a key file
//!
//! Use `TicketKeys::generate(GENERATED_KEYS, &rng)` ([`TicketKeys::generate`]) once per
//! process at start and, every rotation period, [`TicketKeys::rotated`]; build one new
//! [`Ticketer`] each time and swap it into every shard with the rest of the TLS configuration —
//! the same path as a changed key file. We prefer this over rustls' own
//! `rustls::crypto::ring::Ticketer::new()` because: one code path and one ticket format for both
//! cases; the schedule is driven by our clock module (testable with a fake clock) instead of a
//! wall-clock read inside rustls; rustls' rotator takes a shared `RwLock` on every ticket
//! operation, i.e. an atomic reader count bounced between every shard's core, while a
//! [`Ticketer`] is immutable; and key names and counts are visible for logs and metrics. The
//! generated set must be kept across configuration reloads, or a reload invalidates every
//! outstanding ticket.
//!
//! # Not done here
//!
//! No file I/O (the caller reads the file and adds its path to errors), no watching, no
//! rotation schedule, no clock, no metrics, no TLS 1.2 session-ID cache.
//!
//! # Invariants
//!
//! A [`Ticketer`] is immutable (`Send + Sync`, no locks); rotation replaces it whole. Key bytes
//! never appear in `Debug` output or errors: only key names (public, in every ticket) as hex
//! and counts. Nothing a client sends makes it panic. Not done: key bytes are not zeroed on
//! drop (no `zeroize` dependency; ring's key schedules are not zeroed either).

mod base64;
mod keys;
#[cfg(test)]
mod resume_tests;

pub use base64::Base64Error;
pub use keys::{
    parse_key_file, KeyLayout, KeyName, TicketKeyError, TicketKeys, GENERATED_KEYS, NAME_LEN,
};

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};
use rustls::server::ProducesTickets;
use std::fmt;
use std::time::Duration;

/// Lifetime hint sent with tickets by default: 2 hours, one rotation period of the key file.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(2 * 60 * 60);

/// Longest lifetime hint TLS 1.3 allows (RFC 8446 §4.6.1): 7 days.
pub const MAX_LIFETIME: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Largest session state sealed into a ticket, in bytes. rustls' session values without client
/// certificates are a few hundred bytes; larger plaintexts get no ticket (rustls then sends none
/// in TLS 1.3 and an empty one in TLS 1.2).
pub const MAX_PLAINTEXT_LEN: usize = 4096;

/// Largest ticket [`Ticketer::decrypt`] will try; longer input is refused before any work.
pub const MAX_TICKET_LEN: usize = OVERHEAD + MAX_PLAINTEXT_LEN;

/// HKDF info label for the per-key AEAD key; changing it changes the ticket format.
const DERIVE_INFO: &[u8] = b"tlsterm ticket key v1";

const TAG_LEN: usize = 16;

/// Bytes a ticket adds to the plaintext: name, nonce, tag.
pub const OVERHEAD: usize = NAME_LEN + NONCE_LEN + TAG_LEN;

/// One key ready to seal and open.
struct SealingKey {
    name: KeyName,
    aead: LessSafeKey,
}

impl SealingKey {
    fn derive(name: KeyName, secret: &[u8]) -> Self {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(secret);
        // Cannot fail: HKDF-SHA256 can expand up to 255 × 32 bytes and we ask for 32.
        let okm = prk
            .expand(&[DERIVE_INFO], &AES_256_GCM)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        SealingKey {
            name,
            aead: LessSafeKey::new(UnboundKey::from(okm)),
        }
    }
}

/// Seals and opens session tickets with the keys of one [`TicketKeys`] set. Immutable;
/// share one `Arc` between all shards' `ServerConfig`s.
pub struct Ticketer {
    /// In file order.
    keys: Vec<SealingKey>,
    /// `(name, index into keys)`, sorted by name, for lookup on decrypt.
    by_name: Vec<(KeyName, usize)>,
    /// Index into `keys` of the encrypting key (second-to-last).
    encrypting: usize,
    /// Lifetime hint in seconds.
    lifetime: u32,
    rng: SystemRandom,
}

impl Ticketer {
    /// A ticketer for `keys`, advertising `lifetime` (whole seconds, capped at
    /// [`MAX_LIFETIME`]; use [`DEFAULT_LIFETIME`] unless the rotation period differs).
    pub fn from_keys(keys: TicketKeys, lifetime: Duration) -> Self {
        let sealing: Vec<SealingKey> = keys
            .keys()
            .iter()
            .map(|k| SealingKey::derive(k.name, &k.secret))
            .collect();
        let mut by_name: Vec<(KeyName, usize)> = sealing
            .iter()
            .enumerate()
            .map(|(i, k)| (k.name, i))
            .collect();
        by_name.sort_unstable();
        let secs = lifetime.min(MAX_LIFETIME).as_secs();
        Ticketer {
            keys: sealing,
            by_name,
            encrypting: keys.encrypting_index(),
            // Cannot fail: capped at 7 days above.
            lifetime: u32::try_from(secs).unwrap_or(u32::MAX),
            rng: SystemRandom::new(),
        }
    }

    /// Name of the key that seals new tickets.
    pub fn encrypting_key(&self) -> KeyName {
        // Cannot panic: `encrypting` came from the (non-empty) key set the keys were built from.
        self.keys[self.encrypting].name
    }

    /// Names of all keys that open tickets, in file order.
    pub fn key_names(&self) -> impl Iterator<Item = KeyName> + '_ {
        self.keys.iter().map(|k| k.name)
    }

    fn find(&self, name: &[u8]) -> Option<&SealingKey> {
        let name = KeyName(name.try_into().ok()?);
        let i = self.by_name.binary_search_by(|(n, _)| n.cmp(&name)).ok()?;
        self.keys.get(self.by_name.get(i)?.1)
    }
}

impl ProducesTickets for Ticketer {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        self.lifetime
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        if plain.len() > MAX_PLAINTEXT_LEN {
            return None;
        }
        let key = self.keys.get(self.encrypting)?;
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).ok()?;
        let mut out = Vec::with_capacity(OVERHEAD + plain.len());
        out.extend_from_slice(&key.name.0);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plain);
        let tag = key
            .aead
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(key.name.0),
                &mut out[NAME_LEN + NONCE_LEN..],
            )
            .ok()?;
        out.extend_from_slice(tag.as_ref());
        Some(out)
    }

    fn decrypt(&self, ticket: &[u8]) -> Option<Vec<u8>> {
        if ticket.len() < OVERHEAD || ticket.len() > MAX_TICKET_LEN {
            return None;
        }
        let (name, rest) = ticket.split_at_checked(NAME_LEN)?;
        let (nonce, sealed) = rest.split_at_checked(NONCE_LEN)?;
        let key = self.find(name)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = sealed.to_vec();
        let plain_len = key
            .aead
            .open_in_place(nonce, Aad::from(name), &mut buf)
            .ok()?
            .len();
        buf.truncate(plain_len);
        Some(buf)
    }
}

impl fmt::Debug for Ticketer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticketer")
            .field("keys", &self.keys.len())
            .field("names", &self.key_names().collect::<Vec<_>>())
            .field("encrypting", &self.encrypting_key())
            .field("lifetime", &self.lifetime)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::keys::tests::key_file;
    use super::*;

    fn ticketer(tags: &[u8], layout: KeyLayout) -> Ticketer {
        let keys = parse_key_file(&key_file(tags, layout)).unwrap();
        Ticketer::from_keys(keys, DEFAULT_LIFETIME)
    }

    const PLAIN: &[u8] = b"rustls server session value";

    #[test]
    fn round_trip_both_layouts() {
        for layout in [KeyLayout::Aes128, KeyLayout::Aes256] {
            let t = ticketer(&[1, 2, 3], layout);
            let a = t.encrypt(PLAIN).unwrap();
            assert_eq!(a.len(), PLAIN.len() + OVERHEAD);
            assert_eq!(a.len(), PLAIN.len() + 44);
            assert_eq!(t.decrypt(&a).unwrap(), PLAIN);
            // Random nonces: the same state seals differently each time.
            let b = t.encrypt(PLAIN).unwrap();
            assert_ne!(a[16..28], b[16..28]);
            assert_eq!(t.decrypt(&b).unwrap(), PLAIN);
            let empty = t.encrypt(b"").unwrap();
            assert_eq!(empty.len(), OVERHEAD);
            assert_eq!(t.decrypt(&empty).unwrap(), b"");
        }
    }

    #[test]
    fn second_to_last_key_seals() {
        let t = ticketer(&[1, 2, 3], KeyLayout::Aes128);
        assert_eq!(t.encrypting_key(), KeyName([2; 16]));
        assert_eq!(t.encrypt(PLAIN).unwrap()[..16], [2; 16]);
        let t = ticketer(&[9], KeyLayout::Aes256);
        assert_eq!(t.encrypt(PLAIN).unwrap()[..16], [9; 16]);
        let t = ticketer(&[4, 5], KeyLayout::Aes128);
        assert_eq!(t.encrypt(PLAIN).unwrap()[..16], [4; 16]);
    }

    /// Independent check of the ticket format: this ticket was made with Python's
    /// `cryptography` (HKDF-SHA256, salt none, info "tlsterm ticket key v1", over the secret
    /// of `key_bytes(0x21, Aes128)`; AES-256-GCM, nonce 00..0b, AAD = name) for the plaintext
    /// "session state". If this fails, tickets from older tlsterm versions stop opening.
    #[test]
    fn known_answer_ticket() {
        let hex = "21212121212121212121212121212121000102030405060708090a0b1b92870614b2a9c1d39fef\
                   77f07517550fc1452ef866c4264dea3400db";
        let ticket: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let t = ticketer(&[0x21], KeyLayout::Aes128);
        assert_eq!(t.decrypt(&ticket).unwrap(), b"session state");
        let other = ticketer(&[0x22, 0x21], KeyLayout::Aes128);
        assert_eq!(other.decrypt(&ticket).unwrap(), b"session state");
    }

    #[test]
    fn rotation_keeps_tickets_of_keys_still_in_the_file() {
        let a = ticketer(&[1, 2, 3], KeyLayout::Aes128);
        // The timer's next file: first line dropped, a new one appended.
        let b = ticketer(&[2, 3, 4], KeyLayout::Aes128);
        let c = ticketer(&[3, 4, 5], KeyLayout::Aes128);
        let from_a = a.encrypt(PLAIN).unwrap();
        let from_b = b.encrypt(PLAIN).unwrap();
        assert_eq!(from_b[..16], [3; 16]);
        assert_eq!(b.decrypt(&from_a).unwrap(), PLAIN);
        // A host still on the old file opens tickets from a host on the new one.
        assert_eq!(a.decrypt(&from_b).unwrap(), PLAIN);
        // Key 2 has left the file: its tickets are gone.
        assert_eq!(c.decrypt(&from_a), None);
        assert_eq!(c.decrypt(&from_b).unwrap(), PLAIN);
    }

    #[test]
    fn same_name_other_secret_does_not_open() {
        let a = ticketer(&[1, 2, 3], KeyLayout::Aes128);
        let ticket = a.encrypt(PLAIN).unwrap();
        let mut bytes = keys::tests::key_bytes(2, KeyLayout::Aes128);
        bytes[40] ^= 1;
        let text = base64::encode(&bytes);
        let keys = parse_key_file(&text).unwrap();
        assert_eq!(keys.encrypting(), KeyName([2; 16]));
        let b = Ticketer::from_keys(keys, DEFAULT_LIFETIME);
        assert_eq!(b.decrypt(&ticket), None);
    }

    #[test]
    fn tampered_tickets_fail() {
        let t = ticketer(&[1, 2, 3], KeyLayout::Aes256);
        let ticket = t.encrypt(PLAIN).unwrap();
        for i in 0..ticket.len() {
            for mask in [0x01, 0x80, 0xff] {
                let mut bad = ticket.clone();
                bad[i] ^= mask;
                assert_eq!(t.decrypt(&bad), None, "byte {i} ^ {mask:#x}");
            }
        }
        let mut longer = ticket.clone();
        longer.push(0);
        assert_eq!(t.decrypt(&longer), None);
        assert_eq!(t.decrypt(&ticket).unwrap(), PLAIN);
    }

    #[test]
    fn every_prefix_fails() {
        let t = ticketer(&[1, 2, 3], KeyLayout::Aes128);
        for plain in [&b""[..], PLAIN] {
            let ticket = t.encrypt(plain).unwrap();
            for len in 0..ticket.len() {
                assert_eq!(t.decrypt(&ticket[..len]), None, "prefix {len}");
            }
            assert_eq!(t.decrypt(&ticket).unwrap(), plain);
        }
    }

    #[test]
    fn garbage_fails() {
        let t = ticketer(&[1, 2, 3], KeyLayout::Aes128);
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        };
        for len in 0..300 {
            let mut junk: Vec<u8> = (0..len).map(|_| next()).collect();
            assert_eq!(t.decrypt(&junk), None, "len {len}");
            // Also with a known key name in front.
            for (i, b) in junk.iter_mut().take(16).enumerate() {
                *b = [2u8; 16][i];
            }
            assert_eq!(t.decrypt(&junk), None, "named, len {len}");
        }
        assert_eq!(t.decrypt(&[2; 16 + 12 + 16]), None);
    }

    #[test]
    fn size_limits() {
        let t = ticketer(&[1, 2, 3], KeyLayout::Aes128);
        let big = vec![7u8; MAX_PLAINTEXT_LEN];
        let ticket = t.encrypt(&big).unwrap();
        assert_eq!(ticket.len(), MAX_TICKET_LEN);
        assert_eq!(t.decrypt(&ticket).unwrap(), big);
        assert_eq!(t.encrypt(&vec![7u8; MAX_PLAINTEXT_LEN + 1]), None);
        let mut over = ticket.clone();
        over.push(0);
        assert_eq!(t.decrypt(&over), None);
        assert_eq!(t.decrypt(&vec![2u8; 70_000]), None);
    }

    #[test]
    fn lifetime_hint() {
        let keys = || parse_key_file(&key_file(&[1], KeyLayout::Aes128)).unwrap();
        assert!(Ticketer::from_keys(keys(), DEFAULT_LIFETIME).enabled());
        let cases = [
            (DEFAULT_LIFETIME, 7200),
            (Duration::from_millis(1900), 1),
            (Duration::ZERO, 0),
            (Duration::from_secs(30 * 24 * 3600), 604_800),
            (Duration::MAX, 604_800),
        ];
        for (lifetime, secs) in cases {
            assert_eq!(Ticketer::from_keys(keys(), lifetime).lifetime(), secs);
        }
    }

    #[test]
    fn debug_shows_names_only() {
        let t = ticketer(&[0xa1, 0xb2], KeyLayout::Aes128);
        assert_eq!(
            format!("{t:?}"),
            "Ticketer { keys: 2, names: [KeyName(a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1), \
             KeyName(b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2)], \
             encrypting: KeyName(a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1), lifetime: 7200 }"
        );
        assert_eq!(
            t.key_names().collect::<Vec<_>>(),
            [KeyName([0xa1; 16]), KeyName([0xb2; 16])]
        );
    }

    #[test]
    fn is_send_sync_and_usable_by_rustls() {
        fn assert_send_sync<T: Send + Sync + fmt::Debug>() {}
        assert_send_sync::<Ticketer>();
        let t: std::sync::Arc<dyn ProducesTickets> =
            std::sync::Arc::new(ticketer(&[1], KeyLayout::Aes128));
        assert!(t.enabled());
    }
}
