//! `rvkit rvps emit` end to end: formats checked with outside decoders.

use std::fs;

use crate::util::{bash, fails, have_tools, ok, rvkit_in, tempdir};

const PCR3: &str = "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969";

fn measurements(values: &[(&str, String)]) -> String {
    let body: Vec<String> = values.iter().map(|(k, v)| format!("\"{k}\":\"{v}\"")).collect();
    format!("{{\"measurements\":{{\"sha256\":{{{}}}}}}}", body.join(","))
}

#[test]
fn kv_format_decodes_with_a_url_safe_decoder_into_reference_values() {
    if !have_tools("kv_format_decodes_with_a_url_safe_decoder", &["basenc", "jq", "bash"]) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    // Every PCR of the bank but 8 (which comes from initdata).
    let values: Vec<(String, String)> = (0..12u8)
        .filter(|i| *i != 8)
        .map(|i| (format!("pcr{i:02}"), format!("0x{}", format!("{:02x}", 0xf0 | i).repeat(32))))
        .collect();
    let refs: Vec<(&str, String)> = values.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    fs::write(d.join("m.json"), measurements(&refs)).unwrap();
    fs::write(d.join("i.toml"), rvkit_initdata::DUMMY_INITDATA).unwrap();
    let out = ok(rvkit_in(
        d,
        &[
            "rvps",
            "emit",
            "--measurements",
            "m.json",
            "--initdata",
            "i.toml",
            "--format",
            "kv",
            "--expiration",
            "9099-01-31T00:00:00Z",
            "-o",
            "kv.json",
        ],
    ));
    assert_eq!(out, "");
    // basenc (coreutils) is an independent URL-safe decoder. (For records of
    // hex PCR values both alphabets give the same text: their JSON has none of
    // the characters that encode to '-' or '_'; the crate's own tests cover
    // values that do.)
    let decoded = bash(
        d,
        "jq -r 'to_entries[] | \"\\(.key) \\(.value)\"' kv.json | while read -r k v; do printf '%s' \"$v\" | basenc --base64url -d | jq -c --arg k \"$k\" '{k: $k, rv: .}'; done",
    );
    let mut names = Vec::new();
    for line in String::from_utf8(decoded).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let rv = &v["rv"];
        assert_eq!(rv["name"], v["k"], "the key names its reference value");
        assert_eq!(rv["expiration"], "9099-01-31T00:00:00Z");
        assert!(rv["value"].as_array().is_some_and(|a| !a.is_empty()), "{rv}");
        names.push(v["k"].as_str().unwrap().to_owned());
    }
    assert!(names.contains(&"snp_pcr08".to_owned()) && names.contains(&"tdx_pcr11".to_owned()), "{names:?}");
    assert_eq!(names.len(), 2 * 12);
}

#[test]
fn sample_format_is_a_register_message() {
    let dir = tempdir();
    let d = dir.path();
    fs::write(d.join("m.json"), measurements(&[("pcr03", format!("0x{PCR3}"))])).unwrap();
    let out = ok(rvkit_in(
        d,
        &["rvps", "emit", "--measurements", "m.json", "--format", "sample", "--pcr-prefixes", "snp"],
    ));
    let msg: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(msg["version"], "0.1.0");
    assert_eq!(msg["type"], "sample");
    assert!(msg["payload"].is_string(), "{msg}");
}

#[test]
fn pcr08_conflict_names_both_values() {
    let dir = tempdir();
    let d = dir.path();
    let other = "11".repeat(32);
    fs::write(
        d.join("m.json"),
        measurements(&[("pcr03", format!("0x{PCR3}")), ("pcr08", format!("0x{other}"))]),
    )
    .unwrap();
    fs::write(d.join("i.toml"), rvkit_initdata::DUMMY_INITDATA).unwrap();
    let stderr = fails(rvkit_in(d, &["rvps", "emit", "--measurements", "m.json", "--initdata", "i.toml"]), 2);
    assert!(stderr.contains(&other) && stderr.contains(rvkit_initdata::DUMMY_PCR8_HEX), "{stderr}");
    // The same value agrees and is emitted once.
    fs::write(
        d.join("same.json"),
        measurements(&[("pcr08", format!("0x{}", rvkit_initdata::DUMMY_PCR8_HEX))]),
    )
    .unwrap();
    let out = ok(rvkit_in(
        d,
        &["rvps", "emit", "--measurements", "same.json", "--initdata", "i.toml", "--pcr-prefixes", "tdx"],
    ));
    assert_eq!(out.matches(rvkit_initdata::DUMMY_PCR8_HEX).count(), 1, "{out}");
}

