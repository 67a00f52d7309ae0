//! Asking the PG for the truth about a payment and applying it: after the buyer's
//! return (whose parameters are never believed), and for a webhook that carries no
//! signature. The PG's status maps to an event; "open" changes nothing.

use super::{Applied, PaymentError, PaymentService};
use crate::{
    domain::{CaptureMethod, FailureReason, Money, Payment, PaymentEvent},
    gateway::{GatewayOrder, OrderStatus},
    store::EventSource,
};

/// The event a PG's order status means for `payment`; `None` while the PG has not
/// decided (or waits for the merchant's approval). Paid means captured for a manual
/// capture (at most the authorized amount), the whole amount otherwise.
pub(super) fn event_for(
    payment: &Payment,
    status: OrderStatus,
    amount: Money,
    captured: Option<Money>,
) -> Option<PaymentEvent> {
    let taken = captured.unwrap_or(amount);
    match status {
        OrderStatus::Paid if payment.capture_method == CaptureMethod::Manual => {
            Some(PaymentEvent::Captured { amount: taken })
        }
        OrderStatus::Paid => Some(PaymentEvent::Completed { paid: taken }),
        OrderStatus::Authorized => Some(PaymentEvent::Authorized { amount }),
        OrderStatus::AwaitingDeposit => Some(PaymentEvent::AwaitingDeposit),
        OrderStatus::Declined => Some(PaymentEvent::Failed(FailureReason::Declined)),
        OrderStatus::Abandoned => Some(PaymentEvent::Failed(FailureReason::AbandonedByBuyer)),
        // Why is ours to say (written down before we asked the PG to void); a void we did
        // not ask for is the merchant's cancel at the PG.
        OrderStatus::Voided => Some(PaymentEvent::Voided(payment.failure_reason.unwrap_or(FailureReason::Canceled))),
        OrderStatus::AuthorizationExpired => Some(PaymentEvent::Voided(FailureReason::AuthorizationExpired)),
        OrderStatus::Open | OrderStatus::Authenticated => None,
    }
}

impl PaymentService {
    /// The PG's record of the payment's checkout.
    pub async fn gateway_order(&self, payment: &Payment) -> Result<GatewayOrder, PaymentError> {
        let (gateway, credentials, tid) = self.at_gateway(payment).await?;
        let order = gateway.get_order(&credentials, tid).await?;
        if order.reference != payment.id.as_str() || order.tid != tid {
            tracing::error!(payment_id = %payment.id, tid, "the PG's order belongs to another payment");
            return Err(PaymentError::Conflict("the payment company's answer does not match this payment".into()));
        }
        Ok(order)
    }

    /// Asks the PG about `payment` and applies what it says. A refused transition (the PG
    /// reports another amount) is recorded and the payment returned as it is. An error is
    /// the caller's to log (once), with what it was doing.
    pub async fn sync_with_gateway(&self, payment: &Payment) -> Result<Payment, PaymentError> {
        let order = self.gateway_order(payment).await?;
        let Some(event) = event_for(payment, order.status, order.amount, order.captured) else {
            return Ok(payment.clone());
        };
        let Applied { payment, .. } = self.apply(&payment.id, event, &EventSource::new("gateway"), None).await?;
        Ok(payment)
    }

    /// The buyer gave up on the payment (the review page's Cancel).
    pub async fn abandon(&self, payment: &Payment) -> Result<Payment, PaymentError> {
        let event = PaymentEvent::Failed(FailureReason::AbandonedByBuyer);
        let applied = self.apply(&payment.id, event, &EventSource::new("buyer"), None).await?;
        if let Err(refusal) = &applied.outcome {
            tracing::info!(payment_id = %payment.id, %refusal, "the buyer's cancel came too late");
        }
        Ok(applied.payment)
    }
}
