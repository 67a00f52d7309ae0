//! The storefront script Cafe24 loads through a scripttag (SPEC §4.6): the WASM payment
//! button inlined into one file. Its bytes are
//! fixed at build time, so its SRI hash — registered with every scripttag — is stable
//! for a build; when a new build changes it, registered scripttags are updated.

use axum::{
    http::{header, HeaderValue},
    response::IntoResponse,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use sha2::{Digest, Sha384};

/// Built from `frontend/button` by `build.rs`.
pub const SCRIPT: &str = include_str!(concat!(env!("OUT_DIR"), "/storefront.js"));

/// `sha384-…`, as Cafe24's scripttag `integrity` and the browser's SRI check expect.
pub fn integrity(bytes: &[u8]) -> String {
    format!("sha384-{}", STANDARD.encode(Sha384::digest(bytes)))
}

pub fn current_integrity() -> String {
    integrity(SCRIPT.as_bytes())
}

/// `GET /api/external-checkout/script`
pub async fn serve() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/javascript; charset=utf-8")),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300")),
        ],
        SCRIPT,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrity_is_sha384_in_base64() {
        // printf 'abc' | openssl dgst -sha384 -binary | base64
        assert_eq!(integrity(b"abc"), "sha384-ywB1P0WjXou1oD1pmsZQBycsMqsO3tFjGotgWkP/W+2AhgcroefMI1i67KE0yCWn");
    }
}
