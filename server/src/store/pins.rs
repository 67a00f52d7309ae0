//! Customers' PINs and their verification tokens (SPEC §8.3), and the key material the
//! PIN calls use. The PIN itself never reaches this module: only its argon2id hash, the
//! SHA-256 of each `pv_…` token, and keys sealed under the key ring.
//!
//! The wrong-PIN count is kept exact under any concurrency by the database, not by Rust:
//! each attempt is one conditional `UPDATE … RETURNING` that adds itself only while the
//! PIN is unlocked and still the one that was checked, and a success resets the count and
//! issues its token in one transaction under the same conditions.

use super::{inserted_first, now_ms, sha256_hex, Store, StoreError};
use crate::domain::MallId;

/// The SHA-256 (hex) under which a `pv_…` verification token is kept.
pub fn verification_token_hash(token: &str) -> String {
    sha256_hex(token)
}

/// The associated data a PIN key's private half is sealed under: a sealed key cannot be
/// moved to another row.
pub fn pin_key_context(kid: &str) -> String {
    format!("pin_key:{kid}")
}

/// The associated data of a server secret (`server_secrets`).
pub fn server_secret_context(name: &str) -> String {
    format!("server_secret:{name}")
}

/// A P-256 key pair PINs are encrypted to: its id and public JWK (as served).
#[derive(Clone, Debug)]
pub struct PinKey {
    pub kid: String,
    pub public_jwk: String,
}

/// A customer's PIN as kept: its hash and how many wrong PINs came since the last right one.
#[derive(Clone, Debug)]
pub struct CustomerPin {
    pub pin_hash: String,
    pub failed_attempts: i64,
    pub locked_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl CustomerPin {
    /// Until when the PIN is locked, if it is locked `now`.
    pub fn locked_at(&self, now: i64) -> Option<i64> {
        self.locked_until.filter(|until| *until > now)
    }
}

/// What the lock-out rule is (SPEC §8.3: 5 wrong PINs lock it for 30 minutes).
#[derive(Clone, Copy, Debug)]
pub struct LockOut {
    pub max_attempts: i64,
    pub lock_ms: i64,
}

/// A wrong PIN, as counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CountedFailure {
    /// Consecutive wrong PINs, this one included (1 ..= max).
    pub failed_attempts: i64,
    /// Set when this one locked the PIN.
    pub locked_until: Option<i64>,
}

impl Store {
    /// Whether the customer has set a PIN (then customer-initiated token payments need a
    /// fresh verification token).
    pub async fn customer_has_pin(&self, mall_id: &MallId, customer_id: &str) -> Result<bool, StoreError> {
        let found: Option<(i64,)> =
            sqlx::query_as("SELECT 1 FROM customer_pins WHERE mall_id = $1 AND customer_id = $2")
                .bind(mall_id.as_str())
                .bind(customer_id)
                .fetch_optional(self.pool())
                .await?;
        Ok(found.is_some())
    }

    /// Uses up a verification token of this customer: true when it was theirs, unexpired
    /// and unused, and is now used. One conditional UPDATE, so of any number of
    /// concurrent uses exactly one succeeds.
    pub async fn use_pin_verification(
        &self,
        mall_id: &MallId,
        customer_id: &str,
        token: &str,
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool().acquire().await?;
        use_verification(&mut conn, mall_id, customer_id, token).await
    }

