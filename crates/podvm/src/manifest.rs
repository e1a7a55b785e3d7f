//! The parts of the OCI image specification (and Docker's schema 2, which
//! registries still serve) this crate reads: manifests, indexes, descriptors.
//!
//! The same types serialise the manifests the `publish` feature writes. Their
//! field order is the specification's and maps are sorted, so the bytes (and
//! with them the digests) do not depend on how `serde_json` is configured.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::BlobDigest;
use crate::reference::ImagePlatform;

/// OCI image manifest.
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub(crate) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Every manifest type this crate asks a registry for.
pub(crate) const ACCEPTED_MANIFEST_TYPES: [&str; 4] = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];
/// The media type of a cosign simple-signing payload layer.
pub(crate) const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// OCI image configuration.
pub(crate) const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker image configuration.
pub(crate) const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// OCI layer, a gzip-compressed tar archive.
pub(crate) const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The annotation naming a manifest's tag in an image layout's `index.json`.
pub(crate) const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Manifests larger than this are refused: the OCI distribution
/// specification only obliges registries to accept 4 MiB.
pub(crate) const MAX_MANIFEST_SIZE: usize = 4 << 20;

/// A content descriptor.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    pub media_type: String,
    pub digest: BlobDigest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<DescriptorPlatform>,
}

/// The `platform` of an index entry.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct DescriptorPlatform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl<'de> Deserialize<'de> for BlobDigest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An image manifest: a config and the layers, lowest first.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ImageManifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    /// Signed with the manifest, so they may carry values (the podvm
    /// measurements); a key written twice is refused, as parsers disagree
    /// on which copy wins.
    #[serde(default, deserialize_with = "unique_keys", skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A JSON object of strings in which no key appears twice.
fn unique_keys<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    struct Unique;
    impl<'de> serde::de::Visitor<'de> for Unique {
        type Value = BTreeMap<String, String>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object of strings")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((key, value)) = map.next_entry::<String, String>()? {
                if out.contains_key(&key) {
                    return Err(serde::de::Error::custom(format!("annotation {key:?} appears twice")));
                }
                out.insert(key, value);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Unique)
}

/// An image index (manifest list).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ImageIndex {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
}

/// A parsed manifest of either kind.
#[derive(Debug, Clone)]
// One is parsed per manifest read and moved out at once; boxing the larger
// variant would save nothing measurable.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Manifest {
    Image(ImageManifest),
    Index(ImageIndex),
}

/// The probe used to tell manifest kinds apart when `mediaType` is absent.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
    #[serde(default)]
    layers: Option<serde_json::Value>,
}

impl Manifest {
    /// Parses manifest bytes, deciding the kind by `mediaType` when present
    /// and by the presence of `manifests` or `layers` otherwise (the field is
    /// optional in the OCI specification).
    pub(crate) fn parse(bytes: &[u8]) -> Result<Manifest, String> {
        let probe: Probe = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let is_index = match probe.media_type.as_deref() {
            Some(OCI_INDEX | DOCKER_LIST) => true,
            Some(OCI_MANIFEST | DOCKER_MANIFEST) => false,
            Some(other) => return Err(format!("unsupported manifest media type {other:?}")),
            None => match (probe.manifests.is_some(), probe.layers.is_some()) {
                (true, false) => true,
                (false, true) => false,
                _ => return Err("neither an image manifest nor an index".into()),
            },
        };
        if is_index {
            let idx: ImageIndex = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
            if idx.schema_version != 2 {
                return Err(format!("unsupported schemaVersion {}", idx.schema_version));
            }
            Ok(Manifest::Index(idx))
        } else {
            let m: ImageManifest = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
            if m.schema_version != 2 {
                return Err(format!("unsupported schemaVersion {}", m.schema_version));
            }
            Ok(Manifest::Image(m))
        }
    }
}

impl ImageIndex {
    /// The first entry for `platform`; the variant is compared only when the
    /// caller names one.
    pub(crate) fn select(&self, platform: &ImagePlatform) -> Option<&Descriptor> {
        self.manifests.iter().find(|d| {
            d.platform.as_ref().is_some_and(|p| {
                p.os == platform.os
                    && p.architecture == platform.architecture
                    && platform.variant.as_ref().is_none_or(|v| p.variant.as_ref() == Some(v))
            })
        })
    }
}

/// How a layer's bytes are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
}

/// The compression a layer media type implies, or `None` for a media type
/// that is not a filesystem layer.
pub(crate) fn layer_compression(media_type: &str) -> Option<Compression> {
    match media_type {
        "application/vnd.oci.image.layer.v1.tar"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar"
        | "application/vnd.docker.image.rootfs.diff.tar" => Some(Compression::None),
        OCI_LAYER_GZIP
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.diff.tar.gzip"
        | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Some(Compression::Gzip),
        "application/vnd.oci.image.layer.v1.tar+zstd"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => Some(Compression::Zstd),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Shape of an index as the OCI image specification's example shows it
    // (image-index.md), with digests replaced by valid ones.
    const INDEX: &str = r#"{
      "schemaVersion": 2,
      "mediaType": "application/vnd.oci.image.index.v1+json",
      "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 7143,
         "digest": "sha256:e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f",
         "platform": {"architecture": "ppc64le", "os": "linux"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 7682,
         "digest": "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270",
         "platform": {"architecture": "amd64", "os": "linux"}}
      ]
    }"#;

    #[test]
    fn index_selects_platform() {
        let Manifest::Index(idx) = Manifest::parse(INDEX.as_bytes()).unwrap() else { panic!("not an index") };
        let d = idx.select(&ImagePlatform::default()).unwrap();
        assert!(d.digest.to_string().starts_with("sha256:5b0bcabd"));
        assert!(idx.select(&"linux/arm64".parse().unwrap()).is_none());
        assert!(idx.select(&"linux/amd64/v3".parse().unwrap()).is_none());
    }

    #[test]
    fn manifest_kinds() {
        let m = r#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#;
        assert!(matches!(Manifest::parse(m.as_bytes()), Ok(Manifest::Image(_))));
        assert!(Manifest::parse(br#"{"schemaVersion":1,"layers":[]}"#).is_err());
        assert!(Manifest::parse(br#"{"schemaVersion":2,"mediaType":"text/plain","layers":[]}"#).is_err());
        assert!(Manifest::parse(b"not json").is_err());
        let bad_digest = m.replace("sha256:e3b0", "sha256:E3B0");
        assert!(Manifest::parse(bad_digest.as_bytes()).is_err());
    }

    #[test]
    fn manifest_annotations_are_read_and_a_repeated_key_is_refused() {
        let m = r#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[],"annotations":{"a":"1","b":"2"}}"#;
        let Ok(Manifest::Image(image)) = Manifest::parse(m.as_bytes()) else {
            panic!("not an image manifest")
        };
        assert_eq!(
            image.annotations.into_iter().collect::<Vec<_>>(),
            [("a".into(), "1".into()), ("b".into(), "2".into())]
        );
        let twice = m.replace(r#""b":"2""#, r#""a":"2""#);
        let e = Manifest::parse(twice.as_bytes()).unwrap_err();
        assert!(e.contains("annotation \"a\" appears twice"), "{e}");
        assert!(Manifest::parse(m.replace(r#""1""#, "1").as_bytes()).is_err());
    }

    #[test]
    fn compression_by_media_type() {
        assert_eq!(layer_compression("application/vnd.oci.image.layer.v1.tar+zstd"), Some(Compression::Zstd));
        assert_eq!(
            layer_compression("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Some(Compression::Gzip)
        );
        assert_eq!(layer_compression(SIMPLE_SIGNING), None);
    }
}
