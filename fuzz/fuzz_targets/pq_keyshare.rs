//! Fuzz target: the X25519MLKEM768 key-share parser and combiner (`tlsterm::tls::pq`).
//!
//! Input: a client key share as it arrives in a ClientHello (valid length is 1216 bytes:
//! ML-KEM-768 encapsulation key || X25519 public key).
//!
//! Checked beyond "no panic": a share of any length other than 1216 bytes is refused; an
//! accepted share yields a 1120-byte server share (ciphertext || X25519 public key) and a
//! 64-byte shared secret; the client side (`start` + `complete`) refuses malformed server shares
//! the same way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlsterm::tls::pq::X25519MLKEM768;

fuzz_target!(|data: &[u8]| {
    match X25519MLKEM768.start_and_complete(data) {
        Ok(done) => {
            assert_eq!(data.len(), 1216, "accepted a share of {} bytes", data.len());
            assert_eq!(done.pub_key.len(), 1120);
            assert_eq!(done.secret.secret_bytes().len(), 64);
        }
        Err(e) => {
            let _ = format!("{e:?}");
        }
    }
    if let Ok(kx) = X25519MLKEM768.start() {
        if let Ok(secret) = kx.complete(data) {
            assert_eq!(
                data.len(),
                1120,
                "client accepted a server share of {} bytes",
                data.len()
            );
            assert_eq!(secret.secret_bytes().len(), 64);
        }
    }
});
