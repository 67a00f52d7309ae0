//! The transactional outbox (SPEC §5). Messages are inserted in the transaction of the
//! change that causes them; workers claim due messages under a lease (`FOR UPDATE SKIP
//! LOCKED` on PostgreSQL, the single writer lock on SQLite), deliver them, and record
//! every attempt. A lease that expires means its worker died: the message is due again.
//! One payment's messages to one receiver go out in the order they were caused: a later
//! one waits while an earlier one to the same receiver is still pending (a deposit's
//! "paid" never overtakes its "pending"); a receiver that fails holds up only its own.
//! Each message carries its [`DeliveryPolicy`], so the worker delivers every channel's
//! messages alike.

use std::time::Duration;

use sqlx::FromRow;

use super::{new_id, now_ms, payments::EventRecord, Backend, EventSource, Store, StoreError, Tx};
use crate::domain::PaymentId;

/// What answer counts as "taken" (SPEC §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acceptance {
    /// Any 2xx (store webhooks).
    Any2xx,
    /// A 2xx whose JSON body is `{"result":"OK"}` (Cafe24).
    ResultOk,
}

impl Acceptance {
    pub fn as_str(self) -> &'static str {
        match self {
            Acceptance::Any2xx => "2xx",
            Acceptance::ResultOk => "result_ok",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "2xx" => Some(Acceptance::Any2xx),
            "result_ok" => Some(Acceptance::ResultOk),
            _ => None,
        }
    }
}

/// How a message is signed when it is sent (the signature covers the attempt's time).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signing {
    /// Standard Webhooks (`webhook-timestamp`, `webhook-signature`), with the keys that
    /// sign for `key_ref` (a webhook endpoint) at the time of the attempt.
    StandardWebhooks { key_ref: String },
}

impl Signing {
    fn as_column(&self) -> String {
        match self {
            Signing::StandardWebhooks { key_ref } => format!("standard-webhooks:{key_ref}"),
        }
    }

    fn parse(column: &str) -> Option<Self> {
        column
            .strip_prefix("standard-webhooks:")
            .map(|key_ref| Signing::StandardWebhooks { key_ref: key_ref.to_owned() })
    }
}

/// How a message is delivered, decided by the channel that enqueues it: the worker
/// follows it and knows no channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryPolicy {
    pub content_type: String,
    /// Sent with every attempt, as they are.
    pub headers: Vec<(String, String)>,
    pub accept: Acceptance,
    pub signing: Option<Signing>,
}

/// A notification to send, decided inside the transaction that causes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMessage {
    pub kind: String,
    /// Who receives it, whatever URL it goes to (a store's webhook endpoint, Cafe24): a
    /// payment's messages to one receiver keep their order; receivers do not wait on
    /// each other.
    pub receiver: String,
    pub target_url: String,
    pub body: String,
    pub policy: DeliveryPolicy,
}

/// A message claimed for delivery.
#[derive(Clone, Debug)]
pub struct OutboxMessage {
    pub id: String,
    pub payment_id: Option<String>,
    pub kind: String,
    pub target_url: String,
    pub body: String,
    pub policy: DeliveryPolicy,
    pub attempts: i64,
}

#[derive(FromRow)]
struct ClaimedRow {
    id: String,
    payment_id: Option<String>,
    kind: String,
    target_url: String,
    body: String,
    content_type: String,
    headers: String,
    accept: String,
    signing: Option<String>,
    attempts: i64,
}

impl TryFrom<ClaimedRow> for OutboxMessage {
    type Error = StoreError;
    fn try_from(r: ClaimedRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("outbox message {}: {what}", r.id));
        let headers: Vec<(String, String)> = serde_json::from_str(&r.headers).map_err(|_| corrupt("headers"))?;
        let accept = Acceptance::parse(&r.accept).ok_or_else(|| corrupt("accept"))?;
        let signing = r.signing.as_deref().map(|s| Signing::parse(s).ok_or_else(|| corrupt("signing"))).transpose()?;
        Ok(OutboxMessage {
            policy: DeliveryPolicy { content_type: r.content_type, headers, accept, signing },
            id: r.id,
            payment_id: r.payment_id,
            kind: r.kind,
            target_url: r.target_url,
            body: r.body,
            attempts: r.attempts,
        })
    }
}

