//! Cancellation (SPEC §4.5): Cafe24's cancel, checked here and refunded by the core
//! (reserve → PG → complete, so that however many cancels arrive at once, no more than
//! was paid is ever refunded). Synchronous cancels answer the PG's result; asynchronous
//! ones answer "requested", and the PG's refund webhook later leads to a `cancelnoty`.

use axum::{extract::State, http::StatusCode, Json};
use serde_json::{json, Value};

use super::{check_hash, shop_for, Cafe24Context, Cafe24Error, Fields};
use crate::{
    domain::{Currency, MallId, Money, OrderId, Payment, Refund, RefundAsk, RefundMode, RefundStatus},
    payments::{AskRefund, PaymentError},
    store::{Cafe24Refund, RefundChannelData},
};

pub async fn cancel_sync(State(app): State<Cafe24Context>, f: Fields) -> Result<Json<Value>, Cafe24Error> {
    let done = cancel(&app, &f, RefundMode::Immediate).await?;
    match done.refund.status {
        RefundStatus::Succeeded => Ok(answer(&done, "cancelled", true)),
        _ => Err(unsettled(&done.refund)),
    }
}

pub async fn cancel_async(State(app): State<Cafe24Context>, f: Fields) -> Result<Json<Value>, Cafe24Error> {
    let done = cancel(&app, &f, RefundMode::MayPend).await?;
    match done.refund.status {
        RefundStatus::Pending | RefundStatus::Succeeded => Ok(answer(&done, "cancellation requested", false)),
        _ => Err(unsettled(&done.refund)),
    }
}

/// A cancel as the core left it.
struct Cancelled {
    payment: Payment,
    refund: Refund,
    partner_id: String,
    /// `cancel_amount` as Cafe24 sent it with this refund.
    amount_text: String,
}

fn answer(done: &Cancelled, message: &str, with_remaining: bool) -> Json<Value> {
    let payment = &done.payment;
    let mut body = json!({
        "result_code": "0000",
        "result_message": message,
        "partner_id": done.partner_id,
        "order_id": payment.order_id.as_str(),
        "tid": payment.tid,
        "currency": payment.amount.currency.code(),
        "cancel_amount": done.amount_text,
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

/// Checks the cancel and has the core refund it.
async fn cancel(app: &Cafe24Context, f: &Fields, mode: RefundMode) -> Result<Cancelled, Cafe24Error> {
    let partner_id = f.required("partner_id")?;
    let order_text = f.required("order_id")?;
    let tid = f.required("tid")?;
    let currency_text = f.required("currency")?;
    let cancel_text = f.required("cancel_amount")?;
    check_hash(app, f, &[cancel_text, currency_text, order_text, partner_id, tid])?;

    // A disabled shop still refunds what it took.
    let route = shop_for(app, partner_id).await?;
    let not_found = || Cafe24Error::new(StatusCode::NOT_FOUND, format!("no payment for order_id {order_text}"));
    let (Ok(mall_id), Ok(order_id)) = (MallId::parse(&route.mall_id), OrderId::parse(order_text)) else {
        return Err(not_found());
    };
    let payment = app
        .payments
        .payment_by_order(&mall_id, &order_id)
        .await
        .map_err(|e| Cafe24Error::from_core("finding the payment to cancel", e))?
        .ok_or_else(not_found)?;
    let cafe24 =
        app.store.cafe24_payment(&payment.id).await?.filter(|c| c.partner_id == partner_id).ok_or_else(not_found)?;
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
    let expected_balance_after = f.optional("remain_amount").map(|t| parse("remain_amount", t)).transpose()?;
    let cancel_noty_url = match (mode, f.optional("cancel_noty_url")) {
        (RefundMode::MayPend, Some(raw)) => {
            let mall_domains = app.store.mall_domains(&route.mall_id).await?;
            let url = app
                .hosts
                .check_with("cancel_noty_url", raw, &mall_domains)
                .map_err(|e| Cafe24Error::invalid(e.to_string()))?;
            Some(url.to_string())
        }
        (RefundMode::MayPend, None) => return Err(Cafe24Error::invalid("cancel_noty_url is required")),
        (RefundMode::Immediate, _) => None,
    };
    let request = AskRefund {
        id: None,
        ask: RefundAsk { amount, mode, expected_balance_after },
        reason: f.optional("cancel_reason").map(str::to_owned),
        channel_data: RefundChannelData::Cafe24(Cafe24Refund {
            amount_text: cancel_text.to_owned(),
            cancel_noty_url,
            extra_data: f.get("extra_data").map(str::to_owned),
        }),
        source: "cafe24",
    };
    let (payment, refund) = app.payments.refund(&payment, request).await.map_err(|e| match e {
        PaymentError::NotLinked => {
            Cafe24Error::conflict("the mall has no payment-company credentials linked, so nothing can be refunded")
        }
        other => Cafe24Error::from_core("refunding a payment", other),
    })?;
    // A resumed refund keeps the amount text it was first asked with.
    let amount_text =
        app.store.cafe24_refund(&refund.id).await?.map_or_else(|| cancel_text.to_owned(), |r| r.amount_text);
    Ok(Cancelled { payment, refund, partner_id: cafe24.partner_id, amount_text })
}
