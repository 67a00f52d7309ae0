//! Cancellation (SPEC §4.5). The amount is reserved against the payment first, so that
//! however many cancels arrive at once, no more than was paid is ever refunded; then the
//! PG is asked, with our refund id as its idempotency reference. Synchronous cancels
//! answer the PG's result; asynchronous ones answer "requested", and the PG's refund
//! webhook later leads to a `cancelnoty` through the outbox.

use axum::{extract::State, http::StatusCode, Json};
use serde_json::{json, Value};

use super::{check_hash, checkout::gateway_for, shop_for, Cafe24Error, Fields};
use crate::{
    domain::{Currency, MerchantCredentials, Money},
    gateway::{GatewayError, PaymentGateway, RefundRequest, RefundStatus as GatewayRefundStatus},
    startup::AppState,
    store::{NewRefund, Payment, Refund, RefundMode, RefundOutcome, RefundStatus, Reserved},
};

pub async fn cancel_sync(State(app): State<AppState>, f: Fields) -> Result<Json<Value>, Cafe24Error> {
    let (payment, refund) = cancel(&app, &f, RefundMode::Sync).await?;
    match refund.status {
        RefundStatus::Succeeded => Ok(answer(&payment, &refund, "cancelled", true)),
        _ => Err(unsettled(&refund)),
    }
}

pub async fn cancel_async(State(app): State<AppState>, f: Fields) -> Result<Json<Value>, Cafe24Error> {
    let (payment, refund) = cancel(&app, &f, RefundMode::Async).await?;
    match refund.status {
        RefundStatus::Pending | RefundStatus::Succeeded => {
            Ok(answer(&payment, &refund, "cancellation requested", false))
        }
        _ => Err(unsettled(&refund)),
    }
}

fn answer(payment: &Payment, refund: &Refund, message: &str, with_remaining: bool) -> Json<Value> {
    let mut body = json!({
        "result_code": "0000",
        "result_message": message,
        "partner_id": payment.partner_id,
        "order_id": payment.order_id,
        "tid": payment.tid,
        "currency": payment.amount.currency.code(),
        "cancel_amount": refund.amount_text,
    });
    if with_remaining {
        body["remain_amount"] = json!(payment.state().remaining().to_major_string());
    }
    Json(body)
}

/// The error for a refund the PG did not complete while Cafe24 waited.
fn unsettled(refund: &Refund) -> Cafe24Error {
    match refund.status {
        RefundStatus::Failed => Cafe24Error::invalid(format!(
            "the payment company refused the refund: {}",
            refund.failure_message.as_deref().unwrap_or_default()
        )),
        RefundStatus::Pending => Cafe24Error::new(
            StatusCode::BAD_GATEWAY,
            "the payment company has not finished the refund yet; the amount stays reserved",
        ),
        _ => Cafe24Error::new(
            StatusCode::BAD_GATEWAY,
            "the payment company did not answer; send the same cancel again to finish it",
        ),
    }
}

async fn cancel(app: &AppState, f: &Fields, mode: RefundMode) -> Result<(Payment, Refund), Cafe24Error> {
    let partner_id = f.required("partner_id")?;
    let order_id = f.required("order_id")?;
    let tid = f.required("tid")?;
    let currency_text = f.required("currency")?;
    let cancel_text = f.required("cancel_amount")?;
    check_hash(app, f, &[cancel_text, currency_text, order_id, partner_id, tid])?;

    // A disabled shop still refunds what it took.
    let route = shop_for(app, partner_id).await?;
    let payment = app
        .store
        .payment_by_order(&route.mall_id, order_id)
        .await?
        .filter(|p| p.partner_id == partner_id)
        .ok_or_else(|| Cafe24Error::new(StatusCode::NOT_FOUND, format!("no payment for order_id {order_id}")))?;
    if payment.tid.as_deref() != Some(tid) {
        return Err(Cafe24Error::invalid(format!("tid {tid} is not the payment's transaction")));
    }
    let currency: Currency = currency_text
        .parse()
        .map_err(|_| Cafe24Error::invalid(format!("currency {currency_text} is not supported")))?;
    if currency != payment.amount.currency {
        return Err(Cafe24Error::invalid(format!(
            "currency {currency} is not the payment's currency ({})",
            payment.amount.currency
        )));
    }
    let parse = |field: &str, text: &str| {
        Money::parse(text, currency).map_err(|e| Cafe24Error::invalid(format!("{field}: {e}")))
    };
    let amount = parse("cancel_amount", cancel_text)?;
    if let Some(total_text) = f.optional("amount") {
        let total = parse("amount", total_text)?;
        if total != payment.amount {
            return Err(Cafe24Error::invalid(format!(
                "amount {total} is not the payment's amount ({})",
                payment.amount
            )));
        }
    }
    let expected_remaining_after = f.optional("remain_amount").map(|t| parse("remain_amount", t)).transpose()?;
    let cancel_noty_url = match (mode, f.optional("cancel_noty_url")) {
        (RefundMode::Async, Some(raw)) => {
            let mall_domains = app.store.mall_domains(&route.mall_id).await?;
            let url = app
                .hosts
                .check_with("cancel_noty_url", raw, &mall_domains)
                .map_err(|e| Cafe24Error::invalid(e.to_string()))?;
            Some(url.to_string())
        }
        (RefundMode::Async, None) => return Err(Cafe24Error::invalid("cancel_noty_url is required")),
        (RefundMode::Sync, _) => None,
    };
    let credentials = app.store.credentials_of(&app.keys, &route.mall_id).await?.ok_or_else(|| {
        Cafe24Error::conflict("the mall has no payment-company credentials linked, so nothing can be refunded")
    })?;
    let gateway = gateway_for(app, &credentials.gateway)?;

    let new = NewRefund {
        amount,
        amount_text: cancel_text.to_owned(),
        mode,
        reason: f.optional("cancel_reason").map(str::to_owned),
        cancel_noty_url,
        extra_data: f.get("extra_data").map(str::to_owned),
        expected_remaining_after,
    };
    let refund = match app.store.reserve_refund(&payment.id, &new).await? {
        Ok(Reserved::New(r) | Reserved::Resume(r)) => r,
        Err(refusal) => return Err(Cafe24Error::conflict(refusal.to_string())),
    };
    let outcome = ask_for_refund(app, gateway, &credentials, tid, &refund).await;
    Ok(app.store.complete_refund(&refund.id, &outcome, &app.notifications()).await?)
}

async fn ask_for_refund(
    app: &AppState,
    gateway: &dyn PaymentGateway,
    credentials: &MerchantCredentials,
    tid: &str,
    refund: &Refund,
) -> RefundOutcome {
    let request = RefundRequest {
        reference: refund.id.clone(),
        amount: refund.amount,
        webhook_url: (refund.mode == RefundMode::Async)
            .then(|| app.url("/api/asynchronous-cancellation/cancel/webhook")),
    };
    match gateway.refund(credentials, tid, &request).await {
        Ok(r) => match r.status {
            GatewayRefundStatus::Refunded => RefundOutcome::Succeeded { gateway_refund_id: r.id },
            GatewayRefundStatus::Pending => RefundOutcome::Pending { gateway_refund_id: r.id },
            GatewayRefundStatus::Refused(message) => RefundOutcome::Refused { message },
        },
        Err(GatewayError::Rejected(message)) => RefundOutcome::Refused { message },
        Err(other) => {
            tracing::warn!(refund_id = %refund.id, error = %other, "refund outcome unknown");
            RefundOutcome::Unknown { message: other.to_string() }
        }
    }
}
