//! The identifiers the payment core takes. Each parses what it is given (and refuses
//! anything else), so that a value of the type is always a valid one. Ids the core makes
//! carry a prefix saying what they name (`pay_…`, `ref_…`, SPEC §8.1).

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} must be {rule}")]
pub struct InvalidId {
    pub what: &'static str,
    pub rule: &'static str,
}

/// 1 to `max` visible ASCII characters (no spaces, no control characters).
fn visible_ascii(text: &str, max: usize) -> bool {
    (1..=max).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_graphic())
}

/// 32 lowercase hex digits after the prefix: what [`generated`] makes.
fn generated_shape(text: &str, prefix: &str) -> bool {
    text.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn generated(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// Our id for a payment, `pay_` and 32 hex digits; also the reference the PG knows it by.
    PaymentId
);
id_type!(
    /// Our id for a refund, `ref_` and 32 hex digits (SPEC §8.1; refunds made before
    /// that have `rfd_` and keep it); the PG refunds at most once per id.
    RefundId
);
id_type!(
    /// Our id for a card the PG keeps for a customer, `tok_` and 32 hex digits (SPEC §8.1).
    TokenId
);
id_type!(
    /// A merchant: a Cafe24 mall (`mall_id`), 1–100 visible ASCII characters.
    MallId
);
id_type!(
    /// The merchant's own order id: 1–64 visible ASCII characters (SPEC §8.1; Cafe24's
    /// look like `20220519-0000029`). One payment per order and merchant.
    OrderId
);

impl PaymentId {
    pub const PREFIX: &'static str = "pay";

    pub fn generate() -> Self {
        PaymentId(generated(Self::PREFIX))
    }

    pub fn parse(text: &str) -> Result<Self, InvalidId> {
        if generated_shape(text, Self::PREFIX) {
            Ok(PaymentId(text.to_owned()))
        } else {
            Err(InvalidId { what: "a payment id", rule: "pay_ followed by 32 hex digits" })
        }
    }
}

impl RefundId {
    pub const PREFIX: &'static str = "ref";
    /// The prefix of refunds made before SPEC §8.1's `ref_`: still theirs, never made now.
    pub const EARLIER_PREFIX: &'static str = "rfd";

    pub fn generate() -> Self {
        RefundId(generated(Self::PREFIX))
    }

    pub fn parse(text: &str) -> Result<Self, InvalidId> {
        if generated_shape(text, Self::PREFIX) || generated_shape(text, Self::EARLIER_PREFIX) {
            Ok(RefundId(text.to_owned()))
        } else {
            Err(InvalidId { what: "a refund id", rule: "ref_ followed by 32 hex digits" })
        }
    }
}

impl TokenId {
    pub const PREFIX: &'static str = "tok";

    pub fn generate() -> Self {
        TokenId(generated(Self::PREFIX))
    }

    pub fn parse(text: &str) -> Result<Self, InvalidId> {
        if generated_shape(text, Self::PREFIX) {
            Ok(TokenId(text.to_owned()))
        } else {
            Err(InvalidId { what: "a token id", rule: "tok_ followed by 32 hex digits" })
        }
    }
}

impl MallId {
    pub fn parse(text: &str) -> Result<Self, InvalidId> {
        if visible_ascii(text, 100) {
            Ok(MallId(text.to_owned()))
        } else {
            Err(InvalidId { what: "mall_id", rule: "1 to 100 visible ASCII characters" })
        }
    }
}

impl OrderId {
    pub fn parse(text: &str) -> Result<Self, InvalidId> {
        if visible_ascii(text, 64) {
            Ok(OrderId(text.to_owned()))
        } else {
            Err(InvalidId { what: "order_id", rule: "1 to 64 visible ASCII characters" })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_ids_parse_and_anything_else_is_refused() {
        let id = PaymentId::generate();
        assert_eq!(PaymentId::parse(id.as_str()), Ok(id.clone()));
        assert!(RefundId::parse(id.as_str()).is_err(), "a payment id is not a refund id");
        for bad in
            ["", "pay_", "pay_123", "rfd_0123456789abcdef0123456789abcdef", "pay_0123456789abcdef0123456789abcdeg"]
        {
            assert!(PaymentId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(RefundId::parse(RefundId::generate().as_str()).is_ok());
        let token = TokenId::generate();
        assert!(token.as_str().starts_with("tok_") && TokenId::parse(token.as_str()).is_ok());
        assert!(TokenId::parse(id.as_str()).is_err(), "a payment id is not a token id");
    }

    #[test]
    fn refund_ids_are_made_with_ref_and_earlier_rfd_ones_still_parse() {
        let id = RefundId::generate();
        assert!(id.as_str().starts_with("ref_"), "{id}");
        let earlier = "rfd_0123456789abcdef0123456789abcdef";
        assert_eq!(RefundId::parse(earlier).map(RefundId::into_string), Ok(earlier.to_owned()));
        for bad in ["ref_", "ref_0123", "pay_0123456789abcdef0123456789abcdef", "rfx_0123456789abcdef0123456789abcdef"]
        {
            assert!(RefundId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn order_and_mall_ids_are_visible_ascii_of_bounded_length() {
        assert!(OrderId::parse("20220519-0000029").is_ok());
        assert!(OrderId::parse(&"9".repeat(64)).is_ok());
        for bad in ["", " 1", "a b", "주문", "\u{7f}", &"9".repeat(65)] {
            assert!(OrderId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(MallId::parse("demomall").is_ok());
        assert!(MallId::parse(&"m".repeat(101)).is_err());
    }

    proptest! {
        #[test]
        fn an_order_id_is_kept_exactly_as_given(text in "[!-~]{1,64}") {
            prop_assert_eq!(OrderId::parse(&text).map(OrderId::into_string), Ok(text));
        }
    }
}
