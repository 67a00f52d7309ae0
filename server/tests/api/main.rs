//! Integration tests over real HTTP, each scenario on SQLite and on PostgreSQL.

mod helpers;
mod receiver;

mod cancel_async;
mod cancel_sync;
mod checkout_async;
mod checkout_bad_input;
mod checkout_sync;
mod outbox;
mod server;
