//! What a merchant does with a payment the PG has not finished (SPEC §8.3): approve it
//! with the buyer's one-time `authData` (api finalization), capture an authorization
//! (whole or part; the rest is released) or void it, and cancel an intent nobody paid.
//!
//! Each asks the PG first and applies what the PG answered through the one transition
//! writer, so a PG webhook racing the call ends in one transition, and a call resumed
//! after a lost answer asks again: capture and void are idempotent at the PG, and an
//! approval is preceded by asking the PG whether it decided already.

use super::{sync::event_for, Applied, PaymentError, PaymentService};
use crate::{
    domain::{CaptureMethod, FailureReason, Money, Payment, PaymentEvent, PaymentStatus, PendingReason},
    gateway::{GatewayError, GatewayOrder, OrderStatus},
    store::{now_ms, EventRecord, EventSource},
};

impl PaymentService {
    /// Applies what the PG answered about the payment; the payment as it is now.
    async fn apply_order(
        &self,
        payment: &Payment,
        order: GatewayOrder,
        source: &'static str,
    ) -> Result<Payment, PaymentError> {
        if order.reference != payment.id.as_str() || Some(order.tid.as_str()) != payment.tid.as_deref() {
            return Err(PaymentError::Conflict("the payment company's answer does not match this payment".into()));
        }
        let Some(event) = event_for(payment, order.status, order.amount, order.captured) else {
            return Ok(payment.clone());
        };
        let Applied { payment, outcome } = self.apply(&payment.id, event, &EventSource::new(source), None).await?;
        outcome.map_err(PaymentError::Refused)?;
        Ok(payment)
    }

    /// Redeems the buyer's `auth_data` at the PG: the payment is paid (or authorized) or
    /// declined — a decline is a payment in 4, not an error. Bad or used auth data is the
    /// PG's refusal and changes nothing.
    pub async fn finalize_with_auth_data(
        &self,
        payment: &Payment,
        auth_data: &str,
        source: &'static str,
    ) -> Result<Payment, PaymentError> {
        if payment.status != PaymentStatus::Request {
            return Err(PaymentError::Conflict(format!("the payment is already {}", payment.status)));
        }
        let (gateway, credentials, tid) = self.at_gateway(payment).await?;
        // Decided already (the PG's webhook, or an earlier attempt whose answer was lost)?
        let known = gateway.get_order(&credentials, tid).await?;
        if known.status != OrderStatus::Authenticated && known.status != OrderStatus::Open {
            return self.apply_order(payment, known, "gateway").await.map_err(PaymentError::after_change);
        }
        let order = gateway.approve(&credentials, tid, auth_data).await.inspect_err(|e| {
            tracing::info!(payment_id = %payment.id, error = %e, "the PG did not approve with this authData");
        })?;
        // The PG approved (or declined): whatever fails now, the authData is spent.
        self.apply_order(payment, order, source).await.map_err(PaymentError::after_change)
    }

    /// Captures `amount` (all that is authorized by default) of an authorization; the
    /// rest is released.
    pub async fn capture(
        &self,
        payment: &Payment,
        amount: Option<Money>,
        source: &'static str,
    ) -> Result<Payment, PaymentError> {
        let authorized =
            payment.status == PaymentStatus::Pending && payment.pending_reason == Some(PendingReason::Capture);
        if payment.capture_method != CaptureMethod::Manual || !(authorized || payment.status.was_paid()) {
            return Err(PaymentError::NotCapturable(format!(
                "only a manual-capture payment that is authorized (status 5) can be captured; this one is {}",
                payment.status
            )));
        }
        let amount = amount.unwrap_or(payment.amount);
        if amount.currency != payment.amount.currency || amount.minor <= 0 || amount.minor > payment.amount.minor {
            return Err(PaymentError::Invalid(format!(
                "the amount must be between 1 and the {} authorized (minor units)",
                payment.amount
            )));
        }
        if payment.status.was_paid() {
            // Captured already: the same capture again is that capture; another is refused.
            return if payment.captured_minor == amount.minor {
                Ok(payment.clone())
            } else {
                Err(PaymentError::NotCapturable(format!("the payment was captured already ({})", payment.captured())))
            };
        }
        if payment.capture_before.is_some_and(|before| before <= now_ms()) {
            return Err(PaymentError::AuthorizationExpired);
        }
        let (gateway, credentials, tid) = self.at_gateway(payment).await?;
        // Marked before the PG is asked: if its answer is lost, the reconciliation worker
        // finds the capture and asks the PG how it ended (the transition clears the mark).
        self.store.mark_pg_call(&payment.id, Some(now_ms())).await?;
        let order = match gateway.capture(&credentials, tid, amount).await {
            Ok(order) => order,
            Err(e) => {
                return Err(match self.pg_call_failed(payment, e).await {
                    GatewayError::Rejected(m) if m.contains("expired") => PaymentError::AuthorizationExpired,
                    other => other.into(),
                })
            }
        };
        // The PG captured: whatever fails now, the capture was done.
        self.apply_order(payment, order, source).await.map_err(PaymentError::after_change)
    }

