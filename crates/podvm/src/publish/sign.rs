//! Signing an image in a layout the way `cosign sign --key` does, and a
//! stand-in transparency log that issues Rekor bundles.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::Signer as _;
use p256::elliptic_curve::Generate as _;
use p256::elliptic_curve::zeroize::Zeroizing;
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, EncodePublicKey as _};
use pem_rfc7468::LineEnding;
use rvkit_pcr::HashAlg;

use super::writer::{EmptyObject, ImageConfig, LayoutWriter, RootFs, to_json, write_atomic};
use crate::cosign::{
    BUNDLE_ANNOTATION, Critical, Identity, ImageClaim, PAYLOAD_TYPE, Payload, SIGNATURE_ANNOTATION,
};
use crate::digest::BlobDigest;
use crate::error::Error;
use crate::keys::PublicKey;
use crate::layout::LocalSource;
use crate::manifest::{ImageManifest, Manifest, OCI_CONFIG, OCI_MANIFEST, SIMPLE_SIGNING};
use crate::reference::{ImageRef, LocalRef};
use crate::rekor::{Bundle, BundlePayload, Entry, EntryData, EntryHash, EntryKey, EntrySignature, Spec};
use crate::source::Source as _;

/// An ECDSA P-256 signing key, the kind `cosign generate-key-pair` makes.
///
/// Signatures are ECDSA with SHA-256, DER-encoded, with the nonce derived
/// from key and message (RFC 6979), so signing the same payload twice gives
/// the same signature.
pub struct CosignKey {
    key: SigningKey,
    public: PublicKey,
    public_pem: String,
    private_pem: Zeroizing<String>,
}

impl CosignKey {
    /// A new key from the operating system's random number generator.
    pub fn generate() -> Result<CosignKey, Error> {
        let key = SigningKey::try_generate()
            .map_err(|e| Error::Crypto { operation: "generate a signing key", reason: e.to_string() })?;
        Self::from_key(key)
    }

    /// Reads an unencrypted PKCS#8 private key in PEM (`PRIVATE KEY`, as
    /// `openssl genpkey` writes it). `what` names the key in error messages.
    ///
    /// cosign's own encrypted key files are not supported.
    pub fn from_pkcs8_pem(pem: &[u8], what: &str) -> Result<CosignKey, Error> {
        let invalid = |reason: String| Error::InvalidPrivateKey { what: what.to_owned(), reason };
        // The PEM front-end every rvkit command reads keys with; the other
        // private-key labels are listed to be named in the error.
        let block = rvkit_keys::pem::first_block(
            pem,
            &["PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY", "ENCRYPTED PRIVATE KEY"],
        )
        .map_err(|e| invalid(format!("it {e}")))?;
        let der = Zeroizing::new(block.contents);
        match block.label.as_str() {
            "PRIVATE KEY" => {}
            "EC PRIVATE KEY" => {
                return Err(invalid("a SEC1 key; convert it with `openssl pkcs8 -topk8 -nocrypt`".into()));
            }
            other => return Err(invalid(format!("PEM label {other:?} (expected PRIVATE KEY)"))),
        }
        let key = SigningKey::from_pkcs8_der(&der).map_err(|e| invalid(e.to_string()))?;
        Self::from_key(key)
    }

    fn from_key(key: SigningKey) -> Result<CosignKey, Error> {
        let encoding = |e: p256::pkcs8::Error| Error::Crypto {
            operation: "encode a signing key",
            reason: e.to_string(),
        };
        let spki = key.verifying_key().to_public_key_der().map_err(|e| encoding(e.into()))?;
        let public = PublicKey::from_pem_or_der(spki.as_bytes(), "generated key")?;
        let public_pem = pem_rfc7468::encode_string("PUBLIC KEY", LineEnding::LF, spki.as_bytes())
            .map_err(|e| encoding(e.into()))?;
        let private_der = key.to_pkcs8_der().map_err(encoding)?;
        let private_pem = Zeroizing::new(
            pem_rfc7468::encode_string("PRIVATE KEY", LineEnding::LF, private_der.as_bytes())
                .map_err(|e| encoding(e.into()))?,
        );
        Ok(CosignKey { key, public, public_pem, private_pem })
    }

    /// The public key, for [`VerifyOptions`](crate::VerifyOptions).
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The public key as PEM (`PUBLIC KEY`, SubjectPublicKeyInfo), the form
    /// of `cosign.pub`.
    pub fn public_key_pem(&self) -> &str {
        &self.public_pem
    }

