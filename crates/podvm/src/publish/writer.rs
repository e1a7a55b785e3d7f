//! Writing OCI image layouts (OCI image specification, `image-layout.md`)
//! the way `skopeo copy … oci:DIR:TAG` leaves them: `oci-layout`,
//! `blobs/sha256/<hex>`, and `index.json` naming each tagged manifest with
//! an `org.opencontainers.image.ref.name` annotation.
//!
//! Nothing is half-written: a new layout is assembled in a sibling directory
//! and renamed onto its place; an existing layout gets its new blobs first
//! (each written to a temporary file and renamed) and its new `index.json`
//! last, by rename, so a reader sees either the old or the new layout.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use super::layer;
use crate::digest::BlobDigest;
use crate::error::Error;
use crate::layout::LocalSource;
use crate::manifest::{
    Descriptor, ImageIndex, ImageManifest, MAX_MANIFEST_SIZE, OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP,
    OCI_MANIFEST, REF_NAME,
};
use crate::reference::{ImagePlatform, LocalRef};

/// The `oci-layout` file, as the image specification gives it.
const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Serialises plain data (strings, integers, sorted maps) to compact JSON.
///
/// `serde_json` only fails for maps with non-string keys or failing
/// `Serialize` impls, neither of which the types written here have.
pub(crate) fn to_json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("plain data always serialises")
}

/// Writes images into an OCI image layout directory.
///
/// Blobs and tags are collected in memory and land on disk only in
/// [`LayoutWriter::commit`]. The directory must be absent, empty, or an
/// existing layout (whose other tags and blobs are kept); a tag already in
/// the layout is moved to the new manifest, as skopeo does.
///
/// Two writers must not commit to the same layout at the same time: the
/// later `index.json` wins.
pub struct LayoutWriter {
    /// The directory as the caller named it, for messages.
    dir: PathBuf,
    target: Target,
    /// Blobs by the hex of their SHA-256 digest, their file name.
    blobs: BTreeMap<String, Vec<u8>>,
    tags: BTreeMap<String, Descriptor>,
}

enum Target {
    /// Nothing (or an empty directory) at `path`: the layout is built beside
    /// it and renamed onto it.
    New { path: PathBuf },
    /// A layout at `path`; `index` is its `index.json`, kept as parsed JSON
    /// so that fields this crate does not know survive the rewrite.
    Existing { path: PathBuf, index: serde_json::Value },
}

