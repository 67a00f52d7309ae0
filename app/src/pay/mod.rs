//! The hosted payment page `/pay/{id}` (SPEC §8.3): a Store API intent's `paymentUrl`.
//! It shows the order and sends the buyer on to the PG; once hydrated it polls
//! `/pay/{id}/status` (with gloo-net) so that a payment decided elsewhere — another tab,
//! the PG's webhook, the store canceling — shows in place, and the buyer is sent on to
//! the store's `successUrl` or `failUrl`. The server implements [`PayPort`]; the page's
//! route and its status route are in [`routes`].

mod page;
#[cfg(feature = "ssr")]
mod port;
#[cfg(feature = "ssr")]
mod serve;
mod types;

pub use page::PayPage;
#[cfg(feature = "ssr")]
pub use port::PayPort;
#[cfg(feature = "ssr")]
pub use serve::{routes, PAGE_ROUTE, STATUS_ROUTE};
pub use types::*;
