//! Saved cards (SPEC §8.3): a registration on the PG's hosted page and the buyer's return
//! from it, a customer's cards, deleting one, and payments with a saved card — started by
//! the customer (with a fresh PIN verification when they have a PIN) or by the merchant
//! (only an `off_session` card, no PIN). Every POST runs under its Idempotency-Key; every
//! change is one core transaction with its history entry and its webhooks.

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    Json,
};
use serde::Deserialize;
use serde_json::Value;

use super::{
    callback::sorry,
    model::{
        CreateRegistration, CreateTokenPayment, Deleted, ErrorBody, PaymentObject, RegistrationObject, TokenList,
        TokenObject,
    },
    payments::{currency_taken, current, json_of, pg_currencies, positive_amount, store_id, SOURCE},
    request::{parse, post_json, Answer, Body, Held, Merchant},
    ApiError, StoreApiContext,
};
use crate::{
    domain::{
        CaptureMethod, CardToken, CardUsage, Channel, Currency, Initiator, OrderId, PaymentId, PaymentStatus, TokenId,
    },
    payments::{ChargeToken, Charged, OpenRegistration, PaymentError},
    store::{now_ms, ChannelData, StoreApiPayment},
};

/// Where the PG sends the buyer back after the registration page.
pub const REGISTRATION_CALLBACK: &str = "/api/v2/tokens/registrations/callback";

/// The merchant's card `id` that is not deleted; anything else is 404.
async fn owned_token(ctx: &StoreApiContext, merchant: &Merchant, id: &str) -> Result<CardToken, ApiError> {
    let Ok(token_id) = TokenId::parse(id) else { return Err(ApiError::not_found("token")) };
    ctx.payments
        .saved_card(&token_id)
        .await
        .map_err(|e| ApiError::from_core("reading a saved card", e))?
        .filter(|t| t.mall_id == merchant.mall_id && t.deleted_at.is_none())
        .ok_or_else(|| ApiError::not_found("token"))
}