    /// The customer's PIN, if they set one.
    pub async fn customer_pin(&self, mall_id: &MallId, customer_id: &str) -> Result<Option<CustomerPin>, StoreError> {
        let row: Option<(String, i64, Option<i64>, i64, i64)> = sqlx::query_as(
            "SELECT pin_hash, failed_attempts, locked_until, created_at, updated_at FROM customer_pins \
             WHERE mall_id = $1 AND customer_id = $2",
        )
        .bind(mall_id.as_str())
        .bind(customer_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(pin_hash, failed_attempts, locked_until, created_at, updated_at)| CustomerPin {
            pin_hash,
            failed_attempts,
            locked_until,
            created_at,
            updated_at,
        }))
    }

    /// Sets a first PIN. `false` when the customer has one already (set meanwhile by
    /// another request): replacing it needs a verification token.
    pub async fn create_customer_pin(
        &self,
        mall_id: &MallId,
        customer_id: &str,
        pin_hash: &str,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let inserted = sqlx::query(
            "INSERT INTO customer_pins (mall_id, customer_id, pin_hash, failed_attempts, locked_until, created_at, updated_at) \
             VALUES ($1, $2, $3, 0, NULL, $4, $4)",
        )
        .bind(mall_id.as_str())
        .bind(customer_id)
        .bind(pin_hash)
        .bind(now)
        .execute(self.pool())
        .await;
        inserted_first(inserted)
    }

    /// Replaces the customer's PIN, using up `token` (a verification of the current PIN)
    /// in the same transaction: `false`, and nothing changed, when the token is not theirs,
    /// used, expired, or they have no PIN. The count of wrong PINs starts again.
    pub async fn replace_customer_pin(
        &self,
        mall_id: &MallId,
        customer_id: &str,
        pin_hash: &str,
        token: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        if !use_verification(&mut tx, mall_id, customer_id, token).await? {
            return Ok(false);
        }
        let replaced = sqlx::query(
            "UPDATE customer_pins SET pin_hash = $1, failed_attempts = 0, locked_until = NULL, updated_at = $2 \
             WHERE mall_id = $3 AND customer_id = $4",
        )
        .bind(pin_hash)
        .bind(now_ms())
        .bind(mall_id.as_str())
        .bind(customer_id)
        .execute(&mut *tx)
        .await?;
        if replaced.rows_affected() != 1 {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Counts a wrong PIN checked against `pin_hash`. `None` when it was not counted
    /// because the PIN is locked (by concurrent wrong PINs, perhaps) or was replaced
    /// meanwhile: the caller reads it again. A lock that has run out starts a new count.
    pub async fn record_pin_failure(
        &self,
        mall_id: &MallId,
        customer_id: &str,
        pin_hash: &str,
        rule: LockOut,
    ) -> Result<Option<CountedFailure>, StoreError> {
        let now = now_ms();
        // In SET, every column names its value before this UPDATE. A row whose lock ran
        // out has `locked_until` set (and in the past): its count starts again at 1.
        let row: Option<(i64, Option<i64>)> = sqlx::query_as(
            "UPDATE customer_pins SET \
               failed_attempts = CASE WHEN locked_until IS NULL THEN failed_attempts + 1 ELSE 1 END, \
               locked_until = CASE WHEN (CASE WHEN locked_until IS NULL THEN failed_attempts + 1 ELSE 1 END) >= $1 \
                                   THEN $2 + $3 ELSE NULL END \
             WHERE mall_id = $4 AND customer_id = $5 AND pin_hash = $6 \
               AND (locked_until IS NULL OR locked_until <= $2) \
             RETURNING failed_attempts, locked_until",
        )
        .bind(rule.max_attempts)
        .bind(now)
        .bind(rule.lock_ms)
        .bind(mall_id.as_str())
        .bind(customer_id)
        .bind(pin_hash)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(failed_attempts, locked_until)| CountedFailure { failed_attempts, locked_until }))
    }

    /// A right PIN checked against `pin_hash`: in one transaction, the count of wrong PINs
    /// starts again and the verification token (kept by its hash) is issued. `false`, and
    /// nothing changed, when the PIN is locked or was replaced meanwhile.
    pub async fn record_pin_success(
        &self,
        mall_id: &MallId,
        customer_id: &str,
        pin_hash: &str,
        token: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let reset = sqlx::query(
            "UPDATE customer_pins SET failed_attempts = 0, locked_until = NULL \
             WHERE mall_id = $1 AND customer_id = $2 AND pin_hash = $3 AND (locked_until IS NULL OR locked_until <= $4)",
        )
        .bind(mall_id.as_str())
        .bind(customer_id)
        .bind(pin_hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if reset.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO pin_verifications (token_hash, mall_id, customer_id, expires_at, used_at, created_at) \
             VALUES ($1, $2, $3, $4, NULL, $5)",
        )
        .bind(verification_token_hash(token))
        .bind(mall_id.as_str())
        .bind(customer_id)
        .bind(expires_at)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Removes verification tokens past their expiry (used or not: they open nothing).
    pub async fn purge_pin_verifications(&self, limit: i64) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "DELETE FROM pin_verifications WHERE token_hash IN (\
               SELECT token_hash FROM pin_verifications WHERE expires_at < $1 LIMIT $2)",
        )
        .bind(now_ms())
        .bind(limit)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// The key PINs are encrypted to now, if one was made.
    pub async fn current_pin_key(&self) -> Result<Option<PinKey>, StoreError> {
        let row: Option<(String, String)> = sqlx::query_as("SELECT kid, public_jwk FROM pin_keys WHERE is_current = 1")
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|(kid, public_jwk)| PinKey { kid, public_jwk }))
    }

    /// Adds the first current key. `false` when there is one already (another instance
    /// made it at the same time): that one is used.
    pub async fn add_first_pin_key(&self, key: &PinKey, private_key_sealed: &str) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO pin_keys (kid, public_jwk, private_key_enc, is_current, created_at) VALUES ($1, $2, $3, 1, $4)",
        )
        .bind(&key.kid)
        .bind(&key.public_jwk)
        .bind(private_key_sealed)
        .bind(now_ms())
        .execute(self.pool())
        .await;
        inserted_first(inserted)
    }

    /// Makes `key` the current one; the one it replaces still decrypts for `overlap_ms`.
    /// Returns the replaced key's id, or `Err` when another rotation ran at the same time
    /// (nothing changed then: run it again).
    pub async fn rotate_pin_key(
        &self,
        key: &PinKey,
        private_key_sealed: &str,
        overlap_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let retired: Option<(String,)> =
            sqlx::query_as(&format!("SELECT kid FROM pin_keys WHERE is_current = 1{}", self.lock_clause()))
                .fetch_optional(&mut *tx)
                .await?;
        sqlx::query("UPDATE pin_keys SET is_current = NULL, retired_at = $1, decrypts_until = $2 WHERE is_current = 1")
            .bind(now)
            .bind(now + overlap_ms)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO pin_keys (kid, public_jwk, private_key_enc, is_current, created_at) VALUES ($1, $2, $3, 1, $4)",
        )
        .bind(&key.kid)
        .bind(&key.public_jwk)
        .bind(private_key_sealed)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(retired.map(|(kid,)| kid))
    }

    /// The sealed private key of `kid`, while it decrypts: the current key, or a replaced
    /// one within its overlap.
    pub async fn pin_decryption_key(&self, kid: &str) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT private_key_enc FROM pin_keys WHERE kid = $1 AND (is_current = 1 OR decrypts_until > $2)",
        )
        .bind(kid)
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(sealed,)| sealed))
    }

    /// Removes replaced keys past their overlap (their private halves are gone for good).
    pub async fn purge_pin_keys(&self) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM pin_keys WHERE is_current IS NULL AND decrypts_until <= $1")
            .bind(now_ms())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// A sealed server secret (see `server_secrets`).
    pub async fn server_secret(&self, name: &str) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = sqlx::query_as("SELECT secret_enc FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|(sealed,)| sealed))
    }

    /// Keeps a server secret unless one of that name exists; returns the one kept (the
    /// first made wins, whichever instance made it).
    pub async fn add_server_secret(&self, name: &str, sealed: &str) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO server_secrets (name, secret_enc, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(sealed)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        self.server_secret(name).await?.ok_or_else(|| StoreError::Corrupt(format!("server secret {name} vanished")))
    }
}

/// The conditional UPDATE that uses up a verification token, on a connection or in a
/// transaction.
async fn use_verification(
    conn: &mut sqlx::AnyConnection,
    mall_id: &MallId,
    customer_id: &str,
    token: &str,
) -> Result<bool, StoreError> {
    let now = now_ms();
    let used = sqlx::query(
        "UPDATE pin_verifications SET used_at = $1 \
         WHERE token_hash = $2 AND mall_id = $3 AND customer_id = $4 AND used_at IS NULL AND expires_at > $1",
    )
    .bind(now)
    .bind(verification_token_hash(token))
    .bind(mall_id.as_str())
    .bind(customer_id)
    .execute(conn)
    .await?;
    Ok(used.rows_affected() == 1)
}
