//! Authorizations at the sandbox PG (SPEC §8.5). A checkout with `finalization: api` only
//! authenticates the buyer: the hosted page hands back a one-time `authData`, which the
//! merchant redeems with `POST /v1/orders/{code}/approve`. A checkout with
//! `capture_method: manual` is authorized when the buyer (or the approval) says yes, and
//! waits for `POST /v1/orders/{code}/capture` (at most the authorized amount; the rest is
//! released) or `/void`. Test switches: `POST /sandbox-pg/orders/{code}/expire-authorization`
//! lets an authorization lapse now; `…/approve-outcome` with `outcome=decline` declines
//! the next approval (`approve` resets it).

use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    Json,
};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::{authenticate, field, form_fields, ApiError, SandboxPg};
use crate::store::{now_ms, random_token};

fn conflict(code: &'static str, message: String) -> ApiError {
    ApiError(StatusCode::CONFLICT, code, message)
}

impl SandboxPg {
    /// The buyer approved an api-finalization checkout: it waits for the merchant, with a
    /// one-time authData for the callback.
    pub(super) async fn authenticate_buyer(&self, code: &str) -> Result<(), ApiError> {
        sqlx::query(
            "UPDATE sandbox_pg_orders SET status = 'authenticated', auth_data = $1, auth_data_used = 0, \
             updated_at = $2 WHERE code = $3 AND status = 'open'",
        )
        .bind(format!("sbx_auth_{}", random_token()))
        .bind(now_ms())
        .bind(code)
        .execute(self.store.pool())
        .await?;
        Ok(())
    }
}

#[derive(Deserialize)]
pub(super) struct ApproveBody {
    auth_data: String,
}

/// `POST /v1/orders/{code}/approve {auth_data}`: redeems the buyer's authData, once.
pub(super) async fn approve(
    State(pg): State<SandboxPg>,
    headers: HeaderMap,
    Path(code): Path<String>,
    body: Result<Json<ApproveBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let merchant = authenticate(&headers)?;
    let Json(body) = body.map_err(|e| ApiError(StatusCode::BAD_REQUEST, "invalid_request", e.body_text()))?;
    let order = pg.merchant_order(&merchant, &code).await?;
    let Some(expected) = order.auth_data.as_deref() else {
        return Err(ApiError::invalid(format!("order {code} has no authData to redeem")));
    };
    if !bool::from(expected.as_bytes().ct_eq(body.auth_data.as_bytes())) {
        return Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_auth_data",
            "the authData is not this order's".into(),
        ));
    }
    // Used once: only the first redemption moves the order.
    let taken = sqlx::query(
        "UPDATE sandbox_pg_orders SET auth_data_used = 1, updated_at = $1 WHERE code = $2 AND auth_data_used = 0 \
         AND status = 'authenticated'",
    )
    .bind(now_ms())
    .bind(&code)
    .execute(pg.store.pool())
    .await?;
    if taken.rows_affected() == 0 {
        return Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            "auth_data_used",
            "the authData was already used".into(),
        ));
    }
    let next = match (order.next_approve_outcome.as_deref(), order.capture_method.as_str()) {
        (Some("decline"), _) => "declined",
        (_, "manual") => "authorized",
        _ => "paid",
    };
    pg.change_status(&code, "authenticated", next).await?;
    Ok(Json(pg.order_json(&pg.existing_order(&code).await?)))
}

#[derive(Deserialize)]
pub(super) struct CaptureBody {
    amount: i64,
    currency: Option<String>,
}

