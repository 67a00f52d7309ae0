//! Connector for the sandbox PG (SPEC §6), spoken to over HTTP like any real PG.
//! Merchant credentials travel as HTTP Basic authentication.

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use url::Url;

use super::{
    Capabilities, Checkout, CheckoutMode, CheckoutRequest, GatewayError, GatewayOrder,
    GatewayRefund, MerchantProfile, OrderStatus, PaymentGateway, RefundRequest, RefundStatus,
};
use crate::domain::{Currency, MerchantCredentials, Money};

pub const GATEWAY_ID: &str = "sandbox";

pub struct SandboxGateway {
    base: Url,
    http: reqwest::Client,
}

impl SandboxGateway {
    /// `base` is the sandbox PG's root, e.g. `http://127.0.0.1:3000/sandbox-pg`.
    pub fn new(base: Url, http: reqwest::Client) -> Self {
        SandboxGateway { base, http }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.as_str().trim_end_matches('/'))
    }

    async fn send<T: DeserializeOwned>(
        &self,
        creds: &MerchantCredentials,
        request: reqwest::RequestBuilder,
    ) -> Result<T, GatewayError> {
        let response = request
            .basic_auth(&creds.public_key, Some(&creds.secret_key))
            .send()
            .await
            .map_err(|e| GatewayError::Unavailable(without_url(e)))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| GatewayError::Unavailable(without_url(e)))?;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|e| GatewayError::Protocol(e.to_string()));
        }
        let message = serde_json::from_slice::<ErrorBody>(&body)
            .map(|b| b.error.message)
            .unwrap_or_else(|_| format!("HTTP {status}"));
        if status.is_client_error() {
            Err(GatewayError::Rejected(message))
        } else {
            Err(GatewayError::Unavailable(message))
        }
    }
}

/// reqwest's errors include the URL; ours never carry credentials in URLs, but keep
/// the messages short and uniform.
fn without_url(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        e.without_url().to_string()
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    message: String,
}

#[derive(Deserialize)]
struct MerchantBody {
    currencies: Vec<String>,
}

#[derive(Serialize)]
struct CheckoutBody<'a> {
    reference: &'a str,
    amount: i64,
    currency: &'a str,
    description: Option<&'a str>,
    callback_url: &'a str,
    webhook_url: Option<&'a str>,
    mode: &'a str,
    allow_deposit: bool,
}

#[derive(Deserialize)]
struct CheckoutAnswer {
    order_code: String,
    checkout_url: String,
}

#[derive(Deserialize)]
struct OrderBody {
    order_code: String,
    reference: String,
    status: String,
    amount: i64,
    currency: String,
}

#[derive(Serialize)]
struct RefundBody<'a> {
    reference: &'a str,
    amount: i64,
    currency: &'a str,
}

#[derive(Deserialize)]
struct RefundAnswer {
    refund_code: String,
    status: String,
    message: Option<String>,
}

#[async_trait::async_trait]
impl PaymentGateway for SandboxGateway {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            all_cancel: true,
            partial_cancel: true,
            escrow: false,
        }
    }

    async fn verify_credentials(
        &self,
        creds: &MerchantCredentials,
    ) -> Result<MerchantProfile, GatewayError> {
        let body: MerchantBody = self
            .send(creds, self.http.get(self.url("/v1/merchant")))
            .await?;
        Ok(MerchantProfile {
            currencies: body
                .currencies
                .iter()
                .filter_map(|c| c.parse::<Currency>().ok())
                .collect(),
        })
    }

    async fn create_checkout(
        &self,
        creds: &MerchantCredentials,
        request: &CheckoutRequest,
    ) -> Result<Checkout, GatewayError> {
        let body = CheckoutBody {
            reference: &request.reference,
            amount: request.amount.minor,
            currency: request.amount.currency.code(),
            description: request.description.as_deref(),
            callback_url: request.callback_url.as_str(),
            webhook_url: request.webhook_url.as_ref().map(Url::as_str),
            mode: match request.mode {
                CheckoutMode::Redirect => "redirect",
                CheckoutMode::Review => "review",
            },
            allow_deposit: request.allow_deposit,
        };
        let answer: CheckoutAnswer = self
            .send(creds, self.http.post(self.url("/v1/checkouts")).json(&body))
            .await?;
        Ok(Checkout {
            tid: answer.order_code,
            payment_url: answer.checkout_url,
        })
    }

    async fn get_order(
        &self,
        creds: &MerchantCredentials,
        tid: &str,
    ) -> Result<GatewayOrder, GatewayError> {
        let path = format!("/v1/orders/{}", urlencode(tid));
        let body: OrderBody = self.send(creds, self.http.get(self.url(&path))).await?;
        let currency: Currency = body
            .currency
            .parse()
            .map_err(|_| GatewayError::Protocol(format!("currency {:?}", body.currency)))?;
        let status = match body.status.as_str() {
            "paid" => OrderStatus::Paid,
            "awaiting_deposit" => OrderStatus::AwaitingDeposit,
            "declined" => OrderStatus::Declined,
            "cancelled" => OrderStatus::Abandoned,
            _ => OrderStatus::Open,
        };
        Ok(GatewayOrder {
            tid: body.order_code,
            reference: body.reference,
            status,
            amount: Money::new(body.amount, currency),
        })
    }

    async fn refund(
        &self,
        creds: &MerchantCredentials,
        tid: &str,
        request: &RefundRequest,
    ) -> Result<GatewayRefund, GatewayError> {
        let path = format!("/v1/orders/{}/refunds", urlencode(tid));
        let body = RefundBody {
            reference: &request.reference,
            amount: request.amount.minor,
            currency: request.amount.currency.code(),
        };
        let answer: RefundAnswer = self
            .send(creds, self.http.post(self.url(&path)).json(&body))
            .await?;
        let status = match answer.status.as_str() {
            "refunded" => RefundStatus::Refunded,
            "pending" => RefundStatus::Pending,
            "refused" => {
                RefundStatus::Refused(answer.message.unwrap_or_else(|| "refund refused".into()))
            }
            other => return Err(GatewayError::Protocol(format!("refund status {other:?}"))),
        };
        Ok(GatewayRefund {
            id: answer.refund_code,
            status,
        })
    }
}

fn urlencode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}