#[derive(Clone, Debug, FromRow)]
pub struct OutboxRow {
    pub id: String,
    pub payment_id: Option<String>,
    pub kind: String,
    pub target_url: String,
    pub body: String,
    pub status: String,
    pub attempts: i64,
    pub lease_owner: Option<String>,
    pub last_error: Option<String>,
}

#[derive(Clone, Debug, FromRow)]
pub struct AttemptRow {
    pub outbox_id: String,
    pub attempt: i64,
    pub worker: String,
    pub started_at: i64,
    pub finished_at: i64,
    pub http_status: Option<i64>,
    pub outcome: String,
}

#[derive(Clone, Debug)]
pub enum Delivery {
    Delivered { http_status: u16 },
    Failed { http_status: Option<u16>, error: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterAttempt {
    Delivered,
    /// Due again at this time (unix ms).
    Retry(i64),
    /// No retries left: marked failed and reported.
    GaveUp,
    /// The lease had expired and another worker owns the message now.
    LeaseLost,
}

/// A message a worker may claim at `$1` (unix ms): pending, due, held by nobody, and not
/// waiting behind an earlier message of its payment to its receiver.
const CLAIMABLE: &str = "status = 'pending' AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until < $1) \
    AND NOT EXISTS (SELECT 1 FROM outbox earlier WHERE earlier.payment_id = outbox.payment_id \
      AND earlier.receiver = outbox.receiver AND earlier.status = 'pending' AND earlier.position < outbox.position)";

/// What [`Store::outbox_due`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutboxDue {
    pub count: i64,
    /// When the oldest of them fell due (unix ms).
    pub oldest_due_at: Option<i64>,
}

impl OutboxDue {
    /// How long the oldest has waited at `now` (zero when there is none).
    pub fn oldest_age(&self, now: i64) -> Duration {
        self.oldest_due_at.map_or(Duration::ZERO, |at| Duration::from_millis(now.saturating_sub(at).max(0) as u64))
    }
}

/// The worker of this process that messages are leased to as they are enqueued.
#[derive(Clone, Debug)]
pub(super) struct LocalWorker {
    id: String,
    lease: Duration,
}

/// The PostgreSQL URL a worker's `LISTEN` connection uses; never printed (it may hold a
/// password).
#[derive(Clone)]
pub(super) struct ListenUrl(pub(super) String);

impl std::fmt::Debug for ListenUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ListenUrl(..)")
    }
}

/// The channel on which PostgreSQL instances wake each other's workers.
const OUTBOX_CHANNEL: &str = "paybridge_outbox";

/// Rings `wake` for every `NOTIFY` on the outbox's channel, and once when listening
/// begins (for what was enqueued while no connection listened); returns only its error.
async fn listen(url: &str, wake: &tokio::sync::Notify) -> Result<std::convert::Infallible, sqlx::Error> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    listener.listen(OUTBOX_CHANNEL).await?;
    wake.notify_one();
    loop {
        listener.recv().await?;
        wake.notify_one();
    }
}

/// What a worker finds at the start of a pass, read without taking a lock.
#[derive(Debug, Default)]
pub struct OutboxPass {
    /// Messages leased to this worker as they were enqueued, with time left to deliver.
    pub handed: Vec<OutboxMessage>,
    /// Whether there are due messages nobody holds (then [`Store::claim_due`] takes them).
    pub claimable: bool,
}

