//! Pull, verify and extract against Debian's docker-registry.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rvkit_podvm::{
    Check, Error, ImageMeasurements, ImagePath, ImageRef, MeasurementsFrom, MeasurementsSource, NoProgress,
    Outcome, PullOptions, SignatureStatus, VerifiedImage, VerifyOptions, fetch_file, fetch_measurements,
    verify,
};

use rvkit_podvm::PublicKey;
use rvkit_test_support::*;

/// The verifier's view of an OpenSSL-made key.
fn public_key(signer: &Signer) -> PublicKey {
    PublicKey::from_pem_or_der(&signer.public_pem, "test key").unwrap()
}

const M: &str = "/image/measurements.json";

fn pull(addr: &str) -> PullOptions {
    PullOptions {
        insecure_registries: vec![addr.to_owned()],
        retries: 2,
        retry_delay: Duration::from_millis(20),
        ..Default::default()
    }
}

fn keys(signer: &Signer, rekor: &Rekor) -> VerifyOptions {
    VerifyOptions {
        key: Some(public_key(signer)),
        rekor_key: Some(public_key(&rekor.signer)),
        ..Default::default()
    }
}

async fn fetch(
    image: &str,
    pull: &PullOptions,
    opts: &VerifyOptions,
) -> Result<(VerifiedImage, Vec<u8>), Error> {
    fetch_file(
        &ImageRef::parse(image).unwrap(),
        &ImagePath::parse(M).unwrap(),
        rvkit_podvm::DEFAULT_MAX_SIZE,
        pull,
        opts,
        Arc::new(NoProgress),
    )
    .await
}

/// Pushes the podvm test image to `repo:v1` and signs it (with a bundle).
async fn signed_podvm(reg: &Registry, repo: &str, signer: &Signer, rekor: &Rekor) -> (Image, String) {
    let img = Image::podvm(repo);
    let digest = reg.push_signed_image(repo, "v1", &img, signer, Some(rekor)).await;
    (img, digest)
}

fn rejected(e: Error) -> Vec<rvkit_podvm::SignatureReport> {
    assert!(e.is_verification_failure(), "{e}");
    match e {
        Error::SignatureRejected { reports, .. } => reports,
        other => panic!("expected a rejected signature, got {other}"),
    }
}

fn failed(report: &rvkit_podvm::SignatureReport, check: Check) -> bool {
    matches!(report.outcome(check), Some(Outcome::Failed(_)))
}

