//! The notifications ("noty") we send Cafe24 (SPEC §4.4, §4.5): form POSTs whose
//! `hash_data` Cafe24 checks, taken when Cafe24 answers `{"result":"OK"}`. Their content
//! is fixed inside the transaction of the change that causes them; the outbox delivers.

use std::sync::Arc;

use url::form_urlencoded;

use super::signature;
use crate::{
    domain::{FailureReason, Payment, PaymentEvent, PaymentStatus, RefundMode, RefundStatus},
    gateway::Gateways,
    payments::{Change, Notifier, RefundSettled},
    store::{Acceptance, Cafe24Payment, DeliveryPolicy, Flow, NewMessage, Store, StoreError, Tx},
};

pub const PAYMENT_NOTY: &str = "cafe24.payment_noty";
pub const CANCEL_NOTY: &str = "cafe24.cancel_noty";
/// Cafe24 is one receiver, whichever of its URLs a noty goes to: a payment's notys keep
/// their order across `return_noty_url` and `cancel_noty_url`.
pub const RECEIVER: &str = "cafe24";

pub struct Cafe24Notifier {
    pub store: Store,
    pub service_key: Arc<str>,
    pub gateways: Gateways,
}

fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

pub(crate) fn tf(b: bool) -> &'static str {
    if b {
        "T"
    } else {
        "F"
    }
}

/// Cafe24's notys: a form body, taken when the answer is `{"result":"OK"}`.
fn policy() -> DeliveryPolicy {
    DeliveryPolicy {
        content_type: "application/x-www-form-urlencoded".into(),
        headers: Vec::new(),
        accept: Acceptance::ResultOk,
        signing: None,
    }
}

/// The amount as Cafe24 sent it (its hashes cover that string), or ours in major units.
pub fn amount_text(payment: &Payment, cafe24: &Cafe24Payment) -> String {
    cafe24.amount_text.clone().unwrap_or_else(|| payment.amount.to_major_string())
}

/// `hash_data` over `amount currency order_id partner_id tid` (SPEC §4.3, §4.4, §4.5).
pub(crate) fn payment_hash(service_key: &str, amount: &str, payment: &Payment, cafe24: &Cafe24Payment) -> String {
    let tid = payment.tid.as_deref().unwrap_or_default();
    signature::sign(
        service_key,
        &[amount, payment.amount.currency.code(), payment.order_id.as_str(), &cafe24.partner_id, tid],
    )
}

#[async_trait::async_trait]
impl Notifier for Cafe24Notifier {
    async fn on_transition(&self, tx: &mut Tx, change: &Change<'_>) -> Result<Vec<NewMessage>, StoreError> {
        use PaymentStatus::*;
        let p = change.payment;
        let Some(c) = self.store.cafe24_payment_in(tx, &p.id).await? else { return Ok(Vec::new()) };
        if c.flow == Flow::Sync {
            return Ok(Vec::new());
        }
        let Some(target) = &c.return_noty_url else { return Ok(Vec::new()) };
        // Deposits (SPEC §4.4): the first noty says pending (payed_tf F), the second,
        // when the money arrives, is a `notification` with payed_tf T.
        let (request_type, paid, code, message) = match (change.transition.from, change.transition.to) {
            (Request, Complete) => ("payment", true, "0000", "paid"),
            (Request, Pending) if matches!(change.event, PaymentEvent::Authorized { .. }) => {
                ("payment", false, "0000", "authorized")
            }
            (Request, Pending) => ("payment", false, "0000", "awaiting deposit"),
            (Pending, Complete) => ("notification", true, "0000", "deposit received"),
            (Request, Fail) => match p.failure_reason {
                Some(FailureReason::AbandonedByBuyer) => ("payment", false, "9999", "cancelled by the buyer"),
                _ => ("payment", false, "0001", "declined by the payment company"),
            },
            // Cancels are reported by their own notifications.
            _ => return Ok(Vec::new()),
        };
        let caps = self.gateways.get(&p.gateway).map(|g| g.capabilities());
        let tid = p.tid.as_deref().unwrap_or_default();
        let amount = amount_text(p, &c);
        let hash = payment_hash(&self.service_key, &amount, p, &c);
        let body = form(&[
            ("request_type", request_type),
            ("partner_id", &c.partner_id),
            ("paymethod", &c.paymethod),
            ("tid", tid),
            ("amount", &amount),
            ("order_id", p.order_id.as_str()),
            ("all_cancel_tf", tf(caps.is_some_and(|c| c.all_cancel))),
            ("part_cancel_tf", tf(caps.is_some_and(|c| c.partial_cancel))),
            ("escrow_tf", tf(caps.is_some_and(|c| c.escrow))),
            ("currency", p.amount.currency.code()),
            ("payed_tf", tf(paid)),
            ("easypay", "F"),
            ("extra_data", c.extra_data.as_deref().unwrap_or_default()),
            ("result_code", code),
            ("result_message", message),
            ("hash_data", &hash),
        ]);
        Ok(vec![NewMessage {
            kind: PAYMENT_NOTY.into(),
            receiver: RECEIVER.into(),
            target_url: target.clone(),
            body,
            policy: policy(),
        }])
    }

    async fn on_refund_settled(&self, tx: &mut Tx, settled: &RefundSettled<'_>) -> Result<Vec<NewMessage>, StoreError> {
        let (p, r) = (settled.payment, settled.refund);
        if r.mode != RefundMode::MayPend {
            return Ok(Vec::new());
        }
        let Some(c) = self.store.cafe24_payment_in(tx, &p.id).await? else { return Ok(Vec::new()) };
        let Some(cr) = self.store.cafe24_refund_in(tx, &r.id).await? else { return Ok(Vec::new()) };
        let Some(target) = &cr.cancel_noty_url else { return Ok(Vec::new()) };
        let (status, code, message) = match r.status {
            RefundStatus::Succeeded => ("P", "0000", "cancelled".to_owned()),
            // A refusal while Cafe24 still waited on the request was answered there.
            RefundStatus::Failed if settled.previous == RefundStatus::Pending => (
                "F",
                "9999",
                format!("refused by the payment company: {}", r.failure_message.as_deref().unwrap_or_default()),
            ),
            _ => return Ok(Vec::new()),
        };
        let tid = p.tid.as_deref().unwrap_or_default();
        let hash = payment_hash(&self.service_key, &cr.amount_text, p, &c);
        let body = form(&[
            ("request_type", "cancelnoty"),
            ("partner_id", &c.partner_id),
            ("tid", tid),
            ("order_id", p.order_id.as_str()),
            ("paymethod", &c.paymethod),
            ("currency", p.amount.currency.code()),
            ("cancel_amount", &cr.amount_text),
            ("status", status),
            ("extra_data", cr.extra_data.as_deref().unwrap_or_default()),
            ("result_code", code),
            ("result_message", &message),
            ("hash_data", &hash),
        ]);
        Ok(vec![NewMessage {
            kind: CANCEL_NOTY.into(),
            receiver: RECEIVER.into(),
            target_url: target.clone(),
            body,
            policy: policy(),
        }])
    }
}
