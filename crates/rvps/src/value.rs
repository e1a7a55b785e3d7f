use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE;
use serde::{Deserialize, Serialize};

use crate::raw::Raw;
use crate::{Error, Expiration, Format, RvName};

/// The reference-value version Trustee writes and assumes when it is absent.
pub const REFERENCE_VALUE_VERSION: &str = "0.1.0";

/// One reference value as Trustee's RVPS stores it (`rvps/src/reference_value.rs`
/// upstream): fields in the order `version`, `name`, `expiration`, `value`.
///
/// When read, a missing `version` defaults to `0.1.0`, as upstream does; the
/// name and expiration are checked strictly (see [`RvName`], [`Expiration`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceValue {
    /// The record version, `0.1.0`.
    #[serde(default = "default_version")]
    pub version: String,
    /// The name a policy looks the value up by, e.g. `snp_pcr03`.
    pub name: RvName,
    /// When the value stops being valid.
    pub expiration: Expiration,
    /// The value; for PCRs a JSON array of lowercase hex strings, which the
    /// policy checks with `in`.
    pub value: serde_json::Value,
}

fn default_version() -> String {
    REFERENCE_VALUE_VERSION.to_owned()
}

impl ReferenceValue {
    /// A reference value with the current version.
    pub fn new(name: RvName, expiration: Expiration, value: serde_json::Value) -> ReferenceValue {
        ReferenceValue { version: default_version(), name, expiration, value }
    }

    /// The compact JSON Trustee itself writes to its storage
    /// (`serde_json::to_vec` of the struct): no spaces, fields in declaration
    /// order.
    pub fn to_compact_json(&self) -> String {
        // Serializing strings, a validated name and a JSON value cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Reads reference values back from the `array` or `kv` format (for
/// checking and diffing what is published). The `sample` format carries no
/// expiration and cannot be read back.
///
/// `kv` values are decoded with the URL-safe alphabet with padding, as
/// Trustee's LocalJson storage does, and each decoded name must equal its key.
/// A name given twice is an error in both formats.
pub fn parse_published(bytes: &[u8], format: Format) -> Result<Vec<ReferenceValue>, Error> {
    let published = |message: String| Error::Published { message };
    match format {
        Format::Array => {
            let rvs: Vec<ReferenceValue> = serde_json::from_slice(bytes)
                .map_err(|e| published(format!("not a JSON array of reference values: {e}")))?;
            let mut seen = std::collections::HashSet::new();
            for rv in &rvs {
                if !seen.insert(&rv.name) {
                    return Err(published(format!("name {:?} appears twice", rv.name.as_str())));
                }
            }
            Ok(rvs)
        }
        Format::Kv => {
            let raw: Raw =
                serde_json::from_slice(bytes).map_err(|e| published(format!("not valid JSON: {e}")))?;
            let Raw::Object(entries) = raw else {
                return Err(published(format!("expected a JSON object of names, found {}", raw.kind())));
            };
            let mut out: Vec<ReferenceValue> = Vec::with_capacity(entries.len());
            let mut seen = std::collections::HashSet::new();
            for (key, value) in entries {
                let Raw::String(b64) = value else {
                    return Err(published(format!(
                        "value of {key:?} must be a base64 string, found {}",
                        value.kind()
                    )));
                };
                let json = URL_SAFE
                    .decode(b64.as_bytes())
                    .map_err(|e| published(format!("value of {key:?} is not URL-safe base64: {e}")))?;
                let rv: ReferenceValue = serde_json::from_slice(&json)
                    .map_err(|e| published(format!("value of {key:?} is not a reference value: {e}")))?;
                if rv.name.as_str() != key {
                    return Err(published(format!(
                        "key {key:?} holds a reference value named {:?}",
                        rv.name.as_str()
                    )));
                }
                if !seen.insert(rv.name.clone()) {
                    return Err(published(format!("name {key:?} appears twice")));
                }
                out.push(rv);
            }
            Ok(out)
        }
        Format::Sample => {
            Err(published("the sample format carries no expiration and cannot be read back".to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_like_trustee() {
        let rv = ReferenceValue::new(
            RvName::new("artifact").unwrap(),
            "1970-01-01T00:00:00Z".parse().unwrap(),
            serde_json::json!("abc"),
        );
        // Field order and expiration spelling of Trustee's own storage records.
        assert_eq!(
            rv.to_compact_json(),
            r#"{"version":"0.1.0","name":"artifact","expiration":"1970-01-01T00:00:00Z","value":"abc"}"#
        );
    }

    #[test]
    fn reads_trustee_records() {
        // The record of trustee-operator's e2e test ConfigMap (kv format,
        // tests/e2e/sample-attester/05-rvps-reference-values.yaml), which has
        // no version field.
        let kv =
            br#"{"svn":"eyJuYW1lIjoic3ZuIiwiZXhwaXJhdGlvbiI6IjIwMjctMDEtMDFUMDA6MDA6MDBaIiwidmFsdWUiOjF9"}"#;
        let rvs = parse_published(kv, Format::Kv).unwrap();
        assert_eq!(rvs.len(), 1);
        assert_eq!(rvs[0].version, "0.1.0");
        assert_eq!(rvs[0].name.as_str(), "svn");
        assert_eq!(rvs[0].expiration.to_string(), "2027-01-01T00:00:00Z");
        assert_eq!(rvs[0].value, serde_json::json!(1));

        let array = br#"[{"name":"x","expiration":"2027-12-12T00:00:00Z","value":["ab"]}]"#;
        let rvs = parse_published(array, Format::Array).unwrap();
        assert_eq!(rvs[0].value, serde_json::json!(["ab"]));
    }

    #[test]
    fn refuses_bad_records() {
        let renamed = br#"{"other":"eyJuYW1lIjoic3ZuIiwiZXhwaXJhdGlvbiI6IjIwMjctMDEtMDFUMDA6MDA6MDBaIiwidmFsdWUiOjF9"}"#;
        let cases: [(&[u8], Format); 10] = [
            (br#"[{"name":"x","expiration":"2027-12-12","value":1}]"#, Format::Array),
            (br#"[{"name":"a b","expiration":"2027-12-12T00:00:00Z","value":1}]"#, Format::Array),
            (br#"[{"name":"x","value":1}]"#, Format::Array),
            (
                br#"[{"name":"x","expiration":"2027-12-12T00:00:00Z","value":1},{"name":"x","expiration":"2027-12-12T00:00:00Z","value":2}]"#,
                Format::Array,
            ),
            (br#"{"svn":1}"#, Format::Kv),
            (renamed, Format::Kv),
            (br#"{"a":"!!!!"}"#, Format::Kv),
            (br#"{"a":"YQ==","a":"YQ=="}"#, Format::Kv),
            (br#"[]"#, Format::Kv),
            (br#"{}"#, Format::Sample),
        ];
        for (bytes, format) in cases {
            assert!(
                matches!(parse_published(bytes, format), Err(Error::Published { .. })),
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
}
