//! The payment calls of SPEC §8.3: intents, finalization by API, capture, cancel (refund,
//! void, or the intent itself), confirm, delivery, one payment and the list. Every POST
//! runs under its Idempotency-Key; every change is one core transaction with its history
//! entry and its webhooks.

use std::collections::BTreeMap;

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;
use serde_json::Value;

use super::{
    model::{
        parse_rfc3339, CancelPayment, CapturePayment, CreateIntent, ErrorBody, FinalizePayment, PaymentList,
        PaymentObject, PgResponse, RecordDelivery,
    },
    request::{parse, post_json, Answer, Body, Held, Merchant},
    ApiError, StoreApiContext,
};
use crate::{
    domain::{
        CaptureMethod, Channel, Currency, FailureReason, Money, OrderId, Payment, PaymentId, PaymentStatus,
        PendingReason, RefundAsk, RefundId, RefundMode, RefundStatus,
    },
    gateway::{CheckoutMode, Finalization},
    payments::{AskRefund, OpenCheckout, Opened, PaymentError},
    store::{now_ms, ChannelData, PaymentFilter, RefundChannelData, StoreApiPayment},
};

/// Who asks, in the payments' history.
pub(super) const SOURCE: &str = "store_api";

pub(super) fn json_of<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The merchant's Store API payment `id`; another merchant's (or no) payment is 404.
pub(super) async fn owned(
    ctx: &StoreApiContext,
    merchant: &Merchant,
    id: &str,
) -> Result<(Payment, StoreApiPayment), ApiError> {
    let payment = ctx
        .payments
        .payment_by_reference(id)
        .await
        .map_err(|e| ApiError::from_core("reading a payment", e))?
        .filter(|p| p.mall_id == merchant.mall_id && p.channel == Channel::StoreApi)
        .ok_or_else(|| ApiError::not_found("payment"))?;
    let data = ctx.store.store_api_payment(&payment.id).await?.ok_or_else(|| ApiError::not_found("payment"))?;
    Ok((payment, data))
}

fn object(ctx: &StoreApiContext, payment: &Payment, data: &StoreApiPayment) -> PaymentObject {
    PaymentObject::of(payment, data, &ctx.public_url)
}

/// The payment as it is now, answered 200.
pub(super) async fn current(ctx: &StoreApiContext, payment: &Payment) -> Answer {
    let data = ctx.store.store_api_payment(&payment.id).await?.ok_or_else(|| ApiError::not_found("payment"))?;
    Ok((StatusCode::OK, json_of(&object(ctx, payment, &data))))
}

pub(super) fn positive_amount(amount: i64, currency: Currency) -> Result<Money, ApiError> {
    if amount <= 0 {
        return Err(ApiError::field("invalid_amount", "amount", "amount must be a positive integer of minor units"));
    }
    Ok(Money::new(amount, currency))
}

/// 1–64 visible ASCII characters (SPEC §8.1: the store's own ids).
pub(super) fn store_id(param: &str, value: &str) -> Result<(), ApiError> {
    if (1..=64).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(ApiError::field("parameter_invalid", param, format!("{param} must be 1 to 64 visible ASCII characters")))
    }
}

/// Whether the merchant's PG takes `currency` (asked of the PG at most once a minute).
pub(super) async fn currency_taken(
    ctx: &StoreApiContext,
    merchant: &Merchant,
    currency: Currency,
) -> Result<bool, ApiError> {
    Ok(pg_currencies(ctx, merchant).await?.contains(&currency))
}

