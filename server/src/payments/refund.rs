//! Refunds: reserve → ask the PG → complete. The amount is reserved against the payment
//! under its lock (the domain's rules decide), so however many refunds race, no more
//! than was paid is ever refunded; the PG is asked with our refund id as its idempotency
//! reference; its answer — now, or later by webhook — completes or releases the
//! reservation together with the notifications it causes. A lost answer keeps the
//! reservation, and the same request again resumes it under the same id.

use super::{PaymentError, PaymentService, RefundSettled};
use crate::{
    domain::MerchantCredentials,
    domain::{
        refund, Outcome, Payment, PaymentEvent, PaymentId, Refund, RefundAsk, RefundDecision, RefundId, RefundMode,
        RefundStatus,
    },
    gateway::{GatewayError, PaymentGateway, RefundRequest, RefundStatus as GatewayRefundStatus},
    store::{now_ms, EventRecord, EventSource, RefundChannelData, RefundUpdate, StoreError, IN_FLIGHT_LEASE},
};

pub struct AskRefund {
    /// The refund's id when the caller chose it already (a request resumed under its
    /// idempotency key): a refund with this id is that refund — resumed if its outcome
    /// was lost, answered as it is otherwise — never a second one. A new id otherwise.
    pub id: Option<RefundId>,
    pub ask: RefundAsk,
    pub reason: Option<String>,
    pub channel_data: RefundChannelData,
    /// Who asks (`cafe24`, `store_api`), for the history.
    pub source: &'static str,
}

/// What [`PaymentService::reserve_refund`] found.
enum Reserved {
    /// To ask the PG for (new, or resumed under its id).
    Ask(Refund),
    /// Asked before, and answered: as it is.
    Known(Refund),
}

/// What the PG answered to a refund.
#[derive(Clone, Debug)]
pub enum RefundOutcome {
    Succeeded {
        gateway_refund_id: String,
    },
    Pending {
        gateway_refund_id: String,
    },
    Refused {
        message: String,
    },
    /// No answer (timeout, connection lost): the refund may or may not have happened.
    Unknown {
        message: String,
    },
}

impl PaymentService {
    /// Refunds `request` of the payment and returns the payment and the refund as the
    /// PG's answer left them (a refusal and a lost answer are outcomes, not errors).
    pub async fn refund(&self, payment: &Payment, request: AskRefund) -> Result<(Payment, Refund), PaymentError> {
        let (gateway, credentials, tid) = self.at_gateway(payment).await?;
        let refund = match self.reserve_refund(&payment.id, request).await? {
            Reserved::Ask(refund) => refund,
            Reserved::Known(refund) => return Ok((self.store.reload(&payment.id).await?, refund)),
        };
        let outcome = self.ask_gateway(gateway, &credentials, tid, payment, &refund).await;
        self.complete_refund(&refund.id, &outcome).await
    }