    /// Releases an authorization without capturing it (status 5 → 6).
    pub async fn void(
        &self,
        payment: &Payment,
        reason: FailureReason,
        source: &'static str,
    ) -> Result<Payment, PaymentError> {
        if payment.status == PaymentStatus::PendingCancel {
            return Ok(payment.clone());
        }
        if payment.status != PaymentStatus::Pending || payment.pending_reason != Some(PendingReason::Capture) {
            return Err(PaymentError::Conflict(format!(
                "only an authorization (status 5, awaiting capture) can be voided; this payment is {}",
                payment.status
            )));
        }
        let (gateway, credentials, tid) = self.at_gateway(payment).await?;
        // Why it is voided is written down before the PG is asked: its webhook ("voided")
        // may be applied before our own answer is, and must end with the same reason.
        self.record_void_reason(payment, reason, source).await?;
        // From here on the void's reason is in the history: every error is after a change.
        let voided = async {
            let order = match gateway.void(&credentials, tid).await {
                Ok(order) => order,
                Err(e) => return Err(self.pg_call_failed(payment, e).await.into()),
            };
            if order.status != OrderStatus::Voided {
                return self.apply_order(payment, order, "gateway").await;
            }
            let Applied { payment, outcome } =
                self.apply(&payment.id, PaymentEvent::Voided(reason), &EventSource::new(source), None).await?;
            outcome.map_err(PaymentError::Refused)?;
            Ok(payment)
        };
        voided.await.map_err(PaymentError::after_change)
    }

    /// A capture or void the PG did not do: a definite refusal clears the payment's mark
    /// (the PG answered; nothing is left to find out), no answer keeps it for the
    /// reconciliation worker.
    async fn pg_call_failed(&self, payment: &Payment, e: GatewayError) -> GatewayError {
        if matches!(e, GatewayError::Rejected(_) | GatewayError::NotFound(_)) {
            if let Err(unmarked) = self.store.mark_pg_call(&payment.id, None).await {
                tracing::warn!(payment_id = %payment.id, error = %unmarked, "a refused PG call stays marked; the reconciler clears it");
            }
        }
        e
    }

    async fn record_void_reason(
        &self,
        payment: &Payment,
        reason: FailureReason,
        source: &'static str,
    ) -> Result<(), PaymentError> {
        let mut tx = self.store.begin_write().await?;
        let current = self.store.lock_payment(&mut tx, &payment.id).await?;
        if current.status == PaymentStatus::Pending {
            self.store.set_failure_reason(&mut tx, &payment.id, reason).await?;
            // The void is asked of the PG next; its lost answer is the reconciler's.
            self.store.mark_pg_call_in(&mut tx, &payment.id, Some(now_ms())).await?;
            let source = EventSource::new(source);
            let record = EventRecord::note("void.requested", &source, None, Some(reason.as_str()));
            self.store.record_event(&mut tx, &payment.id, record).await?;
        }
        tx.commit().await.map_err(crate::store::StoreError::from)?;
        Ok(())
    }

    /// Ends an intent nobody paid (status 1 → 4 with `reason`: canceled or expired). The
    /// PG's checkout is closed first, so its page takes no payment any more; if the buyer
    /// paid meanwhile the PG says so, that is applied instead, and the cancel is refused.
    /// A card registration asks the PG first and ends as it says; a charge of a saved card
    /// whose answer was lost is asked again (the PG answers the charge it made, or makes it:
    /// the customer asked for it), never failed blind.
    pub async fn fail_intent(
        &self,
        payment: &Payment,
        reason: FailureReason,
        source: &'static str,
    ) -> Result<Payment, PaymentError> {
        if payment.status == PaymentStatus::Request {
            if self.store.registration(&payment.id).await?.is_some() {
                return self.end_registration(payment, reason, source).await;
            }
            if payment.tid.is_none() && self.store.token_charge(&payment.id).await?.is_some() {
                return self.finish_token_charge(payment).await;
            }
        }
        if payment.tid.is_some() && payment.status == PaymentStatus::Request {
            let (gateway, credentials, tid) = self.at_gateway(payment).await?;
            let order = gateway.close_checkout(&credentials, tid).await?;
            // The checkout is closed at the PG: every error from here on is after a change.
            if event_for(payment, order.status, order.amount, order.captured).is_some() {
                let now = self.apply_order(payment, order, "gateway").await.map_err(PaymentError::after_change)?;
                let taken = format!("the payment company took it meanwhile ({})", now.status);
                return Err(PaymentError::Conflict(taken).after_change());
            }
        }
        // A refused transition is written to the history (and, above, the PG may have
        // closed the checkout): this error too is after a change.
        let Applied { payment, outcome } =
            self.apply(&payment.id, PaymentEvent::Failed(reason), &EventSource::new(source), None).await?;
        outcome.map_err(|r| PaymentError::Refused(r).after_change())?;
        Ok(payment)
    }
}
