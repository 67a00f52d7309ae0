//! Channel 2: the Store API v2 (SPEC §8) — API keys, Idempotency-Key, payment intents,
//! capture, cancel, confirmation, signed store webhooks, OpenAPI — over the same payment
//! core as Cafe24.

pub mod keys;
