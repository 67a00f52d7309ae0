//! A customer's PIN (SPEC §8.3): six ASCII digits, and for a new PIN not a weak one. A
//! `Pin` lives only while it is checked or hashed: it is never printed (its `Debug` hides
//! it) and its bytes are wiped when it is dropped.

use std::fmt;

use zeroize::Zeroizing;

pub const PIN_LENGTH: usize = 6;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PinRefusal {
    #[error("a PIN is exactly six ASCII digits")]
    NotSixDigits,
    #[error("this PIN is too easy to guess (one digit repeated, or a run such as 123456 or 654321): choose another")]
    Weak,
}

#[derive(Clone)]
pub struct Pin(Zeroizing<[u8; PIN_LENGTH]>);

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(******)")
    }
}

impl Pin {
    /// Six ASCII digits: a PIN to check against the one kept (weak or not).
    pub fn parse(bytes: &[u8]) -> Result<Pin, PinRefusal> {
        if bytes.len() != PIN_LENGTH || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(PinRefusal::NotSixDigits);
        }
        let mut digits = Zeroizing::new([0u8; PIN_LENGTH]);
        digits.copy_from_slice(bytes);
        Ok(Pin(digits))
    }

    /// A PIN to set: six ASCII digits, and not weak.
    pub fn parse_new(bytes: &[u8]) -> Result<Pin, PinRefusal> {
        let pin = Self::parse(bytes)?;
        if pin.is_weak() {
            return Err(PinRefusal::Weak);
        }
        Ok(pin)
    }

    /// One digit six times (111111), or each digit one more (123456, and around 9 → 0:
    /// 789012) or one less (654321, 210987) than the one before it.
    pub fn is_weak(&self) -> bool {
        let steps: Vec<u8> = self.0.windows(2).map(|pair| (10 + pair[1] - pair[0]) % 10).collect();
        let all = |step: u8| steps.iter().all(|s| *s == step);
        all(0) || all(1) || all(9)
    }

    /// The ASCII digits, for the hash.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0[..]
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn weak_pins_are_refused_only_when_set() {
        for weak in [
            "000000", "111111", "999999", "123456", "012345", "456789", "654321", "543210", "789012", "901234",
            "210987",
        ] {
            assert_eq!(Pin::parse_new(weak.as_bytes()).unwrap_err(), PinRefusal::Weak, "{weak}");
            assert!(Pin::parse(weak.as_bytes()).is_ok(), "{weak} can still be checked");
        }
        for fine in ["917364", "123457", "112233", "121212", "135790", "000001", "987643"] {
            assert!(Pin::parse_new(fine.as_bytes()).is_ok(), "{fine}");
        }
    }

    #[test]
    fn a_pin_is_six_ascii_digits() {
        for bad in ["", "12345", "1234567", "12345a", " 91736", "91736\n", "９１７３６４", "917 64"] {
            assert_eq!(Pin::parse(bad.as_bytes()).unwrap_err(), PinRefusal::NotSixDigits, "{bad:?}");
        }
        assert_eq!(Pin::parse(b"917364").unwrap().as_bytes(), b"917364");
    }

    #[test]
    fn a_pin_never_prints() {
        assert_eq!(format!("{:?}", Pin::parse(b"917364").unwrap()), "Pin(******)");
    }

    proptest! {
        /// Exactly 10 + 10 + 10 of the million PINs are weak.
        #[test]
        fn weak_is_repeated_or_a_run(n in 0u32..1_000_000) {
            let text = format!("{n:06}");
            let d: Vec<i32> = text.bytes().map(|b| i32::from(b - b'0')).collect();
            let run = |step: i32| d.windows(2).all(|w| (w[1] - w[0]).rem_euclid(10) == step.rem_euclid(10));
            let expected = run(0) || run(1) || run(-1);
            prop_assert_eq!(Pin::parse(text.as_bytes()).unwrap().is_weak(), expected);
        }
    }
}
