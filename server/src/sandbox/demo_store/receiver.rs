//! The demo store's webhook receiver, written as a store would write it against SPEC
//! §8.4 and the Standard Webhooks specification — not with paybridge's own signing code,
//! so that a fault there shows here. Only a verified webhook is kept.

use axum::http::HeaderMap;
use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A webhook whose `webhook-timestamp` is further than this from now is refused, so a
/// captured request cannot be replayed later.
pub const TOLERANCE_SECS: i64 = 5 * 60;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the {0} header is missing")]
    Missing(&'static str),
    #[error("webhook-timestamp is not a unix time in seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is more than 5 minutes from now")]
    OutsideTolerance,
    #[error("no signature in webhook-signature is valid for this endpoint's secret")]
    NoValidSignature,
}

/// The signing key of a `whsec_…` secret: the base64 after the prefix, decoded.
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    STANDARD.decode(secret.strip_prefix("whsec_")?).ok()
}

/// Checks `webhook-id`, `webhook-timestamp` (within 5 minutes of `now`, unix seconds) and
/// `webhook-signature` — `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")),
/// space-separated, any one of them under any of `keys` (two during a rotation). The
/// comparison is constant-time (`Mac::verify_slice`). An empty key verifies nothing
/// (anyone can compute a MAC under it).
pub fn verify(keys: &[Vec<u8>], headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), Refusal> {
    let header = |name: &'static str| {
        headers.get(name).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty()).ok_or(Refusal::Missing(name))
    };
    let id = header("webhook-id")?;
    let timestamp = header("webhook-timestamp")?;
    let signatures = header("webhook-signature")?;
    let sent_at: i64 = timestamp.parse().map_err(|_| Refusal::BadTimestamp)?;
    if now.abs_diff(sent_at) > TOLERANCE_SECS.unsigned_abs() {
        return Err(Refusal::OutsideTolerance);
    }
    let given: Vec<Vec<u8>> =
        signatures.split(' ').filter_map(|s| s.strip_prefix("v1,")).filter_map(|s| STANDARD.decode(s).ok()).collect();
    for key in keys.iter().filter(|key| !key.is_empty()) {
        for signature in &given {
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else { continue };
            mac.update(id.as_bytes());
            mac.update(b".");
            mac.update(timestamp.as_bytes());
            mac.update(b".");
            mac.update(body);
            if mac.verify_slice(signature).is_ok() {
                return Ok(());
            }
        }
    }
    Err(Refusal::NoValidSignature)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    // The example of the Standard Webhooks specification's reference libraries.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const AT: i64 = 1614265330;
    const BODY: &str = r#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn headers(id: &str, timestamp: &str, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in [("webhook-id", id), ("webhook-timestamp", timestamp), ("webhook-signature", signature)] {
            headers.insert(name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn key() -> Vec<Vec<u8>> {
        vec![secret_key(SECRET).unwrap()]
    }

    #[test]
    fn the_specifications_example_verifies() {
        assert_eq!(verify(&key(), &headers(ID, &AT.to_string(), SIGNATURE), BODY.as_bytes(), AT), Ok(()));
        // Within the tolerance either way.
        assert_eq!(verify(&key(), &headers(ID, &AT.to_string(), SIGNATURE), BODY.as_bytes(), AT + 300), Ok(()));
        assert_eq!(verify(&key(), &headers(ID, &AT.to_string(), SIGNATURE), BODY.as_bytes(), AT - 300), Ok(()));
    }

    #[test]
    fn anything_changed_is_refused() {
        let at = AT.to_string();
        let refused = |h: HeaderMap, body: &str| verify(&key(), &h, body.as_bytes(), AT);
        assert_eq!(refused(headers(ID, &at, SIGNATURE), r#"{"test": 2432232315}"#), Err(Refusal::NoValidSignature));
        assert_eq!(refused(headers("msg_other", &at, SIGNATURE), BODY), Err(Refusal::NoValidSignature));
        assert_eq!(refused(headers(ID, &(AT + 1).to_string(), SIGNATURE), BODY), Err(Refusal::NoValidSignature));
        assert_eq!(
            refused(headers(ID, &at, "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="), BODY),
            Err(Refusal::NoValidSignature)
        );
        assert_eq!(refused(headers(ID, "soon", SIGNATURE), BODY), Err(Refusal::BadTimestamp));
        let other_key = vec![secret_key("whsec_c2VjcmV0LW9mLWFub3RoZXItZW5kcG9pbnQ=").unwrap()];
        assert_eq!(
            verify(&other_key, &headers(ID, &at, SIGNATURE), BODY.as_bytes(), AT),
            Err(Refusal::NoValidSignature)
        );
        let mut missing = headers(ID, &at, SIGNATURE);
        missing.remove("webhook-signature");
        assert_eq!(refused(missing, BODY), Err(Refusal::Missing("webhook-signature")));
    }

    #[test]
    fn an_old_or_future_timestamp_is_refused_even_when_signed() {
        let at = AT.to_string();
        let h = headers(ID, &at, SIGNATURE);
        assert_eq!(verify(&key(), &h, BODY.as_bytes(), AT + 301), Err(Refusal::OutsideTolerance));
        assert_eq!(verify(&key(), &h, BODY.as_bytes(), AT - 301), Err(Refusal::OutsideTolerance));
    }

    #[test]
    fn during_a_rotation_any_listed_signature_under_any_key_is_enough() {
        let old = secret_key("whsec_c2VjcmV0LW9mLWFub3RoZXItZW5kcG9pbnQ=").unwrap();
        let both = format!("v1,bm90LXRoZS1zaWduYXR1cmU= {SIGNATURE}");
        let h = headers(ID, &AT.to_string(), &both);
        assert_eq!(verify(&[old, secret_key(SECRET).unwrap()], &h, BODY.as_bytes(), AT), Ok(()));
    }

    #[test]
    fn only_whsec_secrets_give_a_key() {
        assert_eq!(secret_key("whsec_AAAA"), Some(vec![0, 0, 0]));
        assert_eq!(secret_key("AAAA"), None);
        assert_eq!(secret_key("whsec_not base64!"), None);
    }

    #[test]
    fn an_empty_key_verifies_nothing() {
        // Anyone can compute a MAC under an empty key (the sandbox PG's check had the same
        // fault, found by fuzzing).
        let signature = crate::outbox::signature_header(&[Vec::new()], ID, AT, BODY);
        assert_eq!(
            verify(&[Vec::new()], &headers(ID, &AT.to_string(), &signature), BODY.as_bytes(), AT),
            Err(Refusal::NoValidSignature)
        );
    }
}
