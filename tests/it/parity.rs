//! Byte parity with the walkthrough: its own shell steps (bash heredocs,
//! gzip, base64, sha256sum, xxd, jq) run on inputs it was never run on, and
//! rvkit must produce the same bytes.

use std::fs;
use std::path::Path;

use crate::seed;
use crate::util::{EXPIRATION, WALKTHROUGH_TOOLS, bash, have_tools, ok, openssl_cert, rvkit_in, tempdir};

/// Hosts unlike the walkthrough's example: other clusters, other domains.
const HOSTS: &[&str] = &[
    "kbs-service-trustee-operator-system.apps.rs01nyk5.eastus.aroapp.io",
    "kbs-service-trustee-operator-system.apps.cluster-8x2q.westeurope.example.net",
    "trustee.internal.example.org",
    "kbs-1.c0c0.test",
];

/// (POLICY_SECRET_NAME, POLICY_SECRET_FILE) pairs.
const POLICIES: &[(&str, &str)] = &[
    ("trustee-image-policy", "policy"),
    ("conf-devhub-image-policy", "verification-policy.json"),
    ("p", "x"),
];

/// A custom kata agent policy, in the shape the walkthrough describes.
const CUSTOM_POLICY: &str = "package agent_policy\n\nimport future.keywords.in\n\ndefault ExecProcessRequest := false\n\
default ReadStreamRequest := false\n\nExecProcessRequest if {\n    input.process.Args[0] == \"/bin/date\"\n}\n\n";

fn setup(test: &str) -> Option<&'static str> {
    have_tools(test, WALKTHROUGH_TOOLS).then(seed::steps)
}

/// Writes the walkthrough's initdata step as a script and runs it in `dir`,
/// returning the initdata.toml bytes bash produced.
fn walkthrough_initdata(dir: &Path, heredoc: &str, host: &str, cert: &Path, policy: (&str, &str)) -> Vec<u8> {
    let script = format!(
        "TRUSTEE_HOST=\"https://{host}\"\nTRUSTEE_CERT=$(cat '{}')\nPOLICY_SECRET_NAME={}\nPOLICY_SECRET_FILE={}\n{heredoc}",
        cert.display(),
        policy.0,
        policy.1
    );
    bash(dir, &script);
    fs::read(dir.join("initdata.toml")).expect("bash wrote initdata.toml")
}

/// The heredoc with its default agent policy replaced by `$(cat FILE)`, the
/// natural way to give the walkthrough another policy.
fn heredoc_with_policy_file(heredoc: &str, file: &Path) -> String {
    let start =
        heredoc.find("\"policy.rego\" = '''\n").expect("policy entry") + "\"policy.rego\" = '''\n".len();
    let end = start + heredoc[start..].find("\n'''\nEOF").expect("policy end");
    format!("{}$(cat '{}'){}", &heredoc[..start], file.display(), &heredoc[end..])
}

#[test]
fn initdata_render_is_byte_identical_to_the_walkthrough() {
    let Some(text) = setup("initdata_render_is_byte_identical_to_the_walkthrough") else { return };
    let heredoc = seed::initdata_heredoc(text);
    let dir = tempdir();
    let d = dir.path();
    for (i, host) in HOSTS.iter().enumerate() {
        let cert = openssl_cert(d, host, ["my_org", "Example Corp", "acme"][i % 3], 365);
        let (name, file) = POLICIES[i % POLICIES.len()];
        let want = walkthrough_initdata(d, &heredoc, host, &cert, (name, file));
        let uri = format!("kbs:///default/{name}/{file}");
        let got = rvkit_in(
            d,
            &[
                "initdata",
                "render",
                "--kbs-url",
                &format!("https://{host}"),
                "--kbs-cert",
                cert.to_str().unwrap(),
                "--image-policy-uri",
                &uri,
            ],
        );
        assert_eq!(ok(got).as_bytes(), want.as_slice(), "host {host}");
    }
}

#[test]
fn initdata_render_with_a_custom_policy_matches_the_walkthrough_pattern() {
    let Some(text) = setup("initdata_render_with_a_custom_policy_matches_the_walkthrough_pattern") else {
        return;
    };
    let dir = tempdir();
    let d = dir.path();
    let policy = d.join("policy.rego");
    fs::write(&policy, CUSTOM_POLICY).unwrap();
    let heredoc = heredoc_with_policy_file(&seed::initdata_heredoc(text), &policy);
    let host = HOSTS[1];
    let cert = openssl_cert(d, host, "my_org", 30);
    let want = walkthrough_initdata(d, &heredoc, host, &cert, POLICIES[0]);
    let out = rvkit_in(
        d,
        &[
            "initdata",
            "render",
            "--kbs-url",
            &format!("https://{host}"),
            "--kbs-cert",
            cert.to_str().unwrap(),
            "--agent-policy",
            policy.to_str().unwrap(),
            "-o",
            "rendered.toml",
        ],
    );
    assert_eq!(ok(out), "", "-o writes the file, not stdout");
    assert_eq!(fs::read(d.join("rendered.toml")).unwrap(), want);
}

