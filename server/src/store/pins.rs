//! Customers' PINs and their verification tokens (SPEC §8.3). The PIN itself never
//! reaches this module: only its argon2id hash, and the SHA-256 of each `pv_…` token.

use super::{now_ms, sha256_hex, Store, StoreError};
use crate::domain::MallId;

/// The SHA-256 (hex) under which a `pv_…` verification token is kept.
pub fn verification_token_hash(token: &str) -> String {
    sha256_hex(token)
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
        let now = now_ms();
        let used = sqlx::query(
            "UPDATE pin_verifications SET used_at = $1 \
             WHERE token_hash = $2 AND mall_id = $3 AND customer_id = $4 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(verification_token_hash(token))
        .bind(mall_id.as_str())
        .bind(customer_id)
        .execute(self.pool())
        .await?;
        Ok(used.rows_affected() == 1)
    }
}
