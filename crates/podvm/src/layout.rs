//! OCI image layouts (OCI image specification, `image-layout.md`): a
//! directory with `oci-layout`, `index.json` and `blobs/<alg>/<hex>`, or a tar
//! archive of one, read in place without extracting it.
//!
//! Tags are the `org.opencontainers.image.ref.name` annotations of
//! `index.json` entries, as `skopeo copy … oci:DIR:TAG` writes them; cosign
//! signatures copied beside the image are entries tagged `sha256-<hex>.sig`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::digest::BlobDigest;
use crate::error::Error;
use crate::manifest::{Descriptor, ImageIndex, MAX_MANIFEST_SIZE, Manifest, REF_NAME};
use crate::reference::LocalRef;
use crate::source::{Source, check_manifest_bytes};
use crate::tar::{EntryKind, TarReader};

enum Store {
    Dir(PathBuf),
    /// Regular files of the archive: name -> (data offset, size).
    Archive {
        file: PathBuf,
        entries: HashMap<String, (u64, u64)>,
    },
}

/// An image in a layout directory or archive.
pub(crate) struct LocalSource {
    image: String,
    reference: LocalRef,
    store: Store,
    index: ImageIndex,
}

impl LocalSource {
    /// Opens a layout directory.
    pub(crate) fn open_dir(image: String, reference: LocalRef) -> Result<LocalSource, Error> {
        let store = Store::Dir(reference.path().to_path_buf());
        Self::open(image, reference, store)
    }

    /// Opens a layout archive, indexing its entries without reading their data.
    pub(crate) fn open_archive(image: String, reference: LocalRef) -> Result<LocalSource, Error> {
        let path = reference.path().to_path_buf();
        let io_err = |source| Error::Io { path: path.clone(), source };
        let f = File::open(&path).map_err(io_err)?;
        let mut tar = TarReader::with_skipper(BufReader::new(f), |r, n| {
            let delta = i64::try_from(n).map_err(io::Error::other)?;
            r.seek_relative(delta)?;
            Ok(n)
        });
        let mut entries = HashMap::new();
        loop {
            let h = match tar.next_entry() {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(e) => {
                    return Err(Error::InvalidLayout {
                        path: path.clone(),
                        reason: format!("not a tar archive: {e}"),
                    });
                }
            };
            if h.kind == EntryKind::Regular
                && let Ok(name) = String::from_utf8(h.path)
            {
                let name = name.trim_start_matches("./").to_owned();
                entries.insert(name, (tar.position(), h.size));
            }
        }
        let store = Store::Archive { file: path.clone(), entries };
        Self::open(image, reference, store)
    }

    fn open(image: String, reference: LocalRef, store: Store) -> Result<LocalSource, Error> {
        let layout_path = reference.path().to_path_buf();
        let invalid = |reason: String| Error::InvalidLayout { path: layout_path.clone(), reason };
        let marker =
            read_capped(&store, "oci-layout", 4096)?.ok_or_else(|| invalid("no oci-layout file".into()))?;
        let v: serde_json::Value =
            serde_json::from_slice(&marker).map_err(|e| invalid(format!("oci-layout is not JSON: {e}")))?;
        if !v.get("imageLayoutVersion").is_some_and(|v| v.is_string()) {
            return Err(invalid("oci-layout has no imageLayoutVersion".into()));
        }
        let index_bytes = read_capped(&store, "index.json", MAX_MANIFEST_SIZE as u64)?
            .ok_or_else(|| invalid("no index.json".into()))?;
        let index = match Manifest::parse(&index_bytes) {
            Ok(Manifest::Index(i)) => i,
            Ok(Manifest::Image(_)) => return Err(invalid("index.json is not an index".into())),
            Err(e) => return Err(invalid(format!("index.json: {e}"))),
        };
        Ok(LocalSource { image, reference, store, index })
    }

    fn layout_path(&self) -> &Path {
        self.reference.path()
    }

    fn entry_for_tag(&self, tag: &str) -> Option<&Descriptor> {
        self.index.manifests.iter().find(|d| d.annotations.get(REF_NAME).map(String::as_str) == Some(tag))
    }

    /// Reads a manifest blob named by an index entry and checks its digest.
    fn manifest_for(&self, d: &Descriptor) -> Result<(Vec<u8>, BlobDigest), Error> {
        let bytes = self.manifest(&d.digest)?;
        check_manifest_bytes(&self.image, &bytes, &d.digest, "manifest")?;
        Ok((bytes, d.digest))
    }
}

