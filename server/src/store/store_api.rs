//! The Store API v2's own tables (SPEC §8): API keys (their hashes), webhook endpoints
//! (their secrets sealed), idempotency records, and what a store sent with a payment.

use sqlx::FromRow;

use super::{new_id, now_ms, payments::PAYMENT_COLUMNS, Store, StoreError, Tx};
use crate::{
    domain::{MallId, Payment, PaymentId, PaymentStatus},
    secrets::KeyRing,
};

#[derive(Clone, Debug, FromRow)]
pub struct ApiKeyRow {
    pub id: String,
    pub mall_id: String,
    /// test | live
    pub mode: String,
    pub prefix: String,
    pub last4: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// How exactly a key's last use is kept.
const LAST_USED_PRECISION_MS: i64 = 60_000;

const KEY_COLUMNS: &str = "id, mall_id, mode, prefix, last4, created_at, last_used_at, revoked_at";

#[derive(Clone, Debug, FromRow)]
pub struct WebhookEndpointRow {
    pub id: String,
    pub mall_id: String,
    pub url: String,
    pub created_at: i64,
    /// The previous secret still signs until then (after a rotation).
    pub previous_until: Option<i64>,
}

/// What a store sent with a payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreApiPayment {
    /// card | token | token_registration
    pub method: String,
    /// webhook | api
    pub finalization: String,
    pub customer_id: Option<String>,
    pub success_url: String,
    pub fail_url: String,
    /// A JSON object of string pairs.
    pub metadata: String,
}

#[derive(FromRow)]
struct StoreApiRow {
    method: String,
    finalization: String,
    customer_id: Option<String>,
    success_url: String,
    fail_url: String,
    metadata: String,
}

impl From<StoreApiRow> for StoreApiPayment {
    fn from(r: StoreApiRow) -> Self {
        StoreApiPayment {
            method: r.method,
            finalization: r.finalization,
            customer_id: r.customer_id,
            success_url: r.success_url,
            fail_url: r.fail_url,
            metadata: r.metadata,
        }
    }
}

/// A request's hold on its idempotency key: what it writes under the key is written only
/// while the key is still held under this token (another request may have resumed it
/// after the lease ran out).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyLease(String);

/// What an idempotency key is when a request with it arrives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// First seen: this request holds it now.
    Fresh { lease: IdempotencyLease },
    /// An earlier attempt ended in a 5xx or died: this one holds it now and resumes,
    /// with the id that attempt chose, if it chose one.
    Resume { lease: IdempotencyLease, recovery_id: Option<String> },
    /// Finished before: the saved answer.
    Replay { status: u16, body: String },
    /// Another request with it is running.
    InUse,
    /// Used with another method, path or body.
    Reused,
}

/// How a request that held an idempotency key ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdempotencyEnd {
    /// Its final answer, replayed to every later request with the key.
    Done { status: u16, body: String },
    /// A 5xx or a lost PG answer: the next request with the key resumes it.
    Resumable,
    /// Refused before anything was done: the key is as if never used.
    Forget,
}

/// A request's identity under its idempotency key.
#[derive(Clone, Debug)]
pub struct IdempotencyRequest<'a> {
    pub mall_id: &'a MallId,
    pub key: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub body_hash: &'a str,
}

/// Filters of the payment list (SPEC §8.3).
#[derive(Clone, Debug, Default)]
pub struct PaymentFilter {
    pub order_id: Option<String>,
    pub customer_id: Option<String>,
    pub status: Option<PaymentStatus>,
    /// The last payment of the previous page.
    pub starting_after: Option<PaymentId>,
}

pub(crate) fn endpoint_secret_context(endpoint_id: &str) -> String {
    format!("webhook_endpoints:{endpoint_id}")
}

/// The associated data of an idempotent answer kept sealed (one that carries a secret,
/// such as a PIN verification token): bound to its merchant and key.
pub fn idempotency_answer_context(mall_id: &str, key: &str) -> String {
    format!("idempotency_answer:{mall_id}:{key}")
}

/// Whether a kept answer is sealed rather than JSON (JSON never starts with `v`).
pub fn is_sealed_answer(body: &str) -> bool {
    body.starts_with("v1.")
}