    /// The private key as unencrypted PKCS#8 PEM (`PRIVATE KEY`). Whoever
    /// holds it can sign; write it only to files readable by the owner (see
    /// [`CosignKey::write_private_key_pem`]).
    pub fn private_key_pem(&self) -> &str {
        &self.private_pem
    }

    /// Writes [`CosignKey::private_key_pem`] to `path`, readable and
    /// writable by the owner only (mode 0600 on Unix), replacing the file
    /// by rename so it is never half-written.
    pub fn write_private_key_pem(&self, path: &Path) -> Result<(), Error> {
        write_atomic(path, self.private_pem.as_bytes(), Some(0o600))
    }

    /// The DER ECDSA-SHA256 signature over `msg`.
    pub(crate) fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, Error> {
        let sig: p256::ecdsa::Signature = self
            .key
            .try_sign(msg)
            .map_err(|e| Error::Crypto { operation: "make a signature", reason: e.to_string() })?;
        Ok(sig.to_der().as_bytes().to_vec())
    }
}

impl fmt::Debug for CosignKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the private key.
        f.debug_struct("CosignKey").field("public", &self.public).finish_non_exhaustive()
    }
}

/// A stand-in for a Rekor transparency log: an ECDSA P-256 key that signs
/// entry timestamps, for demonstrations and tests without a log server.
///
/// Its bundles have exactly the shape of Rekor's, so verifiers (this crate,
/// cosign with the log's public key as its Rekor key) accept them; they
/// prove nothing beyond possession of the log's private key.
#[derive(Debug)]
pub struct DemoRekorLog {
    key: CosignKey,
    next_index: AtomicI64,
    integrated_time: Option<i64>,
}

impl DemoRekorLog {
    /// A log with a new random key.
    pub fn generate() -> Result<DemoRekorLog, Error> {
        CosignKey::generate().map(DemoRekorLog::with_key)
    }

    /// A log signing with `key` (to keep one log key across runs). Entries
    /// are numbered from 0.
    pub fn with_key(key: CosignKey) -> DemoRekorLog {
        DemoRekorLog { key, next_index: AtomicI64::new(0), integrated_time: None }
    }

    /// Records every entry at `seconds` since the epoch instead of the
    /// current time, for reproducible bundles.
    pub fn with_integrated_time(mut self, seconds: i64) -> DemoRekorLog {
        self.integrated_time = Some(seconds);
        self
    }

    /// The log's key pair.
    pub fn key(&self) -> &CosignKey {
        &self.key
    }

    /// The log's public key as PEM, the `--rekor-key` of verifiers.
    pub fn public_key_pem(&self) -> &str {
        self.key.public_key_pem()
    }

    /// The log's public key, for [`VerifyOptions::rekor_key`](crate::VerifyOptions::rekor_key).
    pub fn public_key(&self) -> &PublicKey {
        self.key.public_key()
    }

    /// The log ID: lowercase hex SHA-256 of the public key's DER
    /// SubjectPublicKeyInfo, as Rekor computes it.
    pub fn log_id(&self) -> String {
        self.key.public_key().log_id()
    }

    /// Logs a `hashedrekord` v0.0.1 entry for `sig` over `payload` by
    /// `signer` and returns the bundle JSON cosign stores in
    /// `dev.sigstore.cosign/bundle`.
    pub(crate) fn bundle(&self, payload: &[u8], sig: &[u8], signer: &CosignKey) -> Result<String, Error> {
        let entry = Entry {
            api_version: "0.0.1".into(),
            kind: "hashedrekord".into(),
            spec: Spec {
                data: EntryData {
                    hash: Some(EntryHash {
                        algorithm: "sha256".into(),
                        value: HashAlg::Sha256.hash(payload).to_hex(),
                    }),
                    content: None,
                },
                signature: EntrySignature {
                    content: STANDARD.encode(sig),
                    public_key: EntryKey { content: STANDARD.encode(signer.public_key_pem()) },
                },
            },
        };
        let integrated_time = self.integrated_time.unwrap_or_else(|| {
            // A clock before 1970 is not worth an error; the entry then
            // claims the epoch.
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .ok()
                .and_then(|d| i64::try_from(d.as_secs()).ok())
                .unwrap_or(0)
        });
        let payload = BundlePayload {
            body: STANDARD.encode(to_json(&entry)),
            integrated_time,
            log_index: self.next_index.fetch_add(1, Ordering::SeqCst),
            log_id: self.log_id(),
        };
        let set = self.key.sign(payload.canonical_json().as_bytes())?;
        let bundle = Bundle { signed_entry_timestamp: STANDARD.encode(set), payload };
        String::from_utf8(to_json(&bundle))
            .map_err(|e| Error::Crypto { operation: "encode a bundle", reason: e.to_string() })
    }
}