    /// Reserves the amount, or hands back an identical refund whose outcome was lost —
    /// or, for a refund id the caller chose before, that refund.
    async fn reserve_refund(&self, payment_id: &PaymentId, request: AskRefund) -> Result<Reserved, PaymentError> {
        let now = now_ms();
        let mut tx = self.store.begin_write().await?;
        let payment = self.store.lock_payment(&mut tx, payment_id).await?;
        let refunds = self.store.refunds_of(&mut tx, &payment).await?;
        if let Some(known) = request.id.as_ref().and_then(|id| refunds.iter().find(|r| r.id == *id)) {
            // This very refund, asked before: the PG answered (or its webhook did) and
            // that stands; only a lost or abandoned ask is asked again, under its id.
            let refund = known.clone();
            let reserved = match refund.status {
                RefundStatus::Requested | RefundStatus::Unknown => {
                    let update = RefundUpdate {
                        status: RefundStatus::Requested,
                        gateway_refund_id: None,
                        failure_message: None,
                    };
                    let updated_at = self.store.update_refund(&mut tx, &refund.id, &update).await?;
                    Reserved::Ask(Refund {
                        status: RefundStatus::Requested,
                        failure_message: None,
                        updated_at,
                        ..refund
                    })
                }
                RefundStatus::Pending | RefundStatus::Succeeded | RefundStatus::Failed => Reserved::Known(refund),
            };
            tx.commit().await.map_err(StoreError::from)?;
            return Ok(reserved);
        }
        if payment.confirmed_at.is_some() {
            return Err(PaymentError::Confirmed);
        }
        let lines: Vec<_> = refunds.iter().map(Refund::line).collect();
        let lease = IN_FLIGHT_LEASE.as_millis() as i64;
        let refund = match refund::decide(&payment.state(), &lines, &request.ask, now, lease)? {
            RefundDecision::Resume(id) => {
                let lost = refunds
                    .into_iter()
                    .find(|r| r.id == id)
                    .ok_or_else(|| StoreError::Corrupt(format!("refund {id} vanished")))?;
                let update =
                    RefundUpdate { status: RefundStatus::Requested, gateway_refund_id: None, failure_message: None };
                let updated_at = self.store.update_refund(&mut tx, &id, &update).await?;
                Refund { status: RefundStatus::Requested, failure_message: None, updated_at, ..lost }
            }
            RefundDecision::Reserve => {
                let refund = Refund {
                    id: request.id.unwrap_or_else(RefundId::generate),
                    payment_id: payment.id.clone(),
                    amount: request.ask.amount,
                    status: RefundStatus::Requested,
                    mode: request.ask.mode,
                    gateway_refund_id: None,
                    reason: request.reason,
                    failure_message: None,
                    created_at: now,
                    updated_at: now,
                };
                self.store.insert_refund(&mut tx, &refund, &request.channel_data).await?;
                let source = EventSource::new(request.source);
                let record =
                    EventRecord::note("refund.requested", &source, Some(refund.amount.minor), Some(refund.id.as_str()));
                self.store.record_event(&mut tx, &payment.id, record).await?;
                refund
            }
        };
        tx.commit().await.map_err(StoreError::from)?;
        Ok(Reserved::Ask(refund))
    }

    async fn ask_gateway(
        &self,
        gateway: &dyn PaymentGateway,
        credentials: &MerchantCredentials,
        tid: &str,
        payment: &Payment,
        refund: &Refund,
    ) -> RefundOutcome {
        let request = RefundRequest {
            reference: refund.id.to_string(),
            amount: refund.amount,
            webhook_url: (refund.mode == RefundMode::MayPend).then(|| self.webhook_url(&payment.gateway)),
        };
        match gateway.refund(credentials, tid, &request).await {
            Ok(r) => match r.status {
                GatewayRefundStatus::Refunded => RefundOutcome::Succeeded { gateway_refund_id: r.id },
                GatewayRefundStatus::Pending => RefundOutcome::Pending { gateway_refund_id: r.id },
                GatewayRefundStatus::Refused(message) => RefundOutcome::Refused { message },
            },
            Err(GatewayError::Rejected(message) | GatewayError::NotFound(message)) => {
                RefundOutcome::Refused { message }
            }
            Err(other) => {
                tracing::warn!(refund_id = %refund.id, error = %other, "refund outcome unknown");
                RefundOutcome::Unknown { message: other.to_string() }
            }
        }
    }

    /// Records what the PG answered — now, or later by webhook. A success moves the
    /// payment to Partial Cancel or Cancel; a final answer enqueues what the channel's
    /// notifier asks for; all in one transaction. A refund already final stays as it is.
    pub async fn complete_refund(
        &self,
        refund_id: &RefundId,
        outcome: &RefundOutcome,
    ) -> Result<(Payment, Refund), PaymentError> {
        let (payment, refund, _) = self.settle_refund(refund_id, outcome, None).await?;
        Ok((payment, refund))
    }

