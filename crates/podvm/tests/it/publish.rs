//! Images written and signed by `rvkit_podvm::publish`, checked by this
//! crate's verifier and by independent tools: skopeo reads the layout,
//! OpenSSL verifies the signature and the signed entry timestamp, jq
//! canonicalises the bundle payload.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rvkit_podvm::publish::{CosignKey, DemoRekorLog, LayoutWriter, sign_layout_image, write_image_layout};
use rvkit_podvm::{
    BlobDigest, Check, Error, ImagePath, ImagePlatform, ImageRef, MeasurementsFrom, MeasurementsSource,
    NoProgress, Outcome, PullOptions, SignatureStatus, VerifiedImage, VerifyOptions, fetch_file,
    fetch_measurements, verify,
};
use serde_json::Value;

use rvkit_test_support::{fake_qcow2, measurements, require, sha256_hex};

const M: &str = "/image/measurements.json";
const REPO: &str = "registry.example/podvm";

fn podvm_files(marker: &str) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("image/measurements.json", measurements(marker)),
        ("image/podvm.qcow2", fake_qcow2(64 << 10, 192 << 10, 11)),
    ]
}

fn write(dir: &Path, tag: &str, marker: &str) -> BlobDigest {
    let files = podvm_files(marker);
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(p, d)| (*p, d.as_slice())).collect();
    write_image_layout(dir, tag, &refs, &ImagePlatform::default()).unwrap()
}

fn opts(key: &CosignKey, log: Option<&DemoRekorLog>) -> VerifyOptions {
    VerifyOptions {
        key: Some(key.public_key().clone()),
        rekor_key: log.map(|l| l.public_key().clone()),
        insecure_ignore_tlog: log.is_none(),
        ..Default::default()
    }
}

fn layout_ref(dir: &Path, tag: &str) -> ImageRef {
    ImageRef::parse(&format!("oci:{}:{tag}", dir.display())).unwrap()
}

