//! The admin's one implementation, behind both the JSON routes and the page's server
//! functions. Every call checks the session of that mall; every change also checks the
//! `X-CSRF-Token` header. Changes at Cafe24 are undone when a later step fails, so a
//! shop is never left half registered without saying so.

mod store_api;

use std::time::Duration;

use app::admin::*;
use axum::http::HeaderMap;
use subtle::ConstantTimeEq;

use super::{cookies, AdminContext};
use crate::gateway::sandbox::GATEWAY_ID as SANDBOX;
use crate::gateway::stripe::GATEWAY_ID as STRIPE;
use crate::{
    cafe24::script,
    domain::MerchantCredentials,
    gateway::GatewayError,
    store::{random_token, AdminSession, AdminShop, ShopRegistration},
};

const TOGGLE_LEASE: Duration = Duration::from_secs(60);

pub struct AdminService {
    app: AdminContext,
}

fn error(kind: AdminErrorKind, message: impl Into<String>) -> AdminError {
    AdminError::new(kind, message)
}

/// Storage failed while the admin read or changed `what`.
fn storage(what: &'static str) -> impl Fn(crate::store::StoreError) -> AdminError {
    move |e| super::internal(what, e)
}

/// A `partner_id` for a shop: at most 50 characters, unique; its parts are never trusted.
fn new_partner_id(mall_id: &str, shop_no: i64) -> String {
    let suffix: String = random_token().chars().filter(char::is_ascii_alphanumeric).take(10).collect();
    let tail = format!(":{shop_no}:{suffix}");
    let mall: String = mall_id.chars().take(50 - tail.len()).collect();
    format!("{mall}{tail}")
}

/// The credentials a link request names, checked for their shape before the payment
/// company is asked: the sandbox PG's key pair, or Stripe's publishable and secret key
/// of one mode (test or live) and its webhook signing secret.
fn linkable_credentials(request: &LinkRequest) -> Result<MerchantCredentials, AdminError> {
    let gateway = request.gateway.as_deref().map(str::trim).filter(|g| !g.is_empty()).unwrap_or(SANDBOX);
    let public_key = request.public_key.trim();
    let secret_key = request.secret_key.trim();
    let webhook_secret = request.webhook_secret.as_deref().map(str::trim).filter(|w| !w.is_empty());
    for (field, value) in [("public_key", public_key), ("secret_key", secret_key)] {
        if value.is_empty() || value.len() > 200 {
            return Err(error(AdminErrorKind::Invalid, "enter the key (up to 200 characters)").at(field));
        }
    }
    let invalid = |field: &str, message: &str| Err(error(AdminErrorKind::Invalid, message).at(field));
    let webhook_secret = match gateway {
        SANDBOX => None,
        STRIPE => {
            let mode = |key: &str, kinds: &[&str]| {
                ["test", "live"].into_iter().find(|m| kinds.iter().any(|k| key.starts_with(&format!("{k}_{m}_"))))
            };
            let Some(secret_mode) = mode(secret_key, &["sk", "rk"]) else {
                return invalid("secret_key", "a Stripe secret key starts with sk_test_ or sk_live_");
            };
            if mode(public_key, &["pk"]) != Some(secret_mode) {
                return invalid("public_key", "enter the publishable key of the same mode (pk_test_… or pk_live_…)");
            }
            match webhook_secret {
                Some(w) if w.starts_with("whsec_") && w.len() <= 200 => Some(w.to_owned()),
                _ => return invalid("webhook_secret", "enter the webhook signing secret (whsec_…)"),
            }
        }
        _ => return invalid("gateway", "choose the sandbox PG or Stripe"),
    };
    Ok(MerchantCredentials {
        gateway: gateway.to_owned(),
        public_key: public_key.to_owned(),
        secret_key: secret_key.to_owned(),
        webhook_secret,
    })
}

impl AdminService {
    pub fn new(app: AdminContext) -> Self {
        AdminService { app }
    }

