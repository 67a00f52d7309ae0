//! The payment core: every use case once, for every channel — open a checkout, sync a
//! payment with the PG, take in a PG webhook, refund, settle and pay, abandon, register
//! a card, charge a saved card, delete it. Each
//! change is one transaction holding the new state, its history entry and the
//! notifications it causes (SPEC §3, §5). The core holds the store, the connectors and
//! one notifier per channel; it takes a channel's own data as opaque values and knows no
//! channel's protocol and no HTTP.

mod apply;
mod authorization;
mod confirm;
mod error;
mod maintenance;
mod notify;
mod open;
mod reconcile;
mod refund;
mod saved_cards;
mod settle;
mod sync;
mod token_charge;
mod webhook;

use std::{sync::Arc, time::Duration};

use url::Url;

pub use apply::Applied;
pub use error::PaymentError;
pub use maintenance::{Chore, Maintenance, MaintenanceReport, MaintenanceSettings};
pub use notify::{Change, Note, Notifier, Notifiers, RefundSettled};
pub use open::{OpenCheckout, Opened};
pub use reconcile::REFUND_NEVER_MADE;
pub use refund::{AskRefund, RefundOutcome};
pub use saved_cards::OpenRegistration;
pub use token_charge::{ChargeToken, Charged};
pub use webhook::{WebhookOutcome, WebhookSource};

use crate::{
    domain::{MallId, MerchantCredentials, OrderId, Payment, PaymentId, Refund},
    gateway::{Gateways, PaymentGateway},
    observability::Metrics,
    secrets::KeyRing,
    store::{PaymentEventRow, Store},
};

/// The core's own settings (SPEC §2).
#[derive(Clone, Debug)]
pub struct CoreSettings {
    /// `CAPTURE_WINDOW`: how long an authorization may wait for its capture.
    pub capture_window: Duration,
}

impl Default for CoreSettings {
    fn default() -> Self {
        CoreSettings { capture_window: Duration::from_secs(7 * 24 * 3600) }
    }
}

#[derive(Clone)]
pub struct PaymentService {
    store: Store,
    keys: Arc<KeyRing>,
    gateways: Gateways,
    notifiers: Notifiers,
    /// `{APP_URL}`: PGs send webhooks to `{APP_URL}/pg/{gateway}/webhook`.
    public_url: Url,
    settings: CoreSettings,
    /// Where committed transitions are counted.
    metrics: Metrics,
}

impl PaymentService {
    pub fn new(
        store: Store,
        keys: Arc<KeyRing>,
        gateways: Gateways,
        notifiers: Notifiers,
        public_url: Url,
        settings: CoreSettings,
    ) -> Self {
        PaymentService { store, keys, gateways, notifiers, public_url, settings, metrics: Metrics::default() }
    }

    /// Counts its committed transitions in `metrics` (the application's).
    pub fn with_metrics(self, metrics: Metrics) -> Self {
        PaymentService { metrics, ..self }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn gateways(&self) -> &Gateways {
        &self.gateways
    }

    /// Where the PG `gateway` sends its webhooks (SPEC: `/pg/{gateway}/webhook`).
    pub fn webhook_url(&self, gateway: &str) -> Url {
        let mut url = self.public_url.clone();
        let base = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base}/pg/{gateway}/webhook"));
        url
    }

    pub async fn payment(&self, id: &PaymentId) -> Result<Option<Payment>, PaymentError> {
        Ok(self.store.payment(id).await?)
    }

    /// By an id as received from outside (a PG's reference, a URL).
    pub async fn payment_by_reference(&self, reference: &str) -> Result<Option<Payment>, PaymentError> {
        Ok(self.store.payment_by_reference(reference).await?)
    }

    pub async fn payment_by_order(
        &self,
        mall_id: &MallId,
        order_id: &OrderId,
    ) -> Result<Option<Payment>, PaymentError> {
        Ok(self.store.payment_by_order(mall_id, order_id).await?)
    }

    pub async fn events(&self, payment: &Payment) -> Result<Vec<PaymentEventRow>, PaymentError> {
        Ok(self.store.payment_events(&payment.id).await?)
    }

    pub async fn refunds(&self, payment: &Payment) -> Result<Vec<Refund>, PaymentError> {
        Ok(self.store.refunds_for(payment).await?)
    }

    /// The merchant's credentials at its PG.
    async fn credentials(&self, mall_id: &MallId) -> Result<MerchantCredentials, PaymentError> {
        self.store.credentials_of(&self.keys, mall_id.as_str()).await?.ok_or(PaymentError::NotLinked)
    }

    fn gateway(&self, id: &str) -> Result<&dyn PaymentGateway, PaymentError> {
        self.gateways.get(id).map(|g| g.as_ref()).ok_or_else(|| PaymentError::NoConnector(id.to_owned()))
    }

    /// The PG, the merchant's credentials there and the PG's transaction id of a payment.
    async fn at_gateway<'a>(
        &'a self,
        payment: &'a Payment,
    ) -> Result<(&'a dyn PaymentGateway, MerchantCredentials, &'a str), PaymentError> {
        let credentials = self.credentials(&payment.mall_id).await?;
        // Only the PG that took a payment can act on it: after a relink to another PG, its
        // credentials there are gone, and the new PG must never be sent its transaction.
        if credentials.gateway != payment.gateway {
            return Err(PaymentError::Conflict(format!(
                "the payment was taken by the payment company {}; the mall is now linked to {}",
                payment.gateway, credentials.gateway
            )));
        }
        let gateway = self.gateway(&credentials.gateway)?;
        let tid = payment.tid.as_deref().ok_or(PaymentError::NotOpened)?;
        Ok((gateway, credentials, tid))
    }
}
