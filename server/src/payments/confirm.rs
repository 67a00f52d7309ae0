//! Purchase confirmation and delivery (SPEC §8.3, EBP_API_214): a confirmed payment may
//! be settled and can no longer be cancelled; a delivered one is confirmed by the
//! maintenance worker `AUTO_CONFIRM_AFTER` later unless it was confirmed or cancelled in
//! full. Each is one transaction with its history entry (and, for the confirmation, the
//! channel's notifications).

use super::{Note, PaymentError, PaymentService};
use crate::{
    domain::{Payment, PaymentId, PaymentStatus},
    store::{now_ms, EventRecord, EventSource, StoreError},
};

impl PaymentService {
    /// Confirms the purchase; again, it answers the payment unchanged.
    pub async fn confirm(&self, payment_id: &PaymentId, source: &'static str) -> Result<Payment, PaymentError> {
        let mut tx = self.store.begin_write().await?;
        let payment = self.store.lock_payment(&mut tx, payment_id).await?;
        if payment.confirmed_at.is_some() {
            tx.commit().await.map_err(StoreError::from)?;
            return Ok(payment);
        }
        if !matches!(payment.status, PaymentStatus::Complete | PaymentStatus::PartialCancel) {
            return Err(PaymentError::Conflict(format!(
                "only a paid payment (status 2 or 7) can be confirmed; this one is {}",
                payment.status
            )));
        }
        let now = now_ms();
        self.store.set_confirmed(&mut tx, payment_id, now).await?;
        let source = EventSource::new(source);
        let event_id = self
            .store
            .record_event(&mut tx, payment_id, EventRecord::note("payment.confirmed", &source, None, None))
            .await?;
        let confirmed = Payment { confirmed_at: Some(now), version: payment.version + 1, updated_at: now, ..payment };
        let mut enqueued = false;
        if let Some(notifier) = self.notifiers.of(confirmed.channel) {
            for message in
                notifier.on_note(&mut tx, &Note::Confirmed { payment: &confirmed, event_id: &event_id }).await?
            {
                self.store.enqueue(&mut tx, payment_id, &message).await?;
                enqueued = true;
            }
        }
        self.commit(tx, enqueued).await?;
        Ok(self.store.reload(payment_id).await?)
    }

    /// Records that the goods were delivered at `at` (unix ms; now by default).
    pub async fn record_delivery(
        &self,
        payment_id: &PaymentId,
        at: Option<i64>,
        source: &'static str,
    ) -> Result<Payment, PaymentError> {
        let mut tx = self.store.begin_write().await?;
        let payment = self.store.lock_payment(&mut tx, payment_id).await?;
        if !payment.status.was_paid() {
            return Err(PaymentError::Conflict(format!(
                "only a paid payment can be delivered; this one is {}",
                payment.status
            )));
        }
        let at = at.unwrap_or_else(now_ms);
        self.store.set_delivered(&mut tx, payment_id, at).await?;
        let source = EventSource::new(source);
        self.store
            .record_event(&mut tx, payment_id, EventRecord::note("payment.delivered", &source, None, None))
            .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(self.store.reload(payment_id).await?)
    }
}
