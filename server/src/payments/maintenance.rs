//! The core's maintenance worker (SPEC §8.3): intents not finalized within
//! `INTENT_EXPIRY` fail (`expired`), authorizations not captured within `CAPTURE_WINDOW`
//! are voided at the PG and then end in 6 (`authorization_expired`), and delivered
//! payments are confirmed `AUTO_CONFIRM_AFTER` later. Every instance runs it; a payment
//! is leased to one worker at a time (`FOR UPDATE SKIP LOCKED` on PostgreSQL), each step
//! is re-checked under the payment's lock and is idempotent, so a worker killed half-way
//! leaves the payment to the next pass. A channel adds its own housekeeping to the pass
//! as a [`Chore`] (the Store API purges idempotency records past their 24 h). The same
//! pass reconciles what the PG was asked but never answered, `RECONCILE_AFTER` later
//! (see `reconcile.rs`): open checkouts, unconfirmed refunds, unanswered captures and voids.

use std::{sync::Arc, time::Duration};

use tokio::sync::watch;

use super::{PaymentError, PaymentService};
use crate::{
    domain::{FailureReason, PaymentId, PaymentStatus, PendingReason},
    observability::Worker,
    store::{now_ms, MaintenanceJob},
};

#[derive(Clone, Debug)]
pub struct MaintenanceSettings {
    /// `AUTO_CONFIRM_AFTER`.
    pub auto_confirm_after: Duration,
    /// Time between passes.
    pub poll: Duration,
    /// How long a worker holds a payment it acts on (longer than a PG call can take).
    pub lease: Duration,
    /// Payments per job and pass.
    pub batch: i64,
    /// `RECONCILE_AFTER`: how long a PG call may go unanswered before the reconciliation
    /// jobs ask the PG how it ended.
    pub reconcile_after: Duration,
}

impl Default for MaintenanceSettings {
    fn default() -> Self {
        MaintenanceSettings {
            auto_confirm_after: Duration::from_secs(7 * 24 * 3600),
            poll: Duration::from_secs(5),
            lease: Duration::from_secs(60),
            batch: 50,
            reconcile_after: Duration::from_secs(600),
        }
    }
}

/// What a pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    pub expired: usize,
    pub voided: usize,
    pub confirmed: usize,
    /// Payments (or refunds) the reconciliation jobs finished.
    pub reconciled: usize,
    /// Left for the next pass (the PG did not answer, …).
    pub left: usize,
    /// Rows the channels' chores removed.
    pub tidied: usize,
}

/// Housekeeping a channel adds to every maintenance pass. It must be safe to run in
/// several instances at once (each pass of each instance runs it).
#[async_trait::async_trait]
pub trait Chore: Send + Sync {
    /// What it does, for the log.
    fn name(&self) -> &'static str;
    /// Does it once; how many rows it removed.
    async fn run(&self) -> Result<u64, String>;
}

#[derive(Clone)]
pub struct Maintenance {
    pub payments: PaymentService,
    pub settings: MaintenanceSettings,
    pub chores: Vec<Arc<dyn Chore>>,
}

