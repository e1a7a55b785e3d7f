//! `cargo xtask demo`: the walkthrough's initdata and reference-value steps on
//! an embedded default, computed by the `rvkit` binary.

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::util::{build_rvkit, output, root, target_dir};

/// The walkthrough's route host on a demo cluster domain.
const KBS_HOST: &str = "kbs-service-trustee-operator-system.apps.demo.example.com";

pub fn run(_args: &[String]) -> Result<()> {
    let rvkit = build_rvkit(false)?;
    let out = target_dir().join("demo");
    if out.exists() {
        fs::remove_dir_all(&out).with_context(|| format!("cannot clean {}", out.display()))?;
    }
    fs::create_dir_all(&out)?;

    // A self-signed certificate standing in for the one cert-manager issues
    // in the walkthrough (CN kbs-trustee-operator-system, SAN = route host).
    let cert_pem = demo_certificate()?;
    let cert = out.join("kbs-tls.crt");
    fs::write(&cert, cert_pem)?;

    let rv = |args: &[&str]| -> Result<String> {
        let bytes = output(Command::new(&rvkit).args(args).current_dir(&out))?;
        Ok(String::from_utf8(bytes)?.trim_end().to_owned())
    };
    let kbs_url = format!("https://{KBS_HOST}");
    rv(&["initdata", "render", "--kbs-url", &kbs_url, "--kbs-cert", "kbs-tls.crt", "-o", "initdata.toml"])?;
    rv(&["initdata", "check", "initdata.toml"])?;
    let digest = rv(&["initdata", "digest", "initdata.toml"])?;
    let pcr8 = rv(&["initdata", "digest", "initdata.toml", "--platform", "vtpm"])?;
    rv(&["initdata", "encode", "initdata.toml", "-o", "initdata.annotation"])?;
    let measurements = root().join("data/demo/measurements.json");
    let m = measurements.to_str().context("non-UTF-8 path")?;
    rv(&[
        "rvps",
        "emit",
        "--measurements",
        m,
        "--initdata",
        "initdata.toml",
        "--configmap",
        "-o",
        "rvps-configmap.yaml",
    ])?;
    rv(&[
        "rvps",
        "emit",
        "--measurements",
        m,
        "--initdata",
        "initdata.toml",
        "--format",
        "kv",
        "-o",
        "reference-values.kv.json",
    ])?;

    let annotation_len = fs::metadata(out.join("initdata.annotation"))?.len();
    println!("rvkit demo: the walkthrough's initdata and reference values for {KBS_HOST}");
    println!();
    println!("  initdata.toml             {}", short(&digest));
    println!("  PCR8 (vTPM, SHA-256)      {pcr8}");
    println!("  initdata.annotation       {annotation_len} bytes of gzip+base64 for");
    println!("                            io.katacontainers.config.hypervisor.cc_init_data");
    println!("  rvps-configmap.yaml       reference values (array format, Trustee <= v0.18)");
    println!("  reference-values.kv.json  the same in the key/value format (Trustee v0.19+)");
    println!();
    println!("written to {}", show(&out));
    println!(
        "explain a value:  {} initdata digest {}/initdata.toml --platform vtpm --transcript",
        show(&rvkit),
        show(&out)
    );
    Ok(())
}

fn short(sha256sum_line: &str) -> &str {
    sha256sum_line.split_whitespace().next().unwrap_or(sha256sum_line)
}

fn show(p: &Path) -> String {
    p.strip_prefix(root()).map(|r| r.display().to_string()).unwrap_or_else(|_| p.display().to_string())
}

fn demo_certificate() -> Result<String> {
    let mut params = rcgen::CertificateParams::new(vec![KBS_HOST.to_owned()])?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, "kbs-trustee-operator-system");
    dn.push(rcgen::DnType::OrganizationName, "my_org");
    params.distinguished_name = dn;
    let key = rcgen::KeyPair::generate()?;
    Ok(params.self_signed(&key)?.pem())
}
