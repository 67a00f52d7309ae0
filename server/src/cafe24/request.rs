//! Inbound Cafe24 requests arrive as JSON or as `application/x-www-form-urlencoded`
//! (SPEC §4). Both become one map of field → text. JSON strings are taken unescaped;
//! numbers and objects keep their exact source text, because `hash_data` is computed
//! over what Cafe24 sent and `extra_data` is echoed back as received.
//!
//! A field named twice is refused in both formats: whichever value we took, something
//! in front of us (a proxy, a log, a WAF) may read the other one, and `hash_data` would
//! then vouch for an amount nobody else saw.

use std::{collections::BTreeMap, fmt};

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::{header, StatusCode},
};
use serde::{
    de::{MapAccess, Visitor},
    Deserialize, Deserializer,
};
use serde_json::value::RawValue;

use super::Cafe24Error;

/// Bodies above this size are refused before they are read (413).
pub const BODY_LIMIT: usize = 64 * 1024;

#[derive(Debug, Default, Clone)]
pub struct Fields(BTreeMap<String, String>);

impl Fields {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A field that must be present and not blank.
    pub fn required(&self, name: &str) -> Result<&str, Cafe24Error> {
        self.get(name)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| Cafe24Error::invalid(format!("{name} is required")))
    }

    /// A field that may be absent; blank counts as absent.
    pub fn optional(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.trim().is_empty())
    }

    /// The fields by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(name, value)| (name.as_str(), value.as_str()))
    }

    pub fn parse_json(body: &[u8]) -> Result<Self, Cafe24Error> {
        let FieldList(list) = serde_json::from_slice(body)
            .map_err(|e| Cafe24Error::malformed(format!("the JSON body is not an object of fields ({e})")))?;
        let mut seen = std::collections::BTreeSet::new();
        let mut fields = BTreeMap::new();
        for (name, raw) in list {
            if !seen.insert(name.clone()) {
                return Err(Cafe24Error::malformed(format!("{name} is given more than once")));
            }
            let text = raw.get();
            if text == "null" {
                continue;
            }
            let value = if text.starts_with('"') {
                serde_json::from_str::<String>(text).map_err(|e| Cafe24Error::malformed(format!("{name}: {e}")))?
            } else {
                text.to_owned()
            };
            fields.insert(name, value);
        }
        Ok(Fields(fields))
    }

    pub fn parse_form(body: &[u8]) -> Result<Self, Cafe24Error> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|e| Cafe24Error::malformed(format!("the form body cannot be read ({e})")))?;
        let mut fields = BTreeMap::new();
        for (name, value) in pairs {
            if fields.insert(name.clone(), value).is_some() {
                return Err(Cafe24Error::malformed(format!("{name} is given more than once")));
            }
        }
        Ok(Fields(fields))
    }
}

/// A JSON object's members in order, duplicates kept (serde's maps keep only the last).
struct FieldList(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for FieldList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = FieldList;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of fields")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FieldList, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, Box<RawValue>>()? {
                    members.push(member);
                }
                Ok(FieldList(members))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

/// A JSON body of the storefront's calls (nested: the basket is an array of objects),
/// refused when any object in it names a member twice, the path of which is given
/// (`order[0].product_price is given more than once`).
pub fn strict_json(body: &[u8]) -> Result<serde_json::Value, Cafe24Error> {
    crate::json::parse_strict(body).map_err(|e| Cafe24Error::malformed(e.to_string()))
}

impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = Cafe24Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let body = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Cafe24Error::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the request body is larger than {} KiB", BODY_LIMIT / 1024),
                )
            } else {
                Cafe24Error::malformed("the request body could not be read")
            }
        })?;
        match content_type.as_str() {
            "application/json" => Fields::parse_json(&body),
            "application/x-www-form-urlencoded" => Fields::parse_form(&body),
            "" if body.is_empty() => Ok(Fields::default()),
            _ => Err(Cafe24Error::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send application/json or application/x-www-form-urlencoded",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_unescaped_and_other_values_keep_their_source_text() {
        let body = br#"{"amount":"3065.00","shop_no":1,"extra_data":{"pgName": "pg-demo-app"},"ship_zip":null,"goods_name":"\ud68c"}"#;
        let f = Fields::parse_json(body).unwrap();
        assert_eq!(f.get("amount"), Some("3065.00"));
        assert_eq!(f.get("shop_no"), Some("1"));
        assert_eq!(f.get("extra_data"), Some(r#"{"pgName": "pg-demo-app"}"#));
        assert_eq!(f.get("ship_zip"), None);
        assert_eq!(f.get("goods_name"), Some("회"));
    }

    #[test]
    fn a_field_named_twice_is_refused_in_json_as_in_forms() {
        for body in [&br#"{"amount":"3065.00","amount":"1.00"}"#[..], br#"{"a":null,"a":"1"}"#] {
            let e = Fields::parse_json(body).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
            assert!(e.message.contains("given more than once"), "{}", e.message);
        }
        let e = Fields::parse_form(b"amount=3065.00&amount=1.00").unwrap_err();
        assert_eq!((e.status, e.message.as_str()), (StatusCode::BAD_REQUEST, "amount is given more than once"));
        let nested = Fields::parse_json(br#"{"extra_data":{"k":1,"k":2}}"#).unwrap();
        assert_eq!(nested.get("extra_data"), Some(r#"{"k":1,"k":2}"#), "inner objects are echoed as sent");
    }

    #[test]
    fn a_member_named_twice_anywhere_in_a_storefront_body_is_refused_with_its_path() {
        let refused = |body: &str| strict_json(body.as_bytes()).unwrap_err().message;
        assert_eq!(refused(r#"{"order_id":"a","order_id":"b"}"#), "order_id is given more than once");
        assert_eq!(
            refused(r#"{"order":[{"product_price":"1"},{"product_price":"9","product_price":"1"}]}"#),
            "order[1].product_price is given more than once"
        );
        assert_eq!(refused(r#"{"a":{"b":{"c":1,"c":1}}}"#), "a.b.c is given more than once");
        let kept = strict_json(br#"{"order":[{"p":"1.5","q":2,"o":null,"t":true}],"b":"\u00e9"}"#).unwrap();
        assert_eq!(kept, serde_json::json!({"order":[{"p":"1.5","q":2,"o":null,"t":true}],"b":"é"}));
        assert!(strict_json(b"{\"a\":").unwrap_err().message.starts_with("the body is not JSON"));
    }

    #[test]
    fn malformed_bodies_are_refused_with_a_reason() {
        assert!(Fields::parse_json(b"[1,2]").is_err());
        assert!(Fields::parse_json(b"{\"a\":").is_err());
        assert!(Fields::parse_form(b"a=1&a=2").is_err());
        let f = Fields::parse_form(b"amount=3065.00&partner_id=demomall%3A0%3Ademo-app-public-key").unwrap();
        assert_eq!(f.get("partner_id"), Some("demomall:0:demo-app-public-key"));
        assert!(f.required("order_id").is_err());
    }
}
