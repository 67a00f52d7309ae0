//! JSON bodies read strictly: an object that names a member twice is refused, at any
//! depth. serde_json keeps the last of two members of the same name; whatever value we
//! took, something in front of us (a proxy, a log, a WAF) may have read the other one, so
//! a signature or an audit would vouch for an amount nobody else saw. Every channel that
//! takes JSON reads it through here, each answering in its own shape. Imports nothing
//! else of the crate.

use std::fmt;

use serde::{
    de::{MapAccess, SeqAccess, Visitor},
    Deserialize, Deserializer,
};
use serde_json::Value;

/// Why a body was not taken.
#[derive(Debug)]
pub enum StrictJsonError {
    /// Not JSON at all.
    Malformed(serde_json::Error),
    /// A member named twice: its path (`order[1].product_price`, `metadata.note`).
    Duplicate(String),
}

impl fmt::Display for StrictJsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StrictJsonError::Malformed(e) => write!(f, "the body is not JSON ({e})"),
            StrictJsonError::Duplicate(path) => write!(f, "{path} is given more than once"),
        }
    }
}

/// `body` as a JSON value, or why not; the same value `serde_json::from_slice` gives
/// when no object names a member twice.
pub fn parse_strict(body: &[u8]) -> Result<Value, StrictJsonError> {
    let tree: Tree = serde_json::from_slice(body).map_err(StrictJsonError::Malformed)?;
    tree.into_value(&mut String::new()).map_err(StrictJsonError::Duplicate)
}

/// A JSON value whose objects keep every member, duplicates included.
enum Tree {
    Object(Vec<(String, Tree)>),
    Array(Vec<Tree>),
    Leaf(Value),
}

impl Tree {
    /// The value, or the path of the first member named twice.
    fn into_value(self, path: &mut String) -> Result<Value, String> {
        let depth = path.len();
        let value = match self {
            Tree::Leaf(v) => v,
            Tree::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    path.push_str(&format!("[{i}]"));
                    out.push(item.into_value(path)?);
                    path.truncate(depth);
                }
                Value::Array(out)
            }
            Tree::Object(members) => {
                let mut out = serde_json::Map::new();
                for (name, member) in members {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(&name);
                    if out.contains_key(&name) {
                        return Err(path.clone());
                    }
                    let value = member.into_value(path)?;
                    out.insert(name, value);
                    path.truncate(depth);
                }
                Value::Object(out)
            }
        };
        Ok(value)
    }
}

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Any;
        impl<'de> Visitor<'de> for Any {
            type Value = Tree;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }

            fn visit_bool<E>(self, v: bool) -> Result<Tree, E> {
                Ok(Tree::Leaf(v.into()))
            }

            fn visit_i64<E>(self, v: i64) -> Result<Tree, E> {
                Ok(Tree::Leaf(v.into()))
            }

            fn visit_u64<E>(self, v: u64) -> Result<Tree, E> {
                Ok(Tree::Leaf(v.into()))
            }

            fn visit_f64<E>(self, v: f64) -> Result<Tree, E> {
                // As serde_json's own `Value` does: a number it cannot hold is null.
                Ok(Tree::Leaf(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)))
            }

            fn visit_str<E>(self, v: &str) -> Result<Tree, E> {
                Ok(Tree::Leaf(v.into()))
            }

            fn visit_string<E>(self, v: String) -> Result<Tree, E> {
                Ok(Tree::Leaf(v.into()))
            }

            fn visit_unit<E>(self) -> Result<Tree, E> {
                Ok(Tree::Leaf(Value::Null))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tree, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Tree::Array(items))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tree, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Tree::Object(members))
            }
        }
        deserializer.deserialize_any(Any)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn duplicate(body: &str) -> String {
        match parse_strict(body.as_bytes()) {
            Err(StrictJsonError::Duplicate(path)) => path,
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn a_member_named_twice_is_refused_with_its_path_at_any_depth() {
        assert_eq!(duplicate(r#"{"amount":"3065.00","amount":"1.00"}"#), "amount");
        assert_eq!(duplicate(r#"{"a":null,"a":"1"}"#), "a");
        assert_eq!(duplicate(r#"{"order":[{"p":"1"},{"p":"9","p":"1"}]}"#), "order[1].p");
        assert_eq!(duplicate(r#"{"metadata":{"note":"x","note":"y"}}"#), "metadata.note");
        assert_eq!(duplicate(r#"[{"a":1},{"b":{"c":1,"c":1}}]"#), "[1].b.c");
        assert_eq!(
            parse_strict(br#"{"amount":1}"#).map(|_| ()).map_err(|e| e.to_string()),
            Ok(()),
            "the same name in sibling objects is no repeat"
        );
    }

    #[test]
    fn without_repeats_the_value_is_what_serde_json_reads() {
        for body in [
            r#"{"order":[{"p":"1.5","q":2,"o":null,"t":true}],"b":"\u00e9","n":-7,"f":1e300,"big":18446744073709551615}"#,
            r#"[]"#,
            r#""text""#,
            r#"{"a":{"b":[{"a":1},{"a":2}]}}"#,
        ] {
            let strict = parse_strict(body.as_bytes()).unwrap();
            let loose: Value = serde_json::from_str(body).unwrap();
            assert_eq!(strict, loose, "{body}");
        }
        assert!(matches!(parse_strict(b"{\"a\":"), Err(StrictJsonError::Malformed(_))));
        assert!(parse_strict(b"{\"a\":").unwrap_err().to_string().starts_with("the body is not JSON"));
    }
}
