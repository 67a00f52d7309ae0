//! A connector with every call to its PG counted and timed (by connector, operation and
//! outcome), around the connector as it is.

use std::{future::Future, sync::Arc, time::Instant};

use super::{GatewayOutcome, Metrics};
use crate::{
    domain::{MerchantCredentials, Money},
    gateway::*,
};

/// Every connector of `gateways` with its calls counted and timed in `metrics`.
pub fn measured(gateways: Gateways, metrics: &Metrics) -> Gateways {
    gateways.wrap(|connector, inner| Arc::new(Measured { connector, inner, metrics: metrics.clone() }))
}

pub struct Measured {
    pub connector: &'static str,
    pub inner: Arc<dyn PaymentGateway>,
    pub metrics: Metrics,
}

impl Measured {
    async fn timed<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, GatewayError>>,
    ) -> Result<T, GatewayError> {
        let started = Instant::now();
        let result = call.await;
        self.metrics.gateway_call(self.connector, operation, GatewayOutcome::of(&result), started.elapsed());
        result
    }
}

#[async_trait::async_trait]
impl PaymentGateway for Measured {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn verify_credentials(&self, creds: &MerchantCredentials) -> Result<MerchantProfile, GatewayError> {
        self.timed("verify_credentials", self.inner.verify_credentials(creds)).await
    }

    async fn create_checkout(
        &self,
        creds: &MerchantCredentials,
        request: &CheckoutRequest,
    ) -> Result<Checkout, GatewayError> {
        self.timed("create_checkout", self.inner.create_checkout(creds, request)).await
    }

    async fn get_order(&self, creds: &MerchantCredentials, tid: &str) -> Result<GatewayOrder, GatewayError> {
        self.timed("get_order", self.inner.get_order(creds, tid)).await
    }

    async fn refund(
        &self,
        creds: &MerchantCredentials,
        tid: &str,
        request: &RefundRequest,
    ) -> Result<GatewayRefund, GatewayError> {
        self.timed("refund", self.inner.refund(creds, tid, request)).await
    }

    async fn get_refund(
        &self,
        creds: &MerchantCredentials,
        tid: &str,
        reference: &str,
    ) -> Result<GatewayRefundRecord, GatewayError> {
        self.timed("get_refund", self.inner.get_refund(creds, tid, reference)).await
    }

    async fn pay(&self, creds: &MerchantCredentials, tid: &str, amount: Money) -> Result<String, GatewayError> {
        self.timed("pay", self.inner.pay(creds, tid, amount)).await
    }

    async fn approve(
        &self,
        creds: &MerchantCredentials,
        tid: &str,
        auth_data: &str,
    ) -> Result<GatewayOrder, GatewayError> {
        self.timed("approve", self.inner.approve(creds, tid, auth_data)).await
    }

    async fn capture(
        &self,
        creds: &MerchantCredentials,
        tid: &str,
        amount: Money,
    ) -> Result<GatewayOrder, GatewayError> {
        self.timed("capture", self.inner.capture(creds, tid, amount)).await
    }

    async fn void(&self, creds: &MerchantCredentials, tid: &str) -> Result<GatewayOrder, GatewayError> {
        self.timed("void", self.inner.void(creds, tid)).await
    }

    async fn close_checkout(&self, creds: &MerchantCredentials, tid: &str) -> Result<GatewayOrder, GatewayError> {
        self.timed("close_checkout", self.inner.close_checkout(creds, tid)).await
    }

    async fn create_registration(
        &self,
        creds: &MerchantCredentials,
        request: &RegistrationRequest,
    ) -> Result<Registration, GatewayError> {
        self.timed("create_registration", self.inner.create_registration(creds, request)).await
    }

    async fn get_registration(
        &self,
        creds: &MerchantCredentials,
        tid: &str,
    ) -> Result<GatewayRegistration, GatewayError> {
        self.timed("get_registration", self.inner.get_registration(creds, tid)).await
    }

    async fn charge_token(
        &self,
        creds: &MerchantCredentials,
        token: &str,
        charge: &TokenCharge,
    ) -> Result<GatewayOrder, GatewayError> {
        self.timed("charge_token", self.inner.charge_token(creds, token, charge)).await
    }

    async fn delete_token(&self, creds: &MerchantCredentials, token: &str) -> Result<(), GatewayError> {
        self.timed("delete_token", self.inner.delete_token(creds, token)).await
    }

    fn webhook_subject(&self, body: &[u8]) -> Option<WebhookSubject> {
        self.inner.webhook_subject(body)
    }

    fn verify_webhook(
        &self,
        creds: &MerchantCredentials,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<Option<WebhookEvent>, WebhookError> {
        self.inner.verify_webhook(creds, headers, body)
    }
}
