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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkRequest {
    pub mall_id: String,
    pub public_key: String,
    pub secret_key: String,
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminErrorKind {
    /// No session for this mall: open the app from the Cafe24 admin.
    SignIn,
    /// The CSRF token is missing or wrong.
    Forbidden,
    /// Bad input; `field` says which.
    Invalid,
    /// Not possible in the current state (another action running, nothing to resend, …).
    Conflict,
    /// Cafe24 or the payment company failed or refused.
    Upstream,
    Internal,
}

/// An error shown next to what caused it (`field`: `public_key`, `secret_key`,
/// `shop:<no>`, `delivery:<id>`, …).
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
