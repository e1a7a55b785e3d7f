use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use serde_json::{Map, Value, json};

use crate::{Error, ReferenceValueSet};

rvkit_names::spelled_enum! {
    /// The ways reference values reach Trustee's RVPS, named `array`, `kv` or
    /// `sample`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Format {
        /// A JSON array of `{"name","expiration","value"}` objects: what the
        /// walkthrough writes and what Trustee up to v0.18 reads from the
        /// ConfigMap key `reference-values.json` (its LocalJson store was a
        /// file holding that array; `version` defaults to `0.1.0` when absent).
        Array = "array",
        /// A JSON object mapping each name to the URL-safe base64 (with padding)
        /// of the reference value's compact JSON: the file Trustee v0.19 and
        /// later read from the ConfigMap key `reference_value` (its key-value
        /// LocalJson store, which decodes with the URL-safe alphabet).
        ///
        /// For PCR records the two base64 alphabets give the same text: the
        /// record is ASCII without `>`, `?`, `~` or DEL, the only ASCII bytes that
        /// yield base64 digits 62 and 63. Values with other text need the
        /// URL-safe alphabet, which is always used.
        Kv = "kv",
        /// An RVPS register message, `{"version":"0.1.0","type":"sample",
        /// "payload":…}` with the payload the standard base64 of a JSON object
        /// name → value; for `rvps-tool register`. The sample extractor sets its
        /// own expiration (12 months), so the expiration is not carried.
        Sample = "sample",
    }
    error: Error = |s| Error::UnknownFormat { name: s.to_owned() };
}

impl Format {
    /// One line saying which Trustee versions read this format and how to
    /// get the other one.
    pub const fn note(self) -> &'static str {
        match self {
            Format::Array => {
                "format array (ConfigMap key reference-values.json) is read by Trustee and \
                 trustee-operator up to v0.18; for v0.19 and later use --format kv"
            }
            Format::Kv => {
                "format kv (ConfigMap key reference_value) is read by Trustee and \
                 trustee-operator v0.19 and later; for v0.18 and earlier use --format array"
            }
            Format::Sample => {
                "format sample is an RVPS register message for rvps-tool register, read by every \
                 Trustee version (RVPS sets a 12-month expiration itself); for a ConfigMap use \
                 --format kv (v0.19 and later) or --format array (up to v0.18)"
            }
        }
    }

    /// The ConfigMap data key Trustee's operator mounts for this format, if
    /// it has one.
    pub const fn default_data_key(self) -> Option<&'static str> {
        match self {
            Format::Array => Some("reference-values.json"),
            Format::Kv => Some("reference_value"),
            Format::Sample => None,
        }
    }
}

/// Renders the set in `format`. The output is deterministic and ends with a
/// newline.
///
/// - `array` is byte-identical to the walkthrough's jq program for the same
///   inputs (jq 1.6 pretty printing: two-space indentation, keys `name`,
///   `expiration`, `value`, one array element per line). It has no `version`
///   key, like the walkthrough's; Trustee fills in `0.1.0`.
/// - `kv` has its keys sorted by name; each value encodes the full record
///   including `version`, exactly as Trustee's own storage writes it.
/// - `sample` carries names sorted, values in emission order.
pub fn render(set: &ReferenceValueSet, format: Format) -> String {
    let doc = match format {
        Format::Array => Value::Array(
            set.values()
                .iter()
                .map(|rv| {
                    json!({
                        "name": rv.name,
                        "expiration": rv.expiration,
                        "value": rv.value,
                    })
                })
                .collect(),
        ),
        Format::Kv => {
            let sorted: BTreeMap<&str, String> = set
                .values()
                .iter()
                .map(|rv| (rv.name.as_str(), URL_SAFE.encode(rv.to_compact_json())))
                .collect();
            Value::Object(sorted.into_iter().map(|(k, v)| (k.to_owned(), v.into())).collect::<Map<_, _>>())
        }
        Format::Sample => {
            let payload: BTreeMap<&str, &Value> =
                set.values().iter().map(|rv| (rv.name.as_str(), &rv.value)).collect();
            // Serializing a map of strings to JSON values cannot fail.
            let payload = serde_json::to_string(&payload).unwrap_or_default();
            json!({
                "version": crate::REFERENCE_VALUE_VERSION,
                "type": "sample",
                "payload": STANDARD.encode(payload),
            })
        }
    };
    let mut out = serde_json::to_string_pretty(&doc).unwrap_or_default();
    out.push('\n');
    out
}

