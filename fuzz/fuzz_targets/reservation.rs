//! An external checkout's reservation (Cafe24's `precreateOrder` answer, posted by the
//! storefront button): its basket and its HMAC. No panic on any basket; against a model of
//! the arithmetic in 128 bits, a basket whose totals fit is taken with the signer's HMAC
//! (when fresh and above zero) at the exact amount, one whose totals do not fit is refused
//! rather than wrapped; an HMAC over another total or under another client id never
//! passes; a made-up HMAC passes only if it is the signer's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paybridge::{
    cafe24::external::{php_int, reservation_hmac, Reservation},
    domain::{Currency, Money},
};
use serde_json::{json, Value};

const UNAUTHORIZED: u16 = 401;
const UNPROCESSABLE: u16 = 422;

#[derive(Debug, arbitrary::Arbitrary)]
struct Line<'a> {
    product_price: &'a str,
    option_price: Option<&'a str>,
    quantity: i64,
    quantity_as_text: bool,
}

#[derive(Debug, arbitrary::Arbitrary)]
struct Input<'a> {
    currency: u8,
    client_id: &'a str,
    order_id: &'a str,
    noty_url: &'a str,
    /// How old the reservation is, in seconds.
    age: i32,
    /// A `response_time` that may not be a number.
    time_text: Option<&'a str>,
    hmac: &'a str,
    lines: Vec<Line<'a>>,
}

const NOW: i64 = 1_764_000_000;
const FRESHNESS: u64 = 3600;

fuzz_target!(|input: Input| {
    let currency = Currency::ALL[input.currency as usize % Currency::ALL.len()];
    let order: Vec<Value> = input
        .lines
        .iter()
        .map(|l| {
            let quantity = if l.quantity_as_text { json!(l.quantity.to_string()) } else { json!(l.quantity) };
            json!({"product_name": "p", "product_price": l.product_price, "option_price": l.option_price, "quantity": quantity})
        })
        .collect();
    let response_time = input.time_text.map_or_else(|| (NOW - i64::from(input.age)).to_string(), str::to_owned);
    let check = |hmac: &str| {
        let reservation = Reservation {
            order: &order,
            order_id: input.order_id,
            response_time: &response_time,
            noty_url: input.noty_url,
            hmac,
        };
        reservation.check(input.client_id, currency, NOW).map_err(|(status, message)| (status.as_u16(), message))
    };
    let sign = |client_id: &str, total: i64| {
        reservation_hmac(client_id, input.order_id, total, &response_time, input.noty_url)
    };

    // Whatever HMAC came: taken only if it is the signer's over the total it computed.
    match check(input.hmac) {
        Ok(basket) => assert_eq!(input.hmac, sign(input.client_id, basket.signed_total)),
        Err((status, _)) => assert!(status == UNAUTHORIZED || status == UNPROCESSABLE, "{status}"),
    }

    let Some((signed_total, minor)) = model(&input.lines, currency) else {
        // The basket is refused before its HMAC is looked at.
        assert_eq!(check(input.hmac).unwrap_err().0, UNPROCESSABLE);
        return;
    };
    let fresh = response_time.parse::<i64>().is_ok_and(|t| NOW.abs_diff(t) <= FRESHNESS);
    let signed = sign(input.client_id, signed_total);
    match check(&signed) {
        Ok(basket) => {
            assert!(fresh && minor > 0, "{input:?}");
            assert_eq!(basket.amount, Money::new(minor, currency));
            assert_eq!(basket.signed_total, signed_total);
            assert_eq!(basket.items, order);
        }
        Err((status, message)) => match (fresh, minor > 0) {
            (false, _) => assert_eq!(status, UNAUTHORIZED, "{message}"),
            (true, false) => assert_eq!(status, UNPROCESSABLE, "{message}"),
            (true, true) => panic!("a fresh, signed basket of {minor} refused: {message}"),
        },
    }
    for forged in
        [sign(input.client_id, signed_total.wrapping_add(1)), sign(&format!("{}x", input.client_id), signed_total)]
    {
        assert_eq!(check(&forged).unwrap_err().0, UNAUTHORIZED);
    }
});

/// The basket's (signed total, amount in minor units), or None when a product is not
/// valid or a total does not fit 64 bits: computed in 128 bits, apart from the code.
fn model(lines: &[Line], currency: Currency) -> Option<(i64, i64)> {
    let fits = |v: i128| i64::try_from(v).ok();
    let signed = |price: &str| match price.strip_prefix('-') {
        Some(rest) => Money::parse(rest, currency).ok().map(|m| -i128::from(m.minor)),
        None => Money::parse(price, currency).ok().map(|m| i128::from(m.minor)),
    };
    let (mut total, mut minor) = (0i64, 0i64);
    for line in lines {
        if line.quantity <= 0 {
            return None;
        }
        let option = line.option_price.unwrap_or("0");
        let (p_minor, o_minor) = (signed(line.product_price)?, signed(option)?);
        let (p_int, o_int) = (i128::from(php_int(line.product_price)?), i128::from(php_int(option)?));
        let unit = fits(p_minor + o_minor)?;
        if p_minor < 0 || unit < 0 {
            return None;
        }
        let quantity = i128::from(line.quantity);
        let line_minor = fits(i128::from(unit) * quantity)?;
        let line_total = fits(fits(p_int + o_int)? as i128 * quantity)?;
        minor = fits(i128::from(minor) + i128::from(line_minor))?;
        total = fits(i128::from(total) + i128::from(line_total))?;
    }
    Some((total, minor))
}
