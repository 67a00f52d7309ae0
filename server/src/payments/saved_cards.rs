//! Saved cards (SPEC §8.3): registering a card at the PG and deleting it.
//!
//! A registration is a payment (amount 0) that ends in 9 with a card, or in 4. It is opened
//! the way a checkout is — **the PG first, then one transaction here** — and finished only
//! by what the PG answers when asked (after the buyer's return, or on the PG's webhook,
//! which is only a notice): the card's token never comes from the buyer's browser. The
//! card is kept in the registration's transaction, its reference sealed, before the
//! transition 1 → 9, so that the transition's notifications show it. A card the PG
//! registers after the registration ended here (it expired, or the store canceled it) is
//! deleted at the PG again: nobody could use it.
//!
//! Deleting a card asks the PG first, then marks it deleted here with a history entry on
//! its registration (whose id the store's `token.deleted` webhook carries).

use url::Url;

use super::{Note, PaymentError, PaymentService};
use crate::{
    domain::{
        CaptureMethod, CardDisplay, CardRegistration, CardToken, CardUsage, Channel, Currency, FailureReason, MallId,
        Money, OrderId, Payment, PaymentEvent, PaymentId, PaymentStatus, TokenId,
    },
    gateway::{RegistrationRequest, RegistrationStatus, SavedCard, TokenUsage},
    store::{now_ms, ChannelData, EventRecord, EventSource, Inserted, NewPayment, OpenedCheckout, StoreError},
};

pub struct OpenRegistration {
    /// The registration's id when the caller chose it already (a request resumed under its
    /// idempotency key asks the PG under the same reference); a new one otherwise.
    pub id: Option<PaymentId>,
    pub mall_id: MallId,
    pub channel: Channel,
    pub customer_id: String,
    pub usage: CardUsage,
    /// A registration moves no money: its amount is 0 in this currency.
    pub currency: Currency,
    /// A registration not finished by then fails (`expired`).
    pub expires_at: Option<i64>,
    /// Where the PG sends the buyer back (the channel's callback).
    pub callback_url: Url,
    pub channel_data: ChannelData,
    /// Who asks, for the history.
    pub source: &'static str,
}

pub(super) fn gateway_usage(usage: CardUsage) -> TokenUsage {
    match usage {
        CardUsage::OnSession => TokenUsage::OnSession,
        CardUsage::OffSession => TokenUsage::OffSession,
    }
}

impl PaymentService {
    /// Opens the PG's hosted registration page; the registration is a payment in 1.
    pub async fn open_registration(&self, request: OpenRegistration) -> Result<Payment, PaymentError> {
        let id = request.id.clone().unwrap_or_else(PaymentId::generate);
        if let Some(existing) = self.store.payment(&id).await? {
            // The first attempt under this id stored it already.
            return Ok(existing);
        }
        let credentials = self.credentials(&request.mall_id).await?;
        let gateway = self.gateway(&credentials.gateway)?;
        if !gateway.capabilities().saved_cards {
            return Err(PaymentError::Unsupported(format!("payment company {} keeps no cards", credentials.gateway)));
        }
        // A registration has no order of the store's: it is its own.
        let order_id = OrderId::parse(id.as_str()).map_err(|e| PaymentError::Invalid(e.to_string()))?;
        let asked = RegistrationRequest {
            reference: id.to_string(),
            customer: request.customer_id.clone(),
            usage: gateway_usage(request.usage),
            callback_url: request.callback_url.clone(),
            webhook_url: Some(self.webhook_url(&credentials.gateway)),
        };
        let page = gateway.create_registration(&credentials, &asked).await.inspect_err(|e| {
            tracing::warn!(payment_id = %id, error = %e, "the PG did not open the registration; nothing was stored");
        })?;
        let new = NewPayment {
            id: id.clone(),
            mall_id: request.mall_id,
            channel: request.channel,
            order_id,
            amount: Money::new(0, request.currency),
            capture_method: CaptureMethod::Automatic,
            gateway: credentials.gateway.clone(),
            description: Some("card registration".into()),
            expires_at: request.expires_at,
        };
        let registration = CardRegistration { payment_id: id, customer_id: request.customer_id, usage: request.usage };
        let opened = OpenedCheckout { tid: page.tid, checkout_url: page.registration_url };
        let source = EventSource::new(request.source);
        match self
            .store
            .create_registration_payment(&new, &opened, &request.channel_data, &registration, &source)
            .await?
        {
            Inserted::Created(p) | Inserted::Existing(p) => Ok(p),
        }
    }

    /// Asks the PG how the registration stands and applies it: 1 → 9 with the card, or
    /// 1 → 4; still open changes nothing.
    pub async fn sync_registration(&self, payment: &Payment) -> Result<Payment, PaymentError> {
        let registration = self
            .store
            .registration(&payment.id)
            .await?
            .ok_or_else(|| PaymentError::NotFound(format!("no registration {}", payment.id)))?;
        let (gateway, credentials, tid) = self.at_gateway(payment).await?;
        let at_pg = gateway.get_registration(&credentials, tid).await?;
        if at_pg.reference != payment.id.as_str() || at_pg.tid != tid {
            tracing::error!(payment_id = %payment.id, tid, "the PG's registration belongs to another payment");
            return Err(PaymentError::Conflict("the payment company's answer does not match this registration".into()));
        }
        match at_pg.status {
            RegistrationStatus::Open => Ok(payment.clone()),
            RegistrationStatus::Failed(message) => {
                let event = PaymentEvent::Failed(FailureReason::Declined);
                let applied = self.apply(&payment.id, event, &EventSource::new("gateway"), Some(&message)).await?;
                Ok(applied.payment)
            }
            RegistrationStatus::Registered(card) => self.keep_card(payment, &registration, card).await,
        }
    }

