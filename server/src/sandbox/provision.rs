//! Demo provisioning (SPEC §6): mall `demomall` with the sandbox credentials linked and
//! shop 1 (PHP) enabled under the partner id of the seed's Postman collection; and, when
//! a Stripe test key is configured, mall `demostripe` linked to Stripe.

use crate::{
    config::DemoStripe,
    domain::{Currency, MallId, MerchantCredentials},
    gateway::sandbox::GATEWAY_ID,
    secrets::KeyRing,
    store::{EnabledShop, Store, StoreError},
};

use super::pg::{DEMO_PUBLIC_KEY, DEMO_SECRET_KEY};

pub const DEMO_MALL_ID: &str = "demomall";
pub const DEMO_SHOP_NO: i64 = 1;
pub const DEMO_PARTNER_ID: &str = "demomall:0:demo-app-public-key";
pub const DEMO_CURRENCY: Currency = Currency::Php;

/// The demo mall as if its merchant had installed the app: credentials linked, shop 1
/// enabled, the app's Cafe24 tokens issued (so the review page can ask Cafe24 for
/// totals before anyone opened the admin), and the Store API key `SANDBOX_API_KEY`.
pub async fn provision_demo_mall(store: &Store, keys: &KeyRing, api_key: &str) -> Result<(), StoreError> {
    let credentials = MerchantCredentials {
        gateway: GATEWAY_ID.to_owned(),
        public_key: DEMO_PUBLIC_KEY.to_owned(),
        secret_key: DEMO_SECRET_KEY.to_owned(),
        webhook_secret: None,
    };
    store
        .ensure_mall_with_enabled_shop(
            keys,
            &EnabledShop {
                mall_id: DEMO_MALL_ID,
                credentials: &credentials,
                shop_no: DEMO_SHOP_NO,
                shop_name: "Tindahan",
                currency: DEMO_CURRENCY,
                partner_id: DEMO_PARTNER_ID,
            },
        )
        .await?;
    // The configured key is the demo mall's sandbox key; one configured before is revoked.
    let api_key = crate::store_api::keys::describe(api_key.to_owned(), crate::store_api::keys::KeyMode::Test);
    let mall = MallId::parse(DEMO_MALL_ID).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    store.provision_sandbox_api_key(&mall, &api_key.hash, api_key.prefix, &api_key.last4).await?;
    if store.tokens(keys, DEMO_MALL_ID).await?.is_none() {
        let tokens = super::cafe24_sim::issue_installed_tokens(store, DEMO_MALL_ID).await?;
        store.save_tokens(keys, DEMO_MALL_ID, &tokens).await?;
    }
    Ok(())
}

pub const DEMO_STRIPE_MALL_ID: &str = "demostripe";
pub const DEMO_STRIPE_PARTNER_ID: &str = "demostripe:1:stripe";
pub const DEMO_STRIPE_API_KEY: &str = "sk_test_paybridge_demostripe";
pub const DEMO_STRIPE_CURRENCY: Currency = Currency::Usd;
/// Stripe's Checkout redirect needs no publishable key; this one only fills the field.
pub const DEMO_STRIPE_PUBLISHABLE_KEY: &str = "pk_test_paybridge_demostripe";

/// `demostripe` (`DEMO_STRIPE_SECRET_KEY`): shop 1 in USD enabled on Stripe, with the
/// Store API key [`DEMO_STRIPE_API_KEY`]. The configured key replaces a linked one at
/// every start. It is not checked with Stripe here: a start must not depend on Stripe
/// answering; a wrong key shows at the first payment.
pub async fn provision_demo_stripe_mall(store: &Store, keys: &KeyRing, demo: &DemoStripe) -> Result<(), StoreError> {
    let credentials = MerchantCredentials {
        gateway: crate::gateway::stripe::GATEWAY_ID.to_owned(),
        public_key: DEMO_STRIPE_PUBLISHABLE_KEY.to_owned(),
        secret_key: demo.secret_key.clone(),
        webhook_secret: demo.webhook_secret.clone(),
    };
    store
        .ensure_mall_with_enabled_shop(
            keys,
            &EnabledShop {
                mall_id: DEMO_STRIPE_MALL_ID,
                credentials: &credentials,
                shop_no: 1,
                shop_name: "Stripe demo",
                currency: DEMO_STRIPE_CURRENCY,
                partner_id: DEMO_STRIPE_PARTNER_ID,
            },
        )
        .await?;
    store.link_credentials(keys, DEMO_STRIPE_MALL_ID, &credentials).await?;
    let api_key =
        crate::store_api::keys::describe(DEMO_STRIPE_API_KEY.to_owned(), crate::store_api::keys::KeyMode::Test);
    let mall = MallId::parse(DEMO_STRIPE_MALL_ID).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    store.provision_sandbox_api_key(&mall, &api_key.hash, api_key.prefix, &api_key.last4).await?;
    Ok(())
}
