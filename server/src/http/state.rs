//! The application's state, and the part of it each module's handlers take (`FromRef`):
//! a channel's handlers see their own context, not the whole application.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;

use crate::{
    admin::AdminContext,
    cafe24::{api::Cafe24Api, tokens::Cafe24Client, Cafe24Context},
    config::Cafe24Credentials,
    gateway::Gateways,
    hosts::HostPolicy,
    observability::Observability,
    payments::PaymentService,
    sandbox::SandboxContext,
    secrets::KeyRing,
    store::Store,
    store_api::{CurrencyCache, StoreApiContext, StoreApiSettings},
    web::PublicUrl,
};

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub keys: Arc<KeyRing>,
    pub gateways: Gateways,
    pub hosts: Arc<HostPolicy>,
    pub cafe24: Arc<Cafe24Credentials>,
    /// Where Cafe24, PGs and browsers reach us (`APP_URL`).
    pub public_url: PublicUrl,
    /// For outgoing calls: timeouts on every call, redirects never followed (SPEC §7).
    pub http: reqwest::Client,
    /// Cafe24's OAuth and Admin API.
    pub cafe24_api: Arc<Cafe24Api>,
    pub cafe24_client: Cafe24Client,
    pub payments: PaymentService,
    pub store_api: StoreApiSettings,
    pub currencies: Arc<CurrencyCache>,
    /// `SANDBOX_API_KEY`: the demo mall's Store API key (sandbox only; never logged).
    pub sandbox_api_key: String,
    pub leptos_options: LeptosOptions,
    /// The admin page's own bundle (`assets::admin_bundle`).
    pub admin_bundle: LeptosOptions,
    /// Metrics, readiness (`/metrics`, `/readyz`).
    pub observability: Observability,
}

impl AppState {
    pub fn url(&self, path: &str) -> url::Url {
        self.public_url.url(path)
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl FromRef<AppState> for PaymentService {
    fn from_ref(state: &AppState) -> Self {
        state.payments.clone()
    }
}

impl FromRef<AppState> for Cafe24Context {
    fn from_ref(state: &AppState) -> Self {
        Cafe24Context {
            payments: state.payments.clone(),
            store: state.store.clone(),
            keys: state.keys.clone(),
            hosts: state.hosts.clone(),
            cafe24: state.cafe24.clone(),
            public_url: state.public_url.clone(),
            client: state.cafe24_client.clone(),
        }
    }
}

impl FromRef<AppState> for AdminContext {
    fn from_ref(state: &AppState) -> Self {
        AdminContext {
            store: state.store.clone(),
            keys: state.keys.clone(),
            gateways: state.gateways.clone(),
            hosts: state.hosts.clone(),
            cafe24: state.cafe24.clone(),
            cafe24_api: state.cafe24_api.clone(),
            client: state.cafe24_client.clone(),
            public_url: state.public_url.clone(),
            api_key_mode: state.store_api.key_mode,
            leptos_options: state.leptos_options.clone(),
        }
    }
}

impl FromRef<AppState> for StoreApiContext {
    fn from_ref(state: &AppState) -> Self {
        StoreApiContext {
            payments: state.payments.clone(),
            store: state.store.clone(),
            keys: state.keys.clone(),
            hosts: state.hosts.clone(),
            public_url: state.public_url.clone(),
            settings: state.store_api.clone(),
            currencies: state.currencies.clone(),
        }
    }
}

impl FromRef<AppState> for SandboxContext {
    fn from_ref(state: &AppState) -> Self {
        SandboxContext {
            store: state.store.clone(),
            keys: state.keys.clone(),
            cafe24: state.cafe24.clone(),
            public_url: state.public_url.clone(),
            http: state.http.clone(),
            store_api_key: state.sandbox_api_key.clone(),
        }
    }
}