impl Store {
    pub async fn create_api_key(
        &self,
        mall_id: &MallId,
        mode: &str,
        key_hash: &str,
        prefix: &str,
        last4: &str,
    ) -> Result<ApiKeyRow, StoreError> {
        let id = new_id("key");
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        Self::ensure_mall(&mut tx, mall_id.as_str(), now).await?;
        sqlx::query(
            "INSERT INTO api_keys (id, mall_id, mode, key_hash, prefix, last4, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(mall_id.as_str())
        .bind(mode)
        .bind(key_hash)
        .bind(prefix)
        .bind(last4)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.api_keys(mall_id)
            .await?
            .into_iter()
            .find(|k| k.id == id)
            .ok_or_else(|| StoreError::Corrupt(format!("api key {id} vanished")))
    }

    /// Makes `key_hash` the merchant's key from `SANDBOX_API_KEY` (sandbox only): a key
    /// provisioned so before with another value is revoked, this one is made (or, named
    /// again after a change, active again). Keys made in the admin are left as they are.
    pub async fn provision_sandbox_api_key(
        &self,
        mall_id: &MallId,
        key_hash: &str,
        prefix: &str,
        last4: &str,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        Self::ensure_mall(&mut tx, mall_id.as_str(), now).await?;
        sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE mall_id = $2 AND origin = 'sandbox' AND key_hash <> $3 \
             AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(mall_id.as_str())
        .bind(key_hash)
        .execute(&mut *tx)
        .await?;
        let known: Option<(String,)> = sqlx::query_as("SELECT origin FROM api_keys WHERE key_hash = $1")
            .bind(key_hash)
            .fetch_optional(&mut *tx)
            .await?;
        match known {
            Some((origin,)) if origin == "sandbox" => {
                sqlx::query("UPDATE api_keys SET revoked_at = NULL WHERE key_hash = $1")
                    .bind(key_hash)
                    .execute(&mut *tx)
                    .await?;
            }
            Some(_) => {}
            None => {
                sqlx::query(
                    "INSERT INTO api_keys (id, mall_id, mode, key_hash, prefix, last4, created_at, origin) \
                     VALUES ($1, $2, 'test', $3, $4, $5, $6, 'sandbox')",
                )
                .bind(new_id("key"))
                .bind(mall_id.as_str())
                .bind(key_hash)
                .bind(prefix)
                .bind(last4)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The key with this hash, unless revoked; its last use is now, to the minute: the
    /// time is written only when the one kept is older, so a busy key does not cost a
    /// write (SQLite's one writer) on every request.
    pub async fn use_api_key(&self, key_hash: &str) -> Result<Option<ApiKeyRow>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL");
        let Some(key) = sqlx::query_as::<_, ApiKeyRow>(&sql).bind(key_hash).fetch_optional(self.pool()).await? else {
            return Ok(None);
        };
        let now = now_ms();
        if key.last_used_at.is_none_or(|at| now - at >= LAST_USED_PRECISION_MS) {
            sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(&key.id)
                .execute(self.pool())
                .await?;
        }
        Ok(Some(key))
    }

    /// The merchant's keys, newest first, revoked ones too.
    pub async fn api_keys(&self, mall_id: &MallId) -> Result<Vec<ApiKeyRow>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE mall_id = $1 ORDER BY created_at DESC, id");
        Ok(sqlx::query_as(&sql).bind(mall_id.as_str()).fetch_all(self.pool()).await?)
    }

    /// `false` when the merchant has no such key that is still active.
    pub async fn revoke_api_key(&self, mall_id: &MallId, id: &str) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND mall_id = $3 AND revoked_at IS NULL")
                .bind(now_ms())
                .bind(id)
                .bind(mall_id.as_str())
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn create_webhook_endpoint(
        &self,
        keys: &KeyRing,
        mall_id: &MallId,
        url: &str,
        secret: &str,
    ) -> Result<WebhookEndpointRow, StoreError> {
        let id = new_id("whe");
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        Self::ensure_mall(&mut tx, mall_id.as_str(), now).await?;
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, mall_id, url, secret_enc, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(mall_id.as_str())
        .bind(url)
        .bind(keys.seal(&endpoint_secret_context(&id), secret))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(WebhookEndpointRow {
            id,
            mall_id: mall_id.to_string(),
            url: url.to_owned(),
            created_at: now,
            previous_until: None,
        })
    }

    /// The merchant's endpoints that are not deleted, oldest first.
    pub async fn webhook_endpoints(&self, mall_id: &MallId) -> Result<Vec<WebhookEndpointRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, mall_id, url, created_at, previous_until FROM webhook_endpoints \
             WHERE mall_id = $1 AND deleted_at IS NULL ORDER BY created_at, id",
        )
        .bind(mall_id.as_str())
        .fetch_all(self.pool())
        .await?)
    }

    /// The same, inside the transaction of a change (its webhooks go to them).
    pub async fn webhook_endpoints_in(
        &self,
        tx: &mut Tx,
        mall_id: &MallId,
    ) -> Result<Vec<WebhookEndpointRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, mall_id, url, created_at, previous_until FROM webhook_endpoints \
             WHERE mall_id = $1 AND deleted_at IS NULL ORDER BY created_at, id",
        )
        .bind(mall_id.as_str())
        .fetch_all(&mut **tx)
        .await?)
    }

    /// Deletes the endpoint; what is still to be sent to it is cancelled. `false` when the
    /// merchant has no such endpoint.
    pub async fn delete_webhook_endpoint(&self, mall_id: &MallId, id: &str) -> Result<bool, StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET deleted_at = $1 WHERE id = $2 AND mall_id = $3 AND deleted_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .bind(mall_id.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            sqlx::query(
                "UPDATE outbox SET status = 'cancelled', updated_at = $1, last_error = 'the webhook endpoint was deleted' \
                 WHERE signing = $2 AND status = 'pending'",
            )
            .bind(now)
            .bind(format!("standard-webhooks:{id}"))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives the endpoint a new secret; the current one keeps signing until `previous_until`.
    pub async fn rotate_webhook_secret(
        &self,
        keys: &KeyRing,
        mall_id: &MallId,
        id: &str,
        secret: &str,
        previous_until: i64,
    ) -> Result<Option<WebhookEndpointRow>, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET previous_secret_enc = secret_enc, previous_until = $1, secret_enc = $2 \
             WHERE id = $3 AND mall_id = $4 AND deleted_at IS NULL",
        )
        .bind(previous_until)
        .bind(keys.seal(&endpoint_secret_context(id), secret))
        .bind(id)
        .bind(mall_id.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        Ok(self.webhook_endpoints(mall_id).await?.into_iter().find(|e| e.id == id))
    }

    /// The secrets that sign for the endpoint now (the current one first; the previous
    /// one too during a rotation's overlap); `None` when it is deleted.
    pub async fn webhook_secrets(&self, keys: &KeyRing, endpoint_id: &str) -> Result<Option<Vec<String>>, StoreError> {
        let row: Option<(String, Option<String>, Option<i64>)> = sqlx::query_as(
            "SELECT secret_enc, previous_secret_enc, previous_until FROM webhook_endpoints \
             WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(endpoint_id)
        .fetch_optional(self.pool())
        .await?;
        let Some((current, previous, until)) = row else { return Ok(None) };
        let context = endpoint_secret_context(endpoint_id);
        let open = |sealed: &str| {
            keys.open(&context, sealed).map_err(|e| StoreError::Corrupt(format!("webhook endpoint {endpoint_id}: {e}")))
        };
        let mut secrets = vec![open(&current)?];
        if let (Some(previous), Some(until)) = (previous, until) {
            if until > now_ms() {
                secrets.push(open(&previous)?);
            }
        }
        Ok(Some(secrets))
    }

    pub(crate) async fn insert_store_api_payment(
        &self,
        tx: &mut Tx,
        payment_id: &PaymentId,
        s: &StoreApiPayment,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO store_api_payments (payment_id, method, finalization, customer_id, success_url, fail_url, \
             metadata) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(payment_id.as_str())
        .bind(&s.method)
        .bind(&s.finalization)
        .bind(s.customer_id.clone())
        .bind(&s.success_url)
        .bind(&s.fail_url)
        .bind(&s.metadata)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn store_api_row(
        &self,
        executor: impl sqlx::Executor<'_, Database = sqlx::Any>,
        payment_id: &PaymentId,
    ) -> Result<Option<StoreApiPayment>, StoreError> {
        let row: Option<StoreApiRow> = sqlx::query_as(
            "SELECT method, finalization, customer_id, success_url, fail_url, metadata FROM store_api_payments \
             WHERE payment_id = $1",
        )
        .bind(payment_id.as_str())
        .fetch_optional(executor)
        .await?;
        Ok(row.map(StoreApiPayment::from))
    }

    /// The store's data of a payment, `None` for a payment of another channel.
    pub async fn store_api_payment(&self, payment_id: &PaymentId) -> Result<Option<StoreApiPayment>, StoreError> {
        self.store_api_row(self.pool(), payment_id).await
    }

    pub async fn store_api_payment_in(
        &self,
        tx: &mut Tx,
        payment_id: &PaymentId,
    ) -> Result<Option<StoreApiPayment>, StoreError> {
        self.store_api_row(&mut **tx, payment_id).await
    }

    /// The merchant's Store API payments, newest first, `limit` of them after the cursor.
    pub async fn store_api_payments(
        &self,
        mall_id: &MallId,
        filter: &PaymentFilter,
        limit: i64,
    ) -> Result<Vec<(Payment, StoreApiPayment)>, StoreError> {
        let columns = PAYMENT_COLUMNS.split(", ").map(|c| format!("p.{c}")).collect::<Vec<_>>().join(", ");
        let mut sql = format!(
            "SELECT {columns} FROM payments p JOIN store_api_payments s ON s.payment_id = p.id WHERE p.mall_id = $1"
        );
        let mut args: Vec<String> = vec![mall_id.to_string()];
        let mut arg = |value: String, sql: &mut String, clause: &str| {
            args.push(value);
            sql.push_str(&clause.replace('?', &format!("${}", args.len())));
        };
        if let Some(order_id) = &filter.order_id {
            arg(order_id.clone(), &mut sql, " AND p.order_id = ?");
        }
        if let Some(customer_id) = &filter.customer_id {
            arg(customer_id.clone(), &mut sql, " AND s.customer_id = ?");
        }
        if let Some(status) = filter.status {
            arg(status.code().to_string(), &mut sql, " AND CAST(p.status AS TEXT) = ?");
        }
        if let Some(after) = &filter.starting_after {
            // Newest first: the page after a payment holds the older ones.
            let n = args.len();
            args.push(after.to_string());
            sql.push_str(&format!(
                " AND (p.created_at < (SELECT created_at FROM payments WHERE id = ${a}) \
                 OR (p.created_at = (SELECT created_at FROM payments WHERE id = ${a}) AND p.id < ${a}))",
                a = n + 1
            ));
        }
        sql.push_str(&format!(" ORDER BY p.created_at DESC, p.id DESC LIMIT {}", limit.clamp(1, 101)));
        let mut query = sqlx::query_as::<_, super::payments::PaymentRow>(&sql);
        for a in &args {
            query = query.bind(a.clone());
        }
        let rows = query.fetch_all(self.pool()).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let payment = Payment::try_from(row)?;
            let data = self
                .store_api_payment(&payment.id)
                .await?
                .ok_or_else(|| StoreError::Corrupt(format!("payment {} lost its Store API data", payment.id)))?;
            out.push((payment, data));
        }
        Ok(out)
    }

    /// Takes the idempotency key for a request, or says why not (SPEC §8.1's table).
    pub async fn idempotency_begin(
        &self,
        request: &IdempotencyRequest<'_>,
        lease_ms: i64,
        keep_ms: i64,
    ) -> Result<IdempotencyBegin, StoreError> {
        let now = now_ms();
        let mall_id = request.mall_id.as_str();
        let mut tx = self.begin_write().await?;
        // A record past its 24 h is gone.
        sqlx::query("DELETE FROM idempotency_keys WHERE mall_id = $1 AND idem_key = $2 AND expires_at < $3")
            .bind(mall_id)
            .bind(request.key)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let lease = IdempotencyLease(super::random_token());
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (mall_id, idem_key, method, path, body_hash, state, locked_until, lease_token, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, 'in_progress', $6, $7, $8, $9) \
             ON CONFLICT (mall_id, idem_key) DO NOTHING",
        )
        .bind(mall_id)
        .bind(request.key)
        .bind(request.method)
        .bind(request.path)
        .bind(request.body_hash)
        .bind(now + lease_ms)
        .bind(&lease.0)
        .bind(now)
        .bind(now + keep_ms)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 1 {
            tx.commit().await?;
            return Ok(IdempotencyBegin::Fresh { lease });
        }
        #[derive(FromRow)]
        struct Held {
            method: String,
            path: String,
            body_hash: String,
            state: String,
            locked_until: Option<i64>,
            recovery_id: Option<String>,
            response_status: Option<i64>,
            response_body: Option<String>,
        }
        let held: Held = sqlx::query_as(&format!(
            "SELECT method, path, body_hash, state, locked_until, recovery_id, response_status, response_body \
             FROM idempotency_keys WHERE mall_id = $1 AND idem_key = $2{}",
            self.lock_clause()
        ))
        .bind(mall_id)
        .bind(request.key)
        .fetch_one(&mut *tx)
        .await?;
        let begin = if held.method != request.method || held.path != request.path || held.body_hash != request.body_hash
        {
            IdempotencyBegin::Reused
        } else if held.state == "done" {
            IdempotencyBegin::Replay {
                status: held.response_status.and_then(|s| u16::try_from(s).ok()).unwrap_or(200),
                body: held.response_body.unwrap_or_default(),
            }
        } else if held.state == "in_progress" && held.locked_until.is_some_and(|until| until >= now) {
            IdempotencyBegin::InUse
        } else {
            sqlx::query(
                "UPDATE idempotency_keys SET state = 'in_progress', locked_until = $1, lease_token = $2 \
                 WHERE mall_id = $3 AND idem_key = $4",
            )
            .bind(now + lease_ms)
            .bind(&lease.0)
            .bind(mall_id)
            .bind(request.key)
            .execute(&mut *tx)
            .await?;
            IdempotencyBegin::Resume { lease, recovery_id: held.recovery_id }
        };
        tx.commit().await?;
        Ok(begin)
    }

    /// Removes the idempotency records past their 24 h (SPEC §8.1), at most `limit` at a
    /// time; how many. Safe in several instances at once: each row goes once.
    pub async fn purge_idempotency_keys(&self, limit: i64) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "DELETE FROM idempotency_keys WHERE expires_at < $1 AND (mall_id, idem_key) IN (\
               SELECT mall_id, idem_key FROM idempotency_keys WHERE expires_at < $1 LIMIT $2)",
        )
        .bind(now_ms())
        .bind(limit)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// Keeps the id a request chose (a payment's, a refund's) with its key, before it asks
    /// the PG, so that a resumed request asks under the same reference. `false` when the
    /// request no longer holds the key (it must not go on: another one resumed it).
    pub async fn idempotency_recovery_point(
        &self,
        mall_id: &MallId,
        key: &str,
        lease: &IdempotencyLease,
        id: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE idempotency_keys SET recovery_id = $1 WHERE mall_id = $2 AND idem_key = $3 AND lease_token = $4 \
             AND state = 'in_progress'",
        )
        .bind(id)
        .bind(mall_id.as_str())
        .bind(key)
        .bind(&lease.0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records how the request that holds the key under `lease` ended; `false` (and
    /// nothing written) when it no longer holds it: a request slower than its lease
    /// never overwrites the answer of the one that resumed its key.
    pub async fn idempotency_end(
        &self,
        mall_id: &MallId,
        key: &str,
        lease: &IdempotencyLease,
        end: &IdempotencyEnd,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let held = "mall_id = $1 AND idem_key = $2 AND lease_token = $3 AND state = 'in_progress'";
        let sql = match end {
            IdempotencyEnd::Done { .. } => format!(
                "UPDATE idempotency_keys SET state = 'done', locked_until = NULL, lease_token = NULL, \
                 response_status = $4, response_body = $5 WHERE {held}"
            ),
            IdempotencyEnd::Resumable => format!(
                "UPDATE idempotency_keys SET state = 'resumable', locked_until = NULL, lease_token = NULL WHERE {held}"
            ),
            IdempotencyEnd::Forget => format!("DELETE FROM idempotency_keys WHERE {held}"),
        };
        let mut query = sqlx::query(&sql).bind(mall_id.as_str()).bind(key).bind(&lease.0);
        if let IdempotencyEnd::Done { status, body } = end {
            query = query.bind(i64::from(*status)).bind(body.clone());
        }
        let done = query.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }
}
