//! The merchant admin (SPEC §4.7): the app launch from the Cafe24 admin, OAuth, sessions
//! with CSRF protection, and the admin actions — as JSON routes here and as the Leptos
//! page's server functions, both through one [`service::AdminService`].

mod cookies;
mod launch;
pub mod service;
pub(crate) mod tokens;
mod uninstall;

use axum::{
    extract::{DefaultBodyLimit, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde::de::DeserializeOwned;
use serde_json::json;

use app::admin::{AdminError, AdminErrorKind, AdminPort};
use service::AdminService;

use crate::startup::AppState;

pub use launch::root;
pub use uninstall::APP_DELETED_EVENT;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/token", get(launch::oauth_callback))
        .route("/admin/link", post(link))
        .route("/admin/unlink", post(unlink))
        .route("/admin/shop/toggle", post(toggle))
        .route("/admin/notifications/resend", post(resend))
        .route("/admin/logout", post(launch::logout))
        .route("/api/cafe24/webhook", post(uninstall::cafe24_webhook))
        .layer(DefaultBodyLimit::max(64 * 1024))
}

struct AdminResponse(Result<app::admin::AdminOverview, AdminError>);

impl IntoResponse for AdminResponse {
    fn into_response(self) -> Response {
        match self.0 {
            Ok(overview) => Json(overview).into_response(),
            Err(e) => {
                let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                (status, Json(json!({"error": {"kind": e.kind, "field": e.field, "message": e.message}})))
                    .into_response()
            }
        }
    }
}

/// JSON or form bodies, as the seed's Postman collection sends JSON.
fn parse<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, AdminError> {
    let is_form = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let parsed = if is_form {
        serde_urlencoded::from_bytes(body).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| AdminError::new(AdminErrorKind::Invalid, format!("the request body cannot be read: {e}")))
}

/// A change from a JSON route: the session and CSRF token first, then the body.
async fn checked<T: DeserializeOwned>(
    service: &AdminService,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, AdminError> {
    service.session_for_change(headers, None).await?;
    parse(headers, body)
}

async fn link(State(app): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> AdminResponse {
    let service = AdminService::new(app);
    AdminResponse(async { service.link(&headers, checked(&service, &headers, &body).await?).await }.await)
}

async fn unlink(State(app): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> AdminResponse {
    let service = AdminService::new(app);
    AdminResponse(async { service.unlink(&headers, checked(&service, &headers, &body).await?).await }.await)
}

async fn toggle(State(app): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> AdminResponse {
    let service = AdminService::new(app);
    AdminResponse(async { service.toggle_shop(&headers, checked(&service, &headers, &body).await?).await }.await)
}

async fn resend(State(app): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> AdminResponse {
    let service = AdminService::new(app);
    AdminResponse(async { service.resend(&headers, checked(&service, &headers, &body).await?).await }.await)
}
