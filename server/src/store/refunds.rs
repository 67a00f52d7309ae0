//! Refunds (Cafe24 "cancellations"). A refund is reserved against the payment before the
//! PG is asked, so that concurrent cancels can never take back more than was paid; the
//! PG's answer — at once, or later by webhook — then completes or releases the
//! reservation, together with the notifications it causes.

use sqlx::FromRow;

use super::{
    new_id, now_ms, payments::EventRecord, EventSource, Notifications, Payment, Store, StoreError, IN_FLIGHT_LEASE,
};
use crate::domain::{payment::Outcome, Money, PaymentEvent, PaymentStatus};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefundStatus {
    /// The PG is being asked right now.
    Requested,
    /// The PG was asked but its answer was lost; the next identical cancel resumes it.
    Unknown,
    /// The PG accepted and will decide later (asynchronous refunds).
    Pending,
    Succeeded,
    Failed,
}

impl RefundStatus {
    const ALL: [RefundStatus; 5] = [
        RefundStatus::Requested,
        RefundStatus::Unknown,
        RefundStatus::Pending,
        RefundStatus::Succeeded,
        RefundStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Requested => "requested",
            RefundStatus::Unknown => "unknown",
            RefundStatus::Pending => "pending",
            RefundStatus::Succeeded => "succeeded",
            RefundStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        matches!(self, RefundStatus::Succeeded | RefundStatus::Failed)
    }

    /// Counts against what remains: the PG may still refund it.
    fn is_open(self) -> bool {
        !self.is_final()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefundMode {
    /// Cafe24 waits for the answer.
    Sync,
    /// Cafe24 is answered "requested" and told the outcome at `cancel_noty_url`.
    Async,
}

impl RefundMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundMode::Sync => "sync",
            RefundMode::Async => "async",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Refund {
    pub id: String,
    pub payment_id: String,
    pub amount: Money,
    /// Exactly as Cafe24 sent it: the cancel noty's hash covers it.
    pub amount_text: String,
    pub status: RefundStatus,
    pub mode: RefundMode,
    pub gateway_refund_id: Option<String>,
    pub failure_message: Option<String>,
    pub cancel_noty_url: Option<String>,
    pub extra_data: Option<String>,
    updated_at: i64,
}

impl Refund {
    /// Unknown outcome, or asked so long ago that the asker must have died.
    fn is_resumable(&self, now: i64) -> bool {
        self.status == RefundStatus::Unknown
            || (self.status == RefundStatus::Requested && now - self.updated_at > IN_FLIGHT_LEASE.as_millis() as i64)
    }
}

#[derive(FromRow)]
struct RefundRow {
    id: String,
    payment_id: String,
    amount_minor: i64,
    amount_text: String,
    status: String,
    mode: String,
    gateway_refund_id: Option<String>,
    failure_message: Option<String>,
    cancel_noty_url: Option<String>,
    extra_data: Option<String>,
    updated_at: i64,
}

const REFUND_COLUMNS: &str = "id, payment_id, amount_minor, amount_text, status, mode, gateway_refund_id, \
     failure_message, cancel_noty_url, extra_data, updated_at";

impl RefundRow {
    fn into_refund(self, payment: &Payment) -> Result<Refund, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("refund {}: {what}", self.id));
        Ok(Refund {
            status: RefundStatus::parse(&self.status).ok_or_else(|| corrupt("status"))?,
            mode: match self.mode.as_str() {
                "sync" => RefundMode::Sync,
                "async" => RefundMode::Async,
                _ => return Err(corrupt("mode")),
            },
            amount: Money::new(self.amount_minor, payment.amount.currency),
            id: self.id,
            payment_id: self.payment_id,
            amount_text: self.amount_text,
            gateway_refund_id: self.gateway_refund_id,
            failure_message: self.failure_message,
            cancel_noty_url: self.cancel_noty_url,
            extra_data: self.extra_data,
            updated_at: self.updated_at,
        })
    }
}

#[derive(Clone, Debug)]
pub struct NewRefund {
    pub amount: Money,
    pub amount_text: String,
    pub mode: RefundMode,
    pub reason: Option<String>,
    pub cancel_noty_url: Option<String>,
    pub extra_data: Option<String>,
    /// Cafe24's `remain_amount`: what it expects to remain after this cancel. When given,
    /// a repeat of an already applied cancel no longer matches and is refused.
    pub expected_remaining_after: Option<Money>,
}

