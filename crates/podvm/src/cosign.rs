//! cosign "simple signing" verification with a public key.
//!
//! cosign stores an image's signatures in the manifest tagged
//! `sha256-<manifest hex>.sig` in the same repository: one layer per
//! signature, of media type `application/vnd.dev.cosign.simplesigning.v1+json`,
//! whose blob is the signed payload
//! (`{"critical":{"identity":{"docker-reference":…},"image":{"docker-manifest-digest":…},"type":"cosign container image signature"},"optional":…}`)
//! and whose annotations carry the base64 signature
//! (`dev.cosignproject.cosign/signature`) and, optionally, the Rekor bundle
//! (`dev.sigstore.cosign/bundle`).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::digest::BlobDigest;
use crate::error::Error;
use crate::keys::PublicKey;
use crate::manifest::{Descriptor, Manifest, SIMPLE_SIGNING};
use crate::rekor::{Bundle, check_bundle};
use crate::source::{Source, small_blob};

/// Annotation holding the base64 signature.
pub(crate) const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// Annotation holding the Rekor bundle JSON.
pub(crate) const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// The `critical.type` of an image signature payload.
pub(crate) const PAYLOAD_TYPE: &str = "cosign container image signature";
/// Simple-signing payloads are a few hundred bytes; anything above this is refused.
const MAX_PAYLOAD: u64 = 1 << 20;

/// How signatures are checked.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// The key the image must be signed with.
    pub key: Option<PublicKey>,
    /// The Rekor log's key, to verify the bundle of each signature offline.
    pub rekor_key: Option<PublicKey>,
    /// Accept signatures without checking the transparency log (needed when
    /// no Rekor key is given). The signature itself is still checked.
    pub insecure_ignore_tlog: bool,
    /// Check no signature at all. Blob and manifest digests are still
    /// verified; the caller should warn loudly.
    pub insecure_skip_verify: bool,
    /// The `docker-reference` the payload must name, if given.
    pub identity: Option<String>,
}

/// One check made on a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Check {
    /// The payload blob was read, matched its digest and parsed.
    Payload,
    /// The signature verifies over the payload with the given key.
    Signature,
    /// The payload's `docker-manifest-digest` is the image's digest.
    SignedDigest,
    /// The payload's `critical.type` is a container image signature.
    PayloadType,
    /// The payload's `docker-reference` equals the requested identity.
    Identity,
    /// The bundle's signed entry timestamp verifies with the Rekor key.
    BundleTimestamp,
    /// The bundle's log ID is the Rekor key's.
    BundleLogId,
    /// The logged entry names this signature, payload hash and key.
    BundleEntry,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Check::Payload => "payload",
            Check::Signature => "signature",
            Check::SignedDigest => "signed digest",
            Check::PayloadType => "payload type",
            Check::Identity => "identity",
            Check::BundleTimestamp => "rekor signed entry timestamp",
            Check::BundleLogId => "rekor log id",
            Check::BundleEntry => "rekor entry",
        })
    }
}

/// How a check went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "reason", rename_all = "kebab-case")]
pub enum Outcome {
    /// The check passed.
    Passed,
    /// The check failed, for the reason given.
    Failed(String),
    /// The check was not made, for the reason given (not requested, or
    /// explicitly waived).
    Skipped(String),
}

/// One check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// What was checked.
    pub check: Check,
    /// How it went.
    pub outcome: Outcome,
}

/// Everything checked about one signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignatureReport {
    /// The digest of the signature's payload blob.
    pub payload_digest: BlobDigest,
    /// The checks in the order they were made.
    pub checks: Vec<CheckResult>,
    /// The Rekor log index, when a bundle was read.
    pub log_index: Option<i64>,
    /// The Rekor integration time (seconds since the epoch), when a bundle was read.
    pub integrated_time: Option<i64>,
}

impl SignatureReport {
    /// True when no check failed.
    pub fn passed(&self) -> bool {
        !self.checks.iter().any(|c| matches!(c.outcome, Outcome::Failed(_)))
    }

