//! The sandbox payment company: a small PG with an HTTP API, merchant credentials and a
//! hosted payment page whose buttons send the buyer back to the merchant's callback.
//! Its records live in the `sandbox_pg_*` tables.

use axum::{
    extract::{Path, State},
    http::{header, HeaderMap, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
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

use super::{html_escape, page};

pub const DEMO_PUBLIC_KEY: &str = "demo-app-public-key";
pub const DEMO_SECRET_KEY: &str = "demo-app-secret-key";
pub const CURRENCIES: [Currency; 3] = [Currency::Jpy, Currency::Php, Currency::Usd];

#[derive(Clone)]
pub struct SandboxPg {
    pub store: Store,
    /// Public base of the sandbox PG (`…/sandbox-pg`), for the hosted page's address.
    pub base_url: Url,
}

pub fn router<S: Clone + Send + Sync + 'static>(state: SandboxPg) -> Router<S> {
    Router::new()
        .route("/v1/merchant", get(merchant))
        .route("/v1/checkouts", post(create_checkout))
        .route("/v1/orders/{code}", get(get_order))
        .route("/v1/orders/{code}/refunds", post(refund))
        .route("/checkout/{code}", get(hosted_page))
        .route("/checkout/{code}/{action}", post(buyer_action))
        .with_state(state)
}

struct ApiError(StatusCode, &'static str, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.0,
            Json(json!({"error": {"code": self.1, "message": self.2}})),
        )
            .into_response()
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(error = %e, "sandbox PG storage failed");
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error".into(),
        )
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        crate::store::StoreError::from(e).into()
    }
}

/// The merchant, from HTTP Basic credentials.
struct Merchant(String);

fn authenticate(headers: &HeaderMap) -> Result<Merchant, ApiError> {
    let unauthorized = || {
        ApiError(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "unknown merchant credentials".into(),
        )
    };
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .ok_or_else(unauthorized)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value)
        .map_err(|_| unauthorized())?;
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
    callback_url: String,
    webhook_url: Option<String>,
    #[serde(default = "redirect_mode")]
    mode: String,
    #[serde(default)]
    allow_deposit: bool,
}

fn redirect_mode() -> String {
    "redirect".into()
}

#[derive(sqlx::FromRow)]
struct OrderRow {
    code: String,
    merchant: String,
    reference: String,
    amount_minor: i64,
    currency: String,
    description: Option<String>,
    status: String,
    allow_deposit: i64,
    callback_url: String,
    refunded_minor: i64,
}

const ORDER_COLUMNS: &str =
    "code, merchant, reference, amount_minor, currency, description, status, allow_deposit, callback_url, refunded_minor";

impl SandboxPg {
    fn checkout_url(&self, code: &str) -> String {
        format!(
            "{}/checkout/{code}",
            self.base_url.as_str().trim_end_matches('/')
        )
    }

    async fn order(&self, code: &str) -> Result<Option<OrderRow>, ApiError> {
        let sql = format!("SELECT {ORDER_COLUMNS} FROM sandbox_pg_orders WHERE code = $1");
        Ok(sqlx::query_as(&sql)
            .bind(code)
            .fetch_optional(self.store.pool())
            .await?)
    }

    async fn merchant_order(&self, merchant: &Merchant, code: &str) -> Result<OrderRow, ApiError> {
        self.order(code)
            .await?
            .filter(|o| o.merchant == merchant.0)
            .ok_or_else(|| {
                ApiError(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    format!("no order {code}"),
                )
            })
    }

    fn order_json(&self, o: &OrderRow) -> serde_json::Value {
        json!({
            "order_code": o.code,
            "reference": o.reference,
            "status": o.status,
            "amount": o.amount_minor,
            "currency": o.currency,
            "refunded_amount": o.refunded_minor,
            "checkout_url": self.checkout_url(&o.code),
        })
    }
}

