//! Reconciliation (issue 14): what the PG was asked but whose answer never came back — a
//! checkout still open here long after it was opened, a refund reserved but not
//! confirmed, a capture or void marked as asked — is asked of the PG again (its get and
//! lookup operations) and finished through the one transition writer, with its event and
//! the channel's notifications, in one transaction. Each step re-reads the payment under
//! its lock and acts only if nothing moved meanwhile, so a pass killed half-way, or two
//! instances racing, finish each payment once. A finish also writes a `reconciled` entry;
//! when the channel's notifier has nothing to send for it (a Cafe24 synchronous cancel,
//! which has no noty), an `admin.alert` entry too, shown on the payment in the admin.
//!
//! When the PG says the work was never done: a refund it has no record of is failed here
//! (the reservation is released and the channel told as for a refusal; asking again is
//! the channel's decision, not ours); a capture or void it did not do leaves the
//! authorization as it is (the mark is cleared; its expiry still voids it).

use super::{sync::event_for, PaymentError, PaymentService, RefundOutcome};
use crate::{
    domain::{Outcome, Payment, PaymentEvent, PaymentId, PaymentStatus, Refund, RefundStatus},
    gateway::{GatewayError, RefundStatus as GatewayRefundStatus},
    store::{now_ms, EventRecord, EventSource, StoreError, Tx},
};

/// The history's source of what the worker writes.
const RECONCILIATION: &str = "reconciliation";

/// The failure a refund the PG has no record of ends with.
pub const REFUND_NEVER_MADE: &str =
    "the payment company has no record of this refund: nothing was refunded, and the amount is free again";

impl PaymentService {
    /// A payment in 1 whose checkout was opened at least `after_ms` ago: the PG's decision,
    /// if it made one, is applied. Whether it finished the payment.
    pub async fn reconcile_checkout(&self, id: &PaymentId, after_ms: i64) -> Result<bool, PaymentError> {
        let Some(payment) = self.payment(id).await? else { return Ok(false) };
        let now = now_ms();
        if payment.status != PaymentStatus::Request || payment.tid.is_none() || payment.created_at > now - after_ms {
            return Ok(false);
        }
        if self.store.registration(id).await?.is_some() {
            return Ok(false);
        }
        // Asked now: again only when its age has doubled (also after an error here).
        self.store.set_reconciled_at(id, now).await?;
        let order = self.gateway_order(&payment).await?;
        match event_for(&payment, order.status, order.amount, order.captured) {
            Some(event) => self.apply_reconciled(&payment, event, "checkout").await,
            None => Ok(false),
        }
    }

    /// An authorization whose capture or void was asked at least `after_ms` ago without
    /// its answer applied: what the PG did is applied; if it did neither, the mark goes.
    pub async fn reconcile_authorization(&self, id: &PaymentId, after_ms: i64) -> Result<bool, PaymentError> {
        let Some(payment) = self.payment(id).await? else { return Ok(false) };
        let Some(since) = self.store.pg_call_since(id).await? else { return Ok(false) };
        let now = now_ms();
        if payment.status != PaymentStatus::Pending || since > now - after_ms {
            return Ok(false);
        }
        // Asked now: not again before `RECONCILE_AFTER` (also after an error here).
        self.store.set_reconciled_at(id, now).await?;
        // A void writes its reason before asking the PG; a capture does not.
        let what = if payment.failure_reason.is_some() { "void" } else { "capture" };
        let order = self.gateway_order(&payment).await?;
        match event_for(&payment, order.status, order.amount, order.captured) {
            Some(event) if !matches!(event, PaymentEvent::Authorized { .. }) => {
                self.apply_reconciled(&payment, event, what).await
            }
            _ => {
                let mut tx = self.store.begin_write().await?;
                self.store.lock_payment(&mut tx, id).await?;
                if self.store.clear_pg_call_if(&mut tx, id, since).await? {
                    let detail = format!("{what}: not done at the payment company; the authorization stands");
                    let source = EventSource::new(RECONCILIATION);
                    let record = EventRecord::note("reconciled", &source, None, Some(&detail));
                    self.store.record_event(&mut tx, id, record).await?;
                }
                tx.commit().await.map_err(StoreError::from)?;
                Ok(false)
            }
        }
    }

