//! Clients for Cafe24's OAuth and Admin API (SPEC §4.7): every call has a timeout,
//! follows no redirect, sends `X-Cafe24-Api-Version`, and fails with an error that says
//! what went wrong without repeating a token.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use url::Url;

/// The Admin API version we speak.
pub const API_VERSION: &str = "2025-06-01";
/// What the app asks the merchant to grant.
pub const SCOPES: &str =
    "mall.read_application,mall.write_application,mall.read_store,mall.read_order,mall.write_order";

#[derive(Debug, thiserror::Error)]
pub enum Cafe24ApiError {
    /// The access token is no longer accepted (refresh it and try again).
    #[error("Cafe24 no longer accepts the app's access token")]
    Unauthorized,
    #[error("Cafe24 answered {status}: {message}")]
    Rejected { status: u16, message: String },
    #[error("Cafe24 could not be reached: {0}")]
    Unavailable(String),
    #[error("Cafe24 answered something unexpected: {0}")]
    Protocol(String),
}

pub use crate::store::{ShopListing as Cafe24Shop, TokenSet};

/// One product line for Cafe24's order calculation (prices as Cafe24 writes them).
#[derive(Clone, Debug, serde::Serialize)]
pub struct CalculationItem {
    pub product_no: i64,
    pub variant_code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub option_id: Option<String>,
    pub quantity: i64,
    pub product_price: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub option_price: Option<String>,
}

/// `POST /api/v2/admin/orders/calculation`: what the buyer will pay.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Calculation {
    pub order_price_amount: String,
    #[serde(default)]
    pub total_discount_amount: Option<String>,
    pub shipping_fee: String,
    pub total_amount_due: String,
}

#[derive(Clone)]
pub struct Cafe24Api {
    /// With `{mall_id}` to substitute.
    base: String,
    client_id: String,
    client_secret: String,
    redirect_uri: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for Cafe24Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cafe24Api").field("base", &self.base).finish_non_exhaustive()
    }
}

