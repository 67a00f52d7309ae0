//! Integration tests over real HTTP, each scenario on SQLite and on PostgreSQL.

mod helpers;

mod cancel_sync;
mod checkout_bad_input;
mod checkout_sync;
mod server;