/// The currencies the merchant's PG takes (asked of the PG at most once a minute).
pub(super) async fn pg_currencies(ctx: &StoreApiContext, merchant: &Merchant) -> Result<Vec<Currency>, ApiError> {
    if let Some(known) = ctx.currencies.get(&merchant.mall_id) {
        return Ok(known);
    }
    let credentials = ctx
        .store
        .credentials_of(&ctx.keys, merchant.mall_id.as_str())
        .await?
        .ok_or_else(|| ApiError::from_core("asking the PG for its currencies", PaymentError::NotLinked))?;
    let gateway = ctx.payments.gateways().get(&credentials.gateway).ok_or_else(|| {
        ApiError::internal("asking the PG for its currencies", format!("no connector {}", credentials.gateway))
    })?;
    let profile = gateway
        .verify_credentials(&credentials)
        .await
        .map_err(|e| ApiError::from_core("asking the PG for its currencies", e.into()))?;
    ctx.currencies.put(&merchant.mall_id, profile.currencies.clone());
    Ok(profile.currencies)
}

#[utoipa::path(
    post, path = "/api/v2/payment-intents", tag = "payments",
    summary = "Create a payment intent",
    description = "Opens the checkout at the merchant's PG. `paymentUrl` is our hosted page that sends the buyer on to the PG; `pgResponse` is what the PG's own SDK needs.",
    request_body = CreateIntent,
    responses(
        (status = 201, description = "The payment, in status 1", body = PaymentObject),
        (status = 409, description = "`order_id_in_use`: the orderId has a payment already; `not_linked`", body = ErrorBody),
        (status = 422, description = "A field is invalid (`param` names it): `invalid_amount`, `currency_not_supported`, `url_not_allowed`, `parameter_invalid`, `not_supported`", body = ErrorBody),
        (status = 502, description = "`gateway_unavailable`: the PG did not answer or failed; send the same request again with the same Idempotency-Key to finish it", body = ErrorBody),
        (status = 504, description = "`gateway_unavailable`: the PG timed out; send the same request again with the same Idempotency-Key to finish it", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn create_intent(State(ctx): State<StoreApiContext>, merchant: Merchant, body: Body) -> Response {
    post_json(ctx, merchant, "/api/v2/payment-intents".into(), body, |ctx, merchant, value, held| async move {
        open_intent(&ctx, &merchant, value, held).await
    })
    .await
}

async fn open_intent(ctx: &StoreApiContext, merchant: &Merchant, value: Value, mut held: Held) -> Answer {
    let req: CreateIntent = parse(value)?;
    let currency: Currency = req.currency.parse().map_err(|_| {
        ApiError::field("currency_not_supported", "currency", format!("{} is not a currency we take", req.currency))
    })?;
    let amount = positive_amount(req.amount, currency)?;
    let order_id =
        OrderId::parse(&req.order_id).map_err(|e| ApiError::field("parameter_invalid", "orderId", e.to_string()))?;
    if req.order_name.trim().is_empty() || req.order_name.chars().count() > 200 {
        return Err(ApiError::field("parameter_invalid", "orderName", "orderName must be 1 to 200 characters"));
    }
    if let Some(customer_id) = &req.customer_id {
        store_id("customerId", customer_id)?;
    }
    let capture = match req.capture_method.as_deref() {
        None | Some("automatic") => CaptureMethod::Automatic,
        Some("manual") => CaptureMethod::Manual,
        Some(other) => {
            return Err(ApiError::field(
                "parameter_invalid",
                "captureMethod",
                format!("{other:?} is not automatic or manual"),
            ))
        }
    };
    let finalization = match req.finalization.as_deref() {
        None | Some("webhook") => Finalization::Webhook,
        Some("api") => Finalization::Api,
        Some(other) => {
            return Err(ApiError::field(
                "parameter_invalid",
                "finalization",
                format!("{other:?} is not webhook or api"),
            ))
        }
    };
    let metadata = req.metadata.unwrap_or_default();
    if metadata.len() > 20 || metadata.iter().any(|(k, v)| k.is_empty() || k.len() > 40 || v.len() > 500) {
        return Err(ApiError::field(
            "parameter_invalid",
            "metadata",
            "metadata holds at most 20 pairs, keys of 1–40 and values of at most 500 characters",
        ));
    }
    let domains = ctx.store.mall_domains(merchant.mall_id.as_str()).await?;
    for (param, url) in [("successUrl", &req.success_url), ("failUrl", &req.fail_url)] {
        ctx.hosts
            .check_with(param, url, &domains)
            .map_err(|e| ApiError::field("url_not_allowed", param, e.to_string()))?;
    }
    if !currency_taken(ctx, merchant, currency).await? {
        return Err(ApiError::field(
            "currency_not_supported",
            "currency",
            format!("the merchant's payment company does not take {currency}"),
        ));
    }

    // Chosen before the PG is asked and kept with the key: a resumed request asks the PG
    // under the same reference and finds what the first attempt did.
    let id = held.recovery_id(|| PaymentId::generate().to_string()).await?;
    let id = PaymentId::parse(&id).map_err(|e| ApiError::internal("reading an idempotency recovery point", e))?;
    let request = OpenCheckout {
        id: Some(id.clone()),
        mall_id: merchant.mall_id.clone(),
        channel: Channel::StoreApi,
        order_id: order_id.clone(),
        amount,
        description: Some(req.order_name.clone()),
        mode: CheckoutMode::Redirect,
        allow_deposit: false,
        capture,
        finalization,
        expires_at: Some(now_ms() + ctx.settings.intent_expiry.as_millis() as i64),
        callback_url: ctx.url("/api/v2/checkout/callback"),
        pg_webhooks: true,
        channel_data: ChannelData::StoreApi(StoreApiPayment {
            method: "card".into(),
            finalization: match finalization {
                Finalization::Webhook => "webhook".into(),
                Finalization::Api => "api".into(),
            },
            customer_id: req.customer_id.clone(),
            success_url: req.success_url.clone(),
            fail_url: req.fail_url.clone(),
            metadata: serde_json::to_string(&metadata).unwrap_or_else(|_| "{}".into()),
        }),
        merchant_name: None,
        source: SOURCE,
    };
    let payment = match ctx.payments.open_checkout(request).await {
        Ok(Opened::Created(p)) => p,
        // The first attempt with this key created it; or another request has this order.
        Ok(Opened::Existing(p)) if p.id == id => p,
        Ok(Opened::Existing(_)) => {
            return Err(ApiError::state("order_id_in_use", format!("orderId {order_id} already has a payment")))
        }
        Err(PaymentError::Unsupported(m)) => {
            let param = if m.contains("finalization") { "finalization" } else { "captureMethod" };
            return Err(ApiError::field("not_supported", param, m));
        }
        Err(e) => return Err(ApiError::from_core("opening a checkout", e)),
    };
    let data = ctx.store.store_api_payment(&payment.id).await?.ok_or_else(|| ApiError::not_found("payment"))?;
    let public_key =
        ctx.store.linked_credentials(merchant.mall_id.as_str()).await?.map(|c| c.public_key).unwrap_or_default();
    let mut answer = object(ctx, &payment, &data);
    answer.pg_response = Some(PgResponse {
        gateway: payment.gateway.clone(),
        checkout_code: payment.tid.clone().unwrap_or_default(),
        checkout_url: payment.checkout_url.clone().unwrap_or_default(),
        public_key,
    });
    Ok((StatusCode::CREATED, json_of(&answer)))
}

#[utoipa::path(
    post, path = "/api/v2/payments", tag = "payments",
    summary = "Finalize a payment by API",
    description = "For `finalization: api`: redeems the `authData` the buyer came back to `successUrl` with. A decline is a payment in 4, not an error.",
    request_body = FinalizePayment,
    responses(
        (status = 200, description = "The payment, in 2, 5 or 4", body = PaymentObject),
        (status = 409, description = "`finalization_mismatch`, or already finalized (`payment_finalized`)", body = ErrorBody),
        (status = 422, description = "`invalid_auth_data`: bad or used; the payment is unchanged", body = ErrorBody),
        (status = 502, description = "`gateway_unavailable`: the PG did not answer or failed; send the same request again with the same Idempotency-Key to finish it", body = ErrorBody),
        (status = 504, description = "`gateway_unavailable`: the PG timed out; send the same request again with the same Idempotency-Key to finish it", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn finalize(State(ctx): State<StoreApiContext>, merchant: Merchant, body: Body) -> Response {
    post_json(ctx, merchant, "/api/v2/payments".into(), body, move |ctx, merchant, value, _held| async move {
        let req: FinalizePayment = parse(value)?;
        let (payment, data) = owned(&ctx, &merchant, &req.payment_id).await.map_err(|e| e.at("paymentId"))?;
        if data.finalization != "api" {
            return Err(ApiError::state(
                "finalization_mismatch",
                "this payment is finalized by the PG's webhook, not by API",
            ));
        }
        if payment.status != PaymentStatus::Request {
            return Err(ApiError::state(
                "payment_finalized",
                format!("the payment is already finalized ({})", super::model::status_name(payment.status)),
            )
            .with("status", super::model::status_name(payment.status))
            .with("statusCode", payment.status.code()));
        }
        if req.auth_data.is_empty() || req.auth_data.len() > 1000 {
            return Err(ApiError::field("invalid_auth_data", "authData", "authData is missing or malformed"));
        }
        let payment =
            ctx.payments.finalize_with_auth_data(&payment, &req.auth_data, SOURCE).await.map_err(|e| match e {
                PaymentError::GatewayRejected(m) => ApiError::field(
                    "invalid_auth_data",
                    "authData",
                    format!("the payment company refused the authData: {m}"),
                ),
                other => ApiError::from_core("finalizing a payment", other),
            })?;
        current(&ctx, &payment).await
    })
    .await
}

#[utoipa::path(
    post, path = "/api/v2/payments/{id}/capture", tag = "payments",
    summary = "Capture an authorization (EBP_API_228)",
    description = "Only a card payment in 5 with `captureMethod: manual`; the rest of the authorization is released.",
    request_body = CapturePayment,
    params(("id" = String, Path, description = "pay_…")),
    responses(
        (status = 200, description = "The payment, in 2", body = PaymentObject),
        (status = 409, description = "`not_capturable` or `authorization_expired`", body = ErrorBody),
        (status = 422, description = "`amount_too_large` / `invalid_amount`", body = ErrorBody),
        (status = 502, description = "`gateway_unavailable`: the PG did not answer or failed; send the same request again with the same Idempotency-Key to finish it", body = ErrorBody),
        (status = 504, description = "`gateway_unavailable`: the PG timed out; send the same request again with the same Idempotency-Key to finish it", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn capture(
    State(ctx): State<StoreApiContext>,
    merchant: Merchant,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let path = format!("/api/v2/payments/{id}/capture");
    post_json(ctx, merchant, path, body, move |ctx, merchant, value, _held| async move {
        let req: CapturePayment = parse(value)?;
        let (payment, _) = owned(&ctx, &merchant, &id).await?;
        let amount = req.amount.map(|a| positive_amount(a, payment.amount.currency)).transpose()?;
        if amount.is_some_and(|a| a.minor > payment.amount.minor) {
            return Err(ApiError::field(
                "amount_too_large",
                "amount",
                format!("at most the {} authorized can be captured", payment.amount),
            ));
        }
        let payment =
            ctx.payments.capture(&payment, amount, SOURCE).await.map_err(|e| ApiError::from_core("capturing", e))?;
        current(&ctx, &payment).await
    })
    .await
}

#[utoipa::path(
    post, path = "/api/v2/payments/{id}/cancel", tag = "payments",
    summary = "Cancel: refund, void, or cancel the intent",
    description = "In 2 or 7 a refund (default: the whole balance) → 7, or 3 when nothing remains; a refund the PG keeps pending ends by its webhook. In 5 only the whole authorization is voided → 6. In 1 the intent is canceled → 4. A confirmed payment → 409 `payment_confirmed`.",
    request_body = CancelPayment,
    params(("id" = String, Path, description = "pay_…")),
    responses(
        (status = 200, description = "The payment as the cancel left it", body = PaymentObject),
        (status = 409, description = "`payment_confirmed`, `payment_canceled`, `not_cancelable`; `invalid_state` when the buyer paid meanwhile (what the PG did is applied, and this answer is kept for the Idempotency-Key)", body = ErrorBody),
        (status = 422, description = "`amount_too_large`, `invalid_amount`, `partial_void_not_allowed`, `refund_declined` (the refund is recorded as failed; the same request again answers this)", body = ErrorBody),
        (status = 502, description = "`gateway_unavailable`: the PG did not answer or failed; send the same request again with the same Idempotency-Key to finish it", body = ErrorBody),
        (status = 504, description = "`gateway_unavailable`: the PG timed out; send the same request again with the same Idempotency-Key to finish it", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn cancel(
    State(ctx): State<StoreApiContext>,
    merchant: Merchant,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let path = format!("/api/v2/payments/{id}/cancel");
    post_json(ctx, merchant, path, body, move |ctx, merchant, value, mut held| async move {
        let req: CancelPayment = parse(value)?;
        if req.reason.trim().is_empty() || req.reason.chars().count() > 500 {
            return Err(ApiError::field("parameter_invalid", "reason", "reason must be 1 to 500 characters"));
        }
        let (payment, data) = owned(&ctx, &merchant, &id).await?;
        let amount = req.amount.map(|a| positive_amount(a, payment.amount.currency)).transpose()?;
        if data.method == "token" && payment.status == PaymentStatus::Request {
            // Its charge's answer was lost: only asking the PG again (the same request with
            // its Idempotency-Key) finishes it; a cancel would have to charge to find out.
            return Err(ApiError::state(
                "invalid_state",
                "the payment company's answer to this charge is not known yet; send the token payment again with \
                 the same Idempotency-Key to finish it",
            ));
        }
        if payment.confirmed_at.is_some() {
            return Err(ApiError::from_core("canceling", PaymentError::Confirmed));
        }
        let payment = match payment.status {
            PaymentStatus::Request => {
                if amount.is_some() {
                    return Err(ApiError::field("parameter_invalid", "amount", "an unpaid intent is canceled whole"));
                }
                ctx.payments.fail_intent(&payment, FailureReason::Canceled, SOURCE).await
            }
            PaymentStatus::Pending if payment.pending_reason == Some(PendingReason::Capture) => {
                if amount.is_some_and(|a| a != payment.amount) {
                    return Err(ApiError::field(
                        "partial_void_not_allowed",
                        "amount",
                        "an authorization is voided whole; capture less instead",
                    ));
                }
                ctx.payments.void(&payment, FailureReason::Canceled, SOURCE).await
            }
            PaymentStatus::Complete | PaymentStatus::PartialCancel => {
                let amount = amount.unwrap_or(payment.state().remaining());
                // Chosen before the PG is asked and kept with the key: the same request
                // again is this refund (resumed, or answered as the PG left it), never
                // a second one — even when the PG's webhook settled it meanwhile.
                let refund_id = held.recovery_id(|| RefundId::generate().to_string()).await?;
                let refund_id = RefundId::parse(&refund_id)
                    .map_err(|e| ApiError::internal("reading an idempotency recovery point", e))?;
                let request = AskRefund {
                    id: Some(refund_id),
                    ask: RefundAsk { amount, mode: RefundMode::MayPend, expected_balance_after: None },
                    reason: Some(req.reason.clone()),
                    channel_data: RefundChannelData::None,
                    source: SOURCE,
                };
                match ctx.payments.refund(&payment, request).await {
                    Ok((payment, refund)) => match refund.status {
                        RefundStatus::Succeeded | RefundStatus::Pending => Ok(payment),
                        // The refund, its refusal and its webhook are recorded: the
                        // answer is final for this key (asking again is another refund).
                        RefundStatus::Failed => {
                            return Err(ApiError::field(
                                "refund_declined",
                                "amount",
                                format!(
                                    "the payment company refused the refund: {}",
                                    refund.failure_message.unwrap_or_default()
                                ),
                            )
                            .after_change())
                        }
                        // No answer from the PG: the refund stays reserved and the same
                        // request again resumes it.
                        RefundStatus::Requested | RefundStatus::Unknown => {
                            return Err(ApiError::new(
                                StatusCode::BAD_GATEWAY,
                                "gateway_error",
                                "gateway_unavailable",
                                "the payment company did not answer; send the same request again to finish it",
                            ))
                        }
                    },
                    Err(e) => Err(e),
                }
            }
            PaymentStatus::Cancel => {
                return Err(ApiError::state("payment_canceled", "the payment is already canceled in full"))
            }
            other => {
                return Err(ApiError::state(
                    "not_cancelable",
                    format!("a payment in {} cannot be canceled", super::model::status_name(other)),
                ))
            }
        }
        .map_err(|e| ApiError::from_core("canceling", e))?;
        current(&ctx, &payment).await
    })
    .await
}

#[utoipa::path(
    post, path = "/api/v2/payments/{id}/confirm", tag = "payments",
    summary = "Confirm the purchase (EBP_API_214)",
    description = "Only in 2 or 7: settlement may proceed and the payment can no longer be canceled. Again → 200, unchanged.",
    params(("id" = String, Path, description = "pay_…")),
    responses(
        (status = 200, description = "The payment, confirmed", body = PaymentObject),
        (status = 409, description = "`invalid_state`: only a payment in 2 or 7 is confirmed", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn confirm(
    State(ctx): State<StoreApiContext>,
    merchant: Merchant,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let path = format!("/api/v2/payments/{id}/confirm");
    post_json(ctx, merchant, path, body, move |ctx, merchant, _body, _held| async move {
        let (payment, _) = owned(&ctx, &merchant, &id).await?;
        let payment =
            ctx.payments.confirm(&payment.id, SOURCE).await.map_err(|e| ApiError::from_core("confirming", e))?;
        current(&ctx, &payment).await
    })
    .await
}

#[utoipa::path(
    post, path = "/api/v2/payments/{id}/delivery", tag = "payments",
    summary = "Record the delivery",
    description = "A worker confirms the payment `AUTO_CONFIRM_AFTER` (default 7 days) later unless it was confirmed or fully canceled.",
    request_body = RecordDelivery,
    params(("id" = String, Path, description = "pay_…")),
    responses(
        (status = 200, description = "The payment, with `deliveredAt`", body = PaymentObject),
        (status = 409, description = "`invalid_state`: only a paid payment is delivered", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn delivery(
    State(ctx): State<StoreApiContext>,
    merchant: Merchant,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let path = format!("/api/v2/payments/{id}/delivery");
    post_json(ctx, merchant, path, body, move |ctx, merchant, value, _held| async move {
        let req: RecordDelivery = parse(value)?;
        let at = req
            .delivered_at
            .as_deref()
            .map(|t| {
                parse_rfc3339(t).ok_or_else(|| {
                    ApiError::field("parameter_invalid", "deliveredAt", "deliveredAt must be an RFC 3339 time")
                })
            })
            .transpose()?;
        let (payment, _) = owned(&ctx, &merchant, &id).await?;
        let payment = ctx
            .payments
            .record_delivery(&payment.id, at, SOURCE)
            .await
            .map_err(|e| ApiError::from_core("recording a delivery", e))?;
        current(&ctx, &payment).await
    })
    .await
}

#[utoipa::path(
    get, path = "/api/v2/payments/{id}", tag = "payments",
    summary = "One payment, with its events and refunds",
    params(("id" = String, Path, description = "pay_…")),
    responses((status = 200, description = "The payment with its `events` and `refunds`", body = PaymentObject)),
    security(("api_key" = []))
)]
pub async fn get_payment(State(ctx): State<StoreApiContext>, merchant: Merchant, Path(id): Path<String>) -> Response {
    let answer = async {
        let (payment, data) = owned(&ctx, &merchant, &id).await?;
        let events = ctx.payments.events(&payment).await.map_err(|e| ApiError::from_core("reading events", e))?;
        let refunds = ctx.payments.refunds(&payment).await.map_err(|e| ApiError::from_core("reading refunds", e))?;
        Ok::<_, ApiError>(object(&ctx, &payment, &data).with_history(&events, &refunds))
    }
    .await;
    match answer {
        Ok(object) => Json(object).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /api/v2/payments` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub order_id: Option<String>,
    pub customer_id: Option<String>,
    /// A status name (`COMPLETE`) or code (`2`).
    pub status: Option<String>,
    /// 1–100, default 10.
    pub limit: Option<i64>,
    /// The last payment id of the previous page.
    pub starting_after: Option<String>,
}

#[utoipa::path(
    get, path = "/api/v2/payments", tag = "payments",
    summary = "List payments, newest first",
    params(ListQuery),
    responses((status = 200, description = "A page of payments, newest first", body = PaymentList)),
    security(("api_key" = []))
)]
pub async fn list_payments(
    State(ctx): State<StoreApiContext>,
    merchant: Merchant,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let answer = async {
        let Query(q) =
            query.map_err(|e| ApiError::invalid(StatusCode::BAD_REQUEST, "parameter_invalid", e.body_text()))?;
        let limit = q.limit.unwrap_or(10);
        if !(1..=100).contains(&limit) {
            return Err(
                ApiError::invalid(StatusCode::BAD_REQUEST, "parameter_invalid", "limit must be 1 to 100").at("limit")
            );
        }
        let status = q
            .status
            .as_deref()
            .map(|s| {
                PaymentStatus::ALL
                    .into_iter()
                    .find(|st| super::model::status_name(*st) == s || st.code().to_string() == s)
                    .ok_or_else(|| {
                        ApiError::invalid(StatusCode::BAD_REQUEST, "parameter_invalid", "unknown status").at("status")
                    })
            })
            .transpose()?;
        let starting_after = match q.starting_after.as_deref() {
            Some(id) => Some(owned(&ctx, &merchant, id).await.map_err(|e| e.at("startingAfter"))?.0.id),
            None => None,
        };
        let filter = PaymentFilter { order_id: q.order_id, customer_id: q.customer_id, status, starting_after };
        let mut rows = ctx.store.store_api_payments(&merchant.mall_id, &filter, limit + 1).await?;
        let has_more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let data = rows.iter().map(|(p, d)| object(&ctx, p, d)).collect();
        Ok(PaymentList { data, has_more })
    }
    .await;
    match answer {
        Ok(list) => Json(list).into_response(),
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(
    post, path = "/api/v2/payments/{id}/webhooks/resend", tag = "webhooks",
    summary = "Send a payment's failed webhooks again",
    description = "As further attempts of the same events: the same `webhook-id`, the same body.",
    params(("id" = String, Path, description = "pay_…")),
    responses((status = 200, description = "How many failed webhooks were queued again", body = super::model::Resent)),
    security(("api_key" = []))
)]
pub async fn resend_webhooks(
    State(ctx): State<StoreApiContext>,
    merchant: Merchant,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let path = format!("/api/v2/payments/{id}/webhooks/resend");
    post_json(ctx, merchant, path, body, move |ctx, merchant, _body, _held| async move {
        let (payment, _) = owned(&ctx, &merchant, &id).await?;
        let resent = ctx.store.requeue_failed_webhooks(&payment.id).await?;
        Ok((StatusCode::OK, json_of(&super::model::Resent { resent })))
    })
    .await
}

/// Metadata as stored, for tests and the admin.
pub fn metadata_of(data: &StoreApiPayment) -> BTreeMap<String, String> {
    serde_json::from_str(&data.metadata).unwrap_or_default()
}
