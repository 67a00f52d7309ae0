//! Cafe24's webhooks to the app: `POST /api/cafe24/webhook`. Cafe24 sends the API key
//! issued for the app's webhooks in `x-api-key` (refused with 403 when it does not
//! match) and a JSON body `{"event_no": …, "resource": {"mall_id": …, …}}`. The one
//! event we act on is the app's deletion from a mall: Cafe24 has already removed our
//! payment methods and scripttags there, so we turn every shop off, revoke the tokens
//! where Cafe24 still lets us, and forget the tokens, the PG credentials and the
//! sessions. Other events are acknowledged and ignored; a repeated deletion changes
//! nothing more.

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;
use serde_json::json;

use super::AdminContext;
use crate::cafe24::signature::constant_time_eq;

/// Cafe24's webhook event number for "the app was deleted from a mall".
pub const APP_DELETED_EVENT: i64 = 90077;

#[derive(Deserialize)]
struct Cafe24Webhook {
    event_no: i64,
    resource: Resource,
}

#[derive(Deserialize)]
struct Resource {
    mall_id: String,
}

fn answer(status: StatusCode, result: &str, message: &str) -> Response {
    (status, Json(json!({"result": result, "message": message}))).into_response()
}

pub async fn cafe24_webhook(State(app): State<AdminContext>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(expected) = app.cafe24.webhook_key.as_deref() else {
        return answer(StatusCode::FORBIDDEN, "refused", "Cafe24 webhooks are not configured (CAFE24_WEBHOOK_KEY)");
    };
    let given = headers.get("x-api-key").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !constant_time_eq(expected, given) {
        return answer(StatusCode::FORBIDDEN, "refused", "x-api-key is missing or wrong");
    }
    let event: Cafe24Webhook = match crate::json::parse_strict(&body)
        .map_err(|e| e.to_string())
        .and_then(|value| serde_json::from_value(value).map_err(|e| e.to_string()))
    {
        Ok(event) => event,
        Err(e) => return answer(StatusCode::BAD_REQUEST, "refused", &format!("not a Cafe24 webhook: {e}")),
    };
    let mall_id = event.resource.mall_id.trim();
    if mall_id.is_empty() || mall_id.len() > 100 {
        return answer(StatusCode::BAD_REQUEST, "refused", "resource.mall_id is missing or too long");
    }
    if event.event_no != APP_DELETED_EVENT {
        return answer(StatusCode::OK, "OK", "event ignored");
    }
    match uninstall(&app, mall_id).await {
        Ok(()) => answer(StatusCode::OK, "OK", "app removed from the mall"),
        Err(e) => {
            // Cafe24 sends it again; nothing was half-applied (one transaction).
            tracing::error!(mall_id, error = %e, "app deletion not kept");
            answer(StatusCode::INTERNAL_SERVER_ERROR, "error", "not kept; send it again")
        }
    }
}

async fn uninstall(app: &AdminContext, mall_id: &str) -> Result<(), crate::store::StoreError> {
    let tokens = app.store.tokens(&app.keys, mall_id).await?;
    let known = app.store.uninstall_mall(mall_id).await?;
    // Deleting the app normally revokes its tokens at Cafe24 already; revoke anyway where
    // Cafe24 still accepts it, and never keep a token because that failed.
    if let Some(tokens) = tokens {
        app.client.revoke(mall_id, &tokens).await;
    }
    tracing::info!(mall_id, known, "the app was deleted from the mall: shops off, credentials and tokens forgotten");
    Ok(())
}
