//! A fault switch for tests: `POST /sandbox-pg/faults` with `path` (the start of the API
//! paths it hits, e.g. `/v1/checkouts` or `/v1/orders/{code}` for all of an order's
//! calls), `times=N` (default 1; 0 clears it) and `when`: `before` answers the next N
//! calls 503 without doing anything; `after` does what they ask and then answers 503, as
//! if the answer was lost on the way back. The longest matching `path` wins.

use axum::{
    body::Bytes,
    extract::{RawQuery, Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

use super::{field, form_fields, ApiError, SandboxPg};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum When {
    Before,
    After,
}

impl SandboxPg {
    /// Takes one fault for a call to `path`, if one is set.
    async fn take_fault(&self, path: &str) -> Result<Option<When>, ApiError> {
        let taken: Option<(String,)> = sqlx::query_as(
            "UPDATE sandbox_pg_faults SET remaining = remaining - 1 WHERE remaining > 0 AND target = (\
               SELECT target FROM sandbox_pg_faults WHERE remaining > 0 AND substr($1, 1, length(target)) = target \
               ORDER BY length(target) DESC LIMIT 1) \
             RETURNING mode",
        )
        .bind(path)
        .fetch_optional(self.store.pool())
        .await?;
        Ok(taken.map(|(mode,)| if mode == "after" { When::After } else { When::Before }))
    }
}

fn unavailable(when: When) -> Response {
    let message = match when {
        When::Before => "unavailable (sandbox fault switch: nothing was done)",
        When::After => "unavailable (sandbox fault switch: done, but this answer is lost)",
    };
    (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": {"code": "unavailable", "message": message}})))
        .into_response()
}

/// Around every `/v1/…` API call.
pub(super) async fn inject(State(pg): State<SandboxPg>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    match pg.take_fault(&path).await {
        Ok(None) => next.run(request).await,
        Ok(Some(When::Before)) => unavailable(When::Before),
        Ok(Some(When::After)) => {
            let _lost = next.run(request).await;
            unavailable(When::After)
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /sandbox-pg/faults` with `path`, `times`, `when`.
pub(super) async fn set(
    State(pg): State<SandboxPg>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let fields = form_fields(query, &body);
    let path = field(&fields, "path")
        .filter(|p| p.starts_with("/v1/"))
        .ok_or_else(|| ApiError::invalid("path must be the start of the API paths to fail, like /v1/orders/{code}"))?;
    let times: i64 = match field(&fields, "times") {
        None => 1,
        Some(n) => {
            n.parse().ok().filter(|n| (0..=100).contains(n)).ok_or_else(|| ApiError::invalid("times is 0 to 100"))?
        }
    };
    let when = match field(&fields, "when") {
        None | Some("before") => "before",
        Some("after") => "after",
        Some(_) => return Err(ApiError::invalid("when must be before or after")),
    };
    let mut tx = pg.store.begin_write().await?;
    sqlx::query("DELETE FROM sandbox_pg_faults WHERE target = $1").bind(path).execute(&mut *tx).await?;
    if times > 0 {
        sqlx::query("INSERT INTO sandbox_pg_faults (target, remaining, mode) VALUES ($1, $2, $3)")
            .bind(path)
            .bind(times)
            .bind(when)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(Json(json!({"path": path, "times": times, "when": when})))
}