async fn fetch(
    dir: &Path,
    tag: &str,
    path: &str,
    o: &VerifyOptions,
) -> Result<(VerifiedImage, Vec<u8>), Error> {
    fetch_file(
        &layout_ref(dir, tag),
        &ImagePath::parse(path).unwrap(),
        rvkit_podvm::DEFAULT_MAX_SIZE,
        &PullOptions::default(),
        o,
        Arc::new(NoProgress),
    )
    .await
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn blob(dir: &Path, digest: &str) -> PathBuf {
    dir.join("blobs/sha256").join(digest.strip_prefix("sha256:").unwrap())
}

/// The manifest `index.json` tags `tag`.
fn tagged(dir: &Path, tag: &str) -> Value {
    let index = read_json(&dir.join("index.json"));
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no tag {tag}"))
        .clone();
    read_json(&blob(dir, entry["digest"].as_str().unwrap()))
}

/// Runs a tool and returns whether it succeeded, with its stdout.
fn run(cmd: &mut Command) -> (bool, Vec<u8>) {
    let out = cmd.stderr(Stdio::piped()).output().expect("tool runs");
    if !out.status.success() {
        eprintln!("{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    (out.status.success(), out.stdout)
}

// A current-thread runtime, as a small tool would use.
#[tokio::test(flavor = "current_thread")]
async fn written_layout_verifies_and_yields_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("podvm");
    let digest = write(&dir, "v1", "publish/verify");
    let (key, log) = (CosignKey::generate().unwrap(), DemoRekorLog::generate().unwrap());
    assert_eq!(sign_layout_image(&dir, "v1", &key, REPO, Some(&log)).unwrap(), digest);

    let o = opts(&key, Some(&log));
    let v = verify(&layout_ref(&dir, "v1"), &PullOptions::default(), &o).await.unwrap();
    assert_eq!(
        (v.digest, v.manifest_digest, v.signature_status),
        (digest, digest, SignatureStatus::Verified)
    );
    let [report] = v.signatures.as_slice() else { panic!("one signature expected") };
    for check in [
        Check::Payload,
        Check::Signature,
        Check::SignedDigest,
        Check::PayloadType,
        Check::BundleTimestamp,
        Check::BundleLogId,
        Check::BundleEntry,
    ] {
        assert_eq!(report.outcome(check), Some(&Outcome::Passed), "{check}");
    }
    assert_eq!(report.log_index, Some(0));

    let (_, bytes) = fetch(&dir, "v1", M, &o).await.unwrap();
    assert_eq!(bytes, measurements("publish/verify"));
    let (_, qcow) = fetch(&dir, "v1", "/image/podvm.qcow2", &o).await.unwrap();
    assert_eq!(qcow, fake_qcow2(64 << 10, 192 << 10, 11));

    // The payload names the repository; a verifier asking for it accepts,
    // one asking for another refuses.
    let with_identity = VerifyOptions { identity: Some(REPO.into()), ..o.clone() };
    verify(&layout_ref(&dir, "v1"), &PullOptions::default(), &with_identity).await.unwrap();
    let other = VerifyOptions { identity: Some("registry.example/other".into()), ..o.clone() };
    let e = verify(&layout_ref(&dir, "v1"), &PullOptions::default(), &other).await.unwrap_err();
    assert!(matches!(e, Error::SignatureRejected { .. }), "{e}");

    // Another key's signature is added beside the first, as cosign does;
    // each key then finds its own.
    let key2 = CosignKey::generate().unwrap();
    sign_layout_image(&dir, "v1", &key2, REPO, Some(&log)).unwrap();
    let sig_manifest = tagged(&dir, &digest.cosign_signature_tag());
    assert_eq!(sig_manifest["layers"].as_array().unwrap().len(), 2);
    for k in [&key, &key2] {
        let v = verify(&layout_ref(&dir, "v1"), &PullOptions::default(), &opts(k, Some(&log))).await.unwrap();
        assert_eq!(v.signatures.iter().filter(|r| r.passed()).count(), 1);
    }
    // A key that never signed is refused.
    let stranger = CosignKey::generate().unwrap();
    let e = verify(&layout_ref(&dir, "v1"), &PullOptions::default(), &opts(&stranger, Some(&log)))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::SignatureRejected { .. }), "{e}");

    // A second image in the same layout leaves the first one alone.
    let d2 = write(&dir, "v2", "publish/second");
    assert_ne!(d2, digest);
    sign_layout_image(&dir, "v2", &key, REPO, Some(&log)).unwrap();
    let (v2, m2) = fetch(&dir, "v2", M, &o).await.unwrap();
    assert_eq!((v2.digest, m2), (d2, measurements("publish/second")));
    let (v1, _) = fetch(&dir, "v1", M, &o).await.unwrap();
    assert_eq!(v1.digest, digest);
    // The second log entry got the next index.
    assert_eq!(v2.signatures[0].log_index, Some(2));
}

#[tokio::test(flavor = "current_thread")]
async fn signature_without_rekor_needs_the_log_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("podvm");
    write(&dir, "v1", "publish/no-rekor");
    let key = CosignKey::generate().unwrap();
    sign_layout_image(&dir, "v1", &key, REPO, None).unwrap();
    fetch(&dir, "v1", M, &opts(&key, None)).await.unwrap();
    let log = DemoRekorLog::generate().unwrap();
    let e = fetch(&dir, "v1", M, &opts(&key, Some(&log))).await.unwrap_err();
    let Error::SignatureRejected { reports, .. } = e else { panic!("{e}") };
    assert!(matches!(reports[0].outcome(Check::BundleTimestamp), Some(Outcome::Failed(_))));

    // Signing again with the same key replaces the identical signature
    // (ECDSA nonces are derived per RFC 6979), now with a bundle.
    sign_layout_image(&dir, "v1", &key, REPO, Some(&log)).unwrap();
    let (v, _) = fetch(&dir, "v1", M, &opts(&key, Some(&log))).await.unwrap();
    assert_eq!(v.signatures.len(), 1);
}

