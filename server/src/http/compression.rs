//! Answers compressed (brotli or gzip) for clients that accept it, except where
//! compression would leak a secret or gains nothing. See the README's "Compression and
//! caching".

use axum::{
    extract::Request,
    http::{Extensions, HeaderMap, StatusCode, Version},
    middleware::Next,
    response::Response,
};
use tower_http::compression::{
    predicate::{NotForContentType, Predicate, SizeAbove},
    CompressionLayer,
};

/// Answers smaller than this go as they are: they fit one packet either way, and the
/// encoder's work and headers would outweigh what it saves.
pub const MIN_SIZE: u16 = 1024;

/// brotli (quality 4 on the fly, as nginx does) or gzip, as the client's
/// `Accept-Encoding` prefers; `Vary: Accept-Encoding` on every answer that could be.
/// Never compressed: an answer already encoded (the precompressed bundle), a range, an
/// image, server-sent events (their events must leave at once, not when the encoder's
/// buffer fills), gRPC, an answer of known size under [`MIN_SIZE`], and an answer marked
/// [`Uncompressed`].
pub fn layer() -> CompressionLayer<impl Predicate> {
    CompressionLayer::new().br(true).gzip(true).compress_when(
        SizeAbove::new(MIN_SIZE)
            .and(NotForContentType::GRPC)
            .and(NotForContentType::IMAGES)
            .and(NotForContentType::SSE)
            .and(not_marked),
    )
}

/// Marks an answer that must not be compressed (in its extensions).
#[derive(Clone, Copy, Debug)]
pub struct Uncompressed;

fn not_marked(_: StatusCode, _: Version, _: &HeaderMap, extensions: &Extensions) -> bool {
    extensions.get::<Uncompressed>().is_none()
}

/// The merchant admin's answers are never compressed (BREACH): the merchant's browser
/// fetches them with its session cookie, whoever's page asks, and they carry secrets — the
/// page's CSRF token, a new API key or webhook secret — beside what the request put in
/// them (a mall id, a typed URL echoed in an error). Compressed, their length would tell
/// an attacker who can watch the encrypted traffic how much of a guessed secret matched.
/// They are small; nothing else is fetched with an ambient credential (the Store API
/// takes its key in a header; payment and review pages are reached only by their own
/// unguessable links).
pub async fn leave_admin_uncompressed(request: Request, next: Next) -> Response {
    let admin = is_admin(request.uri().path());
    let mut response = next.run(request).await;
    if admin {
        response.extensions_mut().insert(Uncompressed);
    }
    response
}

/// The admin page, its JSON routes and server functions (`/admin/…`), and the OAuth
/// return that opens its session (`/auth/…`).
fn is_admin(path: &str) -> bool {
    ["/admin", "/auth"].iter().any(|prefix| path == *prefix || path.starts_with(&format!("{prefix}/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_and_its_sign_in_are_admin_paths() {
        for path in ["/admin", "/admin/display", "/admin/fn/overview", "/admin/api-keys", "/auth/token"] {
            assert!(is_admin(path), "{path}");
        }
        for path in ["/", "/administrator", "/pay/pay_1", "/api/v2/payment-intents", "/pkg/paybridge.js", "/authx"] {
            assert!(!is_admin(path), "{path}");
        }
    }
}
