//! The admin's server functions, served under `/admin/fn/…`. In the browser they go
//! through [`CsrfClient`], which sends the page's CSRF token in `X-CSRF-Token`.

use leptos::{
    prelude::*,
    server_fn::{
        client::{browser::BrowserClient, Client},
        error::FromServerFnError,
        request::browser::BrowserRequest,
        response::browser::BrowserResponse,
    },
};

use super::types::*;

pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// The browser client of the server functions, plus the CSRF header (SPEC §4.7).
pub struct CsrfClient;

/// The token the admin page carries in `<meta name="csrf-token">`.
#[cfg(feature = "hydrate")]
fn page_csrf_token() -> Option<String> {
    document().query_selector("meta[name=csrf-token]").ok().flatten()?.get_attribute("content")
}

impl<E, IS, OS> Client<E, IS, OS> for CsrfClient
where
    E: FromServerFnError,
    IS: FromServerFnError,
    OS: FromServerFnError,
{
    type Request = BrowserRequest;
    type Response = BrowserResponse;

    fn send(req: Self::Request) -> impl std::future::Future<Output = Result<Self::Response, E>> + Send {
        #[cfg(feature = "hydrate")]
        if let Some(token) = page_csrf_token() {
            req.headers().set(CSRF_HEADER, &token);
        }
        <BrowserClient as Client<E, IS, OS>>::send(req)
    }

    #[allow(clippy::type_complexity)]
    fn open_websocket(
        path: &str,
    ) -> impl std::future::Future<
        Output = Result<
            (
                impl futures::Stream<Item = Result<bytes::Bytes, bytes::Bytes>> + Send + 'static,
                impl futures::Sink<bytes::Bytes> + Send + 'static,
            ),
            E,
        >,
    > + Send {
        <BrowserClient as Client<E, IS, OS>>::open_websocket(path)
    }

    fn spawn(future: impl std::future::Future<Output = ()> + Send + 'static) {
        <BrowserClient as Client<E, IS, OS>>::spawn(future)
    }
}

#[cfg(feature = "ssr")]
async fn port_and_headers() -> Result<(std::sync::Arc<dyn super::AdminPort>, http::HeaderMap), AdminError> {
    let port = use_context::<std::sync::Arc<dyn super::AdminPort>>()
        .ok_or_else(|| AdminError::new(AdminErrorKind::Internal, "the admin is not configured"))?;
    let headers: http::HeaderMap =
        leptos_axum::extract().await.map_err(|e| AdminError::new(AdminErrorKind::Internal, e.to_string()))?;
    Ok((port, headers))
}

/// The port's answer (a panic in it is a 500), its status on the HTTP response.
#[cfg(feature = "ssr")]
async fn answer<T>(call: impl std::future::Future<Output = Result<T, AdminError>>) -> Result<T, AdminError> {
    let internal =
        || AdminError::new(AdminErrorKind::Internal, "something went wrong on our side; nothing was changed");
    with_status(crate::unwind_safe(call, internal).await)
}

/// The answer's HTTP status follows the error (401, 403, 422, …) instead of a blanket 500.
#[cfg(feature = "ssr")]
fn with_status<T>(result: Result<T, AdminError>) -> Result<T, AdminError> {
    if let Err(e) = &result {
        if let (Some(options), Ok(status)) =
            (use_context::<leptos_axum::ResponseOptions>(), http::StatusCode::from_u16(e.status()))
        {
            options.set_status(status);
        }
    }
    result
}

/// An answer carrying a one-time secret is kept by no cache.
#[cfg(feature = "ssr")]
fn no_store() {
    if let Some(options) = use_context::<leptos_axum::ResponseOptions>() {
        options.insert_header(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    }
}

#[server(prefix = "/admin/fn", endpoint = "overview", client = CsrfClient)]
pub async fn load_admin(mall_id: String) -> Result<AdminOverview, AdminError> {
    let (port, headers) = with_status(port_and_headers().await)?;
    let method: http::Method =
        leptos_axum::extract().await.map_err(|e| AdminError::new(AdminErrorKind::Internal, e.to_string()))?;
    answer(port.overview(&headers, &mall_id, method == http::Method::GET)).await
}

#[server(prefix = "/admin/fn", endpoint = "link", client = CsrfClient)]
pub async fn link_credentials(request: LinkRequest) -> Result<AdminOverview, AdminError> {
    let (port, headers) = with_status(port_and_headers().await)?;
    answer(port.link(&headers, request)).await
}

#[server(prefix = "/admin/fn", endpoint = "unlink", client = CsrfClient)]
pub async fn unlink_credentials(request: UnlinkRequest) -> Result<AdminOverview, AdminError> {
    let (port, headers) = with_status(port_and_headers().await)?;
    answer(port.unlink(&headers, request)).await
}

#[server(prefix = "/admin/fn", endpoint = "toggle", client = CsrfClient)]
pub async fn toggle_shop(request: ToggleRequest) -> Result<AdminOverview, AdminError> {
    let (port, headers) = with_status(port_and_headers().await)?;
    answer(port.toggle_shop(&headers, request)).await
}

#[server(prefix = "/admin/fn", endpoint = "resend", client = CsrfClient)]
pub async fn resend_delivery(request: ResendRequest) -> Result<AdminOverview, AdminError> {
    let (port, headers) = with_status(port_and_headers().await)?;
    answer(port.resend(&headers, request)).await
}

#[server(prefix = "/admin/fn", endpoint = "create-api-key", client = CsrfClient)]
pub async fn create_api_key(request: CreateApiKeyRequest) -> Result<ApiKeyCreated, AdminError> {
    let (port, headers) = with_status(port_and_headers().await)?;
    no_store();
    answer(port.create_api_key(&headers, request)).await
}

#[server(prefix = "/admin/fn", endpoint = "revoke-api-key", client = CsrfClient)]
pub async fn revoke_api_key(request: RevokeApiKeyRequest) -> Result<AdminOverview, AdminError> {
    let (port, headers) = with_status(port_and_headers().await)?;
    answer(port.revoke_api_key(&headers, request)).await
}

#[server(prefix = "/admin/fn", endpoint = "create-webhook-endpoint", client = CsrfClient)]
pub async fn create_webhook_endpoint(request: CreateWebhookEndpointRequest) -> Result<WebhookSecretIssued, AdminError> {
    let (port, headers) = with_status(port_and_headers().await)?;
    no_store();
    answer(port.create_webhook_endpoint(&headers, request)).await
}

#[server(prefix = "/admin/fn", endpoint = "delete-webhook-endpoint", client = CsrfClient)]
pub async fn delete_webhook_endpoint(request: DeleteWebhookEndpointRequest) -> Result<AdminOverview, AdminError> {
    let (port, headers) = with_status(port_and_headers().await)?;
    answer(port.delete_webhook_endpoint(&headers, request)).await
}

#[server(prefix = "/admin/fn", endpoint = "rotate-webhook-secret", client = CsrfClient)]
pub async fn rotate_webhook_secret(request: RotateWebhookSecretRequest) -> Result<WebhookSecretIssued, AdminError> {
    let (port, headers) = with_status(port_and_headers().await)?;
    no_store();
    answer(port.rotate_webhook_secret(&headers, request)).await
}
