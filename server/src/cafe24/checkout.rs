//! Checkout (SPEC §4.1–4.3): Cafe24's payment request, the PG's callback through the
//! buyer's browser, and Cafe24's read of the payment details.

use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    Json,
};
use serde::Deserialize;
use serde_json::{json, Value};
use url::Url;

use super::{check_hash, noty, shop_for, Cafe24Context, Cafe24Error, Fields};
use crate::{
    domain::{CaptureMethod, Channel, Currency, FailureReason, MallId, Money, OrderId, Payment, PaymentStatus},
    gateway::{CheckoutMode, Finalization},
    payments::{OpenCheckout, Opened, PaymentError},
    store::{random_token, Cafe24Payment, ChannelData, Flow},
};

pub async fn payment_request_sync(State(app): State<Cafe24Context>, fields: Fields) -> Response {
    answer_payment_request(payment_request(&app, Flow::Sync, &fields).await)
}

pub async fn payment_request_async(State(app): State<Cafe24Context>, fields: Fields) -> Response {
    answer_payment_request(payment_request(&app, Flow::Async, &fields).await)
}

fn answer_payment_request(result: Result<String, Cafe24Error>) -> Response {
    match result {
        Ok(url) => Json(json!({
            "result_code": "0000",
            "result_message": "checkout created",
            "payment_url": url,
        }))
        .into_response(),
        Err(e) => e.with("payment_url", "").into_response(),
    }
}

pub(crate) fn callback_path(flow: Flow) -> &'static str {
    match flow {
        Flow::Sync => "/api/synchronous-checkout/checkout/callback",
        Flow::Async => "/api/asynchronous-checkout/checkout/callback",
        Flow::External => "/api/external-checkout/order/callback",
    }
}

/// 256 random bits, URL-safe: the key Cafe24 reads payment details with (SPEC §4.3).
pub(crate) fn new_status_key() -> String {
    random_token()
}

/// The core's answer to opening a checkout, in Cafe24's terms.
pub(crate) fn open_error(e: PaymentError) -> Cafe24Error {
    match e {
        PaymentError::GatewayRejected(m) => {
            Cafe24Error::invalid(format!("the payment company refused the checkout: {m}"))
        }
        other => Cafe24Error::from_core("opening a checkout", other),
    }
}

