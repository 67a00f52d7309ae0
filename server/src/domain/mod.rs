//! The payment core: pure types and rules, no I/O.

pub mod merchant;
pub mod money;
pub mod payment;
pub mod status;

pub use merchant::MerchantCredentials;
pub use money::{Currency, Money, MoneyError};
pub use payment::{FailureReason, PaymentEvent, PaymentState, Refusal, Transition};
pub use status::PaymentStatus;
