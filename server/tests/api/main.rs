//! Integration tests over real HTTP, each scenario on SQLite and on PostgreSQL.

mod admin_helpers;
mod helpers;
mod receiver;
mod v2_helpers;

mod admin;
mod admin_store_api;
mod cancel_async;
mod cancel_sync;
mod checkout_async;
mod checkout_bad_input;
mod checkout_sync;
mod compression;
mod demo_store;
mod duplicates;
mod external;
mod migration;
mod outbox;
mod pages;
mod panics;
mod sandbox_pg;
mod secrets;
mod server;
mod stripe;
mod v2_bad_input;
mod v2_concurrency;
mod v2_hosted;
mod v2_idempotency;
mod v2_openapi;
mod v2_payments;
mod v2_pin;
mod v2_tokens;
mod v2_tokens_bad_input;
