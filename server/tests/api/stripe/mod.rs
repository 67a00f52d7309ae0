//! The Stripe connector's contract tests, all offline: localstripe (a stateful fake
//! Stripe, its own process) behind a recording stand-in that also answers Checkout
//! Sessions, and Stripe's official SDK judging what we send and read (docs/connectors.md,
//! "The contract-test kit").

mod connector;
mod contract;
mod flows;
pub mod stand_in;
pub mod tools;

/// The webhook signing secret the tests' Stripe account signs with.
pub const WEBHOOK_SECRET: &str = "whsec_paybridge_contract_tests";
