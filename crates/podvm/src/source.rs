//! What every image source (registry, layout, archive) provides, and the
//! digest checks shared by all of them.

use std::io::Read;

use crate::digest::{BlobDigest, VerifyingReader};
use crate::error::Error;
use crate::extract::{carried_error, mismatch};
use crate::manifest::{Descriptor, MAX_MANIFEST_SIZE};

/// Raw access to an image's manifests and blobs. Implementations return
/// bytes as they got them; the functions below check digests and sizes.
///
/// Methods block; they run on a worker thread, never on the async runtime.
pub(crate) trait Source: Send + Sync {
    /// The image as the user named it, for messages.
    fn image(&self) -> &str;

    /// The manifest the reference names (by digest, tag, or as the only
    /// image of a layout), with the digest of exactly these bytes.
    fn root(&self) -> Result<(Vec<u8>, BlobDigest), Error>;

    /// The manifest stored under `tag`, or `None` if there is no such tag.
    fn manifest_by_tag(&self, tag: &str) -> Result<Option<(Vec<u8>, BlobDigest)>, Error>;

    /// The manifest with `digest` (unchecked).
    fn manifest(&self, digest: &BlobDigest) -> Result<Vec<u8>, Error>;

    /// A blob's byte stream (unchecked).
    fn blob(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send>, Error>;

    /// How many Sigstore bundles are attached to the manifest `digest` as
    /// OCI referrers (the signature format of cosign 3), to explain an image
    /// without a cosign signature tag. Read from the referrers tag schema
    /// unless the source has a referrers API.
    fn sigstore_bundle_referrers(&self, digest: &BlobDigest) -> Result<usize, Error> {
        let Some((bytes, _)) = self.manifest_by_tag(&digest.referrers_tag())? else {
            return Ok(0);
        };
        let index: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let entries = index.get("manifests").and_then(serde_json::Value::as_array);
        Ok(entries.map_or(0, |m| {
            m.iter()
                .filter(|e| {
                    e.get("artifactType")
                        .and_then(serde_json::Value::as_str)
                        .is_some_and(|t| t.starts_with(SIGSTORE_BUNDLE_PREFIX))
                })
                .count()
        }))
    }
}

/// The media type prefix of Sigstore bundles
/// (`application/vnd.dev.sigstore.bundle.v0.3+json` and its versions).
pub(crate) const SIGSTORE_BUNDLE_PREFIX: &str = "application/vnd.dev.sigstore.bundle";

/// Fetches the manifest `digest` and checks that the bytes hash to it.
pub(crate) fn checked_manifest(src: &dyn Source, digest: &BlobDigest, what: &str) -> Result<Vec<u8>, Error> {
    let bytes = src.manifest(digest)?;
    check_manifest_bytes(src.image(), &bytes, digest, what)?;
    Ok(bytes)
}

/// Checks size cap and digest of manifest bytes.
pub(crate) fn check_manifest_bytes(
    image: &str,
    bytes: &[u8],
    digest: &BlobDigest,
    what: &str,
) -> Result<(), Error> {
    if bytes.len() > MAX_MANIFEST_SIZE {
        return Err(Error::Registry {
            image: image.to_owned(),
            reason: format!("{what} is larger than {MAX_MANIFEST_SIZE} bytes"),
        });
    }
    let actual = digest_like(digest, bytes);
    if &actual != digest {
        return Err(Error::DigestMismatch {
            image: image.to_owned(),
            what: what.to_owned(),
            expected: *digest,
            actual,
        });
    }
    Ok(())
}

/// The digest of `bytes` with the same algorithm as `like`.
pub(crate) fn digest_like(like: &BlobDigest, bytes: &[u8]) -> BlobDigest {
    BlobDigest::from_digest(like.alg().hash(bytes)).unwrap_or_else(|| BlobDigest::sha256_of(bytes))
}

/// Reads a small blob whole, refusing more than `cap` bytes, and checks its
/// size and digest against `desc`.
pub(crate) fn small_blob(
    src: &dyn Source,
    desc: &Descriptor,
    cap: u64,
    what: &str,
) -> Result<Vec<u8>, Error> {
    if desc.size > cap {
        return Err(Error::Registry {
            image: src.image().to_owned(),
            reason: format!("{what} {} is {} bytes, more than {cap}", desc.digest, desc.size),
        });
    }
    let raw = src.blob(desc)?;
    let mut vr = VerifyingReader::new(raw, desc.digest, desc.size);
    let mut out = Vec::new();
    let read = (&mut vr).take(desc.size).read_to_end(&mut out);
    let finished = vr.finish();
    match finished {
        Err(e) => Err(carried_error(e).unwrap_or_else(|e| Error::Registry {
            image: src.image().to_owned(),
            reason: format!("reading {what}: {e}"),
        })),
        Ok(Err(m)) => Err(mismatch(src.image(), what, m)),
        Ok(Ok(())) => match read {
            Ok(_) => Ok(out),
            Err(e) => Err(carried_error(e).unwrap_or_else(|e| Error::Registry {
                image: src.image().to_owned(),
                reason: format!("reading {what}: {e}"),
            })),
        },
    }
}
