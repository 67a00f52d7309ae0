use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

/// Everything the admin page shows for one mall.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdminOverview {
    pub mall_id: String,
    pub lang: String,
    pub csrf_token: String,
    pub credentials: Option<LinkedCredentials>,
    pub shops: Vec<ShopView>,
    pub payments: Vec<PaymentView>,
    pub deliveries: Vec<DeliveryView>,
    /// The mall's Store API keys, revoked ones too (SPEC §8.1): never a key itself.
    pub api_keys: Vec<ApiKeyView>,
    /// The mall's webhook endpoints (SPEC §8.4): never a secret.
    pub webhook_endpoints: Vec<WebhookEndpointView>,
}

/// Linked credentials as shown: never the secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkedCredentials {
    pub gateway: String,
    pub public_key: String,
    pub linked_at: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShopView {
    pub shop_no: i64,
    pub name: String,
    pub currency: String,
    pub enabled: bool,
    pub partner_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaymentView {
    pub order_id: String,
    pub shop_no: i64,
    pub amount: String,
    pub currency: String,
    pub status_code: i64,
    pub status: String,
    pub flow: String,
    pub created_at: i64,
    pub events: Vec<EventView>,
    /// Alerts for the merchant on this payment (`admin.alert` entries of its history: a
    /// change the channel could not be told, like a reconciled synchronous cancel).
    #[serde(default)]
    pub alerts: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventView {
    pub kind: String,
    pub to_status: Option<i64>,
    pub detail: Option<String>,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryView {
    pub id: String,
    pub order_id: Option<String>,
    pub kind: String,
    pub target_host: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
}

/// A Store API key as listed: what identifies it, never the key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyView {
    pub id: String,
    /// `test` (`sk_test_…`) or `live` (`sk_live_…`).
    pub mode: String,
    pub prefix: String,
    pub last4: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A webhook endpoint as listed: never its secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookEndpointView {
    pub id: String,
    pub url: String,
    pub created_at: i64,
    /// After a rotation, the previous secret still signs until then.
    pub previous_until: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkRequest {
    pub mall_id: String,
    /// The payment company: `sandbox` (the default) or `stripe`.
    #[serde(default)]
    pub gateway: Option<String>,
    /// The sandbox PG's public key; Stripe's publishable key (`pk_test_…`, `pk_live_…`).
    pub public_key: String,
    /// The sandbox PG's secret key; Stripe's secret key (`sk_test_…`, `sk_live_…`).
    pub secret_key: String,
    /// Stripe's webhook signing secret (`whsec_…`); the sandbox PG has none.
    #[serde(default)]
    pub webhook_secret: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnlinkRequest {
    pub mall_id: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToggleAction {
    Enable,
    Disable,
}

/// `shop_no`, or `shop_index` (the shop's position in Cafe24's list, from 0) as the seed's
/// Postman collection sends it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToggleRequest {
    pub mall_id: String,
    pub action: ToggleAction,
    #[serde(default)]
    pub shop_no: Option<i64>,
    #[serde(default)]
    pub shop_index: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResendRequest {
    pub mall_id: String,
    pub delivery_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreateApiKeyRequest {
    pub mall_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RevokeApiKeyRequest {
    pub mall_id: String,
    pub key_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreateWebhookEndpointRequest {
    pub mall_id: String,
    pub url: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeleteWebhookEndpointRequest {
    pub mall_id: String,
    pub endpoint_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RotateWebhookSecretRequest {
    pub mall_id: String,
    pub endpoint_id: String,
}

/// A key just created: the only answer that ever carries the key itself.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct NewApiKey {
    pub key_id: String,
    pub key: String,
}

/// A webhook endpoint's secret just issued (by its creation or a rotation): the only
/// answer that ever carries it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct NewWebhookSecret {
    pub endpoint_id: String,
    pub secret: String,
}

// Secrets stay out of logs and panic messages.
impl std::fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApiKey").field("key_id", &self.key_id).field("key", &"…").finish()
    }
}

impl std::fmt::Debug for NewWebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewWebhookSecret").field("endpoint_id", &self.endpoint_id).field("secret", &"…").finish()
    }
}

/// The answer to `POST /admin/api-keys`: the overview (its list shows the new key by
/// prefix and last 4) and, beside it, the key, shown this once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyCreated {
    #[serde(flatten)]
    pub overview: AdminOverview,
    pub new_key: NewApiKey,
}

/// The answer to adding a webhook endpoint or rotating its secret: the overview and,
/// beside it, the new secret, shown this once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookSecretIssued {
    #[serde(flatten)]
    pub overview: AdminOverview,
    pub new_secret: NewWebhookSecret,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminErrorKind {
    /// No session for this mall: open the app from the Cafe24 admin.
    SignIn,
    /// The CSRF token is missing or wrong.
    Forbidden,
    /// Bad input; `field` says which.
    Invalid,
    /// The mall has no such thing (another mall's id answers this too).
    NotFound,
    /// Not possible in the current state (another action running, nothing to resend, …).
    Conflict,
    /// Cafe24 or the payment company failed or refused.
    Upstream,
    Internal,
}

/// An error shown next to what caused it (`field`: `public_key`, `secret_key`,
/// `shop:<no>`, `delivery:<id>`, `key:<id>`, `url`, `endpoint:<id>`, …).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdminError {
    pub kind: AdminErrorKind,
    pub field: Option<String>,
    pub message: String,
}

impl AdminError {
    pub fn new(kind: AdminErrorKind, message: impl Into<String>) -> Self {
        AdminError { kind, field: None, message: message.into() }
    }

    pub fn at(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// The HTTP status of the JSON routes for this error.
    pub fn status(&self) -> u16 {
        match self.kind {
            AdminErrorKind::SignIn => 401,
            AdminErrorKind::Forbidden => 403,
            AdminErrorKind::NotFound => 404,
            AdminErrorKind::Invalid => 422,
            AdminErrorKind::Conflict => 409,
            AdminErrorKind::Upstream => 502,
            AdminErrorKind::Internal => 500,
        }
    }
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl FromServerFnError for AdminError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AdminError::new(AdminErrorKind::Internal, value.to_string())
    }
}
