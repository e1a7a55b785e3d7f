use rvkit_initdata::{DUMMY_PCR8_HEX, InitData, pcr8_from_digest};
use rvkit_pcr::HashAlg;
use rvkit_rvps::{Expiration, ReferenceValue};
use serde_json::Value;

use crate::Comparison;

/// Initdata documents to test a failing `pcr08` against: a label and the
/// exact bytes.
pub type InitdataFiles<'a> = &'a [(String, Vec<u8>)];

/// Explanations for a failed comparison, most specific first: what the
/// claim's value matches (the dummy initdata, a given initdata document
/// hashed another way or from other bytes, another reference name), what is
/// wrong with the reference value (missing, not an array, spelled with `0x`
/// or capitals, expired), and otherwise the nearest allowed value.
pub fn hints(
    c: &Comparison,
    reference_values: &[ReferenceValue],
    initdata: InitdataFiles<'_>,
    now: Option<Expiration>,
) -> Vec<String> {
    hints_and_fallback(c, reference_values, initdata, now).0
}

/// [`hints`], and whether they are only the fallback (the nearest allowed
/// value, or that none is near), which a more specific explanation replaces.
pub(crate) fn hints_and_fallback(
    c: &Comparison,
    reference_values: &[ReferenceValue],
    initdata: InitdataFiles<'_>,
    now: Option<Expiration>,
) -> (Vec<String>, bool) {
    let mut out = Vec::new();
    let name = c.query.name.as_deref().unwrap_or_default();
    let claim = c.query.claim.as_deref().unwrap_or_default();
    let op = c.query.op.as_deref().unwrap_or_default();
    let Some(value) = &c.value else {
        out.push(format!(
            "the claims have no {claim}: the verifier did not report it, so the rule cannot hold"
        ));
        if c.reference.is_none() {
            out.push(format!("there is no reference value named {name:?} either"));
        }
        return (out, false);
    };
    let Some(rv) = &c.reference else {
        out.push(format!(
            "there is no reference value named {name:?}: the policy gets null and the comparison fails; \
             publish one (rvkit rvps emit) or check the name"
        ));
        return (out, false);
    };
    if op == "in" && !rv.value.is_array() && !rv.value.is_object() {
        out.push(format!(
            "reference value {name:?} is {}, but `in` needs an array of allowed values",
            rvkit_rvps::json_kind(&rv.value)
        ));
    }
    if now.is_some_and(|n| rv.expiration < n) {
        out.push(format!("reference value {name:?} expired on {}", rv.expiration));
    }
    let Some(v) = value.as_str() else {
        return (out, false);
    };
    let allowed: Vec<&str> = match &rv.value {
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        Value::String(s) => vec![s.as_str()],
        _ => Vec::new(),
    };
    for a in &allowed {
        let normal = rvkit_pcr::strip_hex_prefix(a).to_ascii_lowercase();
        if normal == v.to_ascii_lowercase() && *a != v {
            out.push(format!(
                "{name:?} lists {a:?}, the same value spelled differently: Trustee compares strings exactly, \
                 so publish lowercase hex without 0x"
            ));
        }
    }
    let is_pcr8 = name.ends_with("pcr08") || claim.ends_with("pcr08") || claim.ends_with("pcr8");
    if is_pcr8 {
        out.extend(pcr8_hints(v, initdata));
    }
    for other in reference_values.iter().filter(|o| o.name.as_str() != name) {
        let listed = match &other.value {
            Value::Array(a) => a.iter().any(|x| x.as_str() == Some(v)),
            Value::String(s) => s == v,
            _ => false,
        };
        if listed {
            out.push(format!(
                "the value is listed under {:?} instead (another TEE or register?)",
                other.name.as_str()
            ));
        }
    }
    if !out.is_empty() {
        return (out, false);
    }
    if let Some((nearest, diff)) = allowed
        .iter()
        .filter(|a| a.len() == v.len())
        .map(|a| (*a, a.bytes().zip(v.bytes()).filter(|(x, y)| x != y).count()))
        .min_by_key(|(_, d)| *d)
    {
        if diff * 2 > v.len() {
            out.push(format!(
                "the value is none of the {} allowed value(s) and close to none: the measured component \
                 changed (another podvm image, firmware or kernel command line?)",
                allowed.len()
            ));
        } else {
            out.push(format!("nearest allowed value {nearest} differs in {diff} of {} characters", v.len()));
        }
    } else if allowed.is_empty() {
        out.push(format!("{name:?} allows no string values"));
    } else {
        out.push(format!("no allowed value has the length of this one ({} characters)", v.len()));
    }
    (out, true)
}

/// What a PCR8 value could have come from.
fn pcr8_hints(v: &str, initdata: InitdataFiles<'_>) -> Vec<String> {
    let mut out = Vec::new();
    if v == DUMMY_PCR8_HEX {
        out.push(
            "pcr08 matches the dummy initdata: the pod has no initdata annotation \
             (give the pod its initdata, or allow such pods with rvkit rvps emit --dummy-initdata)"
                .to_owned(),
        );
    }
    if v == "0".repeat(64) {
        out.push("pcr08 is all zeros: nothing was measured into PCR8 (a podvm image that does not measure initdata?)".to_owned());
    }
    let pcr8_of = |bytes: &[u8], alg: HashAlg| pcr8_from_digest(&alg.hash(bytes)).0.to_hex();
    for (label, bytes) in initdata {
        let declared = InitData::parse(bytes).ok().map(|d| d.algorithm());
        if let Some(doc) = InitData::parse(bytes).ok().filter(|d| d.pcr8().to_hex() == v) {
            out.push(format!(
                "pcr08 is the PCR8 of initdata {label} ({} digest {}), which the reference values do not list: \
                 emit them again with --initdata {label}",
                doc.algorithm(),
                doc.digest()
            ));
            continue;
        }
        for alg in [HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512] {
            if Some(alg) != declared && pcr8_of(bytes, alg) == v {
                let says =
                    declared.map_or("it does not parse".to_owned(), |d| format!("its algorithm is {d}"));
                out.push(format!("pcr08 matches initdata {label} hashed as {alg} ({says})"));
            }
            if alg.hash(bytes).to_hex() == v {
                out.push(format!("the value is the {alg} digest of initdata {label} itself, not a PCR8"));
            }
        }
        let alg = declared.unwrap_or(HashAlg::Sha256);
        for (variant, changed) in variants(bytes) {
            if pcr8_of(&changed, alg) == v {
                out.push(format!(
                    "pcr08 matches initdata {label} {variant}: the pod's annotation was made from other bytes than this file"
                ));
            }
        }
    }
    out
}

/// The same document with other line endings or final newline.
fn variants(bytes: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let text = String::from_utf8_lossy(bytes);
    let lf = text.replace("\r\n", "\n");
    let crlf = lf.replace('\n', "\r\n");
    let mut out: Vec<(&'static str, Vec<u8>)> = vec![
        ("with LF line endings", lf.clone().into_bytes()),
        ("with CRLF line endings", crlf.into_bytes()),
        ("without its final newline", text.trim_end_matches(['\n', '\r']).as_bytes().to_vec()),
        ("with a final newline added", format!("{text}\n").into_bytes()),
    ];
    out.retain(|(_, b)| b.as_slice() != bytes);
    out
}