impl LayoutWriter {
    /// Prepares to write into `dir`, which must not exist, be empty, or hold
    /// an OCI image layout. Nothing is written yet.
    pub fn open(dir: &Path) -> Result<LayoutWriter, Error> {
        let invalid =
            |reason: &str| Error::InvalidLayout { path: dir.to_path_buf(), reason: reason.to_owned() };
        let io_err = |source| Error::Io { path: dir.to_path_buf(), source };
        let target = match fs::metadata(dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if fs::symlink_metadata(dir).is_ok() {
                    return Err(invalid("a symbolic link to nothing"));
                }
                Target::New { path: dir.to_path_buf() }
            }
            Err(source) => return Err(io_err(source)),
            Ok(m) if !m.is_dir() => return Err(invalid("not a directory")),
            Ok(_) => {
                // Resolving symbolic links first makes the final rename
                // replace the directory, not a link to it.
                let path = fs::canonicalize(dir).map_err(io_err)?;
                let empty = fs::read_dir(&path).map_err(io_err)?.next().is_none();
                if empty {
                    Target::New { path }
                } else if path.join("oci-layout").exists() {
                    let index = read_index(dir, &path)?;
                    Target::Existing { path, index }
                } else {
                    return Err(invalid("not empty and not an OCI image layout (no oci-layout file)"));
                }
            }
        };
        Ok(LayoutWriter { dir: dir.to_path_buf(), target, blobs: BTreeMap::new(), tags: BTreeMap::new() })
    }

    /// Adds an image of one gzip layer holding `files` (path inside the
    /// image, content), tagged `tag`, and returns its manifest digest.
    ///
    /// The layer is deterministic (sorted entries, directories added, owner
    /// 0, time 0, fixed gzip header), so the same files, platform and
    /// compressor version always give the same digest.
    pub fn add_image(
        &mut self,
        tag: &str,
        files: &[(&str, &[u8])],
        platform: &ImagePlatform,
    ) -> Result<BlobDigest, Error> {
        self.add_annotated_image(tag, files, platform, &[])
    }

    /// Like [`LayoutWriter::add_image`], with `annotations` (key, value) in
    /// the image manifest, such as a podvm's measurements
    /// ([`rvkit_rvps::Measurements::to_annotations`]), which
    /// [`fetch_measurements`](crate::fetch_measurements) then reads without
    /// the layer. They are part of the manifest, so a signature covers them.
    pub fn add_annotated_image(
        &mut self,
        tag: &str,
        files: &[(&str, &[u8])],
        platform: &ImagePlatform,
        annotations: &[(String, String)],
    ) -> Result<BlobDigest, Error> {
        check_tag(tag)?;
        let name = self.dir.display().to_string();
        let tar = layer::tar_of(files, &name)?;
        let diff_id = BlobDigest::sha256_of(&tar);
        let gz = layer::gzip(&tar).map_err(|source| Error::Write { path: self.dir.clone(), source })?;
        drop(tar);
        let config = to_json(&ImageConfig {
            architecture: &platform.architecture,
            os: &platform.os,
            variant: platform.variant.as_deref(),
            config: EmptyObject {},
            rootfs: RootFs { kind: "layers", diff_ids: vec![diff_id] },
        });
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.to_owned()),
            config: self.add_blob(OCI_CONFIG, config),
            layers: vec![self.add_blob(OCI_LAYER_GZIP, gz)],
            annotations: annotations.iter().cloned().collect(),
        };
        self.tag_manifest(tag, to_json(&manifest))
    }

    /// Stores a blob and returns its descriptor (without annotations).
    pub(crate) fn add_blob(&mut self, media_type: &str, bytes: Vec<u8>) -> Descriptor {
        let digest = BlobDigest::sha256_of(&bytes);
        let size = bytes.len() as u64;
        self.blobs.insert(digest.hex(), bytes);
        Descriptor {
            media_type: media_type.to_owned(),
            digest,
            size,
            annotations: BTreeMap::new(),
            platform: None,
        }
    }

    /// Stores an OCI image manifest and points `tag` at it.
    pub(crate) fn tag_manifest(&mut self, tag: &str, manifest: Vec<u8>) -> Result<BlobDigest, Error> {
        check_tag(tag)?;
        let mut d = self.add_blob(OCI_MANIFEST, manifest);
        d.annotations.insert(REF_NAME.to_owned(), tag.to_owned());
        let digest = d.digest;
        self.tags.insert(tag.to_owned(), d);
        Ok(digest)
    }

    /// Writes everything added so far. On error the layout is as it was
    /// (an existing layout may have gained unreferenced blobs).
    pub fn commit(self) -> Result<(), Error> {
        match &self.target {
            Target::New { path } => self.commit_new(path),
            Target::Existing { path, index } => self.commit_existing(path, index),
        }
    }

    fn commit_new(&self, path: &Path) -> Result<(), Error> {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let write_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Write { path, source }
        };
        fs::create_dir_all(&parent).map_err(write_err(&parent))?;
        let base = path.file_name().map_or_else(|| "layout".into(), |n| n.to_string_lossy().into_owned());
        let staging = Staging::create(&parent, &base)?;
        let blobs = staging.path.join("blobs/sha256");
        fs::create_dir_all(&blobs).map_err(write_err(&blobs))?;
        for (hex, bytes) in &self.blobs {
            write_synced(&blobs.join(hex), bytes)?;
        }
        let index = ImageIndex {
            schema_version: 2,
            media_type: Some(OCI_INDEX.to_owned()),
            manifests: self.tags.values().cloned().collect(),
        };
        write_synced(&staging.path.join("index.json"), &to_json(&index))?;
        write_synced(&staging.path.join("oci-layout"), OCI_LAYOUT)?;
        // rename(2) replaces an empty directory, which is the only kind of
        // directory `open` let through for a new layout.
        fs::rename(&staging.path, path).map_err(write_err(path))?;
        staging.disarm();
        sync_dir(&parent);
        Ok(())
    }

    fn commit_existing(&self, path: &Path, index: &serde_json::Value) -> Result<(), Error> {
        let blobs = path.join("blobs/sha256");
        fs::create_dir_all(&blobs).map_err(|source| Error::Write { path: blobs.clone(), source })?;
        for (hex, bytes) in &self.blobs {
            write_atomic(&blobs.join(hex), bytes, None)?;
        }
        let mut index = index.clone();
        let invalid =
            || Error::InvalidLayout { path: self.dir.clone(), reason: "index.json has no manifests".into() };
        let manifests = index.get_mut("manifests").and_then(|m| m.as_array_mut()).ok_or_else(invalid)?;
        manifests.retain(|m| {
            m.get("annotations")
                .and_then(|a| a.get(REF_NAME))
                .and_then(serde_json::Value::as_str)
                .is_none_or(|t| !self.tags.contains_key(t))
        });
        for d in self.tags.values() {
            manifests.push(serde_json::to_value(d).expect("plain data always serialises"));
        }
        write_atomic(&path.join("index.json"), &to_json(&index), None)
    }
}

