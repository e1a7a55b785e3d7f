//! Image references in the transports skopeo understands: `docker://`,
//! `oci:` and `oci-archive:`, and platforms (`linux/amd64`).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use rvkit_names::image::{is_host_name, is_path_component, is_port, is_tag};
use serde::{Serialize, Serializer};

use crate::digest::BlobDigest;
use crate::error::Error;

/// The registry Docker uses for references without a host.
const DOCKER_HUB: &str = "docker.io";

/// Where an image lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ImageRef {
    /// An image in a registry (`docker://HOST/REPO[:TAG][@DIGEST]` or the same
    /// without the `docker://` prefix).
    Registry(RegistryRef),
    /// An OCI image layout directory (`oci:DIR[:TAG]`, or `oci:DIR:@DIGEST`).
    Layout(LocalRef),
    /// A tar archive of an OCI image layout (`oci-archive:FILE[:TAG]`), read
    /// in place.
    Archive(LocalRef),
}

/// An image in a registry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegistryRef {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<BlobDigest>,
}

/// An image in a local OCI layout or layout archive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LocalRef {
    path: PathBuf,
    tag: Option<String>,
    digest: Option<BlobDigest>,
}

impl ImageRef {
    /// Parses a reference; see [`ImageRef`] for the accepted forms.
    pub fn parse(s: &str) -> Result<ImageRef, Error> {
        let invalid =
            |reason: &str| Error::InvalidReference { input: s.to_owned(), reason: reason.to_owned() };
        if let Some(rest) = s.strip_prefix("oci-archive:") {
            return LocalRef::parse(rest).map(ImageRef::Archive).map_err(invalid);
        }
        if let Some(rest) = s.strip_prefix("oci:") {
            return LocalRef::parse(rest).map(ImageRef::Layout).map_err(invalid);
        }
        let rest = s.strip_prefix("docker://").unwrap_or(s);
        if rest.contains("://") {
            return Err(invalid("unknown transport (expected docker://, oci: or oci-archive:)"));
        }
        RegistryRef::parse(rest).map(ImageRef::Registry).map_err(invalid)
    }

    /// The same image pinned to `digest`: registry references drop their tag,
    /// local references keep the path and name the digest.
    pub fn pinned(&self, digest: BlobDigest) -> ImageRef {
        match self {
            ImageRef::Registry(r) => {
                ImageRef::Registry(RegistryRef { tag: None, digest: Some(digest), ..r.clone() })
            }
            ImageRef::Layout(l) => ImageRef::Layout(l.pinned(digest)),
            ImageRef::Archive(l) => ImageRef::Archive(l.pinned(digest)),
        }
    }

    /// The digest named in the reference, if any.
    pub fn digest(&self) -> Option<BlobDigest> {
        match self {
            ImageRef::Registry(r) => r.digest,
            ImageRef::Layout(l) | ImageRef::Archive(l) => l.digest,
        }
    }
}

impl FromStr for ImageRef {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        ImageRef::parse(s)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageRef::Registry(r) => {
                // The bare form reads back as a registry reference unless the
                // registry host itself looks like a transport prefix
                // (`docker://oci:99/x` is host `oci`, port 99); keep the
                // transport then, so the text always parses back to `self`.
                let bare = r.to_string();
                if bare.starts_with("oci:") || bare.starts_with("oci-archive:") || bare.starts_with("docker:")
                {
                    write!(f, "docker://{bare}")
                } else {
                    f.write_str(&bare)
                }
            }
            ImageRef::Layout(l) => write!(f, "oci:{l}"),
            ImageRef::Archive(l) => write!(f, "oci-archive:{l}"),
        }
    }
}

impl Serialize for ImageRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl RegistryRef {
    /// The registry host, with a port if one was given (`127.0.0.1:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path inside the registry.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if the reference names one.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if the reference names one.
    pub fn digest(&self) -> Option<BlobDigest> {
        self.digest
    }

    /// `registry/repository`, the name cosign writes as `docker-reference`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// Parses `HOST/REPO[:TAG][@DIGEST]` with Docker's rules: a first path
    /// component without `.` or `:` (and not `localhost`) is a Docker Hub
    /// repository, and single-component Docker Hub names get `library/`.
    fn parse(s: &str) -> Result<RegistryRef, &'static str> {
        if s.is_empty() {
            return Err("empty reference");
        }
        let (name_tag, digest) = match s.split_once('@') {
            Some((n, d)) => (
                n,
                Some(d.parse::<BlobDigest>().map_err(|_| "digest must be sha256:<64 lowercase hex digits>")?),
            ),
            None => (s, None),
        };
        // A tag follows the last ':' that comes after the last '/', so a
        // registry port is not mistaken for a tag.
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => (&name_tag[..last_slash + i], Some(&name_tag[last_slash + i + 1..])),
            None => (name_tag, None),
        };
        if let Some(t) = tag {
            validate_tag(t)?;
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest)) if first.contains('.') || first.contains(':') || first == "localhost" => {
                (first.to_owned(), rest.to_owned())
            }
            _ if name.contains('/') => (DOCKER_HUB.to_owned(), name.to_owned()),
            _ => (DOCKER_HUB.to_owned(), format!("library/{name}")),
        };
        validate_host(&registry)?;
        for component in repository.split('/') {
            validate_path_component(component)?;
        }
        Ok(RegistryRef { registry, repository, tag: tag.map(str::to_owned), digest })
    }
}