    /// The signed-in session of `mall_id` (any mall when `None`).
    async fn session(&self, headers: &HeaderMap, mall_id: Option<&str>) -> Result<AdminSession, AdminError> {
        let sign_in = || error(AdminErrorKind::SignIn, "open paybridge from the Cafe24 admin to sign in");
        let id = cookies::session_id(headers).ok_or_else(sign_in)?;
        let session = self.app.store.session(&id).await.map_err(storage("reading the session"))?.ok_or_else(sign_in)?;
        if session.authenticated != 1 {
            return Err(sign_in());
        }
        if mall_id.is_some_and(|m| m != session.mall_id) {
            return Err(error(AdminErrorKind::Forbidden, "this session belongs to another mall"));
        }
        Ok(session)
    }

    /// The session, for a change: the request must carry its CSRF token.
    pub async fn session_for_change(
        &self,
        headers: &HeaderMap,
        mall_id: Option<&str>,
    ) -> Result<AdminSession, AdminError> {
        let session = self.session(headers, mall_id).await?;
        let given = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if given.is_empty() || !bool::from(given.as_bytes().ct_eq(session.csrf_token.as_bytes())) {
            return Err(error(AdminErrorKind::Forbidden, "the request lacks this page's CSRF token; reload the page"));
        }
        Ok(session)
    }

