//! Payments with a saved card (SPEC §8.3 token payments): the PG charges at once.
//!
//! Here the order is **the payment first, then the PG**: the PG takes the money in the
//! call itself, so the payment is stored in 1 before it is asked (a lost answer leaves a
//! payment to finish, never money taken without a record), then charged under the
//! payment's id as its reference (the PG charges at most once per reference), and what the
//! PG answered — paid (2), authorized for a manual capture (5), declined (4) — is applied
//! with the PG's transaction id in one transaction. Asking again is charging again under
//! the same reference: the PG answers the charge it made.

use super::{sync::event_for, PaymentError, PaymentService};
use crate::{
    domain::{
        CaptureMethod, CardToken, Channel, FailureReason, Initiator, MallId, Money, OrderId, Payment, PaymentEvent,
        PaymentId, PaymentStatus,
    },
    gateway::{GatewayError, TokenCharge as GatewayCharge},
    store::{ChannelData, EventRecord, EventSource, Inserted, NewPayment, StoreError, TokenCharge},
};

pub struct ChargeToken {
    /// The payment's id, chosen by the caller before anything is asked (kept with its
    /// idempotency key: the same request again finishes this payment).
    pub id: PaymentId,
    pub mall_id: MallId,
    pub channel: Channel,
    pub order_id: OrderId,
    pub amount: Money,
    pub capture: CaptureMethod,
    pub token: CardToken,
    pub initiator: Initiator,
    /// The customer's PIN verification token, used up with the payment's creation (only
    /// when the channel requires one).
    pub pin_verification: Option<String>,
    pub description: Option<String>,
    /// A payment whose PG answer was lost is finished by the maintenance worker then.
    pub expires_at: Option<i64>,
    pub channel_data: ChannelData,
    pub source: &'static str,
}

#[derive(Debug)]
pub enum Charged {
    /// The payment as the PG's answer left it (2, 5 or 4).
    Done(Payment),
    /// The merchant has another payment for this order: nothing was charged.
    OrderTaken(Payment),
    /// The PIN verification token is not the customer's, used or expired: nothing was
    /// stored or charged.
    VerificationRefused,
}

impl PaymentService {
    pub async fn charge_token(&self, request: ChargeToken) -> Result<Charged, PaymentError> {
        if let Some(existing) = self.store.payment(&request.id).await? {
            // The first attempt under this id stored it: finish it.
            return Ok(Charged::Done(self.finish_token_charge(&existing).await?));
        }
        if let Some(other) = self.store.payment_by_order(&request.mall_id, &request.order_id).await? {
            return Ok(Charged::OrderTaken(other));
        }
        let token = &request.token;
        if token.deleted_at.is_some() || token.mall_id != request.mall_id {
            return Err(PaymentError::NotFound(format!("no token {}", token.id)));
        }
        if !request.initiator.may_use(token.usage) {
            return Err(PaymentError::Invalid(format!(
                "a {} card cannot be charged by the merchant without the customer",
                token.usage.as_str()
            )));
        }
        let credentials = self.credentials(&request.mall_id).await?;
        let gateway = self.gateway(&credentials.gateway)?;
        let caps = gateway.capabilities();
        if !caps.saved_cards {
            return Err(PaymentError::Unsupported(format!("payment company {} keeps no cards", credentials.gateway)));
        }
        if request.capture == CaptureMethod::Manual && !caps.manual_capture {
            return Err(PaymentError::Unsupported(format!(
                "payment company {} has no manual capture",
                credentials.gateway
            )));
        }
        if credentials.gateway != token.gateway {
            return Err(PaymentError::Conflict(format!(
                "the card is kept by payment company {}, but the merchant is linked to {}",
                token.gateway, credentials.gateway
            )));
        }
        let new = NewPayment {
            id: request.id.clone(),
            mall_id: request.mall_id,
            channel: request.channel,
            order_id: request.order_id,
            amount: request.amount,
            capture_method: request.capture,
            gateway: credentials.gateway.clone(),
            description: request.description,
            expires_at: request.expires_at,
        };
        let charge = TokenCharge { token_id: token.id.clone(), initiator: request.initiator };
        let source = EventSource::new(request.source);
        let inserted = self
            .store
            .create_token_payment(
                &new,
                &request.channel_data,
                &charge,
                &token.customer_id,
                request.pin_verification.as_deref(),
                &source,
            )
            .await?;
        let payment = match inserted {
            Some(Inserted::Created(p)) => p,
            // Two requests for one order raced: the other one's.
            Some(Inserted::Existing(p)) if p.id != request.id => return Ok(Charged::OrderTaken(p)),
            Some(Inserted::Existing(p)) => p,
            None => return Ok(Charged::VerificationRefused),
        };
        Ok(Charged::Done(self.finish_token_charge(&payment).await?))
    }