    /// The first failed check, as `check: reason`.
    pub fn first_failure(&self) -> Option<String> {
        self.checks.iter().find_map(|c| match &c.outcome {
            Outcome::Failed(r) => Some(format!("{}: {r}", c.check)),
            _ => None,
        })
    }

    /// The outcome of `check`, if it was recorded.
    pub fn outcome(&self, check: Check) -> Option<&Outcome> {
        self.checks.iter().find(|c| c.check == check).map(|c| &c.outcome)
    }

    fn push(&mut self, check: Check, r: Result<(), String>) {
        self.checks.push(CheckResult {
            check,
            outcome: match r {
                Ok(()) => Outcome::Passed,
                Err(e) => Outcome::Failed(e),
            },
        });
    }

    fn skip(&mut self, check: Check, why: &str) {
        self.checks.push(CheckResult { check, outcome: Outcome::Skipped(why.to_owned()) });
    }
}

/// The simple-signing payload. The fields are in the order cosign writes
/// them, so serialising one (as the `publish` feature does) gives cosign's
/// exact bytes.
#[derive(Deserialize, Serialize)]
pub(crate) struct Payload {
    pub critical: Critical,
    /// Free-form annotations; cosign writes `null` when there are none.
    /// Anything is accepted when reading, as cosign does.
    #[serde(default)]
    pub optional: Option<serde_json::Value>,
}

#[derive(Deserialize, Serialize)]
pub(crate) struct Critical {
    pub identity: Identity,
    pub image: ImageClaim,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Deserialize, Serialize)]
pub(crate) struct Identity {
    #[serde(rename = "docker-reference")]
    pub docker_reference: String,
}

#[derive(Deserialize, Serialize)]
pub(crate) struct ImageClaim {
    #[serde(rename = "docker-manifest-digest")]
    pub docker_manifest_digest: String,
}

/// Checks the options before any network traffic.
pub(crate) fn check_options(image: &str, opts: &VerifyOptions) -> Result<(), Error> {
    if opts.insecure_skip_verify {
        return Ok(());
    }
    if opts.key.is_none() {
        return Err(Error::MissingKey { image: image.to_owned() });
    }
    if opts.rekor_key.is_none() && !opts.insecure_ignore_tlog {
        return Err(Error::TlogKeyRequired { image: image.to_owned() });
    }
    Ok(())
}

/// Verifies the cosign signatures of the manifest `digest`: every signature
/// is checked and reported, and at least one must pass every check.
pub(crate) fn verify_signatures(
    src: &dyn Source,
    pinned: &str,
    digest: &BlobDigest,
    opts: &VerifyOptions,
) -> Result<Vec<SignatureReport>, Error> {
    check_options(src.image(), opts)?;
    let key = opts.key.as_ref().ok_or_else(|| Error::MissingKey { image: src.image().to_owned() })?;
    let tag = digest.cosign_signature_tag();
    let Some((bytes, sig_digest)) = src.manifest_by_tag(&tag)? else {
        // Only to explain the refusal: a failed lookup changes nothing.
        let bundles = src.sigstore_bundle_referrers(digest).unwrap_or(0);
        return Err(Error::Unsigned { image: pinned.to_owned(), tag, bundles });
    };
    let layers = match Manifest::parse(&bytes) {
        Ok(Manifest::Image(m)) => m.layers,
        Ok(Manifest::Index(_)) => {
            return Err(Error::InvalidManifest {
                image: src.image().to_owned(),
                digest: sig_digest,
                reason: "the signature tag names an index".into(),
            });
        }
        Err(reason) => {
            return Err(Error::InvalidManifest { image: src.image().to_owned(), digest: sig_digest, reason });
        }
    };
    let reports: Vec<SignatureReport> =
        layers.iter().map(|layer| check_one(src, layer, digest, key, opts)).collect::<Result<_, _>>()?;
    if reports.iter().any(SignatureReport::passed) {
        Ok(reports)
    } else {
        Err(Error::SignatureRejected { image: pinned.to_owned(), reports })
    }
}

