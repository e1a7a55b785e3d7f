//! Fetching measurements.json out of a 1 GiB single-layer podvm image in a
//! local registry: `rvkit podvm fetch` (stream, verify, keep one file) against
//! the path today's tools take (`skopeo copy docker://… dir:`, then `tar -x`
//! of the file), measured in the same run: wall time, peak RSS, temporary disk.
//! Then `rvkit podvm predict` on the same image, which streams the 1 GiB
//! disk out of the same layer into a temporary file and predicts from it:
//! its extraction should go at the rate `podvm fetch` reads the layer.
//!
//! Not a criterion benchmark: each sample is a whole process over a gigabyte.
//! Results go to stdout and to `target/bench-podvm.json` for `cargo xtask bench`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use rvkit_test_support::{Registry, Rekor, Sig, SignatureManifest, Signer};

const RUNS: usize = 3;
/// The qcow2 stand-in: half random bytes (incompressible, like encrypted or
/// compressed filesystem blocks), half zeros (free space), 1 GiB in all.
const QCOW2_SIZE: u64 = 1 << 30;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing
    // useful to us either, and must not spend minutes here.
    if !std::env::args().any(|a| a == "--bench") {
        println!("podvm_fetch: run with `cargo bench --bench podvm_fetch` (skipped in test mode)");
        return;
    }
    for tool in ["docker-registry", "skopeo", "tar", "gzip", "openssl", "time", "qemu-img"] {
        let probe = if tool == "time" { "/usr/bin/time" } else { tool };
        if Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {probe}"))
            .output()
            .map_or(true, |o| !o.status.success())
        {
            panic!("podvm_fetch needs {tool} (tests/data/requirements.txt; `cargo xtask test` installs it)");
        }
    }
    let work = tempfile::tempdir().expect("temporary directory");
    let w = work.path();
    let reg = Registry::start().expect("docker-registry starts");

    eprintln!("building a 1 GiB podvm image layout ...");
    build_layout(w);
    eprintln!("pushing it with skopeo ...");
    let dest = format!("docker://{}/podvm/bench:v1", reg.addr);
    sh(w, &format!("skopeo copy -q --dest-tls-verify=false oci:layout:v1 {dest}"));
    let digest = String::from_utf8(sh(w, &format!("skopeo inspect --tls-verify=false {dest} | sed -n 's/.*\"Digest\": \"\\(sha256:[0-9a-f]*\\)\".*/\\1/p' | head -1"))).unwrap();
    let digest = digest.trim().to_owned();
    let (signer, rekor) = (Signer::new("prime256v1"), Rekor::new());
    fs::write(w.join("cosign.pub"), &signer.public_pem).unwrap();
    fs::write(w.join("rekor.pub"), &rekor.signer.public_pem).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let sig = Sig::make(&signer, Some(&rekor), &format!("{}/podvm/bench", reg.addr), &digest);
        reg.push_signatures("podvm/bench", &digest, &SignatureManifest::new(&[sig])).await;
    });
    let layer_size: u64 = fs::read_dir(w.join("layout/blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .max()
        .unwrap();

    let rvkit = env!("CARGO_BIN_EXE_rvkit");
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let mut predict = Vec::new();
    for run in 0..RUNS {
        // rvkit: TMPDIR points at an empty directory that must stay empty.
        let tmp = w.join(format!("tmp-{run}"));
        fs::create_dir_all(&tmp).unwrap();
        let out = w.join(format!("rvkit-{run}.json"));
        let (secs, rss_kib) = timed(
            w,
            &format!(
                "TMPDIR={} {rvkit} podvm fetch {dest} --key cosign.pub --rekor-key rekor.pub --insecure-registry {} -o {}",
                tmp.display(),
                reg.addr,
                out.display()
            ),
        );
        let tmp_bytes = du(&tmp);
        assert_eq!(fs::read(&out).unwrap(), fs::read(w.join("image/measurements.json")).unwrap());
        ours.push((secs, rss_kib, tmp_bytes));

        // The usual path: copy the whole image to disk, then extract the file.
        let pulled = w.join(format!("pulled-{run}"));
        let (s1, r1) = timed(
            w,
            &format!(
                "skopeo copy -q --src-tls-verify=false docker://{}/podvm/bench@{digest} dir:{}",
                reg.addr,
                pulled.display()
            ),
        );
        let tmp_bytes = du(&pulled);
        let layer = largest_file(&pulled);
        let extract = w.join(format!("extract-{run}"));
        fs::create_dir_all(&extract).unwrap();
        let (s2, r2) = timed(
            w,
            &format!("tar -xzf {} -C {} image/measurements.json", layer.display(), extract.display()),
        );
        assert_eq!(
            fs::read(extract.join("image/measurements.json")).unwrap(),
            fs::read(w.join("image/measurements.json")).unwrap()
        );
        theirs.push((s1 + s2, r1.max(r2), tmp_bytes));
        fs::remove_dir_all(&pulled).unwrap();

        // rvkit podvm predict: the disk goes through a temporary file in
        // TMPDIR, which must be gone afterwards.
        let (secs, rss_kib) = timed(
            w,
            &format!(
                "TMPDIR={} {rvkit} podvm predict {dest} --key cosign.pub --rekor-key rekor.pub --insecure-registry {} > predicted-{run}.txt",
                tmp.display(),
                reg.addr,
            ),
        );
        assert_eq!(du(&tmp), 0, "podvm predict left a temporary file");
        let predicted = fs::read_to_string(w.join(format!("predicted-{run}.txt"))).unwrap();
        assert!(predicted.starts_with("systemd-stub 252.39\n"), "{predicted}");
        predict.push((secs, rss_kib, 0));
    }
    let median = |v: &mut Vec<(f64, u64, u64)>| {
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        v[v.len() / 2]
    };
    let (o, t, p) = (median(&mut ours), median(&mut theirs), median(&mut predict));
    let peak = |v: &[(f64, u64, u64)]| v.iter().map(|x| x.1).max().unwrap();
    let result = serde_json::json!({
        "layer_bytes": layer_size,
        "qcow2_bytes": QCOW2_SIZE,
        "runs": RUNS,
        "rvkit": {"wall_s": o.0, "peak_rss_kib": peak(&ours), "temp_disk_bytes": o.2},
        "skopeo_tar": {"wall_s": t.0, "peak_rss_kib": peak(&theirs), "temp_disk_bytes": t.2},
        "rvkit_predict": {"wall_s": p.0, "peak_rss_kib": peak(&predict)},
    });
    println!("{}", serde_json::to_string_pretty(&result).unwrap());
    let target = PathBuf::from(std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into()));
    fs::write(target.join("bench-podvm.json"), result.to_string()).unwrap();
}

