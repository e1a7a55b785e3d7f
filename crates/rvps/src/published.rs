//! Reading published reference values in any form rvkit writes or Trustee
//! reads, and comparing and merging sets of them.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::{Error, Expiration, Format, ReferenceValue, RvName, parse_published};

/// A Kubernetes ConfigMap as `kubectl get configmap -o yaml` (or `-o json`)
/// prints it, reduced to what rvkit reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigMap {
    /// `metadata.name`, if present.
    pub name: Option<String>,
    /// `metadata.namespace`, if present.
    pub namespace: Option<String>,
    /// `data`, key by key.
    pub data: BTreeMap<String, String>,
}

impl ConfigMap {
    /// Parses a ConfigMap from YAML or JSON. `kind` must be `ConfigMap` and
    /// every `data` value a string.
    pub fn parse(bytes: &[u8]) -> Result<ConfigMap, Error> {
        let bad = |message: String| Error::ConfigMap { message };
        let doc: serde_yaml_ng::Value =
            serde_yaml_ng::from_slice(bytes).map_err(|e| bad(format!("not YAML or JSON: {e}")))?;
        let kind = doc.get("kind").and_then(|k| k.as_str());
        if kind != Some("ConfigMap") {
            return Err(bad(format!(
                "kind is {}, not ConfigMap",
                kind.map_or("missing".to_owned(), |k| format!("{k:?}"))
            )));
        }
        let meta = |field: &str| {
            doc.get("metadata").and_then(|m| m.get(field)).and_then(|v| v.as_str()).map(str::to_owned)
        };
        let mut data = BTreeMap::new();
        if let Some(map) = doc.get("data") {
            let map = map.as_mapping().ok_or_else(|| bad("data is not a mapping".to_owned()))?;
            for (k, v) in map {
                let k = k.as_str().ok_or_else(|| bad("a data key is not a string".to_owned()))?;
                let v = v.as_str().ok_or_else(|| bad(format!("data key {k:?} does not hold a string")))?;
                data.insert(k.to_owned(), v.to_owned());
            }
        }
        Ok(ConfigMap { name: meta("name"), namespace: meta("namespace"), data })
    }
}

/// Where a set of published values was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A bare payload in this format.
    Payload(Format),
    /// A ConfigMap: its name and namespace (if given), the data key and the
    /// format of that key's payload.
    ConfigMap {
        /// `metadata.name`.
        name: Option<String>,
        /// `metadata.namespace`.
        namespace: Option<String>,
        /// The data key holding the values.
        key: String,
        /// The payload's format.
        format: Format,
    },
}

impl Source {
    /// The payload's format.
    pub fn format(&self) -> Format {
        match self {
            Source::Payload(f) | Source::ConfigMap { format: f, .. } => *f,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Payload(format) => write!(f, "{format} format"),
            Source::ConfigMap { name, key, format, .. } => {
                write!(f, "ConfigMap {} key {key} ({format} format)", name.as_deref().unwrap_or("(unnamed)"))
            }
        }
    }
}

/// Reference values read back from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// The values, in file order.
    pub values: Vec<ReferenceValue>,
    /// Where they came from.
    pub origin: Source,
}

impl Published {
    /// Whether the source carries expirations. The `sample` register
    /// message does not (RVPS sets its own); its values hold
    /// [`Expiration::MAX`] as a placeholder.
    pub fn has_expirations(&self) -> bool {
        self.origin.format() != Format::Sample
    }

    /// Looks up a value by name.
    pub fn get(&self, name: &str) -> Option<&ReferenceValue> {
        self.values.iter().find(|rv| rv.name.as_str() == name)
    }
}

