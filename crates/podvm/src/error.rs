//! The crate's error type.

use std::io;
use std::path::PathBuf;

use crate::cosign::SignatureReport;
use crate::digest::BlobDigest;

/// Everything that can go wrong while resolving, verifying or reading an image.
///
/// Variants fall in two classes, told apart by
/// [`Error::is_verification_failure`]: the image or its signatures failed a
/// check (exit code 1 in the command-line tool), or the request could not be
/// carried out as asked (bad input, unreachable registry, missing file; exit
/// code 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A string that is not a `docker://`, `oci:` or `oci-archive:` reference.
    #[error("invalid image reference {input:?}: {reason}")]
    InvalidReference {
        /// The reference as given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A platform that is not `OS/ARCH[/VARIANT]`.
    #[error("invalid platform {input:?}: expected OS/ARCH or OS/ARCH/VARIANT")]
    InvalidPlatform {
        /// The platform as given.
        input: String,
    },
    /// A key file that is not a supported public key.
    #[error("{what} is not a supported public key: {reason}")]
    InvalidKey {
        /// Which key (`signing key`, `rekor key`, or a file name the caller gave).
        what: String,
        /// Why it was refused.
        reason: String,
    },
    /// A private key that is not an unencrypted PKCS#8 ECDSA P-256 key.
    #[error("{what} is not an unencrypted PKCS#8 ECDSA P-256 private key: {reason}")]
    InvalidPrivateKey {
        /// Which key (a file name the caller gave).
        what: String,
        /// Why it was refused.
        reason: String,
    },
    /// Generating a key or making a signature failed (the operating
    /// system's random number generator, or the signer, reported an error).
    #[error("cannot {operation}: {reason}")]
    Crypto {
        /// What was attempted (`generate a signing key`, `make a signature`).
        operation: &'static str,
        /// What the library reported.
        reason: String,
    },
    /// Signature verification was requested without a public key.
    #[error("no public key given to verify {image}")]
    MissingKey {
        /// The image.
        image: String,
    },
    /// No Rekor key was given and the transparency log was not explicitly ignored.
    #[error(
        "no rekor public key given to verify {image}: the transparency log can only be skipped explicitly"
    )]
    TlogKeyRequired {
        /// The image.
        image: String,
    },
    /// A path inside the image that cannot name a file.
    #[error("invalid path {path:?} inside the image: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A local file (layout, archive, credentials) could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A file or directory (a layout being written, a key file) could not be
    /// created, written or renamed into place.
    #[error("cannot write {path}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A credentials file that is not docker config JSON.
    #[error("invalid credentials file {path}: {reason}")]
    InvalidAuthFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A docker credential helper failed.
    #[error("credential helper docker-credential-{helper} failed for {registry}: {reason}")]
    CredentialHelper {
        /// The helper's name (`docker-credential-<helper>`).
        helper: String,
        /// The registry asked for.
        registry: String,
        /// What went wrong.
        reason: String,
    },
    /// The registry could not be reached, after the configured retries.
    #[error("cannot reach the registry for {image}: {reason}")]
    Unreachable {
        /// The image.
        image: String,
        /// The last transport error.
        reason: String,
    },
    /// The registry did not finish within the time allowed for the image
    /// (it stalled, trickled, or kept failing until the time was up).
    #[error("the registry for {image} did not finish within {} s: {what}", limit.as_secs())]
    Timeout {
        /// The image.
        image: String,
        /// What was under way (`blob sha256:… after 1024 bytes`).
        what: String,
        /// The time allowed for all requests for the image.
        limit: std::time::Duration,
    },
    /// The registry refused the credentials (HTTP 401 or 403).
    #[error("access to {image} denied (HTTP {status}): check the credentials for its registry")]
    AccessDenied {
        /// The image.
        image: String,
        /// 401 or 403.
        status: u16,
    },
    /// The registry or layout has no such image, tag or blob.
    #[error("{what} of {image} not found")]
    NotFound {
        /// The image.
        image: String,
        /// What was looked for (`manifest for tag v1`, `blob sha256:…`).
        what: String,
    },
    /// Any other registry failure (a 5xx after all retries, a protocol error).
    #[error("registry error for {image}: {reason}")]
    Registry {
        /// The image.
        image: String,
        /// The registry's answer.
        reason: String,
    },
    /// An OCI layout directory or archive that does not follow the layout specification.
    #[error("invalid OCI layout {path}: {reason}")]
    InvalidLayout {
        /// The directory or archive.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A manifest that is not an image manifest or index, or cannot be parsed.
    #[error("{image}: manifest {digest} is not a usable image manifest: {reason}")]
    InvalidManifest {
        /// The image.
        image: String,
        /// The manifest's digest.
        digest: BlobDigest,
        /// What is wrong with it.
        reason: String,
    },
    /// A layer or signature media type this crate does not read.
    #[error("{image}: {what} has unsupported media type {media_type:?}")]
    UnsupportedMediaType {
        /// The image.
        image: String,
        /// The descriptor (`layer sha256:…`).
        what: String,
        /// The media type.
        media_type: String,
    },
    /// An image index without a manifest for the requested platform.
    #[error("{image} has no manifest for platform {platform}")]
    NoMatchingPlatform {
        /// The image.
        image: String,
        /// The requested platform.
        platform: String,
    },
    /// The requested file is not in the image (or was whited out).
    #[error("{path} not found in {image}")]
    FileNotFound {
        /// The image.
        image: String,
        /// The path inside the image.
        path: String,
    },
    /// Measurements were asked for from the manifest annotations only, and
    /// the image manifest has none.
    #[error(
        "{image} has no measurement annotations ({}*) in its manifest",
        rvkit_rvps::MEASUREMENTS_ANNOTATION_PREFIX
    )]
    NoMeasurementAnnotations {
        /// The image, pinned to its digest.
        image: String,
    },
    /// The image manifest's measurement annotations do not parse.
    #[error("{label}")]
    Measurements {
        /// Where they were read: the pinned image and `(manifest
        /// annotations)`, as [`ImageMeasurements::label`](crate::ImageMeasurements::label) says.
        label: String,
        /// What is wrong with them.
        #[source]
        source: rvkit_rvps::Error,
    },
    /// The requested path is a directory or device, not a regular file.
    #[error("{path} in {image} is not a regular file")]
    NotARegularFile {
        /// The image.
        image: String,
        /// The path inside the image.
        path: String,
    },
    /// The requested file is larger than the caller's limit.
    #[error("{path} in {image} is larger than the limit of {limit} bytes")]
    FileTooLarge {
        /// The image.
        image: String,
        /// The path inside the image.
        path: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// A tar entry this crate cannot serve as the requested file (a sparse
    /// file, a hard link to a file it did not keep).
    #[error("{image}: layer {layer} entry {entry:?} is not supported: {reason}")]
    UnsupportedEntry {
        /// The image.
        image: String,
        /// The layer's digest.
        layer: BlobDigest,
        /// The entry name, lossily decoded.
        entry: String,
        /// Why it cannot be served.
        reason: &'static str,
    },
    /// The image has no `sha256-<hex>.sig` signature tag.
    #[error("{image} is not signed: no signature tag {tag}{}", bundles_note(*bundles))]
    Unsigned {
        /// The image, pinned to its digest.
        image: String,
        /// The tag that was looked for.
        tag: String,
        /// Sigstore bundles attached as OCI referrers, which are not
        /// verified (cosign 3's format).
        bundles: usize,
    },
    /// Signatures exist but none passed every check.
    #[error("no signature of {image} passed all checks ({} checked{})", reports.len(), first_failure(reports))]
    SignatureRejected {
        /// The image, pinned to its digest.
        image: String,
        /// What was checked for each signature and how it went.
        reports: Vec<SignatureReport>,
    },
    /// A blob or manifest whose content does not match its digest.
    #[error("{image}: {what} does not match its digest: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The image.
        image: String,
        /// What was read (`layer 2`, `manifest`, `config`).
        what: String,
        /// The digest the referrer promised.
        expected: BlobDigest,
        /// The digest of what was received.
        actual: BlobDigest,
    },
    /// A blob whose length differs from its descriptor.
    #[error("{image}: {what} has {actual} bytes, its descriptor says {expected}")]
    SizeMismatch {
        /// The image.
        image: String,
        /// What was read.
        what: String,
        /// The size the descriptor promised.
        expected: u64,
        /// The bytes received (reading stops one byte past the promise).
        actual: u64,
    },
    /// A layer that does not decompress or is not a valid tar stream.
    #[error("{image}: layer {layer} is corrupt: {reason}")]
    CorruptLayer {
        /// The image.
        image: String,
        /// The layer's digest.
        layer: BlobDigest,
        /// What the decoder or tar reader said.
        reason: String,
    },
    /// A tar entry that would escape the image root or redirect the
    /// requested file (`../`, an absolute path, a symbolic link).
    #[error("{image}: layer {layer} has an unsafe entry {entry:?}: {reason}")]
    UnsafeEntry {
        /// The image.
        image: String,
        /// The layer's digest.
        layer: BlobDigest,
        /// The entry name, lossily decoded.
        entry: String,
        /// Why it was refused.
        reason: &'static str,
    },
}

fn first_failure(reports: &[SignatureReport]) -> String {
    reports
        .iter()
        .find_map(|r| r.first_failure())
        .map(|f| format!("; first failure: {f}"))
        .unwrap_or_default()
}

impl Error {
    /// True when the image or its signatures failed a check, false when the
    /// request itself could not be carried out (bad input, missing file,
    /// unreachable registry).
    ///
    /// The command-line tool exits 1 for the former and 2 for the latter.
    pub fn is_verification_failure(&self) -> bool {
        matches!(
            self,
            Error::Unsigned { .. }
                | Error::SignatureRejected { .. }
                | Error::DigestMismatch { .. }
                | Error::SizeMismatch { .. }
                | Error::CorruptLayer { .. }
                | Error::UnsafeEntry { .. }
        )
    }
}

/// What an unsigned image has instead of a cosign signature tag.
fn bundles_note(bundles: usize) -> String {
    if bundles == 0 {
        return String::new();
    }
    format!(
        "; it has {bundles} Sigstore bundle{} attached as OCI referrers (the format cosign 3 writes by \
         default), which rvkit does not verify: sign it with `cosign sign --new-bundle-format=false` \
         as well to add the signature tag",
        if bundles == 1 { "" } else { "s" }
    )
}
