//! The post-quantum hybrid key-exchange group X25519MLKEM768 (codepoint 0x11EC,
//! draft-ietf-tls-ecdhe-mlkem) for the rustls *ring* provider.
//!
//! Job: a [`SupportedKxGroup`] that rustls can put in a `CryptoProvider` next to ring's own
//! groups. ML-KEM-768 (FIPS 203) comes from `libcrux-ml-kem` (formally verified for panic
//! freedom, correctness and secret independence); X25519 is ring's, through rustls'
//! `kx_group::X25519`.
//!
//! Wire format (all lengths exact, ML-KEM first as the draft orders it):
//! - client share = ML-KEM-768 encapsulation key (1184) ‖ X25519 public key (32) = 1216 bytes
//! - server share = ML-KEM-768 ciphertext (1088) ‖ X25519 public key (32) = 1120 bytes
//! - shared secret = ML-KEM shared secret (32) ‖ X25519 shared secret (32) = 64 bytes
//!
//! Server side ([`SupportedKxGroup::start_and_complete`]) encapsulates to the client's key: it
//! never decapsulates and holds no ML-KEM private key. Client side ([`SupportedKxGroup::start`]
//! and [`ActiveKeyExchange::complete`]) generates a key pair and decapsulates; the terminator
//! itself never acts as a TLS client, but tests (and any in-crate client) use it. The client
//! also offers its X25519 half as a separate X25519 share (rustls' `hybrid_component`).
//!
//! Not done here: choosing which groups a configuration offers (that is
//! [`crate::tls::provider_with_groups`]), or naming the group in logs (that is
//! [`crate::tls::props::group_name`]).
//!
//! Invariants: never panics on peer input; a share of the wrong length, an encapsulation key
//! that fails the FIPS 203 modulus check, or an X25519 share ring rejects is
//! `PeerMisbehaved::InvalidKeyShare`, which rustls answers with an `illegal_parameter` alert.
//! Usable for TLS 1.3 only.

#[cfg(test)]
mod interop;
#[cfg(test)]
mod kat;

use libcrux_ml_kem::mlkem768::{self, MlKem768Ciphertext, MlKem768PrivateKey, MlKem768PublicKey};
use ring::rand::{SecureRandom, SystemRandom};
use rustls::crypto::ring::kx_group;
use rustls::crypto::{ActiveKeyExchange, CompletedKeyExchange, SharedSecret, SupportedKxGroup};
use rustls::ffdhe_groups::FfdheGroup;
use rustls::{Error, NamedGroup, PeerMisbehaved, ProtocolVersion};

/// ML-KEM-768 encapsulation key length.
pub const MLKEM768_EK_LEN: usize = 1184;
/// ML-KEM-768 ciphertext length.
pub const MLKEM768_CT_LEN: usize = 1088;
/// X25519 public key length.
pub const X25519_LEN: usize = 32;
/// Client key share: encapsulation key ‖ X25519 public key.
pub const CLIENT_SHARE_LEN: usize = MLKEM768_EK_LEN + X25519_LEN;
/// Server key share: ciphertext ‖ X25519 public key.
pub const SERVER_SHARE_LEN: usize = MLKEM768_CT_LEN + X25519_LEN;
/// Combined shared secret: ML-KEM secret ‖ X25519 secret.
pub const SECRET_LEN: usize = 64;

/// X25519MLKEM768 on ring + libcrux-ml-kem, for a rustls `CryptoProvider::kx_groups` list.
pub static X25519MLKEM768: &dyn SupportedKxGroup = &X25519MlKem768;

/// The group behind [`X25519MLKEM768`]; stateless.
#[derive(Debug)]
struct X25519MlKem768;

