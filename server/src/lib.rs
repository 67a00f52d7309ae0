//! paybridge: a payment-gateway app between Cafe24 and a payment company.

pub mod admin;
pub mod cafe24;
pub mod config;
pub mod domain;
pub mod gateway;
pub mod hosts;
pub mod notify;
pub mod sandbox;
pub mod secrets;
pub mod startup;
pub mod store;
