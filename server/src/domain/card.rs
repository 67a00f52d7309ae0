//! Saved cards (SPEC §8.3): a card the PG keeps for one customer of a merchant, made by a
//! registration (a payment that ends in 9), and charged later by its token. We know it
//! by our id (`tok_…`) and keep only what the buyer may see; the PG's own reference to
//! the card is a secret the store keeps sealed, outside this record.

use super::{MallId, PaymentId, TokenId};

/// Whether a saved card may be charged without the buyer present (SPEC §8.3 `usage`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardUsage {
    /// Only in payments the customer starts.
    OnSession,
    /// Also in payments the merchant starts without the customer.
    OffSession,
}

impl CardUsage {
    pub fn as_str(self) -> &'static str {
        match self {
            CardUsage::OnSession => "on_session",
            CardUsage::OffSession => "off_session",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "on_session" => Some(CardUsage::OnSession),
            "off_session" => Some(CardUsage::OffSession),
            _ => None,
        }
    }
}

/// Who starts a payment with a saved card (SPEC §8.3 `initiator`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Initiator {
    /// The customer, present (a PIN is asked when they have one).
    Customer,
    /// The merchant, without the customer (only an `off_session` card).
    Merchant,
}

impl Initiator {
    pub fn as_str(self) -> &'static str {
        match self {
            Initiator::Customer => "customer",
            Initiator::Merchant => "merchant",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "customer" => Some(Initiator::Customer),
            "merchant" => Some(Initiator::Merchant),
            _ => None,
        }
    }

    /// Whether this initiator may charge a card registered for `usage`.
    pub fn may_use(self, usage: CardUsage) -> bool {
        self == Initiator::Customer || usage == CardUsage::OffSession
    }
}

/// What a registration asks the PG to keep: for whom and for what use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardRegistration {
    /// The registration's payment.
    pub payment_id: PaymentId,
    pub customer_id: String,
    pub usage: CardUsage,
}

/// The card as shown: never its number, never the PG's reference to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardDisplay {
    pub brand: String,
    pub last4: String,
    pub exp_month: u32,
    pub exp_year: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardToken {
    pub id: TokenId,
    pub mall_id: MallId,
    pub customer_id: String,
    pub usage: CardUsage,
    /// The connector of the PG that keeps it.
    pub gateway: String,
    pub card: CardDisplay,
    /// The payment that registered it.
    pub registration_id: PaymentId,
    pub created_at: i64,
    /// Unix ms; a deleted card is kept for the history of its payments, never charged.
    pub deleted_at: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merchant_charges_only_off_session_cards_and_a_customer_any() {
        assert!(Initiator::Merchant.may_use(CardUsage::OffSession));
        assert!(!Initiator::Merchant.may_use(CardUsage::OnSession));
        assert!(Initiator::Customer.may_use(CardUsage::OnSession));
        assert!(Initiator::Customer.may_use(CardUsage::OffSession));
        for usage in [CardUsage::OnSession, CardUsage::OffSession] {
            assert_eq!(CardUsage::parse(usage.as_str()), Some(usage));
        }
        assert_eq!(CardUsage::parse("always"), None);
        assert_eq!(Initiator::parse("customer"), Some(Initiator::Customer));
        assert_eq!(Initiator::parse("Customer"), None);
    }
}
