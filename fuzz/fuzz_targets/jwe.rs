//! The PIN's JWE compact serialization (SPEC §8.3: `alg` ECDH-ES, `enc` A256GCM, our `kid`).
//! No panic on any text; a text the fuzzer made up is opened only if its protected header
//! names our key and our algorithms; a PIN encrypted to our key (by josekit's encrypter,
//! with any further header members) opens to itself, and one changed byte either is
//! refused or opens to the same plaintext (an unused base64 bit), never to another; a JWE
//! for another key never opens.
#![no_main]

use std::sync::LazyLock;

use josekit::{
    jwe::{self, JweHeader, ECDH_ES},
    jwk::{alg::ec::EcCurve, Jwk, KeyPair},
};
use libfuzzer_sys::fuzz_target;
use paybridge::store_api::pin::keys::{open, protected_header, JweRefusal};

const KID: &str = "pinkey_fuzz";

/// Our key (its public JWK, its private half as DER) and another one.
static KEYS: LazyLock<[(Jwk, Vec<u8>); 2]> = LazyLock::new(|| {
    let pair = || {
        let pair = ECDH_ES.generate_ec_key_pair(EcCurve::P256).unwrap();
        let mut jwk = pair.to_jwk_public_key();
        jwk.set_key_id(KID);
        (jwk, pair.to_der_private_key())
    };
    [pair(), pair()]
});

#[derive(Debug, arbitrary::Arbitrary)]
struct Input<'a> {
    text: &'a str,
    plaintext: &'a [u8],
    member: Option<(&'a str, &'a str)>,
    flip_at: u16,
    flip: u8,
}

fuzz_target!(|input: Input| {
    let [(ours, der), (_, other_der)] = &*KEYS;
    if let Ok(Ok(_)) = open(der, KID, input.text) {
        assert_eq!(protected_header(input.text), Ok(KID.to_owned()), "{:?}", input.text);
    }

    let mut header = JweHeader::new();
    header.set_content_encryption("A256GCM");
    header.set_key_id(KID);
    if let Some((name, value)) = input.member {
        // What the JOSE specification reserves is set by the encrypter or refused by us.
        const RESERVED: [&str; 10] = ["alg", "enc", "kid", "epk", "zip", "crit", "apu", "apv", "typ", "cty"];
        if !RESERVED.contains(&name) && header.set_claim(name, Some(value.into())).is_err() {
            return;
        }
    }
    let encrypter = ECDH_ES.encrypter_from_jwk(ours).unwrap();
    let sealed = jwe::serialize_compact(input.plaintext, &header, &encrypter).unwrap();
    let opened = open(der, KID, &sealed).unwrap().unwrap();
    assert_eq!(&opened[..], input.plaintext);
    assert_eq!(open(other_der, KID, &sealed).unwrap().map(|_| ()), Err(JweRefusal::Undecryptable));

    if input.flip != 0 {
        let mut changed = sealed.clone().into_bytes();
        let at = input.flip_at as usize % changed.len();
        changed[at] ^= input.flip;
        if let Ok(changed) = String::from_utf8(changed) {
            if let Ok(Ok(plaintext)) = open(der, KID, &changed) {
                assert_eq!(&plaintext[..], input.plaintext, "{changed}");
            }
        }
    }
});