/// The reference-value ConfigMap the operator's TrusteeConfig creates and
/// hands the KBS.
pub const DEFAULT_CONFIGMAP_NAME: &str = "trusteeconfig-rvps-reference-values";

/// The namespace the Trustee operator installs into by default.
pub const DEFAULT_NAMESPACE: &str = "trustee-operator-system";

/// Where [`render_configmap`] puts the reference values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigMapOptions {
    /// The ConfigMap's name, [`DEFAULT_CONFIGMAP_NAME`] by default.
    pub name: String,
    /// The namespace, [`DEFAULT_NAMESPACE`] by default.
    pub namespace: String,
    /// The data key; `None` means the format's key
    /// ([`Format::default_data_key`]).
    pub data_key: Option<String>,
}

impl Default for ConfigMapOptions {
    fn default() -> ConfigMapOptions {
        ConfigMapOptions {
            name: DEFAULT_CONFIGMAP_NAME.to_owned(),
            namespace: DEFAULT_NAMESPACE.to_owned(),
            data_key: None,
        }
    }
}

/// Renders the set as a Kubernetes ConfigMap in YAML, laid out like the
/// walkthrough's `rvps-configmap.yaml`: the payload of [`render`] as a
/// literal block scalar indented four spaces under its data key, so that the
/// value read back is exactly that payload, final newline included.
///
/// The name must be a DNS-1123 subdomain, the namespace a DNS-1123 label and
/// the data key a valid ConfigMap key; the `sample` format is refused
/// ([`Error::SampleInConfigMap`]).
pub fn render_configmap(
    set: &ReferenceValueSet,
    format: Format,
    opts: &ConfigMapOptions,
) -> Result<String, Error> {
    let default_key = format.default_data_key().ok_or(Error::SampleInConfigMap)?;
    let key = opts.data_key.as_deref().unwrap_or(default_key);
    check_dns_subdomain("name", &opts.name)?;
    check_dns_label("namespace", &opts.namespace)?;
    check_data_key(key)?;

    let payload = render(set, format);
    let mut out = String::with_capacity(payload.len() + payload.lines().count() * 4 + 200);
    out.push_str("apiVersion: v1\nkind: ConfigMap\nmetadata:\n");
    out.push_str(&format!("  name: {}\n", yaml_scalar(&opts.name)));
    out.push_str(&format!("  namespace: {}\n", yaml_scalar(&opts.namespace)));
    out.push_str("data:\n");
    out.push_str(&format!("  {}: |\n", yaml_scalar(key)));
    for line in payload.lines() {
        out.push_str("    ");
        out.push_str(line);
        out.push('\n');
    }
    Ok(out)
}

/// A YAML scalar for a name that passed one of the checks below: plain when
/// it cannot be mistaken for another type, double-quoted otherwise. The
/// checked alphabets (letters, digits, `-`, `.`, `_`) need no escaping, but
/// plain `123`, `1e3`, `.inf` or `true` would be read as numbers or booleans.
fn yaml_scalar(s: &str) -> String {
    const RESERVED: [&str; 11] = ["true", "false", "yes", "no", "on", "off", "y", "n", "null", "nan", "inf"];
    let starts_with_letter = s.bytes().next().is_some_and(|c| c.is_ascii_alphabetic());
    if starts_with_letter && !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(s)) {
        s.to_owned()
    } else {
        format!("\"{s}\"")
    }
}

fn bad(field: &'static str, value: &str, reason: &'static str) -> Error {
    Error::BadConfigMapField { field, value: value.to_owned(), reason }
}

/// Kubernetes object names: RFC 1123 subdomain.
fn check_dns_subdomain(field: &'static str, s: &str) -> Result<(), Error> {
    const REASON: &str = "must be at most 253 lowercase letters, digits, '-' or '.', \
                          starting and ending with a letter or digit";
    if !rvkit_names::k8s::is_dns_subdomain(s) {
        return Err(bad(field, s, REASON));
    }
    Ok(())
}

/// Namespaces: RFC 1123 label.
fn check_dns_label(field: &'static str, s: &str) -> Result<(), Error> {
    if !rvkit_names::k8s::is_dns_label(s) {
        return Err(bad(
            field,
            s,
            "must be at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit",
        ));
    }
    Ok(())
}

