//! The Cafe24 channel's own tables (SPEC §4): what Cafe24 sent with a payment request or
//! a cancel, kept beside the core's payment and refund for Cafe24's answers and notys.

use sqlx::FromRow;

use super::{Store, StoreError, Tx};
use crate::domain::{Payment, PaymentId, RefundId};

/// How Cafe24 started the payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Sync,
    Async,
    /// The storefront button (SPEC §4.6).
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

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sync" => Some(Flow::Sync),
            "async" => Some(Flow::Async),
            "external" => Some(Flow::External),
            _ => None,
        }
    }
}

/// What Cafe24 sent with a payment, as it is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cafe24Payment {
    pub partner_id: String,
    pub shop_no: i64,
    pub flow: Flow,
    /// Exactly as Cafe24 sent it; `None` when the amount is ours (external checkout).
    pub amount_text: Option<String>,
    pub paymethod: String,
    /// The key Cafe24 reads the payment with (SPEC §4.3).
    pub status_key: String,
    pub return_url: String,
    pub return_noty_url: Option<String>,
    pub extra_data: Option<String>,
    pub external_order: Option<String>,
}

pub type NewCafe24Payment = Cafe24Payment;

#[derive(FromRow)]
struct Cafe24PaymentRow {
    payment_id: String,
    partner_id: String,
    shop_no: i64,
    flow: String,
    amount_text: Option<String>,
    paymethod: String,
    status_key: String,
    return_url: String,
    return_noty_url: Option<String>,
    extra_data: Option<String>,
    external_order: Option<String>,
}

const CAFE24_COLUMNS: &str = "payment_id, partner_id, shop_no, flow, amount_text, paymethod, status_key, \
     return_url, return_noty_url, extra_data, external_order";

impl TryFrom<Cafe24PaymentRow> for Cafe24Payment {
    type Error = StoreError;
    fn try_from(r: Cafe24PaymentRow) -> Result<Self, StoreError> {
        Ok(Cafe24Payment {
            flow: Flow::parse(&r.flow)
                .ok_or_else(|| StoreError::Corrupt(format!("cafe24 payment {}: flow", r.payment_id)))?,
            partner_id: r.partner_id,
            shop_no: r.shop_no,
            amount_text: r.amount_text,
            paymethod: r.paymethod,
            status_key: r.status_key,
            return_url: r.return_url,
            return_noty_url: r.return_noty_url,
            extra_data: r.extra_data,
            external_order: r.external_order,
        })
    }
}

/// What Cafe24 sent with a cancel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cafe24Refund {
    /// Exactly as Cafe24 sent it: the cancel noty's hash covers it.
    pub amount_text: String,
    pub cancel_noty_url: Option<String>,
    pub extra_data: Option<String>,
}

impl Store {
    pub(crate) async fn insert_cafe24_payment(
        &self,
        tx: &mut Tx,
        payment_id: &PaymentId,
        c: &NewCafe24Payment,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO cafe24_payments (payment_id, partner_id, shop_no, flow, amount_text, paymethod, status_key, \
             return_url, return_noty_url, extra_data, external_order) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(payment_id.as_str())
        .bind(&c.partner_id)
        .bind(c.shop_no)
        .bind(c.flow.as_str())
        .bind(c.amount_text.clone())
        .bind(&c.paymethod)
        .bind(&c.status_key)
        .bind(&c.return_url)
        .bind(c.return_noty_url.clone())
        .bind(c.extra_data.clone())
        .bind(c.external_order.clone())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    pub(crate) async fn insert_cafe24_refund(
        &self,
        tx: &mut Tx,
        refund_id: &RefundId,
        c: &Cafe24Refund,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO cafe24_refunds (refund_id, amount_text, cancel_noty_url, extra_data) VALUES ($1, $2, $3, $4)",
        )
        .bind(refund_id.as_str())
        .bind(&c.amount_text)
        .bind(c.cancel_noty_url.clone())
        .bind(c.extra_data.clone())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn cafe24_row(
        &self,
        executor: impl sqlx::Executor<'_, Database = sqlx::Any>,
        payment_id: &PaymentId,
    ) -> Result<Option<Cafe24Payment>, StoreError> {
        let sql = format!("SELECT {CAFE24_COLUMNS} FROM cafe24_payments WHERE payment_id = $1");
        sqlx::query_as::<_, Cafe24PaymentRow>(&sql)
            .bind(payment_id.as_str())
            .fetch_optional(executor)
            .await?
            .map(Cafe24Payment::try_from)
            .transpose()
    }

    /// Cafe24's data of a payment, `None` for a payment of another channel.
    pub async fn cafe24_payment(&self, payment_id: &PaymentId) -> Result<Option<Cafe24Payment>, StoreError> {
        self.cafe24_row(self.pool(), payment_id).await
    }

    /// The same, inside the transaction of a change (its notifications are built from it).
    pub async fn cafe24_payment_in(
        &self,
        tx: &mut Tx,
        payment_id: &PaymentId,
    ) -> Result<Option<Cafe24Payment>, StoreError> {
        self.cafe24_row(&mut **tx, payment_id).await
    }

    /// The payment Cafe24 reads with `key` (SPEC §4.3).
    pub async fn cafe24_payment_by_status_key(
        &self,
        key: &str,
    ) -> Result<Option<(Payment, Cafe24Payment)>, StoreError> {
        let found: Option<(String,)> = sqlx::query_as("SELECT payment_id FROM cafe24_payments WHERE status_key = $1")
            .bind(key)
            .fetch_optional(self.pool())
            .await?;
        let Some((payment_id,)) = found else { return Ok(None) };
        let payment = self
            .payment_by_reference(&payment_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("Cafe24 data of a missing payment {payment_id}")))?;
        let cafe24 = self
            .cafe24_payment(&payment.id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("payment {} lost its Cafe24 data", payment.id)))?;
        Ok(Some((payment, cafe24)))
    }

    async fn cafe24_refund_row(
        &self,
        executor: impl sqlx::Executor<'_, Database = sqlx::Any>,
        refund_id: &RefundId,
    ) -> Result<Option<Cafe24Refund>, StoreError> {
        let row: Option<(String, Option<String>, Option<String>)> =
            sqlx::query_as("SELECT amount_text, cancel_noty_url, extra_data FROM cafe24_refunds WHERE refund_id = $1")
                .bind(refund_id.as_str())
                .fetch_optional(executor)
                .await?;
        Ok(row.map(|(amount_text, cancel_noty_url, extra_data)| Cafe24Refund {
            amount_text,
            cancel_noty_url,
            extra_data,
        }))
    }

    pub async fn cafe24_refund(&self, refund_id: &RefundId) -> Result<Option<Cafe24Refund>, StoreError> {
        self.cafe24_refund_row(self.pool(), refund_id).await
    }

    /// Cafe24's data of a refund, inside the transaction that settles it.
    pub async fn cafe24_refund_in(
        &self,
        tx: &mut Tx,
        refund_id: &RefundId,
    ) -> Result<Option<Cafe24Refund>, StoreError> {
        self.cafe24_refund_row(&mut **tx, refund_id).await
    }
}
