//! `rvkit podvm verify/fetch` and `rvkit rvps emit --image` against a real
//! registry (Debian's docker-registry on loopback), with images built by GNU
//! tar and gzip and signatures made by openssl (the `rvkit-test-support`
//! crate).

use std::fs;
use std::path::Path;

use rvkit_test_support::{
    Fault, Image, Proxy, Registry, Rekor, Signer, Silent, TarBomb, digest_of, measurements, sha256_hex,
    tar_bomb,
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
    let img = Image::podvm(repo);
    let digest = rt.block_on(reg.push_signed_image(repo, "v1", &img, &signer, Some(&rekor)));
    (img, digest)
}

fn access<'a>(reg: &'a Registry, args: &[&'a str]) -> Vec<&'a str> {
    access_at(&reg.addr, args)
}

/// `args` with the test's keys, reaching the registry (or a proxy) at `addr`.
fn access_at<'a>(addr: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend(["--key", "cosign.pub", "--rekor-key", "rekor.pub", "--insecure-registry", addr]);
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
fn push_signed(reg: &Registry, repo: &str, img: &Image, dir: &Path) {
    let (signer, rekor) = (Signer::new("prime256v1"), Rekor::new());
    fs::write(dir.join("cosign.pub"), &signer.public_pem).unwrap();
    fs::write(dir.join("rekor.pub"), &rekor.signer.public_pem).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(reg.push_signed_image(repo, "v1", img, &signer, Some(&rekor)));
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

/// The SHA-256 PCR 3 and 11 annotations of an annotated test image, with
/// values made from `marker` (unlike those of its layer).
fn annotation_values(marker: &str) -> Vec<(String, String)> {
    ["03", "11"]
        .iter()
        .map(|pcr| {
            (
                format!("io.github.confidential-containers.measurements.sha256.pcr{pcr}"),
                format!("0x{}", sha256_hex(format!("{marker}/annotation/{pcr}").as_bytes())),
            )
        })
        .collect()
}

fn as_pairs(values: &[(String, String)]) -> Vec<(&str, &str)> {
    values.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Whether the proxy saw a request for the image's (only) layer.
fn layer_requested(proxy: &Proxy, img: &Image) -> bool {
    let blob = format!("/blobs/{}", digest_of(&img.layers[0].bytes));
    proxy.request_lines().iter().any(|l| l.contains(&blob))
}

#[test]
fn measurements_come_from_the_signed_manifest_annotations_without_a_layer_download() {
    let Some(reg) = Registry::start() else { return };
    let dir = tempdir();
    let d = dir.path();
    let values = annotation_values("podvm/annotated");
    let img = Image::podvm("podvm/annotated").with_annotations(&as_pairs(&values));
    push_signed(&reg, "podvm/annotated", &img, d);
    // The measurements file the annotations stand for, written by hand.
    fs::write(
        d.join("expected.json"),
        format!(
            "{{\"measurements\":{{\"sha256\":{{\"pcr03\":\"{}\",\"pcr11\":\"{}\"}}}}}}",
            values[0].1, values[1].1
        ),
    )
    .unwrap();
    fs::write(d.join("i.toml"), rvkit_initdata::DUMMY_INITDATA).unwrap();
    let common = ["--initdata", "i.toml", "--expiration", EXPIRATION];
    let from_file =
        ok(rvkit_in(d, &[&["rvps", "emit", "--measurements", "expected.json"][..], &common].concat()));

    let proxy = Proxy::start(&reg.addr, Fault::None);
    let image = format!("docker://{}/podvm/annotated:v1", proxy.addr);
    let from_image = ok(rvkit_in(
        d,
        &access_at(&proxy.addr, &[&["rvps", "emit", "--image", &image][..], &common].concat()),
    ));
    assert_eq!(from_image, from_file);
    assert!(ok(rvkit_in(d, &access_at(&proxy.addr, &["podvm", "fetch", &image, "-o", "m.json"]))).is_empty());
    assert!(!layer_requested(&proxy, &img), "{:#?}", proxy.request_lines());

    // The report says where the values came from; asked for the layers, the
    // same image gives the file its layer holds.
    let stable = |args: &[&str]| {
        let text = crate::reports::run(d, args).replace(&proxy.addr, "REGISTRY");
        numbered_digests(&text)
    };
    insta::assert_snapshot!(
        "podvm_fetch_annotations",
        stable(&access_at(&proxy.addr, &["podvm", "fetch", &image]))
    );
    assert!(!layer_requested(&proxy, &img));
    insta::assert_snapshot!(
        "podvm_fetch_layers",
        stable(&access_at(&proxy.addr, &["podvm", "fetch", &image, "--measurements-from", "layers"]))
    );
    assert!(layer_requested(&proxy, &img));
    let emit =
        ["rvps", "emit", "--image", &image, "--dummy-initdata", "--expiration", EXPIRATION, "--transcript"];
    insta::assert_snapshot!("rvps_emit_annotations_transcript", stable(&access_at(&proxy.addr, &emit)));

    // jq, reading the manifest skopeo fetches, turns the annotations into
    // the same measurements.
    if have_tools("measurements_come_from_the_signed_manifest_annotations", &["skopeo", "jq"]) {
        let script = format!(
            r#"skopeo inspect --raw --tls-verify=false docker://{addr}/podvm/annotated:v1 \
               | jq '{{measurements: (.annotations | to_entries
                   | map(select(.key | startswith("io.github.confidential-containers.measurements."))
                         | (.key | ltrimstr("io.github.confidential-containers.measurements.") | split(".")) as [$bank, $pcr]
                         | {{bank: $bank, pcr: $pcr, value}})
                   | group_by(.bank) | map({{key: .[0].bank, value: (map({{key: .pcr, value}}) | from_entries)}})
                   | from_entries)}}' > oracle.json
             test "$(jq -S . oracle.json)" = "$(jq -S . m.json)"
             test "$(jq -S . oracle.json)" = "$(jq -S . expected.json)""#,
            addr = reg.addr
        );
        bash(d, &script);
    }
}

