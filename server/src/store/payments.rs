//! Payments and their append-only event history, as the core keeps them. The core
//! composes a change from these steps inside one transaction ([`Store::begin_write`]):
//! lock the payment, let the domain decide, write the new state, record the event,
//! enqueue the notifications.

use sqlx::FromRow;

use super::{
    cafe24::NewCafe24Payment, is_unique_violation, new_id, now_ms, saved_cards::AlsoWrite, store_api::StoreApiPayment,
    Store, StoreError, Tx,
};
use crate::domain::{
    CaptureMethod, Channel, Currency, FailureReason, MallId, Money, OrderId, Payment, PaymentId, PaymentStatus,
    PendingReason, Transition,
};

#[derive(FromRow)]
pub(crate) struct PaymentRow {
    id: String,
    mall_id: String,
    channel: String,
    order_id: String,
    currency: String,
    amount_minor: i64,
    captured_minor: i64,
    cancelled_minor: i64,
    status: i64,
    capture_method: String,
    failure_reason: Option<String>,
    pending_reason: Option<String>,
    gateway: String,
    tid: Option<String>,
    checkout_url: Option<String>,
    description: Option<String>,
    expires_at: Option<i64>,
    capture_before: Option<i64>,
    confirmed_at: Option<i64>,
    delivered_at: Option<i64>,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

pub(crate) const PAYMENT_COLUMNS: &str = "id, mall_id, channel, order_id, currency, amount_minor, captured_minor, \
     cancelled_minor, status, capture_method, failure_reason, pending_reason, gateway, tid, checkout_url, description, \
     expires_at, capture_before, confirmed_at, delivered_at, version, created_at, updated_at";

fn pending_reason_str(reason: PendingReason) -> &'static str {
    match reason {
        PendingReason::Capture => "capture",
        PendingReason::Deposit => "deposit",
    }
}

