//! Checkout (SPEC §4.1–4.3): Cafe24's payment request, the PG's callback through the
//! buyer's browser, and Cafe24's read of the payment details.

use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
    Json,
};
use serde::Deserialize;
use serde_json::{json, Value};
use url::Url;

use super::{check_hash, shop_for, signature, Cafe24Error, Fields};
use crate::{
    domain::{Currency, FailureReason, Money, PaymentEvent, PaymentStatus},
    gateway::{CheckoutMode, CheckoutRequest, GatewayError, OrderStatus, PaymentGateway},
    sandbox::html_escape,
    startup::AppState,
    store::{EventSource, Flow, Inserted, NewPayment, Payment},
};

pub async fn payment_request_sync(State(app): State<AppState>, fields: Fields) -> Response {
    answer_payment_request(payment_request(&app, Flow::Sync, &fields).await)
}

pub async fn payment_request_async(State(app): State<AppState>, fields: Fields) -> Response {
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

fn callback_path(flow: Flow) -> &'static str {
    match flow {
        Flow::Sync => "/api/synchronous-checkout/checkout/callback",
        Flow::Async => "/api/asynchronous-checkout/checkout/callback",
        Flow::External => "/api/external-checkout/order/callback",
    }
}

/// Cafe24 order ids look like `20220519-0000029`.
fn valid_order_id(order_id: &str) -> bool {
    (1..=64).contains(&order_id.len()) && order_id.bytes().all(|b| b.is_ascii_graphic())
}

async fn payment_request(app: &AppState, flow: Flow, f: &Fields) -> Result<String, Cafe24Error> {
    let partner_id = f.required("partner_id")?;
    let order_id = f.required("order_id")?;
    let amount_text = f.required("amount")?;
    let currency_text = f.required("currency")?;
    check_hash(app, f, &[amount_text, currency_text, order_id, partner_id])?;

    let route = shop_for(app, partner_id).await?;
    if !route.enabled {
        return Err(Cafe24Error::new(StatusCode::FORBIDDEN, "payments are not enabled for this shop"));
    }
    let credentials = route
        .credentials
        .clone()
        .ok_or_else(|| Cafe24Error::new(StatusCode::FORBIDDEN, "the mall has no payment-company credentials linked"))?;
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
    if !valid_order_id(order_id) {
        return Err(Cafe24Error::invalid("order_id must be 1 to 64 visible ASCII characters"));
    }
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
    let gateway = gateway_for(app, &credentials.gateway)?;

    let new = NewPayment {
        mall_id: route.mall_id.clone(),
        shop_no: route.shop_no,
        partner_id: partner_id.to_owned(),
        flow,
        order_id: order_id.to_owned(),
        amount,
        amount_text: amount_text.to_owned(),
        paymethod: f.optional("paymethod").unwrap_or("etc").to_owned(),
        gateway: credentials.gateway.clone(),
        return_url: return_url.to_string(),
        return_noty_url: return_noty_url.map(|u| u.to_string()),
        extra_data: f.get("extra_data").map(str::to_owned),
        goods_name: f.optional("goods_name").map(str::to_owned),
        external_order: None,
    };
    let payment = match app.store.insert_payment(&new).await? {
        Inserted::Created(p) => p,
        Inserted::Existing(p) => {
            // The same request again may pick up the same payment page; anything else
            // about this order is a different payment and is refused.
            if p.status != PaymentStatus::Request {
                return Err(Cafe24Error::conflict(format!(
                    "order_id {order_id} already has a payment in status {}",
                    p.status
                )));
            }
            if p.amount != amount || p.partner_id != partner_id || p.flow != flow {
                return Err(Cafe24Error::conflict(format!(
                    "order_id {order_id} already has a payment of {} for another request",
                    p.amount
                )));
            }
            if let Some(url) = p.payment_url {
                return Ok(url);
            }
            p
        }
    };

    let request = CheckoutRequest {
        reference: payment.id.clone(),
        amount,
        description: payment.goods_name.clone(),
        callback_url: app.url(callback_path(flow)),
        webhook_url: (flow != Flow::Sync).then(|| app.url("/api/asynchronous-checkout/checkout/webhook")),
        mode: CheckoutMode::Redirect,
        allow_deposit: flow == Flow::Async,
    };
    let checkout = gateway.create_checkout(&credentials, &request).await.map_err(|e| match e {
        GatewayError::Rejected(m) => Cafe24Error::invalid(format!("the payment company refused the checkout: {m}")),
        other => {
            tracing::warn!(payment_id = %payment.id, error = %other, "checkout at the PG failed");
            Cafe24Error::new(StatusCode::BAD_GATEWAY, other.to_string())
        }
    })?;
    match app.store.attach_checkout(&payment.id, &checkout.tid, &checkout.payment_url).await? {
        Ok(p) => Ok(p.payment_url.unwrap_or(checkout.payment_url)),
        Err(conflict) => {
            tracing::error!(payment_id = %payment.id, %conflict, "PG returned a second checkout");
            Err(Cafe24Error::conflict("the payment company returned a different checkout; nothing was changed"))
        }
    }
}

