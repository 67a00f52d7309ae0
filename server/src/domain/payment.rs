//! What may happen to a payment, and what each event does to its state. Every change
//! of status goes through [`PaymentState::apply`]; the core persists the resulting
//! [`Transition`] together with an event row in one transaction.

use super::{Money, PaymentStatus};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PaymentState {
    pub status: PaymentStatus,
    pub amount: Money,
    /// Sum of completed cancellations, in the payment's minor units.
    pub cancelled_minor: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureReason {
    Declined,
    /// The buyer left the payment page without paying (Cafe24 `9999`).
    AbandonedByBuyer,
}

impl FailureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::Declined => "declined",
            FailureReason::AbandonedByBuyer => "abandoned",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "declined" => Some(FailureReason::Declined),
            "abandoned" => Some(FailureReason::AbandonedByBuyer),
            _ => None,
        }
    }
}

/// Why a payment waits in status 5 (Pending): the two need different next steps — a
/// capture by the merchant, or the buyer's bank transfer arriving.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PendingReason {
    /// The card is authorized; the merchant captures it (or it is voided).
    Capture,
    /// The buyer chose a bank transfer; the PG reports the deposit.
    Deposit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentEvent {
    /// The PG confirmed the money for this amount (capture, deposit or immediate pay).
    Completed {
        paid: Money,
    },
    /// The PG authorized the amount; it waits for a capture (status 5).
    Authorized,
    /// The buyer chose a bank transfer; the payment waits for the money (status 5).
    AwaitingDeposit,
    Failed(FailureReason),
    /// A card-token registration (status 9).
    Registered,
    /// A cancel of a payment still pending at the PG.
    PendingCancelled,
    /// The PG refunded this amount.
    Refunded {
        amount: Money,
    },
}

impl PaymentEvent {
    /// Why the payment waits, for the events that leave it in status 5.
    pub fn pending_reason(&self) -> Option<PendingReason> {
        match self {
            PaymentEvent::Authorized => Some(PendingReason::Capture),
            PaymentEvent::AwaitingDeposit => Some(PendingReason::Deposit),
            _ => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            PaymentEvent::Completed { .. } => "payment.completed",
            PaymentEvent::Authorized => "payment.authorized",
            PaymentEvent::AwaitingDeposit => "payment.awaiting_deposit",
            PaymentEvent::Failed(_) => "payment.failed",
            PaymentEvent::Registered => "payment.registered",
            PaymentEvent::PendingCancelled => "payment.pending_cancelled",
            PaymentEvent::Refunded { .. } => "payment.refunded",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    pub from: PaymentStatus,
    pub to: PaymentStatus,
    pub cancelled_minor: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Changed(Transition),
    /// The event repeats what already happened (a duplicate callback or webhook).
    AlreadyApplied,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("a payment in status {from} cannot become {to}")]
    NotAllowed { from: PaymentStatus, to: PaymentStatus },
    #[error("the payment company reports {reported}, but the payment is for {expected}")]
    AmountMismatch { expected: Money, reported: Money },
    #[error("a cancellation of {requested} exceeds the {remaining} that remains")]
    ExceedsRemaining { requested: Money, remaining: Money },
    #[error("an amount must be greater than zero")]
    NotPositive,
}

impl PaymentState {
    pub fn new(amount: Money) -> Self {
        PaymentState { status: PaymentStatus::Request, amount, cancelled_minor: 0 }
    }

    pub fn remaining(&self) -> Money {
        Money::new(self.amount.minor - self.cancelled_minor, self.amount.currency)
    }