impl Maintenance {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            let report = self.run_once().await;
            self.payments.metrics().pass_done(Worker::Maintenance);
            if report != MaintenanceReport::default() {
                tracing::info!(?report, "maintenance pass");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settings.poll) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// One pass over every job (tests run passes on demand with it).
    pub async fn run_once(&self) -> MaintenanceReport {
        let metrics = self.payments.metrics();
        metrics.heartbeat(Worker::Maintenance);
        let mut report = MaintenanceReport::default();
        let after_ms = self.settings.auto_confirm_after.as_millis() as i64;
        let reconcile_ms = self.settings.reconcile_after.as_millis() as i64;
        for job in [
            MaintenanceJob::ExpireIntents,
            MaintenanceJob::ExpireAuthorizations,
            MaintenanceJob::AutoConfirm { after_ms },
            MaintenanceJob::ReconcileCheckouts { after_ms: reconcile_ms },
            MaintenanceJob::ReconcileRefunds { after_ms: reconcile_ms },
            MaintenanceJob::ReconcileAuthorizations { after_ms: reconcile_ms },
        ] {
            let store = self.payments.store();
            let claimed = match store
                .claim_for_maintenance(job, self.settings.batch, self.settings.lease.as_millis() as i64)
                .await
            {
                Ok(ids) => ids,
                Err(e) => {
                    tracing::error!(operation = "claiming payments for maintenance", ?job, error = %e, "maintenance");
                    continue;
                }
            };
            for id in claimed {
                metrics.heartbeat(Worker::Maintenance);
                let span = tracing::info_span!("maintenance", payment_id = %id, channel = tracing::field::Empty);
                match tracing::Instrument::instrument(self.act(job, &id), span).await {
                    Ok(0) => {}
                    Ok(n) => match job {
                        MaintenanceJob::ExpireIntents => report.expired += n,
                        MaintenanceJob::ExpireAuthorizations => report.voided += n,
                        MaintenanceJob::AutoConfirm { .. } => report.confirmed += n,
                        MaintenanceJob::ReconcileCheckouts { .. }
                        | MaintenanceJob::ReconcileRefunds { .. }
                        | MaintenanceJob::ReconcileAuthorizations { .. } => report.reconciled += n,
                    },
                    Err(e) => {
                        report.left += 1;
                        tracing::warn!(payment_id = %id, ?job, error = %e, "maintenance left a payment for the next pass");
                        // The lease runs out and the next pass tries again.
                        continue;
                    }
                }
                if let Err(e) = store.release_maintenance(&id).await {
                    tracing::warn!(payment_id = %id, error = %e, "maintenance lease not released; it runs out");
                }
            }
        }
        for chore in &self.chores {
            match chore.run().await {
                Ok(removed) => report.tidied += removed as usize,
                Err(e) => tracing::error!(operation = chore.name(), error = %e, "maintenance"),
            }
        }
        report
    }

    /// Does `job` to the payment if it still needs it; how many things it did (0 or 1,
    /// or the refunds reconciled).
    async fn act(&self, job: MaintenanceJob, id: &PaymentId) -> Result<usize, PaymentError> {
        let payments = &self.payments;
        Ok(match job {
            MaintenanceJob::ReconcileCheckouts { after_ms } => {
                usize::from(payments.reconcile_checkout(id, after_ms).await?)
            }
            MaintenanceJob::ReconcileRefunds { after_ms } => payments.reconcile_refunds(id, after_ms).await?,
            MaintenanceJob::ReconcileAuthorizations { after_ms } => {
                usize::from(payments.reconcile_authorization(id, after_ms).await?)
            }
            _ => usize::from(self.expire_or_confirm(job, id).await?),
        })
    }

    async fn expire_or_confirm(&self, job: MaintenanceJob, id: &PaymentId) -> Result<bool, PaymentError> {
        let Some(payment) = self.payments.payment(id).await? else { return Ok(false) };
        let now = now_ms();
        match job {
            MaintenanceJob::ExpireIntents => {
                if payment.status != PaymentStatus::Request || payment.expires_at.is_none_or(|at| at > now) {
                    return Ok(false);
                }
                let after = self.payments.fail_intent(&payment, FailureReason::Expired, "maintenance").await?;
                Ok(after.status == PaymentStatus::Fail)
            }
            MaintenanceJob::ExpireAuthorizations => {
                let lapsed = payment.status == PaymentStatus::Pending
                    && payment.pending_reason == Some(PendingReason::Capture)
                    && payment.capture_before.is_some_and(|at| at <= now);
                if !lapsed {
                    return Ok(false);
                }
                let after = self.payments.void(&payment, FailureReason::AuthorizationExpired, "maintenance").await?;
                Ok(after.status == PaymentStatus::PendingCancel)
            }
            MaintenanceJob::AutoConfirm { after_ms } => {
                let due = matches!(payment.status, PaymentStatus::Complete | PaymentStatus::PartialCancel)
                    && payment.confirmed_at.is_none()
                    && payment.delivered_at.is_some_and(|at| at <= now - after_ms);
                if !due {
                    return Ok(false);
                }
                self.payments.confirm(id, "maintenance").await?;
                Ok(true)
            }
            MaintenanceJob::ReconcileCheckouts { .. }
            | MaintenanceJob::ReconcileRefunds { .. }
            | MaintenanceJob::ReconcileAuthorizations { .. } => Ok(false),
        }
    }
}
