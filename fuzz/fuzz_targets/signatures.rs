//! The signature checks: Cafe24's `hash_data` (base64 HMAC over the parts), the sandbox
//! PG's and Stripe's webhook headers (`t=…,v1=…`), and the Standard Webhooks headers
//! paybridge signs store webhooks with (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature`), checked by the demo store's receiver. No panic on any header or
//! timestamp; a header made by the signer verifies exactly within the 5-minute tolerance
//! and with a non-empty secret (also beside another key, as during a rotation); one changed
//! byte of the body, or another secret, does not; and a header the fuzzer made up never
//! verifies unless it is the signer's own.
#![no_main]

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use paybridge::{
    cafe24::signature,
    gateway::{sandbox, stripe::webhook as stripe},
    outbox::signature_header,
    sandbox::demo_store::receiver,
};

#[derive(Debug, arbitrary::Arbitrary)]
struct Input<'a> {
    secret: &'a str,
    header: &'a str,
    body: &'a [u8],
    parts: Vec<&'a str>,
    timestamp: i64,
    skew: i16,
    id: &'a str,
}

fuzz_target!(|input: Input| {
    let Input { secret, header, body, parts, timestamp, skew, id } = input;
    let raw_timestamp = timestamp;
    let now = timestamp.saturating_add(i64::from(skew));
    let timestamp = timestamp.clamp(0, 1 << 40);
    let now = now.clamp(0, 1 << 40);
    // An empty secret verifies nothing: anyone can compute a MAC under it.
    let fresh = (now - timestamp).abs() <= 300;
    let within = fresh && !secret.is_empty();

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
        // Its MAC with any time in the header (i64::MIN must not overflow the tolerance).
        let v1 = made.split_once(",v1=").unwrap().1;
        let at_raw = format!("t={raw_timestamp},v1={v1}");
        assert_eq!(verify(secret, &at_raw, body, now), within && raw_timestamp == timestamp, "{at_raw} at {now}");
        if !body.is_empty() {
            let mut changed = body.to_vec();
            changed[0] ^= 1;
            assert!(!verify(secret, &made, &changed, now));
        }
        assert!(!verify(&format!("{secret}x"), &made, body, now));
    }

    // Standard Webhooks: paybridge's signer and the demo store's receiver.
    let key = secret.as_bytes().to_vec();
    let text = String::from_utf8_lossy(body);
    let webhook = |keys: &[Vec<u8>], id: &str, timestamp: &str, signature: &str, body: &str| {
        let mut headers = HeaderMap::new();
        for (name, value) in [("webhook-id", id), ("webhook-timestamp", timestamp), ("webhook-signature", signature)] {
            headers.insert(name, HeaderValue::from_str(value).ok()?);
        }
        Some(receiver::verify(keys, &headers, body.as_bytes(), now))
    };
    let made = signature_header(std::slice::from_ref(&key), id, timestamp, &text);
    let at = timestamp.to_string();
    // A header value the receiver can read as text: visible ASCII (paybridge's ids are).
    let readable = |v: &str| v.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b));
    let id_ok = !id.is_empty() && readable(id);
    if let Some(verified) = webhook(std::slice::from_ref(&key), id, &at, &made, &text) {
        assert_eq!(verified.is_ok(), within && id_ok, "{verified:?} {made} at {now}");
        let rotating = [b"old".to_vec(), key.clone()];
        let both = signature_header(&rotating, id, timestamp, &text);
        // The old key is not empty: it verifies even when this one is.
        assert_eq!(webhook(&rotating, id, &at, &both, &text).unwrap().is_ok(), fresh && id_ok);
        assert!(webhook(&[format!("{secret}x").into_bytes()], id, &at, &made, &text).unwrap().is_err());
        assert!(webhook(std::slice::from_ref(&key), id, &at, &made, &format!("{text}x")).unwrap().is_err());
        let at_raw = webhook(std::slice::from_ref(&key), id, &raw_timestamp.to_string(), &made, &text).unwrap();
        assert_eq!(at_raw.is_ok(), within && id_ok && raw_timestamp == timestamp);
    }
    // The fuzzer's own header and timestamp text: checked without panicking.
    let _ = webhook(std::slice::from_ref(&key), id, header, header, &text);
});

/// Whether `header`, trimmed, decodes to the signer's MAC: what `verify` must answer,
/// computed another way (a plain comparison instead of the constant-time check).
fn decodes_to_mac(secret: &str, parts: &[&str], header: &str) -> bool {
    use base64::{engine::general_purpose::STANDARD, Engine};
    let expected = STANDARD.decode(signature::sign(secret, parts)).unwrap();
    STANDARD.decode(header.trim()).is_ok_and(|bytes| bytes == expected)
}
