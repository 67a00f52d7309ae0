//! Webhooks from the PG (SPEC §4.4, §4.5). A webhook is verified by its signature (or,
//! for a PG without one, by asking the PG), then its event is applied together with the
//! notifications it causes in one transaction. We answer 2xx only after that commit, so
//! the PG retries anything we did not keep; a redelivered event changes nothing.

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

use super::checkout::gateway_for;
use crate::{
    domain::{FailureReason, MerchantCredentials, PaymentEvent},
    gateway::{OrderStatus, RefundStatus as GatewayRefundStatus, WebhookError, WebhookEvent, WebhookKind},
    startup::AppState,
    store::{EventSource, Payment, RefundOutcome, StoreError},
};

/// A webhook we refuse; the PG sees why.
struct Refused(StatusCode, String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": {"message": self.1}}))).into_response()
    }
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "webhook not kept");
        Refused(StatusCode::INTERNAL_SERVER_ERROR, "not kept; send it again".into())
    }
}

fn accepted(what: &str) -> Response {
    (StatusCode::OK, Json(json!({"result": "ok", "message": what}))).into_response()
}

fn reference(app: &AppState, body: &[u8]) -> Result<String, Refused> {
    app.gateways
        .webhook_reference(body)
        .ok_or_else(|| Refused(StatusCode::BAD_REQUEST, "the webhook names no reference we can read".into()))
}

async fn credentials(app: &AppState, payment: &Payment) -> Result<MerchantCredentials, Refused> {
    app.store.credentials_of(&app.keys, &payment.mall_id).await?.ok_or_else(|| {
        Refused(StatusCode::CONFLICT, "the mall has no credentials linked to verify this webhook".into())
    })
}

/// The verified event, or — for a PG that does not sign webhooks — the truth asked of it.
async fn verify(
    app: &AppState,
    credentials: &MerchantCredentials,
    payment: &Payment,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<WebhookEvent, Refused> {
    let gateway = gateway_for(app, &credentials.gateway).map_err(|e| Refused(e.status, e.message))?;
    match gateway.verify_webhook(credentials, headers, body) {
        Ok(Some(event)) => Ok(event),
        Ok(None) => {
            let tid = payment
                .tid
                .as_deref()
                .ok_or_else(|| Refused(StatusCode::CONFLICT, "the payment has no transaction yet".into()))?;
            let order = gateway
                .get_order(credentials, tid)
                .await
                .map_err(|e| Refused(StatusCode::BAD_GATEWAY, format!("could not confirm with the PG: {e}")))?;
            Ok(WebhookEvent {
                event_id: format!("{}:{:?}", order.tid, order.status),
                tid: order.tid,
                kind: WebhookKind::Order { reference: order.reference, status: order.status, amount: order.amount },
            })
        }
        Err(e @ WebhookError::BadSignature) => Err(Refused(StatusCode::UNAUTHORIZED, e.to_string())),
        Err(e @ WebhookError::Malformed(_)) => Err(Refused(StatusCode::BAD_REQUEST, e.to_string())),
    }
}

/// `POST /api/asynchronous-checkout/checkout/webhook`: the PG reports a payment's status.
pub async fn checkout_webhook(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match checkout_event(&app, &headers, &body).await {
        Ok(response) => response,
        Err(refused) => refused.into_response(),
    }
}

async fn checkout_event(app: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Response, Refused> {
    let reference = reference(app, body)?;
    let payment = app
        .store
        .payment_by_id(&reference)
        .await?
        .ok_or_else(|| Refused(StatusCode::NOT_FOUND, format!("no payment {reference}")))?;
    let credentials = credentials(app, &payment).await?;
    let event = verify(app, &credentials, &payment, headers, body).await?;
    let WebhookKind::Order { reference: event_reference, status, amount } = event.kind else {
        return Err(Refused(StatusCode::BAD_REQUEST, "a refund event was sent to the checkout webhook".into()));
    };
    if event_reference != payment.id || payment.tid.as_deref() != Some(event.tid.as_str()) {
        return Err(Refused(StatusCode::CONFLICT, "the webhook is about another transaction".into()));
    }
    let payment_event = match status {
        OrderStatus::Paid => PaymentEvent::Completed { paid: amount },
        OrderStatus::AwaitingDeposit => PaymentEvent::Pending,
        OrderStatus::Declined => PaymentEvent::Failed(FailureReason::Declined),
        OrderStatus::Abandoned => PaymentEvent::Failed(FailureReason::AbandonedByBuyer),
        OrderStatus::Open => return Ok(accepted("nothing to do yet")),
    };
    let source = EventSource { source: "gateway", source_event_id: Some(event.event_id) };
    let applied = app.store.apply_event(&payment.id, payment_event, &source, None, &app.notifications()).await?;
    match applied.outcome {
        Ok(_) => Ok(accepted("kept")),
        Err(refusal) => Err(Refused(StatusCode::UNPROCESSABLE_ENTITY, refusal.to_string())),
    }
}

/// `POST /api/asynchronous-cancellation/cancel/webhook`: the PG reports a refund's outcome.
pub async fn refund_webhook(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match refund_event(&app, &headers, &body).await {
        Ok(response) => response,
        Err(refused) => refused.into_response(),
    }
}

async fn refund_event(app: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Response, Refused> {
    let reference = reference(app, body)?;
    let (payment, refund) = app
        .store
        .refund_by_id(&reference)
        .await?
        .ok_or_else(|| Refused(StatusCode::NOT_FOUND, format!("no refund {reference}")))?;
    let credentials = credentials(app, &payment).await?;
    let event = verify(app, &credentials, &payment, headers, body).await?;
    let WebhookKind::Refund { reference: event_reference, gateway_refund_id, status, amount } = event.kind else {
        return Err(Refused(StatusCode::BAD_REQUEST, "a payment event was sent to the refund webhook".into()));
    };
    if event_reference != refund.id || payment.tid.as_deref() != Some(event.tid.as_str()) {
        return Err(Refused(StatusCode::CONFLICT, "the webhook is about another refund".into()));
    }
    if amount != refund.amount {
        return Err(Refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the webhook reports {amount}, but the refund is for {}", refund.amount),
        ));
    }
    let outcome = match status {
        GatewayRefundStatus::Refunded => RefundOutcome::Succeeded { gateway_refund_id },
        GatewayRefundStatus::Refused(message) => RefundOutcome::Refused { message },
        GatewayRefundStatus::Pending => return Ok(accepted("nothing to do yet")),
    };
    app.store.complete_refund(&refund.id, &outcome, &app.notifications()).await?;
    Ok(accepted("kept"))
}