/// Reads reference values in any form: an `array` or `kv` payload, a
/// `sample` register message, or a ConfigMap (YAML or JSON) holding a
/// payload under `reference-values.json` or `reference_value` (or under any
/// single data key). A ConfigMap payload's format is told by its content:
/// a JSON array is the `array` format under either key (scripts written for
/// Trustee up to v0.18 put it under `reference_value`), an object `kv`.
pub fn read_published(bytes: &[u8]) -> Result<Published, Error> {
    let published = |message: String| Error::Published { message };
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let looks_json = matches!(first, Some(b'[' | b'{'));
    if looks_json {
        let doc: Value =
            serde_json::from_slice(bytes).map_err(|e| published(format!("not valid JSON: {e}")))?;
        match &doc {
            Value::Array(_) => {
                return Ok(Published {
                    values: parse_published(bytes, Format::Array)?,
                    origin: Source::Payload(Format::Array),
                });
            }
            Value::Object(o) if o.get("kind").is_some() && o.get("apiVersion").is_some() => {}
            Value::Object(o)
                if o.get("type").and_then(Value::as_str) == Some("sample") && o.contains_key("payload") =>
            {
                return Ok(Published {
                    values: parse_sample(&doc)?,
                    origin: Source::Payload(Format::Sample),
                });
            }
            Value::Object(_) => {
                return Ok(Published {
                    values: parse_published(bytes, Format::Kv)?,
                    origin: Source::Payload(Format::Kv),
                });
            }
            _ => return Err(published("expected a JSON array or object".to_owned())),
        }
    }
    let cm = ConfigMap::parse(bytes)?;
    let pick = |key: &str| -> Result<Published, Error> {
        let payload = &cm.data[key];
        // The payload's shape tells its format, not the key: scripts written
        // for older Trustee versions put the array format under
        // `reference_value`, the key of the kv format.
        let format = if payload.trim_start().starts_with('[') { Format::Array } else { Format::Kv };
        let values = parse_published(payload.as_bytes(), format).map_err(|e| match e {
            Error::Published { message } => published(format!("ConfigMap data key {key}: {message}")),
            other => other,
        })?;
        let origin = Source::ConfigMap {
            name: cm.name.clone(),
            namespace: cm.namespace.clone(),
            key: key.to_owned(),
            format,
        };
        Ok(Published { values, origin })
    };
    let known: Vec<&str> = [Format::Array, Format::Kv]
        .into_iter()
        .filter_map(|f| f.default_data_key().filter(|k| cm.data.contains_key(*k)))
        .collect();
    match known.as_slice() {
        [key] => pick(key),
        [] if cm.data.len() == 1 => pick(cm.data.keys().next().map(String::as_str).unwrap_or_default()),
        [] => Err(Error::ConfigMap {
            message: format!(
                "no reference values: expected data key reference-values.json (array) or reference_value (kv), found {}",
                if cm.data.is_empty() { "no data".to_owned() } else { cm.data.keys().cloned().collect::<Vec<_>>().join(", ") }
            ),
        }),
        _ => Err(Error::ConfigMap {
            message: "both reference-values.json and reference_value are present; which one Trustee reads depends on its version".to_owned(),
        }),
    }
}

/// Reads the payload of a `sample` register message.
fn parse_sample(doc: &Value) -> Result<Vec<ReferenceValue>, Error> {
    let published = |message: String| Error::Published { message };
    let payload =
        doc["payload"].as_str().ok_or_else(|| published("sample payload is not a string".to_owned()))?;
    let json = STANDARD
        .decode(payload)
        .map_err(|e| published(format!("sample payload is not standard base64: {e}")))?;
    let map: serde_json::Map<String, Value> = serde_json::from_slice(&json)
        .map_err(|e| published(format!("sample payload is not a JSON object: {e}")))?;
    map.into_iter().map(|(k, v)| Ok(ReferenceValue::new(RvName::new(k)?, Expiration::MAX, v))).collect()
}

/// How a JSON value is named in messages ("a string", "an array", ...).
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What changed for one name.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The name.
    pub name: RvName,
    /// Values (array elements, or the whole value if not an array) only in
    /// the new set.
    pub added: Vec<Value>,
    /// Values only in the old set.
    pub removed: Vec<Value>,
    /// The old and new expiration, if it changed (and both sides carry one).
    pub expiration: Option<(Expiration, Expiration)>,
    /// The old and new kind of value, if it changed (`an array` → `a string`).
    pub kind: Option<(&'static str, &'static str)>,
}

/// The difference between two sets of reference values.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Diff {
    /// Names only in the new set.
    pub added: Vec<ReferenceValue>,
    /// Names only in the old set.
    pub removed: Vec<ReferenceValue>,
    /// Names in both whose value or expiration differ.
    pub changed: Vec<Change>,
}

impl Diff {
    /// Whether the sets are the same.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// The difference as JSON: `{"added":[…],"removed":[…],"changed":[…]}`.
    pub fn to_json(&self) -> Value {
        let rv = |rv: &ReferenceValue| serde_json::json!({"name": rv.name, "expiration": rv.expiration, "value": rv.value});
        serde_json::json!({
            "added": self.added.iter().map(rv).collect::<Vec<_>>(),
            "removed": self.removed.iter().map(rv).collect::<Vec<_>>(),
            "changed": self.changed.iter().map(|c| serde_json::json!({
                "name": c.name,
                "values_added": c.added,
                "values_removed": c.removed,
                "expiration": c.expiration.map(|(a, b)| serde_json::json!({"old": a, "new": b})),
                "kind": c.kind.map(|(a, b)| serde_json::json!({"old": a, "new": b})),
            })).collect::<Vec<_>>(),
        })
    }
}