impl Store {
    /// Enqueues `message` in the transaction of the change that causes it, under the
    /// payment's lock and after the event that causes it (its position in the payment's
    /// history orders the payment's messages).
    ///
    /// While this process runs an outbox worker ([`Store::attach_worker`]), the message
    /// is leased to it here, in the same transaction, unless an earlier message of the
    /// payment to the same receiver is still pending (it must wait for that one): the
    /// worker, woken after the commit, delivers it without a claim transaction of its
    /// own. If the process dies first, the lease expires and any worker takes it. On
    /// PostgreSQL without a worker here, the commit wakes the other instances' workers
    /// (`NOTIFY`).
    pub async fn enqueue(&self, tx: &mut Tx, payment_id: &PaymentId, message: &NewMessage) -> Result<(), StoreError> {
        let now = now_ms();
        let headers = serde_json::to_string(&message.policy.headers)
            .map_err(|e| StoreError::Corrupt(format!("outbox headers: {e}")))?;
        let local = self.local_worker.read().map(|w| w.clone()).unwrap_or_default();
        let (owner, until) = match &local {
            Some(w) => (Some(w.id.clone()), Some(now + w.lease.as_millis() as i64)),
            None => (None, None),
        };
        sqlx::query(
            "INSERT INTO outbox (id, payment_id, position, kind, target_url, body, content_type, headers, accept, \
             signing, status, attempts, next_attempt_at, created_at, updated_at, receiver, lease_owner, lease_until) \
             SELECT $1, $2, (SELECT MAX(seq) FROM payment_events WHERE payment_id = $2), $3, $4, $5, $6, $7, $8, \
             $9, 'pending', 0, $10, $10, $10, $11, CASE WHEN held.n = 0 THEN CAST($12 AS TEXT) END, \
             CASE WHEN held.n = 0 THEN CAST($13 AS BIGINT) END \
             FROM (SELECT COUNT(*) AS n FROM outbox earlier WHERE earlier.payment_id = $2 \
               AND earlier.receiver = $11 AND earlier.status = 'pending') held",
        )
        .bind(new_id("msg"))
        .bind(payment_id.as_str())
        .bind(&message.kind)
        .bind(&message.target_url)
        .bind(&message.body)
        .bind(&message.policy.content_type)
        .bind(headers)
        .bind(message.policy.accept.as_str())
        .bind(message.policy.signing.as_ref().map(Signing::as_column))
        .bind(now)
        .bind(&message.receiver)
        .bind(owner)
        .bind(until)
        .execute(&mut **tx)
        .await?;
        if local.is_none() {
            self.notify_instances(tx).await?;
        }
        Ok(())
    }

