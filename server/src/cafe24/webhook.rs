//! Webhooks from the PG (SPEC §4.4, §4.5). A webhook is verified by its signature, then
//! its event is applied together with the notifications it causes in one transaction.
//! A webhook without a signature (a PG that does not sign) is only a notice: its body is
//! not believed, and we apply what the PG answers when asked about that payment or
//! refund. We answer 2xx only after the commit, so the PG retries anything we did not
//! keep; a redelivered event changes nothing.

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
    gateway::{
        GatewayError, OrderStatus, PaymentGateway, RefundStatus as GatewayRefundStatus, WebhookError, WebhookEvent,
        WebhookKind,
    },
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

/// What a webhook may be believed for.
enum Verified {
    /// Its signature holds: the body is the PG's word.
    Signed(WebhookEvent),
    /// It carries no signature (a PG without signatures): only what the PG answers
    /// when asked counts.
    AskThePg,
}

async fn verify<'a>(
    app: &'a AppState,
    credentials: &MerchantCredentials,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(&'a dyn PaymentGateway, Verified), Refused> {
    let gateway = gateway_for(app, &credentials.gateway).map_err(|e| Refused(e.status, e.message))?;
    match gateway.verify_webhook(credentials, headers, body) {
        Ok(Some(event)) => Ok((gateway, Verified::Signed(event))),
        Ok(None) => Ok((gateway, Verified::AskThePg)),
        Err(e @ WebhookError::BadSignature) => Err(Refused(StatusCode::UNAUTHORIZED, e.to_string())),
        Err(e @ WebhookError::Malformed(_)) => Err(Refused(StatusCode::BAD_REQUEST, e.to_string())),
    }
}

fn tid_of(payment: &Payment) -> Result<&str, Refused> {
    payment.tid.as_deref().ok_or_else(|| Refused(StatusCode::CONFLICT, "the payment has no transaction yet".into()))
}

fn unconfirmed(e: GatewayError) -> Refused {
    Refused(StatusCode::BAD_GATEWAY, format!("could not confirm with the PG: {e}"))
}

/// The payment's status as the PG reports it when asked, as an order event.
async fn order_event_from_pg(
    gateway: &dyn PaymentGateway,
    credentials: &MerchantCredentials,
    payment: &Payment,
) -> Result<WebhookEvent, Refused> {
    let order = gateway.get_order(credentials, tid_of(payment)?).await.map_err(unconfirmed)?;
    Ok(WebhookEvent {
        event_id: format!("{}:{:?}", order.tid, order.status),
        tid: order.tid,
        kind: WebhookKind::Order { reference: order.reference, status: order.status, amount: order.amount },
    })
}

/// The refund as the PG reports it when asked, as a refund event.
async fn refund_event_from_pg(
    gateway: &dyn PaymentGateway,
    credentials: &MerchantCredentials,
    payment: &Payment,
    refund_id: &str,
) -> Result<WebhookEvent, Refused> {
    let refund = match gateway.get_refund(credentials, tid_of(payment)?, refund_id).await {
        Ok(refund) => refund,
        Err(GatewayError::Rejected(message)) => {
            return Err(Refused(StatusCode::CONFLICT, format!("the PG does not confirm this refund: {message}")))
        }
        Err(e) => return Err(unconfirmed(e)),
    };
    Ok(WebhookEvent {
        event_id: format!("{}:{}:{:?}", refund.tid, refund.id, refund.status),
        tid: refund.tid,
        kind: WebhookKind::Refund {
            reference: refund.reference,
            gateway_refund_id: refund.id,
            status: refund.status,
            amount: refund.amount,
        },
    })
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
    let event = match verify(app, &credentials, headers, body).await? {
        (_, Verified::Signed(event)) => event,
        (gateway, Verified::AskThePg) => order_event_from_pg(gateway, &credentials, &payment).await?,
    };
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
    let event = match verify(app, &credentials, headers, body).await? {
        (_, Verified::Signed(event)) => event,
        (gateway, Verified::AskThePg) => refund_event_from_pg(gateway, &credentials, &payment, &refund.id).await?,
    };
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
