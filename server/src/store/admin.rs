//! What the merchant admin reads and changes: linked credentials, the shops and what we
//! registered for them at Cafe24, recent payments and notification deliveries.

use std::time::Duration;

use sqlx::FromRow;

use super::{malls::credentials_context, now_ms, PaymentEventRow, Store, StoreError};
use crate::{
    domain::{MerchantCredentials, PaymentId},
    secrets::KeyRing,
};

/// A shop as Cafe24's shops list describes it.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct ShopListing {
    pub shop_no: i64,
    pub shop_name: String,
    pub currency_code: String,
    #[serde(default)]
    pub primary_domain: Option<String>,
    /// The skins the shop shows on PC and on mobile: where the storefront script goes.
    #[serde(default)]
    pub pc_skin_no: Option<i64>,
    #[serde(default)]
    pub mobile_skin_no: Option<i64>,
}

#[derive(Clone, Debug, FromRow)]
pub struct AdminShop {
    pub shop_no: i64,
    pub shop_name: String,
    pub currency: String,
    pub enabled: i64,
    pub partner_id: Option<String>,
    pub pg_registered: i64,
    pub scripttag_no: Option<String>,
    pub scripttag_integrity: Option<String>,
    pub pc_skin_no: Option<i64>,
    pub mobile_skin_no: Option<i64>,
}

impl AdminShop {
    /// The skins the storefront script is registered for: PC, then mobile, as Cafe24 said.
    pub fn skins(&self) -> Vec<i64> {
        [self.pc_skin_no, self.mobile_skin_no].into_iter().flatten().collect()
    }
}

/// What is registered at Cafe24 for a shop, after an enable or disable.
#[derive(Clone, Debug, Default)]
pub struct ShopRegistration {
    pub enabled: bool,
    pub partner_id: Option<String>,
    pub pg_registered: bool,
    pub scripttag_no: Option<String>,
    pub scripttag_integrity: Option<String>,
}

#[derive(Clone, Debug, FromRow)]
pub struct LinkedRow {
    pub gateway: String,
    pub public_key: String,
    pub linked_at: i64,
}

#[derive(Clone, Debug, FromRow)]
pub struct RecentPayment {
    pub id: String,
    pub order_id: String,
    /// Cafe24's shop; 0 for a payment of another channel.
    pub shop_no: i64,
    pub amount_minor: i64,
    pub currency: String,
    pub status: i64,
    /// Cafe24's flow (sync, async, external), or the channel's name.
    pub flow: String,
    pub created_at: i64,
}

#[derive(Clone, Debug, FromRow)]
pub struct DeliveryRow {
    pub id: String,
    pub order_id: Option<String>,
    pub kind: String,
    pub target_url: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
}

/// A scripttag whose registered `integrity` is not the current script's.
#[derive(Clone, Debug, FromRow)]
pub struct StaleScripttag {
    pub mall_id: String,
    pub shop_no: i64,
    pub scripttag_no: String,
}

