//! The payment status machine of SPEC §3 (from the EBP design, seed `004_…`).

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PaymentStatus {
    Request = 1,
    Complete = 2,
    Cancel = 3,
    Fail = 4,
    /// Authorized and awaiting capture, or awaiting a bank deposit.
    Pending = 5,
    PendingCancel = 6,
    PartialCancel = 7,
    Register = 9,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 8] = [
        PaymentStatus::Request,
        PaymentStatus::Complete,
        PaymentStatus::Cancel,
        PaymentStatus::Fail,
        PaymentStatus::Pending,
        PaymentStatus::PendingCancel,
        PaymentStatus::PartialCancel,
        PaymentStatus::Register,
    ];

    pub fn code(self) -> i64 {
        self as i64
    }

    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    pub fn is_terminal(self) -> bool {
        self.allowed_next().is_empty()
    }

    /// The only transitions that exist; everything else is refused.
    pub fn allowed_next(self) -> &'static [PaymentStatus] {
        use PaymentStatus::*;
        match self {
            Request => &[Complete, Fail, Pending, Register],
            Pending => &[Complete, PendingCancel],
            Complete => &[Cancel, PartialCancel],
            PartialCancel => &[PartialCancel, Cancel],
            Cancel | Fail | PendingCancel | Register => &[],
        }
    }

    pub fn may_go_to(self, next: PaymentStatus) -> bool {
        self.allowed_next().contains(&next)
    }

    /// Money was taken at some point (Cafe24's `payed_tf`).
    pub fn was_paid(self) -> bool {
        matches!(self, PaymentStatus::Complete | PaymentStatus::PartialCancel | PaymentStatus::Cancel)
    }

    pub fn name(self) -> &'static str {
        match self {
            PaymentStatus::Request => "Request",
            PaymentStatus::Complete => "Complete",
            PaymentStatus::Cancel => "Cancel",
            PaymentStatus::Fail => "Fail",
            PaymentStatus::Pending => "Pending",
            PaymentStatus::PendingCancel => "Pending Cancel",
            PaymentStatus::PartialCancel => "Partial Cancel",
            PaymentStatus::Register => "Register",
        }
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}