    pub fn apply(&self, event: PaymentEvent) -> Result<Outcome, Refusal> {
        use PaymentStatus::*;
        let from = self.status;
        let to = match event {
            PaymentEvent::Completed { paid } => {
                if from.was_paid() {
                    return Ok(Outcome::AlreadyApplied);
                }
                if paid != self.amount {
                    return Err(Refusal::AmountMismatch { expected: self.amount, reported: paid });
                }
                Complete
            }
            PaymentEvent::Authorized | PaymentEvent::AwaitingDeposit if from == Pending || from.was_paid() => {
                return Ok(Outcome::AlreadyApplied)
            }
            PaymentEvent::Authorized | PaymentEvent::AwaitingDeposit => Pending,
            PaymentEvent::Failed(_) if from == Fail => return Ok(Outcome::AlreadyApplied),
            PaymentEvent::Failed(_) => Fail,
            PaymentEvent::Registered if from == Register => return Ok(Outcome::AlreadyApplied),
            PaymentEvent::Registered => Register,
            PaymentEvent::PendingCancelled if from == PendingCancel => return Ok(Outcome::AlreadyApplied),
            PaymentEvent::PendingCancelled => PendingCancel,
            PaymentEvent::Refunded { amount } => return self.refund(amount),
        };
        if !from.may_go_to(to) {
            return Err(Refusal::NotAllowed { from, to });
        }
        Ok(Outcome::Changed(Transition { from, to, cancelled_minor: self.cancelled_minor }))
    }

    fn refund(&self, amount: Money) -> Result<Outcome, Refusal> {
        let from = self.status;
        if amount.minor <= 0 {
            return Err(Refusal::NotPositive);
        }
        if amount.currency != self.amount.currency {
            return Err(Refusal::AmountMismatch { expected: self.amount, reported: amount });
        }
        let remaining = self.remaining();
        if amount.minor > remaining.minor {
            return Err(Refusal::ExceedsRemaining { requested: amount, remaining });
        }
        let cancelled_minor = self.cancelled_minor + amount.minor;
        let to =
            if cancelled_minor == self.amount.minor { PaymentStatus::Cancel } else { PaymentStatus::PartialCancel };
        if !from.may_go_to(to) {
            return Err(Refusal::NotAllowed { from, to });
        }
        Ok(Outcome::Changed(Transition { from, to, cancelled_minor }))
    }

