//! `cargo xtask demo`: the whole walkthrough on an embedded default, offline.
//!
//! It builds a small signed podvm image on the spot (an OCI layout with the
//! demo disk and its measurements, signed with a demo cosign key, with a
//! bundle from a demo Rekor key), checks the published measurements against
//! the PCRs predicted from the image's disk (and shows a changed value being
//! caught), renders the Trustee configuration with `rvkit bundle
//! --predict=check` against it, and checks the result with `rvkit bundle
//! check`. Every value is computed by the `rvkit` binary or the library
//! crates.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};
use rvkit_podvm::ImagePlatform;
use rvkit_podvm::publish::{CosignKey, DemoRekorLog, sign_layout_image, write_image_layout};

use crate::util::{build_rvkit, have_release_rvkit, output, root, target_dir};

/// The repository the demo image claims to come from (it is only ever read
/// from the local layout).
const IMAGE_REPO: &str = "registry.example/openshift-sandboxed-containers/osc-dm-verity-image";
const TAG: &str = "demo";

pub fn run(_args: &[String]) -> Result<()> {
    let rvkit = build_rvkit(have_release_rvkit())?;
    println!("xtask: running the demo with {}", show(&rvkit));
    let started = Instant::now();
    let out = target_dir().join("demo");
    if out.exists() {
        fs::remove_dir_all(&out).with_context(|| format!("cannot clean {}", out.display()))?;
    }
    fs::create_dir_all(&out)?;

    // 1. A signed podvm image, as a release pipeline would publish it.
    println!("xtask: publishing a signed demo podvm image to {}", show(&out.join("podvm-image")));
    let measurements = fs::read(root().join("data/demo/measurements.json"))?;
    // A small disk shaped like a podvm's (data/demo/README.md); a real one is several GiB.
    let qcow2 = fs::read(root().join("data/demo/podvm.qcow2"))?;
    let image_dir = out.join("podvm-image");
    write_image_layout(
        &image_dir,
        TAG,
        &[("image/measurements.json", &measurements), ("image/podvm.qcow2", &qcow2)],
        &ImagePlatform::default(),
    )?;
    let signing_key = CosignKey::generate()?;
    let rekor = DemoRekorLog::generate()?;
    let digest = sign_layout_image(&image_dir, TAG, &signing_key, IMAGE_REPO, Some(&rekor))?;
    fs::write(out.join("podvm-cosign.pub"), signing_key.public_key_pem())?;
    fs::write(out.join("rekor.pub"), rekor.public_key_pem())?;
    // The key that signs workload container images (the walkthrough's cosign.pub).
    fs::write(out.join("cosign.pub"), CosignKey::generate()?.public_key_pem())?;

    // 2. The configuration: the walkthrough's values, local keys so the
    //    bundle is complete in one run, the demo image as the podvm.
    fs::write(out.join("trustee.toml"), DEMO_CONFIG)?;

    let rv = |args: &[&str]| -> Result<String> {
        let bytes = output(Command::new(&rvkit).args(args).current_dir(&out))?;
        Ok(String::from_utf8(bytes)?.trim_end().to_owned())
    };
    println!(
        "xtask: rvkit podvm verify, podvm fetch, podvm predict --check, bundle --predict=check, bundle check\n"
    );
    let image = format!("oci:podvm-image:{TAG}");
    let access = ["--key", "podvm-cosign.pub", "--rekor-key", "rekor.pub", "--identity", IMAGE_REPO];
    let with_access =
        |args: &[&str]| -> Vec<String> { args.iter().chain(access.iter()).map(|s| s.to_string()).collect() };
    let rv_access = |args: &[&str]| -> Result<String> {
        let all = with_access(args);
        rv(&all.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let pinned = rv_access(&["podvm", "verify", &image])?;
    // The release's measurements.json against the PCRs its own disk boots to.
    rv_access(&["podvm", "fetch", &image, "-o", "published-measurements.json"])?;
    let check = rv_access(&["podvm", "predict", &image, "--check", "published-measurements.json"])?;
    // The same check catches a published value that is not what the disk boots to.
    let published = fs::read_to_string(out.join("published-measurements.json"))?;
    let pcr11 = published
        .lines()
        .find_map(|l| l.trim().strip_prefix("\"pcr11\": \"0x"))
        .map(|v| v.chars().take(64).collect::<String>())
        .context("the demo measurements.json has a pcr11")?;
    fs::write(out.join("changed-measurements.json"), published.replace(&pcr11, &"ab".repeat(32)))?;
    let changed = Command::new(&rvkit)
        .args(with_access(&["podvm", "predict", &image, "--check", "changed-measurements.json"]))
        .current_dir(&out)
        .output()?;
    let caught = String::from_utf8_lossy(&changed.stderr).lines().last().unwrap_or_default().to_owned();
    anyhow::ensure!(
        changed.status.code() == Some(1) && caught.ends_with("differs from the prediction at sha256:pcr11"),
        "podvm predict --check did not catch a changed pcr11: {}\n{caught}",
        changed.status
    );
    let summary = rv(&["bundle", "--config", "trustee.toml", "-o", "bundle", "--json", "--predict=check"])?;
    rv(&["bundle", "check", "bundle"])?;
    let elapsed = started.elapsed();

    let summary: serde_json::Value = serde_json::from_str(&summary).context("rvkit bundle --json")?;
    println!("rvkit demo: the walkthrough's Trustee configuration, computed offline\n");
    println!("podvm image   {pinned}");
    println!("              signature by podvm-cosign.pub over {digest},");
    println!("              logged by the demo Rekor key rekor.pub; both checked before any value is used");
    println!("\nits measurements.json against the PCRs predicted from its /image/podvm.qcow2");
    println!("(rvkit podvm predict {image} --check published-measurements.json):");
    for line in check.lines() {
        println!("  {line}");
    }
    println!("with pcr11 changed (changed-measurements.json), exit 1:\n  {caught}");
    println!("rvkit bundle --predict=check ran the same check before using the values\n");
    if let Some(url) = summary["kbs_url"].as_str() {
        println!("KBS URL       {url}");
    }
    if let Some(pcr8) = summary["pcr8"].as_object() {
        for (document, value) in pcr8 {
            println!("PCR8          {}  ({document})", value.as_str().unwrap_or("?"));
        }
    }
    println!("\nbundle/ (checked with `rvkit bundle check`):");
    let mut files: Vec<String> = fs::read_dir(out.join("bundle"))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    files.sort();
    for f in files.iter().filter(|f| !f.starts_with('.')) {
        println!("  {f}");
    }
    println!("\nwritten to {} in {:.1} s", show(&out), elapsed.as_secs_f64());
    println!("next: read {}/bundle/NEXT-STEPS.md; explain PCR8 with", show(&out));
    println!(
        "  {} initdata digest {}/bundle/initdata.toml --platform vtpm --transcript",
        show(&rvkit),
        show(&out)
    );
    Ok(())
}

fn show(p: &Path) -> String {
    p.strip_prefix(root()).map(|r| r.display().to_string()).unwrap_or_else(|_| p.display().to_string())
}

/// The demo configuration: `rvkit bundle --init`'s walkthrough values with a
/// demo cluster domain, locally generated keys and the demo podvm image.
const DEMO_CONFIG: &str = r#"# rvkit demo configuration (see `rvkit bundle --init` for every field)
domain = "apps.demo.example.com"
namespace = "trustee-operator-system"
route_name = "kbs-service"
profile = "Restricted"
service_type = "ClusterIP"
keys = "local"

[certificate]
common_name = "kbs-trustee-operator-system"
organization = "my_org"

[image_policy]
default_policy = "reject"
policy_secret = "trustee-image-policy"
policy_key = "policy"

[[image_policy.signed]]
scope = "quay.io/confidential-devhub/signed"
key = "cosign.pub"
secret = "conf-devhub-signature"
secret_key = "pub-key"

[initdata]
algorithm = "sha256"

[reference_values]
format = "array"
tees = ["snp", "tdx"]

[podvm]
images = ["oci:podvm-image:demo"]
key = "podvm-cosign.pub"
rekor_key = "rekor.pub"
identity = "registry.example/openshift-sandboxed-containers/osc-dm-verity-image"
"#;