#[derive(Debug)]
pub enum Reserved {
    New(Refund),
    /// An earlier identical cancel whose outcome was lost; ask the PG again (same id).
    Resume(Refund),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundRefusal {
    #[error("the payment is not paid (status {0})")]
    NotPaid(PaymentStatus),
    #[error("the payment is already cancelled in full")]
    AlreadyCancelled,
    #[error("cancel_amount must be greater than zero")]
    NotPositive,
    #[error("cancel_amount {requested} exceeds the {remaining} that remains{}", in_flight_note(*.in_flight))]
    ExceedsRemaining { requested: Money, remaining: Money, in_flight: Money },
    #[error("remain_amount {expected} does not match: {actual} would remain after this cancel")]
    RemainMismatch { expected: Money, actual: Money },
}

fn in_flight_note(in_flight: Money) -> String {
    if in_flight.minor > 0 {
        format!(" ({in_flight} is being cancelled right now)")
    } else {
        String::new()
    }
}

/// What the PG answered to a refund.
#[derive(Clone, Debug)]
pub enum RefundOutcome {
    Succeeded {
        gateway_refund_id: String,
    },
    Pending {
        gateway_refund_id: String,
    },
    Refused {
        message: String,
    },
    /// No answer (timeout, connection lost): the refund may or may not have happened.
    Unknown {
        message: String,
    },
}

impl Store {
    pub async fn refund_by_id(&self, id: &str) -> Result<Option<(Payment, Refund)>, StoreError> {
        let sql = format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE id = $1");
        let Some(row) = sqlx::query_as::<_, RefundRow>(&sql).bind(id).fetch_optional(self.pool()).await? else {
            return Ok(None);
        };
        let payment = self
            .payment_by_id(&row.payment_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("refund {id} without its payment")))?;
        let refund = row.into_refund(&payment)?;
        Ok(Some((payment, refund)))
    }

