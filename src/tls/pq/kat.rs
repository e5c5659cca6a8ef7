//! Known-answer tests for X25519MLKEM768 (compiled only for tests).
//!
//! What is covered, and by what:
//! - ML-KEM-768 encapsulation: NIST ACVP `ML-KEM-encapDecap-FIPS203`, test group 2
//!   (ML-KEM-768, encapsulation), tcId 26: `Encaps_internal(ek, m)` must give exactly `c` and
//!   `k`. This pins libcrux-ml-kem and the way we call it (key parsing, modulus check).
//! - The combiner and share layout, end to end through `server_complete`: the ACVP key and
//!   randomness for the ML-KEM half, and the RFC 7748 §6.1 X25519 values for the other half.
//!   ring cannot import a fixed X25519 scalar, so a stub group returns Bob's public key and the
//!   RFC's shared secret (after checking it was handed Alice's public key); X25519 arithmetic
//!   itself is ring's and tested there.
//!
//! Not covered here: decapsulation against a published vector (our client side is checked
//! against aws-lc-rs's server in `interop` instead). draft-ietf-tls-ecdhe-mlkem publishes no
//! hybrid test vectors.
use super::*;

fn hex(s: &str) -> Vec<u8> {
    assert_eq!(s.len() % 2, 0);
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// ACVP ML-KEM-encapDecap-FIPS203, tgId 2 (ML-KEM-768, encapsulation), tcId 26.

/// `ek` (1184 bytes).
const EK: &str = "\
    bef6a4f25671d65643b8fb83ee702fd62029d0b4bac82c0d3f699058337c2d759de3b257160a723480aa5eb6\
    bbe1c62cd293b24d86a09d094dabbb3ef4db9c93305e2d8c1ac2b79345ca206106a5964bb380bc5f1d2b59e7\
    e21521e57d5fc226c610377380ca92cc162adb3f15600f748102b6fb78915aa5e678be349c3a9b2713c0d60c\
    1d05c4c6dbaa5bb8356ac165f444c1675c97cbf50855e0c710d25cde88c528d50bfe896fd39846a0b9c59954\
    4d98c69580c18c0211b4684614339b490e367f3a8bbc5536615197ca36f9ac8dc8091ecaa3846900c538c44b\
    617d476306005671a4e3239ef01f4d913a82754483848e1ac66a3d42c25fbc732a2a594008ac00b561f70103\
    19b87317311e73e971ba051e5aa0ba4d1b27c729a3c8ccabfaab52726b34a5bc5da337b6d58911395a72da61\
    17ca9523efa5b985aca94863c4a66676ca3a94b94437ae19a76afcb8c7c980f4e2c2220799925c23e200a768\
    3556f058c0f5a552d45aac17272cbd398a89f234747149f8c79a0a808697ba2e74a58987620b227c7e001279\
    6ea76bbc459b2a637ca2d65e43f92b535c0b33578500281a5fdc3d3654821252cee20339d49088ca1422a822\
    764e3acbe8180e26168de2563052482a4e562237a341ae7caa80533126727e96d555230a5782a7addec4cb5e\
    9cc874336a4076aeab83997a7b507af25bb1720ce6aaa27fbc1f2adc40f5c97e4f9058eb57a0216c2d0a8339\
    1a3714c8abc1e1230378770f105c58ff2b54ed2921d0d977bb203beb8b8200ec76f6c548b6c440e5b9b82a0c\
    1bf168bd61e4a8e3a2831ba78db3a98ec7fc8161291c1fd5a1de1144dddb344af4bd74b7c846a40326c21713\
    1b5e5260af137795fa03907586a4ba8880c7bbb4f98a32a1518b9aa1132129b5410500cedb26eff968ac52ca\
    e6e8766afa3c375a63743badb0358ce8a5c02f437f262936b28bb320e366f2102abaa2a85c74658e3a19610b\
    97f76a2d564a579ba368c74a1cc1c518f87a78a4bc519e4cc516303014d905d7181309d9318f717d3d08ad53\
    b89664c45b83da31bdda09c24293f0344fdc317b88e099076098191567a1a7bb8fb5331e83a9ba70cf01a573\
    02370e45f103dc012d3597a2d13cbf3af130b919762027915705d0559957681a1d30949981317dd0c467b698\
    a0da396b31948c4b8b251a0cb9d225aef22badef967ca7f97a1d3c82c8e99247e9a9579909e57a669234c5f4\
    263ce3e8ad04f1acc77075a7a2007166bc6ad1cf795329e6b5c6ff9ba16baac94e126b52d0489fd393dc9764\
    baa58004f157fb159e67eb36a0b46a22cb660a402e2131800302007d394d5f37b7d92a8ef1e88509a55bef55\
    009640c29cda00a9e26a74c42b2a2601a0041a326c6ae916043c7b95c4b55e14a364199b246c0b85c2490f29\
    7050a87a19f7a283483522c3696ec15396f9041901b03f068ca4640444c59b782461aeb61c864a0bd0270a50\
    90b2b477e743b5f4b11ab22cddda9a0448a48fd0739091b54ee953c583458499a0af700c64e14a5562905e74\
    01ed503000cc2668725505a820b4c400ecdc7922db33672abc19028b4d8039398b37174c671a820510ca1b38\
    e636c6b3894c72acf699cc4644746ea25f3dc909f7d1e64550a398bf5e986a536efc3a3803681aa4";

/// `c` (1088 bytes).
const CT: &str = "\
    353ccdf722562fad5d13fed1e55c9428b51203d66bb5ea8764e726beea25b882d947a11cfa3c9abc9874eb2b\
    c15226061cde8c51fcee63483464d04a14314cff9305fc1f42411ff23cd654ef7c074c4e75fa5c1205761ddc\
    e21fd65a968161b060e98ec186f8981bbc6ab5cea71561a12e7e2a6316cf231b6325f517c11e39e45dacde55\
    a1a2a116a32a7d85ebd8afc89e5c60fca801d50ce32210d20a0a7edba5702d71097c681de90f0de55d08dea1\
    7c8a558af7634571fa104a336d61a46cf1d3d14f4f65b1353d3ecb87d1587ee7358e5636e46051fafef0a6f4\
    b2fe20be299b6bc12c06a5309e78034fc7c217fd2891f271e16fb2e2a3b58203e5e282d9f65ce40f542db4b5\
    23b97713fbf9693aa90bbfc16dcd9ef831af8e2a74f0caa43e3633f9b1e0d2fdd48c02d77702202369b7be97\
    9e2f7f7910acdbeaa1afd1a0479fbe32af1d795144b06a821b93c695e82940a24096b1ef142cc2be2d3daf2a\
    7d92881847bbf0aeeb376a13a90548ce24e4c1c8e7821ec954ee4b9422d7eff91fbc89af636ef1d8cb32c8d6\
    cd35dcf2f9493b728cfde3d5d22c69df1f9dae13c58fbc04097e800a9a23ad6cf75bc35a831d9190ed8e047a\
    8186acf55dd44480c0791f7adf602c028b71415d2416bf89ca6b4cfeb4dd56b1ba6f2199447108de26242b89\
    d0a797a5d72d90da4fa29002517395a6d67654718a1b22c9901b94129f1b2de39901c56208b0fbaf1504be7c\
    6961892bdf970f7f4c70bca257bbd9b24736e51e64846aa9c0db4bafd4d4f1fea851b40444eb4eac2fd27a21\
    d907d7a885b4decff5788d36a74a0cf0e19786d402e276684a40eeac7db7b4c5cd83550f97d871d800e82ac6\
    4954412ce4729df8e3bb9e1053fa15a693d28defb1e1fe869127231958dd388291c9fc89e75e2ebe34dd9080\
    2c1366e280623451f899e11f2d9f58566e79fc563bf7f5c236c527746c5ae7b43f9e61b94eeb94540ba33896\
    98d16f6a1f73eb15cc2876160854b1d3284b4b0f15572465b18c6407d9e642f492f84a0cfe52c712348194cc\
    9ec38b8526cdd8156f0659847119bb5fcb7b31f68ed619c7faf5288205b2a3f97cc835a1636bca20c92e525c\
    fe259f9c991885a8a3963f314f424725c9f807af6c80c4b7beb7b0097d082833c1510951578b10e06055464e\
    8377d3b88b08daf2ee3fd7d8eae611afd044d1bbb3d9b6d8b0c04e194c9bc08163f95f07498d87a68c380693\
    3ca1b6ed865118905ef9422d9b871e6de95764b6af2635e6389ac85cd58a07fc8df419168e258bf36a466320\
    0bd87635545a528a072ef063bf819e94d25c4b3a82b12a67bde1f22a211372da9f1e9c576400de5706f173cc\
    b4667b8269137376853ad838d377ee133749c34e878ff7d7ddd7ddc518b1ab6b4fd1c6fdd545b3066bcf4c1d\
    766b1fef36cc174ecd5d2f808f8ef24fad9b2dcd834371e97a629774ae65e9ef970be3f279ae5707e49f257c\
    208ce76a0fd02e526468c14d700b4d1aa86e6919faab251bc92c851dadddb4bb";

/// `m`, the encapsulation randomness.
const M: &str = "6703e626702e99f0990b4d191dde3374a629e75ab3a45044e681ff553f22ff80";
/// `k`, the ML-KEM shared secret.
const K: &str = "1c3e20c191cb5cc748c4a1162827413ecc0bd4380a2c486e87a7a0246a59c0e8";

// RFC 7748 §6.1.

const ALICE_PUB: &str = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
const BOB_PUB: &str = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
const X25519_SHARED: &str = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

fn m() -> [u8; 32] {
    hex(M).try_into().unwrap()
}

#[test]
fn acvp_mlkem768_encapsulation_tc26() {
    let ek = MlKem768PublicKey::try_from(&hex(EK)[..]).unwrap();
    assert!(mlkem768::validate_public_key(&ek));
    let (ct, k) = mlkem768::encapsulate(&ek, m());
    assert_eq!(ct.as_ref(), &hex(CT)[..]);
    assert_eq!(&k[..], &hex(K)[..]);
}

/// Bob's side of RFC 7748 §6.1, fixed.
#[derive(Debug)]
struct Rfc7748Bob;

impl SupportedKxGroup for Rfc7748Bob {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
        unreachable!("server side only")
    }

    fn start_and_complete(&self, peer: &[u8]) -> Result<CompletedKeyExchange, Error> {
        assert_eq!(peer, &hex(ALICE_PUB)[..]);
        Ok(CompletedKeyExchange {
            group: NamedGroup::X25519,
            pub_key: hex(BOB_PUB),
            secret: SharedSecret::from(&hex(X25519_SHARED)[..]),
        })
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

#[test]
fn server_share_and_secret_layout() {
    let share = [hex(EK), hex(ALICE_PUB)].concat();
    assert_eq!(share.len(), CLIENT_SHARE_LEN);
    let done = server_complete(&share, m(), &Rfc7748Bob).unwrap();
    assert_eq!(done.group, NamedGroup::X25519MLKEM768);
    // ciphertext ‖ X25519 public key
    assert_eq!(done.pub_key, [hex(CT), hex(BOB_PUB)].concat());
    // ML-KEM secret first, then X25519.
    assert_eq!(
        done.secret.secret_bytes(),
        &[hex(K), hex(X25519_SHARED)].concat()[..]
    );
}

#[test]
fn kat_share_with_bad_x25519_half_is_rejected_by_ring() {
    // The real ring X25519 with the KAT's ML-KEM key: an all-zero X25519 share is refused,
    // whatever the ML-KEM half.
    let share = [hex(EK), vec![0; X25519_LEN]].concat();
    let e = server_complete(&share, m(), kx_group::X25519).err();
    assert_eq!(
        e,
        Some(Error::PeerMisbehaved(PeerMisbehaved::InvalidKeyShare))
    );
}
