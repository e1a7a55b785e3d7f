//! The exact output of every report, text and JSON: each command's exit
//! code, stdout and stderr compared whole with a snapshot in
//! `tests/it/snapshots/`, so a reordered, duplicated or reworded line fails.
//! After an intended change, run with `INSTA_UPDATE=always` and review the
//! snapshot diff; never edit a snapshot by hand.
//!
//! The inputs are in `tests/data/reports` (see its README). These tests pin
//! the reports' shape; the values in them are checked against independent
//! tools by the other modules (parity, tpm, attest).

use std::fs;
use std::path::Path;

use crate::util::{rvkit_in, tempdir};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/reports");

/// A fresh directory holding the fixtures, and reference values made from
/// them: `rv.json` (array), `rv-kv.yaml` (kv ConfigMap, later expiration)
/// and `rv-extra.json` (one more name, one changed value).
fn fixtures() -> tempfile::TempDir {
    let dir = tempdir();
    for entry in fs::read_dir(DATA).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let d = dir.path();
    let emit = |args: &[&str]| {
        let out = rvkit_in(d, &[&["rvps", "emit", "--measurements", "measurements.json"][..], args].concat());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    emit(&["--initdata", "initdata.toml", "--expiration", "9030-01-01T00:00:00Z", "-o", "rv.json"]);
    emit(&[
        "--initdata",
        "initdata.toml",
        "warn-initdata.toml",
        "--format",
        "kv",
        "--configmap",
        "--expiration",
        "9031-01-01T00:00:00Z",
        "-o",
        "rv-kv.yaml",
    ]);
    fs::write(
        d.join("rv-extra.json"),
        r#"[{"name":"snp_pcr03","expiration":"9030-01-01T00:00:00Z","value":["ab"]},
            {"name":"xfam","expiration":"9029-01-01T00:00:00Z","value":"e718060000000000"}]"#,
    )
    .unwrap();
    dir
}

