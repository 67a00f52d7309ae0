//! Refunds. The rules (what a refund may take) are the domain's
//! ([`crate::domain::refund`]); the core applies them under the payment's lock and uses
//! these steps to keep the result.

use sqlx::FromRow;

use super::{cafe24::Cafe24Refund, now_ms, Store, StoreError, Tx};
use crate::domain::{Money, Payment, PaymentId, Refund, RefundId, RefundMode, RefundStatus};

#[derive(FromRow)]
struct RefundRow {
    id: String,
    payment_id: String,
    amount_minor: i64,
    status: String,
    mode: String,
    gateway_refund_id: Option<String>,
    reason: Option<String>,
    failure_message: Option<String>,
    created_at: i64,
    updated_at: i64,
}

const REFUND_COLUMNS: &str = "id, payment_id, amount_minor, status, mode, gateway_refund_id, reason, \
     failure_message, created_at, updated_at";

impl RefundRow {
    fn into_refund(self, payment: &Payment) -> Result<Refund, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("refund {}: {what}", self.id));
        Ok(Refund {
            id: RefundId::parse(&self.id).map_err(|_| corrupt("id"))?,
            payment_id: PaymentId::parse(&self.payment_id).map_err(|_| corrupt("payment_id"))?,
            amount: Money::new(self.amount_minor, payment.amount.currency),
            status: RefundStatus::parse(&self.status).ok_or_else(|| corrupt("status"))?,
            mode: RefundMode::parse(&self.mode).ok_or_else(|| corrupt("mode"))?,
            gateway_refund_id: self.gateway_refund_id,
            reason: self.reason,
            failure_message: self.failure_message,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// What the channel a refund came in by keeps beside it (the core does not look inside).
#[derive(Clone, Debug)]
pub enum RefundChannelData {
    Cafe24(Cafe24Refund),
    None,
}

/// A refund's new state, as the PG's answer leaves it.
#[derive(Clone, Debug)]
pub struct RefundUpdate<'a> {
    pub status: RefundStatus,
    pub gateway_refund_id: Option<&'a str>,
    pub failure_message: Option<&'a str>,
}

impl Store {
    /// A refund and its payment, by an id as received (a PG's reference): anything that is
    /// not a refund id finds nothing.
    pub async fn refund_by_reference(&self, reference: &str) -> Result<Option<(Payment, Refund)>, StoreError> {
        let Ok(id) = RefundId::parse(reference) else { return Ok(None) };
        let sql = format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE id = $1");
        let Some(row) = sqlx::query_as::<_, RefundRow>(&sql).bind(id.as_str()).fetch_optional(self.pool()).await?
        else {
            return Ok(None);
        };
        let payment = self
            .payment_by_reference(&row.payment_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("refund {id} without its payment")))?;
        let refund = row.into_refund(&payment)?;
        Ok(Some((payment, refund)))
    }

    /// The payment's refunds, oldest first (under its lock).
    pub async fn refunds_of(&self, tx: &mut Tx, payment: &Payment) -> Result<Vec<Refund>, StoreError> {
        let sql = format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE payment_id = $1 ORDER BY created_at, id");
        sqlx::query_as::<_, RefundRow>(&sql)
            .bind(payment.id.as_str())
            .fetch_all(&mut **tx)
            .await?
            .into_iter()
            .map(|row| row.into_refund(payment))
            .collect()
    }

    /// The payment's refunds, oldest first (to show them).
    pub async fn refunds_for(&self, payment: &Payment) -> Result<Vec<Refund>, StoreError> {
        let sql = format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE payment_id = $1 ORDER BY created_at, id");
        sqlx::query_as::<_, RefundRow>(&sql)
            .bind(payment.id.as_str())
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .map(|row| row.into_refund(payment))
            .collect()
    }

    /// Reserves a refund (status `requested`) with its channel's data.
    pub async fn insert_refund(
        &self,
        tx: &mut Tx,
        refund: &Refund,
        channel: &RefundChannelData,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO refunds (id, payment_id, amount_minor, status, mode, reason, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(refund.id.as_str())
        .bind(refund.payment_id.as_str())
        .bind(refund.amount.minor)
        .bind(refund.status.as_str())
        .bind(refund.mode.as_str())
        .bind(refund.reason.clone())
        .bind(refund.created_at)
        .execute(&mut **tx)
        .await?;
        match channel {
            RefundChannelData::Cafe24(cafe24) => self.insert_cafe24_refund(tx, &refund.id, cafe24).await?,
            RefundChannelData::None => {}
        }
        Ok(())
    }

    /// Writes the refund's new state; returns the time written.
    pub async fn update_refund(
        &self,
        tx: &mut Tx,
        refund_id: &RefundId,
        update: &RefundUpdate<'_>,
    ) -> Result<i64, StoreError> {
        let now = now_ms();
        sqlx::query(
            "UPDATE refunds SET status = $1, gateway_refund_id = COALESCE($2, gateway_refund_id), \
             failure_message = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(update.status.as_str())
        .bind(update.gateway_refund_id)
        .bind(update.failure_message)
        .bind(now)
        .bind(refund_id.as_str())
        .execute(&mut **tx)
        .await?;
        Ok(now)
    }
}
