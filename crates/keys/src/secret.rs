//! A Kubernetes Secret's entries, read from the YAML or JSON that
//! `oc get secret -o yaml` / `-o json` prints.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_yaml_ng::Value;

/// A Secret's type and entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    /// `type`, e.g. `kubernetes.io/tls`; `None` when absent (`Opaque`).
    pub type_: Option<String>,
    /// The entries, as [`data`] reads them.
    pub data: BTreeMap<String, Vec<u8>>,
}

impl Secret {
    /// Reads a Secret from YAML or JSON text (JSON is YAML). The error is a
    /// phrase following the file's name: `is not YAML: ...`, `is not a
    /// Kubernetes Secret (kind: Secret)`, or one of [`data`]'s.
    pub fn parse(bytes: &[u8]) -> Result<Secret, String> {
        let doc: Value = serde_yaml_ng::from_slice(bytes).map_err(|e| format!("is not YAML: {e}"))?;
        if doc.get("kind").and_then(Value::as_str) != Some("Secret") {
            return Err("is not a Kubernetes Secret (kind: Secret)".to_owned());
        }
        Ok(Secret { type_: doc.get("type").and_then(Value::as_str).map(str::to_owned), data: data(&doc)? })
    }

    /// The entry `key`, or `has no data.<key>`.
    pub fn entry(&self, key: &str) -> Result<&[u8], String> {
        self.data.get(key).map(Vec::as_slice).ok_or_else(|| format!("has no data.{key}"))
    }
}

/// A Secret object's entries, as the API server merges them: `data.<key>`
/// base64-decoded (line breaks and blanks allowed, as `oc get -o yaml` may
/// fold long values), then `stringData.<key>` as it is, overriding. The
/// error names the first entry that cannot be read (`data.<key> is not
/// base64: ...`).
pub fn data(secret: &Value) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut out = BTreeMap::new();
    for field in ["data", "stringData"] {
        let Some(map) = secret.get(field).and_then(Value::as_mapping) else { continue };
        for (k, v) in map {
            let (Some(k), Some(v)) = (k.as_str(), v.as_str()) else {
                return Err(format!("has a {field} entry that is not a string"));
            };
            let bytes = if field == "data" {
                let compact: String = v.chars().filter(|c| !c.is_ascii_whitespace()).collect();
                STANDARD.decode(compact).map_err(|e| format!("data.{k} is not base64: {e}"))?
            } else {
                v.as_bytes().to_vec()
            };
            out.insert(k.to_owned(), bytes);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_problems_and_json() {
        let yaml = b"kind: Secret\ndata:\n  a: AA\n    EC\n  b: AAEC\nstringData:\n  b: text\n";
        let s = Secret::parse(yaml).unwrap();
        assert_eq!(s.type_, None);
        assert_eq!((s.entry("a").unwrap(), s.entry("b").unwrap()), (&[0u8, 1, 2][..], &b"text"[..]));
        assert_eq!(s.entry("c").unwrap_err(), "has no data.c");
        let json = br#"{"kind":"Secret","type":"kubernetes.io/tls","data":{"tls.crt":"AAEC"}}"#;
        assert_eq!(Secret::parse(json).unwrap().entry("tls.crt").unwrap(), [0, 1, 2]);
        for (bad, problem) in [
            (&b"kind: ConfigMap\n"[..], "is not a Kubernetes Secret"),
            (b": : :", "is not YAML"),
            (b"kind: Secret\ndata:\n  a: '!!'\n", "data.a is not base64"),
            (b"kind: Secret\ndata:\n  a: [1]\n", "has a data entry that is not a string"),
        ] {
            let e = Secret::parse(bad).unwrap_err();
            assert!(e.starts_with(problem), "{e}");
        }
    }
}