/// Runs `rvkit args` in `dir` and shows what a user sees: the command, its
/// exit code, stdout and stderr.
pub fn run(dir: &Path, args: &[&str]) -> String {
    let out = rvkit_in(dir, args);
    format!(
        "$ rvkit {}\nexit: {}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        out.status.code().map_or("signal".to_owned(), |c| c.to_string()),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts that `rvkit args` prints exactly the snapshot `name`.
macro_rules! report {
    ($name:literal, $dir:expr, $args:expr) => {
        insta::assert_snapshot!($name, run($dir, &$args))
    };
}

#[test]
fn initdata_reports() {
    let dir = fixtures();
    let d = dir.path();
    report!("initdata_check", d, ["initdata", "check", "warn-initdata.toml"]);
    report!("initdata_check_json", d, ["initdata", "check", "warn-initdata.toml", "--json"]);
    report!("initdata_check_errors", d, ["initdata", "check", "bad-initdata.toml"]);
    report!("initdata_check_errors_json", d, ["initdata", "check", "bad-initdata.toml", "--json"]);
    let annotation = String::from_utf8(rvkit_in(d, &["initdata", "encode", "initdata.toml"]).stdout).unwrap();
    fs::write(d.join("annotation.txt"), annotation).unwrap();
    report!("initdata_encode", d, ["initdata", "encode", "initdata.toml"]);
    report!("initdata_check_annotation", d, ["initdata", "check", "--annotation", "@annotation.txt"]);
    report!("initdata_digest", d, ["initdata", "digest", "initdata.toml"]);
    report!("initdata_digest_platform", d, ["initdata", "digest", "initdata.toml", "--platform", "vtpm"]);
    report!("initdata_digest_json", d, ["initdata", "digest", "bad-initdata.toml", "--json", "--transcript"]);
    report!(
        "initdata_digest_platform_json",
        d,
        ["initdata", "digest", "bad-initdata.toml", "--json", "--platform", "tdx"]
    );
}

#[test]
fn pcr_reports() {
    let dir = fixtures();
    let d = dir.path();
    report!("pcr_hash", d, ["pcr", "hash", "initdata.toml", "two-banks.bin", "--bank", "sha384"]);
    report!(
        "pcr_extend",
        d,
        [
            "pcr",
            "extend",
            "--transcript",
            "8505e4e25e50a27c5dc8147af88efbece627fbea55291911eff832d9ee127781",
            "0x0000000000000000000000000000000000000000000000000000000000000001"
        ]
    );
    report!("pcr_initdata", d, ["pcr", "initdata", "initdata.toml", "bad-initdata.toml", "--transcript"]);
    report!("pcr_initdata_json", d, ["pcr", "initdata", "initdata.toml", "warn-initdata.toml", "--json"]);
    report!("pcr_replay", d, ["pcr", "replay", "two-banks.bin"]);
    report!("pcr_replay_json", d, ["pcr", "replay", "two-banks.bin", "--json"]);
    report!(
        "pcr_replay_selected",
        d,
        ["pcr", "replay", "two-banks.bin", "--bank", "sha256", "--pcrs", "0,7", "--transcript"]
    );
    report!("pcr_replay_expect", d, ["pcr", "replay", "two-banks.bin", "--expect", "expect-tpm.yaml"]);
    report!(
        "pcr_replay_expect_differs",
        d,
        ["pcr", "replay", "two-banks.bin", "--expect", "expect-differs.json"]
    );
    report!(
        "pcr_replay_expect_differs_json",
        d,
        ["pcr", "replay", "two-banks.bin", "--expect", "expect-differs.json", "--json"]
    );
    report!("pcr_replay_tdx", d, ["pcr", "replay", "ccel.bin", "--tdx", "--transcript"]);
    report!("pcr_replay_tdx_json", d, ["pcr", "replay", "ccel.bin", "--tdx", "--json"]);
    report!("pcr_replay_tdx_pcr", d, ["pcr", "replay", "ccel.bin", "--tdx=pcr", "--pcrs", "1,2"]);
}

#[test]
fn rvps_reports() {
    let dir = fixtures();
    let d = dir.path();
    report!(
        "rvps_emit_transcript",
        d,
        [
            "rvps",
            "emit",
            "--measurements",
            "measurements.json",
            "--initdata",
            "initdata.toml",
            "--dummy-initdata",
            "--platform",
            "snp",
            "--format",
            "kv",
            "--expiration",
            "9030-01-01T00:00:00Z",
            "--transcript"
        ]
    );
    let check = ["rvps", "check", "--reference-values"];
    report!("rvps_check", d, [&check[..], &["rv.json", "--claims", "claims-ok.json"]].concat());
    report!(
        "rvps_check_json",
        d,
        [&check[..], &["rv.json", "--claims", "claims-ok.json", "--json"]].concat()
    );
    let bad = ["rv-kv.yaml", "--claims", "claims-bad.json", "--initdata", "warn-initdata.toml"];
    report!("rvps_check_failed", d, [&check[..], &bad].concat());
    report!("rvps_check_failed_json", d, [&check[..], &bad, &["--json"]].concat());
    report!(
        "rvps_check_policy",
        d,
        [&check[..], &["rv.json", "--claims", "claims-bad.json", "--policy", "policy.rego"]].concat()
    );
    report!("rvps_coverage", d, ["rvps", "coverage", "--reference-values", "rv.json"]);
    report!(
        "rvps_coverage_json",
        d,
        ["rvps", "coverage", "--reference-values", "rv-kv.yaml", "--tee", "az-snp-vtpm", "--json"]
    );
    report!(
        "rvps_coverage_missing",
        d,
        [
            "rvps",
            "coverage",
            "--reference-values",
            "rv-extra.json",
            "--policy",
            "policy.rego",
            "--fail-on-missing"
        ]
    );
    report!(
        "rvps_coverage_unknown_tee",
        d,
        ["rvps", "coverage", "--reference-values", "rv.json", "--tee", "vtpm"]
    );
    report!("rvps_diff", d, ["rvps", "diff", "rv.json", "rv-kv.yaml"]);
    report!("rvps_diff_json", d, ["rvps", "diff", "rv.json", "rv-extra.json", "--json", "--fail-on-change"]);
    report!("rvps_merge", d, ["rvps", "merge", "rv-kv.yaml", "rv-extra.json", "--configmap"]);
}

#[test]
fn bundle_reports() {
    let dir = fixtures();
    let d = dir.path();
    // cert-manager mode before the certificate exists: no key material, so
    // the whole output is fixed.
    let render = [
        "bundle",
        "--domain",
        "apps.example.com",
        "--measurements",
        "measurements.json",
        "--signed-image=",
        "--default-policy",
        "insecureAcceptAnything",
        "--expiration",
        "9030-01-01T00:00:00Z",
    ];
    report!("bundle_render_json", d, [&render[..], &["-o", "cm", "--json"]].concat());
    report!("bundle_check", d, ["bundle", "check", "cm"]);
    report!("bundle_check_json", d, ["bundle", "check", "cm", "--json"]);
    // A complete local-mode bundle whose Route no longer matches.
    report!("bundle_render_local", d, [&render[..], &["--keys", "local", "-o", "local"]].concat());
    let route = d.join("local/route.yaml");
    let text = fs::read_to_string(&route).unwrap().replace("host: kbs-service-", "host: kbs-other-");
    fs::write(&route, text).unwrap();
    report!("bundle_check_inconsistent", d, ["bundle", "check", "local"]);
    report!("bundle_check_inconsistent_json", d, ["bundle", "check", "local", "--json"]);
}