async fn payment_request(app: &Cafe24Context, flow: Flow, f: &Fields) -> Result<String, Cafe24Error> {
    let partner_id = f.required("partner_id")?;
    let order_text = f.required("order_id")?;
    let amount_text = f.required("amount")?;
    let currency_text = f.required("currency")?;
    check_hash(app, f, &[amount_text, currency_text, order_text, partner_id])?;

    let route = shop_for(app, partner_id).await?;
    if !route.enabled {
        return Err(Cafe24Error::new(StatusCode::FORBIDDEN, "payments are not enabled for this shop"));
    }
    if route.credentials.is_none() {
        return Err(Cafe24Error::new(StatusCode::FORBIDDEN, "the mall has no payment-company credentials linked"));
    }
    if let Some(shop_no) = f.optional("shop_no") {
        if shop_no.trim().parse::<i64>().ok() != Some(route.shop_no) {
            return Err(Cafe24Error::invalid(format!("shop_no {shop_no} is not the shop of this partner_id")));
        }
    }
    let currency: Currency = currency_text
        .parse()
        .map_err(|_| Cafe24Error::invalid(format!("currency {currency_text} is not supported")))?;
    if currency != route.currency {
        return Err(Cafe24Error::invalid(format!(
            "currency {currency} is not this shop's currency ({})",
            route.currency
        )));
    }
    let amount = Money::parse(amount_text, currency).map_err(|e| Cafe24Error::invalid(format!("amount: {e}")))?;
    if amount.minor == 0 {
        return Err(Cafe24Error::invalid("amount must be greater than zero"));
    }
    let order_id = OrderId::parse(order_text)
        .map_err(|_| Cafe24Error::invalid("order_id must be 1 to 64 visible ASCII characters"))?;
    let mall_id = MallId::parse(&route.mall_id).map_err(|e| Cafe24Error::internal("reading the shop's mall", e))?;
    let mall_domains = app.store.mall_domains(&route.mall_id).await?;
    let check_host = |field: &str, raw: &str| {
        app.hosts.check_with(field, raw, &mall_domains).map_err(|e| Cafe24Error::invalid(e.to_string()))
    };
    let return_url = check_host("return_url", f.required("return_url")?)?;
    let return_noty_url = match (flow, f.optional("return_noty_url")) {
        (_, Some(raw)) => Some(check_host("return_noty_url", raw)?),
        (Flow::Async, None) => return Err(Cafe24Error::invalid("return_noty_url is required")),
        _ => None,
    };

    // The same request again picks up the same payment page; anything else about this
    // order is a different payment and is refused.
    let same_request = |p: &Payment, c: Option<&Cafe24Payment>| -> Result<String, Cafe24Error> {
        if p.status != PaymentStatus::Request {
            return Err(Cafe24Error::conflict(format!(
                "order_id {order_id} already has a payment in status {}",
                p.status
            )));
        }
        let same = c.is_some_and(|c| c.partner_id == partner_id && c.flow == flow);
        match (&p.checkout_url, same && p.amount == amount) {
            (Some(url), true) => Ok(url.clone()),
            _ => Err(Cafe24Error::conflict(format!(
                "order_id {order_id} already has a payment of {} for another request",
                p.amount
            ))),
        }
    };
    // The core hands back the payment this order already has (asking the PG nothing).
    let request = OpenCheckout {
        id: None,
        mall_id,
        channel: Channel::Cafe24,
        order_id: order_id.clone(),
        amount,
        description: f.optional("goods_name").map(str::to_owned),
        mode: CheckoutMode::Redirect,
        allow_deposit: flow == Flow::Async,
        capture: CaptureMethod::Automatic,
        finalization: Finalization::Webhook,
        expires_at: None,
        callback_url: app.url(callback_path(flow)),
        pg_webhooks: flow != Flow::Sync,
        channel_data: ChannelData::Cafe24(Cafe24Payment {
            partner_id: partner_id.to_owned(),
            shop_no: route.shop_no,
            flow,
            amount_text: Some(amount_text.to_owned()),
            paymethod: f.optional("paymethod").unwrap_or("etc").to_owned(),
            status_key: new_status_key(),
            return_url: return_url.to_string(),
            return_noty_url: return_noty_url.map(|u| u.to_string()),
            extra_data: f.get("extra_data").map(str::to_owned),
            external_order: None,
        }),
        merchant_name: Some(route.shop_name.clone()),
        source: "cafe24",
    };
    match app.payments.open_checkout(request).await.map_err(open_error)? {
        Opened::Created(p) => {
            p.checkout_url.ok_or_else(|| Cafe24Error::internal("opening a checkout", "no checkout URL"))
        }
        // This order's payment already, or an identical request committed first.
        Opened::Existing(p) => {
            let cafe24 = app.store.cafe24_payment(&p.id).await?;
            same_request(&p, cafe24.as_ref())
        }
    }
}

/// What the PG's callback carries. None of it is trusted: `reference_no` (our payment
/// id, which we gave the PG as its reference) only says which payment to verify.
#[derive(Deserialize)]
pub struct CallbackParams {
    reference_no: Option<String>,
}

pub async fn callback_sync(State(app): State<Cafe24Context>, Query(params): Query<CallbackParams>) -> Response {
    callback(&app, Flow::Sync, params).await
}

pub async fn callback_async(State(app): State<Cafe24Context>, Query(params): Query<CallbackParams>) -> Response {
    callback(&app, Flow::Async, params).await
}

/// A page for the buyer when we cannot send them back to Cafe24 with an answer.
pub(crate) fn buyer_error(status: StatusCode, message: &str) -> Response {
    Cafe24Error::new(status, message).for_buyer().into_response()
}

/// The buyer is back from the PG at one of the channel's callbacks: the Cafe24 payment
/// of that flow named by `reference_no`.
pub(crate) async fn callback_payment(
    app: &Cafe24Context,
    flow: Flow,
    reference: Option<String>,
) -> Result<(Payment, Cafe24Payment), Response> {
    // The buyer knows the external checkout's payment as an order.
    let what = if flow == Flow::External { "order" } else { "payment" };
    let Some(reference) = reference.filter(|r| !r.is_empty()) else {
        let message = format!("The payment company did not say which {what} this is.");
        return Err(buyer_error(StatusCode::BAD_REQUEST, &message));
    };
    let no_such = || buyer_error(StatusCode::NOT_FOUND, &format!("There is no such {what}."));
    let internal = |e: &dyn std::fmt::Display| {
        Cafe24Error::internal("finding the payment a buyer came back for", e).for_buyer().into_response()
    };
    let payment = match app.payments.payment_by_reference(&reference).await {
        Ok(Some(p)) => p,
        Ok(None) => return Err(no_such()),
        Err(e) => return Err(internal(&e)),
    };
    match app.store.cafe24_payment(&payment.id).await {
        Ok(Some(c)) if c.flow == flow => Ok((payment, c)),
        Ok(_) => Err(no_such()),
        Err(e) => Err(internal(&e)),
    }
}

