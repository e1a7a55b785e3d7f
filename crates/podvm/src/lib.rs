//! Pull signed podvm images, verify their cosign signatures and Rekor bundles
//! offline, and stream one file (by default `/image/measurements.json`) out of
//! their layers, or read the podvm measurements from the verified manifest's
//! annotations ([`MEASUREMENTS_ANNOTATION_PREFIX`]) without downloading a
//! layer ([`fetch_measurements`]).
//!
//! This crate is the only part of rvkit that talks to a registry. It fails
//! closed: no file content leaves it unless the image's cosign signature
//! verified with the caller's key, the signed digest is the digest being
//! read, and every manifest and layer blob matched its digest and size;
//! manifest annotations are read only from a manifest that passed the
//! same checks.
//!
//! Formats implemented: the [OCI image specification] (manifests, indexes,
//! layer changesets with whiteouts, image layouts), the [OCI distribution
//! specification] through `oci-client`, cosign's [simple signing] payload
//! and signature tags, and Rekor's bundle (signed entry timestamp over the
//! RFC 8785 canonical payload, `hashedrekord`/`rekord` v0.0.1 entries).
//!
//! [OCI image specification]: https://github.com/opencontainers/image-spec
//! [OCI distribution specification]: https://github.com/opencontainers/distribution-spec
//! [simple signing]: https://github.com/containers/image/blob/main/docs/containers-signature.5.md
//!
//! With the `publish` feature, `publish` writes what this crate reads: signed
//! images in OCI layouts, built offline (for demonstrations and tests).
//!
//! ```
//! use rvkit_podvm::{Error, ImagePath, ImageRef, PublicKey};
//!
//! // The reference forms skopeo understands.
//! let image = ImageRef::parse(
//!     "docker://registry.redhat.io/openshift-sandboxed-containers/osc-dm-verity-image:1.11.1",
//! )?;
//! assert!(matches!(image, ImageRef::Registry(_)));
//! assert!(matches!(ImageRef::parse("oci:/srv/podvm:1.11.1")?, ImageRef::Layout(_)));
//!
//! // Paths inside the image are normalised and may not escape it.
//! assert_eq!(ImagePath::parse("/image/./measurements.json")?.display(), "/image/measurements.json");
//! assert!(ImagePath::parse("/image/../../etc/shadow").is_err());
//!
//! // A key file that is not a public key is an input error (exit code 2), not
//! // a verification failure (exit code 1).
//! let err = PublicKey::from_pem_or_der(b"not a key", "cosign.pub").unwrap_err();
//! assert!(matches!(err, Error::InvalidKey { .. }) && !err.is_verification_failure());
//! # Ok::<(), Error>(())
//! ```
//!
//! Fetching needs a tokio runtime (either flavour):
//!
//! ```no_run
//! # async fn demo() -> Result<(), rvkit_podvm::Error> {
//! use std::sync::Arc;
//! use rvkit_podvm::*;
//!
//! let image = ImageRef::parse("registry.example/podvm:latest")?;
//! let verify = VerifyOptions {
//!     key: Some(PublicKey::from_pem_or_der(&std::fs::read("cosign.pub").unwrap(), "cosign.pub")?),
//!     rekor_key: Some(PublicKey::from_pem_or_der(&std::fs::read("rekor.pub").unwrap(), "rekor.pub")?),
//!     ..Default::default()
//! };
//! let (verified, bytes) = fetch_file(
//!     &image,
//!     &ImagePath::parse(DEFAULT_PATH)?,
//!     DEFAULT_MAX_SIZE,
//!     &PullOptions::default(),
//!     &verify,
//!     Arc::new(NoProgress),
//! )
//! .await?;
//! println!("{} ({} bytes)", verified.pinned, bytes.len());
//! # Ok(()) }
//! ```
#![warn(missing_docs)]
// `Error` carries digests inline (up to two 64-byte digests) so callers can
// match on them; errors end a request that spent milliseconds on the
// network, so their size on the return path does not matter.
#![allow(clippy::result_large_err)]

mod auth;
mod cosign;
mod digest;
mod error;
mod extract;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod keys;
mod layout;
mod manifest;
mod progress;
#[cfg(feature = "publish")]
pub mod publish;
mod reference;
mod registry;
mod rekor;
mod report;
mod source;
mod tar;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::runtime::Handle;