#[test]
fn several_files_merge_and_dummy_initdata_is_optional() {
    let dir = tempdir();
    let d = dir.path();
    let a = "0a".repeat(32);
    let b = "0b".repeat(32);
    fs::write(
        d.join("old.json"),
        measurements(&[("pcr03", format!("0x{PCR3}")), ("pcr09", format!("0x{a}"))]),
    )
    .unwrap();
    fs::write(
        d.join("new.json"),
        measurements(&[("pcr09", format!("0X{}", b.to_uppercase())), ("pcr03", PCR3.to_owned())]),
    )
    .unwrap();
    fs::write(d.join("i.toml"), "algorithm = \"sha256\"\nversion = \"0.1.0\"\n[data]\n").unwrap();
    let out = ok(rvkit_in(
        d,
        &[
            "rvps",
            "emit",
            "--measurements",
            "old.json",
            "new.json",
            "--initdata",
            "i.toml",
            "--dummy-initdata",
            "--pcr-prefixes",
            "snp",
            "--expiration",
            "9099-12-12T00:00:00Z",
        ],
    ));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = v.as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["snp_pcr03", "snp_pcr08", "snp_pcr09"]);
    assert_eq!(v[0]["value"], serde_json::json!([PCR3]), "duplicates dropped");
    assert_eq!(
        v[2]["value"],
        serde_json::json!([a, b]),
        "order of first appearance, lowercase, leading zeros kept"
    );
    let pcr8 = v[1]["value"].as_array().unwrap();
    assert_eq!(pcr8.len(), 2);
    assert_eq!(pcr8[1], rvkit_initdata::DUMMY_PCR8_HEX);
}

#[test]
fn default_expiration_is_twelve_months_ahead_at_midnight() {
    let dir = tempdir();
    let d = dir.path();
    fs::write(d.join("m.json"), measurements(&[("pcr03", PCR3.to_owned())])).unwrap();
    // `--platform` is the old spelling of `--pcr-prefixes`, kept as an alias.
    let out = rvkit_in(d, &["rvps", "emit", "--measurements", "m.json", "--platform", "snp"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(stderr.contains("v0.19") || stderr.contains("0.19"), "format note on stderr: {stderr}");
    let v: serde_json::Value = serde_json::from_str(&ok(out)).unwrap();
    let exp = v[0]["expiration"].as_str().unwrap();
    assert!(exp.ends_with("T00:00:00Z"), "{exp}");
    let year: i32 = exp[..4].parse().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let this_year = 1970 + (now / 31_556_952) as i32;
    assert!((this_year + 1..=this_year + 2).contains(&year), "{exp}");
}

#[test]
fn configmap_names_and_keys_are_overridable() {
    let dir = tempdir();
    let d = dir.path();
    fs::write(d.join("m.json"), measurements(&[("pcr03", PCR3.to_owned())])).unwrap();
    let yaml = ok(rvkit_in(
        d,
        &[
            "rvps",
            "emit",
            "--measurements",
            "m.json",
            "--configmap",
            "--format",
            "kv",
            "--name",
            "rv",
            "--namespace",
            "ns",
            "--expiration",
            "9099-12-12T00:00:00Z",
        ],
    ));
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).unwrap();
    assert_eq!(v["kind"], "ConfigMap");
    assert_eq!(v["metadata"]["name"], "rv");
    assert_eq!(v["metadata"]["namespace"], "ns");
    let kv: serde_json::Value = serde_json::from_str(v["data"]["reference_value"].as_str().unwrap()).unwrap();
    assert!(kv["snp_pcr03"].is_string() && kv["tdx_pcr03"].is_string(), "{kv}");
    let yaml = ok(rvkit_in(
        d,
        &["rvps", "emit", "--measurements", "m.json", "--configmap", "--data-key", "rv.json"],
    ));
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).unwrap();
    assert!(v["data"]["rv.json"].is_string());
}