    async fn overview_of(&self, session: &AdminSession) -> Result<AdminOverview, AdminError> {
        let store = &self.app.store;
        let mall_id = session.mall_id.as_str();
        let credentials = store
            .linked_credentials(mall_id)
            .await
            .map_err(storage("reading the linked credentials"))?
            .map(|c| LinkedCredentials { gateway: c.gateway, public_key: c.public_key, linked_at: c.linked_at });
        let shops = store
            .admin_shops(mall_id)
            .await
            .map_err(storage("reading the mall's shops"))?
            .into_iter()
            .map(|s| ShopView {
                shop_no: s.shop_no,
                name: s.shop_name,
                currency: s.currency,
                enabled: s.enabled != 0,
                partner_id: s.partner_id,
            })
            .collect();
        let payments = store
            .recent_payments(mall_id, 20)
            .await
            .map_err(storage("reading recent payments"))?
            .into_iter()
            .map(|(p, events)| {
                let status = crate::domain::PaymentStatus::from_code(p.status);
                let amount = p
                    .currency
                    .parse::<crate::domain::Currency>()
                    .map(|c| crate::domain::Money::new(p.amount_minor, c).to_major_string())
                    .unwrap_or_else(|_| p.amount_minor.to_string());
                // What the reconciliation worker finished without the channel hearing of it.
                let alerts =
                    events.iter().filter(|e| e.kind == "admin.alert").filter_map(|e| e.detail.clone()).collect();
                PaymentView {
                    alerts,
                    order_id: p.order_id,
                    shop_no: p.shop_no,
                    amount,
                    currency: p.currency,
                    status_code: p.status,
                    status: status.map(|s| s.name().to_owned()).unwrap_or_default(),
                    flow: p.flow,
                    created_at: p.created_at,
                    events: events
                        .into_iter()
                        .map(|e| EventView {
                            kind: e.kind,
                            to_status: e.to_status,
                            detail: e.detail,
                            created_at: e.created_at,
                        })
                        .collect(),
                }
            })
            .collect();
        let deliveries = store
            .recent_deliveries(mall_id, 20)
            .await
            .map_err(storage("reading recent deliveries"))?
            .into_iter()
            .map(|d| DeliveryView {
                target_host: url::Url::parse(&d.target_url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .unwrap_or_default(),
                id: d.id,
                order_id: d.order_id,
                kind: d.kind,
                status: d.status,
                attempts: d.attempts,
                last_error: d.last_error,
                created_at: d.created_at,
            })
            .collect();
        let (api_keys, webhook_endpoints) = self.store_api_lists(session).await?;
        Ok(AdminOverview {
            mall_id: session.mall_id.clone(),
            lang: Lang::parse(&session.lang).code().to_owned(),
            csrf_token: session.csrf_token.clone(),
            credentials,
            shops,
            payments,
            deliveries,
            api_keys,
            webhook_endpoints,
        })
    }

    async fn credentials(&self, mall_id: &str) -> Result<MerchantCredentials, AdminError> {
        self.app
            .store
            .credentials_of(&self.app.keys, mall_id)
            .await
            .map_err(storage("reading the PG credentials"))?
            .ok_or_else(|| {
                error(AdminErrorKind::Conflict, "link the payment company's credentials first").at("public_key")
            })
    }

    fn gateway(&self, id: &str) -> Result<&dyn crate::gateway::PaymentGateway, AdminError> {
        self.app
            .gateways
            .get(id)
            .map(|g| g.as_ref())
            .ok_or_else(|| error(AdminErrorKind::Internal, format!("payment company {id} is not available")))
    }

    /// The shop as it is once its toggle lease is held: a change that finished meanwhile
    /// is seen.
    async fn claimed_shop(&self, mall_id: &str, shop_no: i64) -> Result<AdminShop, AdminError> {
        let shops = self.app.store.admin_shops(mall_id).await.map_err(storage("reading the mall's shops"))?;
        shops
            .into_iter()
            .find(|s| s.shop_no == shop_no)
            .ok_or_else(|| super::internal("re-reading a shop under its lease", "the shop disappeared"))
    }

    /// Registers the payment gateway and the storefront script for a shop, undoing the
    /// first when the second fails. Returns what is registered, and how it went.
    async fn enable(&self, mall_id: &str, shop: &AdminShop) -> (ShopRegistration, Result<(), AdminError>) {
        let field = format!("shop:{}", shop.shop_no);
        let mut registration = ShopRegistration {
            enabled: shop.enabled != 0,
            partner_id: shop.partner_id.clone(),
            pg_registered: shop.pg_registered != 0,
            scripttag_no: shop.scripttag_no.clone(),
            scripttag_integrity: shop.scripttag_integrity.clone(),
        };
        let credentials = match self.credentials(mall_id).await {
            Ok(c) => c,
            Err(e) => return (registration, Err(e.at(field))),
        };
        let supported = match self.gateway(&credentials.gateway) {
            Ok(gateway) => gateway.verify_credentials(&credentials).await,
            Err(e) => return (registration, Err(e)),
        };
        match supported {
            Ok(profile) if profile.currencies.iter().any(|c| c.code() == shop.currency) => {}
            Ok(_) => {
                let message = format!("the payment company does not accept {} payments", shop.currency);
                return (registration, Err(error(AdminErrorKind::Invalid, message).at(field)));
            }
            Err(e) => {
                let message = format!("could not confirm with the payment company: {e}");
                return (registration, Err(error(AdminErrorKind::Upstream, message).at(field)));
            }
        }
        let api = &self.app.cafe24_api;
        let partner_id = shop.partner_id.clone().unwrap_or_else(|| new_partner_id(mall_id, shop.shop_no));
        let created_gateway = !registration.pg_registered;
        if created_gateway {
            let result = self
                .app
                .with_token(mall_id, |token| {
                    let partner_id = partner_id.clone();
                    async move { api.create_payment_gateway(mall_id, &token, shop.shop_no, &partner_id).await }
                })
                .await;
            if let Err(e) = result {
                let message = format!("Cafe24 did not register the payment method: {}", e.message);
                return (registration, Err(error(e.kind, message).at(field)));
            }
            registration.pg_registered = true;
            registration.partner_id = Some(partner_id.clone());
        }
        if registration.scripttag_no.is_none() {
            let src = self.app.url("/api/external-checkout/script").to_string();
            let integrity = script::current_integrity();
            let skins = shop.skins();
            let result = self
                .app
                .with_token(mall_id, |token| {
                    let (src, integrity, skins) = (src.clone(), integrity.clone(), skins.clone());
                    async move { api.create_scripttag(mall_id, &token, shop.shop_no, &src, &integrity, &skins).await }
                })
                .await;
            match result {
                Ok(script_no) => {
                    registration.scripttag_no = Some(script_no);
                    registration.scripttag_integrity = Some(integrity);
                }
                Err(e) => {
                    let mut message = format!("Cafe24 did not register the storefront script: {}", e.message);
                    if created_gateway {
                        let undo = self
                            .app
                            .with_token(mall_id, |token| async move {
                                api.delete_payment_gateway(mall_id, &token, shop.shop_no).await
                            })
                            .await;
                        match undo {
                            Ok(()) => {
                                registration.pg_registered = false;
                                message.push_str("; the payment method was removed again, nothing changed");
                            }
                            Err(undo) => {
                                tracing::error!(mall_id, shop_no = shop.shop_no, error = %undo.message, "undo failed");
                                message.push_str("; removing the payment method failed too, try again");
                            }
                        }
                    }
                    return (registration, Err(error(e.kind, message).at(field)));
                }
            }
        }
        registration.enabled = true;
        (registration, Ok(()))
    }

    /// Stops payments in the shop at once, then removes what is registered at Cafe24.
    async fn disable(&self, mall_id: &str, shop: &AdminShop) -> (ShopRegistration, Result<(), AdminError>) {
        let field = format!("shop:{}", shop.shop_no);
        let mut registration = ShopRegistration {
            enabled: false,
            partner_id: shop.partner_id.clone(),
            pg_registered: shop.pg_registered != 0,
            scripttag_no: shop.scripttag_no.clone(),
            scripttag_integrity: shop.scripttag_integrity.clone(),
        };
        // Payments stop now; the toggle's lease is kept until Cafe24 has been told.
        if let Err(e) = self.app.store.set_shop_enabled(mall_id, shop.shop_no, false).await {
            return (registration, Err(super::internal("stopping a shop's payments", e)));
        }
        let api = &self.app.cafe24_api;
        if let Some(script_no) = registration.scripttag_no.clone() {
            let result = self
                .app
                .with_token(mall_id, |token| {
                    let script_no = script_no.clone();
                    async move { api.delete_scripttag(mall_id, &token, shop.shop_no, &script_no).await }
                })
                .await;
            if let Err(e) = result {
                let message = format!("payments are off, but Cafe24 kept the storefront script: {}", e.message);
                return (registration, Err(error(e.kind, message).at(field)));
            }
            registration.scripttag_no = None;
            registration.scripttag_integrity = None;
        }
        if registration.pg_registered {
            let result =
                self.app
                    .with_token(mall_id, |token| async move {
                        api.delete_payment_gateway(mall_id, &token, shop.shop_no).await
                    })
                    .await;
            if let Err(e) = result {
                let message = format!("payments are off, but Cafe24 kept the payment method: {}", e.message);
                return (registration, Err(error(e.kind, message).at(field)));
            }
            registration.pg_registered = false;
        }
        (registration, Ok(()))
    }
}

#[async_trait::async_trait]
impl AdminPort for AdminService {
    async fn overview(&self, headers: &HeaderMap, mall_id: &str, page_load: bool) -> Result<AdminOverview, AdminError> {
        let session = if page_load {
            self.session(headers, Some(mall_id)).await?
        } else {
            self.session_for_change(headers, Some(mall_id)).await?
        };
        self.overview_of(&session).await
    }

