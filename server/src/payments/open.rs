//! Opening a payment at the PG.
//!
//! One ordering, for every channel: **the PG first, then one transaction here.** A new
//! payment id is made, the PG is asked for a checkout under it (the PG opens at most one
//! per reference), and only then are the payment, its checkout, its channel's data and
//! its first history entries stored together. So a PG that refuses leaves nothing
//! behind, and a PG answer that is lost (a timeout, a crash before the commit) leaves at
//! worst an open checkout at the PG that no buyer was sent to: the same request again
//! opens a fresh one. Two identical requests racing both reach the PG; the first to
//! commit wins and the other is handed the winner.

use url::Url;

use super::{PaymentError, PaymentService};
use crate::{
    domain::{CaptureMethod, Channel, MallId, Money, OrderId, Payment, PaymentId},
    gateway::{CheckoutMode, CheckoutRequest, Finalization},
    store::{ChannelData, EventSource, Inserted, NewPayment, OpenedCheckout},
};

pub struct OpenCheckout {
    /// The payment's id when the caller chose it already (a request resumed under its
    /// idempotency key asks the PG under the same reference); a new one otherwise.
    pub id: Option<PaymentId>,
    pub mall_id: MallId,
    pub channel: Channel,
    pub order_id: OrderId,
    pub amount: Money,
    pub description: Option<String>,
    pub mode: CheckoutMode,
    /// Offer bank transfer (the payment then waits in 5 for the money).
    pub allow_deposit: bool,
    pub capture: CaptureMethod,
    pub finalization: Finalization,
    /// An intent not finalized by then fails (unix ms); none for Cafe24's payments.
    pub expires_at: Option<i64>,
    /// Where the PG sends the buyer back (the channel's callback).
    pub callback_url: Url,
    /// Whether the PG reports by webhook too (`/pg/{gateway}/webhook`).
    pub pg_webhooks: bool,
    pub channel_data: ChannelData,
    /// The name the buyer knows the merchant by, when the channel has it at hand (a
    /// Cafe24 shop's, empty when Cafe24 has not told it); `None`: the core takes the
    /// merchant's first shop's.
    pub merchant_name: Option<String>,
    /// Who asks (`cafe24`, `store_api`), for the history.
    pub source: &'static str,
}

#[derive(Debug)]
pub enum Opened {
    Created(Payment),
    /// The merchant already has a payment for this order; nothing was opened (or, when
    /// two raced, the one opened here is left unused at the PG). The channel decides
    /// whether it is the same request.
    Existing(Payment),
}

impl PaymentService {
    /// The shop the buyer pays, by its name: the one the channel names (a Cafe24
    /// payment's own shop), else the merchant's first. None when unknown: the PG's page
    /// then names the merchant as the PG knows it.
    async fn merchant_name(&self, request: &OpenCheckout) -> Option<String> {
        if let Some(name) = &request.merchant_name {
            return Some(name.clone()).filter(|n| !n.is_empty());
        }
        self.store.shop_name(request.mall_id.as_str()).await.unwrap_or_else(|e| {
            tracing::warn!(mall_id = %request.mall_id, error = %e, "could not read the merchant's shop name");
            None
        })
    }

    pub async fn open_checkout(&self, request: OpenCheckout) -> Result<Opened, PaymentError> {
        if let Some(existing) = self.store.payment_by_order(&request.mall_id, &request.order_id).await? {
            return Ok(Opened::Existing(existing));
        }
        let credentials = self.credentials(&request.mall_id).await?;
        let gateway = self.gateway(&credentials.gateway)?;
        // What the connector declares it cannot do is refused here, clearly.
        let caps = gateway.capabilities();
        let unsupported =
            |what: &str| PaymentError::Unsupported(format!("payment company {} has no {what}", credentials.gateway));
        if request.capture == CaptureMethod::Manual && !caps.manual_capture {
            return Err(unsupported("manual capture"));
        }
        if request.finalization == Finalization::Api && !caps.api_finalization {
            return Err(unsupported("finalization by API"));
        }
        if request.mode == CheckoutMode::Review && !caps.review_checkout {
            return Err(unsupported("review-page checkout"));
        }
        let id = request.id.clone().unwrap_or_else(PaymentId::generate);
        let asked = CheckoutRequest {
            reference: id.to_string(),
            amount: request.amount,
            description: request.description.clone(),
            merchant_name: self.merchant_name(&request).await,
            callback_url: request.callback_url.clone(),
            webhook_url: request.pg_webhooks.then(|| self.webhook_url(&credentials.gateway)),
            mode: request.mode,
            allow_deposit: request.allow_deposit,
            capture: request.capture,
            finalization: request.finalization,
        };
        let checkout = gateway.create_checkout(&credentials, &asked).await.inspect_err(|e| {
            tracing::warn!(payment_id = %id, error = %e, "the PG did not open the checkout; nothing was stored");
        })?;
        let new = NewPayment {
            id,
            mall_id: request.mall_id,
            channel: request.channel,
            order_id: request.order_id,
            amount: request.amount,
            capture_method: request.capture,
            gateway: credentials.gateway.clone(),
            description: request.description,
            expires_at: request.expires_at,
        };
        let opened = OpenedCheckout { tid: checkout.tid, checkout_url: checkout.payment_url };
        let source = EventSource::new(request.source);
        Ok(match self.store.create_payment(&new, &opened, &request.channel_data, &source).await? {
            Inserted::Created(p) => Opened::Created(p),
            Inserted::Existing(p) => Opened::Existing(p),
        })
    }
}
