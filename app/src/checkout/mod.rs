//! The buyer's review page of an external checkout (SPEC §4.6): products, the shipping
//! address the payment company holds, Cafe24's totals, and Pay / Cancel. The server
//! implements [`ReviewPort`]; `POST /api/external-checkout/order/pay` and the page's
//! server functions share it.

mod api;
mod page;
#[cfg(feature = "ssr")]
mod port;
mod types;

pub use api::*;
pub use page::ReviewPage;
#[cfg(feature = "ssr")]
pub use port::ReviewPort;
pub use types::*;
