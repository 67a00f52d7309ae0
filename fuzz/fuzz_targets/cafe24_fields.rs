//! The Cafe24 field parser, JSON and form: no panic on any body; a field named twice is
//! refused; what it reads comes back the same from the fields re-encoded in either format
//! (names and values as received, strings unescaped).
#![no_main]

use libfuzzer_sys::fuzz_target;
use paybridge::cafe24::request::Fields;

fn same(a: &Fields, b: &Fields) -> bool {
    a.iter().eq(b.iter())
}

fn as_form(fields: &Fields) -> String {
    let pairs: Vec<(&str, &str)> = fields.iter().collect();
    serde_urlencoded::to_string(pairs).unwrap()
}

fn as_json(fields: &Fields) -> String {
    let object: serde_json::Map<String, serde_json::Value> =
        fields.iter().map(|(k, v)| (k.to_owned(), serde_json::Value::String(v.to_owned()))).collect();
    serde_json::Value::Object(object).to_string()
}

fuzz_target!(|body: &[u8]| {
    for parsed in [Fields::parse_json(body), Fields::parse_form(body)].into_iter().flatten() {
        let form = Fields::parse_form(as_form(&parsed).as_bytes()).expect("its own form re-encoding parses");
        assert!(same(&parsed, &form), "form round trip of {:?}", String::from_utf8_lossy(body));
        let json = Fields::parse_json(as_json(&parsed).as_bytes()).expect("its own JSON re-encoding parses");
        assert!(same(&parsed, &json), "JSON round trip of {:?}", String::from_utf8_lossy(body));
    }
    // The same body with its first field repeated is refused in the form format.
    if let Ok(parsed) = Fields::parse_form(body) {
        if let Some((name, value)) = parsed.iter().next() {
            let doubled = format!("{}&{}", as_form(&parsed), serde_urlencoded::to_string([(name, value)]).unwrap());
            assert!(Fields::parse_form(doubled.as_bytes()).is_err(), "a repeated {name:?} is refused");
        }
    }
});