impl fmt::Display for RegistryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl LocalRef {
    /// The layout directory or archive file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The tag (`org.opencontainers.image.ref.name`), if one was given.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if the reference names one.
    pub fn digest(&self) -> Option<BlobDigest> {
        self.digest
    }

    /// A reference to `tag` (or to the only image) in the layout at `path`,
    /// which may contain any character since it is not parsed from a string.
    #[cfg_attr(not(feature = "publish"), allow(dead_code))]
    pub(crate) fn from_parts(path: PathBuf, tag: Option<&str>) -> Result<LocalRef, &'static str> {
        if let Some(t) = tag {
            validate_tag(t)?;
        }
        Ok(LocalRef { path, tag: tag.map(str::to_owned), digest: None })
    }

    /// Splits `PATH[:TAG]` at the first colon, as containers/image does for
    /// these transports, so paths cannot contain a colon. `PATH:@DIGEST`
    /// names a manifest by digest.
    fn parse(s: &str) -> Result<LocalRef, &'static str> {
        let (path, rest) = match s.split_once(':') {
            Some((p, r)) => (p, Some(r)),
            None => (s, None),
        };
        if path.is_empty() {
            return Err("missing path");
        }
        let (tag, digest) = match rest {
            None | Some("") => (None, None),
            Some(r) => match r.strip_prefix('@') {
                Some(d) => (
                    None,
                    Some(
                        d.parse::<BlobDigest>()
                            .map_err(|_| "digest must be sha256:<64 lowercase hex digits>")?,
                    ),
                ),
                None => {
                    validate_tag(r)?;
                    (Some(r.to_owned()), None)
                }
            },
        };
        Ok(LocalRef { path: PathBuf::from(path), tag, digest })
    }

    fn pinned(&self, digest: BlobDigest) -> LocalRef {
        LocalRef { path: self.path.clone(), tag: None, digest: Some(digest) }
    }
}

impl fmt::Display for LocalRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, ":@{d}")?;
        }
        Ok(())
    }
}

fn validate_tag(t: &str) -> Result<(), &'static str> {
    if is_tag(t) { Ok(()) } else { Err("tag must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}") }
}

fn validate_path_component(c: &str) -> Result<(), &'static str> {
    if is_path_component(c) {
        Ok(())
    } else {
        Err("repository path components must be lowercase [a-z0-9] joined by '.', '_', '__' or '-'")
    }
}

/// Hosts: DNS labels or an IPv4 address, optionally `:PORT`.
fn validate_host(h: &str) -> Result<(), &'static str> {
    let (host, port) = match h.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (h, None),
    };
    if is_host_name(host) && port.is_none_or(is_port) {
        Ok(())
    } else {
        Err("registry host must be a DNS name or IPv4 address with an optional :PORT")
    }
}

/// The platform an image index is resolved to (`OS/ARCH[/VARIANT]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImagePlatform {
    /// Operating system, as in the OCI `platform.os` field (`linux`).
    pub os: String,
    /// CPU architecture, as in `platform.architecture` (`amd64`).
    pub architecture: String,
    /// CPU variant (`v8`), matched only when given.
    pub variant: Option<String>,
}

impl Default for ImagePlatform {
    /// `linux/amd64`, the platform of peer-pod virtual machines.
    fn default() -> Self {
        rvkit_image_access::DEFAULT_PLATFORM.parse().expect("the default platform parses")
    }
}

impl FromStr for ImagePlatform {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &&str| {
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => {
                Ok(ImagePlatform { os: (*os).to_owned(), architecture: (*arch).to_owned(), variant: None })
            }
            [os, arch, var] if ok(os) && ok(arch) && ok(var) => Ok(ImagePlatform {
                os: (*os).to_owned(),
                architecture: (*arch).to_owned(),
                variant: Some((*var).to_owned()),
            }),
            _ => Err(Error::InvalidPlatform { input: s.to_owned() }),
        }
    }
}