impl SupportedKxGroup for X25519MlKem768 {
    /// Client side: a fresh ML-KEM-768 key pair and X25519 key.
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
        let mut seed = [0u8; libcrux_ml_kem::KEY_GENERATION_SEED_SIZE];
        random(&mut seed)?;
        let (dk, ek) = mlkem768::generate_key_pair(seed).into_parts();
        let x25519 = kx_group::X25519.start()?;
        let mut pub_key = Vec::with_capacity(CLIENT_SHARE_LEN);
        pub_key.extend_from_slice(ek.as_slice());
        pub_key.extend_from_slice(x25519.pub_key());
        Ok(Box::new(ClientKx {
            dk,
            x25519,
            pub_key,
        }))
    }

    /// Server side: encapsulate to the client's ML-KEM key, X25519 with its X25519 key.
    fn start_and_complete(&self, client_share: &[u8]) -> Result<CompletedKeyExchange, Error> {
        let mut m = [0u8; libcrux_ml_kem::ENCAPS_SEED_SIZE];
        random(&mut m)?;
        server_complete(client_share, m, kx_group::X25519)
    }

    fn ffdhe_group(&self) -> Option<FfdheGroup<'static>> {
        None
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::X25519MLKEM768
    }

    fn usable_for_version(&self, version: ProtocolVersion) -> bool {
        version == ProtocolVersion::TLSv1_3
    }
}

/// The server's half with the randomness `m` and the X25519 group passed in, so tests can
/// pin both (FIPS 203 `ML-KEM.Encaps_internal(ek, m)`).
fn server_complete(
    client_share: &[u8],
    m: [u8; libcrux_ml_kem::ENCAPS_SEED_SIZE],
    x25519: &dyn SupportedKxGroup,
) -> Result<CompletedKeyExchange, Error> {
    let (ek, x_peer) = parse_client_share(client_share)?;
    let x = x25519.start_and_complete(x_peer)?;
    let (ct, ss_m) = mlkem768::encapsulate(&ek, m);
    let mut pub_key = Vec::with_capacity(SERVER_SHARE_LEN);
    pub_key.extend_from_slice(ct.as_ref());
    pub_key.extend_from_slice(&x.pub_key);
    Ok(CompletedKeyExchange {
        group: NamedGroup::X25519MLKEM768,
        pub_key,
        secret: combine(&ss_m, x.secret.secret_bytes()),
    })
}

/// Splits and checks a client share: exact length, and the FIPS 203 §7.2 encapsulation-key
/// (modulus) check. The X25519 half is checked by ring when used.
fn parse_client_share(share: &[u8]) -> Result<(MlKem768PublicKey, &[u8]), Error> {
    if share.len() != CLIENT_SHARE_LEN {
        return Err(invalid());
    }
    let (ek, x) = share.split_at(MLKEM768_EK_LEN);
    let ek = MlKem768PublicKey::try_from(ek).map_err(|_| invalid())?;
    if !mlkem768::validate_public_key(&ek) {
        return Err(invalid());
    }
    Ok((ek, x))
}

/// Splits a server share (exact length) into ciphertext and X25519 public key.
fn parse_server_share(share: &[u8]) -> Result<(MlKem768Ciphertext, &[u8]), Error> {
    if share.len() != SERVER_SHARE_LEN {
        return Err(invalid());
    }
    let (ct, x) = share.split_at(MLKEM768_CT_LEN);
    let ct = MlKem768Ciphertext::try_from(ct).map_err(|_| invalid())?;
    Ok((ct, x))
}

/// `ML-KEM shared secret ‖ X25519 shared secret` (draft-ietf-tls-ecdhe-mlkem §3).
fn combine(ss_mlkem: &[u8], ss_x25519: &[u8]) -> SharedSecret {
    let mut secret = Vec::with_capacity(SECRET_LEN);
    secret.extend_from_slice(ss_mlkem);
    secret.extend_from_slice(ss_x25519);
    SharedSecret::from(secret)
}

fn invalid() -> Error {
    Error::PeerMisbehaved(PeerMisbehaved::InvalidKeyShare)
}

fn random(buf: &mut [u8]) -> Result<(), Error> {
    SystemRandom::new()
        .fill(buf)
        .map_err(|_| Error::from(rustls::crypto::GetRandomFailed))
}

