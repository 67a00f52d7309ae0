//! The merchant admin (SPEC §4.7): the app launch from the Cafe24 admin, OAuth, sessions
//! with CSRF protection, and the admin actions — as JSON routes here and as the Leptos
//! page's server functions, both through one [`service::AdminService`].

mod cookies;
pub mod launch;
pub mod service;
mod uninstall;

use std::{future::Future, sync::Arc};

use axum::{
    body::Bytes,
    extract::{DefaultBodyLimit, FromRef, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::json;

use app::admin::{AdminError, AdminErrorKind, AdminPort};
use leptos::prelude::LeptosOptions;
use service::AdminService;
use url::Url;

use crate::{
    cafe24::{
        api::{Cafe24Api, Cafe24ApiError},
        tokens::{Cafe24Client, TokenError},
    },
    config::Cafe24Credentials,
    gateway::Gateways,
    hosts::HostPolicy,
    secrets::KeyRing,
    store::Store,
    store_api::keys::KeyMode,
    web::PublicUrl,
};

pub use launch::root;
pub use uninstall::APP_DELETED_EVENT;

/// What the admin's routes and its service need.
#[derive(Clone)]
pub struct AdminContext {
    pub store: Store,
    pub keys: Arc<KeyRing>,
    pub gateways: Gateways,
    /// Webhook endpoints must pass it like every URL we send to (SPEC §7).
    pub hosts: Arc<HostPolicy>,
    pub cafe24: Arc<Cafe24Credentials>,
    pub cafe24_api: Arc<Cafe24Api>,
    /// The Admin API with the mall's tokens.
    pub client: Cafe24Client,
    pub public_url: PublicUrl,
    /// `sk_test_…` keys with the sandbox on, `sk_live_…` otherwise.
    pub api_key_mode: KeyMode,
    pub leptos_options: LeptosOptions,
}

impl AdminContext {
    pub fn url(&self, path: &str) -> Url {
        self.public_url.url(path)
    }

    /// Cookies are `Secure` when we are served over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.is_https()
    }

    /// A Cafe24 Admin API call with the mall's token, its failure in the admin's terms.
    pub async fn with_token<T, F, Fut>(&self, mall_id: &str, call: F) -> Result<T, AdminError>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, Cafe24ApiError>>,
    {
        self.client.with_token(mall_id, call).await.map_err(upstream)
    }
}

/// Our fault in the admin: logged once here with the operation that failed, hidden from
/// the merchant.
pub(crate) fn internal(operation: &str, cause: impl std::fmt::Display) -> AdminError {
    tracing::error!(operation, error = %cause, "admin: internal error");
    AdminError::new(AdminErrorKind::Internal, "something went wrong on our side; nothing was changed")
}

/// A failed Cafe24 call, as the admin shows it.
pub fn upstream(e: TokenError) -> AdminError {
    match e {
        TokenError::NotConnected => AdminError::new(AdminErrorKind::SignIn, e.to_string()),
        TokenError::Store(cause) => internal("reading the mall's Cafe24 tokens", cause),
        other => AdminError::new(AdminErrorKind::Upstream, other.to_string()),
    }
}

pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    AdminContext: FromRef<S>,
{
    Router::new()
        .route("/auth/token", get(launch::oauth_callback))
        .route("/admin/link", post(link))
        .route("/admin/unlink", post(unlink))
        .route("/admin/shop/toggle", post(toggle))
        .route("/admin/notifications/resend", post(resend))
        .route("/admin/api-keys", post(create_api_key))
        .route("/admin/api-keys/revoke", post(revoke_api_key))
        .route("/admin/webhook-endpoints", post(create_webhook_endpoint))
        .route("/admin/webhook-endpoints/delete", post(delete_webhook_endpoint))
        .route("/admin/webhook-endpoints/rotate", post(rotate_webhook_secret))
        .route("/admin/logout", post(launch::logout))
        .layer(crate::web::catch_panics(panic_answer))
        // Cafe24 calls this one: a panic answers in Cafe24's shape.
        .merge(
            Router::new()
                .route("/api/cafe24/webhook", post(uninstall::cafe24_webhook))
                .layer(crate::web::catch_panics(crate::cafe24::panic_answer)),
        )
        .layer(DefaultBodyLimit::max(64 * 1024))
}

/// An admin route's answer: the overview (or an answer built around it), or the error.
struct AdminResponse<T = app::admin::AdminOverview>(Result<T, AdminError>);

impl<T: Serialize> IntoResponse for AdminResponse<T> {
    fn into_response(self) -> Response {
        match self.0 {
            Ok(answer) => Json(answer).into_response(),
            Err(e) => {
                let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                (status, Json(json!({"error": {"kind": e.kind, "field": e.field, "message": e.message}})))
                    .into_response()
            }
        }
    }
}

/// An answer carrying a one-time secret: kept by no cache.
struct OneTimeSecret<T>(AdminResponse<T>);

impl<T: Serialize> IntoResponse for OneTimeSecret<T> {
    fn into_response(self) -> Response {
        let mut response = self.0.into_response();
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// A panic in an admin route answers like any admin error.
fn panic_answer() -> Response {
    AdminResponse::<()>(Err(AdminError::new(
        AdminErrorKind::Internal,
        "something went wrong on our side; nothing was changed",
    )))
    .into_response()
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
        // A member named twice is refused rather than read as its last value.
        crate::json::parse_strict(body)
            .map_err(|e| e.to_string())
            .and_then(|value| serde_json::from_value(value).map_err(|e| e.to_string()))
    };
    parsed.map_err(|e| AdminError::new(AdminErrorKind::Invalid, format!("the request body cannot be read: {e}")))
}

/// A change from a JSON route: the session and CSRF token first, then the body, then the call.
async fn change<R: DeserializeOwned, T>(
    app: AdminContext,
    headers: &HeaderMap,
    body: &[u8],
    call: impl AsyncFnOnce(&AdminService, R) -> Result<T, AdminError>,
) -> AdminResponse<T> {
    let service = AdminService::new(app);
    AdminResponse(
        async {
            service.session_for_change(headers, None).await?;
            call(&service, parse(headers, body)?).await
        }
        .await,
    )
}

async fn link(State(app): State<AdminContext>, headers: HeaderMap, body: Bytes) -> AdminResponse {
    change(app, &headers, &body, async |s, r| s.link(&headers, r).await).await
}

async fn unlink(State(app): State<AdminContext>, headers: HeaderMap, body: Bytes) -> AdminResponse {
    change(app, &headers, &body, async |s, r| s.unlink(&headers, r).await).await
}

async fn toggle(State(app): State<AdminContext>, headers: HeaderMap, body: Bytes) -> AdminResponse {
    change(app, &headers, &body, async |s, r| s.toggle_shop(&headers, r).await).await
}

async fn resend(State(app): State<AdminContext>, headers: HeaderMap, body: Bytes) -> AdminResponse {
    change(app, &headers, &body, async |s, r| s.resend(&headers, r).await).await
}

async fn create_api_key(
    State(app): State<AdminContext>,
    headers: HeaderMap,
    body: Bytes,
) -> OneTimeSecret<app::admin::ApiKeyCreated> {
    OneTimeSecret(change(app, &headers, &body, async |s, r| s.create_api_key(&headers, r).await).await)
}

async fn revoke_api_key(State(app): State<AdminContext>, headers: HeaderMap, body: Bytes) -> AdminResponse {
    change(app, &headers, &body, async |s, r| s.revoke_api_key(&headers, r).await).await
}

async fn create_webhook_endpoint(
    State(app): State<AdminContext>,
    headers: HeaderMap,
    body: Bytes,
) -> OneTimeSecret<app::admin::WebhookSecretIssued> {
    OneTimeSecret(change(app, &headers, &body, async |s, r| s.create_webhook_endpoint(&headers, r).await).await)
}

async fn delete_webhook_endpoint(State(app): State<AdminContext>, headers: HeaderMap, body: Bytes) -> AdminResponse {
    change(app, &headers, &body, async |s, r| s.delete_webhook_endpoint(&headers, r).await).await
}

async fn rotate_webhook_secret(
    State(app): State<AdminContext>,
    headers: HeaderMap,
    body: Bytes,
) -> OneTimeSecret<app::admin::WebhookSecretIssued> {
    OneTimeSecret(change(app, &headers, &body, async |s, r| s.rotate_webhook_secret(&headers, r).await).await)
}
