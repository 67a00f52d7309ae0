//! Channel 1: the Cafe24 protocol (SPEC §4). Each handler parses and verifies what
//! Cafe24 (or the storefront, or the buyer's browser) sent, calls the payment core, and
//! formats the answer; the notys are built by [`noty::Cafe24Notifier`]. Cafe24's own
//! fields live in its own tables (`cafe24_payments`, `cafe24_refunds`).

pub mod api;
pub mod cancel;
pub mod checkout;
pub mod external;
pub mod noty;
pub mod request;
pub mod script;
pub mod signature;
pub mod tokens;

use std::sync::Arc;

use axum::{
    extract::{DefaultBodyLimit, FromRef},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde_json::{json, Map, Value};
use url::Url;

use crate::{
    config::Cafe24Credentials,
    domain::{RefundRefusal, Refusal},
    hosts::HostPolicy,
    payments::{PaymentError, PaymentService},
    secrets::KeyRing,
    store::{ShopRoute, Store, StoreError},
    web::PublicUrl,
};

pub use request::Fields;

/// What the Cafe24 channel's handlers need.
#[derive(Clone)]
pub struct Cafe24Context {
    pub payments: PaymentService,
    /// For the channel's own tables and the shops.
    pub store: Store,
    pub keys: Arc<KeyRing>,
    pub hosts: Arc<HostPolicy>,
    pub cafe24: Arc<Cafe24Credentials>,
    pub public_url: PublicUrl,
    /// The Admin API with the mall's tokens (the order calculation).
    pub client: tokens::Cafe24Client,
}

impl Cafe24Context {
    pub fn url(&self, path: &str) -> Url {
        self.public_url.url(path)
    }
}

pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Cafe24Context: FromRef<S>,
{
    Router::new()
        .route("/api/synchronous-checkout/checkout", post(checkout::payment_request_sync))
        .route("/api/synchronous-checkout/checkout/status", post(checkout::payment_status))
        .route("/api/asynchronous-checkout/checkout", post(checkout::payment_request_async))
        .route("/api/synchronous-cancellation/cancel", post(cancel::cancel_sync))
        .route("/api/asynchronous-cancellation/cancel", post(cancel::cancel_async))
        // The names used by the seed's Postman collection.
        .route("/api/synchronous-refund/cancel", post(cancel::cancel_sync))
        .route("/api/asynchronous-refund/cancel", post(cancel::cancel_async))
        .layer(crate::web::catch_panics(panic_answer))
        // The buyer's browser, back from the PG: a panic answers with a page.
        .merge(
            Router::new()
                .route(
                    "/api/synchronous-checkout/checkout/callback",
                    get(checkout::callback_sync).post(checkout::callback_sync),
                )
                .route(
                    "/api/asynchronous-checkout/checkout/callback",
                    get(checkout::callback_async).post(checkout::callback_async),
                )
                .route(
                    "/api/external-checkout/order/callback",
                    get(external::order_callback).post(external::order_callback),
                )
                .layer(crate::web::catch_panics(buyer_panic_answer)),
        )
        .merge(
            Router::new()
                .route("/api/external-checkout/order/pay", post(external::order_pay))
                .layer(crate::web::catch_panics(storefront_panic_answer)),
        )
        .merge(storefront_router())
        .layer(DefaultBodyLimit::max(request::BODY_LIMIT))
}

/// What the storefront calls from the mall's own pages (another origin): open to any
/// origin, without credentials.
fn storefront_router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Cafe24Context: FromRef<S>,
{
    let cors = tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([axum::http::header::CONTENT_TYPE]);
    Router::new()
        .route("/api/external-checkout/script", get(script::serve))
        .route("/api/external-checkout/script/data", get(external::script_data))
        .route("/api/external-checkout/script/hmac", get(external::script_hmac))
        .route("/api/external-checkout/payload", post(external::payload))
        .layer(crate::web::catch_panics(storefront_panic_answer))
        .layer(cors)
}

/// Checks `hash_data` over `parts`, the fields each request lists (SPEC §4).
pub(crate) fn check_hash(app: &Cafe24Context, f: &Fields, parts: &[&str]) -> Result<(), Cafe24Error> {
    let hash = f.required("hash_data")?;
    if signature::verify(&app.cafe24.service_key, parts, hash) {
        Ok(())
    } else {
        Err(Cafe24Error::unauthorized())
    }
}

/// The shop a `partner_id` was registered for; its parts are never trusted.
pub(crate) async fn shop_for(app: &Cafe24Context, partner_id: &str) -> Result<ShopRoute, Cafe24Error> {
    app.store
        .shop_by_partner_id(&app.keys, partner_id)
        .await
        .map_err(|e| Cafe24Error::internal("finding the shop of a partner_id", e))?
        .ok_or_else(|| Cafe24Error::new(StatusCode::NOT_FOUND, format!("unknown partner_id {partner_id}")))
}

/// The channel's one error: a 4xx (or a 5xx when the fault is upstream or ours), and
/// nothing was changed. It answers in the shape of the endpoint that refused.
#[derive(Debug)]
pub struct Cafe24Error {
    pub status: StatusCode,
    pub message: String,
    extra: Map<String, Value>,
    shape: Shape,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// Cafe24's API: `{"result_code":"9999","result_message":…, …}`.
    ResultCode,
    /// The storefront button's calls: `{"bResult":false,"mData":{"message":…, …}}`.
    Storefront,
    /// A buyer's browser back from the PG: a small HTML page.
    BuyerPage,
}

impl Cafe24Error {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Cafe24Error { status, message: message.into(), extra: Map::new(), shape: Shape::ResultCode }
    }

    /// Answers as the storefront's calls do (`bResult: false`).
    pub fn for_storefront(mut self) -> Self {
        self.shape = Shape::Storefront;
        self
    }

    /// Answers the buyer's browser with a page.
    pub fn for_buyer(mut self) -> Self {
        self.shape = Shape::BuyerPage;
        self
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

    /// Our fault: logged once here with what failed, hidden from Cafe24.
    pub fn internal(operation: &str, cause: impl std::fmt::Display) -> Self {
        tracing::error!(operation, error = %cause, "cafe24 channel: internal error");
        Self::hidden()
    }

    /// The answer to a fault of ours (already logged), or a panic.
    pub fn hidden() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error; nothing was changed")
    }

    /// Adds a field to the error body (e.g. `payment_url: ""` for payment requests).
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(name.to_owned(), value.into());
        self
    }

    /// The core's error, in Cafe24's terms; `operation` names what failed in the log.
    pub fn from_core(operation: &str, e: PaymentError) -> Self {
        match e {
            PaymentError::NotFound(m) => Self::new(StatusCode::NOT_FOUND, m),
            PaymentError::NotLinked => {
                Self::new(StatusCode::FORBIDDEN, "the mall has no payment-company credentials linked")
            }
            PaymentError::NotOpened => Self::conflict("the payment was never opened at the payment company"),
            PaymentError::Refused(r @ Refusal::AmountMismatch { .. }) => Self::invalid(r.to_string()),
            PaymentError::Refused(r) => Self::conflict(r.to_string()),
            PaymentError::RefundRefused(r @ RefundRefusal::WrongCurrency { .. }) => Self::invalid(r.to_string()),
            PaymentError::RefundRefused(r) => Self::conflict(r.to_string()),
            PaymentError::Conflict(m) | PaymentError::NotCapturable(m) => Self::conflict(m),
            e @ (PaymentError::AuthorizationExpired | PaymentError::Confirmed) => Self::conflict(e.to_string()),
            PaymentError::Invalid(m) | PaymentError::Unsupported(m) => Self::invalid(m),
            PaymentError::GatewayRejected(m) => Self::invalid(format!("the payment company refused: {m}")),
            e @ (PaymentError::GatewayUnavailable(_) | PaymentError::GatewayProtocol(_)) => {
                Self::new(StatusCode::BAD_GATEWAY, e.to_string())
            }
            PaymentError::Webhook(e) => Self::malformed(e.to_string()),
            e @ PaymentError::NoConnector(_) => {
                tracing::error!(operation, error = %e, "cafe24 channel: no connector");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
            PaymentError::Store(e) => Self::internal(operation, e),
            PaymentError::AfterChange(e) => Self::from_core(operation, *e),
        }
    }
}

