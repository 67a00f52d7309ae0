//! The signature checks: Cafe24's `hash_data` (base64 HMAC over the parts), the sandbox
//! PG's and Stripe's webhook headers (`t=…,v1=…`). No panic on any header; a header made by
//! the signer verifies; one changed byte of the body, or another secret, does not; and a
//! header the fuzzer made up never verifies unless it is the signer's own.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paybridge::{
    cafe24::signature,
    gateway::{sandbox, stripe::webhook as stripe},
};

#[derive(Debug, arbitrary::Arbitrary)]
struct Input<'a> {
    secret: &'a str,
    header: &'a str,
    body: &'a [u8],
    parts: Vec<&'a str>,
    timestamp: i64,
    skew: i16,
}

fuzz_target!(|input: Input| {
    let Input { secret, header, body, parts, timestamp, skew } = input;
    let now = timestamp.saturating_add(i64::from(skew));
    let timestamp = timestamp.clamp(0, 1 << 40);
    let now = now.clamp(0, 1 << 40);
    // An empty secret verifies nothing: anyone can compute a MAC under it.
    let within = (now - timestamp).abs() <= 300 && !secret.is_empty();

    // Cafe24 hash_data.
    let signed = signature::sign(secret, &parts);
    // Cafe24's service key is configured, never empty, so its check does not test for one.
    assert!(signature::verify(secret, &parts, &signed));
    assert_eq!(signature::verify(secret, &parts, header), decodes_to_mac(secret, &parts, header));
    assert!(!signature::verify(&format!("{secret}x"), &parts, &signed));

    // Webhook headers of the sandbox PG and of Stripe: same scheme, each its own signer.
    for (sign, verify) in [
        (
            sandbox::sign_webhook as fn(&str, i64, &[u8]) -> String,
            sandbox::verify_signature as fn(&str, &str, &[u8], i64) -> bool,
        ),
        (stripe::sign, stripe::verify),
    ] {
        let made = sign(secret, timestamp, body);
        assert_eq!(verify(secret, &made, body, now), within, "{made} at {now}");
        let _ = verify(secret, header, body, now);
        if !body.is_empty() {
            let mut changed = body.to_vec();
            changed[0] ^= 1;
            assert!(!verify(secret, &made, &changed, now));
        }
        assert!(!verify(&format!("{secret}x"), &made, body, now));
    }
});

/// Whether `header`, trimmed, decodes to the signer's MAC: what `verify` must answer,
/// computed another way (a plain comparison instead of the constant-time check).
fn decodes_to_mac(secret: &str, parts: &[&str], header: &str) -> bool {
    use base64::{engine::general_purpose::STANDARD, Engine};
    let expected = STANDARD.decode(signature::sign(secret, parts)).unwrap();
    STANDARD.decode(header.trim()).is_ok_and(|bytes| bytes == expected)
}