impl fmt::Display for ImagePlatform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const D: &str = "sha256:e633bc27853f811d919e64461d0c917e659f5430458abe2304a4c85b0d871c80";

    fn reg(s: &str) -> RegistryRef {
        match ImageRef::parse(s).unwrap() {
            ImageRef::Registry(r) => r,
            other => panic!("not a registry reference: {other:?}"),
        }
    }

    #[test]
    fn registry_references() {
        // The walkthrough's image, by tag and by digest.
        let r = reg("registry.redhat.io/openshift-sandboxed-containers/osc-dm-verity-image:1.11.1");
        assert_eq!(r.registry(), "registry.redhat.io");
        assert_eq!(r.repository(), "openshift-sandboxed-containers/osc-dm-verity-image");
        assert_eq!(r.tag(), Some("1.11.1"));
        let r = reg(&format!(
            "docker://registry.redhat.io/openshift-sandboxed-containers/osc-dm-verity-image@{D}"
        ));
        assert_eq!(r.digest().unwrap().to_string(), D);
        assert_eq!(r.tag(), None);

        let r = reg("127.0.0.1:5000/podvm/image:v1");
        assert_eq!((r.registry(), r.repository(), r.tag()), ("127.0.0.1:5000", "podvm/image", Some("v1")));
        let r = reg("localhost/x");
        assert_eq!((r.registry(), r.tag()), ("localhost", None));
        let r = reg("busybox");
        assert_eq!((r.registry(), r.repository()), ("docker.io", "library/busybox"));
        let r = reg("org/app:1");
        assert_eq!((r.registry(), r.repository()), ("docker.io", "org/app"));
        let r = reg(&format!("quay.io/a/b:t@{D}"));
        assert_eq!(r.to_string(), format!("quay.io/a/b:t@{D}"));
        assert_eq!(ImageRef::Registry(r).pinned(D.parse().unwrap()).to_string(), format!("quay.io/a/b@{D}"));
    }

    #[test]
    fn bad_registry_references() {
        for bad in [
            "",
            "quay.io/UPPER/case",
            "quay.io/a/b:",
            "quay.io/a/b:-tag",
            "quay.io/a//b",
            "quay.io:notaport/a",
            "quay.io/a@sha256:abc",
            "quay.io/a@sha256:E633BC27853F811D919E64461D0C917E659F5430458ABE2304A4C85B0D871C80",
            "http://quay.io/a",
            "quay.io/a/b:t/c",
        ] {
            assert!(matches!(ImageRef::parse(bad), Err(Error::InvalidReference { .. })), "{bad:?}");
        }
    }

    #[test]
    fn local_references() {
        let ImageRef::Layout(l) = ImageRef::parse("oci:/tmp/layout:v1").unwrap() else { panic!() };
        assert_eq!((l.path().to_str(), l.tag()), (Some("/tmp/layout"), Some("v1")));
        let ImageRef::Archive(l) = ImageRef::parse("oci-archive:img.tar").unwrap() else { panic!() };
        assert_eq!((l.path().to_str(), l.tag()), (Some("img.tar"), None));
        let pinned = ImageRef::parse(&format!("oci:dir:@{D}")).unwrap();
        assert_eq!(pinned.digest().unwrap().to_string(), D);
        assert_eq!(pinned.to_string(), format!("oci:dir:@{D}"));
        assert!(ImageRef::parse("oci::tag").is_err());
        // Found by the image_ref_parse fuzz target: a registry host named
        // like a transport must keep its transport when printed.
        let odd = ImageRef::parse("docker://oci:99/9").unwrap();
        assert!(matches!(odd, ImageRef::Registry(_)));
        assert_eq!(ImageRef::parse(&odd.to_string()).unwrap(), odd);
        assert!(ImageRef::parse("oci:dir:bad tag").is_err());
    }

    #[test]
    fn platforms() {
        assert_eq!(ImagePlatform::default().to_string(), "linux/amd64");
        let p: ImagePlatform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(p.variant.as_deref(), Some("v8"));
        assert!(matches!("linux".parse::<ImagePlatform>(), Err(Error::InvalidPlatform { .. })));
        assert!("linux//amd64".parse::<ImagePlatform>().is_err());
    }

    proptest! {
        #[test]
        fn registry_display_round_trips(
            host in "[a-z][a-z0-9]{0,8}\\.[a-z]{2,4}(:[1-9][0-9]{0,3})?",
            repo in "[a-z0-9]{1,6}(/[a-z0-9]{1,6}){0,2}",
            tag in proptest::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,10}"),
        ) {
            let s = match &tag { Some(t) => format!("{host}/{repo}:{t}"), None => format!("{host}/{repo}") };
            let r = ImageRef::parse(&s).unwrap();
            prop_assert_eq!(r.to_string(), s.clone());
            prop_assert_eq!(ImageRef::parse(&format!("docker://{s}")).unwrap(), r);
        }
    }
}
