//! Building signed podvm images offline (feature `publish`): an OCI image
//! layout as `skopeo copy … oci:DIR:TAG` writes it, with a cosign signature
//! stored beside the image as the tag `sha256-<hex>.sig`, and optionally a
//! Rekor bundle from a stand-in log.
//!
//! Every format is the one this crate's verifier reads, and is written with
//! the same types: manifests and descriptors (OCI image specification),
//! cosign's simple-signing payload, Rekor's `hashedrekord` entry and bundle
//! with the signed entry timestamp over the RFC 8785 canonical payload. The
//! image bytes are deterministic for a given compressor version.
//!
//! ```
//! use std::sync::Arc;
//! use rvkit_podvm::publish::{CosignKey, DemoRekorLog, sign_layout_image, write_image_layout};
//! use rvkit_podvm::*;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let tmp = tempfile::tempdir()?;
//! let dir = tmp.path().join("podvm");
//! let measurements = br#"{"measurements":{"sha256":{}}}"#;
//! let digest = write_image_layout(
//!     &dir,
//!     "v1",
//!     &[("image/measurements.json", measurements)],
//!     &ImagePlatform::default(),
//! )?;
//!
//! let (key, log) = (CosignKey::generate()?, DemoRekorLog::generate()?);
//! sign_layout_image(&dir, "v1", &key, "registry.example/podvm", Some(&log))?;
//!
//! // The verifier accepts it, offline.
//! let image = ImageRef::parse(&format!("oci:{}:v1", dir.display()))?;
//! let verify = VerifyOptions {
//!     key: Some(key.public_key().clone()),
//!     rekor_key: Some(log.public_key().clone()),
//!     ..Default::default()
//! };
//! let rt = tokio::runtime::Builder::new_current_thread().build()?;
//! let (verified, bytes) = rt.block_on(fetch_file(
//!     &image,
//!     &ImagePath::parse(DEFAULT_PATH)?,
//!     DEFAULT_MAX_SIZE,
//!     &PullOptions::default(),
//!     &verify,
//!     Arc::new(NoProgress),
//! ))?;
//! assert_eq!((verified.digest, bytes.as_slice()), (digest, &measurements[..]));
//! # Ok(()) }
//! ```

mod layer;
mod sign;
mod writer;

use std::path::Path;

pub use sign::{CosignKey, DemoRekorLog, sign_layout_image};
pub use writer::LayoutWriter;

use crate::digest::BlobDigest;
use crate::error::Error;
use crate::reference::ImagePlatform;

/// Writes an image of one layer holding `files` (path inside the image such
/// as `image/measurements.json`, content) for `platform` into the layout at
/// `dir`, tagged `tag`, and returns its manifest digest.
///
/// `dir` must not exist, be empty, or already be an OCI image layout (other
/// tags in it are kept). See [`LayoutWriter`] for how it is written.
pub fn write_image_layout(
    dir: &Path,
    tag: &str,
    files: &[(&str, &[u8])],
    platform: &ImagePlatform,
) -> Result<BlobDigest, Error> {
    let mut w = LayoutWriter::open(dir)?;
    let digest = w.add_image(tag, files, platform)?;
    w.commit()?;
    Ok(digest)
}