    /// Keeps the card the PG registered and moves the registration to 9, in one
    /// transaction with its notifications.
    async fn keep_card(
        &self,
        payment: &Payment,
        registration: &CardRegistration,
        card: SavedCard,
    ) -> Result<Payment, PaymentError> {
        let mut tx = self.store.begin_write().await?;
        let current = self.store.lock_payment(&mut tx, &payment.id).await?;
        match current.status {
            PaymentStatus::Request => {}
            PaymentStatus::Register => {
                tx.commit().await.map_err(StoreError::from)?;
                return Ok(current);
            }
            _ => {
                drop(tx);
                self.forget_late_card(&current, &card).await;
                return Ok(current);
            }
        }
        let token = CardToken {
            id: TokenId::generate(),
            mall_id: current.mall_id.clone(),
            customer_id: registration.customer_id.clone(),
            usage: registration.usage,
            gateway: current.gateway.clone(),
            card: CardDisplay {
                brand: card.brand,
                last4: card.last4,
                exp_month: card.exp_month,
                exp_year: card.exp_year,
            },
            registration_id: current.id.clone(),
            created_at: now_ms(),
            deleted_at: None,
        };
        self.store.insert_card_token(&mut tx, &self.keys, &token, &card.token).await?;
        let done =
            self.transition_in(&mut tx, current, PaymentEvent::Registered, &EventSource::new("gateway"), None).await?;
        // Refused (cannot be from 1): nothing is kept, the transaction is dropped.
        done.outcome.map_err(PaymentError::Refused)?;
        self.commit(tx, done.enqueued).await?;
        self.count(done.counted);
        Ok(self.store.reload(&payment.id).await?)
    }

    /// A card registered at the PG after its registration ended here: deleted at the PG,
    /// since nobody here can use it. A failure is only logged (the card stays unused there).
    async fn forget_late_card(&self, payment: &Payment, card: &SavedCard) {
        let deleted = async {
            let (gateway, credentials, _) = self.at_gateway(payment).await?;
            gateway.delete_token(&credentials, &card.token).await.map_err(PaymentError::from)
        };
        match deleted.await {
            Ok(()) => tracing::info!(payment_id = %payment.id, status = %payment.status,
                "a card registered after its registration ended here was deleted at the PG"),
            Err(e) => tracing::warn!(payment_id = %payment.id, error = %e,
                "a card registered after its registration ended here could not be deleted at the PG"),
        }
    }

    /// Ends a registration nobody finished (expired, or canceled by the store): the PG is
    /// asked first, and what it decided wins; still open, it fails with `reason`.
    pub(super) async fn end_registration(
        &self,
        payment: &Payment,
        reason: FailureReason,
        source: &'static str,
    ) -> Result<Payment, PaymentError> {
        let now = self.sync_registration(payment).await?;
        if now.status != PaymentStatus::Request {
            return Ok(now);
        }
        let applied = self.apply(&payment.id, PaymentEvent::Failed(reason), &EventSource::new(source), None).await?;
        applied.outcome.map_err(PaymentError::Refused)?;
        Ok(applied.payment)
    }

    pub async fn saved_card(&self, id: &TokenId) -> Result<Option<CardToken>, PaymentError> {
        Ok(self.store.card_token(id).await?)
    }

    /// A customer's cards, newest first.
    pub async fn saved_cards(&self, mall_id: &MallId, customer_id: &str) -> Result<Vec<CardToken>, PaymentError> {
        Ok(self.store.card_tokens_of(mall_id, customer_id).await?)
    }

    /// Deletes a card: at the PG first, then here, with its history entry and
    /// notifications. A card already deleted (also by a concurrent call) is `NotFound`.
    pub async fn delete_saved_card(&self, token: &CardToken, source: &'static str) -> Result<(), PaymentError> {
        let gone = || PaymentError::NotFound(format!("no token {}", token.id));
        if token.deleted_at.is_some() {
            return Err(gone());
        }
        let credentials = self.credentials(&token.mall_id).await?;
        if credentials.gateway != token.gateway {
            return Err(PaymentError::Conflict(format!(
                "the card is kept by payment company {}, but the merchant is linked to {}",
                token.gateway, credentials.gateway
            )));
        }
        let gateway = self.gateway(&token.gateway)?;
        let reference = self.store.card_reference(&self.keys, &token.id).await?;
        gateway.delete_token(&credentials, &reference).await?;
        // Gone at the PG: whatever fails now, the card cannot be charged any more.
        let kept = async {
            let mut tx = self.store.begin_write().await?;
            let registration = self.store.lock_payment(&mut tx, &token.registration_id).await?;
            if !self.store.mark_card_token_deleted(&mut tx, &token.id).await? {
                return Err(gone());
            }
            let source = EventSource::new(source);
            let event_id = self
                .store
                .record_event(&mut tx, &registration.id, EventRecord::note("token.deleted", &source, None, None))
                .await?;
            let mut enqueued = false;
            if let Some(notifier) = self.notifiers.of(registration.channel) {
                let note = Note::TokenDeleted { registration: &registration, token, event_id: &event_id };
                for message in notifier.on_note(&mut tx, &note).await? {
                    self.store.enqueue(&mut tx, &registration.id, &message).await?;
                    enqueued = true;
                }
            }
            self.commit(tx, enqueued).await?;
            Ok(())
        };
        kept.await.map_err(|e| match e {
            e @ PaymentError::NotFound(_) => e,
            other => other.after_change(),
        })
    }
}