#[test]
fn annotation_and_pcr8_match_the_walkthrough_pipeline() {
    let Some(text) = setup("annotation_and_pcr8_match_the_walkthrough_pipeline") else { return };
    let heredoc = seed::initdata_heredoc(text);
    let pcr8_step = seed::pcr8_step(text);
    let dir = tempdir();
    let d = dir.path();
    for (i, host) in HOSTS.iter().enumerate() {
        let cert = openssl_cert(d, host, "my_org", 365);
        let doc = walkthrough_initdata(d, &heredoc, host, &cert, POLICIES[i % POLICIES.len()]);

        // The walkthrough's encoding, decoded by rvkit.
        let shell_annotation = bash(d, "INITDATA=$(cat initdata.toml | gzip | base64 -w0)\necho $INITDATA");
        fs::write(d.join("shell.annotation"), &shell_annotation).unwrap();
        let decoded = rvkit_in(d, &["initdata", "decode", "@shell.annotation"]);
        assert_eq!(ok(decoded).as_bytes(), doc.as_slice());

        // rvkit's encoding, decoded by base64 -d | gzip -d.
        let ours = ok(rvkit_in(d, &["initdata", "encode", "initdata.toml"]));
        assert!(ours.ends_with('\n') && !ours.trim_end().contains(['\n', ' ']), "one line of base64");
        fs::write(d.join("rvkit.annotation"), &ours).unwrap();
        assert_eq!(bash(d, "base64 -d rvkit.annotation | gzip -d"), doc);
        // And it is deterministic: the same document gives the same text.
        assert_eq!(ok(rvkit_in(d, &["initdata", "encode", "initdata.toml"])), ours);

        // PCR8 as the walkthrough computes it.
        let shell_pcr8 = bash(d, &format!("{pcr8_step}echo \"$PCR8_HASH\""));
        let shell_pcr8 = String::from_utf8(shell_pcr8).unwrap();
        let ours = ok(rvkit_in(d, &["initdata", "digest", "initdata.toml", "--platform", "vtpm"]));
        assert_eq!(ours, shell_pcr8);
        let line = ok(rvkit_in(d, &["pcr", "initdata", "initdata.toml"]));
        assert_eq!(line, format!("{}  initdata.toml\n", shell_pcr8.trim_end()));
    }
}

/// A small deterministic generator (splitmix64), so failures reproduce.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// 32 bytes of lowercase hex; some start with zero nibbles or bytes,
    /// which a character-set strip of "0x" would eat.
    fn value(&mut self) -> String {
        let mut bytes: Vec<u8> = (0..32).map(|_| self.next() as u8).collect();
        match self.next() % 4 {
            0 => bytes[0] = 0,
            1 => bytes[0] &= 0x0f,
            2 => {
                bytes[0] = 0;
                bytes[1] = 0x0a;
            }
            _ => {}
        }
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A measurements.json in the podvm format with PCRs from `pcrs` (in that
/// order), not including 8 (which the walkthrough adds from initdata).
fn measurements(g: &mut Gen, pcrs: &[u8], prefix: bool) -> String {
    let entries: Vec<String> = pcrs
        .iter()
        .map(|p| format!("      \"pcr{p:02}\": \"{}{}\"", if prefix { "0x" } else { "" }, g.value()))
        .collect();
    format!("{{\n  \"measurements\": {{\n    \"sha256\": {{\n{}\n    }}\n  }}\n}}\n", entries.join(",\n"))
}

const PCR_SETS: &[&[u8]] = &[
    &[3, 9, 11, 12],
    &[3, 9, 11],
    &[12, 3, 11, 9],
    &[0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15],
    &[23, 17, 4],
];

#[test]
fn reference_values_array_is_byte_identical_to_the_walkthrough_jq() {
    let Some(text) = setup("reference_values_array_is_byte_identical_to_the_walkthrough_jq") else { return };
    let jq = seed::jq_step(text, false);
    let pcr8_step = seed::pcr8_step(text);
    let dir = tempdir();
    let d = dir.path();
    let mut g = Gen(0x5eed);
    for (i, pcrs) in PCR_SETS.iter().enumerate() {
        fs::write(d.join("measurements.json"), measurements(&mut g, pcrs, i != 1)).unwrap();
        fs::write(d.join("initdata.toml"), format!("algorithm = \"sha256\"\nversion = \"0.1.0\"\n\n[data]\n\"aa.toml\" = '''\n# variant {i}\n'''\n")).unwrap();
        let want = bash(
            d,
            &format!(
                "{pcr8_step}JSON_DATA=$(cat measurements.json)\n{jq}printf '%s\\n' \"$REFERENCE_VALUES_JSON\""
            ),
        );
        let got = rvkit_in(
            d,
            &[
                "rvps",
                "emit",
                "--measurements",
                "measurements.json",
                "--initdata",
                "initdata.toml",
                "--expiration",
                EXPIRATION,
            ],
        );
        assert_eq!(ok(got), String::from_utf8(want).unwrap(), "pcr set {pcrs:?}");
    }
}

#[test]
fn reference_values_configmap_is_equivalent_to_the_walkthrough() {
    let Some(text) = setup("reference_values_configmap_is_equivalent_to_the_walkthrough") else { return };
    let script = format!(
        "{}JSON_DATA=$(cat measurements.json)\n{}{}",
        seed::pcr8_step(text),
        seed::jq_step(text, true),
        seed::configmap_heredoc(text)
    );
    let dir = tempdir();
    let d = dir.path();
    let mut g = Gen(42);
    for pcrs in PCR_SETS {
        fs::write(d.join("measurements.json"), measurements(&mut g, pcrs, true)).unwrap();
        fs::write(d.join("initdata.toml"), rvkit_initdata::DUMMY_INITDATA).unwrap();
        bash(d, &script);
        let theirs: serde_yaml_ng::Value =
            serde_yaml_ng::from_slice(&fs::read(d.join("rvps-configmap.yaml")).unwrap())
                .expect("walkthrough YAML");
        let out = rvkit_in(
            d,
            &[
                "rvps",
                "emit",
                "--measurements",
                "measurements.json",
                "--initdata",
                "initdata.toml",
                "--expiration",
                EXPIRATION,
                "--configmap",
            ],
        );
        let ours: serde_yaml_ng::Value = serde_yaml_ng::from_str(&ok(out)).expect("rvkit YAML");
        assert_eq!(ours, theirs, "pcr set {pcrs:?}");
    }
}