impl Store {
    pub async fn linked_credentials(&self, mall_id: &str) -> Result<Option<LinkedRow>, StoreError> {
        Ok(sqlx::query_as("SELECT gateway, public_key, linked_at FROM pg_credentials WHERE mall_id = $1")
            .bind(mall_id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Stores (or replaces) the mall's credentials, the secret sealed.
    pub async fn link_credentials(
        &self,
        keys: &KeyRing,
        mall_id: &str,
        credentials: &MerchantCredentials,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        Self::ensure_mall(&mut tx, mall_id, now).await?;
        sqlx::query(
            "INSERT INTO pg_credentials (mall_id, gateway, public_key, secret_key_enc, webhook_secret_enc, linked_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (mall_id) DO UPDATE SET gateway = excluded.gateway, \
             public_key = excluded.public_key, secret_key_enc = excluded.secret_key_enc, \
             webhook_secret_enc = excluded.webhook_secret_enc, linked_at = excluded.linked_at",
        )
        .bind(mall_id)
        .bind(&credentials.gateway)
        .bind(&credentials.public_key)
        .bind(keys.seal(&credentials_context(mall_id), &credentials.secret_key))
        .bind(super::malls::seal_webhook_secret(keys, mall_id, credentials))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn forget_credentials(&self, mall_id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM pg_credentials WHERE mall_id = $1").bind(mall_id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Cafe24 removed the app from the mall, and with it our payment methods and
    /// scripttags: every shop is off and unregistered, and the credentials, tokens and
    /// sessions are gone, in one transaction. Payments and their history stay. Returns
    /// whether the mall was known.
    pub async fn uninstall_mall(&self, mall_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let known = sqlx::query("SELECT mall_id FROM malls WHERE mall_id = $1")
            .bind(mall_id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        sqlx::query(
            "UPDATE shops SET enabled = 0, pg_registered = 0, scripttag_no = NULL, scripttag_integrity = NULL, \
             toggle_lease_until = NULL WHERE mall_id = $1",
        )
        .bind(mall_id)
        .execute(&mut *tx)
        .await?;
        for table in ["pg_credentials", "oauth_tokens", "admin_sessions"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE mall_id = $1")).bind(mall_id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(known)
    }

    /// Brings the shops in line with Cafe24's list: new shops arrive disabled; names,
    /// currencies and domains follow Cafe24. What we registered is left as it is.
    pub async fn upsert_shops(&self, mall_id: &str, shops: &[ShopListing]) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        Self::ensure_mall(&mut tx, mall_id, now).await?;
        for shop in shops {
            sqlx::query(
                "INSERT INTO shops (mall_id, shop_no, shop_name, currency, enabled, primary_domain, pc_skin_no, \
                 mobile_skin_no) VALUES ($1, $2, $3, $4, 0, $5, $6, $7) ON CONFLICT (mall_id, shop_no) DO UPDATE SET \
                 shop_name = excluded.shop_name, currency = excluded.currency, primary_domain = excluded.primary_domain, \
                 pc_skin_no = excluded.pc_skin_no, mobile_skin_no = excluded.mobile_skin_no",
            )
            .bind(mall_id)
            .bind(shop.shop_no)
            .bind(&shop.shop_name)
            .bind(&shop.currency_code)
            .bind(shop.primary_domain.clone())
            .bind(shop.pc_skin_no)
            .bind(shop.mobile_skin_no)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The mall's own domains (from Cafe24's shops list): notifications and redirects
    /// may go there (SPEC §2, `NOTY_ALLOWED_HOSTS`).
    pub async fn mall_domains(&self, mall_id: &str) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT primary_domain FROM shops WHERE mall_id = $1 AND primary_domain IS NOT NULL")
                .bind(mall_id)
                .fetch_all(self.pool())
                .await?;
        Ok(rows.into_iter().map(|(d,)| d).collect())
    }

    /// The domains of the mall a payment belongs to.
    pub async fn payment_mall_domains(&self, payment_id: &str) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT s.primary_domain FROM shops s JOIN payments p ON p.mall_id = s.mall_id \
             WHERE p.id = $1 AND s.primary_domain IS NOT NULL",
        )
        .bind(payment_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(d,)| d).collect())
    }

    pub async fn admin_shops(&self, mall_id: &str) -> Result<Vec<AdminShop>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT shop_no, shop_name, currency, enabled, partner_id, pg_registered, scripttag_no, scripttag_integrity, \
             pc_skin_no, mobile_skin_no FROM shops WHERE mall_id = $1 ORDER BY shop_no",
        )
        .bind(mall_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// The name the buyer knows a merchant by when no shop is named (a Store API
    /// payment): its first shop's that has one. None when it has no named shop.
    pub async fn shop_name(&self, mall_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self.admin_shops(mall_id).await?.into_iter().map(|s| s.shop_name).find(|name| !name.is_empty()))
    }

    /// One enable/disable per shop at a time: `false` while another is running.
    pub async fn claim_shop_toggle(&self, mall_id: &str, shop_no: i64, lease: Duration) -> Result<bool, StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE shops SET toggle_lease_until = $1 WHERE mall_id = $2 AND shop_no = $3 \
             AND (toggle_lease_until IS NULL OR toggle_lease_until < $4)",
        )
        .bind(now + lease.as_millis() as i64)
        .bind(mall_id)
        .bind(shop_no)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records what is registered at Cafe24 for the shop and ends its toggle.
    pub async fn record_shop_registration(
        &self,
        mall_id: &str,
        shop_no: i64,
        registration: &ShopRegistration,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE shops SET enabled = $1, partner_id = COALESCE($2, partner_id), pg_registered = $3, \
             scripttag_no = $4, scripttag_integrity = $5, toggle_lease_until = NULL WHERE mall_id = $6 AND shop_no = $7",
        )
        .bind(i64::from(registration.enabled))
        .bind(registration.partner_id.clone())
        .bind(i64::from(registration.pg_registered))
        .bind(registration.scripttag_no.clone())
        .bind(registration.scripttag_integrity.clone())
        .bind(mall_id)
        .bind(shop_no)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn stale_scripttags(&self, integrity: &str) -> Result<Vec<StaleScripttag>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT mall_id, shop_no, scripttag_no FROM shops WHERE scripttag_no IS NOT NULL \
             AND (scripttag_integrity IS NULL OR scripttag_integrity <> $1)",
        )
        .bind(integrity)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn set_scripttag_integrity(
        &self,
        mall_id: &str,
        shop_no: i64,
        integrity: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE shops SET scripttag_integrity = $1 WHERE mall_id = $2 AND shop_no = $3")
            .bind(integrity)
            .bind(mall_id)
            .bind(shop_no)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn recent_payments(
        &self,
        mall_id: &str,
        limit: i64,
    ) -> Result<Vec<(RecentPayment, Vec<PaymentEventRow>)>, StoreError> {
        let payments: Vec<RecentPayment> = sqlx::query_as(
            "SELECT p.id, p.order_id, COALESCE(c.shop_no, 0) AS shop_no, p.amount_minor, p.currency, p.status, \
             COALESCE(c.flow, p.channel) AS flow, p.created_at FROM payments p \
             LEFT JOIN cafe24_payments c ON c.payment_id = p.id \
             WHERE p.mall_id = $1 ORDER BY p.created_at DESC, p.id LIMIT $2",
        )
        .bind(mall_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::with_capacity(payments.len());
        for payment in payments {
            let id = PaymentId::parse(&payment.id)
                .map_err(|e| StoreError::Corrupt(format!("payment {}: {e}", payment.id)))?;
            let events = self.payment_events(&id).await?;
            out.push((payment, events));
        }
        Ok(out)
    }

    /// The mall's latest deliveries, and every failed one.
    pub async fn recent_deliveries(&self, mall_id: &str, limit: i64) -> Result<Vec<DeliveryRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT o.id, p.order_id, o.kind, o.target_url, o.status, o.attempts, o.last_error, o.created_at \
             FROM outbox o JOIN payments p ON p.id = o.payment_id WHERE p.mall_id = $1 \
             AND (o.status = 'failed' OR o.id IN (SELECT o2.id FROM outbox o2 JOIN payments p2 ON p2.id = o2.payment_id \
               WHERE p2.mall_id = $1 ORDER BY o2.created_at DESC LIMIT $2)) \
             ORDER BY o.created_at DESC, o.id",
        )
        .bind(mall_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Puts a failed delivery of the mall back in the queue, due now, with its attempts
    /// counted afresh. `false` when there is no such failed delivery.
    pub async fn requeue_failed_delivery(&self, mall_id: &str, delivery_id: &str) -> Result<bool, StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $1, updated_at = $1, \
             lease_owner = NULL, lease_until = NULL WHERE id = $2 AND status = 'failed' \
             AND payment_id IN (SELECT id FROM payments WHERE mall_id = $3)",
        )
        .bind(now)
        .bind(delivery_id)
        .bind(mall_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            self.notify_instances(&mut tx).await?;
        }
        tx.commit().await?;
        if done.rows_affected() == 1 {
            self.wake_outbox();
        }
        Ok(done.rows_affected() == 1)
    }
}
