//! Test infrastructure for rvkit's registry tests and benchmarks: a real
//! registry process, a fault-injecting proxy, deterministic test images, and
//! cosign-format signatures made with OpenSSL.
//!
//! Shared by `rvkit-podvm`'s integration tests, the `rvkit` end-to-end tests
//! and the `podvm_fetch` benchmark; not published.
#![warn(missing_docs)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde_json::json;
use sha2::{Digest as _, Sha256};

/// Media type of an OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Media type of an OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Media type of an uncompressed tar layer.
pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// Media type of a gzip-compressed tar layer.
pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Media type of a zstd-compressed tar layer.
pub const LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Media type of cosign's simple-signing payload layers.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

/// SHA-256 of `data` as lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// `b` as lowercase hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The OCI digest (`sha256:<hex>`) of `data`.
pub fn digest_of(data: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(data))
}

/// Runs `program` with `args`, feeding it `stdin`, and returns its stdout.
/// Fails the test with the program's stderr when it cannot run or fails.
pub fn pipe(program: &str, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program} (is it installed?): {e}"));
    // Feed stdin from another thread so a large output cannot deadlock us.
    let mut input = child.stdin.take().expect("stdin is piped");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || input.write_all(&data));
    let out = child.wait_with_output().expect("wait for the child");
    writer.join().expect("the writer thread").expect("write stdin");
    assert!(out.status.success(), "{program} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// How the `kind` entry `name` (a program or a file) is installed, from the
/// suite's one list of requirements (tests/data/requirements.txt); an entry
/// missing from it fails the test that uses it.
pub fn install_of(kind: &str, name: &str) -> &'static str {
    include_str!("../../../tests/data/requirements.txt")
        .lines()
        .map(str::split_whitespace)
        .find_map(|mut cols| match (cols.next(), cols.next(), cols.next()) {
            (Some(k), Some(n), Some(install)) if k == kind && n == name => Some(install),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{kind} {name} is not in tests/data/requirements.txt; add it there"))
}

/// Whether tests must fail rather than skip when a tool or service is
/// missing: always in CI (`CI=true`) and under `cargo xtask test`.
pub fn services_required() -> bool {
    std::env::var("CI").as_deref() == Ok("true") || std::env::var_os("RVKIT_REQUIRE_SERVICES").is_some()
}

/// True if `tool` can be run; otherwise the test is skipped, or fails when
/// `CI=true` (CI must run every test).
pub fn require(tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    if found {
        return true;
    }
    let install = install_of("program", tool);
    if services_required() {
        panic!("{tool} is not installed ({install}; `cargo xtask test` installs it)");
    }
    eprintln!("skipped: {tool} not installed ({install}; `cargo xtask test` installs it)");
    false
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until `addr` answers an HTTP request on `/v2/`, at most `limit`.
fn wait_for_v2(addr: &str, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(mut s) = TcpStream::connect(addr) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
            let req = format!("GET /v2/ HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
            let mut buf = [0u8; 12];
            if s.write_all(req.as_bytes()).is_ok() && s.read_exact(&mut buf).is_ok() {
                return buf.starts_with(b"HTTP/1.1 200") || buf.starts_with(b"HTTP/1.1 401");
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Waits until something listens on `addr`, at most `limit`.
fn wait_for_port(addr: &str, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if TcpStream::connect(addr).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Debian's `docker-registry` (distribution 2.8) on 127.0.0.1 with an
/// ephemeral port and filesystem storage in a temporary directory; killed
/// on drop.
pub struct Registry {
    child: Child,
    /// `127.0.0.1:PORT` the registry listens on.
    pub addr: String,
    dir: tempfile::TempDir,
    /// The basic-auth user and password, if authentication is on.
    pub credentials: Option<(String, String)>,
    /// Whether the registry speaks TLS (with a certificate for another name,
    /// from no authority anyone trusts).
    pub tls: bool,
}

impl Registry {
    /// A registry without authentication, or `None` if the binary is missing.
    pub fn start() -> Option<Registry> {
        Self::launch(None)
    }

    /// A registry with htpasswd (bcrypt) basic authentication.
    pub fn start_with_htpasswd(user: &str, password: &str) -> Option<Registry> {
        if !require("htpasswd") {
            return None;
        }
        Self::launch(Some((user.to_owned(), password.to_owned())))
    }

    /// A registry with bearer-token authentication, as public registries
    /// use: clients get a token from `tokens` (with their credentials, or
    /// anonymously) and present it to the registry.
    pub fn start_with_tokens(tokens: &TokenServer) -> Option<Registry> {
        if !require("docker-registry") {
            return None;
        }
        let auth = format!(
            "auth:\n  token:\n    realm: http://{}/token\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
            tokens.addr,
            tokens.cert.display()
        );
        Self::launch_with(Some((tokens.user.clone(), tokens.password.clone())), auth, false)
    }

    /// A registry that speaks only TLS, with a self-signed certificate for
    /// `wrong.example`: a client that checks certificates must refuse it.
    pub fn start_with_wrong_certificate() -> Option<Registry> {
        if !require("docker-registry") || !require("openssl") {
            return None;
        }
        Self::launch_with(None, String::new(), true)
    }

    fn launch(credentials: Option<(String, String)>) -> Option<Registry> {
        if !require("docker-registry") {
            return None;
        }
        Self::launch_with(credentials, String::new(), false)
    }

    fn launch_with(credentials: Option<(String, String)>, mut auth: String, tls: bool) -> Option<Registry> {
        let dir = tempfile::tempdir().unwrap();
        let mut tls_config = String::new();
        if tls {
            openssl(
                dir.path(),
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                    "-nodes",
                    "-keyout",
                    "tls.key",
                    "-out",
                    "tls.crt",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=wrong.example",
                    "-addext",
                    "subjectAltName=DNS:wrong.example",
                ],
            );
            tls_config = format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                dir.path().join("tls.crt").display(),
                dir.path().join("tls.key").display()
            );
        }
        if auth.is_empty()
            && let Some((user, password)) = &credentials
        {
            let out = Command::new("htpasswd").args(["-Bbn", user, password]).output().unwrap();
            assert!(out.status.success());
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &out.stdout).unwrap();
            auth = format!("auth:\n  htpasswd:\n    realm: test\n    path: {}\n", file.display());
        }
        // The port is free when probed; another process could take it before
        // the registry binds, so a few attempts are made.
        for _ in 0..5 {
            let addr = format!("127.0.0.1:{}", free_port());
            let config = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n{tls_config}{auth}",
                dir.path().join("storage").display()
            );
            let cfg = dir.path().join("config.yml");
            std::fs::write(&cfg, config).unwrap();
            let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
            let mut child = Command::new("docker-registry")
                .arg("serve")
                .arg(&cfg)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap();
            let up = if tls {
                wait_for_port(&addr, Duration::from_secs(10))
            } else {
                wait_for_v2(&addr, Duration::from_secs(10))
            };
            if up {
                return Some(Registry { child, addr, dir, credentials, tls });
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("docker-registry did not start");
    }

    /// The file holding blob `digest` in the registry's storage.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir.path().join("storage/docker/registry/v2/blobs/sha256").join(&hex[..2]).join(hex).join("data")
    }

    /// Stops the registry now.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn client(&self) -> (Client, RegistryAuth) {
        let client = Client::new(ClientConfig {
            protocol: if self.tls { ClientProtocol::Https } else { ClientProtocol::Http },
            accept_invalid_certificates: self.tls,
            platform_resolver: None,
            ..Default::default()
        });
        let auth = match &self.credentials {
            Some((u, p)) => RegistryAuth::Basic(u.clone(), p.clone()),
            None => RegistryAuth::Anonymous,
        };
        (client, auth)
    }

    fn reference(&self, repo: &str, tag: &str) -> Reference {
        Reference::with_tag(self.addr.clone(), repo.to_owned(), tag.to_owned())
    }

    /// Pushes blobs and a manifest under `tag` with oci-client.
    pub async fn push(&self, repo: &str, tag: &str, blobs: &[&[u8]], manifest: &[u8], media_type: &str) {
        let (client, auth) = self.client();
        let r = self.reference(repo, tag);
        client.store_auth_if_needed(r.resolve_registry(), &auth).await;
        for b in blobs {
            client
                .push_blob(&r, b.to_vec(), &digest_of(b))
                .await
                .unwrap_or_else(|e| panic!("push blob: {e}"));
        }
        client
            .push_manifest_raw(&r, manifest.to_vec(), http::HeaderValue::from_str(media_type).unwrap())
            .await
            .unwrap_or_else(|e| panic!("push manifest: {e}"));
    }

    /// Pushes an image and returns its manifest digest.
    pub async fn push_image(&self, repo: &str, tag: &str, img: &Image) -> String {
        let mut blobs: Vec<&[u8]> = img.layers.iter().map(|l| l.bytes.as_slice()).collect();
        blobs.push(&img.config);
        self.push(repo, tag, &blobs, &img.manifest, OCI_MANIFEST).await;
        img.digest()
    }

    /// Pushes an image under `repo:tag`, signs its digest with `signer`
    /// as `HOST/repo` (with a bundle from `rekor` when given), pushes the
    /// signature as cosign does, and returns the digest.
    pub async fn push_signed_image(
        &self,
        repo: &str,
        tag: &str,
        img: &Image,
        signer: &Signer,
        rekor: Option<&Rekor>,
    ) -> String {
        let digest = self.push_image(repo, tag, img).await;
        let sig = Sig::make(signer, rekor, &format!("{}/{repo}", self.addr), &digest);
        self.push_signatures(repo, &digest, &SignatureManifest::new(&[sig])).await;
        digest
    }

    /// Pushes a signature manifest as cosign does, under `sha256-<hex>.sig`.
    pub async fn push_signatures(&self, repo: &str, signed_digest: &str, sigs: &SignatureManifest) {
        let tag = format!("{}.sig", signed_digest.replace(':', "-"));
        let mut blobs: Vec<&[u8]> = sigs.payloads.iter().map(Vec::as_slice).collect();
        blobs.push(&sigs.config);
        self.push(repo, &tag, &blobs, &sigs.manifest, OCI_MANIFEST).await;
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A blob with its media type.
#[derive(Clone)]
pub struct Layer {
    /// The layer's media type.
    pub media_type: &'static str,
    /// The blob as stored in the registry.
    pub bytes: Vec<u8>,
    /// Digest of the uncompressed tar (the config's diff ID).
    pub diff_id: String,
}

impl Layer {
    /// Compresses `tar` as `media_type` says.
    pub fn new(media_type: &'static str, tar: &[u8]) -> Layer {
        let bytes = match media_type {
            LAYER_TAR => tar.to_vec(),
            LAYER_GZIP => gzip(tar),
            LAYER_ZSTD => zstd::encode_all(tar, 3).unwrap(),
            _ => panic!("unknown layer type"),
        };
        Layer { media_type, bytes, diff_id: digest_of(tar) }
    }

    /// The manifest descriptor of this layer.
    pub fn descriptor(&self) -> serde_json::Value {
        json!({"mediaType": self.media_type, "digest": digest_of(&self.bytes), "size": self.bytes.len()})
    }
}

/// Compresses with GNU gzip (`-n`: no name, no timestamp, so the output is
/// deterministic): the layers the crate decodes come from another encoder.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .args(["-1", "-n", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip");
    let mut stdin = child.stdin.take().unwrap();
    let input = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success());
    out.stdout
}

/// A file tree made into a tar stream by GNU tar, with every field that
/// could vary between runs pinned.
pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    for (path, data) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
    }
    let out = Command::new("tar")
        .args([
            "--sort=name",
            "--mtime=@0",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "--mode=go-w",
            "--format=pax",
            "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
            "-cf",
            "-",
            "-C",
        ])
        .arg(dir.path())
        .arg(".")
        .output()
        .expect("GNU tar");
    assert!(out.status.success());
    out.stdout
}

/// A `podvm.qcow2` stand-in: incompressible bytes followed by zeros, so the
/// compressed layer is large on the wire and larger still unpacked.
pub fn fake_qcow2(random: usize, zeros: usize, seed: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(random + zeros);
    let mut x = seed | 1;
    while v.len() < random {
        // xorshift64: deterministic and cheap, not for cryptography.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(random);
    v.resize(random + zeros, 0);
    v
}

/// The measurements file the Red Hat podvm image carries, with a marker
/// that makes each test image (and so each layer blob) unique.
pub fn measurements(marker: &str) -> Vec<u8> {
    let h = |s: &str| format!("0x{}", sha256_hex(format!("{marker}/{s}").as_bytes()));
    format!(
        "{{\"measurements\":{{\"sha256\":{{\"pcr03\":\"0x3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969\",\"pcr09\":\"{}\",\"pcr11\":\"{}\",\"pcr12\":\"{}\"}}}}}}\n",
        h("9"),
        h("11"),
        h("12")
    )
    .into_bytes()
}

/// An OCI image: config, layers, manifest.
pub struct Image {
    /// The config blob.
    pub config: Vec<u8>,
    /// The layers, in order.
    pub layers: Vec<Layer>,
    /// The manifest bytes.
    pub manifest: Vec<u8>,
}

impl Image {
    /// An image of `layers` for `linux/<arch>`.
    pub fn new(layers: Vec<Layer>, arch: &str) -> Image {
        let diff_ids: Vec<&str> = layers.iter().map(|l| l.diff_id.as_str()).collect();
        let config = serde_json::to_vec(&json!({
            "architecture": arch,
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .unwrap();
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": digest_of(&config), "size": config.len()},
            "layers": layers.iter().map(Layer::descriptor).collect::<Vec<_>>(),
        }))
        .unwrap();
        Image { config, layers, manifest }
    }

    /// The same image with `annotations` in its manifest (the layers and
    /// config are unchanged; the manifest, and so its digest, is new).
    pub fn with_annotations(mut self, annotations: &[(&str, &str)]) -> Image {
        let mut manifest: serde_json::Value = serde_json::from_slice(&self.manifest).unwrap();
        let map: serde_json::Map<String, serde_json::Value> =
            annotations.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
        manifest["annotations"] = serde_json::Value::Object(map);
        self.manifest = serde_json::to_vec(&manifest).unwrap();
        self
    }

    /// The usual podvm image: `image/measurements.json` and a large
    /// `image/podvm.qcow2` in one gzip layer.
    pub fn podvm(marker: &str) -> Image {
        let qcow = fake_qcow2(3 << 20, 5 << 20, marker.len() as u64 + 7);
        let m = measurements(marker);
        let tar = tar_of(&[("image/measurements.json", &m), ("image/podvm.qcow2", &qcow)]);
        Image::new(vec![Layer::new(LAYER_GZIP, &tar)], "amd64")
    }

    /// The manifest digest.
    pub fn digest(&self) -> String {
        digest_of(&self.manifest)
    }
}

/// An OpenSSL key pair: OpenSSL makes every signature in these tests, so
/// the verifier is checked against a signer that is not this crate.
pub struct Signer {
    dir: tempfile::TempDir,
    /// The public key, PEM (SubjectPublicKeyInfo).
    pub public_pem: Vec<u8>,
    digest_flag: &'static str,
}

fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out =
        Command::new("openssl").args(args).current_dir(dir).stderr(Stdio::null()).output().expect("openssl");
    assert!(out.status.success(), "openssl {args:?}");
    out.stdout
}

impl Signer {
    /// `curve`: `prime256v1` or `secp384r1`; `rsa` and `ed25519` for those.
    pub fn new(kind: &str) -> Signer {
        let dir = tempfile::tempdir().unwrap();
        let digest_flag = match kind {
            "prime256v1" => {
                openssl(dir.path(), &["ecparam", "-name", kind, "-genkey", "-noout", "-out", "key.pem"]);
                "-sha256"
            }
            "secp384r1" => {
                openssl(dir.path(), &["ecparam", "-name", kind, "-genkey", "-noout", "-out", "key.pem"]);
                "-sha384"
            }
            "rsa" => {
                openssl(
                    dir.path(),
                    &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "key.pem"],
                );
                "-sha256"
            }
            "ed25519" => {
                openssl(dir.path(), &["genpkey", "-algorithm", "ed25519", "-out", "key.pem"]);
                ""
            }
            _ => panic!("unknown key kind {kind}"),
        };
        openssl(dir.path(), &["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"]);
        let public_pem = std::fs::read(dir.path().join("pub.pem")).unwrap();
        Signer { dir, public_pem, digest_flag }
    }

    /// The signature over `msg`: DER for ECDSA, raw for RSA and Ed25519.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let m = self.dir.path().join("msg");
        std::fs::write(&m, msg).unwrap();
        if self.digest_flag.is_empty() {
            openssl(
                self.dir.path(),
                &["pkeyutl", "-sign", "-inkey", "key.pem", "-rawin", "-in", "msg", "-out", "sig"],
            );
        } else {
            openssl(self.dir.path(), &["dgst", self.digest_flag, "-sign", "key.pem", "-out", "sig", "msg"]);
        }
        std::fs::read(self.dir.path().join("sig")).unwrap()
    }
}