impl TryFrom<PaymentRow> for Payment {
    type Error = StoreError;
    fn try_from(r: PaymentRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("payment {}: {what}", r.id));
        let currency: Currency = r.currency.parse().map_err(|_| corrupt("currency"))?;
        Ok(Payment {
            id: PaymentId::parse(&r.id).map_err(|_| corrupt("id"))?,
            mall_id: MallId::parse(&r.mall_id).map_err(|_| corrupt("mall_id"))?,
            channel: Channel::parse(&r.channel).ok_or_else(|| corrupt("channel"))?,
            order_id: OrderId::parse(&r.order_id).map_err(|_| corrupt("order_id"))?,
            amount: Money::new(r.amount_minor, currency),
            captured_minor: r.captured_minor,
            cancelled_minor: r.cancelled_minor,
            status: PaymentStatus::from_code(r.status).ok_or_else(|| corrupt("status"))?,
            capture_method: CaptureMethod::parse(&r.capture_method).ok_or_else(|| corrupt("capture_method"))?,
            failure_reason: r
                .failure_reason
                .as_deref()
                .map(|f| FailureReason::parse(f).ok_or_else(|| corrupt("failure_reason")))
                .transpose()?,
            pending_reason: match r.pending_reason.as_deref() {
                None => None,
                Some("capture") => Some(PendingReason::Capture),
                Some("deposit") => Some(PendingReason::Deposit),
                Some(_) => return Err(corrupt("pending_reason")),
            },
            gateway: r.gateway,
            tid: r.tid,
            checkout_url: r.checkout_url,
            description: r.description,
            expires_at: r.expires_at,
            capture_before: r.capture_before,
            confirmed_at: r.confirmed_at,
            delivered_at: r.delivered_at,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// A payment about to be created, in status Request.
#[derive(Clone, Debug)]
pub struct NewPayment {
    pub id: PaymentId,
    pub mall_id: MallId,
    pub channel: Channel,
    pub order_id: OrderId,
    pub amount: Money,
    pub capture_method: CaptureMethod,
    pub gateway: String,
    pub description: Option<String>,
    /// When an intent not finalized by then fails (unix ms).
    pub expires_at: Option<i64>,
}

/// The checkout the PG opened for a new payment (under the payment's id).
#[derive(Clone, Debug)]
pub struct OpenedCheckout {
    pub tid: String,
    pub checkout_url: String,
}

/// What the channel a payment came in by keeps beside it, written in the same
/// transaction. The core passes it through without looking inside.
#[derive(Clone, Debug)]
pub enum ChannelData {
    Cafe24(NewCafe24Payment),
    StoreApi(StoreApiPayment),
}

#[derive(Debug)]
pub enum Inserted {
    Created(Payment),
    /// The merchant already has a payment for this `order_id`.
    Existing(Payment),
}

/// What the maintenance worker looks for (SPEC §8.3's workers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaintenanceJob {
    /// Intents in 1 past their `expires_at`.
    ExpireIntents,
    /// Authorizations in 5 past their `capture_before`.
    ExpireAuthorizations,
    /// Delivered payments in 2 or 7, not confirmed, delivered at least this long ago (ms).
    AutoConfirm { after_ms: i64 },
    /// Reconciliation: payments in 1 with an open PG checkout opened at least this long ago
    /// (ms), not asked within that time either, and then asked again only as often as
    /// their age doubles (card registrations are left to their own expiry).
    ReconcileCheckouts { after_ms: i64 },
    /// Reconciliation: payments with a refund reserved but not confirmed (requested,
    /// outcome unknown, or pending at the PG) untouched for at least this long (ms), and
    /// not asked about within that time.
    ReconcileRefunds { after_ms: i64 },
    /// Reconciliation: authorizations (5) whose capture or void was asked of the PG at
    /// least this long ago (ms) without its answer applied (and not asked about within
    /// that time).
    ReconcileAuthorizations { after_ms: i64 },
}

/// What a transition writes beside the status.
pub struct StatusChange<'a> {
    pub transition: &'a Transition,
    pub failure_reason: Option<FailureReason>,
    pub pending_reason: Option<PendingReason>,
    /// Set when an authorization starts its capture window (unix ms).
    pub capture_before: Option<i64>,
}

/// Who reported an event: `cafe24`, `store_api`, `gateway` (the PG's API or webhook),
/// `buyer`, `outbox`.
#[derive(Clone, Debug)]
pub struct EventSource {
    pub source: &'static str,
    /// The PG's own event id, when it has one: a second delivery is recognised by it.
    pub source_event_id: Option<String>,
}

impl EventSource {
    pub fn new(source: &'static str) -> Self {
        EventSource { source, source_event_id: None }
    }
}

#[derive(Clone, Debug, FromRow)]
pub struct PaymentEventRow {
    pub id: String,
    pub seq: i64,
    pub kind: String,
    pub from_status: Option<i64>,
    pub to_status: Option<i64>,
    pub amount_minor: Option<i64>,
    pub source: String,
    pub detail: Option<String>,
    pub created_at: i64,
}

/// One entry of a payment's history.
pub struct EventRecord<'a> {
    pub kind: &'a str,
    pub from_status: Option<PaymentStatus>,
    pub to_status: Option<PaymentStatus>,
    pub amount_minor: Option<i64>,
    pub source: &'a EventSource,
    pub detail: Option<&'a str>,
}

impl<'a> EventRecord<'a> {
    /// An entry that changes no status.
    pub fn note(kind: &'a str, source: &'a EventSource, amount_minor: Option<i64>, detail: Option<&'a str>) -> Self {
        EventRecord { kind, from_status: None, to_status: None, amount_minor, source, detail }
    }
}

impl Store {
    async fn fetch_payment_where(&self, clause: &str, args: &[&str]) -> Result<Option<Payment>, StoreError> {
        let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE {clause}");
        let mut query = sqlx::query_as::<_, PaymentRow>(&sql);
        for arg in args {
            query = query.bind(arg.to_string());
        }
        let payment = query.fetch_optional(self.pool()).await?.map(Payment::try_from).transpose()?;
        if let Some(p) = &payment {
            note_payment(p.id.as_str(), p.channel.as_str());
        }
        Ok(payment)
    }

