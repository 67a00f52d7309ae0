//! The merchant admin (SPEC §4.7): its shared types, the server functions the page calls,
//! and the page. The server implements [`AdminPort`]; the JSON routes and the server
//! functions both go through it, so they share one implementation.

mod api;
mod i18n;
mod page;
#[cfg(feature = "ssr")]
mod port;
mod store_api;
mod time;
mod types;

pub use api::*;
pub use i18n::Lang;
pub use page::AdminPage;
#[cfg(feature = "ssr")]
pub use port::AdminPort;
pub use types::*;

/// The admin page's path (the `Route` in `App` spells it too; the `path!` macro takes a literal).
pub const PAGE_PATH: &str = "/admin/display";