#[utoipa::path(
    post, path = "/api/v2/tokens/registrations", tag = "saved cards",
    summary = "Open a card registration (EBP_API_120)",
    description = "A payment in 1 (amount 0, method `token_registration`) and the PG's hosted page where the buyer enters a card. Registered: the payment ends in 9 with a token, the buyer lands on `successUrl?registrationId=…&tokenId=…` and the store gets `token.registered`. Refused or abandoned: 4, `failUrl?registrationId=…&code=…`, `token.registration_failed`.",
    request_body = CreateRegistration,
    responses(
        (status = 201, description = "The registration and where to send the buyer", body = RegistrationObject),
        (status = 409, description = "`not_linked`: the merchant has no PG credentials linked", body = ErrorBody),
        (status = 422, description = "A field is invalid (`param` names it): `parameter_invalid`, `url_not_allowed`, `not_supported` (the PG keeps no cards)", body = ErrorBody),
        (status = 502, description = "`gateway_unavailable`: the PG did not answer or failed; send the same request again with the same Idempotency-Key to finish it", body = ErrorBody),
        (status = 504, description = "`gateway_unavailable`: the PG timed out; send the same request again with the same Idempotency-Key to finish it", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn create_registration(State(ctx): State<StoreApiContext>, merchant: Merchant, body: Body) -> Response {
    let path = "/api/v2/tokens/registrations".to_owned();
    post_json(ctx, merchant, path, body, |ctx, merchant, value, held| async move {
        open_registration(&ctx, &merchant, value, held).await
    })
    .await
}

async fn open_registration(ctx: &StoreApiContext, merchant: &Merchant, value: Value, mut held: Held) -> Answer {
    let req: CreateRegistration = parse(value)?;
    store_id("customerId", &req.customer_id)?;
    let usage = CardUsage::parse(&req.usage).ok_or_else(|| {
        ApiError::field("parameter_invalid", "usage", format!("{:?} is not on_session or off_session", req.usage))
    })?;
    let domains = ctx.store.mall_domains(merchant.mall_id.as_str()).await?;
    for (param, url) in [("successUrl", &req.success_url), ("failUrl", &req.fail_url)] {
        ctx.hosts
            .check_with(param, url, &domains)
            .map_err(|e| ApiError::field("url_not_allowed", param, e.to_string()))?;
    }
    // A registration moves no money; its amount is 0 in the first currency the PG takes.
    let currency = pg_currencies(ctx, merchant).await?.first().copied().unwrap_or(Currency::Usd);
    let id = held.recovery_id(|| PaymentId::generate().to_string()).await?;
    let id = PaymentId::parse(&id).map_err(|e| ApiError::internal("reading an idempotency recovery point", e))?;
    let request = OpenRegistration {
        id: Some(id),
        mall_id: merchant.mall_id.clone(),
        channel: Channel::StoreApi,
        customer_id: req.customer_id.clone(),
        usage,
        currency,
        expires_at: Some(now_ms() + ctx.settings.intent_expiry.as_millis() as i64),
        callback_url: ctx.url(REGISTRATION_CALLBACK),
        channel_data: ChannelData::StoreApi(StoreApiPayment {
            method: "token_registration".into(),
            finalization: "webhook".into(),
            customer_id: Some(req.customer_id.clone()),
            success_url: req.success_url.clone(),
            fail_url: req.fail_url.clone(),
            metadata: "{}".into(),
        }),
        source: SOURCE,
    };
    let registration = ctx.payments.open_registration(request).await.map_err(|e| match e {
        PaymentError::Unsupported(m) => ApiError::field("not_supported", "usage", m),
        e => ApiError::from_core("opening a card registration", e),
    })?;
    let answer = RegistrationObject {
        id: registration.id.to_string(),
        registration_url: registration.checkout_url.clone().unwrap_or_default(),
    };
    Ok((StatusCode::CREATED, json_of(&answer)))
}

#[derive(Deserialize)]
pub struct RegistrationReturn {
    reference_no: Option<String>,
}

/// `GET /api/v2/tokens/registrations/callback?reference_no=…`: the buyer is back from the
/// PG's registration page. Nothing in it is believed: the PG is asked.
pub async fn buyer_returns(State(ctx): State<StoreApiContext>, Query(params): Query<RegistrationReturn>) -> Response {
    let Some(reference) = params.reference_no.filter(|r| !r.is_empty()) else {
        return sorry(StatusCode::BAD_REQUEST, "The payment company did not say which registration this is.");
    };
    let internal = |e: &dyn std::fmt::Display| {
        tracing::error!(operation = "reading a registration for the buyer", error = %e, "store api: internal error");
        sorry(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side.")
    };
    let payment = match ctx.payments.payment_by_reference(&reference).await {
        Ok(Some(p)) if p.channel == Channel::StoreApi => p,
        Ok(_) => return sorry(StatusCode::NOT_FOUND, "There is no such registration."),
        Err(e) => return internal(&e),
    };
    let data = match ctx.store.store_api_payment(&payment.id).await {
        Ok(Some(data)) if data.method == "token_registration" => data,
        Ok(_) => return sorry(StatusCode::NOT_FOUND, "There is no such registration."),
        Err(e) => return internal(&e),
    };
    let payment = match ctx.payments.sync_registration(&payment).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(payment_id = %payment.id, error = %e, "could not confirm the buyer's return with the PG");
            payment
        }
    };
    let id = payment.id.to_string();
    let target = match payment.status {
        PaymentStatus::Register => match ctx.store.card_token_of_registration(&payment.id).await {
            Ok(Some(token)) => {
                with_query(&data.success_url, &[("registrationId", &id), ("tokenId", token.id.as_str())])
            }
            Ok(None) => return internal(&format!("registration {id} ended without its card")),
            Err(e) => return internal(&e),
        },
        _ => {
            let code = payment.failure_reason.map(|r| r.as_str()).unwrap_or("not_completed");
            with_query(&data.fail_url, &[("registrationId", &id), ("code", code)])
        }
    };
    match target {
        Some(url) => Redirect::to(url.as_str()).into_response(),
        None => sorry(StatusCode::BAD_GATEWAY, "The shop's address is not valid."),
    }
}

fn with_query(base: &str, pairs: &[(&str, &str)]) -> Option<url::Url> {
    let mut url = url::Url::parse(base).ok()?;
    url.query_pairs_mut().extend_pairs(pairs);
    Some(url)
}

#[utoipa::path(
    get, path = "/api/v2/customers/{customerId}/tokens", tag = "saved cards",
    summary = "A customer's saved cards (EBP_API_109)",
    description = "Newest first; deleted cards are not listed. The card stays at the PG: only its brand, last 4 digits and expiry are shown.",
    params(("customerId" = String, Path, description = "The store's customer id")),
    responses((status = 200, description = "The customer's cards", body = TokenList)),
    security(("api_key" = []))
)]
pub async fn list_tokens(
    State(ctx): State<StoreApiContext>,
    merchant: Merchant,
    Path(customer_id): Path<String>,
) -> Response {
    let answer = async {
        if store_id("customerId", &customer_id).is_err()
            || !ctx.store.customer_known(&merchant.mall_id, &customer_id).await?
        {
            return Err(ApiError::not_found("customer"));
        }
        let tokens = ctx
            .payments
            .saved_cards(&merchant.mall_id, &customer_id)
            .await
            .map_err(|e| ApiError::from_core("listing saved cards", e))?;
        Ok(TokenList { data: tokens.iter().map(TokenObject::of).collect() })
    }
    .await;
    match answer {
        Ok(list) => Json(list).into_response(),
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(
    delete, path = "/api/v2/tokens/{id}", tag = "saved cards",
    summary = "Delete a saved card (EBP_API_124)",
    description = "Deleted at the PG first, then here; the store gets `token.deleted`. Again → 404.",
    params(("id" = String, Path, description = "tok_…")),
    responses(
        (status = 200, description = "Deleted", body = Deleted),
        (status = 502, description = "`gateway_unavailable`: the PG did not answer or failed; nothing was deleted here, send it again", body = ErrorBody),
        (status = 504, description = "`gateway_unavailable`: the PG timed out; nothing was deleted here, send it again", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn delete_token(State(ctx): State<StoreApiContext>, merchant: Merchant, Path(id): Path<String>) -> Response {
    let answer = async {
        let token = owned_token(&ctx, &merchant, &id).await?;
        ctx.payments.delete_saved_card(&token, SOURCE).await.map_err(|e| match e.cause() {
            PaymentError::NotFound(_) => ApiError::not_found("token"),
            _ => ApiError::from_core("deleting a saved card", e),
        })?;
        Ok::<_, ApiError>(Deleted { id: token.id.to_string(), deleted: true })
    }
    .await;
    match answer {
        Ok(deleted) => Json(deleted).into_response(),
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(
    post, path = "/api/v2/token-payments", tag = "saved cards",
    summary = "Pay with a saved card (EBP_API_230)",
    description = "The PG charges the card at once: the payment (method `token`) in 2, 5 (`captureMethod: manual`) or 4 — a decline is a payment in 4, not an error. `initiator` is required: `customer` needs a fresh `pinVerificationToken` (used up) when the customer has a PIN; `merchant` needs an `off_session` card and takes no PIN. Capture, cancel and confirm then work as on any payment.",
    request_body = CreateTokenPayment,
    responses(
        (status = 200, description = "The payment, in 2, 5 or 4", body = PaymentObject),
        (status = 403, description = "`pin_verification_required` (`pin_error`): the customer has a PIN and the verification token is missing, used, expired or another customer's; `off_session_required` (`permission_error`): a merchant-initiated payment with an `on_session` card", body = ErrorBody),
        (status = 409, description = "`order_id_in_use`: the orderId has a payment already; `not_linked`", body = ErrorBody),
        (status = 422, description = "A field is invalid (`param` names it): `invalid_amount`, `currency_not_supported`, `parameter_invalid`, `not_supported`", body = ErrorBody),
        (status = 502, description = "`gateway_unavailable`: the PG's answer is unknown; the payment stays in 1 until the same request is sent again with the same Idempotency-Key (it is charged at most once)", body = ErrorBody),
        (status = 504, description = "`gateway_unavailable`: the PG timed out; send the same request again with the same Idempotency-Key (it is charged at most once)", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn create_token_payment(State(ctx): State<StoreApiContext>, merchant: Merchant, body: Body) -> Response {
    post_json(ctx, merchant, "/api/v2/token-payments".into(), body, |ctx, merchant, value, held| async move {
        pay_with_token(&ctx, &merchant, value, held).await
    })
    .await
}

fn pin_verification_required(message: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "pin_error", "pin_verification_required", message).at("pinVerificationToken")
}

async fn pay_with_token(ctx: &StoreApiContext, merchant: &Merchant, value: Value, mut held: Held) -> Answer {
    let req: CreateTokenPayment = parse(value)?;
    let initiator = Initiator::parse(&req.initiator).ok_or_else(|| {
        ApiError::field("parameter_invalid", "initiator", format!("{:?} is not customer or merchant", req.initiator))
    })?;
    let token = owned_token(ctx, merchant, &req.token_id).await.map_err(|e| e.at("tokenId"))?;
    let currency: Currency = req.currency.parse().map_err(|_| {
        ApiError::field("currency_not_supported", "currency", format!("{} is not a currency we take", req.currency))
    })?;
    let amount = positive_amount(req.amount, currency)?;
    let order_id =
        OrderId::parse(&req.order_id).map_err(|e| ApiError::field("parameter_invalid", "orderId", e.to_string()))?;
    if req.order_name.trim().is_empty() || req.order_name.chars().count() > 200 {
        return Err(ApiError::field("parameter_invalid", "orderName", "orderName must be 1 to 200 characters"));
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
    let pin_verification = match initiator {
        Initiator::Merchant => {
            if req.pin_verification_token.is_some() {
                return Err(ApiError::field(
                    "parameter_invalid",
                    "pinVerificationToken",
                    "a merchant-initiated payment takes no PIN",
                ));
            }
            if !initiator.may_use(token.usage) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "permission_error",
                    "off_session_required",
                    "this card was registered for on_session use: only the customer can pay with it",
                )
                .at("tokenId"));
            }
            None
        }
        Initiator::Customer if ctx.store.customer_has_pin(&merchant.mall_id, &token.customer_id).await? => {
            let Some(verification) = req.pin_verification_token.clone() else {
                return Err(pin_verification_required(
                    "the customer has a PIN: verify it and send its pinVerificationToken",
                ));
            };
            Some(verification)
        }
        Initiator::Customer => None,
    };
    if !currency_taken(ctx, merchant, currency).await? {
        return Err(ApiError::field(
            "currency_not_supported",
            "currency",
            format!("the merchant's payment company does not take {currency}"),
        ));
    }
    if !held.resumed() {
        // Refused before the PIN's verification is used up (a refusal changes nothing).
        let taken = ctx
            .payments
            .payment_by_order(&merchant.mall_id, &order_id)
            .await
            .map_err(|e| ApiError::from_core("reading a payment", e))?;
        if taken.is_some() {
            return Err(ApiError::state("order_id_in_use", format!("orderId {order_id} already has a payment")));
        }
    }

    // Chosen before the PG is asked and kept with the key: a resumed request finds the
    // payment and asks the PG under the same reference.
    let id = held.recovery_id(|| PaymentId::generate().to_string()).await?;
    let id = PaymentId::parse(&id).map_err(|e| ApiError::internal("reading an idempotency recovery point", e))?;
    let request = ChargeToken {
        id: id.clone(),
        mall_id: merchant.mall_id.clone(),
        channel: Channel::StoreApi,
        order_id: order_id.clone(),
        amount,
        capture,
        token: token.clone(),
        initiator,
        pin_verification,
        description: Some(req.order_name.clone()),
        expires_at: Some(now_ms() + ctx.settings.intent_expiry.as_millis() as i64),
        channel_data: ChannelData::StoreApi(StoreApiPayment {
            method: "token".into(),
            // Decided by the PG in the call itself, as it decides a checkout.
            finalization: "webhook".into(),
            customer_id: Some(token.customer_id.clone()),
            success_url: String::new(),
            fail_url: String::new(),
            metadata: "{}".into(),
        }),
        source: SOURCE,
    };
    let payment = match ctx.payments.charge_token(request).await {
        Ok(Charged::Done(p)) => p,
        Ok(Charged::OrderTaken(_)) => {
            return Err(ApiError::state("order_id_in_use", format!("orderId {order_id} already has a payment")))
        }
        Ok(Charged::VerificationRefused) => return Err(pin_verification_required(
            "the pinVerificationToken is not this customer's, was used already or has expired: verify the PIN again",
        )),
        Err(PaymentError::Unsupported(m)) => return Err(ApiError::field("not_supported", "captureMethod", m)),
        Err(e) => return Err(ApiError::from_core("paying with a saved card", e)),
    };
    current(ctx, &payment).await
}
