//! Stripe's webhook signature: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=…][,v0=…]`,
//! where each `v1` is HMAC-SHA256(webhook secret, "{t}.{raw body}") in hex. Any one
//! matching `v1` is enough (Stripe signs with two secrets while one is rolled); `v0`
//! and anything else is ignored; the comparison is constant-time; a `t` further than
//! the tolerance from now (either way) is refused, so an old delivery cannot be replayed.

use hmac::Mac;

use super::transformers::{Event, META_PAYMENT, META_REFUND, META_REGISTRATION};
use crate::gateway::WebhookSubject;

pub const SIGNATURE_HEADER: &str = "stripe-signature";
/// Stripe's own default tolerance (its SDKs' `DEFAULT_TOLERANCE`).
pub const TOLERANCE_SECS: i64 = 300;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

fn mac(secret: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Whether `header` signs `body` with `secret`, at `now` (unix seconds).
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t),
            Some(("v1", v)) => signatures.push(v),
            _ => {}
        }
    }
    let Some(raw_t) = timestamp else { return false };
    let Ok(t) = raw_t.parse::<i64>() else { return false };
    // abs_diff: a hostile `t` near i64::MIN must not overflow.
    if secret.is_empty() || now.abs_diff(t) > TOLERANCE_SECS.unsigned_abs() {
        return false;
    }
    // The signed text is the timestamp exactly as sent, then the body byte for byte.
    signatures.into_iter().filter_map(decode_hex).any(|sig| mac(secret, raw_t, body).verify_slice(&sig).is_ok())
}

/// A `Stripe-Signature` value for `body` (what Stripe sends; used by tests and fakes).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let digest = mac(secret, &t, body).finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

/// Which of ours an event is about: the object it carries names our payment, refund or
/// registration (a client_reference_id or our metadata). `None` when the body is not an
/// event; [`WebhookSubject::Unrelated`] for an object nothing of ours made.
pub fn subject(body: &[u8]) -> Option<WebhookSubject> {
    let event: Event = serde_json::from_slice(body).ok()?;
    let object = &event.data.object;
    let kind = object.get("object").and_then(|k| k.as_str()).unwrap_or_default();
    let metadata = |key: &str| object.get("metadata").and_then(|m| m.get(key)).and_then(|v| v.as_str());
    let named = match kind {
        // Only sessions we opened carry our metadata; another integration's session may
        // well have a client_reference_id of its own.
        "checkout.session" => metadata(META_PAYMENT).or_else(|| metadata(META_REGISTRATION)).map(payment),
        "payment_intent" => metadata(META_PAYMENT).map(payment),
        "setup_intent" => metadata(META_REGISTRATION).map(payment),
        "refund" => metadata(META_REFUND).map(|r| WebhookSubject::Refund(r.to_owned())),
        _ => None,
    };
    Some(
        named.unwrap_or_else(|| WebhookSubject::Unrelated(format!("{} about a {kind:?} that is not ours", event.kind))),
    )
}

fn payment(reference: &str) -> WebhookSubject {
    WebhookSubject::Payment(reference.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;

    #[test]
    fn a_signature_holds_for_its_body_secret_and_time_only() {
        let header = sign(SECRET, 1_000_000, BODY);
        assert!(verify(SECRET, &header, BODY, 1_000_000));
        assert!(verify(SECRET, &header, BODY, 1_000_000 + TOLERANCE_SECS));
        assert!(!verify(SECRET, &header, BODY, 1_000_000 + TOLERANCE_SECS + 1), "too old");
        assert!(!verify(SECRET, &header, BODY, 1_000_000 - TOLERANCE_SECS - 1), "from the future");
        assert!(!verify("whsec_other", &header, BODY, 1_000_000), "another secret");
        assert!(!verify("", &header, BODY, 1_000_000), "no secret");
        let mut changed = BODY.to_vec();
        changed[10] ^= 1;
        assert!(!verify(SECRET, &header, &changed, 1_000_000), "a changed byte");
    }

    #[test]
    fn any_matching_v1_counts_and_v0_or_a_bare_timestamp_does_not() {
        let good = sign(SECRET, 1_000_000, BODY);
        let v1 = good.split_once(",v1=").unwrap().1;
        let wrong = "0".repeat(64);
        assert!(verify(SECRET, &format!("t=1000000,v1={wrong},v1={v1}"), BODY, 1_000_000));
        assert!(verify(SECRET, &format!("t=1000000,v0={wrong},v1={v1}"), BODY, 1_000_000));
        assert!(!verify(SECRET, &format!("t=1000000,v0={v1}"), BODY, 1_000_000), "v0 only");
        assert!(!verify(SECRET, "t=1000000", BODY, 1_000_000));
        assert!(!verify(SECRET, &format!("v1={v1}"), BODY, 1_000_000), "no timestamp");
        assert!(!verify(SECRET, &format!("t=+1000000,v1={v1}"), BODY, 1_000_000), "the timestamp as signed");
        assert!(!verify(SECRET, &format!("t={},v1={v1}", i64::MIN), BODY, 1_000_000), "no overflow");
    }

    #[test]
    fn the_subject_is_read_from_the_object_and_other_objects_are_unrelated() {
        let event =
            |object: serde_json::Value| serde_json::json!({"id": "evt_1", "type": "x", "data": {"object": object}});
        let of = |v: serde_json::Value| subject(v.to_string().as_bytes());
        assert_eq!(
            of(event(serde_json::json!({"object": "checkout.session", "client_reference_id": "pay_1",
                                        "metadata": {"paybridge_payment": "pay_1"}}))),
            Some(WebhookSubject::Payment("pay_1".into()))
        );
        assert!(
            matches!(
                of(event(serde_json::json!({"object": "checkout.session", "client_reference_id": "order-7"}))),
                Some(WebhookSubject::Unrelated(_))
            ),
            "another integration's session, with a reference of its own"
        );
        assert_eq!(
            of(event(serde_json::json!({"object": "payment_intent", "metadata": {"paybridge_payment": "pay_2"}}))),
            Some(WebhookSubject::Payment("pay_2".into()))
        );
        assert_eq!(
            of(event(serde_json::json!({"object": "refund", "metadata": {"paybridge_refund": "ref_1"}}))),
            Some(WebhookSubject::Refund("ref_1".into()))
        );
        assert!(matches!(
            of(event(serde_json::json!({"object": "payment_intent", "metadata": {}}))),
            Some(WebhookSubject::Unrelated(_))
        ));
        assert!(matches!(of(event(serde_json::json!({"object": "customer"}))), Some(WebhookSubject::Unrelated(_))));
        assert_eq!(subject(b"not json"), None);
    }
}
