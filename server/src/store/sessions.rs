//! Admin sessions, in the database so that any instance serves any request. The cookie
//! holds the session id; only its SHA-256 is stored, so a copy of the database opens no
//! session.

use std::time::Duration;

use sqlx::FromRow;

use super::{now_ms, Store, StoreError};

/// A session lasts this long from sign-in.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);

#[derive(Clone, Debug, FromRow)]
pub struct AdminSession {
    pub mall_id: String,
    pub user_id: String,
    pub lang: String,
    pub csrf_token: String,
    pub oauth_state: Option<String>,
    pub authenticated: i64,
    pub expires_at: i64,
}

/// 256 random bits, URL-safe.
pub fn random_token() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn hash(id: &str) -> String {
    super::sha256_hex(id)
}

impl Store {
    /// A new session for the app launch, waiting for `oauth_state`; returns its id.
    pub async fn create_session(
        &self,
        mall_id: &str,
        user_id: &str,
        lang: &str,
        oauth_state: &str,
    ) -> Result<String, StoreError> {
        let id = random_token();
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM admin_sessions WHERE expires_at < $1").bind(now).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO admin_sessions (id_hash, mall_id, user_id, lang, csrf_token, oauth_state, authenticated, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8)",
        )
        .bind(hash(&id))
        .bind(mall_id)
        .bind(user_id)
        .bind(lang)
        .bind(random_token())
        .bind(oauth_state)
        .bind(now)
        .bind(now + SESSION_LIFETIME.as_millis() as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The live session with this id, if any.
    pub async fn session(&self, id: &str) -> Result<Option<AdminSession>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT mall_id, user_id, lang, csrf_token, oauth_state, authenticated, expires_at \
             FROM admin_sessions WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(hash(id))
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await?)
    }

    /// Signs the session in for its mall under a new id (the old id stops working) and
    /// a new CSRF token; the OAuth state is spent. Returns the new id.
    pub async fn sign_in_session(&self, id: &str) -> Result<Option<String>, StoreError> {
        let new_id = random_token();
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE admin_sessions SET id_hash = $1, csrf_token = $2, oauth_state = NULL, authenticated = 1, \
             expires_at = $3 WHERE id_hash = $4 AND expires_at > $5",
        )
        .bind(hash(&new_id))
        .bind(random_token())
        .bind(now + SESSION_LIFETIME.as_millis() as i64)
        .bind(hash(id))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((done.rows_affected() == 1).then_some(new_id))
    }

    /// Ends the session (sign-out).
    pub async fn end_session(&self, id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM admin_sessions WHERE id_hash = $1").bind(hash(id)).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Signs out every session of the mall (after the app was disconnected).
    pub async fn sign_out_mall(&self, mall_id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE admin_sessions SET authenticated = 0 WHERE mall_id = $1")
            .bind(mall_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