/// Checks one signature layer. Only transport errors are returned as
/// errors; everything about the signature itself lands in the report.
fn check_one(
    src: &dyn Source,
    layer: &Descriptor,
    digest: &BlobDigest,
    key: &PublicKey,
    opts: &VerifyOptions,
) -> Result<SignatureReport, Error> {
    let mut report = SignatureReport {
        payload_digest: layer.digest,
        checks: Vec::new(),
        log_index: None,
        integrated_time: None,
    };
    if layer.media_type != SIMPLE_SIGNING {
        report.push(Check::Payload, Err(format!("media type {:?} is not simple signing", layer.media_type)));
        return Ok(report);
    }
    let payload_bytes = match small_blob(src, layer, MAX_PAYLOAD, "signature payload") {
        Ok(b) => b,
        Err(e) if e.is_verification_failure() => {
            report.push(Check::Payload, Err(e.to_string()));
            return Ok(report);
        }
        Err(e) => return Err(e),
    };
    let payload: Payload = match serde_json::from_slice(&payload_bytes) {
        Ok(p) => p,
        Err(e) => {
            report.push(Check::Payload, Err(format!("not a simple-signing payload: {e}")));
            return Ok(report);
        }
    };
    report.push(Check::Payload, Ok(()));

    let sig = layer
        .annotations
        .get(SIGNATURE_ANNOTATION)
        .ok_or_else(|| format!("no {SIGNATURE_ANNOTATION} annotation"))
        .and_then(|s| STANDARD.decode(s.trim()).map_err(|e| format!("signature is not base64: {e}")));
    report.push(
        Check::Signature,
        sig.as_ref().map_err(Clone::clone).and_then(|s| key.verify(&payload_bytes, s)),
    );

    let claimed = &payload.critical.image.docker_manifest_digest;
    report.push(
        Check::SignedDigest,
        if claimed == &digest.to_string() {
            Ok(())
        } else {
            Err(format!("payload signs {claimed}, not {digest}"))
        },
    );
    report.push(
        Check::PayloadType,
        if payload.critical.kind == PAYLOAD_TYPE {
            Ok(())
        } else {
            Err(format!("payload type {:?}", payload.critical.kind))
        },
    );
    match &opts.identity {
        Some(want) => {
            let got = &payload.critical.identity.docker_reference;
            report.push(
                Check::Identity,
                if got == want { Ok(()) } else { Err(format!("payload names {got:?}, not {want:?}")) },
            );
        }
        None => report.skip(Check::Identity, "no identity requested"),
    }

    match (&opts.rekor_key, layer.annotations.get(BUNDLE_ANNOTATION)) {
        (None, _) => {
            for c in [Check::BundleTimestamp, Check::BundleLogId, Check::BundleEntry] {
                report.skip(c, "transparency log ignored");
            }
        }
        (Some(_), None) => {
            report.push(Check::BundleTimestamp, Err(format!("no {BUNDLE_ANNOTATION} annotation")));
        }
        (Some(rekor), Some(raw)) => match (serde_json::from_str::<Bundle>(raw), &sig) {
            (Err(e), _) => report.push(Check::BundleTimestamp, Err(format!("invalid bundle: {e}"))),
            (Ok(_), Err(e)) => report.push(Check::BundleEntry, Err(e.clone())),
            (Ok(bundle), Ok(sig)) => {
                let c = check_bundle(&bundle, rekor, key, sig, &payload_bytes);
                report.push(Check::BundleTimestamp, c.set);
                report.push(Check::BundleLogId, c.log_id);
                report.push(Check::BundleEntry, c.entry);
                report.log_index = Some(c.log_index);
                report.integrated_time = Some(c.integrated_time);
            }
        },
    }
    Ok(report)
}
