//! Re-encrypting every secret under the newest key of `ENCRYPTION_KEY` (the
//! `rotate-keys` command), so an old key can then be dropped from the list.

use super::{
    malls::{credentials_context, webhook_secret_context},
    pins::{pin_key_context, server_secret_context},
    saved_cards::card_reference_context,
    store_api::{endpoint_secret_context, idempotency_answer_context, is_sealed_answer},
    tokens::token_context,
    Store, StoreError,
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
        let credentials: Vec<(String, String, Option<String>)> =
            sqlx::query_as("SELECT mall_id, secret_key_enc, webhook_secret_enc FROM pg_credentials")
                .fetch_all(&mut *tx)
                .await?;
        for (mall_id, sealed, sealed_webhook) in credentials {
            if !keys.needs_rotation(&sealed) && !sealed_webhook.as_deref().is_some_and(|s| keys.needs_rotation(s)) {
                report.already_current += 1;
                continue;
            }
            let reseal = |context: String, sealed: &str| -> Result<String, StoreError> {
                let secret = keys.open(&context, sealed).map_err(|e| StoreError::Corrupt(format!("{mall_id}: {e}")))?;
                Ok(keys.seal(&context, &secret))
            };
            let secret = reseal(credentials_context(&mall_id), &sealed)?;
            let webhook = sealed_webhook.map(|s| reseal(webhook_secret_context(&mall_id), &s)).transpose()?;
            sqlx::query("UPDATE pg_credentials SET secret_key_enc = $1, webhook_secret_enc = $2 WHERE mall_id = $3")
                .bind(secret)
                .bind(webhook)
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
        // PIN keys (the current one and those still in their overlap) and the PIN pepper:
        // the same values, re-encrypted (a PIN hash cannot be remade without the PIN).
        let pin_keys: Vec<(String, String)> =
            sqlx::query_as("SELECT kid, private_key_enc FROM pin_keys").fetch_all(&mut *tx).await?;
        for (kid, sealed) in pin_keys {
            let Some(resealed) = reseal(keys, &pin_key_context(&kid), &sealed, &kid)? else {
                report.already_current += 1;
                continue;
            };
            sqlx::query("UPDATE pin_keys SET private_key_enc = $1 WHERE kid = $2")
                .bind(resealed)
                .bind(&kid)
                .execute(&mut *tx)
                .await?;
            report.resealed += 1;
        }
        let secrets: Vec<(String, String)> =
            sqlx::query_as("SELECT name, secret_enc FROM server_secrets").fetch_all(&mut *tx).await?;
        for (name, sealed) in secrets {
            let Some(resealed) = reseal(keys, &server_secret_context(&name), &sealed, &name)? else {
                report.already_current += 1;
                continue;
            };
            sqlx::query("UPDATE server_secrets SET secret_enc = $1 WHERE name = $2")
                .bind(resealed)
                .bind(&name)
                .execute(&mut *tx)
                .await?;
            report.resealed += 1;
        }
        // Idempotent answers kept sealed (they carry a PIN verification token).
        let answers: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT mall_id, idem_key, response_body FROM idempotency_keys WHERE response_body LIKE 'v1.%'",
        )
        .fetch_all(&mut *tx)
        .await?;
        for (mall_id, key, sealed) in answers.into_iter().filter(|(_, _, body)| is_sealed_answer(body)) {
            let context = idempotency_answer_context(&mall_id, &key);
            let Some(resealed) = reseal(keys, &context, &sealed, &format!("{mall_id}/{key}"))? else {
                report.already_current += 1;
                continue;
            };
            sqlx::query("UPDATE idempotency_keys SET response_body = $1 WHERE mall_id = $2 AND idem_key = $3")
                .bind(resealed)
                .bind(&mall_id)
                .bind(&key)
                .execute(&mut *tx)
                .await?;
            report.resealed += 1;
        }
        // The PG's references to saved cards (SPEC §8.3).
        let cards: Vec<(String, String)> =
            sqlx::query_as("SELECT id, reference_enc FROM card_tokens").fetch_all(&mut *tx).await?;
        for (id, sealed) in cards {
            let Some(resealed) = reseal(keys, &card_reference_context(&id), &sealed, &id)? else {
                report.already_current += 1;
                continue;
            };
            sqlx::query("UPDATE card_tokens SET reference_enc = $1 WHERE id = $2")
                .bind(resealed)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            report.resealed += 1;
        }
        tx.commit().await?;
        Ok(report)
    }
}

/// `sealed` under the current key, or `None` when it is under it already.
fn reseal(keys: &KeyRing, context: &str, sealed: &str, what: &str) -> Result<Option<String>, StoreError> {
    if !keys.needs_rotation(sealed) {
        return Ok(None);
    }
    let plain =
        zeroize::Zeroizing::new(keys.open(context, sealed).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))?);
    Ok(Some(keys.seal(context, &plain)))
}
