//! The storefront script Cafe24 loads through a scripttag (SPEC §4.6): the WASM payment
//! button inlined into one file. Its bytes are
//! fixed at build time, so its SRI hash — registered with every scripttag — is stable
//! for a build; when a new build changes it, registered scripttags are updated.

use std::sync::OnceLock;

use axum::{
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
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

/// Its entity tag: its SRI hash, weak because the same bytes also go compressed.
fn etag() -> &'static HeaderValue {
    static ETAG: OnceLock<HeaderValue> = OnceLock::new();
    ETAG.get_or_init(|| {
        HeaderValue::from_str(&format!("W/\"{}\"", current_integrity())).expect("base64 is a valid header value")
    })
}

/// Whether `If-None-Match` names this tag (or `*`); weak comparison, as for a GET.
fn unchanged(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let ours = etag.as_bytes().strip_prefix(b"W/").unwrap_or(etag.as_bytes());
    headers.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |tag| {
            let tag = tag.trim();
            tag == "*" || tag.strip_prefix("W/").unwrap_or(tag).as_bytes() == ours
        },
    )
}

/// `GET /api/external-checkout/script`. Its URL is the one registered in every mall's
/// scripttag, so it cannot be made immutable: kept 5 minutes (a new build's script, whose
/// SRI hash the scripttags are updated to at start, is in use within them), then
/// revalidated by its entity tag (a 304 without the body while the build is the same).
pub async fn serve(headers: HeaderMap) -> Response {
    let etag = etag();
    let fixed = [
        (header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")),
        (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300")),
        (header::ETAG, etag.clone()),
    ];
    if unchanged(&headers, etag) {
        return (StatusCode::NOT_MODIFIED, fixed).into_response();
    }
    (fixed, [(header::CONTENT_TYPE, HeaderValue::from_static("application/javascript; charset=utf-8"))], SCRIPT)
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrity_is_sha384_in_base64() {
        // printf 'abc' | openssl dgst -sha384 -binary | base64
        assert_eq!(integrity(b"abc"), "sha384-ywB1P0WjXou1oD1pmsZQBycsMqsO3tFjGotgWkP/W+2AhgcroefMI1i67KE0yCWn");
    }

    #[test]
    fn if_none_match_compares_weakly_and_in_lists() {
        let etag = HeaderValue::from_static("W/\"sha384-abc\"");
        let asking = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static(value));
            unchanged(&headers, &etag)
        };
        assert!(asking("W/\"sha384-abc\""));
        assert!(asking("\"sha384-abc\""));
        assert!(asking("\"other\", W/\"sha384-abc\""));
        assert!(asking("*"));
        assert!(!asking("\"sha384-abd\""));
        assert!(!unchanged(&HeaderMap::new(), &etag));
    }
}
