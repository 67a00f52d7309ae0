//! The sandbox (SPEC §6): a payment company and a Cafe24 mall to run everything locally.
//! Served only when `SANDBOX` is on.

pub mod cafe24_sim;
pub mod demo_cards;
pub mod demo_mall;
pub mod demo_store;
pub mod pg;
pub mod provision;

pub(crate) use crate::web::{html_escape, page};

mod context;
pub use context::SandboxContext;

/// What the sandbox serves beside the app's own routes, when `SANDBOX` is on.
pub struct Sandbox {
    pub pg: pg::SandboxPg,
    /// `SANDBOX_API_KEY`: the demo store calls the Store API with it.
    pub api_key: String,
}
