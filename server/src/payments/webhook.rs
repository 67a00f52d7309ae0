//! A PG's webhook (SPEC §4.4, §4.5, §8.3): which payment or refund it is about, verified
//! by its signature — or, without one (a PG that does not sign), only a notice: then the
//! PG is asked and its answer applied, whatever the body said. Deduplicated by the PG's
//! event id and applied with its notifications in one transaction; the caller answers
//! the PG only after that committed, so the PG retries anything we did not keep.

use super::{sync::event_for, PaymentError, PaymentService, RefundOutcome};
use crate::{
    domain::{MerchantCredentials, Payment, Refund},
    gateway::{
        GatewayError, PaymentGateway, RefundStatus as GatewayRefundStatus, WebhookError, WebhookEvent, WebhookKind,
        WebhookSubject,
    },
    store::EventSource,
};

/// A webhook as it arrived.
pub struct WebhookSource<'a> {
    /// The connector it was sent to (`/pg/{gateway}/webhook`).
    pub gateway: &'a str,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Applied (or recognised as already applied) and committed.
    Kept,
    /// The PG has not decided yet: nothing to do.
    NothingYet,
    /// About nothing of ours (another integration's object at the PG): nothing to do,
    /// and the PG need not send it again.
    Unrelated,
}

/// What a webhook may be believed for.
enum Verified {
    /// Its signature holds: the body is the PG's word.
    Signed(WebhookEvent),
    /// It carries no signature: only what the PG answers when asked counts.
    AskThePg,
}

impl PaymentService {
    pub async fn take_webhook(&self, webhook: WebhookSource<'_>) -> Result<WebhookOutcome, PaymentError> {
        let gateway = self.gateway(webhook.gateway)?;
        let subject = gateway
            .webhook_subject(webhook.body)
            .ok_or_else(|| WebhookError::Malformed("the webhook names no reference we can read".into()))?;
        match subject {
            WebhookSubject::Payment(reference) => {
                let payment = self
                    .store
                    .payment_by_reference(&reference)
                    .await?
                    .filter(|p| p.gateway == webhook.gateway)
                    .ok_or_else(|| PaymentError::NotFound(format!("no payment {reference}")))?;
                self.payment_webhook(gateway, &webhook, &payment).await
            }
            WebhookSubject::Refund(reference) => {
                let (payment, refund) = self
                    .store
                    .refund_by_reference(&reference)
                    .await?
                    .filter(|(p, _)| p.gateway == webhook.gateway)
                    .ok_or_else(|| PaymentError::NotFound(format!("no refund {reference}")))?;
                self.refund_webhook(gateway, &webhook, &payment, &refund).await
            }
            WebhookSubject::Unrelated(what) => {
                tracing::info!(gateway = webhook.gateway, what, "a PG webhook about nothing of ours, ignored");
                Ok(WebhookOutcome::Unrelated)
            }
        }
    }

    async fn verify(
        &self,
        gateway: &dyn PaymentGateway,
        webhook: &WebhookSource<'_>,
        payment: &Payment,
    ) -> Result<(MerchantCredentials, Verified), PaymentError> {
        let credentials = self.credentials(&payment.mall_id).await?;
        let verified = match gateway.verify_webhook(&credentials, webhook.headers, webhook.body)? {
            Some(event) => Verified::Signed(event),
            None => Verified::AskThePg,
        };
        Ok((credentials, verified))
    }

