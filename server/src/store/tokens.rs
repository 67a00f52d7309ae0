//! The app's Cafe24 OAuth tokens per mall, sealed at rest. Refreshing is done by one
//! instance at a time, under a lease on the row.

use std::time::Duration;

use super::{now_ms, Store, StoreError};
use crate::secrets::KeyRing;

/// The app's OAuth tokens for a mall, as Cafe24 issues them.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSet {
    pub access_token: String,
    pub refresh_token: String,
    /// Unix milliseconds.
    pub expires_at: i64,
    pub refresh_token_expires_at: Option<i64>,
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet").field("expires_at", &self.expires_at).finish_non_exhaustive()
    }
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    access_token_enc: String,
    refresh_token_enc: String,
    expires_at: i64,
    refresh_token_expires_at: Option<i64>,
    scopes: Option<String>,
}

pub(crate) fn token_context(mall_id: &str, which: &str) -> String {
    format!("oauth_tokens.{which}:{mall_id}")
}

impl Store {
    pub async fn save_tokens(&self, keys: &KeyRing, mall_id: &str, tokens: &TokenSet) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        Self::ensure_mall(&mut tx, mall_id, now).await?;
        sqlx::query(
            "INSERT INTO oauth_tokens (mall_id, access_token_enc, refresh_token_enc, expires_at, \
             refresh_token_expires_at, scopes, refresh_lease_until, updated_at) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7) \
             ON CONFLICT (mall_id) DO UPDATE SET access_token_enc = excluded.access_token_enc, \
             refresh_token_enc = excluded.refresh_token_enc, expires_at = excluded.expires_at, \
             refresh_token_expires_at = excluded.refresh_token_expires_at, scopes = excluded.scopes, \
             refresh_lease_until = NULL, updated_at = excluded.updated_at",
        )
        .bind(mall_id)
        .bind(keys.seal(&token_context(mall_id, "access"), &tokens.access_token))
        .bind(keys.seal(&token_context(mall_id, "refresh"), &tokens.refresh_token))
        .bind(tokens.expires_at)
        .bind(tokens.refresh_token_expires_at)
        .bind(tokens.scopes.join(","))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn tokens(&self, keys: &KeyRing, mall_id: &str) -> Result<Option<TokenSet>, StoreError> {
        let row: Option<TokenRow> = sqlx::query_as(
            "SELECT access_token_enc, refresh_token_enc, expires_at, refresh_token_expires_at, scopes \
             FROM oauth_tokens WHERE mall_id = $1",
        )
        .bind(mall_id)
        .fetch_optional(self.pool())
        .await?;
        let Some(TokenRow {
            access_token_enc: access,
            refresh_token_enc: refresh,
            expires_at,
            refresh_token_expires_at,
            scopes,
        }) = row
        else {
            return Ok(None);
        };
        let open = |which: &str, sealed: &str| {
            keys.open(&token_context(mall_id, which), sealed)
                .map_err(|e| StoreError::Corrupt(format!("{which} token of {mall_id}: {e}")))
        };
        Ok(Some(TokenSet {
            access_token: open("access", &access)?,
            refresh_token: open("refresh", &refresh)?,
            expires_at,
            refresh_token_expires_at,
            scopes: scopes.unwrap_or_default().split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        }))
    }

    /// Takes the right to refresh the mall's tokens for `lease`; `false` when another
    /// instance holds it.
    pub async fn claim_token_refresh(&self, mall_id: &str, lease: Duration) -> Result<bool, StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE oauth_tokens SET refresh_lease_until = $1 WHERE mall_id = $2 \
             AND (refresh_lease_until IS NULL OR refresh_lease_until < $3)",
        )
        .bind(now + lease.as_millis() as i64)
        .bind(mall_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn release_token_refresh(&self, mall_id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE oauth_tokens SET refresh_lease_until = NULL WHERE mall_id = $1")
            .bind(mall_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_tokens(&self, mall_id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM oauth_tokens WHERE mall_id = $1").bind(mall_id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }
}