    async fn link(&self, headers: &HeaderMap, request: LinkRequest) -> Result<AdminOverview, AdminError> {
        let session = self.session_for_change(headers, Some(&request.mall_id)).await?;
        let credentials = linkable_credentials(&request)?;
        match self.gateway(&credentials.gateway)?.verify_credentials(&credentials).await {
            Ok(_) => {}
            Err(GatewayError::Rejected(_) | GatewayError::NotFound(_)) => {
                return Err(
                    error(AdminErrorKind::Invalid, "the payment company refused these credentials").at("secret_key")
                )
            }
            Err(e) => {
                return Err(
                    error(AdminErrorKind::Upstream, format!("could not check the credentials: {e}")).at("secret_key")
                )
            }
        }
        self.app
            .store
            .link_credentials(&self.app.keys, &session.mall_id, &credentials)
            .await
            .map_err(storage("linking the PG credentials"))?;
        tracing::info!(mall_id = %session.mall_id, gateway = %credentials.gateway, "payment-company credentials linked");
        self.overview_of(&session).await
    }

    async fn unlink(&self, headers: &HeaderMap, request: UnlinkRequest) -> Result<AdminOverview, AdminError> {
        let session = self.session_for_change(headers, Some(&request.mall_id)).await?;
        let mall_id = session.mall_id.as_str();
        for shop in self.app.store.admin_shops(mall_id).await.map_err(storage("reading the mall's shops"))? {
            let registered = shop.enabled != 0 || shop.pg_registered != 0 || shop.scripttag_no.is_some();
            if !registered {
                continue;
            }
            if !self
                .app
                .store
                .claim_shop_toggle(mall_id, shop.shop_no, TOGGLE_LEASE)
                .await
                .map_err(storage("claiming a shop's toggle"))?
            {
                return Err(error(AdminErrorKind::Conflict, "a shop is being changed right now; try again"));
            }
            let shop = self.claimed_shop(mall_id, shop.shop_no).await?;
            let (registration, result) = self.disable(mall_id, &shop).await;
            self.app
                .store
                .record_shop_registration(mall_id, shop.shop_no, &registration)
                .await
                .map_err(storage("recording a shop's registration"))?;
            result.map_err(|e| AdminError { field: None, ..e })?;
        }
        let mut overview = self.overview_of(&session).await?;
        self.app.store.forget_credentials(mall_id).await.map_err(storage("forgetting the PG credentials"))?;
        overview.credentials = None;
        // Unlinking disconnects the app: the tokens are revoked at Cafe24 and forgotten.
        if let Some(tokens) =
            self.app.store.tokens(&self.app.keys, mall_id).await.map_err(storage("reading the mall's Cafe24 tokens"))?
        {
            self.app.client.revoke(mall_id, &tokens).await;
        }
        self.app.store.delete_tokens(mall_id).await.map_err(storage("forgetting the mall's Cafe24 tokens"))?;
        self.app.store.sign_out_mall(mall_id).await.map_err(storage("signing the mall's sessions out"))?;
        tracing::info!(mall_id, "payment-company credentials unlinked and the app disconnected");
        Ok(overview)
    }

