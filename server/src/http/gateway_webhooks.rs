//! PG webhooks, routed by connector: `POST /pg/{gateway}/webhook` (SPEC §4.4, §4.5,
//! §8.3). The connector reads which payment or refund the body names, and the core
//! verifies it (or, unsigned, asks the PG) and applies it in one transaction; we answer
//! 2xx only after that committed, so the PG retries anything we did not keep. The
//! Cafe24-era paths stay as aliases of the sandbox connector's route.

use axum::{
    body::Bytes,
    extract::{FromRef, Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Json, Router,
};
use serde_json::json;

use crate::{
    gateway::{sandbox::GATEWAY_ID as SANDBOX, WebhookError},
    payments::{PaymentError, PaymentService, WebhookOutcome, WebhookSource},
};

pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    PaymentService: FromRef<S>,
{
    Router::new()
        .route("/pg/{gateway}/webhook", post(by_connector))
        .route("/api/asynchronous-checkout/checkout/webhook", post(sandbox_alias))
        .route("/api/asynchronous-cancellation/cancel/webhook", post(sandbox_alias))
        .route("/api/asynchronous-refund/cancel/webhook", post(sandbox_alias))
        .layer(crate::web::catch_panics(panic_answer))
}

/// A panic answers 500, so the PG sends the webhook again (nothing was kept).
fn panic_answer() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"result": "error", "message": "internal error; nothing was kept"})))
        .into_response()
}

async fn by_connector(
    State(payments): State<PaymentService>,
    Path(gateway): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    take(&payments, &gateway, &headers, &body).await
}

async fn sandbox_alias(State(payments): State<PaymentService>, headers: HeaderMap, body: Bytes) -> Response {
    take(&payments, SANDBOX, &headers, &body).await
}

async fn take(payments: &PaymentService, gateway: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    match payments.take_webhook(WebhookSource { gateway, headers, body }).await {
        Ok(WebhookOutcome::Kept) => accepted("kept"),
        Ok(WebhookOutcome::NothingYet) => accepted("nothing to do yet"),
        Ok(WebhookOutcome::Unrelated) => accepted("not about a payment of ours: ignored"),
        Err(e) => refused(gateway, e),
    }
}

fn accepted(what: &str) -> Response {
    (StatusCode::OK, Json(json!({"result": "ok", "message": what}))).into_response()
}

/// A webhook we refuse; the PG sees why (and retries what it should).
pub fn refused(gateway: &str, e: PaymentError) -> Response {
    let e = e.into_cause();
    let status = match &e {
        PaymentError::Webhook(WebhookError::BadSignature) => StatusCode::UNAUTHORIZED,
        PaymentError::Webhook(WebhookError::Malformed(_)) => StatusCode::BAD_REQUEST,
        PaymentError::NotFound(_) => StatusCode::NOT_FOUND,
        PaymentError::NotLinked
        | PaymentError::NotOpened
        | PaymentError::Conflict(_)
        | PaymentError::NotCapturable(_)
        | PaymentError::AuthorizationExpired
        | PaymentError::Confirmed => StatusCode::CONFLICT,
        PaymentError::Invalid(_)
        | PaymentError::Unsupported(_)
        | PaymentError::Refused(_)
        | PaymentError::RefundRefused(_) => StatusCode::UNPROCESSABLE_ENTITY,
        PaymentError::GatewayRejected(_) | PaymentError::GatewayUnavailable(_) | PaymentError::GatewayProtocol(_) => {
            StatusCode::BAD_GATEWAY
        }
        PaymentError::NoConnector(_) => StatusCode::NOT_FOUND,
        PaymentError::Store(_) | PaymentError::AfterChange(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let message = match &e {
        PaymentError::Store(cause) => {
            tracing::error!(gateway, operation = "taking a PG webhook", error = %cause, "webhook not kept");
            "not kept; send it again".to_owned()
        }
        PaymentError::NotLinked => "the mall has no credentials linked to verify this webhook".to_owned(),
        PaymentError::NoConnector(_) => format!("no connector {gateway}"),
        other => other.to_string(),
    };
    (status, Json(json!({"error": {"message": message}}))).into_response()
}