/// Signs the image tagged `tag` in the layout at `dir` as `cosign sign
/// --key` does, and returns the signed digest.
///
/// The simple-signing payload names `docker_reference` (the repository the
/// image is published as, `HOST/REPOSITORY`, no tag) and the digest `tag`
/// resolves to. The payload, its signature and, with `rekor`, a Rekor
/// bundle go into the manifest tagged `sha256-<hex>.sig` in the same layout;
/// signatures already there are kept, and an identical one is replaced.
pub fn sign_layout_image(
    dir: &Path,
    tag: &str,
    key: &CosignKey,
    docker_reference: &str,
    rekor: Option<&DemoRekorLog>,
) -> Result<BlobDigest, Error> {
    check_docker_reference(docker_reference)?;
    let reference = LocalRef::from_parts(dir.to_path_buf(), Some(tag))
        .map_err(|reason| Error::InvalidReference { input: tag.to_owned(), reason: reason.to_owned() })?;
    let name = ImageRef::Layout(reference.clone()).to_string();
    let src = LocalSource::open_dir(name.clone(), reference)?;
    let (root, digest) = src.root()?;
    Manifest::parse(&root).map_err(|reason| Error::InvalidManifest {
        image: name.clone(),
        digest,
        reason,
    })?;

    let payload = to_json(&Payload {
        critical: Critical {
            identity: Identity { docker_reference: docker_reference.to_owned() },
            image: ImageClaim { docker_manifest_digest: digest.to_string() },
            kind: PAYLOAD_TYPE.to_owned(),
        },
        optional: None,
    });
    let sig = key.sign(&payload)?;
    let mut annotations = BTreeMap::from([(SIGNATURE_ANNOTATION.to_owned(), STANDARD.encode(&sig))]);
    if let Some(log) = rekor {
        annotations.insert(BUNDLE_ANNOTATION.to_owned(), log.bundle(&payload, &sig, key)?);
    }

    let sig_tag = digest.cosign_signature_tag();
    let mut layers = match src.manifest_by_tag(&sig_tag)? {
        None => Vec::new(),
        Some((bytes, d)) => match Manifest::parse(&bytes) {
            Ok(Manifest::Image(m)) => m.layers,
            Ok(Manifest::Index(_)) => {
                return Err(Error::InvalidManifest {
                    image: name,
                    digest: d,
                    reason: "the signature tag names an index".into(),
                });
            }
            Err(reason) => return Err(Error::InvalidManifest { image: name, digest: d, reason }),
        },
    };
    let mut writer = LayoutWriter::open(dir)?;
    let mut layer = writer.add_blob(SIMPLE_SIGNING, payload);
    layer.annotations = annotations;
    // cosign does not add a signature that is already there.
    layers.retain(|l| {
        l.digest != layer.digest
            || l.annotations.get(SIGNATURE_ANNOTATION) != layer.annotations.get(SIGNATURE_ANNOTATION)
    });
    layers.push(layer);
    // cosign's signature images have a configuration without platform.
    let config = to_json(&ImageConfig {
        architecture: "",
        os: "",
        variant: None,
        config: EmptyObject {},
        rootfs: RootFs { kind: "layers", diff_ids: layers.iter().map(|l| l.digest).collect() },
    });
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.to_owned()),
        config: writer.add_blob(OCI_CONFIG, config),
        layers,
        annotations: BTreeMap::new(),
    };
    writer.tag_manifest(&sig_tag, to_json(&manifest))?;
    writer.commit()?;
    Ok(digest)
}

/// The `docker-reference` must be a repository name as cosign writes it
/// (`HOST/REPOSITORY`, no tag or digest); anything else would never match a
/// verifier's identity check.
fn check_docker_reference(s: &str) -> Result<(), Error> {
    let reason = "expected HOST/REPOSITORY without tag or digest, as cosign names the signed repository";
    match ImageRef::parse(s) {
        Ok(ImageRef::Registry(r)) if r.tag().is_none() && r.digest().is_none() && r.name() == s => Ok(()),
        _ => Err(Error::InvalidReference { input: s.to_owned(), reason: reason.to_owned() }),
    }
}