    /// Reserves `new.amount` against the payment, or hands back an identical refund whose
    /// outcome was lost so the caller can finish it.
    pub async fn reserve_refund(
        &self,
        payment_id: &str,
        new: &NewRefund,
    ) -> Result<Result<Reserved, RefundRefusal>, StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let payment = self.lock_payment(&mut tx, payment_id).await?;
        let sql = format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE payment_id = $1 ORDER BY created_at");
        let refunds = sqlx::query_as::<_, RefundRow>(&sql)
            .bind(payment_id)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|row| row.into_refund(&payment))
            .collect::<Result<Vec<_>, _>>()?;

        let in_flight: i64 = refunds.iter().filter(|r| r.status.is_open()).map(|r| r.amount.minor).sum();
        // What remains once every open refund (a lost one included) goes through.
        let remaining = payment.amount.minor - payment.cancelled_minor - in_flight;
        let same_request = |r: &&Refund| {
            r.is_resumable(now)
                && r.amount == new.amount
                && r.mode == new.mode
                && new.expected_remaining_after.is_none_or(|e| e.minor == remaining)
        };
        if let Some(lost) = refunds.iter().find(same_request) {
            sqlx::query("UPDATE refunds SET status = 'requested', updated_at = $1 WHERE id = $2")
                .bind(now)
                .bind(&lost.id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            let refund = Refund { status: RefundStatus::Requested, updated_at: now, ..lost.clone() };
            return Ok(Ok(Reserved::Resume(refund)));
        }

        let currency = payment.amount.currency;
        let refusal = match payment.status {
            PaymentStatus::Complete | PaymentStatus::PartialCancel => None,
            PaymentStatus::Cancel => Some(RefundRefusal::AlreadyCancelled),
            other => Some(RefundRefusal::NotPaid(other)),
        }
        .or_else(|| {
            if new.amount.minor <= 0 {
                Some(RefundRefusal::NotPositive)
            } else if new.amount.minor > remaining {
                Some(RefundRefusal::ExceedsRemaining {
                    requested: new.amount,
                    remaining: Money::new(remaining.max(0), currency),
                    in_flight: Money::new(in_flight, currency),
                })
            } else {
                let actual = Money::new(remaining - new.amount.minor, currency);
                new.expected_remaining_after
                    .filter(|expected| *expected != actual)
                    .map(|expected| RefundRefusal::RemainMismatch { expected, actual })
            }
        });
        if let Some(refusal) = refusal {
            return Ok(Err(refusal));
        }

        let id = new_id("rfd");
        sqlx::query(
            "INSERT INTO refunds (id, payment_id, amount_minor, amount_text, status, mode, reason, \
             cancel_noty_url, extra_data, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'requested', $5, $6, $7, $8, $9, $9)",
        )
        .bind(&id)
        .bind(payment_id)
        .bind(new.amount.minor)
        .bind(&new.amount_text)
        .bind(new.mode.as_str())
        .bind(new.reason.clone())
        .bind(new.cancel_noty_url.clone())
        .bind(new.extra_data.clone())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        self.record_event(
            &mut tx,
            payment_id,
            EventRecord {
                kind: "refund.requested",
                from_status: None,
                to_status: None,
                amount_minor: Some(new.amount.minor),
                source: &EventSource::new("cafe24"),
                detail: Some(&id),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(Reserved::New(Refund {
            id,
            payment_id: payment_id.to_owned(),
            amount: new.amount,
            amount_text: new.amount_text.clone(),
            status: RefundStatus::Requested,
            mode: new.mode,
            gateway_refund_id: None,
            failure_message: None,
            cancel_noty_url: new.cancel_noty_url.clone(),
            extra_data: new.extra_data.clone(),
            updated_at: now,
        })))
    }

    /// Records what the PG answered — now, or later by webhook. A success moves the
    /// payment to Partial Cancel or Cancel; a final answer enqueues what `notify` asks
    /// for; all in one transaction. A refund already final stays as it is.
    pub async fn complete_refund(
        &self,
        refund_id: &str,
        outcome: &RefundOutcome,
        notify: &dyn Notifications,
    ) -> Result<(Payment, Refund), StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let (payment_id,): (String,) =
            sqlx::query_as("SELECT payment_id FROM refunds WHERE id = $1").bind(refund_id).fetch_one(&mut *tx).await?;
        let payment = self.lock_payment(&mut tx, &payment_id).await?;
        let sql = format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE id = $1");
        let refund =
            sqlx::query_as::<_, RefundRow>(&sql).bind(refund_id).fetch_one(&mut *tx).await?.into_refund(&payment)?;
        if refund.status.is_final() {
            tx.commit().await?;
            return Ok((payment, refund));
        }
        let source = EventSource::new("gateway");
        let mut after = payment.clone();
        let (status, gateway_refund_id, failure_message) = match outcome {
            RefundOutcome::Succeeded { gateway_refund_id } => {
                match payment.state().apply(PaymentEvent::Refunded { amount: refund.amount }) {
                    Ok(Outcome::Changed(t)) => {
                        sqlx::query(
                            "UPDATE payments SET status = $1, cancelled_minor = $2, updated_at = $3 WHERE id = $4",
                        )
                        .bind(t.to.code())
                        .bind(t.cancelled_minor)
                        .bind(now)
                        .bind(&payment.id)
                        .execute(&mut *tx)
                        .await?;
                        self.record_event(
                            &mut tx,
                            &payment.id,
                            EventRecord {
                                kind: "payment.refunded",
                                from_status: Some(t.from),
                                to_status: Some(t.to),
                                amount_minor: Some(refund.amount.minor),
                                source: &source,
                                detail: Some(&refund.id),
                            },
                        )
                        .await?;
                        after = Payment { status: t.to, cancelled_minor: t.cancelled_minor, ..payment.clone() };
                        (RefundStatus::Succeeded, Some(gateway_refund_id.as_str()), None)
                    }
                    other => {
                        // The reservation makes this unreachable; if it happens the money
                        // moved at the PG, so keep the refund open for an operator.
                        tracing::error!(refund_id, ?other, "PG refunded but the payment refused it");
                        let message = "refunded at the PG but not applicable here".to_owned();
                        (RefundStatus::Unknown, Some(gateway_refund_id.as_str()), Some(message))
                    }
                }
            }
            RefundOutcome::Pending { gateway_refund_id } => {
                (RefundStatus::Pending, Some(gateway_refund_id.as_str()), None)
            }
            RefundOutcome::Refused { message } => {
                self.record_event(
                    &mut tx,
                    &payment.id,
                    EventRecord {
                        kind: "refund.refused",
                        from_status: None,
                        to_status: None,
                        amount_minor: Some(refund.amount.minor),
                        source: &source,
                        detail: Some(message),
                    },
                )
                .await?;
                (RefundStatus::Failed, None, Some(message.clone()))
            }
            RefundOutcome::Unknown { message } => (RefundStatus::Unknown, None, Some(message.clone())),
        };
        sqlx::query(
            "UPDATE refunds SET status = $1, gateway_refund_id = COALESCE($2, gateway_refund_id), \
             failure_message = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(status.as_str())
        .bind(gateway_refund_id)
        .bind(failure_message.clone())
        .bind(now)
        .bind(&refund.id)
        .execute(&mut *tx)
        .await?;
        let previous = refund.status;
        let settled = Refund {
            status,
            gateway_refund_id: gateway_refund_id.map(str::to_owned).or(refund.gateway_refund_id.clone()),
            failure_message,
            updated_at: now,
            ..refund
        };
        let mut enqueued = false;
        if status.is_final() {
            for message in notify.on_refund_settled(&after, &settled, previous) {
                self.enqueue(&mut tx, Some(&payment.id), &message).await?;
                enqueued = true;
            }
        }
        tx.commit().await?;
        if enqueued {
            self.wake_outbox();
        }
        let payment = self.payment_by_id(&payment.id).await?.expect("payment exists");
        Ok((payment, settled))
    }
}