// A current-thread runtime works too: the blocking worker's requests are
// driven by the runtime thread that awaits it.
#[tokio::test(flavor = "current_thread")]
async fn valid_signature_yields_measurements() {
    let Some(reg) = Registry::start() else { return };
    let (signer, rekor) = (Signer::new("prime256v1"), Rekor::new());
    let (_, digest) = signed_podvm(&reg, "podvm/valid", &signer, &rekor).await;
    let image = format!("docker://{}/podvm/valid:v1", reg.addr);
    let mut opts = keys(&signer, &rekor);
    opts.identity = Some(format!("{}/podvm/valid", reg.addr));
    let (v, bytes) = fetch(&image, &pull(&reg.addr), &opts).await.unwrap();
    assert_eq!(bytes, measurements("podvm/valid"));
    assert_eq!(v.digest.to_string(), digest);
    assert_eq!(v.manifest_digest, v.digest);
    assert_eq!(v.pinned.to_string(), format!("{}/podvm/valid@{digest}", reg.addr));
    assert_eq!(v.signature_status, SignatureStatus::Verified);
    assert_eq!(v.signatures.len(), 1);
    assert!(v.signatures[0].passed());
    assert!(v.signatures[0].checks.iter().all(|c| c.outcome == Outcome::Passed));
    assert!(v.signatures[0].log_index.is_some());

    // The walkthrough takes the digest from `skopeo inspect`; it must agree.
    if require("skopeo") {
        let out = Command::new("skopeo").args(["inspect", "--tls-verify=false", &image]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(j["Digest"].as_str(), Some(digest.as_str()));
    }

    // The pinned reference works as input and gives the same answer.
    let (v2, bytes2) = fetch(&v.pinned.to_string(), &pull(&reg.addr), &opts).await.unwrap();
    assert_eq!((v2.digest, bytes2), (v.digest, bytes));

    // A different identity is refused.
    opts.identity = Some("registry.example/other".into());
    let reports =
        rejected(verify(&ImageRef::parse(&image).unwrap(), &pull(&reg.addr), &opts).await.unwrap_err());
    assert!(failed(&reports[0], Check::Identity));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_type_and_wrong_key() {
    let Some(reg) = Registry::start() else { return };
    let rekor = Rekor::new();
    let signers: Vec<Signer> =
        ["prime256v1", "secp384r1", "rsa", "ed25519"].into_iter().map(Signer::new).collect();
    let img = Image::podvm("keys");
    let digest = reg.push_image("podvm/keys", "v1", &img).await;
    let docker_ref = format!("{}/podvm/keys", reg.addr);
    let sigs: Vec<Sig> = signers.iter().map(|s| Sig::make(s, Some(&rekor), &docker_ref, &digest)).collect();
    reg.push_signatures("podvm/keys", &digest, &SignatureManifest::new(&sigs)).await;
    let image = ImageRef::parse(&format!("{docker_ref}:v1")).unwrap();
    for (i, s) in signers.iter().enumerate() {
        let v = verify(&image, &pull(&reg.addr), &keys(s, &rekor)).await.unwrap();
        let passed: Vec<usize> = (0..4).filter(|&j| v.signatures[j].passed()).collect();
        assert_eq!(passed, vec![i], "key {i}");
    }
    let other = Signer::new("prime256v1");
    let reports = rejected(verify(&image, &pull(&reg.addr), &keys(&other, &rekor)).await.unwrap_err());
    assert_eq!(reports.len(), 4);
    assert!(reports.iter().all(|r| failed(r, Check::Signature)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_image_and_explicit_skip() {
    let Some(reg) = Registry::start() else { return };
    let (signer, rekor) = (Signer::new("prime256v1"), Rekor::new());
    let img = Image::podvm("unsigned");
    reg.push_image("podvm/unsigned", "v1", &img).await;
    let image = format!("{}/podvm/unsigned:v1", reg.addr);
    let e = fetch(&image, &pull(&reg.addr), &keys(&signer, &rekor)).await.unwrap_err();
    assert!(matches!(e, Error::Unsigned { .. }), "{e}");
    assert!(e.is_verification_failure());
    let skip = VerifyOptions { insecure_skip_verify: true, ..Default::default() };
    let (v, bytes) = fetch(&image, &pull(&reg.addr), &skip).await.unwrap();
    assert_eq!(v.signature_status, SignatureStatus::Skipped);
    assert_eq!(bytes, measurements("unsigned"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_copied_from_another_image() {
    let Some(reg) = Registry::start() else { return };
    let (signer, rekor) = (Signer::new("prime256v1"), Rekor::new());
    let (_, digest_a) = signed_podvm(&reg, "podvm/a", &signer, &rekor).await;
    let img_b = Image::podvm("podvm/b");
    let digest_b = reg.push_image("podvm/a", "b", &img_b).await;
    // A's genuine signature, stored as B's.
    let sig = Sig::make(&signer, Some(&rekor), &format!("{}/podvm/a", reg.addr), &digest_a);
    reg.push_signatures("podvm/a", &digest_b, &SignatureManifest::new(&[sig])).await;
    let e = fetch(&format!("{}/podvm/a:b", reg.addr), &pull(&reg.addr), &keys(&signer, &rekor))
        .await
        .unwrap_err();
    let reports = rejected(e);
    assert_eq!(reports[0].outcome(Check::Signature), Some(&Outcome::Passed));
    assert!(failed(&reports[0], Check::SignedDigest));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_payload() {
    let Some(reg) = Registry::start() else { return };
    let (signer, rekor) = (Signer::new("prime256v1"), Rekor::new());
    let img = Image::podvm("tampered-payload");
    let digest = reg.push_image("podvm/tp", "v1", &img).await;
    let mut sig = Sig::make(&signer, Some(&rekor), "registry.example/podvm", &digest);
    // The payload is changed after signing (the identity rewritten).
    sig.payload = payload("attacker.example/podvm", &digest);
    reg.push_signatures("podvm/tp", &digest, &SignatureManifest::new(&[sig])).await;
    let e = fetch(&format!("{}/podvm/tp:v1", reg.addr), &pull(&reg.addr), &keys(&signer, &rekor))
        .await
        .unwrap_err();
    let reports = rejected(e);
    assert!(failed(&reports[0], Check::Signature));
    // The bundle logged the original payload, not this one.
    assert!(failed(&reports[0], Check::BundleEntry));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_layer_blob_in_registry_storage() {
    let Some(reg) = Registry::start() else { return };
    let (signer, rekor) = (Signer::new("prime256v1"), Rekor::new());
    let (img, _) = signed_podvm(&reg, "podvm/blob", &signer, &rekor).await;
    let file = reg.blob_file(&digest_of(&img.layers[0].bytes));
    let mut data = std::fs::read(&file).unwrap();
    let n = data.len();
    data[n / 2] ^= 0x01;
    std::fs::write(&file, data).unwrap();
    let image = format!("{}/podvm/blob:v1", reg.addr);
    // Signatures and manifests are intact, so verification alone passes...
    verify(&ImageRef::parse(&image).unwrap(), &pull(&reg.addr), &keys(&signer, &rekor)).await.unwrap();
    // ...but no content leaves a layer that does not match its digest.
    let e = fetch(&image, &pull(&reg.addr), &keys(&signer, &rekor)).await.unwrap_err();
    assert!(matches!(&e, Error::DigestMismatch { what, .. } if what == "layer 0"), "{e}");
    assert!(e.is_verification_failure());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rekor_bundle_failures() {
    let Some(reg) = Registry::start() else { return };
    let (signer, rekor) = (Signer::new("prime256v1"), Rekor::new());
    let img = Image::podvm("bundles");
    let docker_ref = format!("{}/podvm/bundles", reg.addr);
    let image = ImageRef::parse(&format!("{docker_ref}:v1")).unwrap();
    let digest = reg.push_image("podvm/bundles", "v1", &img).await;
    let p = pull(&reg.addr);

    // A genuine bundle, but for another signature over the same payload
    // (ECDSA signatures are randomised, so the two differ).
    let s1 = Sig::make(&signer, Some(&rekor), &docker_ref, &digest);
    let mut s2 = Sig::make(&signer, None, &docker_ref, &digest);
    assert_ne!(s1.signature, s2.signature);
    s2.bundle = s1.bundle.clone();
    reg.push_signatures("podvm/bundles", &digest, &SignatureManifest::new(&[s2.clone()])).await;
    let reports = rejected(verify(&image, &p, &keys(&signer, &rekor)).await.unwrap_err());
    assert_eq!(reports[0].outcome(Check::BundleTimestamp), Some(&Outcome::Passed));
    assert!(failed(&reports[0], Check::BundleEntry));

    // A bad signed entry timestamp.
    let mut bad = s1.clone();
    let mut b: serde_json::Value = serde_json::from_str(bad.bundle.as_ref().unwrap()).unwrap();
    let mut set = STANDARD.decode(b["SignedEntryTimestamp"].as_str().unwrap()).unwrap();
    let last = set.len() - 1;
    set[last] ^= 1;
    b["SignedEntryTimestamp"] = STANDARD.encode(set).into();
    bad.bundle = Some(b.to_string());
    reg.push_signatures("podvm/bundles", &digest, &SignatureManifest::new(&[bad])).await;
    let reports = rejected(verify(&image, &p, &keys(&signer, &rekor)).await.unwrap_err());
    assert!(failed(&reports[0], Check::BundleTimestamp));

    // A bundle signed by another log.
    let other_log = Rekor::new();
    let s3 = Sig::make(&signer, Some(&other_log), &docker_ref, &digest);
    reg.push_signatures("podvm/bundles", &digest, &SignatureManifest::new(&[s3])).await;
    let reports = rejected(verify(&image, &p, &keys(&signer, &rekor)).await.unwrap_err());
    assert!(failed(&reports[0], Check::BundleTimestamp));
    assert!(failed(&reports[0], Check::BundleLogId));

    // No bundle at all: refused when a Rekor key is given...
    let s4 = Sig::make(&signer, None, &docker_ref, &digest);
    reg.push_signatures("podvm/bundles", &digest, &SignatureManifest::new(&[s4])).await;
    let reports = rejected(verify(&image, &p, &keys(&signer, &rekor)).await.unwrap_err());
    assert!(failed(&reports[0], Check::BundleTimestamp));
    // ...refused as a usage error without a Rekor key...
    let no_tlog = VerifyOptions { key: Some(public_key(&signer)), ..Default::default() };
    let e = verify(&image, &p, &no_tlog).await.unwrap_err();
    assert!(matches!(e, Error::TlogKeyRequired { .. }) && !e.is_verification_failure(), "{e}");
    // ...and accepted only with the log explicitly ignored.
    let ignore = VerifyOptions { insecure_ignore_tlog: true, ..no_tlog };
    let v = verify(&image, &p, &ignore).await.unwrap();
    assert!(matches!(v.signatures[0].outcome(Check::BundleEntry), Some(Outcome::Skipped(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_layers_replace_and_whiteout() {
    let Some(reg) = Registry::start() else { return };
    let (signer, rekor) = (Signer::new("prime256v1"), Rekor::new());
    let base = tar_of(&[
        ("image/measurements.json", b"old"),
        ("image/podvm.qcow2", &fake_qcow2(1 << 20, 1 << 20, 3)),
    ]);
    let replace = tar_of(&[("image/measurements.json", b"new")]);
    let whiteout = tar_of(&[("image/.wh.measurements.json", b"")]);
    let p = pull(&reg.addr);
    let opts = keys(&signer, &rekor);
    let push_signed = |repo: &'static str, layers: Vec<Layer>| {
        let (reg, signer, rekor) = (&reg, &signer, &rekor);
        async move {
            let img = Image::new(layers, "amd64");
            let digest = reg.push_image(repo, "v1", &img).await;
            let sig = Sig::make(signer, Some(rekor), repo, &digest);
            reg.push_signatures(repo, &digest, &SignatureManifest::new(&[sig])).await;
            format!("{}/{repo}:v1", reg.addr)
        }
    };

    // gzip, then zstd replacing the file.
    let image =
        push_signed("podvm/replaced", vec![Layer::new(LAYER_GZIP, &base), Layer::new(LAYER_ZSTD, &replace)])
            .await;
    assert_eq!(fetch(&image, &p, &opts).await.unwrap().1, b"new");

    // ...then an uncompressed layer whiting it out.
    let image = push_signed(
        "podvm/whited-out",
        vec![
            Layer::new(LAYER_GZIP, &base),
            Layer::new(LAYER_ZSTD, &replace),
            Layer::new(LAYER_TAR, &whiteout),
        ],
    )
    .await;
    let e = fetch(&image, &p, &opts).await.unwrap_err();
    assert!(matches!(e, Error::FileNotFound { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_resolves_to_platform() {
    let Some(reg) = Registry::start() else { return };
    let (signer, rekor) = (Signer::new("prime256v1"), Rekor::new());
    let amd =
        Image::new(vec![Layer::new(LAYER_GZIP, &tar_of(&[("image/measurements.json", b"amd64")]))], "amd64");
    let arm =
        Image::new(vec![Layer::new(LAYER_GZIP, &tar_of(&[("image/measurements.json", b"arm64")]))], "arm64");
    let d_amd = reg.push_image("podvm/multi", "amd", &amd).await;
    let d_arm = reg.push_image("podvm/multi", "arm", &arm).await;
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": d_arm, "size": arm.manifest.len(), "platform": {"os": "linux", "architecture": "arm64"}},
            {"mediaType": OCI_MANIFEST, "digest": d_amd, "size": amd.manifest.len(), "platform": {"os": "linux", "architecture": "amd64"}}
        ]
    }))
    .unwrap();
    reg.push("podvm/multi", "v1", &[], &index, OCI_INDEX).await;
    let d_index = digest_of(&index);
    let sig = Sig::make(&signer, Some(&rekor), "podvm/multi", &d_index);
    reg.push_signatures("podvm/multi", &d_index, &SignatureManifest::new(&[sig])).await;

    let image = format!("{}/podvm/multi:v1", reg.addr);
    let mut p = pull(&reg.addr);
    let (v, bytes) = fetch(&image, &p, &keys(&signer, &rekor)).await.unwrap();
    assert_eq!(bytes, b"amd64");
    assert_eq!((v.digest.to_string(), v.manifest_digest.to_string()), (d_index.clone(), d_amd));
    p.platform = "linux/arm64".parse().unwrap();
    assert_eq!(fetch(&image, &p, &keys(&signer, &rekor)).await.unwrap().1, b"arm64");
    p.platform = "linux/s390x".parse().unwrap();
    let e = fetch(&image, &p, &keys(&signer, &rekor)).await.unwrap_err();
    assert!(matches!(e, Error::NoMatchingPlatform { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_with_authfile() {
    let Some(reg) = Registry::start_with_htpasswd("puller", "s3cret") else { return };
    let (signer, rekor) = (Signer::new("prime256v1"), Rekor::new());
    signed_podvm(&reg, "podvm/auth", &signer, &rekor).await;
    let dir = tempfile::tempdir().unwrap();
    let authfile = dir.path().join("pull-secret.json");
    let write = |user: &str, pass: &str| {
        let auth = STANDARD.encode(format!("{user}:{pass}"));
        std::fs::write(
            &authfile,
            format!(r#"{{"auths":{{"{}":{{"auth":"{auth}","email":"ci@example.com"}}}}}}"#, reg.addr),
        )
        .unwrap();
    };
    let image = format!("{}/podvm/auth:v1", reg.addr);
    let mut p = pull(&reg.addr);
    p.authfile = Some(authfile.clone());
    write("puller", "s3cret");
    let (_, bytes) = fetch(&image, &p, &keys(&signer, &rekor)).await.unwrap();
    assert_eq!(bytes, measurements("podvm/auth"));
    write("puller", "wrong");
    let e = fetch(&image, &p, &keys(&signer, &rekor)).await.unwrap_err();
    assert!(matches!(&e, Error::AccessDenied { image: i, .. } if i.contains("podvm/auth")), "{e}");
    assert!(!e.is_verification_failure());
    // An auth file without an entry for this registry means anonymous access.
    std::fs::write(&authfile, r#"{"auths":{}}"#).unwrap();
    let e = fetch(&image, &p, &keys(&signer, &rekor)).await.unwrap_err();
    assert!(matches!(e, Error::AccessDenied { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_then_recovery() {
    let Some(reg) = Registry::start() else { return };
    let (signer, rekor) = (Signer::new("prime256v1"), Rekor::new());
    signed_podvm(&reg, "podvm/flaky", &signer, &rekor).await;
    // Three 500s, then the registry answers; four retries are enough.
    let proxy = Proxy::start(&reg.addr, Fault::FailFirst(3));
    let mut p = pull(&proxy.addr);
    p.retries = 4;
    let image = format!("{}/podvm/flaky:v1", proxy.addr);
    let mut opts = keys(&signer, &rekor);
    opts.identity = Some(format!("{}/podvm/flaky", reg.addr));
    let (_, bytes) = fetch(&image, &p, &opts).await.unwrap();
    assert_eq!(bytes, measurements("podvm/flaky"));
    assert!(proxy.requests.load(std::sync::atomic::Ordering::SeqCst) > 3);
    // A registry that keeps failing is reported once the retries run out.
    let proxy = Proxy::start(&reg.addr, Fault::FailFirst(1000));
    let mut p = pull(&proxy.addr);
    p.retries = 1;
    let e = fetch(&format!("{}/podvm/flaky:v1", proxy.addr), &p, &opts).await.unwrap_err();
    assert!(matches!(&e, Error::Registry { reason, .. } if reason.contains("500")), "{e}");
    assert!(!e.is_verification_failure());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_lost_mid_blob() {
    let Some(reg) = Registry::start() else { return };
    let (signer, rekor) = (Signer::new("prime256v1"), Rekor::new());
    let (img, _) = signed_podvm(&reg, "podvm/cut", &signer, &rekor).await;
    let layer = digest_of(&img.layers[0].bytes);
    assert!(img.layers[0].bytes.len() > 2 << 20, "the layer must be large on the wire");
    let mut opts = keys(&signer, &rekor);
    opts.identity = None;
    // Cut once: the download resumes with a range request and verifies.
    let proxy = Proxy::start(&reg.addr, Fault::CutBlob { blob: layer.clone(), bytes: 300_000, die: false });
    let (_, bytes) = fetch(&format!("{}/podvm/cut:v1", proxy.addr), &pull(&proxy.addr), &opts).await.unwrap();
    assert_eq!(bytes, measurements("podvm/cut"));
    // The registry dies mid-blob: an error naming the blob, and no content.
    let proxy = Proxy::start(&reg.addr, Fault::CutBlob { blob: layer.clone(), bytes: 300_000, die: true });
    let e = fetch(&format!("{}/podvm/cut:v1", proxy.addr), &pull(&proxy.addr), &opts).await.unwrap_err();
    assert!(matches!(&e, Error::Unreachable { reason, .. } if reason.contains(&layer)), "{e}");
    assert!(!e.is_verification_failure());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_errors() {
    let Some(reg) = Registry::start() else { return };
    let (signer, rekor) = (Signer::new("prime256v1"), Rekor::new());
    signed_podvm(&reg, "podvm/input", &signer, &rekor).await;
    let p = pull(&reg.addr);
    let opts = keys(&signer, &rekor);
    let base = format!("{}/podvm/input", reg.addr);
    let e = fetch(&format!("{base}:missing"), &p, &opts).await.unwrap_err();
    assert!(matches!(&e, Error::NotFound { image, .. } if image.contains("podvm/input:missing")), "{e}");
    let e = fetch(&format!("{}/podvm/nothing:v1", reg.addr), &p, &opts).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    // Files: missing, too large.
    let image = ImageRef::parse(&format!("{base}:v1")).unwrap();
    let get = |path: &str, max: u64| {
        let (image, p, opts) = (image.clone(), p.clone(), opts.clone());
        let path = ImagePath::parse(path).unwrap();
        async move { fetch_file(&image, &path, max, &p, &opts, Arc::new(NoProgress)).await }
    };
    let e = get("/image/absent.json", 1 << 20).await.unwrap_err();
    assert!(matches!(e, Error::FileNotFound { .. }), "{e}");
    let e = get("/image/podvm.qcow2", 4 << 20).await.unwrap_err();
    assert!(matches!(e, Error::FileTooLarge { limit, .. } if limit == 4 << 20), "{e}");
    let e = get("/image", 1 << 20).await.unwrap_err();
    assert!(matches!(e, Error::NotARegularFile { .. }), "{e}");
    // No key, and a registry that is not there.
    let e = fetch(&format!("{base}:v1"), &p, &VerifyOptions::default()).await.unwrap_err();
    assert!(matches!(e, Error::MissingKey { .. }), "{e}");
    let closed = format!("127.0.0.1:{}", {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    });
    let e = fetch(&format!("{closed}/podvm/input:v1"), &pull(&closed), &opts).await.unwrap_err();
    assert!(matches!(e, Error::Unreachable { .. }), "{e}");
    assert!(!e.is_verification_failure());
}

/// The image saved as an OCI layout by skopeo (an independent tool) with its
/// signature tag beside it verifies offline, as a directory and as an archive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layout_from_skopeo_verifies_offline() {
    let Some(mut reg) = Registry::start() else { return };
    if !require("skopeo") {
        return;
    }
    let (signer, rekor) = (Signer::new("prime256v1"), Rekor::new());
    let (_, digest) = signed_podvm(&reg, "podvm/saved", &signer, &rekor).await;
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.json");
    std::fs::write(&policy, r#"{"default":[{"type":"insecureAcceptAnything"}]}"#).unwrap();
    let layout = dir.path().join("layout");
    let sig_tag = format!("{}.sig", digest.replace(':', "-"));
    for tag in ["v1", sig_tag.as_str()] {
        let out = Command::new("skopeo")
            .arg("--policy")
            .arg(&policy)
            .args(["copy", "--src-tls-verify=false", "--preserve-digests"])
            .arg(format!("docker://{}/podvm/saved:{tag}", reg.addr))
            .arg(format!("oci:{}:{tag}", layout.display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "skopeo: {}", String::from_utf8_lossy(&out.stderr));
    }
    reg.stop();
    let opts = keys(&signer, &rekor);
    let p = PullOptions::default();
    let (v, bytes) = fetch(&format!("oci:{}:v1", layout.display()), &p, &opts).await.unwrap();
    assert_eq!(v.digest.to_string(), digest);
    assert_eq!(bytes, measurements("podvm/saved"));
    assert_eq!(v.pinned.to_string(), format!("oci:{}:@{digest}", layout.display()));

    // The same layout as a tar archive, read in place.
    let archive = dir.path().join("podvm.tar");
    let st = Command::new("tar").arg("-cf").arg(&archive).arg("-C").arg(&layout).arg(".").status().unwrap();
    assert!(st.success());
    let (v2, bytes2) = fetch(&format!("oci-archive:{}:v1", archive.display()), &p, &opts).await.unwrap();
    assert_eq!((v2.digest, bytes2), (v.digest, bytes));

    // A layer blob changed on disk is caught.
    let blobs = layout.join("blobs/sha256");
    let biggest = std::fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut data = std::fs::read(&biggest).unwrap();
    data[100] ^= 0x80;
    std::fs::write(&biggest, data).unwrap();
    let e = fetch(&format!("oci:{}:v1", layout.display()), &p, &opts).await.unwrap_err();
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
}

/// Public registries (quay.io, registry.redhat.io) hand out bearer tokens:
/// the pull secret's credentials go to the token server, the token to the
/// registry. A wrong password, credentials without access and no
/// credentials at all are each refused as access denied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_auth_with_authfile() {
    let Some(tokens) = TokenServer::start("puller", "t0ken-s3cret") else { return };
    let Some(reg) = Registry::start_with_tokens(&tokens) else { return };
    let (signer, rekor) = (Signer::new("prime256v1"), Rekor::new());
    signed_podvm(&reg, "podvm/token", &signer, &rekor).await;
    let dir = tempfile::tempdir().unwrap();
    let authfile = dir.path().join("pull-secret.json");
    let write = |user: &str, pass: &str| {
        let auth = STANDARD.encode(format!("{user}:{pass}"));
        std::fs::write(&authfile, format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, reg.addr)).unwrap();
    };
    let image = format!("{}/podvm/token:v1", reg.addr);
    let mut p = pull(&reg.addr);
    p.authfile = Some(authfile.clone());

    write("puller", "t0ken-s3cret");
    tokens.requests.lock().unwrap().clear();
    let (verified, bytes) = fetch(&image, &p, &keys(&signer, &rekor)).await.unwrap();
    assert_eq!(bytes, measurements("podvm/token"));
    assert!(verified.pinned.to_string().contains("podvm/token@sha256:"));
    let asked = tokens.requests.lock().unwrap().clone();
    assert!(
        asked
            .iter()
            .any(|(user, scopes)| user == "puller"
                && scopes.iter().any(|s| s == "repository:podvm/token:pull")),
        "the token server was not asked for a pull token with the pull secret's credentials: {asked:?}"
    );

    for (user, pass) in [("puller", "wrong"), ("reader", "reader-password")] {
        write(user, pass);
        let e = fetch(&image, &p, &keys(&signer, &rekor)).await.unwrap_err();
        assert!(
            matches!(&e, Error::AccessDenied { image: i, .. } if i.contains("podvm/token")),
            "{user}: {e}"
        );
        assert!(!e.is_verification_failure());
    }
    std::fs::write(&authfile, r#"{"auths":{}}"#).unwrap();
    let e = fetch(&image, &p, &keys(&signer, &rekor)).await.unwrap_err();
    assert!(matches!(e, Error::AccessDenied { .. }), "{e}");
}

/// An image signed only in the Sigstore bundle format, attached as an OCI
/// referrer (as cosign 3 does by default; Debian's registry has no referrers
/// API, so the referrers tag schema holds the index, as cosign writes it
/// then), is still refused, and the refusal says what was found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundle_referrers_are_named_when_the_signature_tag_is_missing() {
    let Some(reg) = Registry::start() else { return };
    let (signer, rekor) = (Signer::new("prime256v1"), Rekor::new());
    let img = Image::podvm("referrers");
    let digest = reg.push_image("podvm/referrers", "v1", &img).await;
    const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
    let bundle = br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}"#.to_vec();
    let empty = b"{}".to_vec();
    let artifact = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": BUNDLE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": digest_of(&empty), "size": 2},
        "layers": [{"mediaType": BUNDLE, "digest": digest_of(&bundle), "size": bundle.len()}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": digest, "size": img.manifest.len()},
    })
    .to_string()
    .into_bytes();
    let artifact_digest = digest_of(&artifact);
    reg.push(
        "podvm/referrers",
        &artifact_digest.replace(':', "-"),
        &[&bundle, &empty],
        &artifact,
        OCI_MANIFEST,
    )
    .await;
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": artifact_digest, "size": artifact.len(), "artifactType": BUNDLE}],
    })
    .to_string()
    .into_bytes();
    reg.push("podvm/referrers", &digest.replace(':', "-"), &[], &index, OCI_INDEX).await;

    let image = format!("{}/podvm/referrers:v1", reg.addr);
    let e = fetch(&image, &pull(&reg.addr), &keys(&signer, &rekor)).await.unwrap_err();
    assert!(matches!(e, Error::Unsigned { bundles: 1, .. }), "{e}");
    assert!(e.is_verification_failure());
    let message = e.to_string();
    assert!(message.contains("1 Sigstore bundle attached as OCI referrers"), "{message}");
    // Without referrers the message stays as it was.
    let img = Image::podvm("plain");
    reg.push_image("podvm/plain", "v1", &img).await;
    let e = fetch(&format!("{}/podvm/plain:v1", reg.addr), &pull(&reg.addr), &keys(&signer, &rekor))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unsigned { bundles: 0, .. }), "{e}");
    assert!(!e.to_string().contains("referrers"), "{e}");
}

/// Pull options for a registry behind a fault, with a short total time.
fn pull_within(addr: &str, secs: u64) -> PullOptions {
    PullOptions { timeout: Duration::from_secs(secs), ..pull(addr) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_never_answers_is_given_up_on_in_time() {
    if !require("openssl") {
        return;
    }
    let server = Silent::start();
    let (signer, rekor) = (Signer::new("prime256v1"), Rekor::new());
    let image = format!("{}/podvm/silent:v1", server.addr);
    let start = std::time::Instant::now();
    // Without the total bound this waits for the 60 s read timeout, four times.
    let e = fetch(&image, &pull_within(&server.addr, 2), &keys(&signer, &rekor)).await.unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(6), "gave up after {:?}", start.elapsed());
    assert_eq!(
        e.to_string(),
        format!("the registry for {image} did not finish within 2 s: manifest for tag v1")
    );
    assert!(!e.is_verification_failure());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_trickling_at_one_byte_a_second_is_given_up_on_in_time() {
    let Some(reg) = Registry::start() else { return };
    let (signer, rekor) = (Signer::new("prime256v1"), Rekor::new());
    let (img, _) = signed_podvm(&reg, "podvm/trickle", &signer, &rekor).await;
    let layer = digest_of(&img.layers[0].bytes);
    let size = img.layers[0].bytes.len();
    let proxy = Proxy::start(&reg.addr, Fault::Trickle { blob: layer.clone() });
    let image = format!("{}/podvm/trickle:v1", proxy.addr);
    let mut opts = keys(&signer, &rekor);
    opts.identity = None;
    let start = std::time::Instant::now();
    // Each byte comes well within the read timeout: only the total bound ends it.
    let e = fetch(&image, &pull_within(&proxy.addr, 4), &opts).await.unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(8), "gave up after {:?}", start.elapsed());
    let message = e.to_string();
    let prefix = format!("the registry for {image} did not finish within 4 s: blob {layer} after ");
    let rest = message.strip_prefix(&prefix).unwrap_or_else(|| panic!("{message}"));
    let (got, total) = rest.split_once(" of ").unwrap();
    assert!(got.parse::<u64>().unwrap() <= 5, "{message}");
    assert_eq!(total, format!("{size} bytes"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_content_length_that_disagrees_with_the_descriptor_is_refused() {
    let Some(reg) = Registry::start() else { return };
    let (signer, rekor) = (Signer::new("prime256v1"), Rekor::new());
    let (img, _) = signed_podvm(&reg, "podvm/length", &signer, &rekor).await;
    let layer = digest_of(&img.layers[0].bytes);
    let size = img.layers[0].bytes.len() as i64;
    let mut opts = keys(&signer, &rekor);
    opts.identity = None;
    for delta in [1000, -1000] {
        let proxy = Proxy::start(&reg.addr, Fault::ContentLength { blob: layer.clone(), delta });
        let image = format!("{}/podvm/length:v1", proxy.addr);
        let start = std::time::Instant::now();
        let e = fetch(&image, &pull_within(&proxy.addr, 20), &opts).await.unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(10), "gave up after {:?}", start.elapsed());
        assert_eq!(
            e.to_string(),
            format!(
                "registry error for {image}: blob {layer}: the registry announced {} bytes (Content-Length) where {size} were expected",
                size + delta
            )
        );
        assert!(!e.is_verification_failure());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_loop_is_reported_in_time() {
    let Some(reg) = Registry::start() else { return };
    let (signer, rekor) = (Signer::new("prime256v1"), Rekor::new());
    let (img, _) = signed_podvm(&reg, "podvm/loop", &signer, &rekor).await;
    let layer = digest_of(&img.layers[0].bytes);
    let proxy = Proxy::start(&reg.addr, Fault::RedirectLoop { blob: layer.clone() });
    let image = format!("{}/podvm/loop:v1", proxy.addr);
    let mut opts = keys(&signer, &rekor);
    opts.identity = None;
    let start = std::time::Instant::now();
    let e = fetch(&image, &pull_within(&proxy.addr, 20), &opts).await.unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(10), "gave up after {:?}", start.elapsed());
    let message = e.to_string();
    assert!(
        matches!(&e, Error::Unreachable { image: i, reason } if i == &image && reason.starts_with(&format!("blob {layer}: ")) && reason.contains("redirect")),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_certificate_is_refused_unless_the_registry_is_insecure() {
    let Some(reg) = Registry::start_with_wrong_certificate() else { return };
    let (signer, rekor) = (Signer::new("prime256v1"), Rekor::new());
    signed_podvm(&reg, "podvm/tls", &signer, &rekor).await;
    let image = format!("{}/podvm/tls:v1", reg.addr);
    let opts = VerifyOptions { identity: None, ..keys(&signer, &rekor) };
    // Certificates checked: refused, and the message says why.
    let checked = PullOptions { insecure_registries: Vec::new(), ..pull_within(&reg.addr, 20) };
    let e = fetch(&image, &checked, &opts).await.unwrap_err();
    assert!(
        matches!(&e, Error::Unreachable { image: i, reason } if i == &image && reason.starts_with("manifest for tag v1: ") && reason.contains("certificate")),
        "{e}"
    );
    assert!(!e.is_verification_failure());
    // An insecure registry that speaks TLS is reached over TLS, unchecked.
    let (_, bytes) = fetch(&image, &pull(&reg.addr), &opts).await.unwrap();
    assert_eq!(bytes, measurements("podvm/tls"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_larger_than_the_cap_is_refused_before_it_is_read() {
    let Some(reg) = Registry::start() else { return };
    let (signer, rekor) = (Signer::new("prime256v1"), Rekor::new());
    for announce in [true, false] {
        let proxy = Proxy::start(&reg.addr, Fault::HugeManifest { announce });
        let image = format!("{}/podvm/huge:v1", proxy.addr);
        let start = std::time::Instant::now();
        let e = fetch(&image, &pull_within(&proxy.addr, 20), &keys(&signer, &rekor)).await.unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(10), "gave up after {:?}", start.elapsed());
        assert_eq!(
            e.to_string(),
            format!(
                "registry error for {image}: manifest for tag v1: the registry sent more than 4194304 bytes, the most a manifest may have"
            )
        );
        assert!(!e.is_verification_failure());
    }
}

/// The measurement annotations of the annotated test images: PCR 3 and 11
/// of the SHA-256 bank, values made from `marker` (unlike the layer's).
fn annotation_values(marker: &str) -> [(String, String); 2] {
    let value = |pcr: &str| format!("0x{}", sha256_hex(format!("{marker}/annotation/{pcr}").as_bytes()));
    [
        ("io.github.confidential-containers.measurements.sha256.pcr03".to_owned(), value("3")),
        ("io.github.confidential-containers.measurements.sha256.pcr11".to_owned(), value("11")),
    ]
}

/// The measurements.json the annotations of [`annotation_values`] make,
/// written out by hand (two-space indentation, as rvkit writes it).
fn annotation_document(marker: &str) -> String {
    let [(_, pcr03), (_, pcr11)] = annotation_values(marker);
    format!(
        "{{\n  \"measurements\": {{\n    \"sha256\": {{\n      \"pcr03\": \"{pcr03}\",\n      \"pcr11\": \"{pcr11}\"\n    }}\n  }}\n}}\n"
    )
}

/// Pushes the podvm test image with `annotations` in its manifest to
/// `repo:v1`, signed by `signer` when given; returns the image.
async fn annotated_podvm(
    reg: &Registry,
    repo: &str,
    annotations: &[(&str, &str)],
    signer: Option<(&Signer, &Rekor)>,
) -> Image {
    let img = Image::podvm(repo).with_annotations(annotations);
    match signer {
        Some((signer, rekor)) => reg.push_signed_image(repo, "v1", &img, signer, Some(rekor)).await,
        None => reg.push_image(repo, "v1", &img).await,
    };
    img
}

async fn measurements_through(
    proxy: &Proxy,
    repo: &str,
    from: MeasurementsFrom,
    opts: &VerifyOptions,
) -> Result<ImageMeasurements, Error> {
    let image = ImageRef::parse(&format!("{}/{repo}:v1", proxy.addr)).unwrap();
    let max = rvkit_podvm::DEFAULT_MAX_SIZE;
    fetch_measurements(&image, from, max, &pull(&proxy.addr), opts, Arc::new(NoProgress)).await
}

/// Whether the proxy saw a request for blob `digest`.
fn blob_requested(proxy: &Proxy, digest: &str) -> bool {
    proxy.request_lines().iter().any(|l| l.contains(&format!("/blobs/{digest}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn measurements_come_from_signed_annotations_without_a_layer_download() {
    let Some(reg) = Registry::start() else { return };
    let (signer, rekor) = (Signer::new("prime256v1"), Rekor::new());
    let values = annotation_values("podvm/annotated");
    let mut annotations: Vec<(&str, &str)> = values.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    annotations.push(("org.opencontainers.image.version", "1.11.1"));
    let img = annotated_podvm(&reg, "podvm/annotated", &annotations, Some((&signer, &rekor))).await;
    let layer = digest_of(&img.layers[0].bytes);
    let mut opts = keys(&signer, &rekor);
    opts.identity = Some(format!("{}/podvm/annotated", reg.addr));

    for from in [MeasurementsFrom::Auto, MeasurementsFrom::Annotations] {
        let proxy = Proxy::start(&reg.addr, Fault::None);
        let m = measurements_through(&proxy, "podvm/annotated", from, &opts).await.unwrap();
        assert_eq!(m.measurements_source, MeasurementsSource::Annotations);
        assert_eq!(serde_json::to_value(&m).unwrap()["measurements_source"], "annotations");
        assert_eq!(String::from_utf8(m.document.clone()).unwrap(), annotation_document("podvm/annotated"));
        assert_eq!(m.image.digest.to_string(), img.digest());
        assert_eq!(m.image.signature_status, SignatureStatus::Verified);
        assert_eq!(
            m.label(),
            format!("{}/podvm/annotated@{} (manifest annotations)", proxy.addr, img.digest())
        );
        let lines = proxy.request_lines();
        assert!(lines.iter().any(|l| l.starts_with("GET /v2/podvm/annotated/manifests/v1 ")), "{lines:#?}");
        assert!(lines.iter().any(|l| l.contains("/blobs/")), "the signature payload is a blob: {lines:#?}");
        assert!(!blob_requested(&proxy, &layer), "the layer was requested: {lines:#?}");
    }
    // Asked for the layers, the same image gives the file its layer holds.
    let proxy = Proxy::start(&reg.addr, Fault::None);
    let m = measurements_through(&proxy, "podvm/annotated", MeasurementsFrom::Layers, &opts).await.unwrap();
    assert_eq!(m.measurements_source, MeasurementsSource::Layers);
    assert_eq!(m.document, measurements("podvm/annotated"));
    assert!(blob_requested(&proxy, &layer));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_annotations_the_measurements_come_from_the_layers() {
    let Some(reg) = Registry::start() else { return };
    let (signer, rekor) = (Signer::new("prime256v1"), Rekor::new());
    let (img, digest) = signed_podvm(&reg, "podvm/plain", &signer, &rekor).await;
    let layer = digest_of(&img.layers[0].bytes);
    let opts = keys(&signer, &rekor);
    let proxy = Proxy::start(&reg.addr, Fault::None);
    let m = measurements_through(&proxy, "podvm/plain", MeasurementsFrom::Auto, &opts).await.unwrap();
    assert_eq!(m.measurements_source, MeasurementsSource::Layers);
    assert_eq!(serde_json::to_value(&m).unwrap()["measurements_source"], "layers");
    assert_eq!(m.document, measurements("podvm/plain"));
    assert_eq!(m.label(), format!("{}/podvm/plain@{digest}:/image/measurements.json", proxy.addr));
    assert!(blob_requested(&proxy, &layer));
    // Annotations only: an error, and no layer is downloaded to find out.
    let proxy = Proxy::start(&reg.addr, Fault::None);
    let e =
        measurements_through(&proxy, "podvm/plain", MeasurementsFrom::Annotations, &opts).await.unwrap_err();
    assert!(matches!(&e, Error::NoMeasurementAnnotations { image } if image.ends_with(&digest)), "{e}");
    assert!(!e.is_verification_failure());
    assert!(!blob_requested(&proxy, &layer));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_annotation_is_an_error_naming_it() {
    let Some(reg) = Registry::start() else { return };
    let (signer, rekor) = (Signer::new("prime256v1"), Rekor::new());
    let [(good_key, good), _] = annotation_values("podvm/malformed");
    let bad_key = "io.github.confidential-containers.measurements.sha256.pcr3";
    let annotations = [(good_key.as_str(), good.as_str()), (bad_key, good.as_str())];
    let img = annotated_podvm(&reg, "podvm/malformed", &annotations, Some((&signer, &rekor))).await;
    let layer = digest_of(&img.layers[0].bytes);
    let opts = keys(&signer, &rekor);
    let proxy = Proxy::start(&reg.addr, Fault::None);
    let e = measurements_through(&proxy, "podvm/malformed", MeasurementsFrom::Auto, &opts).await.unwrap_err();
    assert!(!e.is_verification_failure());
    assert!(
        matches!(&e, Error::Measurements { source: rvkit_rvps::Error::BadAnnotationKey { key }, .. } if key == bad_key),
        "{e}"
    );
    assert!(!blob_requested(&proxy, &layer), "a bad annotation does not fall back to the layers");
    // The layers can still be asked for explicitly; annotations are then not read.
    let proxy = Proxy::start(&reg.addr, Fault::None);
    let m = measurements_through(&proxy, "podvm/malformed", MeasurementsFrom::Layers, &opts).await.unwrap();
    assert_eq!(m.document, measurements("podvm/malformed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annotations_of_an_unsigned_or_wrongly_signed_image_are_never_read() {
    let Some(reg) = Registry::start() else { return };
    let (signer, rekor) = (Signer::new("prime256v1"), Rekor::new());
    // Malformed annotations: had they been read before the signature was
    // checked, the error would name them instead.
    let bad = [("io.github.confidential-containers.measurements.md5.pcr03", "0x00")];
    let other = Signer::new("prime256v1");
    annotated_podvm(&reg, "podvm/forged", &bad, Some((&other, &rekor))).await;
    annotated_podvm(&reg, "podvm/unsigned", &bad, None).await;
    let opts = keys(&signer, &rekor);
    for from in MeasurementsFrom::ALL {
        let proxy = Proxy::start(&reg.addr, Fault::None);
        let e = measurements_through(&proxy, "podvm/forged", from, &opts).await.unwrap_err();
        assert!(failed(&rejected(e)[0], Check::Signature));
        let e = measurements_through(&proxy, "podvm/unsigned", from, &opts).await.unwrap_err();
        assert!(e.is_verification_failure(), "{e}");
        assert!(matches!(e, Error::Unsigned { .. }), "{e}");
    }
    // The same images with good values and a good signature are read.
    let values = annotation_values("podvm/forged");
    let good: Vec<(&str, &str)> = values.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    annotated_podvm(&reg, "podvm/signed", &good, Some((&signer, &rekor))).await;
    let proxy = Proxy::start(&reg.addr, Fault::None);
    let m = measurements_through(&proxy, "podvm/signed", MeasurementsFrom::Auto, &opts).await.unwrap();
    assert_eq!(String::from_utf8(m.document).unwrap(), annotation_document("podvm/forged"));
}
