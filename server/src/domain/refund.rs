//! The refund rules (SPEC §3, §4.5, §8.3): what a new refund may take from a payment,
//! given the refunds already open against it. A refund is reserved before the PG is
//! asked, and the reservation counts against the payment until the PG's final answer,
//! so however many refunds race, the sum refunded never exceeds the amount paid.
//! Pure: the core calls [`decide`] under the payment's lock and persists the decision.

use super::{Money, PaymentState, PaymentStatus, RefundId};

/// Where a refund is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefundStatus {
    /// The PG is being asked right now.
    Requested,
    /// The PG was asked but its answer was lost; the next identical request resumes it.
    Unknown,
    /// The PG accepted and will decide later (it reports by webhook).
    Pending,
    Succeeded,
    Failed,
}

impl RefundStatus {
    pub const ALL: [RefundStatus; 5] = [
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

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        matches!(self, RefundStatus::Succeeded | RefundStatus::Failed)
    }

    /// Counts against what remains: the PG may still refund it.
    pub fn is_open(self) -> bool {
        !self.is_final()
    }
}

/// Whether the one asking waits for the PG's final answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefundMode {
    /// The PG must answer now (Cafe24's synchronous cancel).
    Immediate,
    /// The PG may keep the refund pending and report it later.
    MayPend,
}

impl RefundMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundMode::Immediate => "sync",
            RefundMode::MayPend => "async",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sync" => Some(RefundMode::Immediate),
            "async" => Some(RefundMode::MayPend),
            _ => None,
        }
    }
}

/// A refund already recorded against the payment, as the rules need to see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundLine {
    pub id: RefundId,
    pub amount: Money,
    pub mode: RefundMode,
    pub status: RefundStatus,
    /// Last touched at (unix ms): a `Requested` refund this old lost its asker.
    pub updated_at: i64,
}

impl RefundLine {
    /// Its outcome was lost, or it was asked so long ago that the asker must have died.
    pub fn is_resumable(&self, now: i64, in_flight_lease_ms: i64) -> bool {
        self.status == RefundStatus::Unknown
            || (self.status == RefundStatus::Requested && now - self.updated_at > in_flight_lease_ms)
    }
}

/// What is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefundAsk {
    pub amount: Money,
    pub mode: RefundMode,
    /// What the asker expects to remain refundable after this refund (Cafe24's
    /// `remain_amount`). When given, a repeat of a refund already applied no longer
    /// matches and is refused instead of refunding twice.
    pub expected_balance_after: Option<Money>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefundDecision {
    /// Reserve a new refund of the asked amount.
    Reserve,
    /// An identical earlier refund whose outcome was lost: ask the PG again under its id.
    Resume(RefundId),
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
    #[error("the refund is in {requested}, but the payment is in {payment}")]
    WrongCurrency { requested: Money, payment: Money },
}

fn in_flight_note(in_flight: Money) -> String {
    if in_flight.minor > 0 {
        format!(" ({in_flight} is being cancelled right now)")
    } else {
        String::new()
    }
}

/// The amount of the open refunds: reserved, and possibly refunded already at the PG.
pub fn in_flight(lines: &[RefundLine]) -> i64 {
    lines.iter().filter(|r| r.status.is_open()).map(|r| r.amount.minor).sum()
}

/// What remains of what was taken once every open refund (a lost one included) goes through.
pub fn refundable(state: &PaymentState, lines: &[RefundLine]) -> i64 {
    state.captured_minor - state.cancelled_minor - in_flight(lines)
}