impl std::fmt::Debug for LayoutWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Blob contents can be large; their number says enough.
        f.debug_struct("LayoutWriter")
            .field("dir", &self.dir)
            .field("new", &matches!(self.target, Target::New { .. }))
            .field("blobs", &self.blobs.len())
            .field("tags", &self.tags.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Refuses tags that `oci:DIR:TAG` could not name.
fn check_tag(tag: &str) -> Result<(), Error> {
    LocalRef::from_parts(PathBuf::new(), Some(tag))
        .map(drop)
        .map_err(|reason| Error::InvalidReference { input: tag.to_owned(), reason: reason.to_owned() })
}

/// Validates an existing layout with the reader and returns its `index.json`.
fn read_index(dir: &Path, path: &Path) -> Result<serde_json::Value, Error> {
    let reference = LocalRef::from_parts(path.to_path_buf(), None)
        .map_err(|reason| Error::InvalidLayout { path: dir.to_path_buf(), reason: reason.to_owned() })?;
    LocalSource::open_dir(format!("oci:{}", dir.display()), reference)?;
    let file = path.join("index.json");
    let mut bytes = Vec::new();
    File::open(&file)
        .and_then(|f| f.take(MAX_MANIFEST_SIZE as u64 + 1).read_to_end(&mut bytes))
        .map_err(|source| Error::Io { path: file.clone(), source })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::InvalidLayout { path: dir.to_path_buf(), reason: format!("index.json: {e}") })
}

/// The image configuration written for an image (OCI image specification,
/// `config.md`), fields in the specification's order.
#[derive(Serialize)]
pub(crate) struct ImageConfig<'a> {
    pub architecture: &'a str,
    pub os: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<&'a str>,
    pub config: EmptyObject,
    pub rootfs: RootFs,
}

/// `{}`.
#[derive(Serialize)]
pub(crate) struct EmptyObject {}

/// The `rootfs` of an image configuration.
#[derive(Serialize)]
pub(crate) struct RootFs {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub diff_ids: Vec<BlobDigest>,
}

/// Distinguishes temporary names made by this process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary name in `dir` derived from `base`.
fn temp_name(dir: &Path, base: &str) -> PathBuf {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".{base}.tmp-{}-{n}", std::process::id()))
}

/// A directory removed on drop unless disarmed.
struct Staging {
    path: PathBuf,
    armed: bool,
}

impl Staging {
    fn create(parent: &Path, base: &str) -> Result<Staging, Error> {
        let mut last = None;
        // A name can only be taken by a leftover of an earlier process with
        // the same id; a few attempts move past it.
        for _ in 0..16 {
            let path = temp_name(parent, base);
            match fs::create_dir(&path) {
                Ok(()) => return Ok(Staging { path, armed: true }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some((path, e)),
                Err(source) => return Err(Error::Write { path, source }),
            }
        }
        let (path, source) = last.expect("the loop ran");
        Err(Error::Write { path, source })
    }

    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.armed {
            // Best effort: the error that got us here is the one to report.
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Creates `path` (which must not exist), writes `bytes` and syncs them.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    write_with(&opts, path, bytes)
}

fn write_with(opts: &OpenOptions, path: &Path, bytes: &[u8]) -> Result<(), Error> {
    opts.open(path)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .map_err(|source| Error::Write { path: path.to_path_buf(), source })
}

/// Writes `bytes` to a temporary file beside `path` and renames it onto
/// `path`, so `path` is either old or complete. `mode` sets the permission
/// bits of a new file on Unix (otherwise the umask decides).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: Option<u32>) -> Result<(), Error> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let base = path.file_name().map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    if let Some(m) = mode {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(m);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let tmp = temp_name(dir, &base);
    let result = write_with(&opts, &tmp, bytes).and_then(|()| {
        fs::rename(&tmp, path).map_err(|source| Error::Write { path: path.to_path_buf(), source })
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    } else {
        sync_dir(dir);
    }
    result
}

/// Makes a rename durable. Some file systems cannot sync directories;
/// the rename itself has already succeeded, so failures are ignored.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}
