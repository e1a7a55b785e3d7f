//! `rvkit podvm verify/fetch` and `rvkit rvps emit --image` against a real
//! registry (Debian's docker-registry on loopback), with images built by GNU
//! tar and gzip and signatures made by openssl (see the podvm crate's test
//! harness, shared here).

use std::fs;
use std::path::Path;

use crate::harness::{Image, Registry, Rekor, Sig, SignatureManifest, Signer};
use crate::util::{bash, fails, have_tools, ok, rvkit_in, tempdir};

/// Pushes a podvm image to `repo:v1`, signs it with a Rekor bundle, and
/// writes the keys next to the test's files.
fn signed_image(reg: &Registry, repo: &str, dir: &Path) -> (Image, String) {
    let (signer, rekor) = (Signer::new("prime256v1"), Rekor::new());
    fs::write(dir.join("cosign.pub"), &signer.public_pem).unwrap();
    fs::write(dir.join("rekor.pub"), &rekor.signer.public_pem).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let img = Image::podvm(repo);
        let digest = reg.push_image(repo, "v1", &img).await;
        let sig = Sig::make(&signer, Some(&rekor), &format!("{}/{repo}", reg.addr), &digest);
        reg.push_signatures(repo, &digest, &SignatureManifest::new(&[sig])).await;
        (img, digest)
    })
}

fn access<'a>(reg: &'a Registry, args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend(["--key", "cosign.pub", "--rekor-key", "rekor.pub", "--insecure-registry", &reg.addr]);
    v
}

#[test]
fn verify_fetch_and_emit_from_a_signed_image() {
    let Some(reg) = Registry::start() else { return };
    let dir = tempdir();
    let d = dir.path();
    let (_, digest) = signed_image(&reg, "podvm/e2e", d);
    let image = format!("docker://{}/podvm/e2e:v1", reg.addr);

    let pinned = ok(rvkit_in(d, &access(&reg, &["podvm", "verify", &image])));
    assert!(pinned.trim_end().ends_with(&format!("{}/podvm/e2e@{digest}", reg.addr)), "{pinned}");

    let json = ok(rvkit_in(d, &access(&reg, &["podvm", "verify", &image, "--json"])));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["digest"], digest);
    assert_eq!(v["signature_status"], "verified");

    assert_eq!(ok(rvkit_in(d, &access(&reg, &["podvm", "fetch", &image, "-o", "m.json"]))), "");
    fs::write(d.join("i.toml"), rvkit_initdata::DUMMY_INITDATA).unwrap();
    let common = ["--initdata", "i.toml", "--expiration", "2027-12-12T00:00:00Z"];
    let from_image =
        ok(rvkit_in(d, &access(&reg, &[&["rvps", "emit", "--image", &image][..], &common].concat())));
    let from_file = ok(rvkit_in(d, &[&["rvps", "emit", "--measurements", "m.json"][..], &common].concat()));
    assert_eq!(from_image, from_file);

    // The walkthrough's path: pull the whole image (skopeo), take the file
    // out of the layer (tar), run its jq program; same reference values.
    if have_tools("verify_fetch_and_emit_from_a_signed_image", &["skopeo", "jq", "tar"]) {
        let script = format!(
            "skopeo copy -q --src-tls-verify=false docker://{addr}/podvm/e2e@{digest} dir:pulled
             for layer in $(jq -r '.layers[].digest | sub(\"sha256:\"; \"\")' pulled/manifest.json); do
               mkdir -p rootfs && tar -xzf pulled/$layer -C rootfs
             done
             cmp rootfs/image/measurements.json m.json",
            addr = reg.addr
        );
        bash(d, &script);
    }
}

#[test]
fn wrong_key_exits_1_and_writes_nothing() {
    let Some(reg) = Registry::start() else { return };
    let dir = tempdir();
    let d = dir.path();
    signed_image(&reg, "podvm/wrong", d);
    let other = Signer::new("prime256v1");
    fs::write(d.join("cosign.pub"), &other.public_pem).unwrap();
    let image = format!("docker://{}/podvm/wrong:v1", reg.addr);
    let stderr = fails(rvkit_in(d, &access(&reg, &["podvm", "fetch", &image, "-o", "m.json"])), 1);
    assert!(stderr.contains("signature"), "{stderr}");
    assert!(!d.join("m.json").exists());
    let stderr = fails(rvkit_in(d, &access(&reg, &["rvps", "emit", "--image", &image, "-o", "rv.json"])), 1);
    assert!(stderr.contains("signature"), "{stderr}");
    assert!(!d.join("rv.json").exists());
}

#[test]
fn missing_rekor_key_is_refused_unless_the_tlog_is_waived() {
    let Some(reg) = Registry::start() else { return };
    let dir = tempdir();
    let d = dir.path();
    signed_image(&reg, "podvm/tlog", d);
    let image = format!("docker://{}/podvm/tlog:v1", reg.addr);
    let base = ["podvm", "verify", &image, "--key", "cosign.pub", "--insecure-registry", &reg.addr];
    let stderr = fails(rvkit_in(d, &base), 2);
    assert!(stderr.contains("rekor") || stderr.contains("Rekor"), "{stderr}");
    let out = rvkit_in(d, &[&base[..], &["--insecure-ignore-tlog"]].concat());
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning"), "a waived check is announced");
    ok(out);
    let stderr = fails(rvkit_in(d, &["podvm", "verify", &image, "--insecure-registry", &reg.addr]), 2);
    assert!(stderr.contains("--key"), "{stderr}");
}