    /// The payment's refunds reserved but not confirmed, untouched for `after_ms`: each is
    /// looked up at the PG under our refund id and completed (or released) as it says.
    /// How many reached a final status.
    pub async fn reconcile_refunds(&self, id: &PaymentId, after_ms: i64) -> Result<usize, PaymentError> {
        let Some(payment) = self.payment(id).await? else { return Ok(0) };
        let now = now_ms();
        let stale: Vec<Refund> = self
            .store
            .refunds_for(&payment)
            .await?
            .into_iter()
            .filter(|r| {
                matches!(r.status, RefundStatus::Requested | RefundStatus::Unknown | RefundStatus::Pending)
                    && r.updated_at <= now - after_ms
            })
            .collect();
        if stale.is_empty() {
            return Ok(0);
        }
        // Asked now: not again before `RECONCILE_AFTER` (also after an error here).
        self.store.set_reconciled_at(id, now).await?;
        let (gateway, credentials, tid) = self.at_gateway(&payment).await?;
        let mut finished = 0;
        for refund in &stale {
            let outcome = match gateway.get_refund(&credentials, tid, refund.id.as_str()).await {
                Ok(record) => {
                    if record.reference != refund.id.as_str() || record.tid != tid || record.amount != refund.amount {
                        tracing::error!(refund_id = %refund.id, "the PG's refund does not match ours");
                        return Err(PaymentError::Conflict(
                            "the payment company's refund does not match this refund".into(),
                        ));
                    }
                    match record.status {
                        GatewayRefundStatus::Refunded => RefundOutcome::Succeeded { gateway_refund_id: record.id },
                        GatewayRefundStatus::Refused(message) => RefundOutcome::Refused { message },
                        GatewayRefundStatus::Pending if refund.status == RefundStatus::Pending => continue,
                        GatewayRefundStatus::Pending => RefundOutcome::Pending { gateway_refund_id: record.id },
                    }
                }
                Err(GatewayError::NotFound(_)) => RefundOutcome::Refused { message: REFUND_NEVER_MADE.into() },
                Err(e) => return Err(e.into()),
            };
            let (_, _, done) = self.settle_refund(&refund.id, &outcome, Some(refund)).await?;
            finished += usize::from(done);
        }
        Ok(finished)
    }

    /// Applies what the PG reported, unless the payment moved since it was read (then the
    /// next pass looks again); with its `reconciled` entry. Whether it changed.
    async fn apply_reconciled(&self, seen: &Payment, event: PaymentEvent, what: &str) -> Result<bool, PaymentError> {
        let mut tx = self.store.begin_write().await?;
        let current = self.store.lock_payment(&mut tx, &seen.id).await?;
        if current.version != seen.version {
            tx.commit().await.map_err(StoreError::from)?;
            return Ok(false);
        }
        let done = self.transition_in(&mut tx, current, event, &EventSource::new("gateway"), None).await?;
        let transition = match &done.outcome {
            Ok(Outcome::Changed(t)) => *t,
            other => {
                tracing::warn!(payment_id = %seen.id, ?other, "reconciliation: the PG's state does not apply");
                tx.commit().await.map_err(StoreError::from)?;
                return Ok(false);
            }
        };
        let detail =
            format!("{what}: {} → {} as the payment company reports", transition.from.code(), transition.to.code());
        let amount = event.amount().map(|m| m.minor);
        self.record_reconciled(&mut tx, &done.payment, &detail, amount, done.enqueued).await?;
        self.commit(tx, done.enqueued).await?;
        self.count(done.counted);
        Ok(true)
    }

    /// The `reconciled` entry of a finish; an `admin.alert` too when the channel is told
    /// nothing of it (`told`: its notifier enqueued a message in this transaction).
    pub(super) async fn record_reconciled(
        &self,
        tx: &mut Tx,
        payment: &Payment,
        detail: &str,
        amount_minor: Option<i64>,
        told: bool,
    ) -> Result<(), StoreError> {
        let source = EventSource::new(RECONCILIATION);
        self.store
            .record_event(tx, &payment.id, EventRecord::note("reconciled", &source, amount_minor, Some(detail)))
            .await?;
        if !told {
            let alert = format!(
                "{detail}. Its answer had been lost; the reconciliation worker finished it, and the channel \
                 has no notification for this: tell the shop"
            );
            let record = EventRecord::note("admin.alert", &source, amount_minor, Some(&alert));
            self.store.record_event(tx, &payment.id, record).await?;
        }
        Ok(())
    }
}
