//! The secrets the Store API hands out (SPEC §8.1, §8.4): API keys `sk_test_…` /
//! `sk_live_…` (≥ 128 random bits, shown once, kept only as a SHA-256), and webhook
//! signing secrets `whsec_…` (base64 of 32 random bytes, as Standard Webhooks has them).

use base64::{engine::general_purpose::STANDARD, Engine};
use rand::RngCore;

/// Which keys a deployment issues: test keys with the sandbox on, live keys otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyMode {
    Test,
    Live,
}

impl KeyMode {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyMode::Test => "test",
            KeyMode::Live => "live",
        }
    }

    pub fn prefix(self) -> &'static str {
        match self {
            KeyMode::Test => "sk_test_",
            KeyMode::Live => "sk_live_",
        }
    }
}

/// A new key, as it is shown once, and what is kept of it.
#[derive(Clone, Debug)]
pub struct NewApiKey {
    pub key: String,
    pub hash: String,
    pub prefix: &'static str,
    pub last4: String,
}

/// SHA-256 of a key, hex: how a key is found (and all that is kept of it).
pub fn key_hash(key: &str) -> String {
    crate::store::sha256_hex(key)
}

fn random_alphanumeric(n: usize) -> String {
    use rand::Rng;
    rand::rng().sample_iter(rand::distr::Alphanumeric).take(n).map(char::from).collect()
}

/// 32 alphanumeric characters: about 190 random bits.
pub fn new_api_key(mode: KeyMode) -> NewApiKey {
    let key = format!("{}{}", mode.prefix(), random_alphanumeric(32));
    describe(key, mode)
}

/// What is kept of a key given from outside (the sandbox's `SANDBOX_API_KEY`).
pub fn describe(key: String, mode: KeyMode) -> NewApiKey {
    let last4 = key.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    NewApiKey { hash: key_hash(&key), prefix: mode.prefix(), last4, key }
}

/// `whsec_` and base64 of 32 random bytes.
pub fn new_webhook_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", STANDARD.encode(bytes))
}

/// The HMAC key a `whsec_…` secret stands for (the base64 after the prefix).
pub fn webhook_signing_key(secret: &str) -> Option<Vec<u8>> {
    STANDARD.decode(secret.strip_prefix("whsec_")?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_kept_only_as_their_hash() {
        let a = new_api_key(KeyMode::Test);
        let b = new_api_key(KeyMode::Live);
        assert!(a.key.starts_with("sk_test_") && a.key.len() == 40, "{}", a.key);
        assert!(b.key.starts_with("sk_live_"));
        assert_ne!(a.key, new_api_key(KeyMode::Test).key);
        assert_eq!(a.hash, key_hash(&a.key));
        assert_eq!(a.hash.len(), 64);
        assert!(!a.hash.contains(&a.key[8..]));
        assert_eq!(a.last4, &a.key[36..]);
        assert!(a.key[8..].bytes().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn webhook_secrets_are_whsec_and_base64_of_32_bytes() {
        let secret = new_webhook_secret();
        assert!(secret.starts_with("whsec_"));
        assert_eq!(webhook_signing_key(&secret).unwrap().len(), 32);
        assert_eq!(webhook_signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap().len(), 24);
        assert!(webhook_signing_key("not-a-secret").is_none());
    }
}