/// The simple-signing payload cosign writes for `docker_ref@digest`.
pub fn payload(docker_ref: &str, digest: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "critical": {
            "identity": {"docker-reference": docker_ref},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature"
        },
        "optional": null
    }))
    .unwrap()
}

/// A test Rekor log: a key pair that signs entry timestamps.
pub struct Rekor {
    /// The log's signing key.
    pub signer: Signer,
    next_index: AtomicUsize,
}

impl Default for Rekor {
    fn default() -> Rekor {
        Rekor::new()
    }
}

impl Rekor {
    /// A log with a fresh P-256 key.
    pub fn new() -> Rekor {
        Rekor { signer: Signer::new("prime256v1"), next_index: AtomicUsize::new(1000) }
    }

    /// The log ID: SHA-256 of the key's DER SubjectPublicKeyInfo, computed
    /// with OpenSSL's DER output.
    pub fn log_id(&self) -> String {
        let der = openssl(self.signer.dir.path(), &["pkey", "-pubin", "-in", "pub.pem", "-outform", "DER"]);
        sha256_hex(&der)
    }

    /// A bundle logging a `hashedrekord` entry for `sig` over `payload` by
    /// `signer_pem`.
    pub fn bundle(&self, sig: &[u8], payload: &[u8], signer_pem: &[u8]) -> String {
        let body = serde_json::to_vec(&json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": sha256_hex(payload)}},
                "signature": {"content": STANDARD.encode(sig), "publicKey": {"content": STANDARD.encode(signer_pem)}}
            }
        }))
        .unwrap();
        self.bundle_for_body(&STANDARD.encode(body))
    }

    /// A bundle whose signed entry timestamp covers `body_b64`.
    pub fn bundle_for_body(&self, body_b64: &str) -> String {
        let index = self.next_index.fetch_add(1, Ordering::SeqCst);
        let time = 1_700_000_000 + index;
        let log_id = self.log_id();
        // RFC 8785 canonical form of the four fields, written out by hand.
        let canonical = format!(
            "{{\"body\":\"{body_b64}\",\"integratedTime\":{time},\"logID\":\"{log_id}\",\"logIndex\":{index}}}"
        );
        let set = self.signer.sign(canonical.as_bytes());
        serde_json::to_string(&json!({
            "SignedEntryTimestamp": STANDARD.encode(set),
            "Payload": {"body": body_b64, "integratedTime": time, "logIndex": index, "logID": log_id}
        }))
        .unwrap()
    }
}

