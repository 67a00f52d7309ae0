use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewView {
    pub mall_id: String,
    pub order_id: String,
    pub shop_name: String,
    pub currency: String,
    pub items: Vec<ReviewItem>,
    pub address: Option<ReviewAddress>,
    /// Cafe24's totals, or why they are missing.
    pub totals: Result<ReviewTotals, String>,
    /// Still waiting for the buyer to pay.
    pub payable: bool,
    pub status: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewItem {
    pub name: String,
    pub option: Option<String>,
    pub quantity: i64,
    pub unit_price: String,
    pub line_total: String,
}

/// Shown in full only with the checkout's key; otherwise masked (it is personal data).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewAddress {
    pub name: String,
    pub lines: Vec<String>,
    pub city: String,
    pub country_code: String,
    pub masked: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewTotals {
    pub items: String,
    pub discount: String,
    pub shipping: String,
    pub total: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderAction {
    pub mall_id: String,
    pub order_id: String,
    #[serde(default)]
    pub key: Option<String>,
}

/// Where the buyer goes next.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NextStep {
    pub message: String,
    pub redirect_url: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewError {
    pub status: u16,
    pub message: String,
    /// The mall's failure page, when the buyer should go back there.
    pub redirect_url: Option<String>,
}

impl std::fmt::Display for ReviewError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl FromServerFnError for ReviewError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        ReviewError { status: 500, message: value.to_string(), redirect_url: None }
    }
}