async fn create_checkout(
    State(pg): State<SandboxPg>,
    headers: HeaderMap,
    body: Result<Json<CheckoutBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let merchant = authenticate(&headers)?;
    let Json(body) =
        body.map_err(|e| ApiError(StatusCode::BAD_REQUEST, "invalid_request", e.body_text()))?;
    let invalid =
        |message: String| ApiError(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message);
    let currency: Currency = body
        .currency
        .parse()
        .ok()
        .filter(|c| CURRENCIES.contains(c))
        .ok_or_else(|| invalid(format!("currency {} is not supported", body.currency)))?;
    if body.amount <= 0 {
        return Err(invalid(
            "amount must be a positive integer of minor units".into(),
        ));
    }
    if body.reference.is_empty() || body.reference.len() > 100 {
        return Err(invalid("reference must be 1 to 100 characters".into()));
    }
    for (field, value) in [
        ("callback_url", Some(&body.callback_url)),
        ("webhook_url", body.webhook_url.as_ref()),
    ] {
        if let Some(value) = value {
            let ok = Url::parse(value).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if !ok {
                return Err(invalid(format!("{field} must be an http(s) URL")));
            }
        }
    }
    if !matches!(body.mode.as_str(), "redirect" | "review") {
        return Err(invalid("mode must be redirect or review".into()));
    }

    let now = now_ms();
    let code = new_id("sbx_ord");
    let inserted = sqlx::query(
        "INSERT INTO sandbox_pg_orders (code, merchant, reference, amount_minor, currency, description, status, \
         mode, allow_deposit, callback_url, webhook_url, refunded_minor, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8, $9, $10, 0, $11, $11)",
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
    .bind(now)
    .execute(pg.store.pool())
    .await;
    match inserted {
        Ok(_) => {
            let order = pg.order(&code).await?.expect("just inserted");
            Ok((StatusCode::CREATED, Json(pg.order_json(&order))))
        }
        Err(e) if is_unique_violation(&e) => {
            // Idempotent per reference: the same checkout again, or a conflict.
            let sql = format!("SELECT {ORDER_COLUMNS} FROM sandbox_pg_orders WHERE merchant = $1 AND reference = $2");
            let existing: OrderRow = sqlx::query_as(&sql)
                .bind(&merchant.0)
                .bind(&body.reference)
                .fetch_one(pg.store.pool())
                .await?;
            if existing.amount_minor == body.amount && existing.currency == currency.code() {
                Ok((StatusCode::OK, Json(pg.order_json(&existing))))
            } else {
                Err(ApiError(
                    StatusCode::CONFLICT,
                    "reference_reused",
                    format!(
                        "reference {} already has a checkout for another amount",
                        body.reference
                    ),
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
struct RefundBody {
    reference: String,
    amount: i64,
    currency: Option<String>,
}

async fn refund(
    State(pg): State<SandboxPg>,
    headers: HeaderMap,
    Path(code): Path<String>,
    body: Result<Json<RefundBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let merchant = authenticate(&headers)?;
    let Json(body) =
        body.map_err(|e| ApiError(StatusCode::BAD_REQUEST, "invalid_request", e.body_text()))?;
    if body.amount <= 0 || body.reference.is_empty() {
        return Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "a refund needs a reference and a positive amount".into(),
        ));
    }
    pg.merchant_order(&merchant, &code).await?;

    let mut tx = pg.store.begin_write().await?;
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM sandbox_pg_orders WHERE code = $1{}",
        pg.store.lock_clause()
    );
    let order: OrderRow = sqlx::query_as(&sql).bind(&code).fetch_one(&mut *tx).await?;
    let existing: Option<(String, String)> = sqlx::query_as(
        "SELECT code, status FROM sandbox_pg_refunds WHERE order_code = $1 AND reference = $2",
    )
    .bind(&code)
    .bind(&body.reference)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((refund_code, status)) = existing {
        tx.commit().await?;
        return Ok(Json(
            json!({"refund_code": refund_code, "status": status, "message": "already processed"}),
        ));
    }
    let refusal = if order.status != "paid" {
        Some(format!(
            "order {code} is not paid (status {})",
            order.status
        ))
    } else if body
        .currency
        .as_deref()
        .is_some_and(|c| c != order.currency)
    {
        Some(format!("order {code} is in {}", order.currency))
    } else if body.amount > order.amount_minor - order.refunded_minor {
        Some(format!(
            "refund of {} exceeds the refundable {}",
            body.amount,
            order.amount_minor - order.refunded_minor
        ))
    } else {
        None
    };
    let status = if refusal.is_some() {
        "refused"
    } else {
        "refunded"
    };
    let refund_code = new_id("sbx_rfd");
    sqlx::query(
        "INSERT INTO sandbox_pg_refunds (code, order_code, reference, amount_minor, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&refund_code)
    .bind(&code)
    .bind(&body.reference)
    .bind(body.amount)
    .bind(status)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    if refusal.is_none() {
        sqlx::query("UPDATE sandbox_pg_orders SET refunded_minor = refunded_minor + $1, updated_at = $2 WHERE code = $3")
            .bind(body.amount)
            .bind(now_ms())
            .bind(&code)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(Json(json!({
        "refund_code": refund_code,
        "status": status,
        "message": refusal.unwrap_or_else(|| "refunded".into()),
    })))
}

fn order_money(order: &OrderRow) -> Option<Money> {
    order
        .currency
        .parse()
        .ok()
        .map(|c| Money::new(order.amount_minor, c))
}

async fn hosted_page(
    State(pg): State<SandboxPg>,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    let Some(order) = pg.order(&code).await? else {
        return Ok((
            StatusCode::NOT_FOUND,
            Html(page("Not found", "<h1>No such checkout</h1>")),
        )
            .into_response());
    };
    let amount = order_money(&order)
        .map(|m| m.to_string())
        .unwrap_or_default();
    let description = order.description.as_deref().unwrap_or("Your order");
    let action = |name: &str, label: &str, class: &str| {
        format!(
            "<form class=\"inline\" method=\"post\" action=\"{base}/checkout/{code}/{name}\">\
             <button type=\"submit\" class=\"{class}\" data-testid=\"{name}\">{label}</button></form>",
            base = html_escape(pg.base_url.as_str().trim_end_matches('/')),
            code = html_escape(&order.code),
        )
    };
    let controls = if order.status == "open" {
        let mut buttons = action("approve", "Approve payment", "primary");
        if order.allow_deposit != 0 {
            buttons.push_str(&action("deposit", "Pay by bank transfer", ""));
        }
        buttons.push_str(&action("decline", "Decline (card refused)", ""));
        buttons.push_str(&action("cancel", "Cancel and return to the shop", ""));
        buttons
    } else {
        format!(
            "<p>This checkout is <strong data-testid=\"order-status\">{}</strong>.</p>{}",
            html_escape(&order.status),
            action("return", "Return to the shop", "primary")
        )
    };
    let body = format!(
        "<p class=\"muted\">Sandbox payment company — no real money moves.</p>\
         <h1>Pay {merchant}</h1><div class=\"box\"><p>{description}</p>\
         <p class=\"amount\" data-testid=\"amount\">{amount}</p><p class=\"muted\">Order reference {reference}</p></div>{controls}",
        merchant = html_escape(&order.merchant),
        description = html_escape(description),
        amount = html_escape(&amount),
        reference = html_escape(&order.reference),
    );
    Ok(Html(page("Sandbox PG — checkout", &body)).into_response())
}

/// The buyer's decision on the hosted page. Only an open checkout changes; the buyer is
/// then sent to the merchant's callback, which must ask us for the outcome.
async fn buyer_action(
    State(pg): State<SandboxPg>,
    Path((code, action)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let next = match action.as_str() {
        "approve" => Some("paid"),
        "decline" => Some("declined"),
        "cancel" => Some("cancelled"),
        "deposit" => Some("awaiting_deposit"),
        "return" => None,
        _ => {
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no action {action}"),
            ))
        }
    };
    let Some(order) = pg.order(&code).await? else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no order {code}"),
        ));
    };
    if let Some(next) = next {
        if next == "awaiting_deposit" && order.allow_deposit == 0 {
            return Err(ApiError(
                StatusCode::CONFLICT,
                "not_allowed",
                "bank transfer is not offered here".into(),
            ));
        }
        sqlx::query("UPDATE sandbox_pg_orders SET status = $1, updated_at = $2 WHERE code = $3 AND status = 'open'")
            .bind(next)
            .bind(now_ms())
            .bind(&code)
            .execute(pg.store.pool())
            .await?;
    }
    let order = pg.order(&code).await?.expect("order exists");
    let mut callback = Url::parse(&order.callback_url).map_err(|_| {
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "bad callback".into(),
        )
    })?;
    callback
        .query_pairs_mut()
        .append_pair("order_code", &order.code)
        .append_pair("reference_no", &order.reference)
        .append_pair("status", &order.status);
    Ok(Redirect::to(callback.as_str()).into_response())
}
