use http::HeaderMap;

use super::types::*;

/// What the admin's server functions and JSON routes need from the server. Every call
/// carries the request headers: the implementation checks the session of that mall and,
/// for changes, the `X-CSRF-Token` header.
#[async_trait::async_trait]
pub trait AdminPort: Send + Sync {
    /// `page_load`: rendering the page (a GET, nothing changes); otherwise the browser asked
    /// through the server function, a POST, which must carry the CSRF token like any other.
    async fn overview(&self, headers: &HeaderMap, mall_id: &str, page_load: bool) -> Result<AdminOverview, AdminError>;
    async fn link(&self, headers: &HeaderMap, request: LinkRequest) -> Result<AdminOverview, AdminError>;
    async fn unlink(&self, headers: &HeaderMap, request: UnlinkRequest) -> Result<AdminOverview, AdminError>;
    async fn toggle_shop(&self, headers: &HeaderMap, request: ToggleRequest) -> Result<AdminOverview, AdminError>;
    async fn resend(&self, headers: &HeaderMap, request: ResendRequest) -> Result<AdminOverview, AdminError>;
    /// A new Store API key for the mall (SPEC §8.1), shown in this answer only.
    async fn create_api_key(
        &self,
        headers: &HeaderMap,
        request: CreateApiKeyRequest,
    ) -> Result<ApiKeyCreated, AdminError>;
    async fn revoke_api_key(
        &self,
        headers: &HeaderMap,
        request: RevokeApiKeyRequest,
    ) -> Result<AdminOverview, AdminError>;
    /// A new webhook endpoint (SPEC §8.4); its secret is shown in this answer only.
    async fn create_webhook_endpoint(
        &self,
        headers: &HeaderMap,
        request: CreateWebhookEndpointRequest,
    ) -> Result<WebhookSecretIssued, AdminError>;
    async fn delete_webhook_endpoint(
        &self,
        headers: &HeaderMap,
        request: DeleteWebhookEndpointRequest,
    ) -> Result<AdminOverview, AdminError>;
    /// A new secret for the endpoint, shown in this answer only; the previous one keeps
    /// signing for a while (SPEC §8.3).
    async fn rotate_webhook_secret(
        &self,
        headers: &HeaderMap,
        request: RotateWebhookSecretRequest,
    ) -> Result<WebhookSecretIssued, AdminError>;
}
