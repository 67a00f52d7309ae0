//! The Store API's keys and webhook endpoints, as the merchant manages them (SPEC §8.1,
//! §8.4). A key or a signing secret is in the answer of the call that made it and nowhere
//! else: lists carry a key's prefix and last 4 and an endpoint's URL, the database a key's
//! SHA-256 and a secret sealed.

use app::admin::*;
use axum::http::HeaderMap;

use super::{error, storage, AdminService};
use crate::{
    domain::MallId,
    store::{now_ms, AdminSession, ApiKeyRow, WebhookEndpointRow},
    store_api::{
        endpoints::ROTATION_OVERLAP_MS,
        keys::{new_api_key, new_webhook_secret},
    },
};

/// The longest webhook URL taken.
const MAX_URL_LEN: usize = 2048;

fn key_view(row: ApiKeyRow) -> ApiKeyView {
    ApiKeyView {
        id: row.id,
        mode: row.mode,
        prefix: row.prefix,
        last4: row.last4,
        created_at: row.created_at,
        last_used_at: row.last_used_at,
        revoked_at: row.revoked_at,
    }
}

fn endpoint_view(row: WebhookEndpointRow) -> WebhookEndpointView {
    WebhookEndpointView { id: row.id, url: row.url, created_at: row.created_at, previous_until: row.previous_until }
}

/// The session's mall, as the Store API's tables name it.
fn merchant(session: &AdminSession) -> Result<MallId, AdminError> {
    MallId::parse(&session.mall_id).map_err(|e| crate::admin::internal("reading the session's mall", e))
}

fn no_such_endpoint(endpoint_id: &str) -> AdminError {
    error(AdminErrorKind::NotFound, "this mall has no such webhook endpoint").at(format!("endpoint:{endpoint_id}"))
}

impl AdminService {
    /// The mall's keys (newest first, revoked ones too) and endpoints, as the overview
    /// lists them.
    pub(super) async fn store_api_lists(
        &self,
        session: &AdminSession,
    ) -> Result<(Vec<ApiKeyView>, Vec<WebhookEndpointView>), AdminError> {
        let mall_id = merchant(session)?;
        let store = &self.app.store;
        let keys = store.api_keys(&mall_id).await.map_err(storage("reading the mall's API keys"))?;
        let endpoints =
            store.webhook_endpoints(&mall_id).await.map_err(storage("reading the mall's webhook endpoints"))?;
        Ok((keys.into_iter().map(key_view).collect(), endpoints.into_iter().map(endpoint_view).collect()))
    }

    pub(super) async fn issue_api_key(
        &self,
        headers: &HeaderMap,
        request: CreateApiKeyRequest,
    ) -> Result<ApiKeyCreated, AdminError> {
        let session = self.session_for_change(headers, Some(&request.mall_id)).await?;
        let mall_id = merchant(&session)?;
        let mode = self.app.api_key_mode;
        let issued = new_api_key(mode);
        let row = self
            .app
            .store
            .create_api_key(&mall_id, mode.as_str(), &issued.hash, issued.prefix, &issued.last4)
            .await
            .map_err(storage("creating an API key"))?;
        tracing::info!(mall_id = %mall_id, key_id = %row.id, mode = mode.as_str(), "Store API key created");
        let overview = self.overview_of(&session).await?;
        Ok(ApiKeyCreated { overview, new_key: NewApiKey { key_id: row.id, key: issued.key } })
    }

    pub(super) async fn revoke_key(
        &self,
        headers: &HeaderMap,
        request: RevokeApiKeyRequest,
    ) -> Result<AdminOverview, AdminError> {
        let session = self.session_for_change(headers, Some(&request.mall_id)).await?;
        let mall_id = merchant(&session)?;
        let store = &self.app.store;
        let revoked = store.revoke_api_key(&mall_id, &request.key_id).await.map_err(storage("revoking an API key"))?;
        if !revoked {
            // Nothing changed: say whether the key was revoked already or is not the mall's.
            let known = store
                .api_keys(&mall_id)
                .await
                .map_err(storage("reading the mall's API keys"))?
                .iter()
                .any(|k| k.id == request.key_id);
            let refusal = if known {
                error(AdminErrorKind::Conflict, "this key is revoked already")
            } else {
                error(AdminErrorKind::NotFound, "this mall has no such key")
            };
            return Err(refusal.at(format!("key:{}", request.key_id)));
        }
        tracing::info!(mall_id = %mall_id, key_id = %request.key_id, "Store API key revoked");
        self.overview_of(&session).await
    }

