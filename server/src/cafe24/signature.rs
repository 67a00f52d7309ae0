//! Cafe24's `hash_data` (SPEC §4): base64(HMAC-SHA256(service key, fields concatenated
//! with no separator)). Verification is constant-time.

use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8], parts: &[&str]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
    for part in parts {
        mac.update(part.as_bytes());
    }
    mac
}

pub fn sign(key: &str, parts: &[&str]) -> String {
    STANDARD.encode(mac(key.as_bytes(), parts).finalize().into_bytes())
}

/// `true` when `provided` is the signature of `parts`. Malformed base64 is simply wrong.
pub fn verify(key: &str, parts: &[&str], provided: &str) -> bool {
    match STANDARD.decode(provided.trim()) {
        Ok(bytes) => mac(key.as_bytes(), parts).verify_slice(&bytes).is_ok(),
        Err(_) => false,
    }
}

/// Compares two signatures without leaking where they differ.
pub fn constant_time_eq(expected: &str, given: &str) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_base64_hmac_sha256_over_the_concatenated_fields() {
        // Reference value computed independently:
        // printf '3065.00PHP20220519-0000029demomall:0:demo-app-public-key' \
        //   | openssl dgst -sha256 -hmac paybridge-dev-service-key -binary | base64
        let hash = sign(
            "paybridge-dev-service-key",
            &["3065.00", "PHP", "20220519-0000029", "demomall:0:demo-app-public-key"],
        );
        assert_eq!(hash, "CMJPkhLiARcPFXiwLr/TQKaddtGXXgCBdFpcdZqfoOI=");
        assert!(verify(
            "paybridge-dev-service-key",
            &["3065.00", "PHP", "20220519-0000029", "demomall:0:demo-app-public-key"],
            &hash
        ));
    }

    #[test]
    fn any_change_breaks_the_signature() {
        let parts = ["3065.00", "PHP", "20220519-0000029", "demomall:0:demo-app-public-key"];
        let hash = sign("k", &parts);
        assert!(!verify("other", &parts, &hash));
        assert!(!verify("k", &["3065.01", "PHP", "20220519-0000029", "demomall:0:demo-app-public-key"], &hash));
        assert!(!verify("k", &parts, "not base64!"));
        assert!(!verify("k", &parts, ""));
    }
}
