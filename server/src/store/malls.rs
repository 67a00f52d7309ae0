//! Malls, their shops and the merchant's payment-company credentials.

use sqlx::FromRow;

use super::{now_ms, Store, StoreError};
use crate::{
    domain::{Currency, MerchantCredentials as Credentials},
    secrets::KeyRing,
};

/// A mall with linked credentials and one enabled shop.
#[derive(Clone, Copy, Debug)]
pub struct EnabledShop<'a> {
    pub mall_id: &'a str,
    pub credentials: &'a Credentials,
    pub shop_no: i64,
    pub shop_name: &'a str,
    pub currency: Currency,
    pub partner_id: &'a str,
}

/// What a `partner_id` leads to.
#[derive(Clone, Debug)]
pub struct ShopRoute {
    pub mall_id: String,
    pub shop_no: i64,
    pub currency: Currency,
    pub enabled: bool,
    /// The shop's name at Cafe24 (empty when not known yet).
    pub shop_name: String,
    pub credentials: Option<Credentials>,
}

#[derive(FromRow)]
struct ShopRouteRow {
    mall_id: String,
    shop_no: i64,
    currency: String,
    enabled: i64,
    shop_name: String,
    gateway: Option<String>,
    public_key: Option<String>,
    secret_key_enc: Option<String>,
    webhook_secret_enc: Option<String>,
}

pub(crate) fn credentials_context(mall_id: &str) -> String {
    format!("pg_credentials:{mall_id}")
}

pub(crate) fn webhook_secret_context(mall_id: &str) -> String {
    format!("pg_webhook_secret:{mall_id}")
}

/// Opens the mall's sealed credentials.
fn open_credentials(
    keys: &KeyRing,
    mall_id: &str,
    (gateway, public_key, sealed, sealed_webhook): (String, String, String, Option<String>),
) -> Result<Credentials, StoreError> {
    let corrupt = |e: crate::secrets::SecretError| StoreError::Corrupt(format!("credentials of {mall_id}: {e}"));
    let secret_key = keys.open(&credentials_context(mall_id), &sealed).map_err(corrupt)?;
    let webhook_secret =
        sealed_webhook.map(|s| keys.open(&webhook_secret_context(mall_id), &s).map_err(corrupt)).transpose()?;
    Ok(Credentials { gateway, public_key, secret_key, webhook_secret })
}

/// The webhook secret as stored: sealed, or NULL.
pub(crate) fn seal_webhook_secret(keys: &KeyRing, mall_id: &str, credentials: &Credentials) -> Option<String> {
    credentials.webhook_secret.as_deref().map(|s| keys.seal(&webhook_secret_context(mall_id), s))
}

impl Store {
    /// The mall's row, created on first sight.
    pub(crate) async fn ensure_mall(
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        mall_id: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO malls (mall_id, created_at) VALUES ($1, $2) ON CONFLICT (mall_id) DO NOTHING")
            .bind(mall_id)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    pub async fn shop_by_partner_id(&self, keys: &KeyRing, partner_id: &str) -> Result<Option<ShopRoute>, StoreError> {
        let row: Option<ShopRouteRow> = sqlx::query_as(
            "SELECT s.mall_id, s.shop_no, s.currency, s.enabled, s.shop_name, c.gateway, c.public_key, c.secret_key_enc, \
             c.webhook_secret_enc \
             FROM shops s LEFT JOIN pg_credentials c ON c.mall_id = s.mall_id \
             WHERE s.partner_id = $1",
        )
        .bind(partner_id)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let currency = row.currency.parse().map_err(|_| {
            StoreError::Corrupt(format!("shop {}/{} has currency {:?}", row.mall_id, row.shop_no, row.currency))
        })?;
        let credentials = match (row.gateway, row.public_key, row.secret_key_enc) {
            (Some(gateway), Some(public_key), Some(sealed)) => {
                Some(open_credentials(keys, &row.mall_id, (gateway, public_key, sealed, row.webhook_secret_enc))?)
            }
            _ => None,
        };
        Ok(Some(ShopRoute {
            mall_id: row.mall_id,
            shop_no: row.shop_no,
            currency,
            enabled: row.enabled != 0,
            shop_name: row.shop_name,
            credentials,
        }))
    }

    pub async fn credentials_of(&self, keys: &KeyRing, mall_id: &str) -> Result<Option<Credentials>, StoreError> {
        let row: Option<(String, String, String, Option<String>)> = sqlx::query_as(
            "SELECT gateway, public_key, secret_key_enc, webhook_secret_enc FROM pg_credentials WHERE mall_id = $1",
        )
        .bind(mall_id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| open_credentials(keys, mall_id, row)).transpose()
    }

    /// Creates the mall, its credentials and one enabled shop where they are missing;
    /// existing rows are left as they are (used by the sandbox's demo provisioning).
    pub async fn ensure_mall_with_enabled_shop(
        &self,
        keys: &KeyRing,
        setup: &EnabledShop<'_>,
    ) -> Result<(), StoreError> {
        let EnabledShop { mall_id, credentials, shop_no, shop_name, currency, partner_id } = *setup;
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        Self::ensure_mall(&mut tx, mall_id, now).await?;
        sqlx::query(
            "INSERT INTO pg_credentials (mall_id, gateway, public_key, secret_key_enc, webhook_secret_enc, linked_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (mall_id) DO NOTHING",
        )
        .bind(mall_id)
        .bind(&credentials.gateway)
        .bind(&credentials.public_key)
        .bind(keys.seal(&credentials_context(mall_id), &credentials.secret_key))
        .bind(seal_webhook_secret(keys, mall_id, credentials))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO shops (mall_id, shop_no, shop_name, currency, enabled, partner_id) \
             VALUES ($1, $2, $3, $4, 1, $5) ON CONFLICT (mall_id, shop_no) DO NOTHING",
        )
        .bind(mall_id)
        .bind(shop_no)
        .bind(shop_name)
        .bind(currency.code())
        .bind(partner_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Turns a shop's payments on or off and nothing else (an enable or disable in progress
    /// keeps its lease; tests use this too).
    pub async fn set_shop_enabled(&self, mall_id: &str, shop_no: i64, enabled: bool) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE shops SET enabled = $1 WHERE mall_id = $2 AND shop_no = $3")
            .bind(i64::from(enabled))
            .bind(mall_id)
            .bind(shop_no)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
