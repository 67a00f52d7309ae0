//! paybridge: a payment platform with two faces — a payment-gateway app for Cafe24, and
//! the Store API v2 — over one payment core.
//!
//! Arrows point down: `startup` wires everything; `http` assembles the routes; the
//! channels (`cafe24`; `admin` and `sandbox` beside it) call the core (`payments`), which
//! calls the `store`, the connectors (`gateway`) and the `outbox`; everything stands on
//! the `domain`. See `docs/architecture.md`.

pub mod admin;
pub mod cafe24;
pub mod config;
pub mod domain;
pub mod gateway;
pub mod hosts;
pub mod http;
pub mod json;
pub mod observability;
pub mod outbox;
pub mod payments;
pub mod sandbox;
pub mod secrets;
pub mod startup;
pub mod store;
pub mod store_api;
pub mod web;
