//! A payment and its refunds as the core keeps them: what every channel shares. A
//! channel's own fields (Cafe24's `partner_id`, `return_url`, …) live in its own tables.

use super::{
    CaptureMethod, FailureReason, MallId, Money, OrderId, PaymentId, PaymentState, PaymentStatus, PendingReason,
    RefundId, RefundLine, RefundMode, RefundStatus,
};

/// The protocol a payment came in by; its notifications go out the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Cafe24's PG-app protocol (SPEC §4).
    Cafe24,
    /// The Store API v2 (SPEC §8).
    StoreApi,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Cafe24 => "cafe24",
            Channel::StoreApi => "store_api",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "cafe24" => Some(Channel::Cafe24),
            "store_api" => Some(Channel::StoreApi),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payment {
    pub id: PaymentId,
    pub mall_id: MallId,
    pub channel: Channel,
    pub order_id: OrderId,
    pub amount: Money,
    /// What the PG took, in the payment's minor units (0 until paid).
    pub captured_minor: i64,
    /// Sum of completed refunds, in the payment's minor units.
    pub cancelled_minor: i64,
    pub status: PaymentStatus,
    pub capture_method: CaptureMethod,
    pub failure_reason: Option<FailureReason>,
    /// Why it waits, while in status 5.
    pub pending_reason: Option<PendingReason>,
    /// The connector that speaks for the PG (`sandbox`, …).
    pub gateway: String,
    /// The PG's transaction id, once the checkout is open there.
    pub tid: Option<String>,
    /// Where the PG takes the buyer's payment.
    pub checkout_url: Option<String>,
    pub description: Option<String>,
    /// Unix ms: an intent not finalized by then fails (`expired`).
    pub expires_at: Option<i64>,
    /// Unix ms: an authorization not captured by then is voided (`authorization_expired`).
    pub capture_before: Option<i64>,
    /// Purchase confirmation (SPEC §8.3): settlement may proceed; no more cancels.
    pub confirmed_at: Option<i64>,
    pub delivered_at: Option<i64>,
    /// Grows by one with every change, so a receiver can drop a stale notification.
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Payment {
    pub fn state(&self) -> PaymentState {
        PaymentState {
            status: self.status,
            amount: self.amount,
            captured_minor: self.captured_minor,
            cancelled_minor: self.cancelled_minor,
        }
    }

    pub fn captured(&self) -> Money {
        Money::new(self.captured_minor, self.amount.currency)
    }

    pub fn cancelled(&self) -> Money {
        Money::new(self.cancelled_minor, self.amount.currency)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refund {
    pub id: RefundId,
    pub payment_id: PaymentId,
    pub amount: Money,
    pub status: RefundStatus,
    pub mode: RefundMode,
    pub gateway_refund_id: Option<String>,
    pub reason: Option<String>,
    pub failure_message: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Refund {
    pub fn line(&self) -> RefundLine {
        RefundLine {
            id: self.id.clone(),
            amount: self.amount,
            mode: self.mode,
            status: self.status,
            updated_at: self.updated_at,
        }
    }
}