fn blob_name(d: &BlobDigest) -> String {
    format!("blobs/{}/{}", d.alg(), d.hex())
}

/// Reads a file of the layout whole, if it exists and is at most `cap` bytes.
fn read_capped(store: &Store, name: &str, cap: u64) -> Result<Option<Vec<u8>>, Error> {
    let Some(mut r) = open_file(store, name)? else {
        return Ok(None);
    };
    let mut out = Vec::new();
    (&mut r.0)
        .take(cap + 1)
        .read_to_end(&mut out)
        .map_err(|source| Error::Io { path: r.1.clone(), source })?;
    if out.len() as u64 > cap {
        return Err(Error::InvalidLayout { path: r.1, reason: format!("{name} is larger than {cap} bytes") });
    }
    Ok(Some(out))
}

/// A reader for a file of the layout, and its path for messages.
type Opened = (Box<dyn Read + Send>, PathBuf);

/// Opens a file of the layout.
fn open_file(store: &Store, name: &str) -> Result<Option<Opened>, Error> {
    match store {
        Store::Dir(dir) => {
            let path = dir.join(name);
            match File::open(&path) {
                Ok(f) => Ok(Some((Box::new(IoTagged::new(f, path.clone())), path))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(Error::Io { path, source }),
            }
        }
        Store::Archive { file, entries } => {
            let Some(&(offset, size)) = entries.get(name) else {
                return Ok(None);
            };
            let io_err = |source| Error::Io { path: file.clone(), source };
            let mut f = File::open(file).map_err(io_err)?;
            f.seek(SeekFrom::Start(offset)).map_err(io_err)?;
            let r = IoTagged::new(BufReader::new(f).take(size), file.clone());
            Ok(Some((Box::new(r), file.join(name))))
        }
    }
}

/// Turns read errors into `io::Error`s that carry an [`Error::Io`] naming
/// the file, so the extraction code can report them as such.
struct IoTagged<R> {
    inner: R,
    path: PathBuf,
}

impl<R> IoTagged<R> {
    fn new(inner: R, path: PathBuf) -> Self {
        IoTagged { inner, path }
    }
}

impl<R: Read> Read for IoTagged<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|source| io::Error::other(Error::Io { path: self.path.clone(), source }))
    }
}

impl Source for LocalSource {
    fn image(&self) -> &str {
        &self.image
    }

    fn root(&self) -> Result<(Vec<u8>, BlobDigest), Error> {
        if let Some(d) = self.reference.digest() {
            let bytes = self.manifest(&d)?;
            check_manifest_bytes(&self.image, &bytes, &d, "manifest")?;
            return Ok((bytes, d));
        }
        if let Some(tag) = self.reference.tag() {
            let d = self
                .entry_for_tag(tag)
                .ok_or_else(|| Error::NotFound { image: self.image.clone(), what: format!("tag {tag}") })?;
            return self.manifest_for(d);
        }
        // Without a tag, the layout must hold exactly one image besides
        // signature artifacts.
        let images: Vec<&Descriptor> = self
            .index
            .manifests
            .iter()
            .filter(|d| {
                !d.annotations
                    .get(REF_NAME)
                    .is_some_and(|t| t.ends_with(".sig") || t.ends_with(".att") || t.ends_with(".sbom"))
            })
            .collect();
        match images.as_slice() {
            [d] => self.manifest_for(d),
            [] => Err(Error::NotFound { image: self.image.clone(), what: "image".into() }),
            _ => Err(Error::InvalidLayout {
                path: self.layout_path().to_path_buf(),
                reason: format!("holds {} images; name one with :TAG", images.len()),
            }),
        }
    }

    fn manifest_by_tag(&self, tag: &str) -> Result<Option<(Vec<u8>, BlobDigest)>, Error> {
        self.entry_for_tag(tag).map(|d| self.manifest_for(d)).transpose()
    }

    fn manifest(&self, digest: &BlobDigest) -> Result<Vec<u8>, Error> {
        read_capped(&self.store, &blob_name(digest), MAX_MANIFEST_SIZE as u64)?
            .ok_or_else(|| Error::NotFound { image: self.image.clone(), what: format!("manifest {digest}") })
    }

    fn blob(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send>, Error> {
        open_file(&self.store, &blob_name(&desc.digest))?.map(|(r, _)| r).ok_or_else(|| Error::NotFound {
            image: self.image.clone(),
            what: format!("blob {}", desc.digest),
        })
    }
}
