//! Re-encrypting every secret under the newest key of `ENCRYPTION_KEY` (the
//! `rotate-keys` command), so an old key can then be dropped from the list.

use super::{
    malls::credentials_context, saved_cards::card_reference_context, store_api::endpoint_secret_context,
    tokens::token_context, Store, StoreError,
};
use crate::secrets::KeyRing;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Resealed {
    pub resealed: usize,
    pub already_current: usize,
}

impl Store {
    pub async fn reseal_secrets(&self, keys: &KeyRing) -> Result<Resealed, StoreError> {
        let mut report = Resealed::default();
        let mut tx = self.begin_write().await?;
        let credentials: Vec<(String, String)> =
            sqlx::query_as("SELECT mall_id, secret_key_enc FROM pg_credentials").fetch_all(&mut *tx).await?;
        for (mall_id, sealed) in credentials {
            if !keys.needs_rotation(&sealed) {
                report.already_current += 1;
                continue;
            }
            let context = credentials_context(&mall_id);
            let secret = keys.open(&context, &sealed).map_err(|e| StoreError::Corrupt(format!("{mall_id}: {e}")))?;
            sqlx::query("UPDATE pg_credentials SET secret_key_enc = $1 WHERE mall_id = $2")
                .bind(keys.seal(&context, &secret))
                .bind(&mall_id)
                .execute(&mut *tx)
                .await?;
            report.resealed += 1;
        }
        let tokens: Vec<(String, String, String)> =
            sqlx::query_as("SELECT mall_id, access_token_enc, refresh_token_enc FROM oauth_tokens")
                .fetch_all(&mut *tx)
                .await?;
        for (mall_id, access, refresh) in tokens {
            if !keys.needs_rotation(&access) && !keys.needs_rotation(&refresh) {
                report.already_current += 1;
                continue;
            }
            let mut resealed = Vec::new();
            for (which, sealed) in [("access", &access), ("refresh", &refresh)] {
                let context = token_context(&mall_id, which);
                let token = keys.open(&context, sealed).map_err(|e| StoreError::Corrupt(format!("{mall_id}: {e}")))?;
                resealed.push(keys.seal(&context, &token));
            }
            sqlx::query("UPDATE oauth_tokens SET access_token_enc = $1, refresh_token_enc = $2 WHERE mall_id = $3")
                .bind(&resealed[0])
                .bind(&resealed[1])
                .bind(&mall_id)
                .execute(&mut *tx)
                .await?;
            report.resealed += 1;
        }
        let endpoints: Vec<(String, String, Option<String>)> =
            sqlx::query_as("SELECT id, secret_enc, previous_secret_enc FROM webhook_endpoints")
                .fetch_all(&mut *tx)
                .await?;
        for (id, current, previous) in endpoints {
            let stale = keys.needs_rotation(&current) || previous.as_deref().is_some_and(|p| keys.needs_rotation(p));
            if !stale {
                report.already_current += 1;
                continue;
            }
            let context = endpoint_secret_context(&id);
            let reseal = |sealed: &str| -> Result<String, StoreError> {
                let secret = keys.open(&context, sealed).map_err(|e| StoreError::Corrupt(format!("{id}: {e}")))?;
                Ok(keys.seal(&context, &secret))
            };
            let previous = previous.as_deref().map(reseal).transpose()?;
            sqlx::query("UPDATE webhook_endpoints SET secret_enc = $1, previous_secret_enc = $2 WHERE id = $3")
                .bind(reseal(&current)?)
                .bind(previous)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            report.resealed += 1;
        }
        // The PG's references to saved cards (SPEC §8.3).
        let cards: Vec<(String, String)> =
            sqlx::query_as("SELECT id, reference_enc FROM card_tokens").fetch_all(&mut *tx).await?;
        for (id, sealed) in cards {
            if !keys.needs_rotation(&sealed) {
                report.already_current += 1;
                continue;
            }
            let context = card_reference_context(&id);
            let reference = keys.open(&context, &sealed).map_err(|e| StoreError::Corrupt(format!("{id}: {e}")))?;
            sqlx::query("UPDATE card_tokens SET reference_enc = $1 WHERE id = $2")
                .bind(keys.seal(&context, &reference))
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            report.resealed += 1;
        }
        tx.commit().await?;
        Ok(report)
    }
}
