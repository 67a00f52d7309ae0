//! Delivery of the transactional outbox (SPEC §5): a worker per instance claims due
//! messages under a lease, sends them as each message's [`DeliveryPolicy`] says, and
//! records each attempt. At-least-once, the same content on every attempt, never two
//! attempts of one message at the same time. The worker knows no channel.
//!
//! [`DeliveryPolicy`]: crate::store::DeliveryPolicy

mod resolver;
mod signing;
mod worker;

pub use resolver::GuardedResolver;
pub use signing::{signature_header, SigningKeys};
pub use worker::{delivery_timeout, OutboxWorker};
