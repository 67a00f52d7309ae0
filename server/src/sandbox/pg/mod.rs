//! The sandbox payment company (SPEC §6, §8.5): a small PG with an HTTP API, merchant
//! credentials, a hosted payment page whose buttons send the buyer back to the
//! merchant's callback, signed webhooks with retries, manual-capture authorizations
//! (capture, void), checkouts the merchant finalizes with one-time `authData`, and fault
//! switches for tests (refuse or hold the next refund, send an order's webhooks unsigned,
//! decline the next approval, expire an authorization, answer API calls 503 before or
//! after doing what they ask, lose an operation's answer and webhooks altogether), and a card vault (hosted registration page, charges by
//! token, deletion). Its records live in the `sandbox_pg_*` tables.

mod authorizations;
mod faults;
mod page;
mod refunds;
mod vault;
mod webhooks;

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use base64::Engine;
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;
use url::Url;

use crate::{
    domain::{Currency, Money},
    store::{is_unique_violation, new_id, now_ms, Store},
};

pub const DEMO_PUBLIC_KEY: &str = "demo-app-public-key";
pub const DEMO_SECRET_KEY: &str = "demo-app-secret-key";
pub const CURRENCIES: [Currency; 3] = [Currency::Jpy, Currency::Php, Currency::Usd];

#[derive(Clone)]
pub struct SandboxPg {
    pub store: Store,
    /// Public base of the sandbox PG (`…/sandbox-pg`), for the hosted page's address.
    pub base_url: Url,
    /// For the webhooks it sends.
    pub http: reqwest::Client,
}

pub fn router<S: Clone + Send + Sync + 'static>(state: SandboxPg) -> Router<S> {
    // The merchant's API: each call may be failed on purpose (`POST /sandbox-pg/faults`).
    let api = Router::new()
        .route("/v1/merchant", get(merchant))
        .route("/v1/checkouts", post(create_checkout))
        .route("/v1/orders/{code}", get(get_order))
        .route("/v1/orders/{code}/refunds", post(refunds::refund))
        .route("/v1/orders/{code}/refunds/{reference}", get(refunds::get_refund))
        .route("/v1/orders/{code}/pay", post(pay))
        .route("/v1/orders/{code}/approve", post(authorizations::approve))
        .route("/v1/orders/{code}/capture", post(authorizations::capture))
        .route("/v1/orders/{code}/void", post(authorizations::void))
        .route("/v1/orders/{code}/close", post(authorizations::close))
        .route("/v1/registrations", post(vault::create_registration))
        .route("/v1/registrations/{code}", get(vault::get_registration))
        .route("/v1/tokens/{token}/charges", post(vault::charge))
        .route("/v1/tokens/{token}", axum::routing::delete(vault::delete_card))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), faults::inject));
    Router::new()
        .merge(api)
        .route("/faults", post(faults::set))
        .route("/orders/{code}/expire-authorization", post(authorizations::expire))
        .route("/orders/{code}/approve-outcome", post(authorizations::set_approve_outcome))
        .route("/checkout/{code}", get(page::hosted_page))
        .route(
            "/checkout/{code}/{action}",
            post(page::buyer_action).route_layer(axum::middleware::from_fn_with_state(state.clone(), faults::inject)),
        )
        .route("/registrations/{code}", get(vault::hosted_page).post(vault::submit_card))
        .route("/registrations/{code}/cancel", post(vault::cancel))
        .route("/registrations/{code}/return", post(vault::return_to_merchant))
        .route("/orders/{code}/deposit", post(deposit))
        .route("/orders/{code}/webhooks/resend", post(webhooks::resend))
        .route("/orders/{code}/refund-outcome", post(refunds::set_refund_outcome))
        .route("/orders/{code}/refunds/{refund_code}/decide", post(refunds::decide_held))
        .route("/orders/{code}/webhook-signing", post(webhooks::set_signing))
        .with_state(state)
}

