//! What may happen to a payment, and what each event does to its state. Every change
//! of status goes through [`PaymentState::apply`]; the core persists the resulting
//! [`Transition`] together with an event row in one transaction.
//!
//! Money rules (SPEC §3, §8.3): what the PG took (`captured`) is the whole amount when it
//! pays at once or a deposit arrives, and at most the authorized amount when a merchant
//! captures an authorization (the rest is released). Refunds never exceed what was taken.

use super::{Money, PaymentStatus};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PaymentState {
    pub status: PaymentStatus,
    /// What was asked; while an authorization waits for its capture, what is authorized.
    pub amount: Money,
    /// What the PG took, in the payment's minor units (0 until paid).
    pub captured_minor: i64,
    /// Sum of completed refunds, in the payment's minor units.
    pub cancelled_minor: i64,
}

/// Why a payment failed (status 4) or its authorization ended (status 6): the
/// `failure.code` of SPEC §8.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureReason {
    Declined,
    /// The buyer left the payment page without paying (Cafe24 `9999`).
    AbandonedByBuyer,
    /// The merchant canceled the intent, or voided the authorization.
    Canceled,
    /// Not finalized within `INTENT_EXPIRY`.
    Expired,
    /// Not captured within `CAPTURE_WINDOW`: voided.
    AuthorizationExpired,
}

impl FailureReason {
    const ALL: [FailureReason; 5] = [
        FailureReason::Declined,
        FailureReason::AbandonedByBuyer,
        FailureReason::Canceled,
        FailureReason::Expired,
        FailureReason::AuthorizationExpired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::Declined => "declined",
            FailureReason::AbandonedByBuyer => "abandoned",
            FailureReason::Canceled => "canceled",
            FailureReason::Expired => "expired",
            FailureReason::AuthorizationExpired => "authorization_expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
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

/// Whether the PG takes the money when the buyer pays, or only authorizes it for the
/// merchant to capture later (SPEC §8.3 `captureMethod`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CaptureMethod {
    #[default]
    Automatic,
    Manual,
}

impl CaptureMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            CaptureMethod::Automatic => "automatic",
            CaptureMethod::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "automatic" => Some(CaptureMethod::Automatic),
            "manual" => Some(CaptureMethod::Manual),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentEvent {
    /// The PG took the whole amount: paid at once, or the awaited deposit arrived.
    Completed {
        paid: Money,
    },
    /// The merchant captured this much of the authorization (the rest is released).
    Captured {
        amount: Money,
    },
    /// The PG authorized this amount (it must be the payment's); it waits for a capture
    /// (status 5).
    Authorized {
        amount: Money,
    },
    /// The buyer chose a bank transfer; the payment waits for the money (status 5).
    AwaitingDeposit,
    Failed(FailureReason),
    /// A card-token registration (status 9).
    Registered,
    /// The authorization was released without a capture (status 6).
    Voided(FailureReason),
    /// The PG refunded this amount.
    Refunded {
        amount: Money,
    },
}

impl PaymentEvent {
    /// Why the payment waits, for the events that leave it in status 5.
    pub fn pending_reason(&self) -> Option<PendingReason> {
        match self {
            PaymentEvent::Authorized { .. } => Some(PendingReason::Capture),
            PaymentEvent::AwaitingDeposit => Some(PendingReason::Deposit),
            _ => None,
        }
    }

    /// Why the payment failed or its authorization ended, for the events that say so.
    pub fn failure_reason(&self) -> Option<FailureReason> {
        match self {
            PaymentEvent::Failed(reason) | PaymentEvent::Voided(reason) => Some(*reason),
            _ => None,
        }
    }