fn compact(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl fmt::Display for Diff {
    /// One block per name (`+ name`, `- name`, `~ name` with `+`/`-` value
    /// lines), then a count line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for rv in &self.added {
            writeln!(f, "+ {} (expires {})", rv.name, rv.expiration)?;
            for v in elements(&rv.value) {
                writeln!(f, "    + {}", compact(v))?;
            }
        }
        for rv in &self.removed {
            writeln!(f, "- {}", rv.name)?;
            for v in elements(&rv.value) {
                writeln!(f, "    - {}", compact(v))?;
            }
        }
        for c in &self.changed {
            writeln!(f, "~ {}", c.name)?;
            if let Some((a, b)) = c.kind {
                writeln!(f, "    value was {a}, is {b}")?;
            }
            for v in &c.added {
                writeln!(f, "    + {}", compact(v))?;
            }
            for v in &c.removed {
                writeln!(f, "    - {}", compact(v))?;
            }
            if let Some((a, b)) = c.expiration {
                writeln!(f, "    expiration {a} -> {b}")?;
            }
        }
        writeln!(
            f,
            "{} added, {} removed, {} changed",
            self.added.len(),
            self.removed.len(),
            self.changed.len()
        )
    }
}

/// The elements of an array value, or the value itself.
fn elements(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    }
}

/// Compares two sets by name. Array values are compared as sets of
/// elements (order does not matter to `in`); other values as a whole.
/// Expirations are compared only when `expirations` is true (both sides
/// carry them).
pub fn diff(old: &[ReferenceValue], new: &[ReferenceValue], expirations: bool) -> Diff {
    let mut d = Diff::default();
    for n in new {
        match old.iter().find(|o| o.name == n.name) {
            None => d.added.push(n.clone()),
            Some(o) => {
                let (oe, ne) = (elements(&o.value), elements(&n.value));
                let added: Vec<Value> = ne.iter().filter(|v| !oe.contains(v)).map(|v| (*v).clone()).collect();
                let removed: Vec<Value> =
                    oe.iter().filter(|v| !ne.contains(v)).map(|v| (*v).clone()).collect();
                let kinds = (json_kind(&o.value), json_kind(&n.value));
                let kind = (kinds.0 != kinds.1).then_some(kinds);
                let expiration =
                    (expirations && o.expiration != n.expiration).then_some((o.expiration, n.expiration));
                if !added.is_empty() || !removed.is_empty() || kind.is_some() || expiration.is_some() {
                    d.changed.push(Change { name: n.name.clone(), added, removed, expiration, kind });
                }
            }
        }
    }
    d.removed = old.iter().filter(|o| !new.iter().any(|n| n.name == o.name)).cloned().collect();
    d
}