    async fn toggle_shop(&self, headers: &HeaderMap, request: ToggleRequest) -> Result<AdminOverview, AdminError> {
        let session = self.session_for_change(headers, Some(&request.mall_id)).await?;
        let mall_id = session.mall_id.as_str();
        let shops = self.app.store.admin_shops(mall_id).await.map_err(storage("reading the mall's shops"))?;
        let shop = match (request.shop_no, request.shop_index) {
            (Some(no), _) => shops.iter().find(|s| s.shop_no == no),
            (None, Some(index)) => usize::try_from(index).ok().and_then(|i| shops.get(i)),
            (None, None) => return Err(error(AdminErrorKind::Invalid, "name the shop: shop_no or shop_index")),
        }
        .cloned()
        .ok_or_else(|| error(AdminErrorKind::Invalid, "this mall has no such shop").at("shop"))?;
        if !self
            .app
            .store
            .claim_shop_toggle(mall_id, shop.shop_no, TOGGLE_LEASE)
            .await
            .map_err(storage("claiming a shop's toggle"))?
        {
            return Err(error(AdminErrorKind::Conflict, "this shop is being changed right now")
                .at(format!("shop:{}", shop.shop_no)));
        }
        let shop = self.claimed_shop(mall_id, shop.shop_no).await?;
        let (registration, result) = match request.action {
            ToggleAction::Enable => self.enable(mall_id, &shop).await,
            ToggleAction::Disable => self.disable(mall_id, &shop).await,
        };
        self.app
            .store
            .record_shop_registration(mall_id, shop.shop_no, &registration)
            .await
            .map_err(storage("recording a shop's registration"))?;
        result?;
        tracing::info!(mall_id, shop_no = shop.shop_no, action = ?request.action, "shop toggled");
        self.overview_of(&session).await
    }