    pub fn after(&self, transition: &Transition) -> PaymentState {
        PaymentState { status: transition.to, cancelled_minor: transition.cancelled_minor, ..*self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Currency;
    use proptest::prelude::*;

    fn php(minor: i64) -> Money {
        Money::new(minor, Currency::Php)
    }

    fn run(events: &[PaymentEvent]) -> PaymentState {
        events.iter().fold(PaymentState::new(php(306500)), |state, event| match state.apply(*event) {
            Ok(Outcome::Changed(t)) => state.after(&t),
            _ => state,
        })
    }

    #[test]
    fn a_paid_payment_is_cancelled_in_parts_then_in_full() {
        let s = run(&[PaymentEvent::Completed { paid: php(306500) }, PaymentEvent::Refunded { amount: php(100000) }]);
        assert_eq!((s.status, s.cancelled_minor), (PaymentStatus::PartialCancel, 100000));
        let s = s.after(&match s.apply(PaymentEvent::Refunded { amount: php(206500) }).unwrap() {
            Outcome::Changed(t) => t,
            other => panic!("{other:?}"),
        });
        assert_eq!((s.status, s.cancelled_minor), (PaymentStatus::Cancel, 306500));
        assert!(s.status.is_terminal());
    }

    #[test]
    fn authorized_and_awaiting_deposit_both_wait_in_pending_for_different_reasons() {
        for (event, reason) in [
            (PaymentEvent::Authorized, PendingReason::Capture),
            (PaymentEvent::AwaitingDeposit, PendingReason::Deposit),
        ] {
            let waiting = run(&[event]);
            assert_eq!(waiting.status, PaymentStatus::Pending);
            assert_eq!(event.pending_reason(), Some(reason));
            assert_eq!(waiting.apply(event), Ok(Outcome::AlreadyApplied));
            let paid = run(&[event, PaymentEvent::Completed { paid: php(306500) }]);
            assert_eq!(paid.status, PaymentStatus::Complete, "captured, or the deposit arrived");
        }
        assert_eq!(PaymentEvent::Authorized.kind(), "payment.authorized");
        assert_eq!(PaymentEvent::AwaitingDeposit.kind(), "payment.awaiting_deposit");
        assert_eq!(PaymentEvent::Completed { paid: php(1) }.pending_reason(), None);
    }

    #[test]
    fn duplicates_are_recognised_and_contradictions_refused() {
        let paid = run(&[PaymentEvent::Completed { paid: php(306500) }]);
        assert_eq!(paid.apply(PaymentEvent::Completed { paid: php(306500) }), Ok(Outcome::AlreadyApplied));
        assert_eq!(
            paid.apply(PaymentEvent::Failed(FailureReason::Declined)),
            Err(Refusal::NotAllowed { from: PaymentStatus::Complete, to: PaymentStatus::Fail })
        );
        assert!(matches!(
            PaymentState::new(php(306500)).apply(PaymentEvent::Completed { paid: php(1) }),
            Err(Refusal::AmountMismatch { .. })
        ));
        assert!(matches!(
            paid.apply(PaymentEvent::Refunded { amount: php(306501) }),
            Err(Refusal::ExceedsRemaining { .. })
        ));
        assert_eq!(paid.apply(PaymentEvent::Refunded { amount: php(0) }), Err(Refusal::NotPositive));
        let unpaid = PaymentState::new(php(306500));
        assert!(unpaid.apply(PaymentEvent::Refunded { amount: php(1) }).is_err());
    }

    #[test]
    fn the_transition_table_is_the_one_in_the_spec() {
        use PaymentStatus::*;
        let table = [
            (Request, vec![Complete, Fail, Pending, Register]),
            (Pending, vec![Complete, PendingCancel]),
            (Complete, vec![Cancel, PartialCancel]),
            (PartialCancel, vec![PartialCancel, Cancel]),
            (Cancel, vec![]),
            (Fail, vec![]),
            (PendingCancel, vec![]),
            (Register, vec![]),
        ];
        for (from, to) in table {
            for next in PaymentStatus::ALL {
                assert_eq!(from.may_go_to(next), to.contains(&next), "{from} -> {next}");
            }
        }
    }

    fn any_event() -> impl Strategy<Value = PaymentEvent> {
        prop_oneof![
            (0i64..400000).prop_map(|m| PaymentEvent::Completed { paid: php(m) }),
            Just(PaymentEvent::Completed { paid: php(306500) }),
            Just(PaymentEvent::Authorized),
            Just(PaymentEvent::AwaitingDeposit),
            Just(PaymentEvent::Failed(FailureReason::Declined)),
            Just(PaymentEvent::Failed(FailureReason::AbandonedByBuyer)),
            Just(PaymentEvent::Registered),
            Just(PaymentEvent::PendingCancelled),
            (-10i64..400000).prop_map(|m| PaymentEvent::Refunded { amount: php(m) }),
            (1i64..120000).prop_map(|m| PaymentEvent::Refunded { amount: php(m) }),
            (1i64..100).prop_map(|m| PaymentEvent::Refunded { amount: Money::new(m, Currency::Usd) }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn random_event_sequences_keep_the_invariants(events in prop::collection::vec(any_event(), 0..40)) {
            let mut state = PaymentState::new(php(306500));
            for event in events {
                let before = state;
                match state.apply(event) {
                    Ok(Outcome::Changed(t)) => {
                        prop_assert!(!before.status.is_terminal(), "left terminal {:?}", before.status);
                        prop_assert!(before.status.may_go_to(t.to));
                        prop_assert_eq!(t.from, before.status);
                        prop_assert!(t.cancelled_minor >= before.cancelled_minor);
                        state = state.after(&t);
                    }
                    Ok(Outcome::AlreadyApplied) | Err(_) => prop_assert_eq!(state, before),
                }
                prop_assert!(state.cancelled_minor <= state.amount.minor);
                prop_assert!(state.cancelled_minor >= 0);
                prop_assert_eq!(state.cancelled_minor > 0, matches!(state.status, PaymentStatus::PartialCancel | PaymentStatus::Cancel));
                prop_assert_eq!(state.status == PaymentStatus::Cancel, state.cancelled_minor == state.amount.minor);
            }
        }
    }
}