/// `POST /v1/orders/{code}/capture {amount}`: takes at most what is authorized.
pub(super) async fn capture(
    State(pg): State<SandboxPg>,
    headers: HeaderMap,
    Path(code): Path<String>,
    body: Result<Json<CaptureBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let merchant = authenticate(&headers)?;
    let Json(body) = body.map_err(|e| ApiError(StatusCode::BAD_REQUEST, "invalid_request", e.body_text()))?;
    let order = pg.merchant_order(&merchant, &code).await?;
    if body.currency.as_deref().is_some_and(|c| c != order.currency) {
        return Err(ApiError::invalid(format!("order {code} is in {}", order.currency)));
    }
    if body.amount <= 0 || body.amount > order.amount_minor {
        return Err(ApiError::invalid(format!(
            "capture between 1 and the {} authorized (minor units)",
            order.amount_minor
        )));
    }
    match order.status.as_str() {
        // The same capture again: already done.
        "paid" if order.captured_minor == body.amount => return Ok(Json(pg.order_json(&order))),
        "authorized" => {}
        "authorization_expired" => {
            return Err(conflict("authorization_expired", format!("the authorization of order {code} has expired")))
        }
        other => return Err(conflict("not_authorized", format!("order {code} is {other}, not an authorization"))),
    }
    let done = sqlx::query(
        "UPDATE sandbox_pg_orders SET status = 'paid', captured_minor = $1, updated_at = $2 \
         WHERE code = $3 AND status = 'authorized'",
    )
    .bind(body.amount)
    .bind(now_ms())
    .bind(&code)
    .execute(pg.store.pool())
    .await?;
    let order = pg.existing_order(&code).await?;
    if done.rows_affected() == 1 {
        pg.notify(&order).await?;
    }
    Ok(Json(pg.order_json(&order)))
}

/// `POST /v1/orders/{code}/void`: releases an authorization (a lapsed one too).
pub(super) async fn void(
    State(pg): State<SandboxPg>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let merchant = authenticate(&headers)?;
    let order = pg.merchant_order(&merchant, &code).await?;
    match order.status.as_str() {
        "voided" => return Ok(Json(pg.order_json(&order))),
        "authorized" | "authorization_expired" => {}
        other => return Err(conflict("not_authorized", format!("order {code} is {other}, not an authorization"))),
    }
    pg.change_status(&code, &order.status, "voided").await?;
    Ok(Json(pg.order_json(&pg.existing_order(&code).await?)))
}

/// `POST /v1/orders/{code}/close`: a checkout nobody paid takes no payment any more; an
/// order that moved on (paid, declined, …) is answered as it is.
pub(super) async fn close(
    State(pg): State<SandboxPg>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let merchant = authenticate(&headers)?;
    let order = pg.merchant_order(&merchant, &code).await?;
    if matches!(order.status.as_str(), "open" | "authenticated") {
        // Closed by the merchant: the buyer's page shows it, nobody is told by webhook.
        sqlx::query("UPDATE sandbox_pg_orders SET status = 'closed', updated_at = $1 WHERE code = $2 AND status = $3")
            .bind(now_ms())
            .bind(&code)
            .bind(&order.status)
            .execute(pg.store.pool())
            .await?;
    }
    Ok(Json(pg.order_json(&pg.existing_order(&code).await?)))
}

/// `POST /sandbox-pg/orders/{code}/expire-authorization`: the authorization lapses now.
pub(super) async fn expire(
    State(pg): State<SandboxPg>,
    Path(code): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let order = pg.existing_order(&code).await?;
    if !pg.change_status(&code, "authorized", "authorization_expired").await? {
        return Err(conflict("not_authorized", format!("order {code} is {}, not an authorization", order.status)));
    }
    Ok(Json(pg.order_json(&pg.existing_order(&code).await?)))
}

/// `POST /sandbox-pg/orders/{code}/approve-outcome` with `outcome=decline` or `approve`.
pub(super) async fn set_approve_outcome(
    State(pg): State<SandboxPg>,
    Path(code): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    pg.existing_order(&code).await?;
    let fields = form_fields(query, &body);
    let outcome = match field(&fields, "outcome") {
        Some("decline") => Some("decline"),
        Some("approve") => None,
        _ => return Err(ApiError::invalid("outcome must be decline or approve")),
    };
    sqlx::query("UPDATE sandbox_pg_orders SET next_approve_outcome = $1 WHERE code = $2")
        .bind(outcome)
        .bind(&code)
        .execute(pg.store.pool())
        .await?;
    Ok(Json(json!({"order_code": code, "next_approve_outcome": outcome.unwrap_or("approve")})))
}
