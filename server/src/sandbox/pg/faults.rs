//! A fault switch for tests: `POST /sandbox-pg/faults` with `path` (the start of the API
//! paths it hits, e.g. `/v1/checkouts` or `/v1/orders/{code}` for all of an order's
//! calls), `times=N` (default 1; 0 clears it) and `when`: `before` answers the next N
//! calls 503 without doing anything; `after` does what they ask and then answers 503, as
//! if the answer was lost on the way back. The longest matching `path` wins.
//!
//! Or, as JSON, `{"operation": "refund" | "capture" | "void" | "checkout", "fault":
//! "lose_answer", "times": N}`: the next N such operations are done, their webhooks are
//! not sent, and the connection is dropped without any HTTP answer — the caller sees a
//! broken connection, exactly as when a PG's answer is lost on the network. The
//! operations are the calls that change an order: `refund` is `POST /v1/orders/{code}/refunds`,
//! `capture` and `void` are `POST /v1/orders/{code}/capture` and `…/void`, `checkout` is
//! the checkout's decision: the buyer's button on the hosted page (`POST
//! /sandbox-pg/checkout/{code}/{action}`) and `POST /v1/orders/{code}/approve`. Operation
//! faults are taken before path faults.

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
    /// Done, no webhook, the connection dropped.
    LoseAnswer,
}

/// The operations a `lose_answer` fault can name.
const OPERATIONS: [&str; 4] = ["refund", "capture", "void", "checkout"];

tokio::task_local! {
    /// Set while a request whose answer is to be lost runs: its webhooks are lost too.
    static LOSING_ANSWER: ();
}

/// Whether the request being served is one whose answer (and webhooks) are lost.
pub(super) fn losing_answer() -> bool {
    LOSING_ANSWER.try_with(|_| ()).is_ok()
}

/// Runs `work` (spawned later by a request) as part of that request: if its answer is
/// being lost, so are the webhooks `work` sends.
pub(super) async fn as_part_of_request<F: std::future::Future>(losing: bool, work: F) -> F::Output {
    if losing {
        LOSING_ANSWER.scope((), work).await
    } else {
        work.await
    }
}

/// The operation a call to the sandbox PG is, for the `lose_answer` fault.
fn operation_of(method: &axum::http::Method, path: &str) -> Option<&'static str> {
    if method != axum::http::Method::POST {
        return None;
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["v1", "orders", _, "refunds"] => Some("refund"),
        ["v1", "orders", _, "capture"] => Some("capture"),
        ["v1", "orders", _, "void"] => Some("void"),
        ["v1", "orders", _, "approve"] => Some("checkout"),
        ["checkout", _, "approve" | "decline" | "deposit" | "cancel"] => Some("checkout"),
        _ => None,
    }
}

impl SandboxPg {
    /// Takes one fault for a call to `path`, if one is set.
    async fn take_fault(&self, method: &axum::http::Method, path: &str) -> Result<Option<When>, ApiError> {
        if let Some(operation) = operation_of(method, path) {
            let lost: Option<(String,)> = sqlx::query_as(
                "UPDATE sandbox_pg_faults SET remaining = remaining - 1 WHERE remaining > 0 AND target = $1 \
                 RETURNING mode",
            )
            .bind(format!("op:{operation}"))
            .fetch_optional(self.store.pool())
            .await?;
            if lost.is_some() {
                return Ok(Some(When::LoseAnswer));
            }
        }
        if !path.starts_with("/v1/") {
            return Ok(None);
        }
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
        When::After | When::LoseAnswer => "unavailable (sandbox fault switch: done, but this answer is lost)",
    };
    (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": {"code": "unavailable", "message": message}})))
        .into_response()
}

/// No answer at all: the headers are never completed and the connection is closed (the
/// body fails at once, so the server aborts the connection).
fn dropped_connection() -> Response {
    let failing = futures::stream::once(async {
        Err::<Bytes, _>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "sandbox fault switch: the answer is lost",
        ))
    });
    Response::new(axum::body::Body::from_stream(failing))
}

/// Around every `/v1/…` API call and the hosted page's buttons.
pub(super) async fn inject(State(pg): State<SandboxPg>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    match pg.take_fault(request.method(), &path).await {
        Ok(None) => next.run(request).await,
        Ok(Some(When::Before)) => unavailable(When::Before),
        Ok(Some(When::After)) => {
            let _lost = next.run(request).await;
            unavailable(When::After)
        }
        Ok(Some(When::LoseAnswer)) => {
            let done = LOSING_ANSWER.scope((), next.run(request)).await;
            tracing::info!(status = %done.status(), path = %path, "sandbox PG: done, and its answer is dropped");
            dropped_connection()
        }
        Err(e) => e.into_response(),
    }
}

/// `{"operation": …, "fault": "lose_answer", "times": N}` (see the module's doc).
async fn set_operation(pg: &SandboxPg, body: &[u8]) -> Result<Json<serde_json::Value>, ApiError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct OperationFault {
        operation: String,
        fault: String,
        times: Option<i64>,
    }
    let ask: OperationFault = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("expected {{\"operation\": …, \"fault\": \"lose_answer\"}}: {e}")))?;
    let operation = OPERATIONS
        .into_iter()
        .find(|o| *o == ask.operation)
        .ok_or_else(|| ApiError::invalid(format!("operation must be one of {}", OPERATIONS.join(", "))))?;
    if ask.fault != "lose_answer" {
        return Err(ApiError::invalid("fault must be lose_answer"));
    }
    let times = ask.times.unwrap_or(1);
    if !(0..=100).contains(&times) {
        return Err(ApiError::invalid("times is 0 to 100"));
    }
    let target = format!("op:{operation}");
    let mut tx = pg.store.begin_write().await?;
    sqlx::query("DELETE FROM sandbox_pg_faults WHERE target = $1").bind(&target).execute(&mut *tx).await?;
    if times > 0 {
        sqlx::query("INSERT INTO sandbox_pg_faults (target, remaining, mode) VALUES ($1, $2, 'lose_answer')")
            .bind(&target)
            .bind(times)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(Json(json!({"operation": operation, "fault": "lose_answer", "times": times})))
}

/// `POST /sandbox-pg/faults` with `path`, `times`, `when` (a form or query), or an
/// operation's `lose_answer` (JSON).
pub(super) async fn set(
    State(pg): State<SandboxPg>,
    RawQuery(query): RawQuery,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if json {
        return set_operation(&pg, &body).await;
    }
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