/// Cafe24 writes times like `2026-11-23T20:00:00.000` in Korean time (UTC+9).
fn parse_cafe24_time(raw: &str) -> Option<i64> {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]");
    if let Ok(t) = time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339) {
        return Some((t.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    let local = time::PrimitiveDateTime::parse(raw, format).ok()?;
    Some((local.assume_offset(time::macros::offset!(+9)).unix_timestamp_nanos() / 1_000_000) as i64)
}

impl Cafe24Api {
    pub fn new(
        base: String,
        client_id: String,
        client_secret: String,
        redirect_uri: String,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("paybridge/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Cafe24Api { base, client_id, client_secret, redirect_uri, http })
    }

    fn url(&self, mall_id: &str, path: &str) -> String {
        format!("{}{path}", self.base.replace("{mall_id}", mall_id).trim_end_matches('/'))
    }

    /// Where the merchant grants the app access (the launch redirects here).
    pub fn authorize_url(&self, mall_id: &str, state: &str) -> Url {
        let mut url = Url::parse(&self.url(mall_id, "/api/v2/oauth/authorize")).expect("the base is a URL");
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("state", state)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("scope", SCOPES);
        url
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, Cafe24ApiError> {
        let response = request.send().await.map_err(|e| {
            Cafe24ApiError::Unavailable(if e.is_timeout() { "timed out".into() } else { e.without_url().to_string() })
        })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| Cafe24ApiError::Unavailable(e.without_url().to_string()))?;
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(Cafe24ApiError::Unauthorized);
        }
        let parsed: Option<Value> = serde_json::from_slice(&body).ok();
        if status.is_success() {
            return parsed.ok_or_else(|| Cafe24ApiError::Protocol("not JSON".into()));
        }
        // Cafe24 errors look like {"error":{"code":…,"message":…}}.
        let message = parsed
            .as_ref()
            .and_then(|v| v["error"]["message"].as_str().or(v["error_description"].as_str()).map(str::to_owned))
            .unwrap_or_else(|| format!("HTTP {status}"));
        if status.is_server_error() {
            Err(Cafe24ApiError::Unavailable(message))
        } else {
            Err(Cafe24ApiError::Rejected { status: status.as_u16(), message })
        }
    }

    async fn token_request(&self, mall_id: &str, form: &[(&str, &str)]) -> Result<TokenSet, Cafe24ApiError> {
        let request = self
            .http
            .post(self.url(mall_id, "/api/v2/oauth/token"))
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(form);
        let body = match self.send(request).await {
            // For the token endpoint a 401 means the client or the grant was refused.
            Err(Cafe24ApiError::Unauthorized) => {
                return Err(Cafe24ApiError::Rejected { status: 401, message: "the grant was refused".into() })
            }
            other => other?,
        };
        let text = |name: &str| body[name].as_str().map(str::to_owned);
        let now = crate::store::now_ms();
        let expires_at = match (body["expires_in"].as_i64(), text("expires_at")) {
            (Some(secs), _) => now + secs * 1000,
            (None, Some(at)) => parse_cafe24_time(&at)
                .ok_or_else(|| Cafe24ApiError::Protocol(format!("expires_at {at:?} is not a time")))?,
            (None, None) => return Err(Cafe24ApiError::Protocol("the token has no expiry".into())),
        };
        Ok(TokenSet {
            access_token: text("access_token").ok_or_else(|| Cafe24ApiError::Protocol("no access_token".into()))?,
            refresh_token: text("refresh_token").ok_or_else(|| Cafe24ApiError::Protocol("no refresh_token".into()))?,
            expires_at,
            refresh_token_expires_at: text("refresh_token_expires_at").and_then(|t| parse_cafe24_time(&t)),
            scopes: body["scopes"]
                .as_array()
                .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
        })
    }

    pub async fn exchange_code(&self, mall_id: &str, code: &str) -> Result<TokenSet, Cafe24ApiError> {
        self.token_request(
            mall_id,
            &[("grant_type", "authorization_code"), ("code", code), ("redirect_uri", &self.redirect_uri)],
        )
        .await
    }

    pub async fn refresh(&self, mall_id: &str, refresh_token: &str) -> Result<TokenSet, Cafe24ApiError> {
        self.token_request(mall_id, &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await
    }

    pub async fn revoke(&self, mall_id: &str, token: &str) -> Result<(), Cafe24ApiError> {
        let request = self
            .http
            .post(self.url(mall_id, "/api/v2/oauth/revoke"))
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(&[("token", token)]);
        self.send(request).await.map(|_| ())
    }

    fn admin(&self, method: reqwest::Method, mall_id: &str, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(mall_id, &format!("/api/v2/admin{path}")))
            .bearer_auth(token)
            .header("X-Cafe24-Api-Version", API_VERSION)
    }

    pub async fn shops(&self, mall_id: &str, token: &str) -> Result<Vec<Cafe24Shop>, Cafe24ApiError> {
        let body = self.send(self.admin(reqwest::Method::GET, mall_id, "/shops", token)).await?;
        serde_json::from_value(body["shops"].clone()).map_err(|e| Cafe24ApiError::Protocol(format!("shops: {e}")))
    }

    pub async fn create_payment_gateway(
        &self,
        mall_id: &str,
        token: &str,
        shop_no: i64,
        partner_id: &str,
    ) -> Result<(), Cafe24ApiError> {
        let body = json!({"shop_no": shop_no, "request": {"partner_id": partner_id, "membership_fee_type": "FREE"}});
        self.send(self.admin(reqwest::Method::POST, mall_id, "/paymentgateway", token).json(&body)).await.map(|_| ())
    }

    /// Deletes the app's payment gateway from a shop; already gone counts as done.
    pub async fn delete_payment_gateway(&self, mall_id: &str, token: &str, shop_no: i64) -> Result<(), Cafe24ApiError> {
        let path = format!("/paymentgateway/{}?shop_no={shop_no}", self.client_id);
        ignore_not_found(self.send(self.admin(reqwest::Method::DELETE, mall_id, &path, token)).await)
    }

    /// Registers the storefront script; returns Cafe24's `script_no`.
    pub async fn create_scripttag(
        &self,
        mall_id: &str,
        token: &str,
        shop_no: i64,
        src: &str,
        integrity: &str,
        skins: &[i64],
    ) -> Result<String, Cafe24ApiError> {
        let mut body = json!({"shop_no": shop_no, "request": {
            "src": src,
            "display_location": ["PRODUCT_DETAIL", "ORDER_BASKET"],
            "integrity": integrity,
        }});
        // The shop's PC and mobile skins; when Cafe24 did not say, `skin_no` is left out
        // and Cafe24 applies the script to the shop's skins itself.
        if !skins.is_empty() {
            body["request"]["skin_no"] = json!(skins);
        }
        let answer = self.send(self.admin(reqwest::Method::POST, mall_id, "/scripttags", token).json(&body)).await?;
        match &answer["scripttag"]["script_no"] {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(Cafe24ApiError::Protocol("the scripttag has no script_no".into())),
        }
    }

    pub async fn update_scripttag(
        &self,
        mall_id: &str,
        token: &str,
        shop_no: i64,
        script_no: &str,
        src: &str,
        integrity: &str,
    ) -> Result<(), Cafe24ApiError> {
        let body = json!({"shop_no": shop_no, "request": {"src": src, "integrity": integrity}});
        let path = format!("/scripttags/{script_no}");
        self.send(self.admin(reqwest::Method::PUT, mall_id, &path, token).json(&body)).await.map(|_| ())
    }

    /// Deletes a scripttag; already gone counts as done.
    pub async fn delete_scripttag(
        &self,
        mall_id: &str,
        token: &str,
        shop_no: i64,
        script_no: &str,
    ) -> Result<(), Cafe24ApiError> {
        let path = format!("/scripttags/{script_no}?shop_no={shop_no}");
        ignore_not_found(self.send(self.admin(reqwest::Method::DELETE, mall_id, &path, token)).await)
    }
}

impl Cafe24Api {
    /// Cafe24's calculation of an order's total due (SPEC §4.6, the review page).
    pub async fn calculate_order(
        &self,
        mall_id: &str,
        token: &str,
        shop_no: i64,
        country_code: Option<&str>,
        items: &[CalculationItem],
    ) -> Result<Calculation, Cafe24ApiError> {
        let mut request = json!({"items": items});
        if let Some(country) = country_code {
            request["country_code"] = json!(country);
        }
        let body = json!({"shop_no": shop_no, "request": request});
        let answer =
            self.send(self.admin(reqwest::Method::POST, mall_id, "/orders/calculation", token).json(&body)).await?;
        serde_json::from_value(answer["calculation"].clone())
            .map_err(|e| Cafe24ApiError::Protocol(format!("calculation: {e}")))
    }
}

fn ignore_not_found(result: Result<Value, Cafe24ApiError>) -> Result<(), Cafe24ApiError> {
    match result {
        Ok(_) | Err(Cafe24ApiError::Rejected { status: 404, .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cafe24_times_are_korean_time_unless_they_say_otherwise() {
        assert_eq!(parse_cafe24_time("2026-11-23T09:00:00.000"), Some(1_795_392_000_000));
        assert_eq!(parse_cafe24_time("2026-11-23T09:00:00"), Some(1_795_392_000_000));
        assert_eq!(parse_cafe24_time("2026-11-23T00:00:00Z"), Some(1_795_392_000_000));
        assert_eq!(parse_cafe24_time("yesterday"), None);
    }
}