/// An OCI layout with one gzip layer holding image/measurements.json and a
/// 1 GiB image/podvm.qcow2, made by GNU tar and gzip. The disk is the demo
/// disk (data/demo/podvm.qcow2) as a raw image, which `podvm predict` reads,
/// filled up with random bytes to half the size and zeros after that.
fn build_layout(w: &Path) {
    fs::create_dir_all(w.join("image")).unwrap();
    fs::write(w.join("image/measurements.json"), rvkit_test_support::measurements("bench")).unwrap();
    let half = QCOW2_SIZE / 2;
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo/podvm.qcow2");
    sh(w, &format!(
        "qemu-img convert -f qcow2 -O raw {demo} image/podvm.qcow2
         head -c $(({half} - $(stat -c %s image/podvm.qcow2))) /dev/urandom >> image/podvm.qcow2
         head -c {half} /dev/zero >> image/podvm.qcow2
         tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - image | gzip -1 -n > layer.tar.gz",
        demo = demo.display()
    ));
    fs::remove_file(w.join("image/podvm.qcow2")).unwrap();
    let layer_digest =
        String::from_utf8(sh(w, "sha256sum layer.tar.gz | cut -d' ' -f1")).unwrap().trim().to_owned();
    let layer_size = fs::metadata(w.join("layer.tar.gz")).unwrap().len();
    let diff_id = String::from_utf8(sh(w, "gzip -dc layer.tar.gz | sha256sum | cut -d' ' -f1"))
        .unwrap()
        .trim()
        .to_owned();
    let blobs = w.join("layout/blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    fs::rename(w.join("layer.tar.gz"), blobs.join(&layer_digest)).unwrap();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff_id}")]},
    }))
    .unwrap();
    let config_digest = rvkit_test_support::sha256_hex(&config);
    fs::write(blobs.join(&config_digest), &config).unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": rvkit_test_support::OCI_MANIFEST,
        "config": {"mediaType": rvkit_test_support::OCI_CONFIG, "digest": format!("sha256:{config_digest}"), "size": config.len()},
        "layers": [{"mediaType": rvkit_test_support::LAYER_GZIP, "digest": format!("sha256:{layer_digest}"), "size": layer_size}],
    })).unwrap();
    let manifest_digest = rvkit_test_support::sha256_hex(&manifest);
    fs::write(blobs.join(&manifest_digest), &manifest).unwrap();
    fs::write(w.join("layout/oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}").unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": rvkit_test_support::OCI_MANIFEST, "digest": format!("sha256:{manifest_digest}"), "size": manifest.len(),
                       "annotations": {"org.opencontainers.image.ref.name": "v1"}}],
    });
    fs::write(w.join("layout/index.json"), index.to_string()).unwrap();
}

fn sh(dir: &Path, script: &str) -> Vec<u8> {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\n{script}"))
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{script}\n{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// Runs `script` under GNU time: (wall seconds, peak RSS in KiB).
fn timed(dir: &Path, script: &str) -> (f64, u64) {
    let report = dir.join("time.txt");
    sh(dir, &format!("/usr/bin/time -o {} -f '%e %M' bash -c {}", report.display(), shell_quote(script)));
    let text = fs::read_to_string(&report).unwrap();
    let mut it = text.split_whitespace();
    (it.next().unwrap().parse().unwrap(), it.next().unwrap().parse().unwrap())
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The bytes in the files under `p` (directories themselves not counted).
fn du(p: &Path) -> u64 {
    let out = sh(Path::new("/"), &format!("find {} -type f -printf '%s\\n'", p.display()));
    String::from_utf8(out).unwrap().lines().map(|l| l.parse::<u64>().unwrap()).sum()
}

fn largest_file(dir: &Path) -> PathBuf {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| fs::metadata(p).unwrap().len())
        .unwrap()
}