    /// Charges the payment's card at the PG (again: the same reference answers the same
    /// charge) and applies the answer. A payment that is no longer in 1 is answered as it
    /// is. The PG unavailable leaves it in 1 (the error says so); the PG refusing the charge
    /// (an unknown card, …) took nothing: the payment fails, `declined`.
    pub async fn finish_token_charge(&self, payment: &Payment) -> Result<Payment, PaymentError> {
        if payment.status != PaymentStatus::Request {
            return Ok(payment.clone());
        }
        if payment.tid.is_some() {
            return self.sync_with_gateway(payment).await;
        }
        let charge = self
            .store
            .token_charge(&payment.id)
            .await?
            .ok_or_else(|| PaymentError::NotFound(format!("payment {} charges no saved card", payment.id)))?;
        let credentials = self.credentials(&payment.mall_id).await?;
        let gateway = self.gateway(&payment.gateway)?;
        let reference = self.store.card_reference(&self.keys, &charge.token_id).await?;
        let asked = GatewayCharge {
            reference: payment.id.to_string(),
            amount: payment.amount,
            capture: payment.capture_method,
            merchant_initiated: charge.initiator == Initiator::Merchant,
            description: payment.description.clone(),
        };
        let order = match gateway.charge_token(&credentials, &reference, &asked).await {
            Ok(order) => order,
            Err(GatewayError::Rejected(message) | GatewayError::NotFound(message)) => {
                tracing::info!(payment_id = %payment.id, %message, "the PG refused to charge the saved card");
                let event = PaymentEvent::Failed(FailureReason::Declined);
                let applied = self.apply(&payment.id, event, &EventSource::new("gateway"), Some(&message)).await?;
                return Ok(applied.payment);
            }
            Err(e) => {
                tracing::warn!(payment_id = %payment.id, error = %e, "the PG's answer to a token charge is unknown");
                return Err(e.into());
            }
        };
        if order.reference != payment.id.as_str() {
            tracing::error!(payment_id = %payment.id, "the PG's charge belongs to another payment");
            return Err(PaymentError::Conflict("the payment company's answer does not match this payment".into()));
        }
        // The PG charged (or declined): from here on every error is after a change.
        self.apply_charge(payment, &order).await.map_err(PaymentError::after_change)
    }

    /// The PG's transaction id and the transition its answer means, in one transaction.
    async fn apply_charge(
        &self,
        payment: &Payment,
        order: &crate::gateway::GatewayOrder,
    ) -> Result<Payment, PaymentError> {
        let mut tx = self.store.begin_write().await?;
        let current = self.store.lock_payment(&mut tx, &payment.id).await?;
        if current.status != PaymentStatus::Request {
            tx.commit().await.map_err(StoreError::from)?;
            return Ok(current);
        }
        self.store.set_tid(&mut tx, &payment.id, &order.tid).await?;
        let current = Payment { tid: Some(order.tid.clone()), ..current };
        let Some(event) = event_for(&current, order.status, order.amount, order.captured) else {
            tx.commit().await.map_err(StoreError::from)?;
            return Ok(self.store.reload(&payment.id).await?);
        };
        let source = EventSource::new("gateway");
        let done = self.transition_in(&mut tx, current, event, &source, None).await?;
        if let Err(refusal) = &done.outcome {
            tracing::error!(payment_id = %payment.id, %refusal, "the PG's charge cannot be applied");
            let detail = format!("{}: {refusal}", event.kind());
            let record = EventRecord {
                kind: "transition.refused",
                from_status: Some(done.payment.status),
                to_status: None,
                amount_minor: None,
                source: &source,
                detail: Some(&detail),
            };
            self.store.record_event(&mut tx, &payment.id, record).await?;
        }
        self.commit(tx, done.enqueued).await?;
        self.count(done.counted);
        done.outcome.map_err(PaymentError::Refused)?;
        Ok(self.store.reload(&payment.id).await?)
    }
}
