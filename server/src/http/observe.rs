//! The HTTP side: `/healthz`, `/readyz`, `/metrics`, the request span every log line of
//! a request is written in, the request id, and the count and time of every answer.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request, State},
    http::{header, HeaderName, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use serde_json::json;

use super::AppState;
use crate::observability::{readiness, Metrics};

pub const METRICS_PATH: &str = "/metrics";

/// The header a request id travels in, both ways.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What an answer is counted under when no route matched (static files, 404s): a fixed
/// label, so an unknown path never becomes one.
const UNMATCHED: &str = "unmatched";

/// `/healthz` and `/readyz`, and `/metrics` unless it has its own listener
/// (`METRICS_ADDR`).
pub fn routes(state: &AppState) -> Router<AppState> {
    let router = Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz));
    if state.observability.metrics_elsewhere {
        router
    } else {
        router.route(METRICS_PATH, get(metrics))
    }
}

/// The router of the metrics listener (`METRICS_ADDR`): `/metrics` only.
pub fn metrics_router(state: AppState) -> Router {
    Router::new().route(METRICS_PATH, get(metrics)).with_state(state)
}

/// Alive: the process serves requests. It touches nothing (a database outage is for
/// `/readyz` to report, not a reason to restart the process).
async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let (ready, body) = readiness(&state.store, &state.observability.metrics, &state.observability.readiness).await;
    if !ready {
        tracing::warn!(failed = %body["failed"], "not ready");
    }
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let text = state.observability.metrics.render(&state.store).await;
    ([(header::CONTENT_TYPE, Metrics::CONTENT_TYPE), (header::CACHE_CONTROL, "no-store")], text)
}

/// The span of a request: every log line written while it is served carries its method,
/// route template, path (without what may be secret, [`crate::web::loggable_path`]) and
/// request id; `payment_id` and `channel` are filled in when it acts on a payment
/// (the store records them where it reads a payment). Query strings are never logged.
pub fn http_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    let request_id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
    let route = request.extensions().get::<MatchedPath>().map_or(UNMATCHED, MatchedPath::as_str);
    tracing::info_span!(
        "http",
        method = %request.method(),
        route,
        path = %crate::web::loggable_path(request.uri().path()),
        request_id,
        payment_id = tracing::field::Empty,
        channel = tracing::field::Empty,
    )
}

/// A request id as a caller may give it: up to 128 of `A-Z a-z 0-9 . _ : -`. Anything
/// else is dropped, and a new one is made for the request.
fn usable_request_id(value: &[u8]) -> bool {
    (1..=128).contains(&value.len())
        && value.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Drops an `x-request-id` that is not [`usable_request_id`] (outermost, before
/// tower-http's `SetRequestIdLayer` makes one for a request without).
pub async fn keep_usable_request_id(mut request: Request, next: Next) -> Response {
    let usable = request.headers().get_all(&REQUEST_ID).iter().count() <= 1
        && request.headers().get(&REQUEST_ID).is_none_or(|v| usable_request_id(v.as_bytes()));
    if !usable {
        request.headers_mut().remove(&REQUEST_ID);
    }
    next.run(request).await
}

/// Counts and times every answer by route template, method and status (panics caught
/// inside count as their 500).
pub async fn track_requests(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.http_request(route.as_deref().unwrap_or(UNMATCHED), &method, response.status().as_u16(), started.elapsed());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_short_request_ids_are_kept() {
        assert!(usable_request_id(b"0f8fad5b-d9cb-469f-a165-70867728950e"));
        assert!(usable_request_id(b"lb.trace:42_A"));
        for bad in [&b""[..], b"has space", b"new\nline", b"{\"json\":1}", &[b'a'; 129]] {
            assert!(!usable_request_id(bad), "{bad:?}");
        }
    }
}
