//! Webhooks to the store (SPEC §8.4). Every change of a Store API payment enqueues, in
//! its own transaction, one event to each of the merchant's endpoints: JSON
//! `{"id":"evt_…","type","timestamp","data":{payment}}`, taken on any 2xx, signed with
//! Standard Webhooks when it is sent (the outbox's worker asks [`EndpointKeys`] for the
//! endpoint's secrets at that time). The event's `id` and `webhook-id` are the id of the
//! payment event (its history entry, `events[].id`) that caused it: the same on every
//! attempt and for every endpoint (Standard Webhooks scopes its ids to an endpoint).
//! A card registration tells `token.registered` (data: the token) or
//! `token.registration_failed` (data: the registration, a payment) instead of its
//! transition, and a deleted card `token.deleted` (data: the token; the id is the entry on
//! its registration's history).

use std::sync::Arc;

use serde_json::{json, Value};

use super::{
    keys::webhook_signing_key,
    model::{rfc3339, PaymentObject, TokenObject},
};
use crate::{
    domain::{Payment, PaymentStatus, RefundStatus},
    outbox::SigningKeys,
    payments::{Change, Note, Notifier, RefundSettled},
    secrets::KeyRing,
    store::{now_ms, Acceptance, DeliveryPolicy, NewMessage, Signing, Store, StoreError, Tx},
    web::PublicUrl,
};

pub struct StoreApiNotifier {
    pub store: Store,
    pub public_url: PublicUrl,
}

/// The event type a transition is, for the store (SPEC §8.4).
fn transition_type(to: PaymentStatus) -> Option<&'static str> {
    match to {
        PaymentStatus::Complete => Some("payment.completed"),
        PaymentStatus::Pending => Some("payment.pending"),
        PaymentStatus::Fail => Some("payment.failed"),
        PaymentStatus::Cancel | PaymentStatus::PendingCancel => Some("payment.canceled"),
        PaymentStatus::PartialCancel => Some("payment.partially_canceled"),
        PaymentStatus::Request | PaymentStatus::Register => None,
    }
}

/// What a store webhook's `data` is.
enum Data<'a> {
    /// The payment as it is now (with its refunds, when asked).
    Payment { with_refunds: bool },
    /// A saved card.
    Token(&'a TokenObject),
}

impl StoreApiNotifier {
    /// One message per endpoint of the payment's merchant for an event of `kind`, caused
    /// by the history entry `event_id`.
    async fn event(
        &self,
        tx: &mut Tx,
        payment: &Payment,
        kind: &str,
        event_id: &str,
        data: Data<'_>,
    ) -> Result<Vec<NewMessage>, StoreError> {
        let Some(stored) = self.store.store_api_payment_in(tx, &payment.id).await? else { return Ok(Vec::new()) };
        let endpoints = self.store.webhook_endpoints_in(tx, &payment.mall_id).await?;
        if endpoints.is_empty() {
            return Ok(Vec::new());
        }
        let data = match data {
            Data::Payment { with_refunds } => {
                let mut object = PaymentObject::of(payment, &stored, &self.public_url);
                if with_refunds {
                    let refunds = self.store.refunds_of(tx, payment).await?;
                    object = object.with_history(&[], &refunds);
                    object.events = None;
                }
                serde_json::to_value(&object)
            }
            Data::Token(token) => serde_json::to_value(token),
        };
        let id = event_id.to_owned();
        let body = json!({
            "id": id,
            "type": kind,
            "timestamp": rfc3339(now_ms()),
            "data": data.unwrap_or(Value::Null),
        })
        .to_string();
        Ok(endpoints
            .into_iter()
            .map(|endpoint| NewMessage {
                kind: format!("webhook.{kind}"),
                receiver: endpoint.id.clone(),
                target_url: endpoint.url,
                body: body.clone(),
                policy: DeliveryPolicy {
                    content_type: "application/json".into(),
                    headers: vec![("webhook-id".into(), id.clone())],
                    accept: Acceptance::Any2xx,
                    signing: Some(Signing::StandardWebhooks { key_ref: endpoint.id }),
                },
            })
            .collect())
    }
}

#[async_trait::async_trait]
impl Notifier for StoreApiNotifier {
    async fn on_transition(&self, tx: &mut Tx, change: &Change<'_>) -> Result<Vec<NewMessage>, StoreError> {
        let payment = change.payment;
        if self.store.registration_in(tx, &payment.id).await?.is_some() {
            return match change.transition.to {
                PaymentStatus::Register => {
                    let Some(token) = self.store.card_token_of_registration_in(tx, &payment.id).await? else {
                        return Err(StoreError::Corrupt(format!("registration {} ended without its card", payment.id)));
                    };
                    let token = TokenObject::of(&token);
                    self.event(tx, payment, "token.registered", change.event_id, Data::Token(&token)).await
                }
                PaymentStatus::Fail => {
                    let data = Data::Payment { with_refunds: false };
                    self.event(tx, payment, "token.registration_failed", change.event_id, data).await
                }
                _ => Ok(Vec::new()),
            };
        }
        match transition_type(change.transition.to) {
            Some(kind) => self.event(tx, payment, kind, change.event_id, Data::Payment { with_refunds: false }).await,
            None => Ok(Vec::new()),
        }
    }

    async fn on_refund_settled(&self, tx: &mut Tx, settled: &RefundSettled<'_>) -> Result<Vec<NewMessage>, StoreError> {
        // A refund that succeeded is told by its transition (→ 7 or 3).
        if settled.refund.status != RefundStatus::Failed {
            return Ok(Vec::new());
        }
        self.event(tx, settled.payment, "refund.failed", settled.event_id, Data::Payment { with_refunds: true }).await
    }

    async fn on_note(&self, tx: &mut Tx, note: &Note<'_>) -> Result<Vec<NewMessage>, StoreError> {
        match note {
            Note::Confirmed { payment, event_id } => {
                self.event(tx, payment, "payment.confirmed", event_id, Data::Payment { with_refunds: false }).await
            }
            Note::TokenDeleted { registration, token, event_id } => {
                let token = TokenObject::of(token);
                self.event(tx, registration, "token.deleted", event_id, Data::Token(&token)).await
            }
        }
    }
}

/// The secrets that sign for a webhook endpoint now (two during a rotation).
pub struct EndpointKeys {
    pub store: Store,
    pub keys: Arc<KeyRing>,
}

#[async_trait::async_trait]
impl SigningKeys for EndpointKeys {
    async fn keys(&self, key_ref: &str) -> Result<Option<Vec<Vec<u8>>>, String> {
        let secrets = self.store.webhook_secrets(&self.keys, key_ref).await.map_err(|e| e.to_string())?;
        Ok(secrets.map(|secrets| secrets.iter().filter_map(|s| webhook_signing_key(s)).collect()))
    }
}