    async fn payment_webhook(
        &self,
        gateway: &dyn PaymentGateway,
        webhook: &WebhookSource<'_>,
        payment: &Payment,
    ) -> Result<WebhookOutcome, PaymentError> {
        let (credentials, verified) = self.verify(gateway, webhook, payment).await?;
        if self.store.registration(&payment.id).await?.is_some() {
            // About a card registration, signed or not, it is only a notice: the card's
            // token comes from the PG's answer when asked, never from a webhook body.
            if let Verified::Signed(WebhookEvent { kind: WebhookKind::Registration { reference }, tid, .. }) = &verified
            {
                if reference != payment.id.as_str() || payment.tid.as_deref() != Some(tid.as_str()) {
                    return Err(PaymentError::Conflict("the webhook is about another registration".into()));
                }
            }
            let now = self.sync_registration(payment).await?;
            return Ok(if now.status == crate::domain::PaymentStatus::Request {
                WebhookOutcome::NothingYet
            } else {
                WebhookOutcome::Kept
            });
        }
        let event = match verified {
            Verified::Signed(event) => event,
            Verified::AskThePg => {
                let tid = payment.tid.as_deref().ok_or(PaymentError::NotOpened)?;
                let order = gateway.get_order(&credentials, tid).await.map_err(unconfirmed)?;
                WebhookEvent {
                    event_id: format!("{}:{:?}", order.tid, order.status),
                    tid: order.tid,
                    kind: WebhookKind::Order {
                        reference: order.reference,
                        status: order.status,
                        amount: order.amount,
                        captured: order.captured,
                    },
                }
            }
        };
        let WebhookKind::Order { reference, status, amount, captured } = event.kind else {
            return Err(WebhookError::Malformed("a refund or registration event names a payment".into()).into());
        };
        if reference != payment.id.as_str() || payment.tid.as_deref() != Some(event.tid.as_str()) {
            return Err(PaymentError::Conflict("the webhook is about another transaction".into()));
        }
        let Some(payment_event) = event_for(payment, status, amount, captured) else {
            return Ok(WebhookOutcome::NothingYet);
        };
        let source = EventSource { source: "gateway", source_event_id: Some(event.event_id) };
        let applied = self.apply(&payment.id, payment_event, &source, None).await?;
        applied.outcome.map(|_| WebhookOutcome::Kept).map_err(PaymentError::Refused)
    }

    async fn refund_webhook(
        &self,
        gateway: &dyn PaymentGateway,
        webhook: &WebhookSource<'_>,
        payment: &Payment,
        refund: &Refund,
    ) -> Result<WebhookOutcome, PaymentError> {
        let (credentials, verified) = self.verify(gateway, webhook, payment).await?;
        let event = match verified {
            Verified::Signed(event) => event,
            Verified::AskThePg => {
                let tid = payment.tid.as_deref().ok_or(PaymentError::NotOpened)?;
                let record = match gateway.get_refund(&credentials, tid, refund.id.as_str()).await {
                    Ok(record) => record,
                    Err(GatewayError::Rejected(message) | GatewayError::NotFound(message)) => {
                        return Err(PaymentError::Conflict(format!("the PG does not confirm this refund: {message}")))
                    }
                    Err(e) => return Err(unconfirmed(e)),
                };
                WebhookEvent {
                    event_id: format!("{}:{}:{:?}", record.tid, record.id, record.status),
                    tid: record.tid,
                    kind: WebhookKind::Refund {
                        reference: record.reference,
                        gateway_refund_id: record.id,
                        status: record.status,
                        amount: record.amount,
                    },
                }
            }
        };
        let WebhookKind::Refund { reference, gateway_refund_id, status, amount } = event.kind else {
            return Err(WebhookError::Malformed("a payment or registration event names a refund".into()).into());
        };
        if reference != refund.id.as_str() || payment.tid.as_deref() != Some(event.tid.as_str()) {
            return Err(PaymentError::Conflict("the webhook is about another refund".into()));
        }
        if amount != refund.amount {
            return Err(PaymentError::Invalid(format!(
                "the webhook reports {amount}, but the refund is for {}",
                refund.amount
            )));
        }
        let outcome = match status {
            GatewayRefundStatus::Refunded => RefundOutcome::Succeeded { gateway_refund_id },
            GatewayRefundStatus::Refused(message) => RefundOutcome::Refused { message },
            GatewayRefundStatus::Pending => return Ok(WebhookOutcome::NothingYet),
        };
        self.complete_refund(&refund.id, &outcome).await?;
        Ok(WebhookOutcome::Kept)
    }
}

/// The PG could not be asked about an unsigned webhook.
fn unconfirmed(e: GatewayError) -> PaymentError {
    PaymentError::GatewayUnavailable(format!("could not confirm with the PG: {e}"))
}
