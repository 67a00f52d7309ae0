//! Settle, pay, restore: for a review-page checkout (the external checkout) the final
//! amount is known only when the buyer presses Pay (Cafe24 adds shipping). The PG checks
//! its amount against ours when it reports, so ours must be what the PG was asked to take
//! whenever the PG may have taken it: the amount is settled (committed) before the PG is
//! asked, and a crash after that leaves an amount the next Pay settles again to the same
//! total. Only a definite refusal (the PG answered no, so it holds what it held before)
//! puts the previous amount back, recorded with the refusal in one transaction. When the
//! PG did not answer it may have taken the new amount: ours stays.

use super::{PaymentError, PaymentService};
use crate::{
    domain::{Money, Payment, PaymentStatus},
    store::{EventRecord, EventSource, StoreError},
};

impl PaymentService {
    /// Settles the payment to `total`, then asks the PG to take it; returns where the
    /// buyer approves it at the PG.
    pub async fn settle_and_pay(
        &self,
        payment: &Payment,
        total: Money,
        source: &'static str,
    ) -> Result<String, PaymentError> {
        let (gateway, credentials, tid) = self.at_gateway(payment).await?;
        let source = EventSource::new(source);
        let previous = self.settle(payment, total, &source).await?;
        match gateway.pay(&credentials, tid, total).await {
            Ok(redirect_url) => Ok(redirect_url),
            Err(e) => {
                let e = PaymentError::from(e);
                if let PaymentError::GatewayRejected(why) = &e {
                    tracing::warn!(payment_id = %payment.id, %why, "the PG refused to take the payment");
                    self.restore(payment, total, previous, why, &source).await?;
                } else {
                    tracing::warn!(payment_id = %payment.id, error = %e, "the PG did not take the payment");
                }
                Err(e)
            }
        }
    }

    /// Sets the amount of a payment still in Request; returns the amount before.
    async fn settle(&self, payment: &Payment, amount: Money, source: &EventSource) -> Result<Money, PaymentError> {
        let mut tx = self.store.begin_write().await?;
        let current = self.store.lock_payment(&mut tx, &payment.id).await?;
        if current.status != PaymentStatus::Request {
            return Err(PaymentError::Conflict(format!("the payment is already {}", current.status)));
        }
        if amount.currency != current.amount.currency || amount.minor <= 0 {
            return Err(PaymentError::Invalid(format!("{amount} cannot be this payment's amount")));
        }
        if amount != current.amount {
            self.store.set_amount(&mut tx, &payment.id, amount).await?;
            let detail = format!("{} → {amount}", current.amount);
            let record = EventRecord::note("amount.settled", source, Some(amount.minor), Some(&detail));
            self.store.record_event(&mut tx, &payment.id, record).await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(current.amount)
    }

    /// Undoes [`Self::settle`] after the PG definitely refused `settled` — only while the
    /// payment is still in Request at `settled` (anything else happened since, and wins).
    async fn restore(
        &self,
        payment: &Payment,
        settled: Money,
        previous: Money,
        why: &str,
        source: &EventSource,
    ) -> Result<(), PaymentError> {
        let mut tx = self.store.begin_write().await?;
        let current = self.store.lock_payment(&mut tx, &payment.id).await?;
        if current.status == PaymentStatus::Request && current.amount == settled && previous != settled {
            self.store.set_amount(&mut tx, &payment.id, previous).await?;
            let detail = format!("{settled} → {previous}: {why}");
            let record = EventRecord::note("amount.restored", source, Some(previous.minor), Some(&detail));
            self.store.record_event(&mut tx, &payment.id, record).await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }
}