/// ConfigMap data keys: `[-._a-zA-Z0-9]+`, at most 253 characters, not `.`
/// or `..` (Kubernetes `IsConfigMapKey`).
fn check_data_key(s: &str) -> Result<(), Error> {
    if !rvkit_names::k8s::is_configmap_key(s) {
        return Err(bad(
            "data key",
            s,
            "must be at most 253 letters, digits, '-', '.' or '_', and not '.' or '..'",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rvkit_pcr::{Digest, HashAlg, PcrIndex};

    use super::*;
    use crate::{EmitInput, Measurements, PcrPrefix, ReferenceValue, build, parse_published};

    fn set_from(pcrs: &[(u32, Vec<u8>)], tees: &[PcrPrefix]) -> ReferenceValueSet {
        let mut m = Measurements::new();
        for (p, bytes) in pcrs {
            m.insert(PcrIndex::new(*p).unwrap(), Digest::from_slice(HashAlg::Sha256, bytes).unwrap())
                .unwrap();
        }
        let mut input = EmitInput::new("2027-12-12T00:00:00Z".parse().unwrap());
        input.measurements.push(("m".into(), m));
        input.pcr_prefixes = tees.to_vec();
        build(&input).unwrap().0
    }

    fn small_set() -> ReferenceValueSet {
        set_from(&[(3, vec![0x0a; 32]), (11, vec![0xff; 32])], &PcrPrefix::ALL)
    }

    #[test]
    fn format_names_and_notes() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>().unwrap(), f);
            assert_eq!(f.to_string(), f.name());
            assert!(!f.note().contains('\n'));
        }
        assert!(matches!("json".parse::<Format>(), Err(Error::UnknownFormat { name }) if name == "json"));
        // The spelled-enum rule: any case in, the canonical spelling out.
        assert_eq!("Array".parse::<Format>().unwrap(), Format::Array);
        assert!(Format::Array.note().contains("v0.18") && Format::Array.note().contains("--format kv"));
        assert!(Format::Kv.note().contains("v0.19") && Format::Kv.note().contains("--format array"));
        assert_eq!(Format::Array.default_data_key(), Some("reference-values.json"));
        assert_eq!(Format::Kv.default_data_key(), Some("reference_value"));
        assert_eq!(Format::Sample.default_data_key(), None);
    }

    #[test]
    fn array_layout() {
        let set = set_from(&[(3, vec![0x0a; 32])], &[PcrPrefix::Snp]);
        let v = "0a".repeat(32);
        assert_eq!(
            render(&set, Format::Array),
            format!(
                "[\n  {{\n    \"name\": \"snp_pcr03\",\n    \"expiration\": \"2027-12-12T00:00:00Z\",\n    \"value\": [\n      \"{v}\"\n    ]\n  }}\n]\n"
            )
        );
        let back = parse_published(render(&small_set(), Format::Array).as_bytes(), Format::Array).unwrap();
        assert_eq!(back, small_set().values());
    }

    #[test]
    fn kv_is_url_safe_base64_of_compact_records() {
        let set = small_set();
        let out = render(&set, Format::Kv);
        let obj: Map<String, Value> = serde_json::from_str(&out).unwrap();
        let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        assert_eq!(keys, ["snp_pcr03", "snp_pcr11", "tdx_pcr03", "tdx_pcr11"]);
        for (k, v) in &obj {
            let json = URL_SAFE.decode(v.as_str().unwrap()).unwrap();
            let rv: ReferenceValue = serde_json::from_slice(&json).unwrap();
            assert_eq!(rv.name.as_str(), k);
            assert_eq!(String::from_utf8(json).unwrap(), rv.to_compact_json());
            assert!(set.values().contains(&rv));
        }
        let back = parse_published(out.as_bytes(), Format::Kv).unwrap();
        assert_eq!(back.len(), 4);
    }

    #[test]
    fn sample_message() {
        let set = small_set();
        let out = render(&set, Format::Sample);
        let msg: Map<String, Value> = serde_json::from_str(&out).unwrap();
        let keys: Vec<&str> = msg.keys().map(String::as_str).collect();
        assert_eq!(keys, ["version", "type", "payload"]);
        assert_eq!(msg["version"], "0.1.0");
        assert_eq!(msg["type"], "sample");
        let payload = STANDARD.decode(msg["payload"].as_str().unwrap()).unwrap();
        let payload: Map<String, Value> = serde_json::from_slice(&payload).unwrap();
        assert_eq!(payload.len(), 4);
        assert_eq!(payload["tdx_pcr11"], json!(["ff".repeat(32)]));
        assert!(matches!(parse_published(out.as_bytes(), Format::Sample), Err(Error::Published { .. })));
    }

    fn yaml_data(yaml: &str, key: &str) -> String {
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).unwrap();
        doc["data"][key].as_str().unwrap().to_owned()
    }

    #[test]
    fn configmap_reads_back_to_the_payload() {
        let set = small_set();
        for format in [Format::Array, Format::Kv] {
            let yaml = render_configmap(&set, format, &ConfigMapOptions::default()).unwrap();
            let key = format.default_data_key().unwrap();
            assert_eq!(yaml_data(&yaml, key), render(&set, format));
            let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).unwrap();
            assert_eq!(doc["apiVersion"], "v1");
            assert_eq!(doc["kind"], "ConfigMap");
            assert_eq!(doc["metadata"]["name"], "trusteeconfig-rvps-reference-values");
            assert_eq!(doc["metadata"]["namespace"], "trustee-operator-system");
            assert!(yaml.starts_with(&format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: trusteeconfig-rvps-reference-values\n  namespace: trustee-operator-system\ndata:\n  {key}: |\n    "
            )));
        }
        assert!(matches!(
            render_configmap(&set, Format::Sample, &ConfigMapOptions::default()),
            Err(Error::SampleInConfigMap)
        ));
    }

    #[test]
    fn configmap_names_are_checked_and_quoted_when_needed() {
        let set = small_set();
        let opts =
            ConfigMapOptions { name: "123".into(), namespace: "true".into(), data_key: Some("1e3".into()) };
        let yaml = render_configmap(&set, Format::Kv, &opts).unwrap();
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).unwrap();
        assert_eq!(doc["metadata"]["name"].as_str(), Some("123"));
        assert_eq!(doc["metadata"]["namespace"].as_str(), Some("true"));
        assert_eq!(yaml_data(&yaml, "1e3"), render(&set, Format::Kv));
        for key in [".inf", "null", "On", "y", "_x", "-x", "a.b_c-D"] {
            let opts = ConfigMapOptions { data_key: Some(key.into()), ..ConfigMapOptions::default() };
            let yaml = render_configmap(&set, Format::Array, &opts).unwrap();
            assert_eq!(yaml_data(&yaml, key), render(&set, Format::Array), "{key}");
        }

        let cases = [
            ("name", ConfigMapOptions { name: "Upper".into(), ..Default::default() }),
            ("name", ConfigMapOptions { name: "a..b".into(), ..Default::default() }),
            ("name", ConfigMapOptions { name: "-a".into(), ..Default::default() }),
            ("name", ConfigMapOptions { name: "".into(), ..Default::default() }),
            ("name", ConfigMapOptions { name: "a: b".into(), ..Default::default() }),
            ("name", ConfigMapOptions { name: "a".repeat(254), ..Default::default() }),
            ("namespace", ConfigMapOptions { namespace: "a.b".into(), ..Default::default() }),
            ("namespace", ConfigMapOptions { namespace: "a".repeat(64), ..Default::default() }),
            ("namespace", ConfigMapOptions { namespace: "a-".into(), ..Default::default() }),
            ("data key", ConfigMapOptions { data_key: Some("a/b".into()), ..Default::default() }),
            ("data key", ConfigMapOptions { data_key: Some("..".into()), ..Default::default() }),
            ("data key", ConfigMapOptions { data_key: Some("".into()), ..Default::default() }),
            ("data key", ConfigMapOptions { data_key: Some("a b".into()), ..Default::default() }),
        ];
        for (field, opts) in cases {
            assert!(
                matches!(render_configmap(&set, Format::Array, &opts), Err(Error::BadConfigMapField { field: f, .. }) if f == field),
                "{opts:?}"
            );
        }
        assert!(
            render_configmap(
                &set,
                Format::Array,
                &ConfigMapOptions {
                    name: "a"
                        .repeat(253)
                        .chars()
                        .enumerate()
                        .map(|(i, c)| if i % 60 == 59 { '.' } else { c })
                        .collect(),
                    ..Default::default()
                }
            )
            .is_ok()
        );
    }
}
