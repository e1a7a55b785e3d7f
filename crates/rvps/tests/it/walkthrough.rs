//! Parity with the walkthrough's reference-value step: for the same
//! measurements.json and initdata.toml, `render(.., Format::Array)` equals the
//! jq program's output byte for byte, the ConfigMap equals the walkthrough's
//! heredoc byte for byte, and pcr08 equals the walkthrough's
//! `sha256sum | xxd -r -p | sha256sum` PCR8.

use rvkit_rvps::{ConfigMapOptions, EmitInput, Format, Measurements, build, render, render_configmap};

use crate::{Rng, Scratch, data_dir, run};

/// PCR3 of the published podvm images: the separator-only value.
const PCR3: &str = "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969";

/// One PCR entry as it is spelled in the generated measurements.json.
struct Spelled {
    key: String,
    text: String,
}

fn spell(bytes: &[u8], prefix: bool, upper: bool) -> String {
    let mut hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    if upper {
        hex = hex.to_uppercase();
    }
    if prefix { format!("0x{hex}") } else { hex }
}

fn measurements_json(entries: &[Spelled], pretty: bool) -> String {
    let body: Vec<String> = entries.iter().map(|e| format!("\"{}\":\"{}\"", e.key, e.text)).collect();
    if pretty {
        format!(
            "{{\n  \"measurements\": {{\n    \"sha256\": {{\n      {}\n    }}\n  }}\n}}\n",
            body.join(",\n      ")
        )
    } else {
        format!("{{\"measurements\":{{\"sha256\":{{{}}}}}}}", body.join(","))
    }
}

fn walkthrough_initdata(host: &str, policy: &str) -> Vec<u8> {
    format!(
        "algorithm = \"sha256\"\nversion = \"0.1.0\"\n[data]\n\"aa.toml\" = '''\n[token_configs]\n\
         [token_configs.coco_as]\nurl = \"https://{host}\"\n[token_configs.kbs]\nurl = \"https://{host}\"\n'''\n\
         \"cdh.toml\" = '''\nsocket = 'unix:///run/confidential-containers/cdh.sock'\ncredentials = []\n\
         [kbc]\nname = \"cc_kbc\"\nurl = \"https://{host}\"\n[image]\n\
         image_security_policy_uri = 'kbs:///default/{policy}/policy'\n'''\n"
    )
    .into_bytes()
}

/// A-F to a-f and nothing else: what rvkit does differently from the jq
/// program on upper-case input (the verifier reports lower case, so jq's
/// upper-case reference values could never match).
fn lower_hex_letters(s: &str) -> String {
    s.chars().map(|c| if ('A'..='F').contains(&c) { c.to_ascii_lowercase() } else { c }).collect()
}

/// Runs the walkthrough and rvkit on the same files and compares.
fn check(measurements: &str, initdata: &[u8], dummy: bool) {
    let dir = Scratch::new("walkthrough");
    std::fs::create_dir_all(dir.path().join("podvm")).unwrap();
    std::fs::write(dir.path().join("podvm/measurements.json"), measurements).unwrap();
    std::fs::write(dir.path().join("initdata.toml"), initdata).unwrap();
    let script = data_dir().join("walkthrough-reference-values.sh");
    let (ok, _, stderr) = run("bash", &[script.to_str().unwrap()], Some(dir.path()), b"");
    assert!(ok, "walkthrough pipeline failed: {stderr}");
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
    let (pcr8, jq_out, configmap) = (read("pcr8.txt"), read("jq-output.json"), read("rvps-configmap.yaml"));

    let (m, warnings) = Measurements::parse_labeled(measurements.as_bytes(), "podvm/measurements.json")
        .unwrap_or_else(|e| panic!("{e}\n{measurements}"));
    assert!(warnings.is_empty(), "{warnings:?}");
    let mut input = EmitInput::new("2027-12-12T00:00:00Z".parse().unwrap());
    input.measurements.push(("podvm/measurements.json".into(), m));
    if dummy {
        input.include_dummy_initdata = true;
    } else {
        input.initdata.push(("initdata.toml".into(), initdata));
    }
    let (set, warnings) = build(&input).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");

    let pcr08 = set.values().iter().find(|rv| rv.name.as_str() == "snp_pcr08").unwrap();
    assert_eq!(pcr08.value, serde_json::json!([pcr8.trim_end()]));

    let ours = render(&set, Format::Array);
    assert_eq!(ours, lower_hex_letters(&jq_out), "array output differs from jq\n{measurements}");
    let has_upper = measurements.contains(|c: char| ('A'..='F').contains(&c));
    assert_eq!(ours == jq_out, !has_upper, "upper-case input must be the only difference");

    // Lower-case only the JSON block; the YAML header has capitals of its own.
    let marker = "reference-values.json: |\n";
    let (head, block) = configmap.split_at(configmap.find(marker).unwrap() + marker.len());
    let ours = render_configmap(&set, Format::Array, &ConfigMapOptions::default()).unwrap();
    assert_eq!(
        ours,
        format!("{head}{}", lower_hex_letters(block)),
        "ConfigMap differs from the walkthrough's"
    );
}

