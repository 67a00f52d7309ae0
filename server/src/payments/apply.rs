//! The one place a payment's status changes: under the payment's lock the domain
//! decides, and the new state, its history entry and the notifications it causes are
//! written in the same transaction.

use super::{Change, PaymentError, PaymentService};
use crate::{
    domain::{Channel, Outcome, Payment, PaymentEvent, PaymentId, PaymentStatus, PendingReason, Refusal},
    store::{now_ms, EventRecord, EventSource, StatusChange, StoreError, Tx},
};

#[derive(Debug)]
pub struct Applied {
    /// The payment as it is now.
    pub payment: Payment,
    pub outcome: Result<Outcome, Refusal>,
}

/// What [`PaymentService::transition_in`] did inside its transaction.
pub(super) struct InTx {
    pub payment: Payment,
    pub outcome: Result<Outcome, Refusal>,
    pub enqueued: bool,
    /// The transition's history entry, when there was a transition.
    pub event_id: Option<String>,
    /// The transition to count once the transaction commits ([`PaymentService::count`]).
    pub counted: Option<Counted>,
}

/// A transition as the metrics count it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Counted {
    channel: Channel,
    from: PaymentStatus,
    to: PaymentStatus,
}

impl PaymentService {
    /// Applies `event` to the payment in its own transaction. An event the PG already
    /// delivered (same event id) is recognised and ignored. A refused event changes
    /// nothing but is kept in the history (and logged) so that an operator sees it.
    pub async fn apply(
        &self,
        payment_id: &PaymentId,
        event: PaymentEvent,
        source: &EventSource,
        detail: Option<&str>,
    ) -> Result<Applied, PaymentError> {
        let mut tx = self.store.begin_write().await?;
        let payment = self.store.lock_payment(&mut tx, payment_id).await?;
        if self.store.event_seen(&mut tx, payment_id, source).await? {
            tx.commit().await.map_err(StoreError::from)?;
            return Ok(Applied { payment, outcome: Ok(Outcome::AlreadyApplied) });
        }
        let done = self.transition_in(&mut tx, payment, event, source, detail).await?;
        if let Err(refusal) = &done.outcome {
            tracing::warn!(payment_id = %payment_id, event = event.kind(), %refusal, "transition refused");
            let detail = format!("{}: {refusal}", event.kind());
            let refused = EventSource::new(source.source);
            let record = EventRecord {
                kind: "transition.refused",
                from_status: Some(done.payment.status),
                to_status: None,
                amount_minor: None,
                source: &refused,
                detail: Some(&detail),
            };
            self.store.record_event(&mut tx, payment_id, record).await?;
        }
        self.commit(tx, done.enqueued).await?;
        self.count(done.counted);
        Ok(Applied { payment: self.store.reload(payment_id).await?, outcome: done.outcome })
    }

    /// The transition `event` causes, written inside `tx` (the payment locked by the
    /// caller): status, history entry, notifications. A refusal writes nothing.
    pub(super) async fn transition_in(
        &self,
        tx: &mut Tx,
        payment: Payment,
        event: PaymentEvent,
        source: &EventSource,
        detail: Option<&str>,
    ) -> Result<InTx, StoreError> {
        let outcome = payment.state().apply(event);
        let Ok(Outcome::Changed(t)) = &outcome else {
            return Ok(InTx { payment, outcome, enqueued: false, event_id: None, counted: None });
        };
        let failure_reason = event.failure_reason();
        let pending_reason = event.pending_reason();
        // An authorization may be captured for the capture window from now (SPEC §8.3).
        let capture_before = (pending_reason == Some(PendingReason::Capture))
            .then(|| now_ms() + self.settings.capture_window.as_millis() as i64);
        let change = StatusChange { transition: t, failure_reason, pending_reason, capture_before };
        self.store.set_status(tx, &payment.id, &change).await?;
        let amount_minor = event.amount().map(|m| m.minor);
        let record = EventRecord {
            kind: event.kind(),
            from_status: Some(t.from),
            to_status: Some(t.to),
            amount_minor,
            source,
            detail: detail.or(failure_reason.map(|r| r.as_str())),
        };
        let event_id = self.store.record_event(tx, &payment.id, record).await?;
        let after = Payment {
            status: t.to,
            captured_minor: t.captured_minor,
            cancelled_minor: t.cancelled_minor,
            failure_reason: failure_reason.or(payment.failure_reason),
            pending_reason,
            capture_before: capture_before.or(payment.capture_before),
            version: payment.version + 1,
            ..payment
        };
        let mut enqueued = false;
        if let Some(notifier) = self.notifiers.of(after.channel) {
            let change = Change { payment: &after, transition: t, event: &event, event_id: &event_id };
            for message in notifier.on_transition(tx, &change).await? {
                self.store.enqueue(tx, &after.id, &message).await?;
                enqueued = true;
            }
        }
        let counted = Some(Counted { channel: after.channel, from: t.from, to: t.to });
        let outcome = Ok(Outcome::Changed(*t));
        Ok(InTx { payment: after, outcome, enqueued, event_id: Some(event_id), counted })
    }

    /// Commits a change; wakes this instance's outbox worker when it enqueued something.
    pub(super) async fn commit(&self, tx: Tx, enqueued: bool) -> Result<(), StoreError> {
        tx.commit().await?;
        if enqueued {
            self.store.wake_outbox();
        }
        Ok(())
    }

    /// Counts a transition whose transaction committed.
    pub(super) fn count(&self, counted: Option<Counted>) {
        if let Some(Counted { channel, from, to }) = counted {
            self.metrics.transition(channel, from, to);
        }
    }
}
