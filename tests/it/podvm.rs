//! `rvkit podvm verify/fetch` and `rvkit rvps emit --image` against a real
//! registry (Debian's docker-registry on loopback), with images built by GNU
//! tar and gzip and signatures made by openssl (the `rvkit-test-support`
//! crate).

use std::fs;
use std::path::Path;

use rvkit_test_support::{
    Image, Registry, Rekor, Sig, SignatureManifest, Signer, Silent, TarBomb, measurements, tar_bomb,
};

use crate::util::{EXPIRATION, bash, fails, have_tools, ok, rvkit_in, tempdir};

/// The peak resident memory `rvkit podvm fetch` may use, whatever the
/// layers hold: the documented bound (a few times the 4 MiB file cap plus
/// fixed buffers; about 27 MiB measured for a 1 GiB image), with room for a
/// debug build.
const MEMORY_BOUND_KIB: u64 = 64 << 10;

/// Runs rvkit under GNU time: its output and its peak resident memory in KiB.
fn with_peak_memory(dir: &Path, args: &[&str]) -> (std::process::Output, u64) {
    let out = std::process::Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o", "peak-rss"])
        .arg(env!("CARGO_BIN_EXE_rvkit"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let kib =
        fs::read_to_string(dir.join("peak-rss")).unwrap().lines().last().unwrap().trim().parse().unwrap();
    (out, kib)
}

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
    // `--platform`, the flag's former name here, still works.
    let flags = access(&reg, &["podvm", "verify", &image, "--platform", "linux/amd64"]);
    assert_eq!(ok(rvkit_in(d, &flags)), pinned);

    // The whole report, text and JSON, with what differs per run (the
    // registry's port, the digests of freshly built and signed blobs)
    // replaced by placeholders.
    let stable = |args: &[&str]| {
        let text = crate::reports::run(d, args).replace(&reg.addr, "REGISTRY");
        numbered_digests(&text)
    };
    insta::assert_snapshot!("podvm_verify", stable(&access(&reg, &["podvm", "verify", &image])));
    insta::assert_snapshot!(
        "podvm_verify_json",
        stable(&access(&reg, &["podvm", "verify", &image, "--json"]))
    );

    let json = ok(rvkit_in(d, &access(&reg, &["podvm", "verify", &image, "--json"])));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["digest"], digest);
    assert_eq!(v["signature_status"], "verified");

    assert_eq!(ok(rvkit_in(d, &access(&reg, &["podvm", "fetch", &image, "-o", "m.json"]))), "");
    fs::write(d.join("i.toml"), rvkit_initdata::DUMMY_INITDATA).unwrap();
    let common = ["--initdata", "i.toml", "--expiration", EXPIRATION];
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

/// `text` with each distinct `sha256:HEX` digest replaced by `sha256:<N>`,
/// numbered in order of first appearance.
fn numbered_digests(text: &str) -> String {
    let mut seen: Vec<String> = Vec::new();
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("sha256:") {
        let (head, tail) = rest.split_at(i + "sha256:".len());
        out.push_str(head);
        let hex: String = tail.chars().take_while(char::is_ascii_hexdigit).collect();
        if hex.len() == 64 {
            let n = seen.iter().position(|h| *h == hex).unwrap_or_else(|| {
                seen.push(hex.clone());
                seen.len() - 1
            });
            out.push_str(&format!("<{}>", n + 1));
            rest = &tail[64..];
        } else {
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn a_registry_that_never_answers_ends_the_command_within_its_timeout() {
    let server = Silent::start();
    let dir = tempdir();
    let d = dir.path();
    fs::write(d.join("cosign.pub"), Signer::new("prime256v1").public_pem).unwrap();
    let image = format!("docker://{}/podvm/silent:v1", server.addr);
    let start = std::time::Instant::now();
    let args = [
        "podvm",
        "fetch",
        &image,
        "--key",
        "cosign.pub",
        "--insecure-ignore-tlog",
        "--insecure-registry",
        &server.addr,
        "--timeout",
        "2",
        "-o",
        "m.json",
    ];
    let stderr = fails(rvkit_in(d, &args), 2);
    assert!(start.elapsed() < std::time::Duration::from_secs(8), "took {:?}", start.elapsed());
    assert_eq!(
        stderr,
        format!(
            "warning: --insecure-ignore-tlog: signatures are accepted without a transparency-log check\n\
             error: the registry for {}/podvm/silent:v1 did not finish within 2 s: manifest for tag v1\n",
            server.addr
        )
    );
    assert!(!d.join("m.json").exists());
}

/// Pushes a one-layer image under `repo:v1`, signed as [`signed_image`] does.
pub(crate) fn push_signed(reg: &Registry, repo: &str, img: &Image, dir: &Path) {
    let (signer, rekor) = (Signer::new("prime256v1"), Rekor::new());
    fs::write(dir.join("cosign.pub"), &signer.public_pem).unwrap();
    fs::write(dir.join("rekor.pub"), &rekor.signer.public_pem).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let digest = reg.push_image(repo, "v1", img).await;
        let sig = Sig::make(&signer, Some(&rekor), &format!("{}/{repo}", reg.addr), &digest);
        reg.push_signatures(repo, &digest, &SignatureManifest::new(&[sig])).await;
    });
}

#[test]
fn deep_paths_and_a_million_entries_stay_within_the_memory_bound() {
    let Some(reg) = Registry::start() else { return };
    if !have_tools("deep_paths_and_a_million_entries", &["gzip", "time"]) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let m = measurements("podvm/bomb");
    // Sixteen empty files 4096 directories deep (paths of 8 KiB, kept with
    // every ancestor they cost about 16 MiB each), a million empty files,
    // then the measurements.
    let bomb = TarBomb {
        deep_files: 16,
        depth: 4096,
        entries: 1_000_000,
        files: vec![("image/measurements.json".into(), m.clone())],
        huge_entry: false,
    };
    let img = Image::new(vec![tar_bomb(&bomb)], "amd64");
    push_signed(&reg, "podvm/bomb", &img, d);
    let image = format!("docker://{}/podvm/bomb:v1", reg.addr);
    let (out, kib) = with_peak_memory(d, &access(&reg, &["podvm", "fetch", &image, "-o", "m.json"]));
    ok(out);
    assert_eq!(fs::read(d.join("m.json")).unwrap(), m);
    assert!(kib < MEMORY_BOUND_KIB, "peak resident memory {kib} KiB");
}

#[test]
fn an_entry_claiming_a_tebibyte_is_refused_within_the_memory_bound() {
    let Some(reg) = Registry::start() else { return };
    if !have_tools("an_entry_claiming_a_tebibyte", &["gzip", "time", "tar"]) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let m = measurements("podvm/huge");
    let bomb = TarBomb {
        files: vec![("image/measurements.json".into(), m)],
        huge_entry: true,
        ..TarBomb::default()
    };
    let layer = tar_bomb(&bomb);
    // GNU tar agrees on what the layer claims: a 1 TiB entry, then an early end.
    fs::write(d.join("layer.tar.gz"), &layer.bytes).unwrap();
    let listing =
        std::process::Command::new("tar").args(["-tvzf", "layer.tar.gz"]).current_dir(d).output().unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.lines().any(|l| l.contains(" 1099511627776 ") && l.ends_with(" huge")), "{listing}");
    let digest = rvkit_test_support::digest_of(&layer.bytes);
    let img = Image::new(vec![layer], "amd64");
    push_signed(&reg, "podvm/huge", &img, d);
    let image = format!("docker://{}/podvm/huge:v1", reg.addr);
    let start = std::time::Instant::now();
    let (out, kib) = with_peak_memory(d, &access(&reg, &["podvm", "fetch", &image, "-o", "m.json"]));
    let stderr = fails(out, 1);
    assert!(start.elapsed() < std::time::Duration::from_secs(20), "took {:?}", start.elapsed());
    assert_eq!(
        stderr,
        format!("error: {}/podvm/huge:v1: layer {digest} is corrupt: unexpected end of file\n", reg.addr)
    );
    assert!(!d.join("m.json").exists());
    assert!(kib < MEMORY_BOUND_KIB, "peak resident memory {kib} KiB");
}
