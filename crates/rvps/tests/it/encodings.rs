//! The kv and sample encodings checked with GNU basenc and base64, which
//! share no code with the base64 crate.

use rvkit_pcr::{Digest, HashAlg, PcrIndex};
use rvkit_rvps::{
    ConfigMapOptions, EmitInput, Format, Measurements, ReferenceValue, ReferenceValueSet, build, render,
    render_configmap,
};
use serde_json::{Map, Value};

use crate::{Rng, run};

fn set(rng: &mut Rng, pcrs: &[u32]) -> ReferenceValueSet {
    let mut m = Measurements::new();
    for &p in pcrs {
        let d = Digest::from_slice(HashAlg::Sha256, &rng.bytes(32)).unwrap();
        m.insert(PcrIndex::new(p).unwrap(), d).unwrap();
    }
    let mut input = EmitInput::new("2027-12-12T00:00:00Z".parse().unwrap());
    input.measurements.push(("m".into(), m));
    input.include_dummy_initdata = true;
    build(&input).unwrap().0
}

fn kv_entries(text: &str) -> Vec<(String, String)> {
    let obj: Map<String, Value> = serde_json::from_str(text).unwrap();
    obj.into_iter().map(|(k, v)| (k, v.as_str().unwrap().to_owned())).collect()
}

/// Decodes every kv value with GNU basenc's URL-safe decoder and checks it
/// is the reference value it is keyed by, in Trustee's compact record form.
/// Returns the encodings that use `-` or `_`.
fn check_kv_with_basenc(s: &ReferenceValueSet) -> Vec<String> {
    let mut url_only = Vec::new();
    for (name, b64) in kv_entries(&render(s, Format::Kv)) {
        let (ok, json, err) = run("basenc", &["--base64url", "-d"], None, b64.as_bytes());
        assert!(ok, "basenc refused {b64}: {err}");
        let rv: ReferenceValue = serde_json::from_slice(&json).unwrap();
        assert_eq!(rv.name.as_str(), name);
        assert_eq!(rv.version, "0.1.0");
        assert!(s.values().contains(&rv));
        let json = String::from_utf8(json).unwrap();
        assert!(
            json.starts_with(&format!("{{\"version\":\"0.1.0\",\"name\":\"{name}\",\"expiration\":")),
            "{json}"
        );
        if b64.contains(['-', '_']) {
            url_only.push(b64);
        }
    }
    url_only
}

/// PCR records are ASCII without `>`, `?`, `~` or DEL, the only ASCII bytes
/// that can produce base64 digits 62 and 63, so their URL-safe and standard
/// encodings are the same string. This pins that fact: the kv alphabet only
/// matters for other values.
#[test]
fn kv_of_pcr_values_is_alphabet_neutral() {
    if !crate::have_tools(&["base64", "basenc"]) {
        return;
    }
    let mut rng = Rng::new(7);
    for _ in 0..10 {
        let s = set(&mut rng, &[3, 9, 11, 12]);
        assert!(check_kv_with_basenc(&s).is_empty());
    }
}

/// A value whose record contains `?`, `~` or non-ASCII text encodes with `-`
/// or `_`; a URL-safe decoder reads it and a standard decoder refuses it,
/// which is why the kv format must use the URL-safe alphabet.
#[test]
fn kv_needs_the_url_safe_alphabet() {
    if !crate::have_tools(&["base64", "basenc"]) {
        return;
    }
    let expiration = "2027-12-12T00:00:00Z".parse().unwrap();
    let values = ["a?b", "~~~", "é", "x>y", "??>"]
        .iter()
        .enumerate()
        .map(|(i, text)| {
            ReferenceValue::new(format!("note_{i}").parse().unwrap(), expiration, serde_json::json!([text]))
        })
        .collect();
    let s = ReferenceValueSet::from_values(values).unwrap();
    let url_only = check_kv_with_basenc(&s);
    assert!(!url_only.is_empty(), "some record's encoding uses '-' or '_'");
    for b64 in url_only {
        let (ok, _, _) = run("base64", &["-d"], None, b64.as_bytes());
        assert!(!ok, "a standard base64 decoder must refuse {b64}");
    }
}

#[test]
fn kv_padding_matches_basenc() {
    if !crate::have_tools(&["base64", "basenc"]) {
        return;
    }
    let mut rng = Rng::new(8);
    let s = set(&mut rng, &[0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13]);
    for rv in s.values() {
        let json = rv.to_compact_json();
        let (ok, out, _) = run("basenc", &["--base64url", "-w0"], None, json.as_bytes());
        assert!(ok);
        let expected = String::from_utf8(out).unwrap();
        let entries = kv_entries(&render(&s, Format::Kv));
        let got = &entries.iter().find(|(k, _)| k == rv.name.as_str()).unwrap().1;
        assert_eq!(got, &expected);
    }
}

#[test]
fn kv_configmap_reads_back() {
    let mut rng = Rng::new(9);
    let s = set(&mut rng, &[3, 9]);
    let yaml = render_configmap(&s, Format::Kv, &ConfigMapOptions::default()).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).unwrap();
    let text = doc["data"]["reference_value"].as_str().unwrap();
    assert_eq!(text, render(&s, Format::Kv));
    // kv is keyed by name, so it reads back in name order.
    let mut expected = s.values().to_vec();
    expected.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(rvkit_rvps::parse_published(text.as_bytes(), Format::Kv).unwrap(), expected);
}

/// The register message's payload is standard base64 (what `base64 -d`
/// reads) of a JSON object name -> value list.
#[test]
fn sample_payload_is_standard_base64() {
    if !crate::have_tools(&["base64", "basenc"]) {
        return;
    }
    let mut rng = Rng::new(10);
    let s = set(&mut rng, &[3, 11]);
    let msg: Map<String, Value> = serde_json::from_str(&render(&s, Format::Sample)).unwrap();
    let payload = msg["payload"].as_str().unwrap();
    let (ok, json, err) = run("base64", &["-d"], None, payload.as_bytes());
    assert!(ok, "{err}");
    let obj: Map<String, Value> = serde_json::from_slice(&json).unwrap();
    assert_eq!(obj.len(), s.values().len());
    for rv in s.values() {
        assert_eq!(obj[rv.name.as_str()], rv.value);
    }
}