#[test]
fn published_shape() {
    if !crate::have_tools(&["bash", "sha256sum", "xxd", "jq"]) {
        return;
    }
    let mut rng = Rng::new(1);
    let entries = [
        Spelled { key: "pcr03".into(), text: format!("0x{PCR3}") },
        Spelled { key: "pcr09".into(), text: spell(&rng.bytes(32), true, false) },
        Spelled { key: "pcr11".into(), text: spell(&rng.bytes(32), true, false) },
        Spelled { key: "pcr12".into(), text: spell(&rng.bytes(32), true, false) },
    ];
    let initdata =
        walkthrough_initdata("kbs-service-trustee-operator-system.apps.example.com", "trustee-image-policy");
    check(&measurements_json(&entries, false), &initdata, false);
    check(&measurements_json(&entries, true), &initdata, false);
}

#[test]
fn leading_zeros_are_kept() {
    if !crate::have_tools(&["bash", "sha256sum", "xxd", "jq"]) {
        return;
    }
    let mut rng = Rng::new(2);
    let mut zeroish = |lead: &[u8]| {
        let mut b = rng.bytes(32);
        b[..lead.len()].copy_from_slice(lead);
        b
    };
    let entries = [
        Spelled { key: "pcr09".into(), text: spell(&zeroish(&[0x0a, 0x3d]), true, false) },
        Spelled { key: "pcr11".into(), text: spell(&zeroish(&[0x00, 0x00, 0x0f]), true, false) },
        Spelled { key: "pcr12".into(), text: spell(&[0u8; 32], true, false) },
        Spelled { key: "pcr04".into(), text: spell(&zeroish(&[0x00]), false, false) },
        Spelled { key: "pcr10".into(), text: spell(&zeroish(&[0x0a]), false, false) },
    ];
    check(&measurements_json(&entries, true), &walkthrough_initdata("kbs.example", "p"), false);
}

#[test]
fn upper_case_input_comes_out_lower_case() {
    if !crate::have_tools(&["bash", "sha256sum", "xxd", "jq"]) {
        return;
    }
    let mut rng = Rng::new(3);
    let entries = [
        Spelled { key: "pcr03".into(), text: format!("0x{}", PCR3.to_uppercase()) },
        Spelled { key: "pcr11".into(), text: spell(&rng.bytes(32), true, true) },
        Spelled { key: "pcr12".into(), text: spell(&rng.bytes(32), false, true) },
    ];
    check(&measurements_json(&entries, false), &walkthrough_initdata("a.example", "p"), false);
}

#[test]
fn initdata_bytes_are_hashed_as_given() {
    if !crate::have_tools(&["bash", "sha256sum", "xxd", "jq"]) {
        return;
    }
    let mut rng = Rng::new(4);
    let entries = [Spelled { key: "pcr11".into(), text: spell(&rng.bytes(32), true, false) }];
    let json = measurements_json(&entries, false);
    let doc = walkthrough_initdata("b.example", "p");
    // No final newline, and CRLF line ends: both change the digest.
    check(&json, &doc[..doc.len() - 1], false);
    let crlf = String::from_utf8(doc).unwrap().replace('\n', "\r\n");
    check(&json, crlf.as_bytes(), false);
    // The walkthrough run on the dummy document equals the dummy option.
    check(&json, rvkit_initdata::DUMMY_INITDATA.as_bytes(), true);
}

#[test]
fn edge_pcr_sets() {
    if !crate::have_tools(&["bash", "sha256sum", "xxd", "jq"]) {
        return;
    }
    let mut rng = Rng::new(5);
    // Every PCR but 8, in shuffled order.
    let mut all: Vec<u32> = (0..24).filter(|&p| p != 8).collect();
    for i in (1..all.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        all.swap(i, j);
    }
    let entries: Vec<Spelled> = all
        .iter()
        .map(|p| Spelled { key: format!("pcr{p:02}"), text: spell(&rng.bytes(32), rng.below(2) == 0, false) })
        .collect();
    let doc = walkthrough_initdata("c.example", "p");
    check(&measurements_json(&entries, true), &doc, false);
    // An empty bank: only pcr08.
    check(&measurements_json(&[], false), &doc, false);
    // The first and last PCR alone.
    for p in [0, 23] {
        let e = [Spelled { key: format!("pcr{p:02}"), text: spell(&rng.bytes(32), true, false) }];
        check(&measurements_json(&e, false), &doc, false);
    }
}

#[test]
fn generated_cases() {
    if !crate::have_tools(&["bash", "sha256sum", "xxd", "jq"]) {
        return;
    }
    let mut rng = Rng::new(6);
    for case in 0..30 {
        let mut pcrs: Vec<u32> = (0..24).filter(|&p| p != 8 && rng.below(3) == 0).collect();
        for i in (1..pcrs.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            pcrs.swap(i, j);
        }
        let upper = case % 3 == 0;
        let entries: Vec<Spelled> = pcrs
            .iter()
            .map(|p| {
                let mut b = rng.bytes(32);
                if rng.below(4) == 0 {
                    b[0] = 0;
                }
                Spelled {
                    key: format!("pcr{p:02}"),
                    text: spell(&b, rng.below(4) != 0, upper && rng.below(2) == 0),
                }
            })
            .collect();
        let doc =
            walkthrough_initdata(&format!("host{case}.example"), &format!("policy-{}", rng.below(1000)));
        check(&measurements_json(&entries, case % 2 == 0), &doc, false);
    }
}
