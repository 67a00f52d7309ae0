//! The notifications ("noty") we send Cafe24 (SPEC §4.4, §4.5). Their content is fixed
//! when the change that causes them commits, and the outbox delivers them.

use url::form_urlencoded;

use super::signature;
use crate::{
    domain::{FailureReason, PaymentEvent, PaymentStatus, Transition},
    gateway::Gateways,
    store::{Flow, NewMessage, Notifications, Payment, Refund, RefundMode, RefundStatus},
};

pub const PAYMENT_NOTY: &str = "cafe24.payment_noty";
pub const CANCEL_NOTY: &str = "cafe24.cancel_noty";

pub struct Cafe24Notifications<'a> {
    pub service_key: &'a str,
    pub gateways: &'a Gateways,
}

fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

fn tf(b: bool) -> &'static str {
    if b {
        "T"
    } else {
        "F"
    }
}

impl Notifications for Cafe24Notifications<'_> {
    fn on_transition(&self, p: &Payment, t: &Transition, _event: &PaymentEvent) -> Vec<NewMessage> {
        use PaymentStatus::*;
        if p.flow == Flow::Sync {
            return Vec::new();
        }
        let Some(target) = &p.return_noty_url else { return Vec::new() };
        // Deposits (SPEC §4.4): the first noty says pending (payed_tf F), the second,
        // when the money arrives, is a `notification` with payed_tf T.
        let (request_type, paid, code, message) = match (t.from, t.to) {
            (Request, Complete) => ("payment", true, "0000", "paid"),
            (Request, Pending) => ("payment", false, "0000", "awaiting deposit"),
            (Pending, Complete) => ("notification", true, "0000", "deposit received"),
            (Request, Fail) => match p.failure_reason {
                Some(FailureReason::AbandonedByBuyer) => ("payment", false, "9999", "cancelled by the buyer"),
                _ => ("payment", false, "0001", "declined by the payment company"),
            },
            // Cancels are reported by their own notifications.
            _ => return Vec::new(),
        };
        let caps = self.gateways.get(&p.gateway).map(|g| g.capabilities());
        let tid = p.tid.as_deref().unwrap_or_default();
        let currency = p.amount.currency.code();
        let hash = signature::sign(self.service_key, &[&p.amount_text, currency, &p.order_id, &p.partner_id, tid]);
        let body = form(&[
            ("request_type", request_type),
            ("partner_id", &p.partner_id),
            ("paymethod", &p.paymethod),
            ("tid", tid),
            ("amount", &p.amount_text),
            ("order_id", &p.order_id),
            ("all_cancel_tf", tf(caps.is_some_and(|c| c.all_cancel))),
            ("part_cancel_tf", tf(caps.is_some_and(|c| c.partial_cancel))),
            ("escrow_tf", tf(caps.is_some_and(|c| c.escrow))),
            ("currency", currency),
            ("payed_tf", tf(paid)),
            ("easypay", "F"),
            ("extra_data", p.extra_data.as_deref().unwrap_or_default()),
            ("result_code", code),
            ("result_message", message),
            ("hash_data", &hash),
        ]);
        vec![NewMessage { kind: PAYMENT_NOTY, target_url: target.clone(), body }]
    }

    fn on_refund_settled(&self, p: &Payment, r: &Refund, previous: RefundStatus) -> Vec<NewMessage> {
        if r.mode != RefundMode::Async {
            return Vec::new();
        }
        let Some(target) = &r.cancel_noty_url else { return Vec::new() };
        let (status, code, message) = match r.status {
            RefundStatus::Succeeded => ("P", "0000", "cancelled".to_owned()),
            // A refusal while Cafe24 still waited on the request was answered there.
            RefundStatus::Failed if previous == RefundStatus::Pending => (
                "F",
                "9999",
                format!("refused by the payment company: {}", r.failure_message.as_deref().unwrap_or_default()),
            ),
            _ => return Vec::new(),
        };
        let tid = p.tid.as_deref().unwrap_or_default();
        let currency = p.amount.currency.code();
        let hash = signature::sign(self.service_key, &[&r.amount_text, currency, &p.order_id, &p.partner_id, tid]);
        let body = form(&[
            ("request_type", "cancelnoty"),
            ("partner_id", &p.partner_id),
            ("tid", tid),
            ("order_id", &p.order_id),
            ("paymethod", &p.paymethod),
            ("currency", currency),
            ("cancel_amount", &r.amount_text),
            ("status", status),
            ("extra_data", r.extra_data.as_deref().unwrap_or_default()),
            ("result_code", code),
            ("result_message", &message),
            ("hash_data", &hash),
        ]);
        vec![NewMessage { kind: CANCEL_NOTY, target_url: target.clone(), body }]
    }
}