/// A ConfigMap with the array format under `reference_value`, as scripts
/// written for Trustee up to v0.18 publish it, is read by diff, merge and
/// check like the same values in their usual place.
#[test]
fn diff_merge_and_check_read_the_array_format_under_the_kv_key() {
    let dir = tempdir();
    let d = dir.path();
    let hex = |b: &str| b.repeat(32);
    fs::write(
        d.join("m.json"),
        measurements(&[
            ("pcr03", PCR3.to_owned()),
            ("pcr09", hex("09")),
            ("pcr11", hex("11")),
            ("pcr12", hex("12")),
        ]),
    )
    .unwrap();
    fs::write(d.join("i.toml"), rvkit_initdata::DUMMY_INITDATA).unwrap();
    let emit = |extra: &[&str]| {
        let mut args = vec![
            "rvps",
            "emit",
            "--measurements",
            "m.json",
            "--initdata",
            "i.toml",
            "--pcr-prefixes",
            "snp",
            "--expiration",
            "9099-01-01T00:00:00Z",
        ];
        args.extend_from_slice(extra);
        ok(rvkit_in(d, &args))
    };
    let array = emit(&[]);
    let indented: String = array.lines().map(|l| format!("    {l}\n")).collect();
    fs::write(
        d.join("legacy.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rvps-reference-values\n  namespace: trustee-operator-system\ndata:\n  reference_value: |\n{indented}"
        ),
    )
    .unwrap();
    fs::write(d.join("kv.json"), emit(&["--format", "kv"])).unwrap();

    assert_eq!(
        ok(rvkit_in(d, &["rvps", "diff", "legacy.yaml", "kv.json"])),
        "0 added, 0 removed, 0 changed\n"
    );
    // Merged alone, the set comes back in the array format it was written in.
    assert_eq!(ok(rvkit_in(d, &["rvps", "merge", "legacy.yaml"])), array);

    let claims = format!(
        "{{\"az-snp-vtpm\":{{\"tpm\":{{\"pcr03\":\"{PCR3}\",\"pcr08\":\"{}\",\"pcr09\":\"{}\",\"pcr11\":\"{}\",\"pcr12\":\"{}\"}}}}}}",
        rvkit_initdata::DUMMY_PCR8_HEX,
        hex("09"),
        hex("11"),
        hex("12")
    );
    fs::write(d.join("claims.json"), claims).unwrap();
    assert_eq!(
        ok(rvkit_in(d, &["rvps", "check", "--claims", "claims.json", "--reference-values", "legacy.yaml"])),
        "verdict: affirming (configuration 2, executables 3, hardware 2)\n\
         policy: rvkit's built-in peer-pods policy (pass --policy with the cluster's policy for its verdict)\n\
         claims: claims.json (az-snp-vtpm)\n\
         reference values: legacy.yaml (ConfigMap rvps-reference-values key reference_value (array format), 5 names)\n\
         5 comparisons, 0 failed\n"
    );
}

/// Every spelled value follows one rule: any case is read, and the result is
/// the same as with the canonical spelling; an unknown word names the
/// accepted ones and exits 2.
#[test]
fn spelled_values_are_read_in_any_case() {
    let dir = tempdir();
    let d = dir.path();
    fs::write(d.join("m.json"), measurements(&[("pcr03", PCR3.to_owned())])).unwrap();
    let emit = |format: &str, prefixes: &str, bank: &str| {
        let args = [
            "rvps",
            "emit",
            "--measurements",
            "m.json",
            "--format",
            format,
            "--pcr-prefixes",
            prefixes,
            "--bank",
            bank,
            "--expiration",
            "9099-12-12T00:00:00Z",
        ];
        rvkit_in(d, &args)
    };
    let canonical = ok(emit("kv", "snp,tdx", "sha256"));
    assert_eq!(ok(emit("KV", "SNP,Tdx", "SHA-256")), canonical);
    assert_eq!(ok(emit("Kv", "snp,TDX", "Sha256")), canonical);
    let stderr = fails(emit("json", "snp", "sha256"), 2);
    assert!(
        stderr.contains("unknown reference value format \"json\" (expected array, kv or sample)"),
        "{stderr}"
    );
    let stderr = fails(emit("kv", "sev", "sha256"), 2);
    assert!(stderr.contains("unknown pcr name prefix \"sev\" (expected snp or tdx)"), "{stderr}");

    fs::write(d.join("i.toml"), rvkit_initdata::DUMMY_INITDATA).unwrap();
    let digest = |platform: &str| ok(rvkit_in(d, &["initdata", "digest", "i.toml", "--platform", platform]));
    assert_eq!(digest("TDX"), digest("tdx"));
}
