//! A JSON reader that keeps every object entry, duplicates included.
//!
//! `serde_json::Value` keeps only the last of two equal keys, so a file with
//! `"pcr03"` twice would silently lose one value. This reader keeps objects
//! as ordered entry lists so the caller can refuse duplicates, and it keeps
//! only what the formats need: objects, strings, and the kind of anything else.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A JSON value reduced to what the measurement and kv formats use.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Raw {
    /// An object, entries in file order, duplicates kept.
    Object(Vec<(String, Raw)>),
    /// A string.
    String(String),
    /// Anything else, by kind (`a number`, `an array`, ...).
    Other(&'static str),
}

impl Raw {
    /// The kind, for error messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Raw::Object(_) => "an object",
            Raw::String(_) => "a string",
            Raw::Other(kind) => kind,
        }
    }
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Raw, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Raw, E> {
        Ok(Raw::Other("a boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Raw, E> {
        Ok(Raw::Other("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Raw, E> {
        Ok(Raw::Other("a number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Raw, E> {
        Ok(Raw::Other("a number"))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Raw, E> {
        Ok(Raw::String(s.to_owned()))
    }
    fn visit_string<E: de::Error>(self, s: String) -> Result<Raw, E> {
        Ok(Raw::String(s))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Raw, E> {
        Ok(Raw::Other("null"))
    }
    fn visit_none<E: de::Error>(self) -> Result<Raw, E> {
        Ok(Raw::Other("null"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        // Arrays are never valid where this reader is used; skip their
        // contents without keeping them.
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Raw::Other("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Raw>()? {
            entries.push((k, v));
        }
        Ok(Raw::Object(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_duplicates_and_kinds() {
        let r: Raw =
            serde_json::from_str(r#"{"a":"x","a":1,"b":[1,{"c":2}],"d":null,"e":true,"f":{}}"#).unwrap();
        let Raw::Object(entries) = r else { panic!() };
        let kinds: Vec<_> = entries.iter().map(|(k, v)| (k.as_str(), v.kind())).collect();
        assert_eq!(
            kinds,
            [
                ("a", "a string"),
                ("a", "a number"),
                ("b", "an array"),
                ("d", "null"),
                ("e", "a boolean"),
                ("f", "an object")
            ]
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert!(serde_json::from_str::<Raw>(&deep).is_err());
        let deep = "{\"a\":".repeat(100_000);
        assert!(serde_json::from_str::<Raw>(&deep).is_err());
    }
}
