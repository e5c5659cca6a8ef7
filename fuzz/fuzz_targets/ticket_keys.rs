//! Fuzz target: `tlsterm::tls::tickets::parse_key_file` (HAProxy `tls-ticket-keys` format) and
//! the `Ticketer` built from what it accepts.
//!
//! Input: the file text (invalid UTF-8 is replaced, as a lossy reader would; the file loader
//! itself refuses non-UTF-8, so those inputs only widen the search).
//!
//! Checked beyond "no panic":
//! - an accepted file has at least one key, all of one layout, distinct names, and the
//!   second-to-last key (the only one, when alone) encrypts;
//! - errors render (`Display`) without panicking;
//! - the `Ticketer` seals the input (cut to the plaintext limit) and opens it again, opens
//!   nothing it did not seal (the raw input as a ticket), and a ticket whose last byte is
//!   flipped does not open.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rustls::server::ProducesTickets;
use std::collections::HashSet;
use std::time::Duration;
use tlsterm::tls::tickets::{parse_key_file, Ticketer, DEFAULT_LIFETIME, MAX_PLAINTEXT_LEN};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let keys = match parse_key_file(&text) {
        Ok(k) => k,
        Err(e) => {
            let _ = e.to_string();
            let _ = format!("{e:?}");
            return;
        }
    };
    let n = keys.count();
    assert!(n >= 1);
    let names: Vec<_> = keys.names().collect();
    assert_eq!(names.len(), n);
    assert_eq!(
        names.iter().collect::<HashSet<_>>().len(),
        n,
        "duplicate key names"
    );
    let expected = if n == 1 { 0 } else { n - 2 };
    assert_eq!(keys.encrypting_index(), expected);
    assert_eq!(keys.encrypting(), names[expected]);
    let _ = format!("{keys:?}");

    let ticketer = Ticketer::from_keys(keys, DEFAULT_LIFETIME.min(Duration::from_secs(7200)));
    assert_eq!(ticketer.encrypting_key(), names[expected]);
    let plain = &data[..data.len().min(MAX_PLAINTEXT_LEN)];
    let sealed = ticketer
        .encrypt(plain)
        .expect("sealing a plaintext within the limit");
    assert_eq!(ticketer.decrypt(&sealed).as_deref(), Some(plain));
    let mut bad = sealed.clone();
    if let Some(last) = bad.last_mut() {
        *last ^= 1;
    }
    assert_eq!(ticketer.decrypt(&bad), None, "a corrupted ticket opened");
    assert_eq!(ticketer.decrypt(data), None, "an unsealed input opened");
});