pub(crate) fn gateway_for<'a>(app: &'a AppState, id: &str) -> Result<&'a dyn PaymentGateway, Cafe24Error> {
    app.gateways.get(id).map(|g| g.as_ref()).ok_or_else(|| {
        tracing::error!(gateway = id, "no connector for this payment company");
        Cafe24Error::new(StatusCode::SERVICE_UNAVAILABLE, format!("payment company {id} is not available"))
    })
}

/// What the PG's callback carries. None of it is trusted: `reference_no` (our payment
/// id, which we gave the PG as its reference) only says which payment to verify.
#[derive(Deserialize)]
pub struct CallbackParams {
    reference_no: Option<String>,
}

pub async fn callback_sync(State(app): State<AppState>, Query(params): Query<CallbackParams>) -> Response {
    callback(&app, Flow::Sync, params).await
}

pub async fn callback_async(State(app): State<AppState>, Query(params): Query<CallbackParams>) -> Response {
    callback(&app, Flow::Async, params).await
}

/// A page for the buyer when we cannot send them back to Cafe24 with an answer.
pub(crate) fn buyer_error(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<h1>We could not finish your payment</h1><p>{}</p><p><a href=\"javascript:location.reload()\">Try again</a></p>",
        html_escape(message)
    );
    (status, Html(crate::sandbox::page("Payment", &body))).into_response()
}