    pub(super) async fn add_webhook_endpoint(
        &self,
        headers: &HeaderMap,
        request: CreateWebhookEndpointRequest,
    ) -> Result<WebhookSecretIssued, AdminError> {
        let session = self.session_for_change(headers, Some(&request.mall_id)).await?;
        let mall_id = merchant(&session)?;
        let raw = request.url.trim();
        if raw.is_empty() || raw.len() > MAX_URL_LEN {
            let message = format!("enter the URL that receives the webhooks (up to {MAX_URL_LEN} characters)");
            return Err(error(AdminErrorKind::Invalid, message).at("url"));
        }
        let store = &self.app.store;
        // The same rule as Cafe24's notification URLs: the allow-list, or the mall's own domains.
        let domains = store.mall_domains(mall_id.as_str()).await.map_err(storage("reading the mall's domains"))?;
        let url = self.app.hosts.check_with("url", raw, &domains).map_err(|refusal| {
            error(AdminErrorKind::Invalid, format!("webhooks cannot go there: {refusal}")).at("url")
        })?;
        let secret = new_webhook_secret();
        let endpoint = store
            .create_webhook_endpoint(&self.app.keys, &mall_id, url.as_str(), &secret)
            .await
            .map_err(storage("adding a webhook endpoint"))?;
        tracing::info!(mall_id = %mall_id, endpoint_id = %endpoint.id, "webhook endpoint added");
        let overview = self.overview_of(&session).await?;
        Ok(WebhookSecretIssued { overview, new_secret: NewWebhookSecret { endpoint_id: endpoint.id, secret } })
    }

    pub(super) async fn remove_webhook_endpoint(
        &self,
        headers: &HeaderMap,
        request: DeleteWebhookEndpointRequest,
    ) -> Result<AdminOverview, AdminError> {
        let session = self.session_for_change(headers, Some(&request.mall_id)).await?;
        let mall_id = merchant(&session)?;
        let deleted = self
            .app
            .store
            .delete_webhook_endpoint(&mall_id, &request.endpoint_id)
            .await
            .map_err(storage("deleting a webhook endpoint"))?;
        if !deleted {
            return Err(no_such_endpoint(&request.endpoint_id));
        }
        tracing::info!(mall_id = %mall_id, endpoint_id = %request.endpoint_id, "webhook endpoint deleted");
        self.overview_of(&session).await
    }

    pub(super) async fn rotate_endpoint_secret(
        &self,
        headers: &HeaderMap,
        request: RotateWebhookSecretRequest,
    ) -> Result<WebhookSecretIssued, AdminError> {
        let session = self.session_for_change(headers, Some(&request.mall_id)).await?;
        let mall_id = merchant(&session)?;
        let secret = new_webhook_secret();
        let previous_until = now_ms() + ROTATION_OVERLAP_MS;
        let rotated = self
            .app
            .store
            .rotate_webhook_secret(&self.app.keys, &mall_id, &request.endpoint_id, &secret, previous_until)
            .await
            .map_err(storage("rotating a webhook secret"))?
            .ok_or_else(|| no_such_endpoint(&request.endpoint_id))?;
        tracing::info!(mall_id = %mall_id, endpoint_id = %rotated.id, previous_until, "webhook secret rotated");
        let overview = self.overview_of(&session).await?;
        Ok(WebhookSecretIssued { overview, new_secret: NewWebhookSecret { endpoint_id: rotated.id, secret } })
    }
}
