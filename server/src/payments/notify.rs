//! What a committed change tells the outside: each channel has a [`Notifier`], asked
//! inside the transaction of the change, so the change and its notifications commit
//! together or not at all. The core routes by the payment's channel and does not look
//! at the messages.

use std::sync::Arc;

use crate::{
    domain::{CardToken, Channel, Payment, PaymentEvent, Refund, RefundStatus, Transition},
    store::{NewMessage, StoreError, Tx},
};

/// A transition, as it is about to commit.
pub struct Change<'a> {
    /// The payment after the transition.
    pub payment: &'a Payment,
    pub transition: &'a Transition,
    pub event: &'a PaymentEvent,
    /// The id of the transition's entry in the payment's history (`evt_…`): the id of
    /// what the channel tells about it (a store webhook's `id`).
    pub event_id: &'a str,
}

/// A refund that has just reached its final status.
pub struct RefundSettled<'a> {
    /// The payment after the refund.
    pub payment: &'a Payment,
    pub refund: &'a Refund,
    /// Its status before.
    pub previous: RefundStatus,
    /// The history entry that settles it (its transition, or `refund.refused`).
    pub event_id: &'a str,
}

#[async_trait::async_trait]
pub trait Notifier: Send + Sync {
    /// The messages a transition causes. `tx` is the change's own transaction: the
    /// channel reads its data of the payment through it.
    async fn on_transition(&self, tx: &mut Tx, change: &Change<'_>) -> Result<Vec<NewMessage>, StoreError>;

    async fn on_refund_settled(&self, tx: &mut Tx, settled: &RefundSettled<'_>) -> Result<Vec<NewMessage>, StoreError>;

    /// The messages a change that is not a transition causes (a confirmation, …).
    async fn on_note(&self, _tx: &mut Tx, _note: &Note<'_>) -> Result<Vec<NewMessage>, StoreError> {
        Ok(Vec::new())
    }
}

/// A change of a payment that leaves its status as it is.
pub enum Note<'a> {
    /// The purchase was confirmed (the payment as it is now; its history entry).
    Confirmed { payment: &'a Payment, event_id: &'a str },
    /// A saved card was deleted (its registration, the card as it was, the history entry
    /// on the registration).
    TokenDeleted { registration: &'a Payment, token: &'a CardToken, event_id: &'a str },
}

/// One notifier per channel.
#[derive(Clone, Default)]
pub struct Notifiers {
    by_channel: Vec<(Channel, Arc<dyn Notifier>)>,
}

impl Notifiers {
    pub fn with(mut self, channel: Channel, notifier: Arc<dyn Notifier>) -> Self {
        self.by_channel.retain(|(c, _)| *c != channel);
        self.by_channel.push((channel, notifier));
        self
    }

    pub(super) fn of(&self, channel: Channel) -> Option<&dyn Notifier> {
        self.by_channel.iter().find(|(c, _)| *c == channel).map(|(_, n)| n.as_ref())
    }
}
