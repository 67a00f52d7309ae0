//! Refunds at the sandbox PG: immediate when the merchant gives no webhook URL, pending
//! and decided a moment later (then reported by webhook) when it does. The fault switch
//! `POST /sandbox-pg/orders/{code}/refund-outcome` with `outcome=RX` makes the order's
//! next refund end refused; with `outcome=HOLD` its next pending refund waits until a
//! test decides it (`POST /sandbox-pg/orders/{code}/refunds/{refund_code}/decide`).
//! The merchant reads a refund back with `GET /v1/orders/{code}/refunds/{reference}`.

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
const DECIDED_REFUSED: &str = "refused by the sandbox (decided refused)";

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
    let refundable = order.captured_minor - order.refunded_minor - pending;
    let forced_refusal = order.next_refund_outcome.as_deref() == Some("RX");
    let hold = order.next_refund_outcome.as_deref() == Some("HOLD");
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
        "INSERT INTO sandbox_pg_refunds (code, order_code, reference, amount_minor, status, webhook_url, message, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&refund_code)
    .bind(&code)
    .bind(&body.reference)
    .bind(body.amount)
    .bind(status)
    .bind(body.webhook_url.clone())
    .bind(refusal.clone())
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    let switch_spent = (forced_refusal && (status == "pending" || refusal.as_deref() == Some(RX_MESSAGE)))
        || (hold && status == "pending");
    if switch_spent {
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

    if status == "pending" && !hold {
        // The decision and its webhook are on their way: counted with the webhooks in
        // flight until the decision is made (its webhook counts itself).
        pg.count_webhooks_in_flight(&code, 1).await?;
        let pg = pg.clone();
        let refund_code = refund_code.clone();
        // A refund whose answer is lost (the fault switch) loses its decision's webhook too.
        let losing = super::faults::losing_answer();
        tokio::spawn(async move {
            tokio::time::sleep(DECISION_DELAY).await;
            let outcome = if forced_refusal { Decision::Refused(RX_MESSAGE) } else { Decision::Refunded };
            let decided = super::faults::as_part_of_request(losing, decide(&pg, &code, &refund_code, outcome));
            if let Err(e) = decided.await {
                tracing::warn!(error = e.2, "sandbox PG could not decide a refund");
            }
            if let Err(e) = pg.count_webhooks_in_flight(&code, -1).await {
                tracing::warn!(error = e.2, "sandbox PG could not count a decided refund");
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

#[derive(Clone, Copy)]
enum Decision {
    Refunded,
    Refused(&'static str),
}

/// Ends a pending refund and tells the merchant; `false` when it was not pending.
async fn decide(pg: &SandboxPg, code: &str, refund_code: &str, decision: Decision) -> Result<bool, ApiError> {
    let (outcome, message) = match decision {
        Decision::Refunded => ("refunded", None),
        Decision::Refused(message) => ("refused", Some(message)),
    };
    let mut tx = pg.store.begin_write().await?;
    let pending: Option<(String, i64, Option<String>)> = sqlx::query_as(
        "SELECT reference, amount_minor, webhook_url FROM sandbox_pg_refunds \
         WHERE code = $1 AND order_code = $2 AND status = 'pending'",
    )
    .bind(refund_code)
    .bind(code)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((reference, amount, webhook_url)) = pending else {
        return Ok(false);
    };
    let decided =
        sqlx::query("UPDATE sandbox_pg_refunds SET status = $1, message = $2 WHERE code = $3 AND status = 'pending'")
            .bind(outcome)
            .bind(message)
            .bind(refund_code)
            .execute(&mut *tx)
            .await?;
    if decided.rows_affected() == 0 {
        return Ok(false);
    }
    if outcome == "refunded" {
        add_refunded(&mut tx, code, amount).await?;
    }
    tx.commit().await?;
    let order = pg.existing_order(code).await?;
    if let Some(url) = webhook_url {
        let event = webhooks::RefundEvent {
            refund_code,
            reference: &reference,
            amount_minor: amount,
            status: outcome,
            message: message.map(str::to_owned),
        };
        pg.send_webhook(&order, &url, webhooks::refund_event(&order, event)).await?;
    }
    Ok(true)
}

/// `GET /v1/orders/{code}/refunds/{reference}`: the refund made under the merchant's
/// reference, as the PG sees it now.
pub(super) async fn get_refund(
    State(pg): State<SandboxPg>,
    headers: HeaderMap,
    Path((code, reference)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let merchant = authenticate(&headers)?;
    let order = pg.merchant_order(&merchant, &code).await?;
    let refund: Option<(String, i64, String, Option<String>)> = sqlx::query_as(
        "SELECT code, amount_minor, status, message FROM sandbox_pg_refunds WHERE order_code = $1 AND reference = $2",
    )
    .bind(&code)
    .bind(&reference)
    .fetch_optional(pg.store.pool())
    .await?;
    let (refund_code, amount, status, message) =
        refund.ok_or_else(|| ApiError::not_found(format!("order {code} has no refund {reference}")))?;
    Ok(Json(json!({
        "refund_code": refund_code,
        "order_code": code,
        "reference": reference,
        "status": status,
        "amount": amount,
        "currency": order.currency,
        "message": message,
    })))
}

/// `POST /sandbox-pg/orders/{code}/refunds/{refund_code}/decide` with `outcome=refunded`
/// or `outcome=refused`: ends a pending refund (one held by `refund-outcome` `HOLD`).
pub(super) async fn decide_held(
    State(pg): State<SandboxPg>,
    Path((code, refund_code)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let fields = form_fields(query, &body);
    let decision = match field(&fields, "outcome") {
        Some("refunded") => Decision::Refunded,
        Some("refused") => Decision::Refused(DECIDED_REFUSED),
        _ => return Err(ApiError::invalid("outcome must be refunded or refused")),
    };
    pg.existing_order(&code).await?;
    if !decide(&pg, &code, &refund_code, decision).await? {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "not_pending",
            format!("order {code} has no pending refund {refund_code}"),
        ));
    }
    Ok(Json(json!({"order_code": code, "refund_code": refund_code, "decided": true})))
}

/// `POST /sandbox-pg/orders/{code}/refund-outcome` with `outcome=RX` (refuse the next
/// refund), `outcome=HOLD` (keep the next pending refund pending until decided) or
/// `outcome=R` (refund normally again).
pub(super) async fn set_refund_outcome(
    State(pg): State<SandboxPg>,
    Path(code): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let fields = form_fields(query, &body);
    let outcome = match field(&fields, "outcome") {
        Some("RX") => Some("RX"),
        Some("HOLD") => Some("HOLD"),
        Some("R") => None,
        _ => return Err(ApiError::invalid("outcome must be RX (refuse the next refund), HOLD or R")),
    };
    pg.existing_order(&code).await?;
    sqlx::query("UPDATE sandbox_pg_orders SET next_refund_outcome = $1 WHERE code = $2")
        .bind(outcome)
        .bind(&code)
        .execute(pg.store.pool())
        .await?;
    Ok(Json(json!({"order_code": code, "next_refund_outcome": outcome.unwrap_or("R")})))
}