/// One signature layer: payload, signature, optional bundle.
#[derive(Clone)]
pub struct Sig {
    /// The simple-signing payload.
    pub payload: Vec<u8>,
    /// The signature over the payload.
    pub signature: Vec<u8>,
    /// The Rekor bundle, if the signature was logged.
    pub bundle: Option<String>,
}

impl Sig {
    /// Signs `payload(docker_ref, digest)` and logs it in `rekor` if given.
    pub fn make(signer: &Signer, rekor: Option<&Rekor>, docker_ref: &str, digest: &str) -> Sig {
        let p = payload(docker_ref, digest);
        let signature = signer.sign(&p);
        let bundle = rekor.map(|r| r.bundle(&signature, &p, &signer.public_pem));
        Sig { payload: p, signature, bundle }
    }
}

/// The `sha256-<hex>.sig` manifest with its blobs.
pub struct SignatureManifest {
    /// The config blob.
    pub config: Vec<u8>,
    /// The payload blobs, one per signature.
    pub payloads: Vec<Vec<u8>>,
    /// The manifest bytes.
    pub manifest: Vec<u8>,
}

impl SignatureManifest {
    /// The manifest carrying `sigs`, as cosign writes it.
    pub fn new(sigs: &[Sig]) -> SignatureManifest {
        let config = serde_json::to_vec(&json!({
            "architecture": "", "os": "", "config": {},
            "rootfs": {"type": "layers", "diff_ids": sigs.iter().map(|s| digest_of(&s.payload)).collect::<Vec<_>>()}
        }))
        .unwrap();
        let layers: Vec<serde_json::Value> = sigs
            .iter()
            .map(|s| {
                let mut ann = serde_json::Map::new();
                ann.insert(
                    "dev.cosignproject.cosign/signature".into(),
                    STANDARD.encode(&s.signature).into(),
                );
                if let Some(b) = &s.bundle {
                    ann.insert("dev.sigstore.cosign/bundle".into(), b.clone().into());
                }
                json!({"mediaType": SIMPLE_SIGNING, "digest": digest_of(&s.payload), "size": s.payload.len(), "annotations": ann})
            })
            .collect();
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": digest_of(&config), "size": config.len()},
            "layers": layers
        }))
        .unwrap();
        SignatureManifest { config, payloads: sigs.iter().map(|s| s.payload.clone()).collect(), manifest }
    }
}

