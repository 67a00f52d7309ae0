//! Money as integer minor units of an ISO 4217 currency (SPEC §3). Never floating point.

use std::{fmt, str::FromStr};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Currency {
    Krw,
    Jpy,
    Vnd,
    Usd,
    Php,
    Twd,
    Cny,
    Eur,
    Sgd,
    Hkd,
    Thb,
    Myr,
    Idr,
    Aud,
    Cad,
    Gbp,
}

impl Currency {
    /// Every currency paybridge takes.
    pub const ALL: [Currency; 16] = [
        Currency::Krw,
        Currency::Jpy,
        Currency::Vnd,
        Currency::Usd,
        Currency::Php,
        Currency::Twd,
        Currency::Cny,
        Currency::Eur,
        Currency::Sgd,
        Currency::Hkd,
        Currency::Thb,
        Currency::Myr,
        Currency::Idr,
        Currency::Aud,
        Currency::Cad,
        Currency::Gbp,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Currency::Krw => "KRW",
            Currency::Jpy => "JPY",
            Currency::Vnd => "VND",
            Currency::Usd => "USD",
            Currency::Php => "PHP",
            Currency::Twd => "TWD",
            Currency::Cny => "CNY",
            Currency::Eur => "EUR",
            Currency::Sgd => "SGD",
            Currency::Hkd => "HKD",
            Currency::Thb => "THB",
            Currency::Myr => "MYR",
            Currency::Idr => "IDR",
            Currency::Aud => "AUD",
            Currency::Cad => "CAD",
            Currency::Gbp => "GBP",
        }
    }

    /// Digits after the decimal point (ISO 4217 minor unit; SPEC §3 fixes
    /// JPY/KRW/VND at 0 and USD/PHP/TWD at 2).
    pub fn exponent(self) -> u32 {
        match self {
            Currency::Krw | Currency::Jpy | Currency::Vnd => 0,
            _ => 2,
        }
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::ALL.into_iter().find(|c| c.code() == s).ok_or_else(|| MoneyError::UnknownCurrency(s.to_owned()))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MoneyError {
    #[error("currency {0:?} is not supported")]
    UnknownCurrency(String),
    #[error("{0:?} is not an amount (digits with an optional decimal point)")]
    NotAnAmount(String),
    #[error("{amount:?} has more decimals than {currency} allows")]
    TooPrecise { amount: String, currency: Currency },
    #[error("{0:?} is too large")]
    TooLarge(String),
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Self {
        Money { minor, currency }
    }

    /// Parses a non-negative decimal amount in major units ("3065.00" PHP → 306500).
    /// Trailing zeros beyond the currency's decimals are accepted ("3065.00" JPY);
    /// anything that would need rounding is refused.
    pub fn parse(text: &str, currency: Currency) -> Result<Money, MoneyError> {
        let not_amount = || MoneyError::NotAnAmount(text.to_owned());
        let (int_part, frac_part) = match text.split_once('.') {
            Some((i, f)) => (i, f),
            None => (text, ""),
        };
        if int_part.is_empty()
            || !int_part.bytes().all(|b| b.is_ascii_digit())
            || !frac_part.bytes().all(|b| b.is_ascii_digit())
            || (text.contains('.') && frac_part.is_empty())
        {
            return Err(not_amount());
        }
        let exp = currency.exponent() as usize;
        let (kept, dropped) = frac_part.split_at(frac_part.len().min(exp));
        if dropped.bytes().any(|b| b != b'0') {
            return Err(MoneyError::TooPrecise { amount: text.to_owned(), currency });
        }
        let too_large = || MoneyError::TooLarge(text.to_owned());
        let int: i64 = int_part.trim_start_matches('0').parse().or_else(|_| {
            if int_part.bytes().all(|b| b == b'0') {
                Ok(0)
            } else {
                Err(too_large())
            }
        })?;
        let mut frac: i64 = 0;
        for i in 0..exp {
            let digit = kept.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
            frac = frac * 10 + digit;
        }
        let minor = int.checked_mul(10_i64.pow(exp as u32)).and_then(|m| m.checked_add(frac)).ok_or_else(too_large)?;
        Ok(Money { minor, currency })
    }

    /// Major units with exactly the currency's decimals: 306500 PHP → "3065.00".
    pub fn to_major_string(&self) -> String {
        let exp = self.currency.exponent();
        if exp == 0 {
            return self.minor.to_string();
        }
        let unit = 10_i64.pow(exp);
        format!("{}.{:0width$}", self.minor / unit, self.minor % unit, width = exp as usize)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_major_string(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn amounts_become_minor_units_of_their_currency() {
        let php = Currency::Php;
        assert_eq!(Money::parse("3065.00", php).unwrap().minor, 306500);
        assert_eq!(Money::parse("3065", php).unwrap().minor, 306500);
        assert_eq!(Money::parse("3065.5", php).unwrap().minor, 306550);
        assert_eq!(Money::parse("0.01", php).unwrap().minor, 1);
        assert_eq!(Money::parse("3065", Currency::Jpy).unwrap().minor, 3065);
        assert_eq!(Money::parse("3065.00", Currency::Jpy).unwrap().minor, 3065);
        assert_eq!(Money::parse("007", Currency::Krw).unwrap().minor, 7);
    }

    #[test]
    fn anything_that_is_not_a_plain_amount_is_refused() {
        for bad in ["", "-1", "+1", "1e3", "1,000", " 1", "1.", ".5", "1.2.3", "NaN", "１"] {
            assert!(Money::parse(bad, Currency::Php).is_err(), "{bad:?}");
        }
        assert!(matches!(Money::parse("10.5", Currency::Jpy), Err(MoneyError::TooPrecise { .. })));
        assert!(matches!(Money::parse("1.001", Currency::Usd), Err(MoneyError::TooPrecise { .. })));
        assert!(matches!(Money::parse("99999999999999999999", Currency::Usd), Err(MoneyError::TooLarge(_))));
        assert!("XXX".parse::<Currency>().is_err());
    }

    proptest! {
        #[test]
        fn formatting_and_parsing_round_trip(minor in 0i64..i64::MAX / 1000, idx in 0usize..16) {
            let currency = Currency::ALL[idx];
            let money = Money::new(minor, currency);
            prop_assert_eq!(Money::parse(&money.to_major_string(), currency), Ok(money));
        }
    }
}