struct ApiError(StatusCode, &'static str, String);

impl ApiError {
    fn not_found(what: String) -> Self {
        ApiError(StatusCode::NOT_FOUND, "not_found", what)
    }

    fn invalid(message: impl Into<String>) -> Self {
        ApiError(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": {"code": self.1, "message": self.2}}))).into_response()
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(error = %e, "sandbox PG storage failed");
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error".into())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        crate::store::StoreError::from(e).into()
    }
}

/// The merchant, from HTTP Basic credentials.
pub(super) struct Merchant(pub(super) String);

fn authenticate(headers: &HeaderMap) -> Result<Merchant, ApiError> {
    let unauthorized = || ApiError(StatusCode::UNAUTHORIZED, "unauthorized", "unknown merchant credentials".into());
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .ok_or_else(unauthorized)?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(value).map_err(|_| unauthorized())?;
    let decoded = String::from_utf8(decoded).map_err(|_| unauthorized())?;
    let (public_key, secret_key) = decoded.split_once(':').ok_or_else(unauthorized)?;
    let public_ok = public_key.as_bytes().ct_eq(DEMO_PUBLIC_KEY.as_bytes());
    let secret_ok = secret_key.as_bytes().ct_eq(DEMO_SECRET_KEY.as_bytes());
    if bool::from(public_ok & secret_ok) {
        Ok(Merchant(public_key.to_owned()))
    } else {
        Err(unauthorized())
    }
}

/// The secret a merchant's webhooks are signed with.
fn webhook_secret(merchant: &str) -> &'static str {
    debug_assert_eq!(merchant, DEMO_PUBLIC_KEY);
    DEMO_SECRET_KEY
}

async fn merchant(headers: HeaderMap) -> Result<Json<serde_json::Value>, ApiError> {
    let Merchant(id) = authenticate(&headers)?;
    Ok(Json(json!({
        "merchant": id,
        "currencies": CURRENCIES.iter().map(|c| c.code()).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
struct CheckoutBody {
    reference: String,
    amount: i64,
    currency: String,
    description: Option<String>,
    /// Shown on the payment page ("Pay {merchant_name}"); the merchant account's name
    /// when absent.
    merchant_name: Option<String>,
    callback_url: String,
    webhook_url: Option<String>,
    #[serde(default = "redirect_mode")]
    mode: String,
    #[serde(default)]
    allow_deposit: bool,
    #[serde(default = "automatic")]
    capture_method: String,
    #[serde(default = "webhook")]
    finalization: String,
}

fn redirect_mode() -> String {
    "redirect".into()
}

pub(super) fn automatic() -> String {
    "automatic".into()
}

fn webhook() -> String {
    "webhook".into()
}

#[derive(sqlx::FromRow)]
pub(super) struct OrderRow {
    code: String,
    merchant: String,
    reference: String,
    amount_minor: i64,
    currency: String,
    description: Option<String>,
    status: String,
    allow_deposit: i64,
    callback_url: String,
    webhook_url: Option<String>,
    refunded_minor: i64,
    next_refund_outcome: Option<String>,
    mode: String,
    shipping_address: Option<String>,
    /// 1: this order's webhooks go out without a signature (a PG without signatures).
    unsigned_webhooks: i64,
    /// automatic | manual
    capture_method: String,
    /// webhook | api
    finalization: String,
    auth_data: Option<String>,
    auth_data_used: i64,
    next_approve_outcome: Option<String>,
    captured_minor: i64,
    /// The shop the merchant named for this checkout's page.
    merchant_name: Option<String>,
}

pub(super) const ORDER_COLUMNS: &str = "code, merchant, reference, amount_minor, currency, description, status, \
     allow_deposit, callback_url, webhook_url, refunded_minor, next_refund_outcome, mode, shipping_address, \
     unsigned_webhooks, capture_method, finalization, auth_data, auth_data_used, next_approve_outcome, captured_minor, merchant_name";

/// The address the sandbox "wallet" holds for every buyer (review-page checkouts).
fn wallet_address() -> serde_json::Value {
    json!({
        "name": "Juan dela Cruz",
        "lines": ["Unit 5B, 123 Rizal Street", "Barangay Poblacion"],
        "city": "Makati",
        "state": "Metro Manila",
        "postal_code": "1210",
        "country_code": "PH",
        "phone": "+63 912 345 6789",
    })
}

impl OrderRow {
    fn money(&self, minor: i64) -> Option<Money> {
        self.currency.parse().ok().map(|c| Money::new(minor, c))
    }
}

impl SandboxPg {
    fn checkout_url(&self, code: &str) -> String {
        format!("{}/checkout/{code}", self.base_url.as_str().trim_end_matches('/'))
    }

    async fn order(&self, code: &str) -> Result<Option<OrderRow>, ApiError> {
        let sql = format!("SELECT {ORDER_COLUMNS} FROM sandbox_pg_orders WHERE code = $1");
        Ok(sqlx::query_as(&sql).bind(code).fetch_optional(self.store.pool()).await?)
    }

    async fn existing_order(&self, code: &str) -> Result<OrderRow, ApiError> {
        self.order(code).await?.ok_or_else(|| ApiError::not_found(format!("no order {code}")))
    }

    async fn merchant_order(&self, merchant: &Merchant, code: &str) -> Result<OrderRow, ApiError> {
        self.order(code)
            .await?
            .filter(|o| o.merchant == merchant.0)
            .ok_or_else(|| ApiError::not_found(format!("no order {code}")))
    }

    fn order_json(&self, o: &OrderRow) -> serde_json::Value {
        json!({
            "order_code": o.code,
            "reference": o.reference,
            "status": o.status,
            "amount": o.amount_minor,
            "currency": o.currency,
            "refunded_amount": o.refunded_minor,
            "captured_amount": o.captured_minor,
            "capture_method": o.capture_method,
            "finalization": o.finalization,
            "checkout_url": self.checkout_url(&o.code),
            "mode": o.mode,
            "shipping_address": o.shipping_address.as_deref().and_then(|a| serde_json::from_str::<serde_json::Value>(a).ok()),
        })
    }

    /// Moves an order from `from` to `to`; `false` when it was not in `from`. Paid at
    /// once, it takes its whole amount. The merchant hears of a change by webhook.
    async fn change_status(&self, code: &str, from: &str, to: &str) -> Result<bool, ApiError> {
        let done = sqlx::query(
            "UPDATE sandbox_pg_orders SET status = $1, updated_at = $2, \
             captured_minor = CASE WHEN $1 = 'paid' THEN amount_minor ELSE captured_minor END \
             WHERE code = $3 AND status = $4",
        )
        .bind(to)
        .bind(now_ms())
        .bind(code)
        .bind(from)
        .execute(self.store.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        self.notify(&self.existing_order(code).await?).await?;
        Ok(true)
    }

    /// Adds `delta` to the order's webhooks in flight (tests wait until none are).
    async fn count_webhooks_in_flight(&self, code: &str, delta: i64) -> Result<(), ApiError> {
        sqlx::query("UPDATE sandbox_pg_orders SET webhooks_in_flight = webhooks_in_flight + $1 WHERE code = $2")
            .bind(delta)
            .bind(code)
            .execute(self.store.pool())
            .await?;
        Ok(())
    }

    /// Tells the merchant the order's new state, by webhook when it gave a URL.
    async fn notify(&self, order: &OrderRow) -> Result<(), ApiError> {
        if let Some(url) = &order.webhook_url {
            self.send_webhook(order, url, webhooks::order_event(order)).await?;
        }
        Ok(())
    }
}

async fn create_checkout(
    State(pg): State<SandboxPg>,
    headers: HeaderMap,
    body: Result<Json<CheckoutBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let merchant = authenticate(&headers)?;
    let Json(body) = body.map_err(|e| ApiError(StatusCode::BAD_REQUEST, "invalid_request", e.body_text()))?;
    let currency: Currency = body
        .currency
        .parse()
        .ok()
        .filter(|c| CURRENCIES.contains(c))
        .ok_or_else(|| ApiError::invalid(format!("currency {} is not supported", body.currency)))?;
    if body.amount <= 0 {
        return Err(ApiError::invalid("amount must be a positive integer of minor units"));
    }
    if body.reference.is_empty() || body.reference.len() > 100 {
        return Err(ApiError::invalid("reference must be 1 to 100 characters"));
    }
    for (field, value) in [("callback_url", Some(&body.callback_url)), ("webhook_url", body.webhook_url.as_ref())] {
        if let Some(value) = value {
            if !Url::parse(value).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
                return Err(ApiError::invalid(format!("{field} must be an http(s) URL")));
            }
        }
    }
    if body
        .merchant_name
        .as_ref()
        .is_some_and(|n| n.trim().is_empty() || n.chars().count() > 100 || n.chars().any(char::is_control))
    {
        return Err(ApiError::invalid("merchant_name must be 1 to 100 characters, none of them a control character"));
    }
    if !matches!(body.mode.as_str(), "redirect" | "review") {
        return Err(ApiError::invalid("mode must be redirect or review"));
    }
    if !matches!(body.capture_method.as_str(), "automatic" | "manual") {
        return Err(ApiError::invalid("capture_method must be automatic or manual"));
    }
    if !matches!(body.finalization.as_str(), "webhook" | "api") {
        return Err(ApiError::invalid("finalization must be webhook or api"));
    }

    let now = now_ms();
    let code = new_id("sbx_ord");
    let inserted = sqlx::query(
        "INSERT INTO sandbox_pg_orders (code, merchant, reference, amount_minor, currency, description, status, \
         mode, allow_deposit, callback_url, webhook_url, refunded_minor, shipping_address, capture_method, \
         finalization, created_at, updated_at, merchant_name) \
         VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8, $9, $10, 0, $11, $12, $13, $14, $14, $15)",
    )
    .bind(&code)
    .bind(&merchant.0)
    .bind(&body.reference)
    .bind(body.amount)
    .bind(currency.code())
    .bind(body.description.clone())
    .bind(&body.mode)
    .bind(i64::from(body.allow_deposit))
    .bind(&body.callback_url)
    .bind(body.webhook_url.clone())
    .bind((body.mode == "review").then(|| wallet_address().to_string()))
    .bind(&body.capture_method)
    .bind(&body.finalization)
    .bind(now)
    .bind(body.merchant_name.as_deref().map(str::trim))
    .execute(pg.store.pool())
    .await;
    match inserted {
        Ok(_) => {
            let order = pg.existing_order(&code).await?;
            Ok((StatusCode::CREATED, Json(pg.order_json(&order))))
        }
        Err(e) if is_unique_violation(&e) => {
            // Idempotent per reference: the same checkout again, or a conflict.
            let sql = format!("SELECT {ORDER_COLUMNS} FROM sandbox_pg_orders WHERE merchant = $1 AND reference = $2");
            let existing: OrderRow =
                sqlx::query_as(&sql).bind(&merchant.0).bind(&body.reference).fetch_one(pg.store.pool()).await?;
            if existing.amount_minor == body.amount && existing.currency == currency.code() {
                Ok((StatusCode::OK, Json(pg.order_json(&existing))))
            } else {
                Err(ApiError(
                    StatusCode::CONFLICT,
                    "reference_reused",
                    format!("reference {} already has a checkout for another amount", body.reference),
                ))
            }
        }
        Err(e) => Err(e.into()),
    }
}

async fn get_order(
    State(pg): State<SandboxPg>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let merchant = authenticate(&headers)?;
    let order = pg.merchant_order(&merchant, &code).await?;
    Ok(Json(pg.order_json(&order)))
}

#[derive(Deserialize)]
struct PayBody {
    amount: i64,
    currency: Option<String>,
}

/// `POST /v1/orders/{code}/pay`: a review-page checkout's final amount (with shipping);
/// the buyer approves it on the hosted page.
async fn pay(
    State(pg): State<SandboxPg>,
    headers: HeaderMap,
    Path(code): Path<String>,
    body: Result<Json<PayBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let merchant = authenticate(&headers)?;
    let Json(body) = body.map_err(|e| ApiError(StatusCode::BAD_REQUEST, "invalid_request", e.body_text()))?;
    let order = pg.merchant_order(&merchant, &code).await?;
    if body.amount <= 0 || body.currency.as_deref().is_some_and(|c| c != order.currency) {
        return Err(ApiError::invalid(format!("pay a positive amount in {}", order.currency)));
    }
    if order.mode != "review" || order.status != "open" {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "not_payable",
            format!("order {code} is {} ({} mode) and cannot be paid now", order.status, order.mode),
        ));
    }
    sqlx::query("UPDATE sandbox_pg_orders SET amount_minor = $1, updated_at = $2 WHERE code = $3 AND status = 'open'")
        .bind(body.amount)
        .bind(now_ms())
        .bind(&code)
        .execute(pg.store.pool())
        .await?;
    Ok(Json(json!({"order_code": code, "redirect_url": pg.checkout_url(&code)})))
}

/// `POST /sandbox-pg/orders/{code}/deposit`: the buyer's bank transfer arrives.
async fn deposit(State(pg): State<SandboxPg>, Path(code): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    let order = pg.existing_order(&code).await?;
    if !pg.change_status(&code, "awaiting_deposit", "paid").await? {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "not_awaiting_deposit",
            format!("order {code} is {}, not awaiting a deposit", order.status),
        ));
    }
    Ok(Json(pg.order_json(&pg.existing_order(&code).await?)))
}

/// Form fields from the query string and an urlencoded body (test switches accept both).
fn form_fields(query: Option<String>, body: &Bytes) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> =
        query.map(|q| serde_urlencoded::from_str(&q).unwrap_or_default()).unwrap_or_default();
    fields.extend(serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).unwrap_or_default());
    fields
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}