    async fn resend(&self, headers: &HeaderMap, request: ResendRequest) -> Result<AdminOverview, AdminError> {
        let session = self.session_for_change(headers, Some(&request.mall_id)).await?;
        let requeued = self
            .app
            .store
            .requeue_failed_delivery(&session.mall_id, &request.delivery_id)
            .await
            .map_err(storage("requeueing a failed delivery"))?;
        if !requeued {
            return Err(error(AdminErrorKind::Conflict, "there is no failed notification with this id")
                .at(format!("delivery:{}", request.delivery_id)));
        }
        self.overview_of(&session).await
    }

    async fn create_api_key(
        &self,
        headers: &HeaderMap,
        request: CreateApiKeyRequest,
    ) -> Result<ApiKeyCreated, AdminError> {
        self.issue_api_key(headers, request).await
    }

    async fn revoke_api_key(
        &self,
        headers: &HeaderMap,
        request: RevokeApiKeyRequest,
    ) -> Result<AdminOverview, AdminError> {
        self.revoke_key(headers, request).await
    }

    async fn create_webhook_endpoint(
        &self,
        headers: &HeaderMap,
        request: CreateWebhookEndpointRequest,
    ) -> Result<WebhookSecretIssued, AdminError> {
        self.add_webhook_endpoint(headers, request).await
    }

    async fn delete_webhook_endpoint(
        &self,
        headers: &HeaderMap,
        request: DeleteWebhookEndpointRequest,
    ) -> Result<AdminOverview, AdminError> {
        self.remove_webhook_endpoint(headers, request).await
    }

    async fn rotate_webhook_secret(
        &self,
        headers: &HeaderMap,
        request: RotateWebhookSecretRequest,
    ) -> Result<WebhookSecretIssued, AdminError> {
        self.rotate_endpoint_secret(headers, request).await
    }
}

/// Brings every registered scripttag's `integrity` in line with the script this build
/// serves (run at start; a new build may have changed its bytes).
pub async fn update_stale_scripttags(app: &AdminContext) {
    let integrity = script::current_integrity();
    let stale = match app.store.stale_scripttags(&integrity).await {
        Ok(stale) => stale,
        Err(e) => return tracing::error!(error = %e, "cannot list scripttags"),
    };
    let src = app.url("/api/external-checkout/script").to_string();
    for tag in stale {
        let api = &app.cafe24_api;
        let result = app
            .with_token(&tag.mall_id, |token| {
                let (src, integrity, tag) = (src.clone(), integrity.clone(), tag.clone());
                async move {
                    api.update_scripttag(&tag.mall_id, &token, tag.shop_no, &tag.scripttag_no, &src, &integrity).await
                }
            })
            .await;
        match result {
            Ok(()) => {
                if let Err(e) = app.store.set_scripttag_integrity(&tag.mall_id, tag.shop_no, &integrity).await {
                    tracing::error!(error = %e, "cannot record a scripttag's integrity");
                }
                tracing::info!(mall_id = %tag.mall_id, shop_no = tag.shop_no, "scripttag integrity updated");
            }
            Err(e) => tracing::warn!(mall_id = %tag.mall_id, shop_no = tag.shop_no, error = %e.message,
                "cannot update a scripttag; will try at the next start"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partner_ids_fit_in_fifty_characters() {
        let id = new_partner_id(&"m".repeat(60), 12);
        assert!(id.len() <= 50, "{id}");
        assert!(id.contains(":12:"));
        assert_ne!(new_partner_id("demomall", 1), new_partner_id("demomall", 1));
    }
}