pub use cosign::{Check, CheckResult, Outcome, SignatureReport, VerifyOptions};
pub use digest::{BlobDigest, DigestParseError};
pub use error::Error;
pub use extract::ImagePath;
pub use keys::{KeyAlgorithm, PublicKey};
#[cfg(feature = "progress-bar")]
pub use progress::TerminalProgress;
pub use progress::{NoProgress, Progress};
pub use reference::{ImagePlatform, ImageRef, LocalRef, RegistryRef};
pub use rvkit_image_access::{ImageAccess, MeasurementsFrom};
pub use rvkit_rvps::MEASUREMENTS_ANNOTATION_PREFIX;

use crate::manifest::{ImageManifest, Manifest};
use crate::source::{Source, checked_manifest};

/// The file `fetch_file` reads unless told otherwise.
pub const DEFAULT_PATH: &str = "/image/measurements.json";

/// The default cap on the size of a fetched file: 4 MiB.
pub const DEFAULT_MAX_SIZE: u64 = 4 << 20;

/// How to reach the image.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// A docker config JSON file with credentials (such as a cluster pull
    /// secret). Without it, `REGISTRY_AUTH_FILE`, then the usual podman and
    /// docker locations and credential helpers are consulted.
    pub authfile: Option<PathBuf>,
    /// Registries (`HOST:PORT`, exactly as in the reference) reached
    /// without certificate checks: over TLS when they speak it (probed with
    /// a ClientHello), over plain HTTP otherwise.
    pub insecure_registries: Vec<String>,
    /// The platform an image index resolves to.
    pub platform: ImagePlatform,
    /// How often a request is retried after a 5xx, 429 or connection error.
    pub retries: u32,
    /// The first retry delay; each further retry doubles it.
    pub retry_delay: Duration,
    /// Connection timeout per request.
    pub connect_timeout: Duration,
    /// Timeout for each read from a connection.
    pub read_timeout: Duration,
    /// The time all registry requests for one image may take together,
    /// retries and blob downloads included: a registry that stalls or
    /// trickles cannot hold a caller longer.
    pub timeout: Duration,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions::from_access(&ImageAccess::default()).expect("the default platform parses")
    }
}

impl PullOptions {
    /// The pull options `access` gives (its defaults where it gives none).
    pub fn from_access(access: &ImageAccess) -> Result<PullOptions, Error> {
        Ok(PullOptions {
            authfile: access.authfile.clone(),
            insecure_registries: access.insecure_registries.clone(),
            platform: access.image_platform().parse()?,
            retries: access.retries(),
            retry_delay: Duration::from_millis(250),
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
            timeout: access.timeout(),
        })
    }
}

impl VerifyOptions {
    /// The verification options `access` gives, with the keys it names
    /// already read and parsed by the caller.
    pub fn from_access(
        access: &ImageAccess,
        key: Option<PublicKey>,
        rekor_key: Option<PublicKey>,
    ) -> VerifyOptions {
        VerifyOptions {
            key,
            rekor_key,
            insecure_ignore_tlog: access.insecure_ignore_tlog(),
            insecure_skip_verify: access.insecure_skip_verify(),
            identity: access.identity.clone(),
        }
    }
}

/// Whether signatures were checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum SignatureStatus {
    /// At least one signature passed every requested check.
    Verified,
    /// Verification was skipped on request (`insecure_skip_verify`).
    Skipped,
}

/// An image whose signatures and manifests checked out.
#[derive(Debug, Clone, Serialize)]
pub struct VerifiedImage {
    /// The reference as the caller gave it.
    pub reference: ImageRef,
    /// The same image pinned to [`VerifiedImage::digest`]; every request
    /// after resolution used this digest.
    pub pinned: ImageRef,
    /// The digest the reference resolved to, which the signatures sign (an
    /// index digest for multi-platform images).
    pub digest: BlobDigest,
    /// The digest of the platform's image manifest (equal to `digest` for
    /// single-platform images).
    pub manifest_digest: BlobDigest,
    /// Whether signatures were checked.
    pub signature_status: SignatureStatus,
    /// Every signature found and what was checked about it.
    pub signatures: Vec<SignatureReport>,
}

/// Resolves `image`, verifies its cosign signatures and resolves an index
/// to the requested platform. Layers are not downloaded.
pub async fn verify(
    image: &ImageRef,
    pull: &PullOptions,
    verify: &VerifyOptions,
) -> Result<VerifiedImage, Error> {
    let (image, pull, verify) = (image.clone(), pull.clone(), verify.clone());
    let handle = Handle::current();
    run_blocking(move || resolve(&image, &pull, &verify, handle).map(|(_, v, _)| v)).await
}

