//! The core's one error. Each channel turns it into its own answer.

use crate::{
    domain::{RefundRefusal, Refusal},
    gateway::{GatewayError, WebhookError},
    store::StoreError,
};

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// No such payment or refund (for this merchant).
    #[error("{0}")]
    NotFound(String),
    #[error("the merchant has no payment-company credentials linked")]
    NotLinked,
    #[error("payment company {0} is not available")]
    NoConnector(String),
    #[error("the payment was never opened at the payment company")]
    NotOpened,
    /// The status machine refuses the change (SPEC §3).
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    RefundRefused(#[from] RefundRefusal),
    /// The request contradicts the payment's state or another answer.
    #[error("{0}")]
    Conflict(String),
    /// A capture asked of a payment that is not an authorization awaiting one.
    #[error("{0}")]
    NotCapturable(String),
    /// The authorization's capture window has passed (SPEC §8.3 `captureBefore`).
    #[error("the authorization has expired and can no longer be captured")]
    AuthorizationExpired,
    /// The merchant's PG cannot do what was asked (manual capture, API finalization, …).
    #[error("{0}")]
    Unsupported(String),
    /// The purchase was confirmed: it can no longer be cancelled.
    #[error("the payment is confirmed and can no longer be cancelled")]
    Confirmed,
    /// What we were told cannot be right (a webhook's amount, …).
    #[error("{0}")]
    Invalid(String),
    /// The PG answered and said no.
    #[error("the payment company refused: {0}")]
    GatewayRejected(String),
    /// No usable answer from the PG: it may or may not have acted.
    #[error("the payment company is unavailable: {0}")]
    GatewayUnavailable(String),
    #[error("the payment company answered something unexpected: {0}")]
    GatewayProtocol(String),
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    /// Ours: logged with the operation by the channel, never shown.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The error came after something was already done: the PG acted (captured, closed a
    /// checkout, approved) or a history entry was written. A channel that lets a request
    /// be sent again must answer the same request with this result, not run it again.
    #[error(transparent)]
    AfterChange(Box<PaymentError>),
}

impl From<GatewayError> for PaymentError {
    fn from(e: GatewayError) -> Self {
        match e {
            GatewayError::Rejected(m) | GatewayError::NotFound(m) => PaymentError::GatewayRejected(m),
            GatewayError::Unavailable(m) => PaymentError::GatewayUnavailable(m),
            GatewayError::Protocol(m) => PaymentError::GatewayProtocol(m),
        }
    }
}

impl PaymentError {
    /// Whether the fault is ours (logged and hidden) rather than the caller's or the PG's.
    pub fn is_internal(&self) -> bool {
        matches!(self.cause(), PaymentError::Store(_) | PaymentError::NoConnector(_))
    }

    /// This error, marked as coming after something was done (see [`PaymentError::AfterChange`]).
    pub fn after_change(self) -> Self {
        match self {
            e @ PaymentError::AfterChange(_) => e,
            e => PaymentError::AfterChange(Box::new(e)),
        }
    }

    /// Whether something was done before this error (the request is not as if never sent).
    pub fn changed_something(&self) -> bool {
        matches!(self, PaymentError::AfterChange(_))
    }

    /// What went wrong, without the [`PaymentError::AfterChange`] mark.
    pub fn cause(&self) -> &PaymentError {
        match self {
            PaymentError::AfterChange(inner) => inner.cause(),
            other => other,
        }
    }

    /// The same, owned.
    pub fn into_cause(self) -> PaymentError {
        match self {
            PaymentError::AfterChange(inner) => inner.into_cause(),
            other => other,
        }
    }
}