    /// [`Self::complete_refund`]; for the reconciliation worker (`reconciling`: the refund
    /// as it saw it before asking the PG) only while the refund is still as it was (a
    /// channel that resumed it meanwhile owns it), and a final outcome also writes a
    /// `reconciled` entry, and an `admin.alert` entry when the channel is told nothing.
    /// Whether the refund reached a final status here.
    pub(super) async fn settle_refund(
        &self,
        refund_id: &RefundId,
        outcome: &RefundOutcome,
        reconciling: Option<&Refund>,
    ) -> Result<(Payment, Refund, bool), PaymentError> {
        let (payment, _) = self
            .store
            .refund_by_reference(refund_id.as_str())
            .await?
            .ok_or_else(|| PaymentError::NotFound(format!("no refund {refund_id}")))?;
        let mut tx = self.store.begin_write().await?;
        let payment = self.store.lock_payment(&mut tx, &payment.id).await?;
        let refund = self
            .store
            .refunds_of(&mut tx, &payment)
            .await?
            .into_iter()
            .find(|r| r.id == *refund_id)
            .ok_or_else(|| StoreError::Corrupt(format!("refund {refund_id} vanished")))?;
        let moved =
            reconciling.is_some_and(|seen| seen.status != refund.status || seen.updated_at != refund.updated_at);
        if refund.status.is_final() || moved {
            tx.commit().await.map_err(StoreError::from)?;
            return Ok((payment, refund, false));
        }
        let source = EventSource::new("gateway");
        let mut after = payment.clone();
        let mut enqueued = false;
        let mut event_id = None;
        let mut counted = None;
        let (status, gateway_refund_id, failure_message) = match outcome {
            RefundOutcome::Succeeded { gateway_refund_id } => {
                let event = PaymentEvent::Refunded { amount: refund.amount };
                let done =
                    self.transition_in(&mut tx, payment.clone(), event, &source, Some(refund.id.as_str())).await?;
                match done.outcome {
                    Ok(Outcome::Changed(_)) => {
                        after = done.payment;
                        enqueued |= done.enqueued;
                        event_id = done.event_id;
                        counted = done.counted;
                        (RefundStatus::Succeeded, Some(gateway_refund_id.as_str()), None)
                    }
                    other => {
                        // The reservation makes this unreachable; if it happens the money
                        // moved at the PG, so keep the refund open for an operator.
                        tracing::error!(refund_id = %refund.id, ?other, "PG refunded but the payment refused it");
                        let message = "refunded at the PG but not applicable here".to_owned();
                        (RefundStatus::Unknown, Some(gateway_refund_id.as_str()), Some(message))
                    }
                }
            }
            RefundOutcome::Pending { gateway_refund_id } => {
                (RefundStatus::Pending, Some(gateway_refund_id.as_str()), None)
            }
            RefundOutcome::Refused { message } => {
                let record = EventRecord::note("refund.refused", &source, Some(refund.amount.minor), Some(message));
                event_id = Some(self.store.record_event(&mut tx, &payment.id, record).await?);
                (RefundStatus::Failed, None, Some(message.clone()))
            }
            RefundOutcome::Unknown { message } => (RefundStatus::Unknown, None, Some(message.clone())),
        };
        let update = RefundUpdate { status, gateway_refund_id, failure_message: failure_message.as_deref() };
        let updated_at = self.store.update_refund(&mut tx, &refund.id, &update).await?;
        let previous = refund.status;
        let settled = Refund {
            status,
            gateway_refund_id: gateway_refund_id.map(str::to_owned).or(refund.gateway_refund_id.clone()),
            failure_message,
            updated_at,
            ..refund
        };
        if let (true, Some(event_id)) = (status.is_final(), event_id.as_deref()) {
            if let Some(notifier) = self.notifiers.of(after.channel) {
                let told = RefundSettled { payment: &after, refund: &settled, previous, event_id };
                for message in notifier.on_refund_settled(&mut tx, &told).await? {
                    self.store.enqueue(&mut tx, &after.id, &message).await?;
                    enqueued = true;
                }
            }
        }
        let finished = status.is_final();
        if let (true, Some(_)) = (finished, reconciling) {
            let what = match status {
                RefundStatus::Succeeded => "refunded",
                _ => "not refunded",
            };
            let detail = format!("refund {} of {}: {what} at the payment company", settled.id, settled.amount);
            self.record_reconciled(&mut tx, &after, &detail, Some(settled.amount.minor), enqueued).await?;
        }
        self.commit(tx, enqueued).await?;
        self.count(counted);
        Ok((self.store.reload(&after.id).await?, settled, finished))
    }
}