/// Verifies `image` like [`verify`], then streams its layers and returns
/// the content of `path`, at most `max_size` bytes.
///
/// Every layer is read to its end and checked against its digest and size
/// before the content is returned. Memory stays bounded whatever the
/// registry sends and the layers hold: manifests are refused past 4 MiB,
/// the file past `max_size`, files kept for hard links (content and path
/// bookkeeping together) past `max_size` or 1 MiB, whichever is larger, and
/// downloads wait in a channel of 16 chunks; a debug build of `rvkit podvm
/// fetch` peaks at about 35 MiB on a layer of a million entries and paths
/// 4096 directories deep. Time is bounded by [`PullOptions::timeout`] for
/// all registry requests together.
pub async fn fetch_file(
    image: &ImageRef,
    path: &ImagePath,
    max_size: u64,
    pull: &PullOptions,
    verify: &VerifyOptions,
    progress: Arc<dyn Progress>,
) -> Result<(VerifiedImage, Vec<u8>), Error> {
    let (image, path, pull, verify) = (image.clone(), path.clone(), pull.clone(), verify.clone());
    let handle = Handle::current();
    run_blocking(move || {
        let (src, verified, manifest) = resolve(&image, &pull, &verify, handle)?;
        let mut open = |d: &manifest::Descriptor| src.blob(d);
        let content = extract::extract(src.image(), &manifest.layers, &path, max_size, &mut open, &progress)?;
        Ok((verified, content))
    })
    .await
}

/// Where [`fetch_measurements`] found an image's measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum MeasurementsSource {
    /// The signed image manifest's annotations
    /// ([`MEASUREMENTS_ANNOTATION_PREFIX`]`<bank>.pcrNN`); no layer was
    /// downloaded.
    Annotations,
    /// [`DEFAULT_PATH`] in the image's layers.
    Layers,
}

/// A verified image's measurements and where they came from: the result of
/// [`fetch_measurements`]. Its serialisation (the verified image's fields
/// and `measurements_source`) is a stable interface: fields may be added,
/// existing ones keep their name and meaning.
#[derive(Debug, Clone, Serialize)]
pub struct ImageMeasurements {
    /// The image whose signature and manifests checked out.
    #[serde(flatten)]
    pub image: VerifiedImage,
    /// Where the measurements were read.
    pub measurements_source: MeasurementsSource,
    /// The `measurements.json` document: the file's bytes as the layers
    /// hold them, or the canonical document the annotations make
    /// ([`rvkit_rvps::Measurements::to_json`]), already validated.
    #[serde(skip)]
    pub document: Vec<u8>,
}

impl ImageMeasurements {
    /// The pinned image and where in it the measurements were read, for
    /// messages and reference-value origins:
    /// `HOST/REPO@sha256:…:/image/measurements.json` or
    /// `HOST/REPO@sha256:… (manifest annotations)`.
    pub fn label(&self) -> String {
        measurements_label(&self.image.pinned, self.measurements_source)
    }
}

fn measurements_label(pinned: &ImageRef, source: MeasurementsSource) -> String {
    match source {
        MeasurementsSource::Annotations => format!("{pinned} (manifest annotations)"),
        MeasurementsSource::Layers => format!("{pinned}:{DEFAULT_PATH}"),
    }
}

/// Verifies `image` like [`verify`], then reads its podvm measurements as
/// `from` says: from the image manifest's annotations
/// ([`MEASUREMENTS_ANNOTATION_PREFIX`], read by
/// [`rvkit_rvps::Measurements::from_annotations`]) without downloading any
/// layer, or from [`DEFAULT_PATH`] in its layers as [`fetch_file`] does
/// (at most `max_size` bytes). [`MeasurementsFrom::Auto`] takes
/// the annotations when the manifest has any and the layers otherwise.
///
/// The annotations are read only from the manifest whose signature (or,
/// for an index, whose signed index entry) was verified, exactly as the
/// layers are; an annotation under the prefix that does not parse is an
/// error ([`Error::Measurements`]), never skipped, and so is an image
/// without annotations when only they are asked for
/// ([`Error::NoMeasurementAnnotations`]). A `measurements.json` from the
/// layers is returned as its bytes, for the caller to parse.
pub async fn fetch_measurements(
    image: &ImageRef,
    from: MeasurementsFrom,
    max_size: u64,
    pull: &PullOptions,
    verify: &VerifyOptions,
    progress: Arc<dyn Progress>,
) -> Result<ImageMeasurements, Error> {
    let (image, pull, verify) = (image.clone(), pull.clone(), verify.clone());
    let handle = Handle::current();
    run_blocking(move || {
        let (src, verified, manifest) = resolve(&image, &pull, &verify, handle)?;
        if from != MeasurementsFrom::Layers {
            let annotations = manifest.annotations.iter().map(|(k, v)| (k.as_str(), v.as_str()));
            let label = || measurements_label(&verified.pinned, MeasurementsSource::Annotations);
            match rvkit_rvps::Measurements::from_annotations(annotations)
                .map_err(|source| Error::Measurements { label: label(), source })?
            {
                Some(m) => {
                    return Ok(ImageMeasurements {
                        image: verified,
                        measurements_source: MeasurementsSource::Annotations,
                        document: m.to_json().into_bytes(),
                    });
                }
                None if from == MeasurementsFrom::Annotations => {
                    return Err(Error::NoMeasurementAnnotations { image: verified.pinned.to_string() });
                }
                None => {}
            }
        }
        let path = ImagePath::parse(DEFAULT_PATH)?;
        let mut open = |d: &manifest::Descriptor| src.blob(d);
        let document =
            extract::extract(src.image(), &manifest.layers, &path, max_size, &mut open, &progress)?;
        Ok(ImageMeasurements { image: verified, measurements_source: MeasurementsSource::Layers, document })
    })
    .await
}

