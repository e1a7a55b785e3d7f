//! `cargo xtask test`: the whole suite, with its tools checked first.

use anyhow::{Result, bail};

use crate::util::{cargo, on_path, run as run_cmd};

/// Programs the test suite runs, and the Debian package that ships each.
pub const REQUIRED: &[(&str, &str)] = &[
    ("bash", "bash"),
    ("gzip", "gzip"),
    ("base64", "coreutils"),
    ("sha256sum", "coreutils"),
    ("xxd", "xxd"),
    ("jq", "jq"),
    ("openssl", "openssl"),
    ("swtpm", "swtpm"),
    ("swtpm_setup", "swtpm-tools"),
    ("tpm2_pcrextend", "tpm2-tools"),
    ("tpm2_pcrread", "tpm2-tools"),
    ("docker-registry", "docker-registry"),
    ("htpasswd", "apache2-utils"),
    ("skopeo", "skopeo"),
    ("tar", "tar"),
    ("basenc", "coreutils"),
    ("python3", "python3"),
    ("kubectl", "kubernetes-client"),
];

pub fn run(args: &[String]) -> Result<()> {
    let missing: Vec<_> = REQUIRED.iter().filter(|(prog, _)| !on_path(prog)).collect();
    if !missing.is_empty() {
        let mut pkgs: Vec<&str> = missing.iter().map(|(_, p)| *p).collect();
        pkgs.sort_unstable();
        pkgs.dedup();
        let progs: Vec<&str> = missing.iter().map(|(p, _)| *p).collect();
        bail!(
            "the test suite needs {} which {} not installed; install with:\n  sudo apt-get install -y {}",
            progs.join(", "),
            if progs.len() == 1 { "is" } else { "are" },
            pkgs.join(" ")
        );
    }
    if std::process::Command::new("python3")
        .args(["-c", "import kubernetes_validate, jsonschema, yaml"])
        .output()
        .map_or(true, |o| !o.status.success())
    {
        bail!(
            "the schema tests need Python packages that are not installed; install with:\n  \
             python3 -m pip install kubernetes-validate==1.37.0 jsonschema==4.26.0 PyYAML==6.0.3"
        );
    }
    if std::process::Command::new("python3")
        .args(["-c", "import sevsnpmeasure, signify"])
        .output()
        .map_or(true, |o| !o.status.success())
    {
        bail!(
            "the launch-value and Authenticode oracles need Python packages that are not installed; \
             install with:\n  python3 -m pip install sev-snp-measure==0.0.13 signify==0.9.3"
        );
    }
    // The OpenShift and cert-manager schemas come from two packages; the
    // validator knows where it looks and prints the install line of each
    // one it cannot find.
    let probe = std::process::Command::new("python3")
        .arg(crate::util::root().join("tests/data/bundle/validate.py"))
        .arg("--probe")
        .output()?;
    if !probe.status.success() {
        bail!(
            "the schema tests need the OpenShift Route and cert-manager schemas; install with:\n  {}",
            String::from_utf8_lossy(&probe.stdout).trim().replace('\n', "\n  ")
        );
    }
    // Tests that need a service start it themselves on 127.0.0.1 with an
    // ephemeral port; this variable makes them fail instead of skip when a
    // tool is missing, exactly as they do in CI.
    let mut c = cargo();
    c.env("RVKIT_REQUIRE_SERVICES", "1").args(["test", "--workspace", "--locked"]);
    c.args(args);
    run_cmd(&mut c)
}