    /// The amount the event moves, for the history.
    pub fn amount(&self) -> Option<Money> {
        match self {
            PaymentEvent::Completed { paid } => Some(*paid),
            PaymentEvent::Captured { amount } | PaymentEvent::Refunded { amount } => Some(*amount),
            _ => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            PaymentEvent::Completed { .. } => "payment.completed",
            PaymentEvent::Captured { .. } => "payment.captured",
            PaymentEvent::Authorized { .. } => "payment.authorized",
            PaymentEvent::AwaitingDeposit => "payment.awaiting_deposit",
            PaymentEvent::Failed(_) => "payment.failed",
            PaymentEvent::Registered => "payment.registered",
            PaymentEvent::Voided(_) => "payment.voided",
            PaymentEvent::Refunded { .. } => "payment.refunded",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    pub from: PaymentStatus,
    pub to: PaymentStatus,
    pub captured_minor: i64,
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
    #[error("a capture of {requested} exceeds the {authorized} authorized")]
    ExceedsAuthorized { requested: Money, authorized: Money },
    #[error("an amount must be greater than zero")]
    NotPositive,
}

impl PaymentState {
    pub fn new(amount: Money) -> Self {
        PaymentState { status: PaymentStatus::Request, amount, captured_minor: 0, cancelled_minor: 0 }
    }

    pub fn captured(&self) -> Money {
        Money::new(self.captured_minor, self.amount.currency)
    }

    /// What can still be refunded: taken, less refunded.
    pub fn remaining(&self) -> Money {
        Money::new(self.captured_minor - self.cancelled_minor, self.amount.currency)
    }

    pub fn apply(&self, event: PaymentEvent) -> Result<Outcome, Refusal> {
        use PaymentStatus::*;
        let from = self.status;
        let mut captured_minor = self.captured_minor;
        let to = match event {
            PaymentEvent::Completed { paid } => {
                if from.was_paid() {
                    return Ok(Outcome::AlreadyApplied);
                }
                if paid != self.amount {
                    return Err(Refusal::AmountMismatch { expected: self.amount, reported: paid });
                }
                captured_minor = paid.minor;
                Complete
            }
            PaymentEvent::Captured { amount } => {
                if from.was_paid() && amount.minor == self.captured_minor {
                    return Ok(Outcome::AlreadyApplied);
                }
                if from != Pending {
                    return Err(Refusal::NotAllowed { from, to: Complete });
                }
                if amount.currency != self.amount.currency {
                    return Err(Refusal::AmountMismatch { expected: self.amount, reported: amount });
                }
                if amount.minor <= 0 {
                    return Err(Refusal::NotPositive);
                }
                if amount.minor > self.amount.minor {
                    return Err(Refusal::ExceedsAuthorized { requested: amount, authorized: self.amount });
                }
                captured_minor = amount.minor;
                Complete
            }
            PaymentEvent::Authorized { .. } | PaymentEvent::AwaitingDeposit if from == Pending || from.was_paid() => {
                return Ok(Outcome::AlreadyApplied)
            }
            PaymentEvent::Authorized { amount } if amount != self.amount => {
                return Err(Refusal::AmountMismatch { expected: self.amount, reported: amount })
            }
            PaymentEvent::Authorized { .. } | PaymentEvent::AwaitingDeposit => Pending,
            PaymentEvent::Failed(_) if from == Fail => return Ok(Outcome::AlreadyApplied),
            PaymentEvent::Failed(_) => Fail,
            PaymentEvent::Registered if from == Register => return Ok(Outcome::AlreadyApplied),
            PaymentEvent::Registered => Register,
            PaymentEvent::Voided(_) if from == PendingCancel => return Ok(Outcome::AlreadyApplied),
            PaymentEvent::Voided(_) => PendingCancel,
            PaymentEvent::Refunded { amount } => return self.refund(amount),
        };
        if !from.may_go_to(to) {
            return Err(Refusal::NotAllowed { from, to });
        }
        Ok(Outcome::Changed(Transition { from, to, captured_minor, cancelled_minor: self.cancelled_minor }))
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
            if cancelled_minor == self.captured_minor { PaymentStatus::Cancel } else { PaymentStatus::PartialCancel };
        if !from.may_go_to(to) {
            return Err(Refusal::NotAllowed { from, to });
        }
        Ok(Outcome::Changed(Transition { from, to, captured_minor: self.captured_minor, cancelled_minor }))
    }

    /// Everything taken was refunded.
    pub fn was_cancelled_in_full(&self) -> bool {
        self.captured_minor > 0 && self.cancelled_minor == self.captured_minor
    }

    pub fn after(&self, transition: &Transition) -> PaymentState {
        PaymentState {
            status: transition.to,
            captured_minor: transition.captured_minor,
            cancelled_minor: transition.cancelled_minor,
            ..*self
        }
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
        for (event, reason) in
            [(AUTHORIZED, PendingReason::Capture), (PaymentEvent::AwaitingDeposit, PendingReason::Deposit)]
        {
            let waiting = run(&[event]);
            assert_eq!(waiting.status, PaymentStatus::Pending);
            assert_eq!(event.pending_reason(), Some(reason));
            assert_eq!(waiting.apply(event), Ok(Outcome::AlreadyApplied));
            let paid = run(&[event, PaymentEvent::Completed { paid: php(306500) }]);
            assert_eq!(paid.status, PaymentStatus::Complete, "captured, or the deposit arrived");
        }
        assert_eq!(AUTHORIZED.kind(), "payment.authorized");
        assert_eq!(PaymentEvent::AwaitingDeposit.kind(), "payment.awaiting_deposit");
        assert_eq!(PaymentEvent::Completed { paid: php(1) }.pending_reason(), None);
    }

    /// The whole amount of the payment [`run`] starts (3065.00 PHP), authorized.
    const AUTHORIZED: PaymentEvent =
        PaymentEvent::Authorized { amount: Money { minor: 306500, currency: Currency::Php } };

    #[test]
    fn an_authorization_of_another_amount_is_refused() {
        let unpaid = PaymentState::new(php(306500));
        for other in [php(306499), php(1), Money { minor: 306500, currency: Currency::Usd }] {
            assert!(matches!(
                unpaid.apply(PaymentEvent::Authorized { amount: other }),
                Err(Refusal::AmountMismatch { .. })
            ));
        }
        assert_eq!(run(&[AUTHORIZED]).status, PaymentStatus::Pending);
    }

    #[test]
    fn a_capture_takes_at_most_what_is_authorized_and_refunds_stay_within_it() {
        let authorized = run(&[AUTHORIZED]);
        assert_eq!(
            authorized.apply(PaymentEvent::Captured { amount: php(306501) }),
            Err(Refusal::ExceedsAuthorized { requested: php(306501), authorized: php(306500) })
        );
        assert_eq!(authorized.apply(PaymentEvent::Captured { amount: php(0) }), Err(Refusal::NotPositive));
        let captured = run(&[AUTHORIZED, PaymentEvent::Captured { amount: php(200000) }]);
        assert_eq!((captured.status, captured.captured_minor), (PaymentStatus::Complete, 200000));
        assert_eq!(captured.apply(PaymentEvent::Captured { amount: php(200000) }), Ok(Outcome::AlreadyApplied));
        assert!(captured.apply(PaymentEvent::Captured { amount: php(1000) }).is_err(), "captured once");
        assert!(matches!(
            captured.apply(PaymentEvent::Refunded { amount: php(200001) }),
            Err(Refusal::ExceedsRemaining { .. })
        ));
        let refunded = run(&[
            AUTHORIZED,
            PaymentEvent::Captured { amount: php(200000) },
            PaymentEvent::Refunded { amount: php(200000) },
        ]);
        assert_eq!(refunded.status, PaymentStatus::Cancel, "all that was taken came back");
        let unpaid = PaymentState::new(php(306500));
        assert!(unpaid.apply(PaymentEvent::Captured { amount: php(1) }).is_err(), "nothing to capture");
    }

    #[test]
    fn a_void_ends_an_authorization_and_nothing_else() {
        let voided = run(&[AUTHORIZED, PaymentEvent::Voided(FailureReason::AuthorizationExpired)]);
        assert_eq!((voided.status, voided.captured_minor), (PaymentStatus::PendingCancel, 0));
        assert!(voided.status.is_terminal());
        let paid = run(&[PaymentEvent::Completed { paid: php(306500) }]);
        assert!(paid.apply(PaymentEvent::Voided(FailureReason::Canceled)).is_err(), "a paid payment is refunded");
        for reason in FailureReason::ALL {
            assert_eq!(FailureReason::parse(reason.as_str()), Some(reason));
        }
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
            Just(AUTHORIZED),
            (0i64..400000).prop_map(|m| PaymentEvent::Authorized { amount: php(m) }),
            Just(PaymentEvent::AwaitingDeposit),
            Just(PaymentEvent::Failed(FailureReason::Declined)),
            Just(PaymentEvent::Failed(FailureReason::AbandonedByBuyer)),
            Just(PaymentEvent::Registered),
            Just(PaymentEvent::Voided(FailureReason::Canceled)),
            Just(PaymentEvent::Voided(FailureReason::AuthorizationExpired)),
            Just(PaymentEvent::Failed(FailureReason::Expired)),
            (-10i64..400000).prop_map(|m| PaymentEvent::Captured { amount: php(m) }),
            (1i64..306500).prop_map(|m| PaymentEvent::Captured { amount: php(m) }),
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
                prop_assert!(state.cancelled_minor <= state.captured_minor, "never refunded more than taken");
                prop_assert!(state.captured_minor <= state.amount.minor, "never took more than asked");
                prop_assert!(state.cancelled_minor >= 0);
                prop_assert_eq!(state.captured_minor > 0, state.status.was_paid());
                prop_assert_eq!(state.cancelled_minor > 0, matches!(state.status, PaymentStatus::PartialCancel | PaymentStatus::Cancel));
                prop_assert_eq!(state.status == PaymentStatus::Cancel, state.was_cancelled_in_full());
            }
        }
    }
}