    pub async fn payment(&self, id: &PaymentId) -> Result<Option<Payment>, StoreError> {
        self.fetch_payment_where("id = $1", &[id.as_str()]).await
    }

    /// By an id as received (a PG's reference, a URL): anything that is not a payment id
    /// finds nothing.
    pub async fn payment_by_reference(&self, reference: &str) -> Result<Option<Payment>, StoreError> {
        match PaymentId::parse(reference) {
            Ok(id) => self.payment(&id).await,
            Err(_) => Ok(None),
        }
    }

    pub async fn payment_by_order(&self, mall_id: &MallId, order_id: &OrderId) -> Result<Option<Payment>, StoreError> {
        self.fetch_payment_where("mall_id = $1 AND order_id = $2", &[mall_id.as_str(), order_id.as_str()]).await
    }

    pub async fn payment_by_tid(&self, gateway: &str, tid: &str) -> Result<Option<Payment>, StoreError> {
        self.fetch_payment_where("gateway = $1 AND tid = $2", &[gateway, tid]).await
    }

    /// The payment, read again after a change committed.
    pub(crate) async fn reload(&self, id: &PaymentId) -> Result<Payment, StoreError> {
        self.payment(id).await?.ok_or_else(|| StoreError::Corrupt(format!("payment {id} vanished")))
    }