/// Decides a refund `ask` against the payment in `state` with its recorded `lines`
/// (`now` and the in-flight lease decide which lines were lost).
pub fn decide(
    state: &PaymentState,
    lines: &[RefundLine],
    ask: &RefundAsk,
    now: i64,
    in_flight_lease_ms: i64,
) -> Result<RefundDecision, RefundRefusal> {
    let remaining = refundable(state, lines);
    let currency = state.amount.currency;
    let same_request = |r: &&RefundLine| {
        r.is_resumable(now, in_flight_lease_ms)
            && r.amount == ask.amount
            && r.mode == ask.mode
            && ask.expected_balance_after.is_none_or(|e| e.minor == remaining)
    };
    if let Some(lost) = lines.iter().find(same_request) {
        return Ok(RefundDecision::Resume(lost.id.clone()));
    }
    match state.status {
        PaymentStatus::Complete | PaymentStatus::PartialCancel => {}
        PaymentStatus::Cancel => return Err(RefundRefusal::AlreadyCancelled),
        other => return Err(RefundRefusal::NotPaid(other)),
    }
    if ask.amount.currency != currency {
        return Err(RefundRefusal::WrongCurrency { requested: ask.amount, payment: state.amount });
    }
    if ask.amount.minor <= 0 {
        return Err(RefundRefusal::NotPositive);
    }
    if ask.amount.minor > remaining {
        return Err(RefundRefusal::ExceedsRemaining {
            requested: ask.amount,
            remaining: Money::new(remaining.max(0), currency),
            in_flight: Money::new(in_flight(lines), currency),
        });
    }
    let actual = Money::new(remaining - ask.amount.minor, currency);
    if let Some(expected) = ask.expected_balance_after.filter(|expected| *expected != actual) {
        return Err(RefundRefusal::RemainMismatch { expected, actual });
    }
    Ok(RefundDecision::Reserve)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{payment::Outcome, Currency, PaymentEvent};
    use proptest::prelude::*;

    const LEASE: i64 = 60_000;

    fn php(minor: i64) -> Money {
        Money::new(minor, Currency::Php)
    }

    fn paid(amount: i64) -> PaymentState {
        PaymentState {
            status: PaymentStatus::Complete,
            amount: php(amount),
            captured_minor: amount,
            cancelled_minor: 0,
        }
    }

    fn ask(amount: i64) -> RefundAsk {
        RefundAsk { amount: php(amount), mode: RefundMode::Immediate, expected_balance_after: None }
    }

    fn line(amount: i64, status: RefundStatus, updated_at: i64) -> RefundLine {
        RefundLine { id: RefundId::generate(), amount: php(amount), mode: RefundMode::Immediate, status, updated_at }
    }

    #[test]
    fn open_refunds_count_against_what_remains() {
        let state = paid(10_000);
        let open = [line(6_000, RefundStatus::Pending, 0)];
        assert_eq!(decide(&state, &open, &ask(4_000), 0, LEASE), Ok(RefundDecision::Reserve));
        assert_eq!(
            decide(&state, &open, &ask(4_001), 0, LEASE),
            Err(RefundRefusal::ExceedsRemaining {
                requested: php(4_001),
                remaining: php(4_000),
                in_flight: php(6_000)
            })
        );
        let failed = [line(6_000, RefundStatus::Failed, 0)];
        assert_eq!(decide(&state, &failed, &ask(10_000), 0, LEASE), Ok(RefundDecision::Reserve), "a failed one frees");
    }

    #[test]
    fn a_lost_identical_refund_is_resumed_instead_of_reserved_again() {
        let state = paid(10_000);
        let lost = line(3_000, RefundStatus::Unknown, 0);
        assert_eq!(
            decide(&state, std::slice::from_ref(&lost), &ask(3_000), 0, LEASE),
            Ok(RefundDecision::Resume(lost.id.clone()))
        );
        // Still being asked by a live process: not resumed, and it counts.
        let live = line(3_000, RefundStatus::Requested, 1_000);
        assert_eq!(decide(&state, std::slice::from_ref(&live), &ask(3_000), 2_000, LEASE), Ok(RefundDecision::Reserve));
        // Its asker died long ago.
        assert_eq!(
            decide(&state, std::slice::from_ref(&live), &ask(3_000), 1_000 + LEASE + 1, LEASE),
            Ok(RefundDecision::Resume(live.id))
        );
    }

    #[test]
    fn a_partly_captured_payment_refunds_what_was_captured_only() {
        let state = PaymentState {
            status: PaymentStatus::Complete,
            amount: php(10_000),
            captured_minor: 6_000,
            cancelled_minor: 0,
        };
        assert_eq!(decide(&state, &[], &ask(6_000), 0, LEASE), Ok(RefundDecision::Reserve));
        assert!(matches!(decide(&state, &[], &ask(6_001), 0, LEASE), Err(RefundRefusal::ExceedsRemaining { .. })));
    }

    #[test]
    fn an_expected_balance_that_does_not_match_is_refused() {
        let state = PaymentState {
            status: PaymentStatus::PartialCancel,
            amount: php(10_000),
            captured_minor: 10_000,
            cancelled_minor: 4_000,
        };
        let with = |expected| RefundAsk { expected_balance_after: Some(php(expected)), ..ask(1_000) };
        assert_eq!(decide(&state, &[], &with(5_000), 0, LEASE), Ok(RefundDecision::Reserve));
        assert_eq!(
            decide(&state, &[], &with(6_000), 0, LEASE),
            Err(RefundRefusal::RemainMismatch { expected: php(6_000), actual: php(5_000) })
        );
    }

    #[test]
    fn only_paid_payments_refund_and_only_positive_amounts_in_their_currency() {
        let request = PaymentState::new(php(100));
        assert_eq!(decide(&request, &[], &ask(1), 0, LEASE), Err(RefundRefusal::NotPaid(PaymentStatus::Request)));
        let cancelled =
            PaymentState { status: PaymentStatus::Cancel, amount: php(100), captured_minor: 100, cancelled_minor: 100 };
        assert_eq!(decide(&cancelled, &[], &ask(1), 0, LEASE), Err(RefundRefusal::AlreadyCancelled));
        assert_eq!(decide(&paid(100), &[], &ask(0), 0, LEASE), Err(RefundRefusal::NotPositive));
        let usd = RefundAsk { amount: Money::new(1, Currency::Usd), ..ask(1) };
        assert!(matches!(decide(&paid(100), &[], &usd, 0, LEASE), Err(RefundRefusal::WrongCurrency { .. })));
    }

    /// One step of a run: a new refund asked, or an open one answered by the PG.
    #[derive(Clone, Debug)]
    enum Step {
        Ask(i64, bool),
        Succeed(usize),
        Fail(usize),
        Lose(usize),
    }

    fn any_step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0i64..6_000, any::<bool>()).prop_map(|(m, may_pend)| Step::Ask(m, may_pend)),
            (0usize..8).prop_map(Step::Succeed),
            (0usize..8).prop_map(Step::Fail),
            (0usize..8).prop_map(Step::Lose),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever is asked and however the PG answers, the refunds that succeeded plus
        /// those still open never exceed what was paid, and the payment's status follows.
        #[test]
        fn refunds_never_exceed_what_was_paid(steps in prop::collection::vec(any_step(), 0..40)) {
            let mut state = paid(10_000);
            let mut lines: Vec<RefundLine> = Vec::new();
            for (now, step) in steps.into_iter().enumerate() {
                let now = now as i64;
                match step {
                    Step::Ask(minor, may_pend) => {
                        let mode = if may_pend { RefundMode::MayPend } else { RefundMode::Immediate };
                        let asked = RefundAsk { amount: php(minor), mode, expected_balance_after: None };
                        match decide(&state, &lines, &asked, now, LEASE) {
                            Ok(RefundDecision::Reserve) => lines.push(RefundLine {
                                id: RefundId::generate(), amount: asked.amount, mode, status: RefundStatus::Requested,
                                updated_at: now,
                            }),
                            Ok(RefundDecision::Resume(id)) => {
                                let lost = lines.iter_mut().find(|l| l.id == id).unwrap();
                                prop_assert!(lost.status.is_open());
                                prop_assert_eq!(lost.amount, asked.amount);
                                lost.status = RefundStatus::Requested;
                            }
                            Err(_) => {}
                        }
                    }
                    Step::Succeed(i) | Step::Fail(i) | Step::Lose(i) if i >= lines.len() => {}
                    Step::Succeed(i) => {
                        if lines[i].status.is_open() {
                            match state.apply(PaymentEvent::Refunded { amount: lines[i].amount }) {
                                Ok(Outcome::Changed(t)) => state = state.after(&t),
                                other => prop_assert!(false, "a reserved refund was refused: {other:?}"),
                            }
                            lines[i].status = RefundStatus::Succeeded;
                        }
                    }
                    Step::Fail(i) => {
                        if lines[i].status.is_open() {
                            lines[i].status = RefundStatus::Failed;
                        }
                    }
                    Step::Lose(i) => {
                        if lines[i].status == RefundStatus::Requested {
                            lines[i].status = RefundStatus::Unknown;
                        }
                    }
                }
                let succeeded: i64 =
                    lines.iter().filter(|l| l.status == RefundStatus::Succeeded).map(|l| l.amount.minor).sum();
                prop_assert_eq!(succeeded, state.cancelled_minor);
                prop_assert!(succeeded + in_flight(&lines) <= state.amount.minor);
                prop_assert!(refundable(&state, &lines) >= 0);
            }
        }
    }
}