impl From<StoreError> for Cafe24Error {
    fn from(e: StoreError) -> Self {
        Self::internal("storage", e)
    }
}

impl IntoResponse for Cafe24Error {
    fn into_response(self) -> Response {
        match self.shape {
            Shape::ResultCode => {
                let mut body = Map::new();
                body.insert("result_code".into(), json!("9999"));
                body.insert("result_message".into(), json!(self.message));
                body.extend(self.extra);
                (self.status, Json(Value::Object(body))).into_response()
            }
            Shape::Storefront => {
                let mut data = Map::new();
                data.insert("message".into(), json!(self.message));
                data.extend(self.extra);
                (self.status, Json(json!({"bResult": false, "mData": data}))).into_response()
            }
            Shape::BuyerPage => {
                let body = format!(
                    "<h1>We could not finish your payment</h1><p>{}</p>\
                     <p><a href=\"javascript:location.reload()\">Try again</a></p>",
                    crate::web::html_escape(&self.message)
                );
                (self.status, axum::response::Html(crate::web::page("Payment", &body))).into_response()
            }
        }
    }
}

/// A panic in a Cafe24 handler answers in Cafe24's shape (the panic itself is logged by
/// the layer that caught it).
pub fn panic_answer() -> Response {
    Cafe24Error::hidden().into_response()
}

/// A panic while the buyer comes back from the PG answers with a page.
pub fn buyer_panic_answer() -> Response {
    Cafe24Error::hidden().for_buyer().into_response()
}

/// A panic in a storefront call answers in the storefront's shape.
pub fn storefront_panic_answer() -> Response {
    Cafe24Error::hidden().for_storefront().into_response()
}

#[cfg(test)]
mod tests {
    use axum::{body::Body, http::Request};
    use tower::ServiceExt;

    use super::*;

    async fn panicking() -> Response {
        panic!("stored data was not what it should be")
    }

    async fn answer_of(answer: fn() -> Response) -> (StatusCode, Value) {
        let router: Router = Router::new().route("/boom", get(panicking)).layer(crate::web::catch_panics(answer));
        let response = router.oneshot(Request::get("/boom").body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 4096).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn a_panic_answers_500_in_the_channels_shape_and_hides_why() {
        let (status, body) = answer_of(panic_answer).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body, json!({"result_code": "9999", "result_message": "internal error; nothing was changed"}));
        let (status, body) = answer_of(storefront_panic_answer).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body, json!({"bResult": false, "mData": {"message": "internal error; nothing was changed"}}));
    }
}