/// Asks the PG for the truth about the payment and applies it; a message for the buyer
/// when that cannot be done.
pub(crate) async fn verify_with_gateway(app: &Cafe24Context, payment: &Payment) -> Result<Payment, String> {
    app.payments.sync_with_gateway(payment).await.map_err(|e| match e {
        PaymentError::NotLinked => "The shop is no longer linked to the payment company.".to_owned(),
        PaymentError::NotOpened => "This payment was never opened at the payment company.".to_owned(),
        PaymentError::Conflict(_) => "The payment company's answer does not match this payment.".to_owned(),
        e @ PaymentError::NoConnector(_) => {
            tracing::error!(payment_id = %payment.id, error = %e, "cafe24 channel: no connector");
            e.to_string()
        }
        PaymentError::Store(e) => {
            tracing::error!(payment_id = %payment.id, error = %e, "applying the PG's answer failed");
            "We could not confirm the payment with the payment company. Please try again.".to_owned()
        }
        e => {
            tracing::warn!(payment_id = %payment.id, error = %e, "could not confirm the payment with the PG");
            "We could not confirm the payment with the payment company. Please try again.".to_owned()
        }
    })
}

async fn callback(app: &Cafe24Context, flow: Flow, params: CallbackParams) -> Response {
    let (payment, cafe24) = match callback_payment(app, flow, params.reference_no).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    match verify_with_gateway(app, &payment).await {
        Ok(payment) => match result_url(flow, &payment, &cafe24) {
            Some(url) => Redirect::to(url.as_str()).into_response(),
            None => buyer_error(StatusCode::BAD_GATEWAY, "The shop's address is not valid."),
        },
        Err(message) => buyer_error(StatusCode::BAD_GATEWAY, &message),
    }
}

/// `return_url` with Cafe24's result parameters (SPEC §4.2).
fn result_url(flow: Flow, payment: &Payment, cafe24: &Cafe24Payment) -> Option<Url> {
    let (code, message) = match (payment.status, payment.failure_reason) {
        (s, _) if s.was_paid() => ("0000", "payment completed"),
        (PaymentStatus::Pending, _) if flow == Flow::Async => ("0000", "payment pending"),
        (PaymentStatus::Fail, Some(FailureReason::AbandonedByBuyer)) => ("9999", "payment cancelled by the buyer"),
        (PaymentStatus::Fail, _) => ("0001", "payment declined by the payment company"),
        _ => ("0001", "payment not completed"),
    };
    // Checked against the host policy when it was stored.
    let mut url = Url::parse(&cafe24.return_url).ok()?;
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("result_code", code).append_pair("result_message", message);
        if flow == Flow::Sync {
            query.append_pair("key", &cafe24.status_key);
        }
        if let Some(extra) = &cafe24.extra_data {
            query.append_pair("extra_data", extra);
        }
    }
    Some(url)
}

/// SPEC §4.3: the payment details Cafe24 reads with the key from the redirect.
pub async fn payment_status(State(app): State<Cafe24Context>, fields: Fields) -> Result<Json<Value>, Cafe24Error> {
    let key = fields.required("key")?;
    let (payment, cafe24) = app
        .store
        .cafe24_payment_by_status_key(key)
        .await?
        .ok_or_else(|| Cafe24Error::new(StatusCode::NOT_FOUND, "unknown key"))?;
    let caps = app.payments.gateways().get(&payment.gateway).map(|g| g.capabilities()).ok_or_else(|| {
        Cafe24Error::from_core("reading a payment", PaymentError::NoConnector(payment.gateway.clone()))
    })?;
    let tf = noty::tf;
    let tid = payment.tid.clone().unwrap_or_default();
    let paid = payment.status.was_paid();
    let amount = noty::amount_text(&payment, &cafe24);
    let hash = noty::payment_hash(&app.cafe24.service_key, &amount, &payment, &cafe24);
    Ok(Json(json!({
        "partner_id": cafe24.partner_id,
        "paymethod": cafe24.paymethod,
        "tid": tid,
        "amount": amount,
        "order_id": payment.order_id.as_str(),
        "cancel_mode": if cafe24.flow == Flow::Sync { "sync" } else { "async" },
        "all_cancel_tf": tf(caps.all_cancel),
        "part_cancel_tf": tf(caps.partial_cancel),
        "escrow_tf": tf(caps.escrow),
        "currency": payment.amount.currency.code(),
        "payed_tf": tf(paid),
        "easy_pay": "F",
        "extra_data": cafe24.extra_data.unwrap_or_default(),
        "result_code": if paid { "0000" } else { "1400" },
        "result_message": if paid { "paid".to_owned() } else { format!("not paid (status {})", payment.status) },
        "hash_data": hash,
    })))
}