    /// On PostgreSQL, wakes every instance's worker when `tx` commits (`NOTIFY`).
    pub(super) async fn notify_instances(&self, tx: &mut Tx) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, '')").bind(OUTBOX_CHANNEL).execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Wakes this process's delivery worker (after a commit that enqueued something).
    pub fn wake_outbox(&self) {
        self.outbox_wake.notify_one();
    }

    pub fn outbox_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.outbox_wake.clone()
    }

    /// Names the worker this process runs: messages enqueued from now on are leased to
    /// it as they are written ([`Store::enqueue`]).
    pub fn attach_worker(&self, id: &str, lease: Duration) {
        if let Ok(mut local) = self.local_worker.write() {
            *local = Some(LocalWorker { id: id.to_owned(), lease });
        }
    }

    /// The worker stops: messages enqueued from now on are left for any instance.
    pub fn detach_worker(&self) {
        if let Ok(mut local) = self.local_worker.write() {
            *local = None;
        }
    }

    /// On PostgreSQL, rings `wake` whenever another instance enqueues a message it did not
    /// lease to a worker of its own, until `stop`; a lost connection is opened again. Does
    /// nothing on SQLite (one process writes the file).
    pub async fn listen_for_outbox(
        &self,
        wake: std::sync::Arc<tokio::sync::Notify>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let Some(url) = &self.listen_url else { return };
        while !*stop.borrow() {
            let failed = tokio::select! {
                Err(e) = listen(&url.0, &wake) => e,
                _ = stop.changed() => return,
            };
            tracing::warn!(error = %failed, "outbox: LISTEN connection lost; polling until it is back");
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// The start of a pass, read without a lock (on SQLite, no write lock while idle): the
    /// messages `worker` was handed as they were enqueued that it still holds for more than
    /// `deliver_within`, and whether others are due for a claim.
    pub async fn outbox_pass(
        &self,
        worker: &str,
        limit: i64,
        deliver_within: Duration,
    ) -> Result<OutboxPass, StoreError> {
        let now = now_ms();
        let handed: Vec<ClaimedRow> = sqlx::query_as(
            "SELECT id, payment_id, kind, target_url, body, content_type, headers, accept, signing, attempts \
             FROM outbox WHERE status = 'pending' AND lease_owner = $1 AND lease_until > $2 \
             ORDER BY next_attempt_at LIMIT $3",
        )
        .bind(worker)
        .bind(now + deliver_within.as_millis() as i64)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let (claimable,): (i64,) =
            sqlx::query_as(&format!("SELECT COUNT(*) FROM (SELECT 1 FROM outbox WHERE {CLAIMABLE} LIMIT 1) due"))
                .bind(now)
                .fetch_one(self.pool())
                .await?;
        let handed = handed.into_iter().map(OutboxMessage::try_from).collect::<Result<_, _>>()?;
        Ok(OutboxPass { handed, claimable: claimable > 0 })
    }

    /// Leases up to `limit` due messages to `worker` for `lease`.
    pub async fn claim_due(&self, worker: &str, limit: i64, lease: Duration) -> Result<Vec<OutboxMessage>, StoreError> {
        let now = now_ms();
        let skip_locked = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE outbox SET updated_at = $1, lease_owner = $2, lease_until = $3 WHERE id IN (\
               SELECT id FROM outbox WHERE {CLAIMABLE} ORDER BY next_attempt_at LIMIT $4{skip_locked}\
             ) RETURNING id, payment_id, kind, target_url, body, content_type, headers, accept, signing, attempts"
        );
        let mut tx = self.begin_write().await?;
        let claimed: Vec<ClaimedRow> = sqlx::query_as(&sql)
            .bind(now)
            .bind(worker)
            .bind(now + lease.as_millis() as i64)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        claimed.into_iter().map(OutboxMessage::try_from).collect()
    }

    /// Records one attempt and decides what happens next: delivered, retried after
    /// `retry_delays[attempt - 1]`, or — with no retries left — failed and reported as a
    /// `notification.failed` event of the payment.
    pub async fn record_attempt(
        &self,
        worker: &str,
        message: &OutboxMessage,
        started_at: i64,
        delivery: &Delivery,
        retry_delays: &[Duration],
    ) -> Result<AfterAttempt, StoreError> {
        let now = now_ms();
        let attempt = message.attempts + 1;
        let mut tx = self.begin_write().await?;
        let owner: Option<(Option<String>,)> =
            sqlx::query_as(&format!("SELECT lease_owner FROM outbox WHERE id = $1{}", self.lock_clause()))
                .bind(&message.id)
                .fetch_optional(&mut *tx)
                .await?;
        let (http_status, outcome, error) = match delivery {
            Delivery::Delivered { http_status } => (Some(i64::from(*http_status)), "delivered", None),
            Delivery::Failed { http_status, error } => (http_status.map(i64::from), "failed", Some(error.as_str())),
        };
        sqlx::query(
            "INSERT INTO outbox_attempts (id, outbox_id, attempt, worker, started_at, finished_at, http_status, \
             outcome, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(new_id("att"))
        .bind(&message.id)
        .bind(attempt)
        .bind(worker)
        .bind(started_at)
        .bind(now)
        .bind(http_status)
        .bind(outcome)
        .bind(error)
        .execute(&mut *tx)
        .await?;
        if owner.and_then(|(o,)| o).as_deref() != Some(worker) {
            tx.commit().await?;
            return Ok(AfterAttempt::LeaseLost);
        }
        let after = match delivery {
            Delivery::Delivered { .. } => {
                sqlx::query(
                    "UPDATE outbox SET status = 'delivered', attempts = $1, delivered_at = $2, updated_at = $2, \
                     lease_owner = NULL, lease_until = NULL, last_error = NULL WHERE id = $3",
                )
                .bind(attempt)
                .bind(now)
                .bind(&message.id)
                .execute(&mut *tx)
                .await?;
                AfterAttempt::Delivered
            }
            Delivery::Failed { error, .. } => match retry_delays.get((attempt - 1) as usize) {
                Some(delay) => {
                    let due = now + delay.as_millis() as i64;
                    sqlx::query(
                        "UPDATE outbox SET attempts = $1, next_attempt_at = $2, updated_at = $3, last_error = $4, \
                         lease_owner = NULL, lease_until = NULL WHERE id = $5",
                    )
                    .bind(attempt)
                    .bind(due)
                    .bind(now)
                    .bind(error)
                    .bind(&message.id)
                    .execute(&mut *tx)
                    .await?;
                    AfterAttempt::Retry(due)
                }
                None => {
                    sqlx::query(
                        "UPDATE outbox SET status = 'failed', attempts = $1, updated_at = $2, last_error = $3, \
                         lease_owner = NULL, lease_until = NULL WHERE id = $4",
                    )
                    .bind(attempt)
                    .bind(now)
                    .bind(error)
                    .bind(&message.id)
                    .execute(&mut *tx)
                    .await?;
                    if let Some(payment_id) = message.payment_id.as_deref().and_then(|p| PaymentId::parse(p).ok()) {
                        self.lock_payment(&mut tx, &payment_id).await?;
                        let detail = format!(
                            "{} to {} failed after {attempt} attempts: {error}",
                            message.kind, message.target_url
                        );
                        let source = EventSource::new("outbox");
                        self.record_event(
                            &mut tx,
                            &payment_id,
                            EventRecord::note("notification.failed", &source, None, Some(&detail)),
                        )
                        .await?;
                    }
                    AfterAttempt::GaveUp
                }
            },
        };
        tx.commit().await?;
        Ok(after)
    }

    /// Gives back the leases `worker` still holds (graceful shutdown): the messages are
    /// due again at once for any instance.
    pub async fn release_leases(&self, worker: &str) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE outbox SET lease_owner = NULL, lease_until = NULL, updated_at = $1 \
             WHERE lease_owner = $2 AND status = 'pending'",
        )
        .bind(now_ms())
        .bind(worker)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// Messages a worker has to act on now: due and not waiting behind an earlier one of
    /// their payment to their receiver, or being delivered. Zero means every notification that can go out
    /// now has been attempted (the rest wait for a retry).
    pub async fn outbox_work_now(&self) -> Result<i64, StoreError> {
        let now = now_ms();
        // Held now, or claimable (which asks that nobody holds it).
        let (n,): (i64,) = sqlx::query_as(&format!(
            "SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND (lease_until >= $1 OR ({CLAIMABLE}))"
        ))
        .bind(now)
        .fetch_one(self.pool())
        .await?;
        Ok(n)
    }

    /// Puts the payment's failed store webhooks back in the queue, due now, as further
    /// attempts of the same events (same body, same `webhook-id`). How many.
    pub async fn requeue_failed_webhooks(&self, payment_id: &PaymentId) -> Result<u64, StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $1, updated_at = $1, \
             lease_owner = NULL, lease_until = NULL WHERE payment_id = $2 AND status = 'failed' AND kind LIKE 'webhook.%'",
        )
        .bind(now)
        .bind(payment_id.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() > 0 {
            self.notify_instances(&mut tx).await?;
        }
        tx.commit().await?;
        if done.rows_affected() > 0 {
            self.wake_outbox();
        }
        Ok(done.rows_affected())
    }

    /// Undelivered messages (pending and failed) by kind and status, for the metrics.
    pub async fn outbox_counts(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT kind, status, COUNT(*) FROM outbox WHERE status IN ('pending', 'failed') GROUP BY kind, status",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// The messages a worker could claim now and nobody holds (what [`Store::claim_due`]
    /// would take), and since when the oldest of them is due: a live worker keeps this
    /// near zero; a receiver that fails holds none of it up (its messages wait for a retry).
    pub async fn outbox_due(&self, now: i64) -> Result<OutboxDue, StoreError> {
        let (count, oldest): (i64, Option<i64>) =
            sqlx::query_as(&format!("SELECT COUNT(*), MIN(next_attempt_at) FROM outbox WHERE {CLAIMABLE}"))
                .bind(now)
                .fetch_one(self.pool())
                .await?;
        Ok(OutboxDue { count, oldest_due_at: oldest })
    }

    pub async fn outbox_messages(&self, payment_id: &PaymentId) -> Result<Vec<OutboxRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, payment_id, kind, target_url, body, status, attempts, lease_owner, last_error \
             FROM outbox WHERE payment_id = $1 ORDER BY created_at, id",
        )
        .bind(payment_id.as_str())
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn outbox_attempts(&self) -> Result<Vec<AttemptRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT outbox_id, attempt, worker, started_at, finished_at, http_status, outcome \
             FROM outbox_attempts ORDER BY outbox_id, attempt",
        )
        .fetch_all(self.pool())
        .await?)
    }
}
