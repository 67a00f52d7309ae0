//! Refunds at the sandbox PG: immediate when the merchant gives no webhook URL, pending
//! and decided a moment later (then reported by webhook) when it does. The fault switch
//! `POST /sandbox-pg/orders/{code}/refund-outcome` with `outcome=RX` makes the order's
//! next refund end refused.

use std::time::Duration;

use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    Json,
};
use serde::Deserialize;
use serde_json::json;
use url::Url;

use super::{authenticate, field, form_fields, webhooks, ApiError, OrderRow, SandboxPg, ORDER_COLUMNS};
use crate::store::{new_id, now_ms};

const RX_MESSAGE: &str = "refused by the sandbox (refund-outcome RX)";

/// How long a pending refund waits before the sandbox decides it.
const DECISION_DELAY: Duration = Duration::from_millis(200);

#[derive(Deserialize)]
pub(super) struct RefundBody {
    reference: String,
    amount: i64,
    currency: Option<String>,
    webhook_url: Option<String>,
}

pub(super) async fn refund(
    State(pg): State<SandboxPg>,
    headers: HeaderMap,
    Path(code): Path<String>,
    body: Result<Json<RefundBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let merchant = authenticate(&headers)?;
    let Json(body) = body.map_err(|e| ApiError(StatusCode::BAD_REQUEST, "invalid_request", e.body_text()))?;
    if body.amount <= 0 || body.reference.is_empty() {
        return Err(ApiError::invalid("a refund needs a reference and a positive amount"));
    }
    if let Some(url) = &body.webhook_url {
        if !Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
            return Err(ApiError::invalid("webhook_url must be an http(s) URL"));
        }
    }
    pg.merchant_order(&merchant, &code).await?;

    let mut tx = pg.store.begin_write().await?;
    let sql = format!("SELECT {ORDER_COLUMNS} FROM sandbox_pg_orders WHERE code = $1{}", pg.store.lock_clause());
    let order: OrderRow = sqlx::query_as(&sql).bind(&code).fetch_one(&mut *tx).await?;
    let existing: Option<(String, String)> =
        sqlx::query_as("SELECT code, status FROM sandbox_pg_refunds WHERE order_code = $1 AND reference = $2")
            .bind(&code)
            .bind(&body.reference)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some((refund_code, status)) = existing {
        tx.commit().await?;
        return Ok(Json(json!({"refund_code": refund_code, "status": status, "message": "already processed"})));
    }
    let (pending,): (i64,) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM sandbox_pg_refunds WHERE order_code = $1 AND status = 'pending'",
    )
    .bind(&code)
    .fetch_one(&mut *tx)
    .await?;
    let refundable = order.amount_minor - order.refunded_minor - pending;
    let forced_refusal = order.next_refund_outcome.as_deref() == Some("RX");
    let refusal = if order.status != "paid" {
        Some(format!("order {code} is not paid (status {})", order.status))
    } else if body.currency.as_deref().is_some_and(|c| c != order.currency) {
        Some(format!("order {code} is in {}", order.currency))
    } else if body.amount > refundable {
        Some(format!("refund of {} exceeds the refundable {refundable}", body.amount))
    } else if forced_refusal && body.webhook_url.is_none() {
        Some(RX_MESSAGE.to_owned())
    } else {
        None
    };
    let status = match (&refusal, &body.webhook_url) {
        (Some(_), _) => "refused",
        (None, Some(_)) => "pending",
        (None, None) => "refunded",
    };
    let refund_code = new_id("sbx_rfd");
    sqlx::query(
        "INSERT INTO sandbox_pg_refunds (code, order_code, reference, amount_minor, status, webhook_url, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&refund_code)
    .bind(&code)
    .bind(&body.reference)
    .bind(body.amount)
    .bind(status)
    .bind(body.webhook_url.clone())
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    if forced_refusal && (status == "pending" || refusal.as_deref() == Some(RX_MESSAGE)) {
        // The switch is spent by this refund.
        sqlx::query("UPDATE sandbox_pg_orders SET next_refund_outcome = NULL WHERE code = $1")
            .bind(&code)
            .execute(&mut *tx)
            .await?;
    }
    if status == "refunded" {
        add_refunded(&mut tx, &code, body.amount).await?;
    }
    tx.commit().await?;

    if status == "pending" {
        let pg = pg.clone();
        let (refund_code, reference, url) = (refund_code.clone(), body.reference.clone(), body.webhook_url.clone());
        tokio::spawn(async move {
            tokio::time::sleep(DECISION_DELAY).await;
            let outcome = if forced_refusal { "refused" } else { "refunded" };
            if let Err(e) = decide(&pg, &code, &refund_code, &reference, outcome, url.as_deref()).await {
                tracing::warn!(error = e.2, "sandbox PG could not decide a refund");
            }
        });
    }
    Ok(Json(json!({
        "refund_code": refund_code,
        "status": status,
        "message": refusal.unwrap_or_else(|| status.to_owned()),
    })))
}

async fn add_refunded(tx: &mut sqlx::Transaction<'static, sqlx::Any>, code: &str, amount: i64) -> Result<(), ApiError> {
    sqlx::query("UPDATE sandbox_pg_orders SET refunded_minor = refunded_minor + $1, updated_at = $2 WHERE code = $3")
        .bind(amount)
        .bind(now_ms())
        .bind(code)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Ends a pending refund and tells the merchant.
async fn decide(
    pg: &SandboxPg,
    code: &str,
    refund_code: &str,
    reference: &str,
    outcome: &str,
    webhook_url: Option<&str>,
) -> Result<(), ApiError> {
    let mut tx = pg.store.begin_write().await?;
    let (amount,): (i64,) =
        sqlx::query_as("SELECT amount_minor FROM sandbox_pg_refunds WHERE code = $1 AND status = 'pending'")
            .bind(refund_code)
            .fetch_one(&mut *tx)
            .await?;
    sqlx::query("UPDATE sandbox_pg_refunds SET status = $1 WHERE code = $2")
        .bind(outcome)
        .bind(refund_code)
        .execute(&mut *tx)
        .await?;
    if outcome == "refunded" {
        add_refunded(&mut tx, code, amount).await?;
    }
    tx.commit().await?;
    let order = pg.existing_order(code).await?;
    if let Some(url) = webhook_url {
        let message = (outcome == "refused").then(|| RX_MESSAGE.to_owned());
        let event = webhooks::RefundEvent { refund_code, reference, amount_minor: amount, status: outcome, message };
        pg.send_webhook(&order, url, webhooks::refund_event(&order, event)).await?;
    }
    Ok(())
}

/// `POST /sandbox-pg/orders/{code}/refund-outcome` with `outcome=RX` (refuse the next
/// refund) or `outcome=R` (refund normally again).
pub(super) async fn set_refund_outcome(
    State(pg): State<SandboxPg>,
    Path(code): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let fields = form_fields(query, &body);
    let outcome = match field(&fields, "outcome") {
        Some("RX") => Some("RX"),
        Some("R") => None,
        _ => return Err(ApiError::invalid("outcome must be RX (refuse the next refund) or R")),
    };
    pg.existing_order(&code).await?;
    sqlx::query("UPDATE sandbox_pg_orders SET next_refund_outcome = $1 WHERE code = $2")
        .bind(outcome)
        .bind(&code)
        .execute(pg.store.pool())
        .await?;
    Ok(Json(json!({"order_code": code, "next_refund_outcome": outcome.unwrap_or("R")})))
}
