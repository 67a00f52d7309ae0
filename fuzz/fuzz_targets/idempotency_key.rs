//! The Store API's `Idempotency-Key` header (SPEC §8.1). No panic on any header value; a key
//! is taken exactly when it is 1–255 visible ASCII characters, and then as sent (no
//! trimming, no case folding: two keys that differ are two keys); otherwise 400
//! `idempotency_key_invalid`, and no header at all is 400 `idempotency_key_required`.
#![no_main]

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use paybridge::store_api::request::idempotency_key;

fuzz_target!(|sent: &[u8]| {
    let Ok(value) = HeaderValue::from_bytes(sent) else {
        return; // not a header value at all (CR, LF, NUL): hyper refuses the request
    };
    let mut headers = HeaderMap::new();
    headers.insert("idempotency-key", value);
    let valid = (1..=255).contains(&sent.len()) && sent.iter().all(u8::is_ascii_graphic);
    match idempotency_key(&headers) {
        Ok(key) => {
            assert!(valid, "{sent:?} taken");
            assert_eq!(key.as_bytes(), sent);
        }
        Err(e) => {
            assert!(!valid, "{sent:?} refused: {}", e.message);
            assert_eq!((e.status.as_u16(), e.code), (400, "idempotency_key_invalid"));
        }
    }
    let e = idempotency_key(&HeaderMap::new()).unwrap_err();
    assert_eq!((e.status.as_u16(), e.code), (400, "idempotency_key_required"));
});
