//! A small client over the Stripe endpoints the connector needs: form-encoded bodies,
//! the merchant's secret key as a Bearer token, a pinned `Stripe-Version`, an
//! `Idempotency-Key` on every POST, and Stripe's error object turned into ours.

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use super::transformers::{ErrorBody, ErrorObject, Params};
use crate::gateway::GatewayError;

/// The API version every request is made under. Stripe answers in the shapes of this
/// version whatever the account's default is; the contract tests check our requests
/// against the typed parameters of the official SDK made for this version.
pub const STRIPE_VERSION: &str = "2026-10-28.endive";

/// A Stripe call that did not give us the object.
#[derive(Debug)]
pub struct Failure {
    pub error: GatewayError,
    /// Stripe's error object, when it answered with one.
    pub stripe: Option<ErrorObject>,
    /// The HTTP status, when Stripe answered.
    pub status: Option<u16>,
}

impl Failure {
    fn new(error: GatewayError) -> Self {
        Failure { error, stripe: None, status: None }
    }

    /// Stripe's `code` (`resource_missing`, `payment_intent_unexpected_state`, …).
    pub fn code(&self) -> Option<&str> {
        self.stripe.as_ref().and_then(|e| e.code.as_deref())
    }

    /// A card declined (or needing the buyer): Stripe's `card_error`, HTTP 402.
    pub fn is_card_error(&self) -> bool {
        self.status == Some(402) || self.stripe.as_ref().and_then(|e| e.kind.as_deref()) == Some("card_error")
    }
}

impl From<Failure> for GatewayError {
    fn from(f: Failure) -> Self {
        f.error
    }
}

#[derive(Clone)]
pub struct Client {
    base: Url,
    http: reqwest::Client,
}

impl Client {
    pub fn new(base: Url, http: reqwest::Client) -> Self {
        Client { base, http }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.as_str().trim_end_matches('/'))
    }

    pub async fn get<T: DeserializeOwned>(&self, key: &str, path: &str, query: &Params) -> Result<T, Failure> {
        let request = self.http.request(Method::GET, self.url(path)).query(query);
        self.send(key, request).await
    }

    /// A POST under `idempotency_key`: Stripe performs it at most once per key (for 24
    /// hours) and answers a repeat with the first answer, so a call resumed after a lost
    /// answer does not do it twice.
    pub async fn post<T: DeserializeOwned>(
        &self,
        key: &str,
        path: &str,
        idempotency_key: &str,
        params: &Params,
    ) -> Result<T, Failure> {
        let request = self.http.post(self.url(path)).header("Idempotency-Key", idempotency_key).form(params);
        self.send(key, request).await
    }

    async fn send<T: DeserializeOwned>(&self, key: &str, request: reqwest::RequestBuilder) -> Result<T, Failure> {
        let response = request
            .bearer_auth(key)
            .header("Stripe-Version", STRIPE_VERSION)
            .send()
            .await
            .map_err(|e| Failure::new(GatewayError::Unavailable(transport(e))))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| Failure::new(GatewayError::Unavailable(transport(e))))?;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|e| Failure::new(GatewayError::Protocol(format!("Stripe's answer: {e}"))));
        }
        let stripe = serde_json::from_slice::<ErrorBody>(&body).ok().map(|b| b.error);
        Err(Failure { error: classify(status, stripe.as_ref()), stripe, status: Some(status.as_u16()) })
    }
}

/// Stripe's answer to a failed call, as ours: what a later try may fix (5xx, 429, a
/// concurrent request under the same idempotency key) is `Unavailable`, so the operation
/// stays as it was and can be resumed; Stripe's "no" is `Rejected`.
fn classify(status: StatusCode, error: Option<&ErrorObject>) -> GatewayError {
    let message = error.and_then(|e| e.message.clone()).unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
    match status.as_u16() {
        // Stripe masks the key in its message, but say it our way: never echo a key.
        401 => GatewayError::Rejected("Stripe refused the secret key (wrong or revoked)".into()),
        403 => GatewayError::Rejected(format!("the key may not do this: {message}")),
        409 | 429 => GatewayError::Unavailable(format!("Stripe asks to try again: {message}")),
        400..=499 => GatewayError::Rejected(message),
        _ => GatewayError::Unavailable(message),
    }
}

fn transport(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "Stripe did not answer in time".into()
    } else if e.is_connect() {
        "could not connect to Stripe".into()
    } else {
        e.without_url().to_string()
    }
}
