//! Standard Webhooks signatures (<https://www.standardwebhooks.com>): `webhook-id` (fixed
//! when the message was enqueued), `webhook-timestamp` (the attempt's unix seconds) and
//! `webhook-signature` = `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")),
//! one per key that signs, space-separated (two during a secret's rotation). Signed when
//! sent, so a retry half an hour later still passes a receiver's freshness check.

use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The keys that sign for a key reference (a webhook endpoint) now.
#[async_trait::async_trait]
pub trait SigningKeys: Send + Sync {
    /// `Ok(None)` when the reference no longer exists (the endpoint was deleted).
    async fn keys(&self, key_ref: &str) -> Result<Option<Vec<Vec<u8>>>, String>;
}

/// `webhook-signature` for `id`, `timestamp` and `body` under each key.
pub fn signature_header(keys: &[Vec<u8>], id: &str, timestamp: i64, body: &str) -> String {
    keys.iter()
        .filter_map(|key| {
            let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
            mac.update(format!("{id}.{timestamp}.").as_bytes());
            mac.update(body.as_bytes());
            Some(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_standard_webhooks_one() {
        // The example of the Standard Webhooks specification's reference libraries.
        let key = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let header = signature_header(&[key], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, r#"{"test": 2432232314}"#);
        assert_eq!(header, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn every_key_signs_during_a_rotation() {
        let header = signature_header(&[b"old".to_vec(), b"new".to_vec()], "evt_1", 1, "{}");
        let parts: Vec<_> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.starts_with("v1,")));
        assert_ne!(parts[0], parts[1]);
    }
}
