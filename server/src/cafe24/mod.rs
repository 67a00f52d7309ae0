//! The Cafe24 protocol (SPEC §4): what Cafe24 sends us, what we answer, and the
//! notifications and redirects we send back.

pub mod api;
pub mod cancel;
pub mod checkout;
pub mod external;
pub mod noty;
pub mod request;
pub mod script;
pub mod signature;
pub mod webhook;

use axum::{
    extract::DefaultBodyLimit,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde_json::{json, Map, Value};

use crate::{startup::AppState, store::ShopRoute};

pub use request::Fields;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/synchronous-checkout/checkout", post(checkout::payment_request_sync))
        .route(
            "/api/synchronous-checkout/checkout/callback",
            get(checkout::callback_sync).post(checkout::callback_sync),
        )
        .route("/api/synchronous-checkout/checkout/status", post(checkout::payment_status))
        .route("/api/asynchronous-checkout/checkout", post(checkout::payment_request_async))
        .route(
            "/api/asynchronous-checkout/checkout/callback",
            get(checkout::callback_async).post(checkout::callback_async),
        )
        .route("/api/asynchronous-checkout/checkout/webhook", post(webhook::checkout_webhook))
        .route("/api/synchronous-cancellation/cancel", post(cancel::cancel_sync))
        .route("/api/asynchronous-cancellation/cancel", post(cancel::cancel_async))
        .route("/api/asynchronous-cancellation/cancel/webhook", post(webhook::refund_webhook))
        // The names used by the seed's Postman collection.
        .route("/api/synchronous-refund/cancel", post(cancel::cancel_sync))
        .route("/api/asynchronous-refund/cancel", post(cancel::cancel_async))
        .route("/api/asynchronous-refund/cancel/webhook", post(webhook::refund_webhook))
        .merge(storefront_router())
        .route("/api/external-checkout/order/pay", post(external::order_pay))
        .route("/api/external-checkout/order/callback", get(external::order_callback).post(external::order_callback))
        .layer(DefaultBodyLimit::max(request::BODY_LIMIT))
}

/// What the storefront calls from the mall's own pages (another origin): open to any
/// origin, without credentials.
fn storefront_router() -> Router<AppState> {
    let cors = tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([axum::http::header::CONTENT_TYPE]);
    Router::new()
        .route("/api/external-checkout/script", get(script::serve))
        .route("/api/external-checkout/script/data", get(external::script_data))
        .route("/api/external-checkout/script/hmac", get(external::script_hmac))
        .route("/api/external-checkout/payload", post(external::payload))
        .layer(cors)
}

/// Checks `hash_data` over `parts`, the fields each request lists (SPEC §4).
pub(crate) fn check_hash(app: &AppState, f: &Fields, parts: &[&str]) -> Result<(), Cafe24Error> {
    let hash = f.required("hash_data")?;
    if signature::verify(&app.cafe24.service_key, parts, hash) {
        Ok(())
    } else {
        Err(Cafe24Error::unauthorized())
    }
}

/// The shop a `partner_id` was registered for; its parts are never trusted.
pub(crate) async fn shop_for(app: &AppState, partner_id: &str) -> Result<ShopRoute, Cafe24Error> {
    app.store
        .shop_by_partner_id(&app.keys, partner_id)
        .await?
        .ok_or_else(|| Cafe24Error::new(StatusCode::NOT_FOUND, format!("unknown partner_id {partner_id}")))
}

/// Cafe24's error answer: `{"result_code":"9999","result_message":…}` with a 4xx (or
/// 5xx when the fault is upstream or ours). Nothing was changed.
#[derive(Debug)]
pub struct Cafe24Error {
    pub status: StatusCode,
    pub message: String,
    extra: Map<String, Value>,
}

impl Cafe24Error {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Cafe24Error { status, message: message.into(), extra: Map::new() }
    }

    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "hash_data does not match the request")
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error; nothing was changed")
    }

    /// Adds a field to the error body (e.g. `payment_url: ""` for payment requests).
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(name.to_owned(), value.into());
        self
    }
}

impl From<crate::store::StoreError> for Cafe24Error {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(error = %e, "storage failed");
        Cafe24Error::internal()
    }
}

impl IntoResponse for Cafe24Error {
    fn into_response(self) -> Response {
        let mut body = Map::new();
        body.insert("result_code".into(), json!("9999"));
        body.insert("result_message".into(), json!(self.message));
        body.extend(self.extra);
        (self.status, Json(Value::Object(body))).into_response()
    }
}