/// What the proxy does to the traffic it forwards.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Forward every request unchanged (only to log them).
    None,
    /// Answer the first `n` requests with HTTP 500.
    FailFirst(usize),
    /// For GETs of `blob`, forward only `bytes` bytes of the response and
    /// cut the connection, the first time only; with `die`, also stop
    /// accepting connections, as if the registry crashed.
    CutBlob {
        /// The blob's digest (`sha256:…`).
        blob: String,
        /// How many bytes of the response (head included) get through.
        bytes: usize,
        /// Whether the proxy stops accepting connections afterwards.
        die: bool,
    },
    /// For GETs of `blob`, forward the response head, then one byte of the
    /// body per second, for as long as the client listens.
    Trickle {
        /// The blob's digest.
        blob: String,
    },
    /// For GETs of `blob`, change the response's `Content-Length` by
    /// `delta` and forward the body as it is.
    ContentLength {
        /// The blob's digest.
        blob: String,
        /// What is added to the true length.
        delta: i64,
    },
    /// Answer manifest GETs with an endless body of spaces (a manifest
    /// larger than any cap), with a Content-Length of 1 GiB if `announce`,
    /// else delimited by the connection's end.
    HugeManifest {
        /// Whether a Content-Length is sent.
        announce: bool,
    },
    /// Answer GETs of `blob` with a redirect to the same URL, every time.
    RedirectLoop {
        /// The blob's digest.
        blob: String,
    },
}

