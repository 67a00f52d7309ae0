//! `Money::parse` for every currency: no panic; an amount it takes is non-negative and
//! comes back from its own major-unit text unchanged (so does the text with trailing
//! zeros); a plain whole amount of up to 15 digits is never refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paybridge::domain::{Currency, Money};

fuzz_target!(|input: (u8, &str)| {
    let (pick, text) = input;
    let currency = Currency::ALL[pick as usize % Currency::ALL.len()];
    match Money::parse(text, currency) {
        Ok(money) => {
            assert!(money.minor >= 0, "{text:?} → {money:?}");
            assert_eq!(money.currency, currency);
            let major = money.to_major_string();
            assert_eq!(Money::parse(&major, currency).unwrap(), money, "{text:?} → {major:?}");
            let padded = if major.contains('.') { format!("{major}00") } else { format!("{major}.00") };
            assert_eq!(Money::parse(&padded, currency).unwrap(), money, "{padded:?}");
            // The text was digits, at most one point, and nothing else.
            assert!(text.bytes().all(|b| b.is_ascii_digit() || b == b'.'), "{text:?} taken");
        }
        Err(_) => {
            // A plain whole amount that fits is never refused, whatever the currency.
            let whole = !text.is_empty() && text.len() <= 15 && text.bytes().all(|b| b.is_ascii_digit());
            assert!(!whole, "{text:?} refused in {currency}");
        }
    }
});