/// skopeo, an independent implementation of OCI layouts, reads what was
/// written: the digest it reports is ours, and it copies the image and the
/// signature artifact out of the layout.
#[test]
fn skopeo_reads_the_layout() {
    if !require("skopeo") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("podvm");
    let digest = write(&dir, "v1", "publish/skopeo");
    sign_layout_image(&dir, "v1", &CosignKey::generate().unwrap(), REPO, None).unwrap();
    let src = format!("oci:{}:v1", dir.display());

    let (ok, out) = run(Command::new("skopeo").args(["inspect", &src]));
    assert!(ok);
    let info: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(info["Digest"], digest.to_string());
    assert_eq!((info["Os"].as_str(), info["Architecture"].as_str()), (Some("linux"), Some("amd64")));
    assert_eq!(info["Layers"].as_array().unwrap().len(), 1);
    let (ok, raw) = run(Command::new("skopeo").args(["inspect", "--raw", &src]));
    assert!(ok);
    assert_eq!(BlobDigest::sha256_of(&raw), digest);

    let policy = tmp.path().join("policy.json");
    std::fs::write(&policy, r#"{"default":[{"type":"insecureAcceptAnything"}]}"#).unwrap();
    let sig_tag = digest.cosign_signature_tag();
    for (tag, out_dir) in [("v1", "copy"), (sig_tag.as_str(), "copy-sig")] {
        let out = tmp.path().join(out_dir);
        let (ok, _) = run(Command::new("skopeo")
            .arg("--policy")
            .arg(&policy)
            .args(["copy", "--quiet"])
            .arg(format!("oci:{}:{tag}", dir.display()))
            .arg(format!("dir:{}", out.display())));
        assert!(ok, "skopeo copy of {tag}");
        // skopeo copied the manifest unchanged and every blob it names.
        let manifest = std::fs::read(out.join("manifest.json")).unwrap();
        let m: Value = serde_json::from_slice(&manifest).unwrap();
        for d in std::iter::once(&m["config"]).chain(m["layers"].as_array().unwrap()) {
            let hex = d["digest"].as_str().unwrap().strip_prefix("sha256:").unwrap();
            let copied = std::fs::read(out.join(hex)).unwrap();
            assert_eq!(sha256_hex(&copied), hex);
        }
        if tag == "v1" {
            assert_eq!(BlobDigest::sha256_of(&manifest), digest);
        }
    }
}

/// OpenSSL verifies the cosign signature and the signed entry timestamp;
/// jq computes the canonical form the timestamp covers.
#[test]
fn openssl_verifies_signature_and_bundle() {
    if !require("jq") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let dir = t.join("podvm");
    let digest = write(&dir, "v1", "publish/openssl");
    let (key, log) = (CosignKey::generate().unwrap(), DemoRekorLog::generate().unwrap());
    sign_layout_image(&dir, "v1", &key, REPO, Some(&log)).unwrap();
    std::fs::write(t.join("cosign.pub"), key.public_key_pem()).unwrap();
    std::fs::write(t.join("rekor.pub"), log.public_key_pem()).unwrap();

    let sig_manifest = tagged(&dir, &digest.cosign_signature_tag());
    let layer = &sig_manifest["layers"][0];
    assert_eq!(layer["mediaType"], "application/vnd.dev.cosign.simplesigning.v1+json");
    let payload_path = blob(&dir, layer["digest"].as_str().unwrap());
    let payload = std::fs::read(&payload_path).unwrap();
    // cosign's exact payload bytes.
    assert_eq!(
        String::from_utf8(payload.clone()).unwrap(),
        format!(
            "{{\"critical\":{{\"identity\":{{\"docker-reference\":\"{REPO}\"}},\"image\":{{\"docker-manifest-digest\":\"{digest}\"}},\"type\":\"cosign container image signature\"}},\"optional\":null}}"
        )
    );
    let ann = &layer["annotations"];
    let sig_b64 = ann["dev.cosignproject.cosign/signature"].as_str().unwrap();
    std::fs::write(t.join("sig.der"), STANDARD.decode(sig_b64).unwrap()).unwrap();
    let openssl_verify = |key: &str, sig: &str, data: &Path| {
        run(Command::new("openssl")
            .args(["dgst", "-sha256", "-verify", key, "-signature", sig])
            .arg(data)
            .current_dir(t))
        .0
    };
    assert!(openssl_verify("cosign.pub", "sig.der", &payload_path));
    // The check can fail: a changed payload does not verify.
    let mut changed = payload.clone();
    changed[20] ^= 1;
    std::fs::write(t.join("changed"), &changed).unwrap();
    assert!(!openssl_verify("cosign.pub", "sig.der", &t.join("changed")));
    assert!(!openssl_verify("rekor.pub", "sig.der", &payload_path));

    // The bundle: the signed entry timestamp over jq's canonical form of Payload.
    let bundle_text = ann["dev.sigstore.cosign/bundle"].as_str().unwrap();
    std::fs::write(t.join("bundle.json"), bundle_text).unwrap();
    let (ok, canonical) = run(Command::new("jq").args(["-cjS", ".Payload", "bundle.json"]).current_dir(t));
    assert!(ok);
    std::fs::write(t.join("canonical"), &canonical).unwrap();
    let bundle: Value = serde_json::from_str(bundle_text).unwrap();
    let set = STANDARD.decode(bundle["SignedEntryTimestamp"].as_str().unwrap()).unwrap();
    std::fs::write(t.join("set.der"), set).unwrap();
    assert!(openssl_verify("rekor.pub", "set.der", &t.join("canonical")));
    assert!(!openssl_verify("cosign.pub", "set.der", &t.join("canonical")));

    // The log ID is SHA-256 of the log key's DER, as OpenSSL encodes it.
    let (ok, der) = run(Command::new("openssl")
        .args(["pkey", "-pubin", "-in", "rekor.pub", "-outform", "DER"])
        .current_dir(t));
    assert!(ok);
    assert_eq!(bundle["Payload"]["logID"], sha256_hex(&der));
    assert_eq!(log.log_id(), sha256_hex(&der));

    // The logged entry names this signature, payload hash and key.
    let body: Value =
        serde_json::from_slice(&STANDARD.decode(bundle["Payload"]["body"].as_str().unwrap()).unwrap())
            .unwrap();
    assert_eq!((body["apiVersion"].as_str(), body["kind"].as_str()), (Some("0.0.1"), Some("hashedrekord")));
    assert_eq!(body["spec"]["signature"]["content"], sig_b64);
    assert_eq!(body["spec"]["data"]["hash"]["algorithm"], "sha256");
    assert_eq!(body["spec"]["data"]["hash"]["value"], sha256_hex(&payload));
    let logged_key =
        STANDARD.decode(body["spec"]["signature"]["publicKey"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(logged_key, key.public_key_pem().as_bytes());
}

/// The private key is PKCS#8 that OpenSSL reads, is written owner-only,
/// and a key made by OpenSSL signs images that OpenSSL verifies.
#[test]
fn private_keys_interoperate_with_openssl() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let key = CosignKey::generate().unwrap();
    key.write_private_key_pem(&t.join("cosign.key")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(t.join("cosign.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let (ok, public) =
        run(Command::new("openssl").args(["pkey", "-in", "cosign.key", "-pubout"]).current_dir(t));
    assert!(ok);
    assert_eq!(String::from_utf8(public).unwrap(), key.public_key_pem());
    let again = CosignKey::from_pkcs8_pem(key.private_key_pem().as_bytes(), "cosign.key").unwrap();
    assert_eq!(again.public_key(), key.public_key());

    let (ok, _) = run(Command::new("openssl")
        .args(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ossl.key"])
        .current_dir(t));
    assert!(ok);
    let (ok, _) = run(Command::new("openssl")
        .args(["pkey", "-in", "ossl.key", "-pubout", "-out", "ossl.pub"])
        .current_dir(t));
    assert!(ok);
    let ossl = CosignKey::from_pkcs8_pem(&std::fs::read(t.join("ossl.key")).unwrap(), "ossl.key").unwrap();
    assert_eq!(ossl.public_key_pem().as_bytes(), std::fs::read(t.join("ossl.pub")).unwrap());
    let dir = t.join("podvm");
    let digest = write(&dir, "v1", "publish/ossl-key");
    sign_layout_image(&dir, "v1", &ossl, REPO, None).unwrap();
    let layer = tagged(&dir, &digest.cosign_signature_tag())["layers"][0].clone();
    let sig = STANDARD
        .decode(layer["annotations"]["dev.cosignproject.cosign/signature"].as_str().unwrap())
        .unwrap();
    std::fs::write(t.join("sig.der"), sig).unwrap();
    let payload = blob(&dir, layer["digest"].as_str().unwrap());
    let (ok, _) = run(Command::new("openssl")
        .args(["dgst", "-sha256", "-verify", "ossl.pub", "-signature", "sig.der"])
        .arg(&payload)
        .current_dir(t));
    assert!(ok);

    // Keys that are not unencrypted PKCS#8 P-256 are refused by kind.
    let (ok, _) = run(Command::new("openssl")
        .args(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "sec1.key"])
        .current_dir(t));
    assert!(ok);
    let (ok, _) = run(Command::new("openssl")
        .args(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", "p384.key"])
        .current_dir(t));
    assert!(ok);
    for bad in ["sec1.key", "p384.key", "ossl.pub"] {
        let e = CosignKey::from_pkcs8_pem(&std::fs::read(t.join(bad)).unwrap(), bad).unwrap_err();
        assert!(matches!(e, Error::InvalidPrivateKey { .. }), "{bad}: {e}");
    }
}

/// The same files give the same image, whatever order they are given in
/// and whichever directory they are written to.
#[test]
fn same_files_same_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let files = podvm_files("publish/determinism");
    let forward: Vec<(&str, &[u8])> = files.iter().map(|(p, d)| (*p, d.as_slice())).collect();
    let backward: Vec<(&str, &[u8])> = forward.iter().rev().copied().collect();
    let p = ImagePlatform::default();
    let a = write_image_layout(&tmp.path().join("a"), "v1", &forward, &p).unwrap();
    let b = write_image_layout(&tmp.path().join("b"), "other", &backward, &p).unwrap();
    assert_eq!(a, b);
    let names = |d: &str| {
        let mut v: Vec<_> = std::fs::read_dir(tmp.path().join(d).join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names("a"), names("b"));
    // The platform is part of the image.
    let arm =
        write_image_layout(&tmp.path().join("c"), "v1", &forward, &"linux/arm64".parse().unwrap()).unwrap();
    assert_ne!(arm, a);
    // Nothing but the layouts was left behind (no staging directories).
    let mut entries: Vec<_> =
        std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    entries.sort();
    assert_eq!(entries, ["a", "b", "c"]);
}

#[tokio::test(flavor = "current_thread")]
async fn tampering_is_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("podvm");
    let digest = write(&dir, "v1", "publish/tamper");
    let (key, log) = (CosignKey::generate().unwrap(), DemoRekorLog::generate().unwrap());
    sign_layout_image(&dir, "v1", &key, REPO, Some(&log)).unwrap();
    let o = opts(&key, Some(&log));
    fetch(&dir, "v1", M, &o).await.unwrap();

    // A flipped byte in the layer blob.
    let manifest = tagged(&dir, "v1");
    let layer = blob(&dir, manifest["layers"][0]["digest"].as_str().unwrap());
    let original = std::fs::read(&layer).unwrap();
    let mut data = original.clone();
    let mid = data.len() / 2;
    data[mid] ^= 0x80;
    std::fs::write(&layer, &data).unwrap();
    let e = fetch(&dir, "v1", M, &o).await.unwrap_err();
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
    assert!(e.is_verification_failure());
    std::fs::write(&layer, &original).unwrap();
    fetch(&dir, "v1", M, &o).await.unwrap();

    // A changed signature payload.
    let sig_layer = tagged(&dir, &digest.cosign_signature_tag())["layers"][0].clone();
    let payload = blob(&dir, sig_layer["digest"].as_str().unwrap());
    let text = std::fs::read_to_string(&payload).unwrap();
    std::fs::write(&payload, text.replace(REPO, "registry.example/podvx")).unwrap();
    let e = fetch(&dir, "v1", M, &o).await.unwrap_err();
    let Error::SignatureRejected { reports, .. } = e else { panic!("{e}") };
    assert!(matches!(reports[0].outcome(Check::Payload), Some(Outcome::Failed(_))));
}

#[test]
fn bad_targets_and_inputs_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let files: &[(&str, &[u8])] = &[("image/measurements.json", b"{}")];
    let p = ImagePlatform::default();

    // A directory with other content is left alone.
    let busy = tmp.path().join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("notes.txt"), "mine").unwrap();
    let e = write_image_layout(&busy, "v1", files, &p).unwrap_err();
    assert!(matches!(e, Error::InvalidLayout { .. }), "{e}");
    let left: Vec<_> = std::fs::read_dir(&busy).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["notes.txt"]);

    // A file is not a layout directory.
    let e = write_image_layout(&busy.join("notes.txt"), "v1", files, &p).unwrap_err();
    assert!(matches!(e, Error::InvalidLayout { .. }), "{e}");

    // An empty directory is fine.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    write_image_layout(&empty, "v1", files, &p).unwrap();

    // Bad tags and paths create nothing.
    let fresh = tmp.path().join("fresh");
    let e = write_image_layout(&fresh, "bad tag", files, &p).unwrap_err();
    assert!(matches!(e, Error::InvalidReference { .. }), "{e}");
    let e = write_image_layout(&fresh, "v1", &[("../etc/passwd", b"")], &p).unwrap_err();
    assert!(matches!(e, Error::InvalidPath { .. }), "{e}");
    assert!(!fresh.exists());

    // Signing needs an existing tag and a plain repository name.
    let key = CosignKey::generate().unwrap();
    let e = sign_layout_image(&empty, "v2", &key, REPO, None).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    for bad in ["registry.example/podvm:v1", "podvm", "docker://registry.example/podvm", ""] {
        let e = sign_layout_image(&empty, "v1", &key, bad, None).unwrap_err();
        assert!(matches!(e, Error::InvalidReference { .. }), "{bad:?}: {e}");
    }
    let e = sign_layout_image(&tmp.path().join("missing"), "v1", &key, REPO, None).unwrap_err();
    assert!(!e.is_verification_failure(), "{e}");
}

/// One writer can put several images into a layout in one commit; a tag
/// written again moves to the new image, as with skopeo.
#[tokio::test(flavor = "current_thread")]
async fn writer_commits_several_images_and_moves_tags() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("podvm");
    let mut w = LayoutWriter::open(&dir).unwrap();
    let a = w.add_image("a", &[("image/measurements.json", b"A")], &ImagePlatform::default()).unwrap();
    let b = w.add_image("b", &[("image/measurements.json", b"B")], &ImagePlatform::default()).unwrap();
    assert!(!dir.exists(), "nothing is written before commit");
    w.commit().unwrap();
    let o = VerifyOptions { insecure_skip_verify: true, ..Default::default() };
    let (v, bytes) = fetch(&dir, "a", M, &o).await.unwrap();
    assert_eq!((v.digest, bytes), (a, b"A".to_vec()));
    assert_eq!(fetch(&dir, "b", M, &o).await.unwrap().0.digest, b);

    let a2 = write_image_layout(&dir, "a", &[("image/measurements.json", b"A2")], &ImagePlatform::default())
        .unwrap();
    assert_ne!(a2, a);
    let (v, bytes) = fetch(&dir, "a", M, &o).await.unwrap();
    assert_eq!((v.digest, bytes), (a2, b"A2".to_vec()));
    let index = read_json(&dir.join("index.json"));
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
}

/// An image published with its measurements as manifest annotations: the
/// verifier reads them (not the layer), and skopeo, reading the layout on
/// its own, finds them in the manifest.
#[tokio::test(flavor = "current_thread")]
async fn published_measurement_annotations_are_read_without_the_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("podvm");
    let files = podvm_files("annotated");
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(p, d)| (*p, d.as_slice())).collect();
    let (m, _) = rvkit_rvps::Measurements::parse(&files[0].1).unwrap();
    let annotations = m.to_annotations();
    let mut w = LayoutWriter::open(&dir).unwrap();
    w.add_annotated_image("v1", &refs, &ImagePlatform::default(), &annotations).unwrap();
    w.commit().unwrap();
    let (key, log) = (CosignKey::generate().unwrap(), DemoRekorLog::generate().unwrap());
    sign_layout_image(&dir, "v1", &key, REPO, Some(&log)).unwrap();

    // The layer is gone: only the annotations can give the values.
    let manifest = tagged(&dir, "v1");
    std::fs::remove_file(blob(&dir, manifest["layers"][0]["digest"].as_str().unwrap())).unwrap();
    let got = fetch_measurements(
        &layout_ref(&dir, "v1"),
        MeasurementsFrom::Auto,
        rvkit_podvm::DEFAULT_MAX_SIZE,
        &PullOptions::default(),
        &opts(&key, Some(&log)),
        Arc::new(NoProgress),
    )
    .await
    .unwrap();
    assert_eq!(got.measurements_source, MeasurementsSource::Annotations);
    assert_eq!(rvkit_rvps::Measurements::parse(&got.document).unwrap().0, m);

    if require("skopeo") {
        let (ok, out) =
            run(Command::new("skopeo").args(["inspect", "--raw"]).arg(format!("oci:{}:v1", dir.display())));
        assert!(ok, "{}", String::from_utf8_lossy(&out));
        let raw: Value = serde_json::from_slice(&out).unwrap();
        for (k, v) in &annotations {
            assert_eq!(raw["annotations"][k].as_str(), Some(v.as_str()), "{k}");
        }
        assert_eq!(raw["annotations"].as_object().unwrap().len(), 4);
    }
}
