//! An entry point for the libFuzzer targets, behind the `fuzzing` feature.
//!
//! The layer reader is private: the only public way to reach it is
//! [`fetch_file`](crate::fetch_file), which needs a signed image and a
//! runtime, and a fuzzer cannot forge layer digests. This module runs the same
//! extraction code on one uncompressed layer whose descriptor is made from
//! the bytes themselves, so the digest and size checks always pass and every
//! input reaches the tar reader and the layer merger. It is not part of the
//! supported API.

use std::io::{self, Read};
use std::sync::Arc;

use crate::digest::BlobDigest;
use crate::error::Error;
use crate::extract::{Extracted, ImagePath, Target, extract, extract_targets};
use crate::manifest::Descriptor;
use crate::progress::{NoProgress, Progress};

/// The media type of an uncompressed OCI layer.
const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// Extracts `path` from the uncompressed layer `tar`, at most `max` bytes,
/// as [`fetch_file`](crate::fetch_file) would from an image with that one
/// layer.
pub fn extract_from_tar(tar: &[u8], path: &str, max: u64) -> Result<Vec<u8>, Error> {
    let target = ImagePath::parse(path)?;
    let (layer, mut open) = one_layer(tar);
    let progress: Arc<dyn Progress> = Arc::new(NoProgress);
    extract("fuzz", &[layer], &target, max, &mut open, &progress)
}

/// The descriptor of `tar` as an image's only, uncompressed layer, and an
/// opener that serves it.
fn one_layer(tar: &[u8]) -> (Descriptor, impl FnMut(&Descriptor) -> Result<Box<dyn Read + Send>, Error>) {
    let layer = Descriptor {
        media_type: OCI_LAYER_TAR.to_owned(),
        digest: BlobDigest::sha256_of(tar),
        size: tar.len() as u64,
        annotations: Default::default(),
        platform: None,
    };
    let data = tar.to_vec();
    let open = move |_: &Descriptor| -> Result<Box<dyn Read + Send>, Error> {
        Ok(Box::new(io::Cursor::new(data.clone())))
    };
    (layer, open)
}

/// Extracts `path` from the uncompressed layer `tar` into a spool in
/// memory, at most `budget` bytes, as [`fetch_to_spool`](crate::fetch_to_spool)
/// would from an image with that one layer; returns the spool's content.
pub fn spool_from_tar(tar: &[u8], path: &str, budget: u64) -> Result<Vec<u8>, Error> {
    let target = ImagePath::parse(path)?;
    let (layer, mut open) = one_layer(tar);
    let progress: Arc<dyn Progress> = Arc::new(NoProgress);
    let mut spool = io::Cursor::new(Vec::new());
    let targets = [Target { path: &target, limit: budget, spooled: true }];
    match extract_targets("fuzz", &[layer], &targets, Some(&mut spool), &mut open, &progress)?.as_slice() {
        [Extracted::Spooled(len)] => {
            let content = spool.into_inner();
            assert_eq!(content.len() as u64, *len, "the spool holds what extraction reported");
            Ok(content)
        }
        other => unreachable!("one spooled target gives one spooled result, not {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tar::tests::raw_archive;

    #[test]
    fn extracts_within_the_cap() {
        let tar = raw_archive(&[(b"./image/measurements.json", b'0', b"{}", b"")]);
        assert_eq!(extract_from_tar(&tar, "/image/measurements.json", 2).unwrap(), b"{}");
        assert!(matches!(
            extract_from_tar(&tar, "/image/measurements.json", 1),
            Err(Error::FileTooLarge { limit: 1, .. })
        ));
        assert!(matches!(extract_from_tar(&tar, "/", 2), Err(Error::InvalidPath { .. })));
        assert_eq!(spool_from_tar(&tar, "/image/measurements.json", 2).unwrap(), b"{}");
        assert!(matches!(
            spool_from_tar(&tar, "/image/measurements.json", 1),
            Err(Error::FileTooLarge { size: 2, limit: 1, .. })
        ));
    }
}