async fn callback(app: &AppState, flow: Flow, params: CallbackParams) -> Response {
    let Some(reference) = params.reference_no.filter(|r| !r.is_empty()) else {
        return buyer_error(StatusCode::BAD_REQUEST, "The payment company did not say which payment this is.");
    };
    let payment = match app.store.payment_by_id(&reference).await {
        Ok(Some(p)) if p.flow == flow => p,
        Ok(_) => return buyer_error(StatusCode::NOT_FOUND, "There is no such payment."),
        Err(e) => {
            tracing::error!(error = %e, "callback lookup failed");
            return buyer_error(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side.");
        }
    };
    match verify_with_gateway(app, &payment).await {
        Ok(payment) => Redirect::to(result_url(flow, &payment).as_str()).into_response(),
        Err(message) => buyer_error(StatusCode::BAD_GATEWAY, &message),
    }
}

/// Asks the PG for the truth about `payment` and applies it.
pub(crate) async fn verify_with_gateway(app: &AppState, payment: &Payment) -> Result<Payment, String> {
    let unreachable = "We could not confirm the payment with the payment company. Please try again.";
    let credentials = match app.store.credentials_of(&app.keys, &payment.mall_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return Err("The shop is no longer linked to the payment company.".into()),
        Err(e) => {
            tracing::error!(error = %e, "credentials lookup failed");
            return Err(unreachable.into());
        }
    };
    let tid = payment.tid.as_deref().ok_or("This payment was never opened at the payment company.")?;
    let gateway = gateway_for(app, &credentials.gateway).map_err(|e| e.message)?;
    let order = gateway.get_order(&credentials, tid).await.map_err(|e| {
        tracing::warn!(payment_id = %payment.id, error = %e, "PG order lookup failed");
        unreachable.to_owned()
    })?;
    if order.reference != payment.id || order.tid != tid {
        tracing::error!(payment_id = %payment.id, tid, "PG order belongs to another payment");
        return Err("The payment company's answer does not match this payment.".into());
    }
    let event = match order.status {
        OrderStatus::Paid => PaymentEvent::Completed { paid: order.amount },
        OrderStatus::AwaitingDeposit => PaymentEvent::Pending,
        OrderStatus::Declined => PaymentEvent::Failed(FailureReason::Declined),
        OrderStatus::Abandoned => PaymentEvent::Failed(FailureReason::AbandonedByBuyer),
        OrderStatus::Open => return Ok(payment.clone()),
    };
    app.store
        .apply_event(&payment.id, event, &EventSource::new("gateway"), None, &app.notifications())
        .await
        .map(|applied| applied.payment)
        .map_err(|e| {
            tracing::error!(error = %e, "applying the PG's answer failed");
            unreachable.to_owned()
        })
}

/// `return_url` with Cafe24's result parameters (SPEC §4.2).
fn result_url(flow: Flow, payment: &Payment) -> Url {
    let (code, message) = match (payment.status, payment.failure_reason) {
        (s, _) if s.was_paid() => ("0000", "payment completed"),
        (PaymentStatus::Pending, _) if flow == Flow::Async => ("0000", "payment pending"),
        (PaymentStatus::Fail, Some(FailureReason::AbandonedByBuyer)) => ("9999", "payment cancelled by the buyer"),
        (PaymentStatus::Fail, _) => ("0001", "payment declined by the payment company"),
        _ => ("0001", "payment not completed"),
    };
    let mut url = Url::parse(&payment.return_url).expect("return_url was validated when stored");
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("result_code", code).append_pair("result_message", message);
        if flow == Flow::Sync {
            query.append_pair("key", &payment.status_key);
        }
        if let Some(extra) = &payment.extra_data {
            query.append_pair("extra_data", extra);
        }
    }
    url
}

/// SPEC §4.3: the payment details Cafe24 reads with the key from the redirect.
pub async fn payment_status(State(app): State<AppState>, fields: Fields) -> Result<Json<Value>, Cafe24Error> {
    let key = fields.required("key")?;
    let payment = app
        .store
        .payment_by_status_key(key)
        .await?
        .ok_or_else(|| Cafe24Error::new(StatusCode::NOT_FOUND, "unknown key"))?;
    let caps = gateway_for(&app, &payment.gateway)?.capabilities();
    let tf = |b: bool| if b { "T" } else { "F" };
    let tid = payment.tid.clone().unwrap_or_default();
    let paid = payment.status.was_paid();
    let hash = signature::sign(
        &app.cafe24.service_key,
        &[&payment.amount_text, payment.amount.currency.code(), &payment.order_id, &payment.partner_id, &tid],
    );
    Ok(Json(json!({
        "partner_id": payment.partner_id,
        "paymethod": payment.paymethod,
        "tid": tid,
        "amount": payment.amount_text,
        "order_id": payment.order_id,
        "cancel_mode": if payment.flow == Flow::Sync { "sync" } else { "async" },
        "all_cancel_tf": tf(caps.all_cancel),
        "part_cancel_tf": tf(caps.partial_cancel),
        "escrow_tf": tf(caps.escrow),
        "currency": payment.amount.currency.code(),
        "payed_tf": tf(paid),
        "easy_pay": "F",
        "extra_data": payment.extra_data.unwrap_or_default(),
        "result_code": if paid { "0000" } else { "1400" },
        "result_message": if paid { "paid".to_owned() } else { format!("not paid (status {})", payment.status) },
        "hash_data": hash,
    })))
}