/// Merges labelled sets: names in order of first appearance; array values
/// are the union of the elements (first-appearance order, no repeats);
/// other values must be equal; the expiration is the latest one among the
/// inputs that carry expirations, or `default_expiration` for names seen
/// only in inputs without (the `sample` format). Names that differ in kind
/// of value (an array here, a string there) are refused.
pub fn merge(
    inputs: &[(String, Published)],
    default_expiration: Expiration,
) -> Result<Vec<ReferenceValue>, Error> {
    let mut out: Vec<(ReferenceValue, String, bool)> = Vec::new();
    for (label, set) in inputs {
        let dated = set.has_expirations();
        for rv in &set.values {
            let Some((have, first_label, have_dated)) = out.iter_mut().find(|(o, _, _)| o.name == rv.name)
            else {
                let mut rv = rv.clone();
                if !dated {
                    rv.expiration = default_expiration;
                }
                out.push((rv, label.clone(), dated));
                continue;
            };
            match (&mut have.value, &rv.value) {
                (Value::Array(a), Value::Array(b)) => {
                    for v in b {
                        if !a.contains(v) {
                            a.push(v.clone());
                        }
                    }
                }
                (a, b) if json_kind(a) != json_kind(b) => {
                    return Err(Error::MergeKindConflict {
                        name: rv.name.as_str().to_owned(),
                        first: format!("{} in {first_label}", json_kind(a)),
                        second: format!("{} in {label}", json_kind(b)),
                    });
                }
                (a, b) if a != b => {
                    return Err(Error::MergeValueConflict {
                        name: rv.name.as_str().to_owned(),
                        first: format!("{} in {first_label}", compact(a)),
                        second: format!("{} in {label}", compact(b)),
                    });
                }
                _ => {}
            }
            if dated {
                if !*have_dated || rv.expiration > have.expiration {
                    have.expiration = rv.expiration;
                }
                *have_dated = true;
            }
        }
    }
    Ok(out.into_iter().map(|(rv, _, _)| rv).collect())
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE;

    use super::*;
    use crate::{ConfigMapOptions, ReferenceValueSet, render, render_configmap};

    fn rv(name: &str, exp: &str, value: Value) -> ReferenceValue {
        ReferenceValue::new(RvName::new(name).unwrap(), exp.parse().unwrap(), value)
    }

    fn sample_set() -> Vec<ReferenceValue> {
        vec![
            rv("snp_pcr03", "2027-01-01T00:00:00Z", serde_json::json!(["aa", "bb"])),
            rv("mr_td", "2027-01-01T00:00:00Z", serde_json::json!(["cc"])),
            rv("svn", "2027-01-01T00:00:00Z", serde_json::json!(1)),
        ]
    }

    #[test]
    fn reads_every_form_back() {
        let set = ReferenceValueSet::from_values(sample_set()).unwrap();
        for format in [Format::Array, Format::Kv] {
            let p = read_published(render(&set, format).as_bytes()).unwrap();
            assert_eq!(p.origin, Source::Payload(format));
            assert_eq!(p.values.len(), 3);
            assert_eq!(p.get("mr_td").unwrap().value, serde_json::json!(["cc"]));
            let yaml = render_configmap(&set, format, &ConfigMapOptions::default()).unwrap();
            let p = read_published(yaml.as_bytes()).unwrap();
            assert!(
                matches!(&p.origin, Source::ConfigMap { key, format: f, .. } if key == format.default_data_key().unwrap() && *f == format)
            );
            assert_eq!(p.values.len(), 3);
            // The same ConfigMap as `kubectl get -o json` prints it.
            let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).unwrap();
            let json = serde_json::to_string(&doc).unwrap();
            assert_eq!(read_published(json.as_bytes()).unwrap().values.len(), 3);
        }
        let sample = read_published(render(&set, Format::Sample).as_bytes()).unwrap();
        assert!(!sample.has_expirations());
        assert_eq!(sample.get("svn").unwrap().value, serde_json::json!(1));
    }

    #[test]
    fn configmaps_read_like_kubectl_prints_them() {
        // Block scalar with strip chomping, extra metadata, another key.
        let kv =
            URL_SAFE.encode(rv("x", "2027-01-01T00:00:00Z", serde_json::json!(["ab"])).to_compact_json());
        let yaml = format!(
            "apiVersion: v1\ndata:\n  reference_value: |-\n    {{\"x\": \"{kv}\"}}\nkind: ConfigMap\nmetadata:\n  creationTimestamp: \"2026-01-01T00:00:00Z\"\n  name: rv\n  namespace: ns\n  resourceVersion: \"1\"\n"
        );
        let p = read_published(yaml.as_bytes()).unwrap();
        assert_eq!(p.values[0].name.as_str(), "x");
        assert!(
            matches!(p.origin, Source::ConfigMap { ref name, ref namespace, .. } if name.as_deref() == Some("rv") && namespace.as_deref() == Some("ns"))
        );
        for (bad, needle) in [
            ("kind: Secret\napiVersion: v1\n", "not ConfigMap"),
            ("apiVersion: v1\nkind: ConfigMap\ndata:\n  a: x\n  b: y\n", "found a, b"),
            (
                "apiVersion: v1\nkind: ConfigMap\ndata:\n  reference-values.json: '[1]'\n",
                "reference-values.json",
            ),
            (": : :", "not YAML"),
        ] {
            let err = read_published(bad.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(needle), "{bad:?}: {err}");
        }
    }

    #[test]
    fn an_array_under_the_kv_key_is_read_as_an_array() {
        // What scripts written for Trustee up to v0.18 publish: the array
        // format under the data key the kv format later took.
        let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rvps-reference-values\n  namespace: trustee-operator-system\ndata:\n  reference_value: |\n    [\n      {\n        \"name\": \"snp_pcr03\",\n        \"expiration\": \"2027-01-01T00:00:00Z\",\n        \"value\": [\"aa\", \"bb\"]\n      }\n    ]\n";
        let p = read_published(yaml.as_bytes()).unwrap();
        assert_eq!(
            p.origin,
            Source::ConfigMap {
                name: Some("rvps-reference-values".to_owned()),
                namespace: Some("trustee-operator-system".to_owned()),
                key: "reference_value".to_owned(),
                format: Format::Array,
            }
        );
        assert_eq!(p.values, [rv("snp_pcr03", "2027-01-01T00:00:00Z", serde_json::json!(["aa", "bb"]))]);
        assert_eq!(
            p.origin.to_string(),
            "ConfigMap rvps-reference-values key reference_value (array format)"
        );
        // A broken array there is reported as an array, under its key.
        let bad = yaml.replace("\"expiration\": \"2027-01-01T00:00:00Z\",", "");
        let err = read_published(bad.as_bytes()).unwrap_err().to_string();
        assert_eq!(
            err,
            "published reference values: ConfigMap data key reference_value: not a JSON array of reference values: \
             missing field `expiration` at line 6 column 3"
        );
    }

    #[test]
    fn diff_names_added_removed_and_changed_values() {
        let old = sample_set();
        let mut new = sample_set();
        new[0].value = serde_json::json!(["bb", "dd"]);
        new[1].expiration = "2028-01-01T00:00:00Z".parse().unwrap();
        new[2].value = serde_json::json!("1");
        new.push(rv("xfam", "2027-01-01T00:00:00Z", serde_json::json!(["e7"])));
        new.remove(1);
        let d = diff(&old, &new, true);
        assert_eq!(d.added.len(), 1);
        assert_eq!(d.removed[0].name.as_str(), "mr_td");
        assert_eq!(d.changed.len(), 2);
        assert_eq!(d.changed[0].added, [serde_json::json!("dd")]);
        assert_eq!(d.changed[0].removed, [serde_json::json!("aa")]);
        assert_eq!(d.changed[1].kind, Some(("a number", "a string")));
        let text = d.to_string();
        assert!(text.contains("~ snp_pcr03\n    + dd\n    - aa\n"), "{text}");
        assert!(text.ends_with("1 added, 1 removed, 2 changed\n"));
        assert!(diff(&old, &old, true).is_empty());
        // Reordered array elements are no change.
        let mut re = sample_set();
        re[0].value = serde_json::json!(["bb", "aa"]);
        assert!(diff(&old, &re, true).is_empty());
    }

    #[test]
    fn merge_unions_values_and_keeps_latest_expiration() {
        let a = Published { values: sample_set(), origin: Source::Payload(Format::Array) };
        let mut b_values = sample_set();
        b_values[0] = rv("snp_pcr03", "2029-01-01T00:00:00Z", serde_json::json!(["bb", "cc"]));
        b_values.push(rv("tdx_pcr03", "2026-01-01T00:00:00Z", serde_json::json!(["ff"])));
        let b = Published { values: b_values, origin: Source::Payload(Format::Kv) };
        let default = "2030-01-01T00:00:00Z".parse().unwrap();
        let m = merge(&[("a".into(), a.clone()), ("b".into(), b)], default).unwrap();
        let names: Vec<&str> = m.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["snp_pcr03", "mr_td", "svn", "tdx_pcr03"]);
        assert_eq!(m[0].value, serde_json::json!(["aa", "bb", "cc"]));
        assert_eq!(m[0].expiration.to_string(), "2029-01-01T00:00:00Z");
        assert_eq!(m[3].expiration.to_string(), "2026-01-01T00:00:00Z");

        let mut c = a.clone();
        c.values[0].value = serde_json::json!("aa");
        let err = merge(&[("a".into(), a.clone()), ("c".into(), c)], default).unwrap_err();
        assert!(matches!(&err, Error::MergeKindConflict { name, .. } if name == "snp_pcr03"), "{err}");
        assert!(err.to_string().contains("an array in a") && err.to_string().contains("a string in c"));
        let mut e = a.clone();
        e.values[2].value = serde_json::json!(2);
        assert!(matches!(
            merge(&[("a".into(), a.clone()), ("e".into(), e)], default),
            Err(Error::MergeValueConflict { .. })
        ));

        // Sample inputs carry no expiration: their names get the default.
        let s = Published {
            values: vec![rv("new", "9999-12-31T23:59:59Z", serde_json::json!(["01"]))],
            origin: Source::Payload(Format::Sample),
        };
        let m = merge(&[("s".into(), s)], default).unwrap();
        assert_eq!(m[0].expiration, default);
    }
}