/// A client's key exchange in flight: the ML-KEM decapsulation key and the X25519 half.
struct ClientKx {
    dk: MlKem768PrivateKey,
    x25519: Box<dyn ActiveKeyExchange>,
    /// Our share: encapsulation key ‖ X25519 public key.
    pub_key: Vec<u8>,
}

impl ActiveKeyExchange for ClientKx {
    fn complete(self: Box<Self>, server_share: &[u8]) -> Result<SharedSecret, Error> {
        let (ct, x_peer) = parse_server_share(server_share)?;
        let ss_x = self.x25519.complete(x_peer)?;
        // Implicit rejection: a forged ciphertext yields a pseudorandom secret, and the
        // handshake then fails at Finished.
        let ss_m = mlkem768::decapsulate(&self.dk, &ct);
        Ok(combine(&ss_m, ss_x.secret_bytes()))
    }

    fn hybrid_component(&self) -> Option<(NamedGroup, &[u8])> {
        Some((NamedGroup::X25519, &self.pub_key[MLKEM768_EK_LEN..]))
    }

    fn complete_hybrid_component(
        self: Box<Self>,
        server_share: &[u8],
    ) -> Result<SharedSecret, Error> {
        self.x25519.complete(server_share)
    }

    fn pub_key(&self) -> &[u8] {
        &self.pub_key
    }

    fn ffdhe_group(&self) -> Option<FfdheGroup<'static>> {
        None
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::X25519MLKEM768
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid client share from our own client side.
    fn client() -> Box<dyn ActiveKeyExchange> {
        X25519MLKEM768.start().unwrap()
    }

    fn is_invalid_share(e: &Error) -> bool {
        *e == Error::PeerMisbehaved(PeerMisbehaved::InvalidKeyShare)
    }

    #[test]
    fn names_and_versions() {
        assert_eq!(X25519MLKEM768.name(), NamedGroup::X25519MLKEM768);
        assert_eq!(u16::from(X25519MLKEM768.name()), 0x11ec);
        assert!(X25519MLKEM768.usable_for_version(ProtocolVersion::TLSv1_3));
        assert!(!X25519MLKEM768.usable_for_version(ProtocolVersion::TLSv1_2));
        assert!(X25519MLKEM768.ffdhe_group().is_none());
        assert!(!X25519MLKEM768.fips());
    }

    #[test]
    fn client_and_server_agree() {
        let c = client();
        assert_eq!(c.pub_key().len(), CLIENT_SHARE_LEN);
        assert_eq!(c.group(), NamedGroup::X25519MLKEM768);
        let (g, x) = c.hybrid_component().unwrap();
        assert_eq!(g, NamedGroup::X25519);
        assert_eq!(x, &c.pub_key()[MLKEM768_EK_LEN..]);
        let s = X25519MLKEM768.start_and_complete(c.pub_key()).unwrap();
        assert_eq!(s.group, NamedGroup::X25519MLKEM768);
        assert_eq!(s.pub_key.len(), SERVER_SHARE_LEN);
        assert_eq!(s.secret.secret_bytes().len(), SECRET_LEN);
        let secret = c.complete(&s.pub_key).unwrap();
        assert_eq!(secret.secret_bytes(), s.secret.secret_bytes());
    }

    #[test]
    fn fresh_randomness_each_time() {
        let c = client();
        let a = X25519MLKEM768.start_and_complete(c.pub_key()).unwrap();
        let b = X25519MLKEM768.start_and_complete(c.pub_key()).unwrap();
        assert_ne!(a.pub_key, b.pub_key);
        assert_ne!(a.secret.secret_bytes(), b.secret.secret_bytes());
        assert_ne!(client().pub_key(), c.pub_key());
    }

