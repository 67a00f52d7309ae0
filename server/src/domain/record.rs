//! A payment and its refunds as the core keeps them: what every channel shares. A
//! channel's own fields (Cafe24's `partner_id`, `return_url`, …) live in its own tables.

use super::{
    FailureReason, MallId, Money, OrderId, PaymentId, PaymentState, PaymentStatus, PendingReason, RefundId, RefundLine,
    RefundMode, RefundStatus,
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
    /// Sum of completed refunds, in the payment's minor units.
    pub cancelled_minor: i64,
    pub status: PaymentStatus,
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
    pub created_at: i64,
    pub updated_at: i64,
}

impl Payment {
    pub fn state(&self) -> PaymentState {
        PaymentState { status: self.status, amount: self.amount, cancelled_minor: self.cancelled_minor }
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
