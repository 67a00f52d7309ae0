//! The payment domain: pure types and rules, no I/O and nothing else of the crate.

pub mod card;
pub mod ids;
pub mod merchant;
pub mod money;
pub mod payment;
pub mod pin;
pub mod record;
pub mod refund;
pub mod status;

pub use card::{CardDisplay, CardRegistration, CardToken, CardUsage, Initiator};
pub use ids::{InvalidId, MallId, OrderId, PaymentId, RefundId, TokenId};
pub use merchant::MerchantCredentials;
pub use money::{Currency, Money, MoneyError};
pub use payment::{
    CaptureMethod, FailureReason, Outcome, PaymentEvent, PaymentState, PendingReason, Refusal, Transition,
};
pub use pin::{Pin, PinRefusal};
pub use record::{Channel, Payment, Refund};
pub use refund::{RefundAsk, RefundDecision, RefundLine, RefundMode, RefundRefusal, RefundStatus};
pub use status::PaymentStatus;