async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => {
            Err(Error::Registry { image: String::new(), reason: format!("worker task cancelled: {e}") })
        }
    }
}

fn open_source(image: &ImageRef, pull: &PullOptions, handle: Handle) -> Result<Box<dyn Source>, Error> {
    let name = image.to_string();
    Ok(match image {
        ImageRef::Registry(r) => {
            let creds = auth::credentials_for(
                r.registry(),
                r.repository(),
                pull.authfile.as_deref(),
                &auth::AuthEnv::from_process(),
            )?;
            Box::new(registry::RegistrySource::new(
                name,
                r.clone(),
                creds,
                &pull.insecure_registries,
                registry::Timeouts {
                    connect: pull.connect_timeout,
                    read: pull.read_timeout,
                    total: pull.timeout,
                },
                handle,
                registry::Retry { retries: pull.retries, base_delay: pull.retry_delay },
            )?)
        }
        ImageRef::Layout(l) => Box::new(layout::LocalSource::open_dir(name, l.clone())?),
        ImageRef::Archive(l) => Box::new(layout::LocalSource::open_archive(name, l.clone())?),
    })
}

/// The config media types of container images; anything else is an
/// artifact this crate does not read.
const IMAGE_CONFIG_TYPES: [&str; 2] = [manifest::OCI_CONFIG, manifest::DOCKER_CONFIG];

/// Resolution and verification, on a blocking thread.
fn resolve(
    image: &ImageRef,
    pull: &PullOptions,
    opts: &VerifyOptions,
    handle: Handle,
) -> Result<(Box<dyn Source>, VerifiedImage, ImageManifest), Error> {
    let name = image.to_string();
    cosign::check_options(&name, opts)?;
    let src = open_source(image, pull, handle)?;
    let (root, digest) = src.root()?;
    let pinned = image.pinned(digest);
    let (signature_status, signatures) = if opts.insecure_skip_verify {
        (SignatureStatus::Skipped, Vec::new())
    } else {
        let reports = cosign::verify_signatures(&*src, &pinned.to_string(), &digest, opts)?;
        (SignatureStatus::Verified, reports)
    };
    let invalid =
        |digest: BlobDigest, reason: String| Error::InvalidManifest { image: name.clone(), digest, reason };
    let (manifest, manifest_digest) = match Manifest::parse(&root).map_err(|r| invalid(digest, r))? {
        Manifest::Image(m) => (m, digest),
        Manifest::Index(idx) => {
            let entry = idx.select(&pull.platform).ok_or_else(|| Error::NoMatchingPlatform {
                image: name.clone(),
                platform: pull.platform.to_string(),
            })?;
            let bytes = checked_manifest(&*src, &entry.digest, "platform manifest")?;
            match Manifest::parse(&bytes).map_err(|r| invalid(entry.digest, r))? {
                Manifest::Image(m) => (m, entry.digest),
                Manifest::Index(_) => {
                    return Err(invalid(entry.digest, "nested index".into()));
                }
            }
        }
    };
    if !IMAGE_CONFIG_TYPES.contains(&manifest.config.media_type.as_str()) {
        return Err(invalid(
            manifest_digest,
            format!("not a container image (config media type {:?})", manifest.config.media_type),
        ));
    }
    let verified = VerifiedImage {
        reference: image.clone(),
        pinned,
        digest,
        manifest_digest,
        signature_status,
        signatures,
    };
    Ok((src, verified, manifest))
}