    /// Locks the payment for a change (PostgreSQL: `FOR UPDATE`; SQLite: the writer lock
    /// [`Store::begin_write`] took).
    pub async fn lock_payment(&self, tx: &mut Tx, id: &PaymentId) -> Result<Payment, StoreError> {
        let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = $1{}", self.lock_clause());
        let row: PaymentRow = sqlx::query_as(&sql)
            .bind(id.as_str())
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("payment {id} vanished")))?;
        let payment: Payment = row.try_into()?;
        note_payment(payment.id.as_str(), payment.channel.as_str());
        Ok(payment)
    }

    /// Appends the event to the payment's history; its id (`evt_…`), which is also the
    /// id of every notification it causes.
    pub async fn record_event(
        &self,
        tx: &mut Tx,
        payment_id: &PaymentId,
        event: EventRecord<'_>,
    ) -> Result<String, StoreError> {
        let id = new_id("evt");
        // The next position in the payment's history, taken in the same statement (the
        // payment is locked, so no other writer takes it meanwhile).
        sqlx::query(
            "INSERT INTO payment_events (id, payment_id, seq, kind, from_status, to_status, amount_minor, \
             source, source_event_id, detail, created_at) \
             SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3, $4, $5, $6, $7, $8, $9, $10 \
             FROM payment_events WHERE payment_id = $2",
        )
        .bind(&id)
        .bind(payment_id.as_str())
        .bind(event.kind)
        .bind(event.from_status.map(PaymentStatus::code))
        .bind(event.to_status.map(PaymentStatus::code))
        .bind(event.amount_minor)
        .bind(event.source.source)
        .bind(event.source.source_event_id.clone())
        .bind(event.detail)
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
        Ok(id)
    }

    /// Whether the payment's history already holds this PG event (a redelivery).
    pub async fn event_seen(
        &self,
        tx: &mut Tx,
        payment_id: &PaymentId,
        source: &EventSource,
    ) -> Result<bool, StoreError> {
        let Some(event_id) = &source.source_event_id else { return Ok(false) };
        let seen: Option<(i64,)> = sqlx::query_as(
            "SELECT seq FROM payment_events WHERE payment_id = $1 AND source = $2 AND source_event_id = $3",
        )
        .bind(payment_id.as_str())
        .bind(source.source)
        .bind(event_id)
        .fetch_optional(&mut **tx)
        .await?;
        Ok(seen.is_some())
    }

    /// Creates the payment in status Request with the checkout the PG opened for it, its
    /// channel's data and the first two history entries, in one transaction; or returns
    /// the payment this merchant already has for the `order_id` (then nothing is stored:
    /// the PG holds an open checkout nobody was sent to).
    pub async fn create_payment(
        &self,
        new: &NewPayment,
        checkout: &OpenedCheckout,
        channel: &ChannelData,
        source: &EventSource,
    ) -> Result<Inserted, StoreError> {
        self.insert_payment(new, Some((checkout, "checkout.created")), channel, &AlsoWrite::Nothing, source)
            .await?
            .ok_or_else(|| StoreError::Corrupt("a checkout's payment refused without a condition".into()))
    }

    /// The one way a payment comes to be: in status Request, with what the PG opened for it
    /// (a checkout, a registration page; nothing yet for a charge of a saved card), its
    /// channel's data, what else belongs to it, and its first history entries — in one
    /// transaction; or the payment this merchant already has for the `order_id`. `None`
    /// when a condition of what else belongs to it does not hold (nothing is written).
    pub(super) async fn insert_payment(
        &self,
        new: &NewPayment,
        opened: Option<(&OpenedCheckout, &str)>,
        channel: &ChannelData,
        also: &AlsoWrite<'_>,
        source: &EventSource,
    ) -> Result<Option<Inserted>, StoreError> {
        // An order that has its payment already fails the insert (unique per merchant).
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let insert = sqlx::query(
            "INSERT INTO payments (id, mall_id, channel, order_id, currency, amount_minor, captured_minor, \
             cancelled_minor, status, capture_method, gateway, tid, checkout_url, description, expires_at, version, \
             created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, 0, $7, $8, $9, $10, $11, $12, $13, 1, $14, $14)",
        )
        .bind(new.id.as_str())
        .bind(new.mall_id.as_str())
        .bind(new.channel.as_str())
        .bind(new.order_id.as_str())
        .bind(new.amount.currency.code())
        .bind(new.amount.minor)
        .bind(PaymentStatus::Request.code())
        .bind(new.capture_method.as_str())
        .bind(&new.gateway)
        .bind(opened.map(|(o, _)| o.tid.clone()))
        .bind(opened.map(|(o, _)| o.checkout_url.clone()))
        .bind(new.description.clone())
        .bind(new.expires_at)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match insert {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                drop(tx);
                let existing = self
                    .payment_by_order(&new.mall_id, &new.order_id)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt("unique violation without a row".into()))?;
                return Ok(Some(Inserted::Existing(existing)));
            }
            Err(e) => return Err(e.into()),
        }
        match channel {
            ChannelData::Cafe24(cafe24) => self.insert_cafe24_payment(&mut tx, &new.id, cafe24).await?,
            ChannelData::StoreApi(store_api) => self.insert_store_api_payment(&mut tx, &new.id, store_api).await?,
        }
        if !self.insert_also(&mut tx, &new.id, &new.mall_id, also).await? {
            // Dropped: rolled back.
            return Ok(None);
        }
        let requested = EventRecord {
            kind: "payment.requested",
            from_status: None,
            to_status: Some(PaymentStatus::Request),
            amount_minor: Some(new.amount.minor),
            source,
            detail: None,
        };
        self.record_event(&mut tx, &new.id, requested).await?;
        if let Some((opened, kind)) = opened {
            let gateway = EventSource::new("gateway");
            self.record_event(&mut tx, &new.id, EventRecord::note(kind, &gateway, None, Some(&opened.tid))).await?;
        }
        tx.commit().await?;
        Ok(Some(Inserted::Created(self.reload(&new.id).await?)))
    }

    /// Records the PG's transaction id of a payment that had none yet (a charge of a saved
    /// card is stored before the PG is asked).
    pub async fn set_tid(&self, tx: &mut Tx, payment_id: &PaymentId, tid: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE payments SET tid = $1, updated_at = $2 WHERE id = $3 AND tid IS NULL")
            .bind(tid)
            .bind(now_ms())
            .bind(payment_id.as_str())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Writes a transition the domain allowed (status, taken and refunded sums, why it
    /// failed or waits, until when an authorization may be captured); the version grows.
    pub async fn set_status(
        &self,
        tx: &mut Tx,
        payment_id: &PaymentId,
        change: &StatusChange<'_>,
    ) -> Result<(), StoreError> {
        let t = change.transition;
        sqlx::query(
            "UPDATE payments SET status = $1, captured_minor = $2, cancelled_minor = $3, \
             failure_reason = COALESCE($4, failure_reason), pending_reason = $5, \
             capture_before = COALESCE($6, capture_before), pg_call_since = NULL, version = version + 1, \
             updated_at = $7 WHERE id = $8",
        )
        .bind(t.to.code())
        .bind(t.captured_minor)
        .bind(t.cancelled_minor)
        .bind(change.failure_reason.map(FailureReason::as_str))
        .bind(change.pending_reason.map(pending_reason_str))
        .bind(change.capture_before)
        .bind(now_ms())
        .bind(payment_id.as_str())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Sets the amount of a payment (still in Request: the caller checked under the lock).
    pub async fn set_amount(&self, tx: &mut Tx, payment_id: &PaymentId, amount: Money) -> Result<(), StoreError> {
        sqlx::query("UPDATE payments SET amount_minor = $1, version = version + 1, updated_at = $2 WHERE id = $3")
            .bind(amount.minor)
            .bind(now_ms())
            .bind(payment_id.as_str())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Writes why a payment is about to end (before its status changes).
    pub async fn set_failure_reason(
        &self,
        tx: &mut Tx,
        payment_id: &PaymentId,
        reason: FailureReason,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE payments SET failure_reason = $1, updated_at = $2 WHERE id = $3")
            .bind(reason.as_str())
            .bind(now_ms())
            .bind(payment_id.as_str())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Records the purchase confirmation (SPEC §8.3); the version grows.
    pub async fn set_confirmed(&self, tx: &mut Tx, payment_id: &PaymentId, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE payments SET confirmed_at = $1, version = version + 1, updated_at = $1 WHERE id = $2")
            .bind(at)
            .bind(payment_id.as_str())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Records the delivery of the goods; the version grows.
    pub async fn set_delivered(&self, tx: &mut Tx, payment_id: &PaymentId, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE payments SET delivered_at = $1, version = version + 1, updated_at = $2 WHERE id = $3")
            .bind(at)
            .bind(now_ms())
            .bind(payment_id.as_str())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Counts a change that leaves the payment's own columns as they are (a refund that
    /// failed, …): the version grows.
    pub async fn bump_version(&self, tx: &mut Tx, payment_id: &PaymentId) -> Result<(), StoreError> {
        sqlx::query("UPDATE payments SET version = version + 1, updated_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(payment_id.as_str())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Leases up to `limit` payments that `job` has to act on to this worker: another
    /// instance leaves them alone until the lease ends (a worker that dies mid-way leaves
    /// them to the next pass). The job re-checks each under the payment's lock.
    pub async fn claim_for_maintenance(
        &self,
        job: MaintenanceJob,
        limit: i64,
        lease_ms: i64,
    ) -> Result<Vec<PaymentId>, StoreError> {
        let now = now_ms();
        let due = match job {
            MaintenanceJob::ExpireIntents => "status = 1 AND expires_at IS NOT NULL AND expires_at <= $2".to_owned(),
            MaintenanceJob::ExpireAuthorizations => {
                "status = 5 AND pending_reason = 'capture' AND capture_before IS NOT NULL AND capture_before <= $2"
                    .to_owned()
            }
            MaintenanceJob::AutoConfirm { after_ms } => format!(
                "status IN (2, 7) AND confirmed_at IS NULL AND delivered_at IS NOT NULL AND delivered_at <= $2 - {after_ms}"
            ),
            MaintenanceJob::ReconcileCheckouts { after_ms } => format!(
                "status = 1 AND tid IS NOT NULL AND created_at <= $2 - {after_ms} \
                 AND (reconciled_at IS NULL OR (reconciled_at <= $2 - {after_ms} \
                      AND $2 - reconciled_at >= reconciled_at - created_at)) \
                 AND NOT EXISTS (SELECT 1 FROM card_registrations c WHERE c.payment_id = payments.id)"
            ),
            MaintenanceJob::ReconcileRefunds { after_ms } => format!(
                "EXISTS (SELECT 1 FROM refunds r WHERE r.payment_id = payments.id \
                   AND r.status IN ('requested', 'unknown', 'pending') AND r.updated_at <= $2 - {after_ms}) \
                 AND (reconciled_at IS NULL OR reconciled_at <= $2 - {after_ms})"
            ),
            MaintenanceJob::ReconcileAuthorizations { after_ms } => {
                format!(
                    "status = 5 AND pg_call_since IS NOT NULL AND pg_call_since <= $2 - {after_ms} \
                     AND (reconciled_at IS NULL OR reconciled_at <= $2 - {after_ms})"
                )
            }
        };
        let skip_locked = match self.backend() {
            super::Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            super::Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE payments SET worker_lease_until = $1 WHERE id IN (SELECT id FROM payments WHERE {due} \
             AND (worker_lease_until IS NULL OR worker_lease_until < $2) ORDER BY updated_at LIMIT $3{skip_locked}) \
             RETURNING id"
        );
        let mut tx = self.begin_write().await?;
        let ids: Vec<(String,)> =
            sqlx::query_as(&sql).bind(now + lease_ms).bind(now).bind(limit).fetch_all(&mut *tx).await?;
        tx.commit().await?;
        ids.into_iter()
            .map(|(id,)| PaymentId::parse(&id).map_err(|e| StoreError::Corrupt(format!("payment {id}: {e}"))))
            .collect()
    }

    /// Marks that a capture or void of the payment is being asked of the PG (`Some(now)`),
    /// or that its answer is known (`None`); a transition clears it too. A mark older than
    /// `RECONCILE_AFTER` is the reconciliation worker's to finish.
    pub async fn mark_pg_call(&self, payment_id: &PaymentId, since: Option<i64>) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        self.mark_pg_call_in(&mut tx, payment_id, since).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn mark_pg_call_in(
        &self,
        tx: &mut Tx,
        payment_id: &PaymentId,
        since: Option<i64>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE payments SET pg_call_since = $1 WHERE id = $2")
            .bind(since)
            .bind(payment_id.as_str())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Clears the mark if it is still the one set at `since` (no newer call marked it).
    pub async fn clear_pg_call_if(&self, tx: &mut Tx, payment_id: &PaymentId, since: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE payments SET pg_call_since = NULL WHERE id = $1 AND pg_call_since = $2")
            .bind(payment_id.as_str())
            .bind(since)
            .execute(&mut **tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// When the reconciliation worker last asked the PG about the payment (unix ms).
    pub async fn set_reconciled_at(&self, payment_id: &PaymentId, at: i64) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE payments SET reconciled_at = $1 WHERE id = $2")
            .bind(at)
            .bind(payment_id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The payment's capture-or-void mark (see [`Self::mark_pg_call`]).
    pub async fn pg_call_since(&self, payment_id: &PaymentId) -> Result<Option<i64>, StoreError> {
        let row: Option<(Option<i64>,)> = sqlx::query_as("SELECT pg_call_since FROM payments WHERE id = $1")
            .bind(payment_id.as_str())
            .fetch_optional(self.pool())
            .await?;
        Ok(row.and_then(|(since,)| since))
    }

    /// Ends the maintenance worker's lease on a payment.
    pub async fn release_maintenance(&self, payment_id: &PaymentId) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE payments SET worker_lease_until = NULL WHERE id = $1")
            .bind(payment_id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn payment_events(&self, payment_id: &PaymentId) -> Result<Vec<PaymentEventRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, seq, kind, from_status, to_status, amount_minor, source, detail, created_at \
             FROM payment_events WHERE payment_id = $1 ORDER BY seq",
        )
        .bind(payment_id.as_str())
        .fetch_all(self.pool())
        .await?)
    }
}

/// Records the payment a request (or a worker's step) acts on in the current span, when
/// that span has the fields (`payment_id`, `channel`): the request's span does.
fn note_payment(payment_id: &str, channel: &str) {
    let span = tracing::Span::current();
    span.record("payment_id", payment_id);
    span.record("channel", channel);
}
