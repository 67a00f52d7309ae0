//! Payments and their append-only event history. Every status change happens in
//! [`Store::apply_event`]: the row is locked, the domain decides, and the new state and
//! its event are written in one transaction.

use sqlx::{Any, FromRow, Transaction};

use super::{is_unique_violation, new_id, now_ms, Notifications, Store, StoreError};
use crate::domain::{
    payment::Outcome, Currency, FailureReason, Money, PaymentEvent, PaymentState, PaymentStatus, Refusal,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Sync,
    Async,
    External,
}

impl Flow {
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::Sync => "sync",
            Flow::Async => "async",
            Flow::External => "external",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "sync" => Some(Flow::Sync),
            "async" => Some(Flow::Async),
            "external" => Some(Flow::External),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Payment {
    pub id: String,
    pub mall_id: String,
    pub shop_no: i64,
    pub partner_id: String,
    pub flow: Flow,
    pub order_id: String,
    pub amount: Money,
    pub amount_text: String,
    pub cancelled_minor: i64,
    pub status: PaymentStatus,
    pub failure_reason: Option<FailureReason>,
    pub paymethod: String,
    pub gateway: String,
    pub tid: Option<String>,
    pub payment_url: Option<String>,
    pub status_key: String,
    pub return_url: String,
    pub return_noty_url: Option<String>,
    pub extra_data: Option<String>,
    pub goods_name: Option<String>,
    /// External checkout: the products Cafe24 reserved (JSON).
    pub external_order: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Payment {
    pub fn state(&self) -> PaymentState {
        PaymentState { status: self.status, amount: self.amount, cancelled_minor: self.cancelled_minor }
    }
}

#[derive(FromRow)]
struct PaymentRow {
    id: String,
    mall_id: String,
    shop_no: i64,
    partner_id: String,
    flow: String,
    order_id: String,
    currency: String,
    amount_minor: i64,
    amount_text: String,
    cancelled_minor: i64,
    status: i64,
    failure_reason: Option<String>,
    paymethod: String,
    gateway: String,
    tid: Option<String>,
    payment_url: Option<String>,
    status_key: String,
    return_url: String,
    return_noty_url: Option<String>,
    extra_data: Option<String>,
    goods_name: Option<String>,
    external_order: Option<String>,
    created_at: i64,
    updated_at: i64,
}

const PAYMENT_COLUMNS: &str = "id, mall_id, shop_no, partner_id, flow, order_id, currency, amount_minor, \
     amount_text, cancelled_minor, status, failure_reason, paymethod, gateway, tid, payment_url, status_key, \
     return_url, return_noty_url, extra_data, goods_name, external_order, created_at, updated_at";

impl TryFrom<PaymentRow> for Payment {
    type Error = StoreError;
    fn try_from(r: PaymentRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("payment {}: {what}", r.id));
        let currency: Currency = r.currency.parse().map_err(|_| corrupt("currency"))?;
        Ok(Payment {
            flow: Flow::parse(&r.flow).ok_or_else(|| corrupt("flow"))?,
            status: PaymentStatus::from_code(r.status).ok_or_else(|| corrupt("status"))?,
            failure_reason: r.failure_reason.as_deref().and_then(FailureReason::parse),
            amount: Money::new(r.amount_minor, currency),
            id: r.id,
            mall_id: r.mall_id,
            shop_no: r.shop_no,
            partner_id: r.partner_id,
            order_id: r.order_id,
            amount_text: r.amount_text,
            cancelled_minor: r.cancelled_minor,
            paymethod: r.paymethod,
            gateway: r.gateway,
            tid: r.tid,
            payment_url: r.payment_url,
            status_key: r.status_key,
            return_url: r.return_url,
            return_noty_url: r.return_noty_url,
            extra_data: r.extra_data,
            goods_name: r.goods_name,
            external_order: r.external_order,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(Clone, Debug)]
pub struct NewPayment {
    pub mall_id: String,
    pub shop_no: i64,
    pub partner_id: String,
    pub flow: Flow,
    pub order_id: String,
    pub amount: Money,
    pub amount_text: String,
    pub paymethod: String,
    pub gateway: String,
    pub return_url: String,
    pub return_noty_url: Option<String>,
    pub extra_data: Option<String>,
    pub goods_name: Option<String>,
    pub external_order: Option<String>,
}

#[derive(Debug)]
pub enum Inserted {
    Created(Payment),
    /// A payment for this mall and `order_id` already existed.
    Existing(Payment),
}

/// Who reported an event: `cafe24`, `gateway` (the PG's API or webhook), `buyer`.
#[derive(Clone, Debug)]
pub struct EventSource {
    pub source: &'static str,
    pub source_event_id: Option<String>,
}

impl EventSource {
    pub fn new(source: &'static str) -> Self {
        EventSource { source, source_event_id: None }
    }
}

/// A payment after [`Store::settle_amount`], and its amount before.
#[derive(Debug)]
pub struct Settled {
    pub payment: Payment,
    pub previous: Money,
}

#[derive(Debug)]
pub struct Applied {
    pub payment: Payment,
    pub outcome: Result<Outcome, Refusal>,
}

#[derive(Clone, Debug, FromRow)]
pub struct PaymentEventRow {
    pub seq: i64,
    pub kind: String,
    pub from_status: Option<i64>,
    pub to_status: Option<i64>,
    pub amount_minor: Option<i64>,
    pub source: String,
    pub detail: Option<String>,
    pub created_at: i64,
}

pub(crate) struct EventRecord<'a> {
    pub kind: &'a str,
    pub from_status: Option<PaymentStatus>,
    pub to_status: Option<PaymentStatus>,
    pub amount_minor: Option<i64>,
    pub source: &'a EventSource,
    pub detail: Option<&'a str>,
}

/// 256 random bits, URL-safe: the key Cafe24 reads payment details with (SPEC §4.3).
fn new_status_key() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Store {
    async fn fetch_payment_where(
        &self,
        clause: &str,
        arg1: &str,
        arg2: Option<&str>,
    ) -> Result<Option<Payment>, StoreError> {
        let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE {clause}");
        let mut query = sqlx::query_as::<_, PaymentRow>(&sql).bind(arg1.to_owned());
        if let Some(arg2) = arg2 {
            query = query.bind(arg2.to_owned());
        }
        query.fetch_optional(self.pool()).await?.map(Payment::try_from).transpose()
    }

    pub async fn payment_by_id(&self, id: &str) -> Result<Option<Payment>, StoreError> {
        self.fetch_payment_where("id = $1", id, None).await
    }

    pub async fn payment_by_order(&self, mall_id: &str, order_id: &str) -> Result<Option<Payment>, StoreError> {
        self.fetch_payment_where("mall_id = $1 AND order_id = $2", mall_id, Some(order_id)).await
    }

    pub async fn payment_by_tid(&self, gateway: &str, tid: &str) -> Result<Option<Payment>, StoreError> {
        self.fetch_payment_where("gateway = $1 AND tid = $2", gateway, Some(tid)).await
    }

    pub async fn payment_by_status_key(&self, key: &str) -> Result<Option<Payment>, StoreError> {
        self.fetch_payment_where("status_key = $1", key, None).await
    }

    pub(crate) async fn lock_payment(
        &self,
        tx: &mut Transaction<'static, Any>,
        id: &str,
    ) -> Result<Payment, StoreError> {
        let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = $1{}", self.lock_clause());
        let row: PaymentRow = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("payment {id} vanished")))?;
        row.try_into()
    }

    pub(crate) async fn record_event(
        &self,
        tx: &mut Transaction<'static, Any>,
        payment_id: &str,
        event: EventRecord<'_>,
    ) -> Result<(), StoreError> {
        let (seq,): (i64,) =
            sqlx::query_as("SELECT COALESCE(MAX(seq), 0) + 1 FROM payment_events WHERE payment_id = $1")
                .bind(payment_id)
                .fetch_one(&mut **tx)
                .await?;
        sqlx::query(
            "INSERT INTO payment_events (id, payment_id, seq, kind, from_status, to_status, amount_minor, \
             source, source_event_id, detail, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(new_id("evt"))
        .bind(payment_id)
        .bind(seq)
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
        Ok(())
    }

    /// Creates the payment in status Request, or returns the one this mall already has
    /// for the `order_id`.
    pub async fn insert_payment(&self, new: &NewPayment) -> Result<Inserted, StoreError> {
        self.insert_payment_with(&new_id("pay"), new, None).await
    }

    /// Creates the payment `id` with the PG's checkout (`tid`, `payment_url`) that was
    /// opened under that reference, both recorded in one transaction; or returns the
    /// payment this mall already has for the `order_id` (then the checkout is not
    /// stored: the PG holds an open checkout nobody was sent to). The external checkout
    /// asks the PG first, so that a PG refusing it leaves nothing behind.
    pub async fn insert_opened_payment(
        &self,
        id: &str,
        new: &NewPayment,
        tid: &str,
        payment_url: &str,
    ) -> Result<Inserted, StoreError> {
        self.insert_payment_with(id, new, Some((tid, payment_url))).await
    }

    async fn insert_payment_with(
        &self,
        id: &str,
        new: &NewPayment,
        checkout: Option<(&str, &str)>,
    ) -> Result<Inserted, StoreError> {
        if let Some(existing) = self.payment_by_order(&new.mall_id, &new.order_id).await? {
            return Ok(Inserted::Existing(existing));
        }
        let now = now_ms();
        let (tid, payment_url) = checkout.unzip();
        let mut tx = self.begin_write().await?;
        let insert = sqlx::query(
            "INSERT INTO payments (id, mall_id, shop_no, partner_id, flow, order_id, currency, amount_minor, \
             amount_text, cancelled_minor, status, paymethod, gateway, status_key, return_url, return_noty_url, \
             extra_data, goods_name, external_order, tid, payment_url, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
             $21, $21)",
        )
        .bind(id)
        .bind(&new.mall_id)
        .bind(new.shop_no)
        .bind(&new.partner_id)
        .bind(new.flow.as_str())
        .bind(&new.order_id)
        .bind(new.amount.currency.code())
        .bind(new.amount.minor)
        .bind(&new.amount_text)
        .bind(PaymentStatus::Request.code())
        .bind(&new.paymethod)
        .bind(&new.gateway)
        .bind(new_status_key())
        .bind(&new.return_url)
        .bind(new.return_noty_url.clone())
        .bind(new.extra_data.clone())
        .bind(new.goods_name.clone())
        .bind(new.external_order.clone())
        .bind(tid)
        .bind(payment_url)
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
                return Ok(Inserted::Existing(existing));
            }
            Err(e) => return Err(e.into()),
        }
        self.record_event(
            &mut tx,
            id,
            EventRecord {
                kind: "payment.requested",
                from_status: None,
                to_status: Some(PaymentStatus::Request),
                amount_minor: Some(new.amount.minor),
                source: &EventSource::new("cafe24"),
                detail: None,
            },
        )
        .await?;
        if let Some(tid) = tid {
            self.record_checkout_created(&mut tx, id, tid).await?;
        }
        tx.commit().await?;
        let created = self
            .payment_by_id(id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("payment {id} not found after insert")))?;
        Ok(Inserted::Created(created))
    }

    /// Records the PG's checkout for the payment. The PG creates checkouts idempotently
    /// per reference, so a second caller brings the same `tid`; a different one is a
    /// conflict and is not stored.
    pub async fn attach_checkout(
        &self,
        payment_id: &str,
        tid: &str,
        payment_url: &str,
    ) -> Result<Result<Payment, String>, StoreError> {
        let mut tx = self.begin_write().await?;
        let payment = self.lock_payment(&mut tx, payment_id).await?;
        match payment.tid.as_deref() {
            Some(existing) if existing == tid => return Ok(Ok(payment)),
            Some(existing) => {
                return Ok(Err(format!("payment {payment_id} already has checkout {existing}")));
            }
            None => {}
        }
        sqlx::query("UPDATE payments SET tid = $1, payment_url = $2, updated_at = $3 WHERE id = $4")
            .bind(tid)
            .bind(payment_url)
            .bind(now_ms())
            .bind(payment_id)
            .execute(&mut *tx)
            .await?;
        self.record_checkout_created(&mut tx, payment_id, tid).await?;
        tx.commit().await?;
        Ok(Ok(self.payment_by_id(payment_id).await?.expect("payment exists")))
    }

    async fn record_checkout_created(
        &self,
        tx: &mut Transaction<'static, Any>,
        payment_id: &str,
        tid: &str,
    ) -> Result<(), StoreError> {
        let event = EventRecord {
            kind: "checkout.created",
            from_status: None,
            to_status: None,
            amount_minor: None,
            source: &EventSource::new("gateway"),
            detail: Some(tid),
        };
        self.record_event(tx, payment_id, event).await
    }

    /// Sets the amount of a payment still in status Request (external checkout: the
    /// total with shipping, once Cafe24 has calculated it, just before the PG is asked
    /// to take it). `Err` when the payment has moved on.
    pub async fn settle_amount(&self, payment_id: &str, amount: Money) -> Result<Result<Settled, String>, StoreError> {
        let mut tx = self.begin_write().await?;
        let payment = self.lock_payment(&mut tx, payment_id).await?;
        if payment.status != PaymentStatus::Request {
            return Ok(Err(format!("the payment is already {}", payment.status)));
        }
        if amount.currency != payment.amount.currency || amount.minor <= 0 {
            return Ok(Err(format!("{amount} cannot be this payment's amount")));
        }
        if amount != payment.amount {
            let detail = format!("{} → {amount}", payment.amount);
            self.set_amount(&mut tx, payment_id, amount, "amount.settled", &detail).await?;
        }
        tx.commit().await?;
        let settled = self.payment_by_id(payment_id).await?.expect("payment exists");
        Ok(Ok(Settled { payment: settled, previous: payment.amount }))
    }

    /// Undoes [`Store::settle_amount`] when the PG has definitely refused to take
    /// `settled`: puts `previous` back, with an `amount.restored` event saying why, in
    /// one transaction — only while the payment is still in Request at `settled`
    /// (anything else happened since, and wins). Returns the payment as it is now.
    pub async fn restore_amount(
        &self,
        payment_id: &str,
        settled: Money,
        previous: Money,
        why: &str,
    ) -> Result<Payment, StoreError> {
        let mut tx = self.begin_write().await?;
        let payment = self.lock_payment(&mut tx, payment_id).await?;
        if payment.status == PaymentStatus::Request && payment.amount == settled && previous != settled {
            let detail = format!("{settled} → {previous}: {why}");
            self.set_amount(&mut tx, payment_id, previous, "amount.restored", &detail).await?;
        }
        tx.commit().await?;
        Ok(self.payment_by_id(payment_id).await?.expect("payment exists"))
    }

    async fn set_amount(
        &self,
        tx: &mut Transaction<'static, Any>,
        payment_id: &str,
        amount: Money,
        kind: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE payments SET amount_minor = $1, amount_text = $2, updated_at = $3 WHERE id = $4")
            .bind(amount.minor)
            .bind(amount.to_major_string())
            .bind(now_ms())
            .bind(payment_id)
            .execute(&mut **tx)
            .await?;
        let event = EventRecord {
            kind,
            from_status: None,
            to_status: None,
            amount_minor: Some(amount.minor),
            source: &EventSource::new("cafe24"),
            detail: Some(detail),
        };
        self.record_event(tx, payment_id, event).await
    }

    /// Applies `event` under the payment's lock, with the notifications the change causes,
    /// in one transaction. An event the PG already delivered (same event id) is
    /// recognised and ignored. A refused event changes nothing but is kept in the history
    /// (and logged) so that an operator sees it.
    pub async fn apply_event(
        &self,
        payment_id: &str,
        event: PaymentEvent,
        source: &EventSource,
        detail: Option<&str>,
        notify: &dyn Notifications,
    ) -> Result<Applied, StoreError> {
        let mut tx = self.begin_write().await?;
        let payment = self.lock_payment(&mut tx, payment_id).await?;
        if let Some(event_id) = &source.source_event_id {
            let seen: Option<(i64,)> = sqlx::query_as(
                "SELECT seq FROM payment_events WHERE payment_id = $1 AND source = $2 AND source_event_id = $3",
            )
            .bind(payment_id)
            .bind(source.source)
            .bind(event_id)
            .fetch_optional(&mut *tx)
            .await?;
            if seen.is_some() {
                tx.commit().await?;
                return Ok(Applied { payment, outcome: Ok(Outcome::AlreadyApplied) });
            }
        }
        let outcome = payment.state().apply(event);
        let mut enqueued = false;
        match &outcome {
            Ok(Outcome::Changed(t)) => {
                let failure_reason = match event {
                    PaymentEvent::Failed(reason) => Some(reason),
                    _ => None,
                };
                sqlx::query(
                    "UPDATE payments SET status = $1, cancelled_minor = $2, \
                     failure_reason = COALESCE($3, failure_reason), updated_at = $4 WHERE id = $5",
                )
                .bind(t.to.code())
                .bind(t.cancelled_minor)
                .bind(failure_reason.map(FailureReason::as_str))
                .bind(now_ms())
                .bind(payment_id)
                .execute(&mut *tx)
                .await?;
                let amount_minor = match event {
                    PaymentEvent::Completed { paid } => Some(paid.minor),
                    PaymentEvent::Refunded { amount } => Some(amount.minor),
                    _ => None,
                };
                self.record_event(
                    &mut tx,
                    payment_id,
                    EventRecord {
                        kind: event.kind(),
                        from_status: Some(t.from),
                        to_status: Some(t.to),
                        amount_minor,
                        source,
                        detail: detail.or(failure_reason.map(FailureReason::as_str)),
                    },
                )
                .await?;
                let after = Payment {
                    status: t.to,
                    cancelled_minor: t.cancelled_minor,
                    failure_reason: failure_reason.or(payment.failure_reason),
                    ..payment.clone()
                };
                for message in notify.on_transition(&after, t, &event) {
                    self.enqueue(&mut tx, Some(payment_id), &message).await?;
                    enqueued = true;
                }
            }
            Ok(Outcome::AlreadyApplied) => {}
            Err(refusal) => {
                tracing::warn!(payment_id, event = event.kind(), %refusal, "transition refused");
                let detail = format!("{}: {refusal}", event.kind());
                self.record_event(
                    &mut tx,
                    payment_id,
                    EventRecord {
                        kind: "transition.refused",
                        from_status: Some(payment.status),
                        to_status: None,
                        amount_minor: None,
                        source: &EventSource::new(source.source),
                        detail: Some(&detail),
                    },
                )
                .await?;
            }
        }
        tx.commit().await?;
        if enqueued {
            self.wake_outbox();
        }
        let payment = self.payment_by_id(payment_id).await?.expect("payment exists");
        Ok(Applied { payment, outcome })
    }

    pub async fn payment_events(&self, payment_id: &str) -> Result<Vec<PaymentEventRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT seq, kind, from_status, to_status, amount_minor, source, detail, created_at \
             FROM payment_events WHERE payment_id = $1 ORDER BY seq",
        )
        .bind(payment_id)
        .fetch_all(self.pool())
        .await?)
    }
}
