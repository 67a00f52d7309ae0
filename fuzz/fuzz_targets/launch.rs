//! The app launch from the Cafe24 admin (`GET /?mall_id&…&timestamp&hmac`): the HMAC over
//! the query as received, freshness, the user type and the mall id. No panic on any query;
//! a query the Cafe24 admin signed (the `hmac` anywhere in it) is taken exactly when fresh,
//! from an owner or administrator, for a valid mall id, and gives back what it named; one
//! changed or added parameter, or another secret, is refused as not from Cafe24.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paybridge::{
    admin::launch::{check_launch, Launch},
    cafe24::signature,
};

#[derive(Debug, arbitrary::Arbitrary)]
struct Input<'a> {
    secret: &'a str,
    mall_id: &'a str,
    user_id: &'a str,
    user_type: &'a str,
    lang: Option<&'a str>,
    /// How old the link is, in seconds.
    age: i32,
    extra: Vec<(&'a str, &'a str)>,
    hmac_at: u8,
    raw: &'a str,
}

const NOW: i64 = 1_764_000_000;
const UNAUTHORIZED: u16 = 401;
const NAMED: [&str; 6] = ["mall_id", "user_id", "user_type", "lang", "timestamp", "hmac"];

fuzz_target!(|input: Input| {
    let secret = if input.secret.is_empty() { "s" } else { input.secret };
    let refused = |query: &str, secret: &str| check_launch(secret, query, NOW).map_err(|(status, _)| status.as_u16());

    // Any query: taken only under its own secret.
    if let Ok(launch) = check_launch(secret, input.raw, NOW) {
        assert_eq!(refused(input.raw, &format!("{secret}x")), Err(UNAUTHORIZED), "{launch:?}");
    }

    // As the Cafe24 admin builds it.
    let timestamp = (NOW - i64::from(input.age)).to_string();
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("mall_id", input.mall_id).append_pair("user_id", input.user_id);
    query.append_pair("user_type", input.user_type).append_pair("timestamp", &timestamp);
    if let Some(lang) = input.lang {
        query.append_pair("lang", lang);
    }
    for (name, value) in input.extra.iter().filter(|(name, _)| !NAMED.contains(name)) {
        query.append_pair(name, value);
    }
    let query = query.finish();
    let hmac = signature::sign(secret, &[&query]);
    let hmac = format!("hmac={}", url::form_urlencoded::byte_serialize(hmac.as_bytes()).collect::<String>());
    let mut parts: Vec<&str> = query.split('&').collect();
    parts.insert(input.hmac_at as usize % (parts.len() + 1), &hmac);
    let signed = parts.join("&");

    let fresh = input.age.unsigned_abs() <= 300;
    let admin = matches!(input.user_type, "P" | "A");
    let mall = !input.mall_id.is_empty()
        && input.mall_id.len() <= 50
        && input.mall_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    match check_launch(secret, &signed, NOW) {
        Ok(launch) => {
            assert!(fresh && admin && mall, "{signed}");
            let lang = input.lang.unwrap_or("en").to_owned();
            assert_eq!(launch, Launch { mall_id: input.mall_id.into(), user_id: input.user_id.into(), lang });
        }
        Err((status, message)) => {
            assert!(!(fresh && admin && mall), "{signed} refused: {message}");
            if fresh {
                assert_ne!(status.as_u16(), UNAUTHORIZED, "a fresh signed link refused as: {message}");
            } else {
                assert_eq!(message, "This link has expired.");
            }
        }
    }
    // A parameter added or changed after signing, or another secret: not from Cafe24.
    assert_eq!(refused(&format!("{signed}&user_type=P"), secret), Err(UNAUTHORIZED));
    let changed = signed.replacen("timestamp=", "timestamp=1", 1);
    assert_eq!(refused(&changed, secret), Err(UNAUTHORIZED));
    assert_eq!(refused(&signed, &format!("{secret}x")), Err(UNAUTHORIZED));
});