    #[test]
    fn hybrid_component_is_plain_x25519() {
        // A server that picked X25519 from the client's extra share: the classical half
        // completes on its own.
        let c = client();
        let x_share = c.hybrid_component().unwrap().1.to_vec();
        let s = kx_group::X25519.start_and_complete(&x_share).unwrap();
        let secret = c.complete_hybrid_component(&s.pub_key).unwrap();
        assert_eq!(secret.secret_bytes(), s.secret.secret_bytes());
    }

    #[test]
    fn every_truncated_client_share_is_rejected() {
        let share = client().pub_key().to_vec();
        for n in 0..share.len() {
            let e = X25519MLKEM768.start_and_complete(&share[..n]).err();
            assert!(
                e.as_ref().is_some_and(is_invalid_share),
                "prefix {n}: {e:?}"
            );
        }
        let mut long = share.clone();
        long.push(0);
        let e = X25519MLKEM768.start_and_complete(&long).err();
        assert!(e.as_ref().is_some_and(is_invalid_share));
    }

    #[test]
    fn every_truncated_server_share_is_rejected() {
        let c = client();
        let s = X25519MLKEM768.start_and_complete(c.pub_key()).unwrap();
        for n in 0..s.pub_key.len() {
            let e = client().complete(&s.pub_key[..n]).err();
            assert!(
                e.as_ref().is_some_and(is_invalid_share),
                "prefix {n}: {e:?}"
            );
        }
    }

    #[test]
    fn encapsulation_key_failing_modulus_check_is_rejected() {
        let mut share = client().pub_key().to_vec();
        // First coefficient = 0xFFF = 4095 >= q = 3329 (12-bit little-endian packing).
        share[0] = 0xff;
        share[1] |= 0x0f;
        let e = X25519MLKEM768.start_and_complete(&share).err();
        assert!(e.as_ref().is_some_and(is_invalid_share), "{e:?}");
        // All-0xFF: every coefficient out of range.
        let mut ff = vec![0xff; CLIENT_SHARE_LEN];
        ff[MLKEM768_EK_LEN..].copy_from_slice(&share[MLKEM768_EK_LEN..]);
        let e = X25519MLKEM768.start_and_complete(&ff).err();
        assert!(e.as_ref().is_some_and(is_invalid_share), "{e:?}");
    }

    #[test]
    fn all_zero_x25519_half_is_rejected() {
        // The all-zero point has small order: ring refuses the all-zero shared secret.
        let mut share = client().pub_key().to_vec();
        share[MLKEM768_EK_LEN..].fill(0);
        let e = X25519MLKEM768.start_and_complete(&share).err();
        assert!(e.as_ref().is_some_and(is_invalid_share), "{e:?}");
    }

    /// xorshift64*: deterministic garbage without a rand dependency.
    fn garbage(seed: &mut u64, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| {
                *seed ^= *seed >> 12;
                *seed ^= *seed << 25;
                *seed ^= *seed >> 27;
                (seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect()
    }

    #[test]
    fn random_shares_never_panic() {
        let mut seed = 0x9e37_79b9_7f4a_7c15;
        let lens = [
            0, 1, 32, 1183, 1184, 1215, 1216, 1217, 1088, 1119, 1120, 1121, 4096,
        ];
        for round in 0..40 {
            for len in lens {
                let junk = garbage(&mut seed, len);
                let server = X25519MLKEM768.start_and_complete(&junk);
                if len != CLIENT_SHARE_LEN {
                    assert!(server.err().as_ref().is_some_and(is_invalid_share));
                } else if round == 0 {
                    // Random bytes almost surely hold a coefficient >= q: rejected.
                    assert!(server.err().as_ref().is_some_and(is_invalid_share));
                }
                let client = client().complete(&junk);
                if len != SERVER_SHARE_LEN {
                    assert!(client.err().as_ref().is_some_and(is_invalid_share));
                } else {
                    // A random ciphertext decapsulates (implicit rejection) to some secret.
                    assert_eq!(client.unwrap().secret_bytes().len(), SECRET_LEN);
                }
            }
        }
    }
}