#[test]
fn without_annotations_the_layers_are_read_unless_annotations_are_required() {
    let Some(reg) = Registry::start() else { return };
    let dir = tempdir();
    let d = dir.path();
    let img = Image::podvm("podvm/plain");
    push_signed(&reg, "podvm/plain", &img, d);
    let proxy = Proxy::start(&reg.addr, Fault::None);
    let image = format!("docker://{}/podvm/plain:v1", proxy.addr);
    assert!(ok(rvkit_in(d, &access_at(&proxy.addr, &["podvm", "fetch", &image, "-o", "m.json"]))).is_empty());
    assert_eq!(fs::read(d.join("m.json")).unwrap(), measurements("podvm/plain"));
    assert!(layer_requested(&proxy, &img));

    let proxy = Proxy::start(&reg.addr, Fault::None);
    let image = format!("docker://{}/podvm/plain:v1", proxy.addr);
    let args = ["rvps", "emit", "--image", &image, "--measurements-from", "annotations", "-o", "rv.json"];
    let stderr = fails(rvkit_in(d, &access_at(&proxy.addr, &args)), 2);
    assert_eq!(
        stderr,
        format!(
            "error: {}/podvm/plain@{} has no measurement annotations \
             (io.github.confidential-containers.measurements.*) in its manifest\n",
            proxy.addr,
            img.digest()
        )
    );
    assert!(!d.join("rv.json").exists());
    assert!(!layer_requested(&proxy, &img));
    // Annotations give /image/measurements.json only.
    let args = ["podvm", "fetch", &image, "--path", "/etc/os-release", "--measurements-from", "annotations"];
    let stderr = fails(rvkit_in(d, &access_at(&proxy.addr, &args)), 2);
    assert_eq!(
        stderr,
        "error: --measurements-from annotations gives /image/measurements.json only; --path names /etc/os-release\n"
    );
}

#[test]
fn a_malformed_annotation_exits_2_naming_it_and_writes_nothing() {
    let Some(reg) = Registry::start() else { return };
    let dir = tempdir();
    let d = dir.path();
    let mut values = annotation_values("podvm/malformed");
    values[1].1.truncate(40);
    let img = Image::podvm("podvm/malformed").with_annotations(&as_pairs(&values));
    push_signed(&reg, "podvm/malformed", &img, d);
    let proxy = Proxy::start(&reg.addr, Fault::None);
    let image = format!("docker://{}/podvm/malformed:v1", proxy.addr);
    let expected = format!(
        "error: {}/podvm/malformed@{} (manifest annotations): bad value for manifest annotation \
         \"io.github.confidential-containers.measurements.sha256.pcr11\": sha256 digest must be 32 bytes \
         (64 hex digits), got 19 bytes\n",
        proxy.addr,
        img.digest()
    );
    let args = ["rvps", "emit", "--image", &image, "--dummy-initdata", "-o", "rv.json"];
    assert_eq!(fails(rvkit_in(d, &access_at(&proxy.addr, &args)), 2), expected);
    assert!(!d.join("rv.json").exists());
    let args = ["podvm", "fetch", &image, "-o", "m.json"];
    assert_eq!(fails(rvkit_in(d, &access_at(&proxy.addr, &args)), 2), expected);
    assert!(!d.join("m.json").exists());
    assert!(!layer_requested(&proxy, &img), "a bad annotation does not fall back to the layers");
}

#[test]
fn annotations_of_a_badly_signed_or_unsigned_image_are_refused_first() {
    let Some(reg) = Registry::start() else { return };
    let dir = tempdir();
    let d = dir.path();
    // Malformed: had they been read before the signature was checked, the
    // error would name them.
    let bad = [("io.github.confidential-containers.measurements.md5.pcr03", "0x00")];
    let img = Image::podvm("podvm/forged").with_annotations(&bad);
    push_signed(&reg, "podvm/forged", &img, d);
    fs::write(d.join("cosign.pub"), Signer::new("prime256v1").public_pem).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let unsigned = Image::podvm("podvm/unsigned").with_annotations(&bad);
    rt.block_on(reg.push_image("podvm/unsigned", "v1", &unsigned));
    for repo in ["podvm/forged", "podvm/unsigned"] {
        let image = format!("docker://{}/{repo}:v1", reg.addr);
        for from in ["auto", "annotations"] {
            let args = ["rvps", "emit", "--image", &image, "--measurements-from", from, "-o", "rv.json"];
            let stderr = fails(rvkit_in(d, &access(&reg, &args)), 1);
            let why = if repo == "podvm/forged" { "error: no signature of " } else { "error: " };
            assert!(stderr.starts_with(why) && !stderr.contains("annotation"), "{stderr}");
            assert!(!d.join("rv.json").exists());
        }
    }
}
