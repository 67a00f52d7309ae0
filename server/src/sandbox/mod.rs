//! The sandbox (SPEC §6): a payment company and a Cafe24 mall to run everything locally.
//! Served only when `SANDBOX` is on.

pub mod cafe24_sim;
pub mod demo_cards;
pub mod demo_mall;
pub mod pg;
pub mod provision;

pub(crate) use crate::web::{html_escape, page};

mod context;
pub use context::SandboxContext;