/// A server that accepts connections and never answers: each connection
/// stays open, silent, until the server is dropped.
pub struct Silent {
    /// `127.0.0.1:PORT` the server listens on.
    pub addr: String,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Silent {
    /// A silent server on an ephemeral port.
    pub fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(300);
            while !stop2.load(Ordering::SeqCst) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((conn, _)) => held.push(conn),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Silent { addr, stop, thread: Some(thread) }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The service name the [`TokenServer`]'s tokens are for.
pub const TOKEN_SERVICE: &str = "rvkit-test-registry";

/// The token requests a [`TokenServer`] saw: (the basic-auth user, or ""
/// when anonymous; the scopes asked for).
pub type TokenRequests = Arc<std::sync::Mutex<Vec<(String, Vec<String>)>>>;
/// The issuer the [`TokenServer`]'s tokens name.
pub const TOKEN_ISSUER: &str = "rvkit-test-token-issuer";

/// A bearer-token server for docker-registry's `token` authentication (the
/// flow of the Docker registry token specification): `GET /token?service=
/// &scope=repository:NAME:ACTIONS` with optional basic credentials answers
/// `{"token": JWT}`, an RS256 JWT signed with OpenSSL whose `x5c` header
/// carries a self-signed certificate the registry trusts. `user` with the
/// right password gets what it asks for; `reader` with its password gets a
/// token that grants nothing; anonymous requests get a token that grants
/// nothing; a wrong password gets 401.
pub struct TokenServer {
    /// `127.0.0.1:PORT` the server listens on.
    pub addr: String,
    /// The user whose tokens grant what they ask for.
    pub user: String,
    /// That user's password.
    pub password: String,
    /// The certificate the registry trusts for token signatures.
    pub cert: PathBuf,
    /// Every token request seen.
    pub requests: TokenRequests,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl TokenServer {
    /// A server on an ephemeral port, or `None` without OpenSSL.
    pub fn start(user: &str, password: &str) -> Option<TokenServer> {
        if !require("openssl") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "token.key",
                "-out",
                "token.crt",
                "-days",
                "2",
                "-subj",
                "/CN=rvkit test token issuer",
            ],
        );
        let der = openssl(d, &["x509", "-in", "token.crt", "-outform", "DER"]);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(std::sync::Mutex::new(Vec::new()));
        let accounts = vec![
            (user.to_owned(), password.to_owned(), true),
            ("reader".to_owned(), "reader-password".to_owned(), false),
        ];
        let (stop2, requests2, key) = (stop.clone(), requests.clone(), d.join("token.key"));
        let x5c = STANDARD.encode(der);
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(300);
            while !stop2.load(Ordering::SeqCst) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((mut client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        token_request(&mut client, &accounts, &key, &x5c, &requests2);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Some(TokenServer {
            addr,
            user: user.to_owned(),
            password: password.to_owned(),
            cert: d.join("token.crt"),
            requests,
            stop,
            thread: Some(thread),
            _dir: dir,
        })
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let h = u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("??"), 16);
                out.push(h.unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

fn token_request(
    client: &mut TcpStream,
    accounts: &[(String, String, bool)],
    key: &Path,
    x5c: &str,
    requests: &TokenRequests,
) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(10)));
    let Some(head) = read_head(client) else { return };
    let text = String::from_utf8_lossy(&head).into_owned();
    let target = text.lines().next().unwrap_or_default().split(' ').nth(1).unwrap_or_default().to_owned();
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let mut service = String::new();
    let mut scopes = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("service", v)) => service = percent_decode(v),
            Some(("scope", v)) => scopes.push(percent_decode(v)),
            _ => {}
        }
    }
    let basic = text.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        if !name.eq_ignore_ascii_case("authorization") {
            return None;
        }
        let decoded = STANDARD.decode(value.trim().strip_prefix("Basic ")?).ok()?;
        let (u, p) =
            String::from_utf8(decoded).ok()?.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned()))?;
        Some((u, p))
    });
    requests
        .lock()
        .unwrap()
        .push((basic.as_ref().map(|(u, _)| u.clone()).unwrap_or_default(), scopes.clone()));
    let grants = match &basic {
        None => false,
        Some((u, p)) => match accounts.iter().find(|(au, ap, _)| au == u && ap == p) {
            Some((_, _, grants)) => *grants,
            None => {
                let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#;
                let _ = write!(
                    client,
                    "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                return;
            }
        },
    };
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .filter(|_| grants)
        .filter_map(|s| {
            let mut parts = s.splitn(3, ':');
            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            Some(json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
        })
        .collect();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let header = json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
    let claims = json!({
        "iss": TOKEN_ISSUER,
        "sub": basic.as_ref().map(|(u, _)| u.as_str()).unwrap_or(""),
        "aud": service,
        "exp": now + 300,
        "nbf": now - 10,
        "iat": now,
        "jti": format!("{now}-{}", requests.lock().unwrap().len()),
        "access": access,
    });
    let signing_input =
        format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
    let mut sign = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    sign.stdin.take().unwrap().write_all(signing_input.as_bytes()).unwrap();
    let signature = sign.wait_with_output().unwrap();
    assert!(signature.status.success());
    let token = format!("{signing_input}.{}", b64url(&signature.stdout));
    let body = json!({"token": token, "access_token": token, "expires_in": 300}).to_string();
    let _ = write!(
        client,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// A loopback HTTP proxy in front of a registry that injects a [`Fault`].
/// Every forwarded request gets `Connection: close`, so each connection
/// carries one request and the proxy sees them all.
pub struct Proxy {
    /// `127.0.0.1:PORT` the proxy listens on.
    pub addr: String,
    stop: Arc<AtomicBool>,
    /// How many connections the proxy accepted.
    pub requests: Arc<AtomicUsize>,
    /// The request line (`GET /v2/… HTTP/1.1`) of every request the proxy
    /// read, in the order read.
    pub log: Arc<std::sync::Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// A proxy in front of `upstream` (`HOST:PORT`) injecting `fault`.
    pub fn start(upstream: &str, fault: Fault) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let cut_done = Arc::new(AtomicBool::new(false));
        let upstream = upstream.to_owned();
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (stop2, requests2, log2) = (stop.clone(), requests.clone(), log.clone());
        let thread = std::thread::spawn(move || {
            // The accept loop polls so that it can stop; it ends by itself
            // after five minutes at the latest.
            let deadline = Instant::now() + Duration::from_secs(300);
            while !stop2.load(Ordering::SeqCst) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let n = requests2.fetch_add(1, Ordering::SeqCst);
                        let (up, fault, stop3, cut, log3) =
                            (upstream.clone(), fault.clone(), stop2.clone(), cut_done.clone(), log2.clone());
                        std::thread::spawn(move || handle(client, &up, &fault, n, &stop3, &cut, &log3));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Proxy { addr, stop, requests, log, thread: Some(thread) }
    }

    /// The request lines logged so far.
    pub fn request_lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The head of an HTTP message, or `None` when the peer closes, sends too
/// much, or speaks TLS (as a plain HTTP server, the connection is closed).
fn read_head(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 64 * 1024 || s.read(&mut byte).ok()? == 0 || (head.is_empty() && byte[0] == 0x16) {
            return None;
        }
        head.push(byte[0]);
    }
    Some(head)
}

fn handle(
    mut client: TcpStream,
    upstream: &str,
    fault: &Fault,
    n: usize,
    stop: &AtomicBool,
    cut_done: &AtomicBool,
    log: &std::sync::Mutex<Vec<String>>,
) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(30)));
    let Some(head) = read_head(&mut client) else {
        return;
    };
    let text = String::from_utf8_lossy(&head).into_owned();
    let request_line = text.lines().next().unwrap_or_default().to_owned();
    log.lock().unwrap().push(request_line.clone());
    if let Fault::FailFirst(k) = fault
        && n < *k
    {
        let _ = client.write_all(
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\noops\n",
        );
        return;
    }
    let path = request_line.split(' ').nth(1).unwrap_or_default().to_owned();
    let blob_get = |blob: &str| request_line.starts_with("GET ") && path.contains(&format!("/blobs/{blob}"));
    if let Fault::RedirectLoop { blob } = fault
        && blob_get(blob)
    {
        let _ = write!(
            client,
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: {path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        return;
    }
    if let Fault::HugeManifest { announce } = fault
        && request_line.starts_with("GET ")
        && path.contains("/manifests/")
    {
        let length = if *announce { "Content-Length: 1073741824\r\n" } else { "" };
        let _ = write!(
            client,
            "HTTP/1.1 200 OK\r\nContent-Type: {OCI_MANIFEST}\r\n{length}Connection: close\r\n\r\n{{"
        );
        let spaces = [b' '; 64 * 1024];
        while !stop.load(Ordering::SeqCst) && client.write_all(&spaces).is_ok() {}
        return;
    }
    // Rewrite the head with `Connection: close`.
    let mut rewritten = String::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            rewritten.push_str(line);
            rewritten.push_str("\r\n");
        }
    }
    rewritten.push_str("Connection: close\r\n\r\n");
    let Ok(mut up) = TcpStream::connect(upstream) else {
        return;
    };
    let _ = up.set_read_timeout(Some(Duration::from_secs(30)));
    if up.write_all(rewritten.as_bytes()).is_err() {
        return;
    }
    match fault {
        Fault::Trickle { blob } if blob_get(blob) => {
            let Some(head) = read_head(&mut up) else { return };
            let _ = client.write_all(&head);
            let mut byte = [0u8; 1];
            while !stop.load(Ordering::SeqCst) && matches!(up.read(&mut byte), Ok(1)) {
                if client.write_all(&byte).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        Fault::ContentLength { blob, delta } if blob_get(blob) => {
            let Some(head) = read_head(&mut up) else { return };
            let head = String::from_utf8_lossy(&head).into_owned();
            let mut out = String::new();
            for line in head.split("\r\n").filter(|l| !l.is_empty()) {
                match line.split_once(':') {
                    Some((name, value)) if name.eq_ignore_ascii_case("content-length") => {
                        let n: i64 = value.trim().parse().unwrap();
                        out.push_str(&format!("Content-Length: {}\r\n", n + delta));
                    }
                    _ => {
                        out.push_str(line);
                        out.push_str("\r\n");
                    }
                }
            }
            out.push_str("\r\n");
            if client.write_all(out.as_bytes()).is_err() {
                return;
            }
        }
        _ => {}
    }
    let mut limit = usize::MAX;
    let mut die = false;
    if let Fault::CutBlob { blob, bytes, die: d } = fault
        && blob_get(blob)
        && !cut_done.swap(true, Ordering::SeqCst)
    {
        limit = *bytes;
        die = *d;
    }
    let mut sent = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let want = buf.len().min(limit - sent);
        if want == 0 {
            break;
        }
        match up.read(&mut buf[..want]) {
            Ok(0) | Err(_) => break,
            Ok(k) => {
                if client.write_all(&buf[..k]).is_err() {
                    break;
                }
                sent += k;
            }
        }
    }
    if die {
        stop.store(true, Ordering::SeqCst);
    }
    let _ = client.shutdown(Shutdown::Both);
}

/// One 512-byte ustar header block for `name` (at most 100 bytes), with
/// `size` in octal, or in GNU base-256 when octal does not fit.
fn ustar_header(name: &[u8], typeflag: u8, size: u64) -> [u8; 512] {
    assert!(name.len() <= 100, "ustar names are at most 100 bytes");
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name);
    h[100..107].copy_from_slice(b"0000644");
    h[108..115].copy_from_slice(b"0000000");
    h[116..123].copy_from_slice(b"0000000");
    if size < 8u64.pow(11) {
        h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
    } else {
        h[124] = 0x80;
        h[128..136].copy_from_slice(&size.to_be_bytes());
    }
    h[136..147].copy_from_slice(b"00000000000");
    h[156] = typeflag;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    h
}

/// Appends a regular-file entry holding `data` to `out`, with a GNU long
/// name entry first when `name` is longer than 100 bytes.
fn tar_entry(out: &mut Vec<u8>, name: &[u8], data: &[u8]) {
    if name.len() > 100 {
        let long: Vec<u8> = name.iter().copied().chain([0]).collect();
        out.extend_from_slice(&ustar_header(b"././@LongLink", b'L', long.len() as u64));
        out.extend_from_slice(&long);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.extend_from_slice(&ustar_header(&name[..name.len().min(100)], b'0', data.len() as u64));
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

/// What a [`tar_bomb`] layer holds, in this order.
#[derive(Clone, Debug, Default)]
pub struct TarBomb {
    /// Files (empty) at paths `d<i>/a/a/…/f`, this deep (GNU long names).
    pub deep_files: usize,
    /// How many directories deep each of those paths is.
    pub depth: usize,
    /// Further empty files, `m/<i>`.
    pub entries: usize,
    /// Ordinary files, after the above.
    pub files: Vec<(String, Vec<u8>)>,
    /// Then one entry claiming 1 TiB with only 1 MiB of data behind it, and
    /// the archive ends there (no end-of-archive blocks).
    pub huge_entry: bool,
}

/// A gzip layer (valid gzip, GNU `gzip -1 -n`) holding the tar that `bomb`
/// describes, generated block by block while GNU gzip compresses it and
/// `sha256sum` hashes it (the diff ID), so the tar itself is never held in
/// memory.
pub fn tar_bomb(bomb: &TarBomb) -> Layer {
    let spawn = |program: &str, args: &[&str]| {
        Command::new(program).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect(program)
    };
    let mut gzip = spawn("gzip", &["-1", "-n", "-c"]);
    let mut sha256sum = spawn("sha256sum", &[]);
    let (mut zin, mut hin) = (gzip.stdin.take().unwrap(), sha256sum.stdin.take().unwrap());
    let bomb = bomb.clone();
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(2 << 20);
        let mut flush = |buf: &mut Vec<u8>, force: bool| -> std::io::Result<()> {
            if force || buf.len() >= 1 << 20 {
                zin.write_all(buf)?;
                hin.write_all(buf)?;
                buf.clear();
            }
            Ok(())
        };
        for i in 0..bomb.deep_files {
            let name = format!("d{i}/{}f", "a/".repeat(bomb.depth));
            tar_entry(&mut buf, name.as_bytes(), b"");
            flush(&mut buf, false)?;
        }
        for i in 0..bomb.entries {
            tar_entry(&mut buf, format!("m/{i}").as_bytes(), b"");
            flush(&mut buf, false)?;
        }
        for (name, data) in &bomb.files {
            tar_entry(&mut buf, name.as_bytes(), data);
            flush(&mut buf, false)?;
        }
        if bomb.huge_entry {
            buf.extend_from_slice(&ustar_header(b"huge", b'0', 1 << 40));
            buf.resize(buf.len() + (1 << 20), 0);
        } else {
            buf.extend_from_slice(&[0u8; 1024]);
        }
        flush(&mut buf, true)
    });
    // Both readers are drained while the writer runs, so neither pipe fills.
    let hashed = std::thread::spawn(move || sha256sum.wait_with_output().unwrap());
    let out = gzip.wait_with_output().unwrap();
    writer.join().unwrap().expect("gzip and sha256sum read the whole tar");
    let hashed = hashed.join().unwrap();
    assert!(out.status.success() && hashed.status.success());
    let sum = String::from_utf8(hashed.stdout).unwrap();
    let diff_id = format!("sha256:{}", sum.split_whitespace().next().unwrap());
    Layer { media_type: LAYER_GZIP, bytes: out.stdout, diff_id }
}
