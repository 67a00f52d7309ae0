//! Channel 2: the Store API v2 (SPEC §8) — API keys, Idempotency-Key, payment intents,
//! finalization by webhook or by API, capture, cancel and void, purchase confirmation,
//! saved cards and payments with them, signed store webhooks, OpenAPI — over the same
//! payment core as Cafe24. A handler
//! parses and checks what the store sent, calls the core, and answers the payment object.

pub mod callback;
pub mod endpoints;
pub mod error;
pub mod hosted;
pub mod housekeeping;
pub mod keys;
pub mod model;
pub mod openapi;
pub mod payments;
pub mod pin;
pub mod request;
pub mod tokens;
pub mod webhooks;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    extract::{DefaultBodyLimit, FromRef},
    routing::{any, get},
    Router,
};
use url::Url;

use crate::{
    domain::{Currency, MallId},
    hosts::HostPolicy,
    payments::PaymentService,
    secrets::KeyRing,
    store::Store,
    web::PublicUrl,
};

pub use error::ApiError;
use keys::KeyMode;

/// Bodies above this are refused (413).
pub const BODY_LIMIT: usize = 64 * 1024;

#[derive(Clone, Debug)]
pub struct StoreApiSettings {
    /// `INTENT_EXPIRY`.
    pub intent_expiry: Duration,
    /// `sk_test_…` with the sandbox on, `sk_live_…` otherwise.
    pub key_mode: KeyMode,
    /// How long a request holds its idempotency key before another may resume it.
    pub idempotency_lease_ms: i64,
    /// How long an idempotency key is kept (24 h).
    pub idempotency_keep_ms: i64,
}

impl Default for StoreApiSettings {
    fn default() -> Self {
        StoreApiSettings {
            intent_expiry: Duration::from_secs(30 * 60),
            key_mode: KeyMode::Test,
            idempotency_lease_ms: 60_000,
            idempotency_keep_ms: 24 * 3600 * 1000,
        }
    }
}

/// The currencies each merchant's PG takes, asked of the PG at most once a minute.
#[derive(Default)]
pub struct CurrencyCache {
    by_mall: Mutex<HashMap<MallId, (Instant, Vec<Currency>)>>,
}

impl CurrencyCache {
    const FRESH: Duration = Duration::from_secs(60);

    fn get(&self, mall_id: &MallId) -> Option<Vec<Currency>> {
        let cache = self.by_mall.lock().ok()?;
        cache.get(mall_id).filter(|(at, _)| at.elapsed() < Self::FRESH).map(|(_, currencies)| currencies.clone())
    }

    fn put(&self, mall_id: &MallId, currencies: Vec<Currency>) {
        if let Ok(mut cache) = self.by_mall.lock() {
            cache.insert(mall_id.clone(), (Instant::now(), currencies));
        }
    }
}

/// What the Store API's handlers need.
#[derive(Clone)]
pub struct StoreApiContext {
    pub payments: PaymentService,
    pub store: Store,
    pub keys: Arc<KeyRing>,
    pub hosts: Arc<HostPolicy>,
    pub public_url: PublicUrl,
    pub settings: StoreApiSettings,
    pub currencies: Arc<CurrencyCache>,
}

impl StoreApiContext {
    pub fn url(&self, path: &str) -> Url {
        self.public_url.url(path)
    }
}

/// The Store API's routes and, from the same handlers, its OpenAPI document.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    StoreApiContext: FromRef<S>,
{
    let (api, document) = openapi::api::<S>();
    let document = Arc::new(document);
    let page = Arc::new(openapi::reference_page(&document));
    api.layer(crate::web::catch_panics(error::panic_answer))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .route("/api/v2/openapi.json", get(move || openapi::serve_document(document.clone())))
        .route("/api/v2/docs", get(move || openapi::serve_page(page.clone())))
        .route("/api/v2/checkout/callback", get(callback::buyer_returns))
        .route(tokens::REGISTRATION_CALLBACK, get(tokens::buyer_returns))
        // Nothing under /api/v2/ answers in another shape than §8.1's error object: an
        // unknown path is 404, a known one asked with another method 405 (with `Allow`).
        .route("/api/v2", any(error::route_not_found))
        .route("/api/v2/", any(error::route_not_found))
        .route("/api/v2/{*rest}", any(error::route_not_found))
        .method_not_allowed_fallback(error::method_not_allowed)
}
