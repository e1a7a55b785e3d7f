//! Streaming extraction of one file from an image's layers.
//!
//! Layers are applied in order as the OCI image specification's "Image Layer
//! Filesystem Changeset" describes: a later entry for a path replaces an
//! earlier one; `.wh.NAME` removes `NAME` from lower layers and
//! `.wh..wh..opq` removes everything below its directory in lower layers
//! (whiteouts never affect entries of their own layer); hard links name a
//! file written earlier. Only the requested path and small files that a later
//! hard link might name are kept, within a fixed budget, so memory stays
//! bounded whatever the layer sizes. A large requested file (a disk image)
//! is copied into a caller's [`Spool`] as it streams past instead of being
//! kept in memory.

use std::collections::HashMap;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;

use crate::digest::{BlobDigest, Mismatch, VerifyingReader};
use crate::error::Error;
use crate::manifest::{Compression, Descriptor, layer_compression};
use crate::progress::Progress;
use crate::tar::{EntryKind, Header, TarError, TarReader};

/// Files kept for hard-link resolution may use at most this many entries.
const MAX_CACHED_FILES: usize = 4096;
/// ... and at least this many bytes, even with a smaller file limit.
const MIN_CACHE_BYTES: u64 = 1 << 20;

/// The path of a file inside an image: relative, normalised, no `..`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePath {
    /// Normalised components joined with `/`, without a leading slash.
    bytes: Vec<u8>,
}

impl ImagePath {
    /// Parses a path such as `/image/measurements.json`: a leading `/` and
    /// `.` components are dropped; `..`, empty paths and NUL are refused.
    pub fn parse(s: &str) -> Result<ImagePath, Error> {
        let invalid = |reason| Error::InvalidPath { path: s.to_owned(), reason };
        if s.contains('\0') {
            return Err(invalid("contains NUL"));
        }
        match normalize(s.trim_start_matches('/').as_bytes()) {
            Ok(Some(bytes)) => Ok(ImagePath { bytes }),
            Ok(None) => Err(invalid("names the image root, not a file")),
            Err(reason) => Err(invalid(reason)),
        }
    }

    /// The path with a leading `/`, as users write it.
    pub fn display(&self) -> String {
        format!("/{}", String::from_utf8_lossy(&self.bytes))
    }

    /// The normalised path without a leading slash, as a layer entry names it.
    #[cfg_attr(not(feature = "publish"), allow(dead_code))]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Normalises a tar entry name: `./` and empty components are dropped;
/// absolute names and `..` are refused, because a layer entry is relative to
/// the image root and must stay inside it. `None` is the root itself.
fn normalize(raw: &[u8]) -> Result<Option<Vec<u8>>, &'static str> {
    if raw.first() == Some(&b'/') {
        return Err("absolute path");
    }
    let mut out = Vec::with_capacity(raw.len());
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err("parent directory component"),
            c => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(c);
            }
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

/// True if `path` lies strictly below `dir` (the empty `dir` is the root).
fn is_below(path: &[u8], dir: &[u8]) -> bool {
    if dir.is_empty() {
        return !path.is_empty();
    }
    path.len() > dir.len() && path.starts_with(dir) && path[dir.len()] == b'/'
}

/// What tracking `path` costs in memory beyond the content: its own key and
/// one key per ancestor directory (a path of n components has n ancestors,
/// so a deep path costs about the square of its length).
fn tracking_cost(path: &[u8]) -> u64 {
    path.len() as u64 + ancestors(path).map(|a| a.len() as u64).sum::<u64>()
}

/// The proper ancestors of a normalised path, the root (empty) first.
fn ancestors(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::once(&path[..0])
        .chain(path.iter().enumerate().filter(|&(_, &b)| b == b'/').map(move |(i, _)| &path[..i]))
}

/// Where a large file taken out of an image is written as its layer
/// streams: a temporary file the caller owns. Its content is the file's only
/// once extraction returned successfully; on an error the caller discards it.
pub trait Spool: Write + Seek + Send {
    /// Cuts (or extends) the spool to `len` bytes.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
}

impl Spool for std::fs::File {
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        std::fs::File::set_len(self, len)
    }
}

impl Spool for io::Cursor<Vec<u8>> {
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        let len = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
        self.get_mut().resize(len, 0);
        Ok(())
    }
}

/// One file [`extract`] looks for, and where its content goes.
pub(crate) struct Target<'a> {
    pub path: &'a ImagePath,
    /// The largest content accepted, in bytes.
    pub limit: u64,
    /// Whether the content goes to the spool rather than memory (at most
    /// one target may say so).
    pub spooled: bool,
}

/// The content of a target found by [`extract`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Extracted {
    /// Held in memory.
    Memory(Vec<u8>),
    /// Written to the spool: this many bytes.
    Spooled(u64),
}

/// The size of the buffer a spooled file is copied through.
const SPOOL_CHUNK: usize = 256 << 10;
/// A chunk of zeros, to tell a chunk that can stay a hole.
static ZEROS: [u8; SPOOL_CHUNK] = [0; SPOOL_CHUNK];

/// What the merged filesystem holds at a tracked path.
#[derive(Debug, Clone)]
enum Node {
    File(Arc<Vec<u8>>),
    /// In the spool, this many bytes.
    Spooled(u64),
    TooLarge(u64),
    NotRegular,
}

#[derive(Debug, Clone)]
struct Tracked {
    layer: usize,
    node: Node,
    /// Bytes counted against the cache budget for this name (zero for a
    /// hard link, which shares its content).
    charged: u64,
}

/// Why walking a layer stopped.
enum WalkError {
    Tar(TarError),
    Fatal(Error),
}

impl From<TarError> for WalkError {
    fn from(e: TarError) -> Self {
        WalkError::Tar(e)
    }
}

/// The state of the merged filesystem, as far as it is tracked.
struct Merger<'a> {
    image: &'a str,
    targets: &'a [Target<'a>],
    spool: Option<&'a mut dyn Spool>,
    /// The largest non-target file kept for hard links.
    max_size: u64,
    cache_budget: u64,
    cached_bytes: u64,
    nodes: HashMap<Vec<u8>, Tracked>,
    /// For every directory with tracked paths below it, how many there are;
    /// subtree removals scan the nodes only when this says there is
    /// something to find, so a layer with many files stays linear.
    dirs: HashMap<Vec<u8>, usize>,
}

impl Merger<'_> {
    fn remove_exact(&mut self, path: &[u8]) {
        if let Some(t) = self.nodes.remove(path) {
            self.cached_bytes = self.cached_bytes.saturating_sub(t.charged);
            for a in ancestors(path) {
                if let Some(n) = self.dirs.get_mut(a) {
                    *n -= 1;
                    if *n == 0 {
                        self.dirs.remove(a);
                    }
                }
            }
        }
    }

    /// Removes the tracked paths strictly below `dir` (and `dir` itself if
    /// `with_dir`) for which `pred` holds.
    fn remove_subtree(&mut self, dir: &[u8], with_dir: bool, pred: impl Fn(&Tracked) -> bool) {
        if with_dir && self.nodes.get(dir).is_some_and(&pred) {
            self.remove_exact(dir);
        }
        if self.dirs.contains_key(dir) {
            let doomed: Vec<Vec<u8>> = self
                .nodes
                .iter()
                .filter(|(p, t)| is_below(p, dir) && pred(t))
                .map(|(p, _)| p.clone())
                .collect();
            for p in doomed {
                self.remove_exact(&p);
            }
        }
    }

    fn insert(&mut self, path: Vec<u8>, layer: usize, node: Node, charged: u64) {
        self.remove_exact(&path);
        for a in ancestors(&path) {
            *self.dirs.entry(a.to_vec()).or_insert(0) += 1;
        }
        self.cached_bytes += charged;
        self.nodes.insert(path, Tracked { layer, node, charged });
    }

    fn unsafe_entry(&self, layer: &BlobDigest, h: &Header, reason: &'static str) -> WalkError {
        WalkError::Fatal(Error::UnsafeEntry {
            image: self.image.to_owned(),
            layer: *layer,
            entry: String::from_utf8_lossy(&h.path).into_owned(),
            reason,
        })
    }

    fn spool_failed(&self, target: usize, e: io::Error) -> Error {
        Error::SpoolFailed {
            image: self.image.to_owned(),
            path: self.targets[target].path.display(),
            reason: e.to_string(),
        }
    }

    /// Copies the current entry's data into the spool, replacing what it
    /// held, through a fixed buffer. Chunks of zeros are skipped rather than
    /// written, so a file spool keeps them as holes (free space in a disk
    /// image costs neither the write nor the disk space).
    fn spool_entry<R: Read>(&mut self, tar: &mut TarReader<R>, target: usize) -> Result<u64, WalkError> {
        let spool = self.spool.take().expect("a spooled target comes with a spool");
        let mut buf = vec![0; SPOOL_CHUNK];
        let mut written = 0;
        let failed = |e| WalkError::Fatal(self.spool_failed(target, e));
        let copied = (|| {
            // Emptied first: what a skipped chunk leaves must read as zeros.
            spool.set_len(0).and_then(|()| spool.seek(SeekFrom::Start(0))).map_err(failed)?;
            loop {
                // Whole buffers: a decompressor returns a few KiB per read,
                // and a write or seek per read was a syscall every few KiB.
                let mut n = 0;
                while n < buf.len() {
                    match tar.read_data_chunk(&mut buf[n..])? {
                        0 => break,
                        k => n += k,
                    }
                }
                if n == 0 {
                    break;
                }
                // Compared as memory (memcmp), not byte by byte.
                if buf[..n] == ZEROS[..n] {
                    spool.seek(SeekFrom::Current(n as i64)).map_err(failed)?;
                } else {
                    spool.write_all(&buf[..n]).map_err(failed)?;
                }
                written += n as u64;
            }
            spool.set_len(written).map_err(failed)
        })();
        self.spool = Some(spool);
        copied.map(|()| written)
    }

    /// Replaces the spool's content with `content`.
    fn write_spool(&mut self, target: usize, content: &[u8]) -> Result<u64, Error> {
        let spool = self.spool.take().expect("a spooled target comes with a spool");
        let written = spool
            .seek(SeekFrom::Start(0))
            .and_then(|_| spool.write_all(content))
            .and_then(|()| spool.set_len(content.len() as u64))
            .and_then(|()| spool.flush());
        self.spool = Some(spool);
        written.map(|()| content.len() as u64).map_err(|e| self.spool_failed(target, e))
    }

    fn walk<R: Read>(
        &mut self,
        index: usize,
        digest: &BlobDigest,
        tar: &mut TarReader<R>,
    ) -> Result<(), WalkError> {
        while let Some(h) = tar.next_entry()? {
            let path = match normalize(&h.path) {
                Ok(Some(p)) => p,
                Ok(None) => continue,
                Err(reason) => return Err(self.unsafe_entry(digest, &h, reason)),
            };
            let (parent, name) = match path.iter().rposition(|&b| b == b'/') {
                Some(i) => (&path[..i], &path[i + 1..]),
                None => (&path[..0], &path[..]),
            };
            if name == b".wh..wh..opq" {
                let dir = parent.to_vec();
                self.remove_subtree(&dir, false, |t| t.layer < index);
                continue;
            }
            if let Some(hidden) = name.strip_prefix(b".wh.") {
                if hidden.starts_with(b".wh.") {
                    // Other `.wh..wh.` names are aufs metadata, not whiteouts.
                    continue;
                }
                let mut victim = parent.to_vec();
                if !victim.is_empty() {
                    victim.push(b'/');
                }
                victim.extend_from_slice(hidden);
                self.remove_subtree(&victim, true, |t| t.layer < index);
                continue;
            }

            let which = self.targets.iter().position(|t| t.path.bytes == path);
            let is_target = which.is_some();
            let on_target_path = self.targets.iter().any(|t| is_below(&t.path.bytes, &path));
            match h.kind {
                EntryKind::Directory => {
                    if is_target {
                        self.insert(path, index, Node::NotRegular, 0);
                    }
                    // A directory over a directory keeps its contents.
                    continue;
                }
                EntryKind::Symlink if is_target => {
                    return Err(self.unsafe_entry(digest, &h, "symbolic link at the requested path"));
                }
                EntryKind::Symlink if on_target_path => {
                    return Err(self.unsafe_entry(
                        digest,
                        &h,
                        "symbolic link in a directory of the requested path",
                    ));
                }
                _ => {}
            }
            // Any non-directory replaces what was at `path`, including a
            // directory and everything below it.
            self.remove_subtree(&path, true, |_| true);
            if on_target_path {
                // A file where the target's directory should be hides the
                // target; nothing to record.
                continue;
            }
            // Files kept for hard links are charged for their content and
            // their bookkeeping, so neither many entries nor deep paths grow
            // memory past the cache budget.
            let tracking = tracking_cost(&path);
            let fits = |m: &Merger<'_>, size: u64| {
                m.nodes.len() < MAX_CACHED_FILES
                    && m.cached_bytes.saturating_add(size).saturating_add(tracking) <= m.cache_budget
            };
            match h.kind {
                EntryKind::Regular => {
                    let target = which.map(|i| &self.targets[i]);
                    let limit = target.map_or(self.max_size, |t| t.limit);
                    if h.size > limit {
                        if is_target {
                            self.insert(path, index, Node::TooLarge(h.size), 0);
                        }
                    } else if target.is_some_and(|t| t.spooled) {
                        let len = self.spool_entry(tar, which.expect("a target"))?;
                        self.insert(path, index, Node::Spooled(len), 0);
                    } else if is_target || fits(self, h.size) {
                        let mut content = Vec::new();
                        tar.read_data(&mut content)?;
                        let charged = content.len() as u64 + tracking;
                        self.insert(path, index, Node::File(Arc::new(content)), charged);
                    }
                }
                EntryKind::HardLink => {
                    let link = match normalize(&h.link) {
                        Ok(Some(l)) => l,
                        Ok(None) => return Err(self.unsafe_entry(digest, &h, "hard link to the root")),
                        Err(reason) => return Err(self.unsafe_entry(digest, &h, reason)),
                    };
                    let limit = which.map_or(u64::MAX, |i| self.targets[i].limit);
                    match self.nodes.get(&link).map(|t| t.node.clone()) {
                        // Files kept for links may be larger than a
                        // spooled target's budget.
                        Some(Node::File(c)) if is_target && c.len() as u64 > limit => {
                            self.insert(path, index, Node::TooLarge(c.len() as u64), 0);
                        }
                        // The link shares the content already counted
                        // against the budget.
                        Some(node @ Node::File(_)) if is_target || fits(self, 0) => {
                            self.insert(path, index, node, tracking)
                        }
                        Some(node @ Node::TooLarge(_)) if is_target => {
                            self.insert(path, index, node, 0);
                        }
                        _ if is_target => {
                            return Err(WalkError::Fatal(Error::UnsupportedEntry {
                                image: self.image.to_owned(),
                                layer: *digest,
                                entry: String::from_utf8_lossy(&h.path).into_owned(),
                                reason: "hard link to a file that is unknown or was too large to keep",
                            }));
                        }
                        _ => {}
                    }
                }
                EntryKind::Sparse if is_target => {
                    return Err(WalkError::Fatal(Error::UnsupportedEntry {
                        image: self.image.to_owned(),
                        layer: *digest,
                        entry: String::from_utf8_lossy(&h.path).into_owned(),
                        reason: "sparse file",
                    }));
                }
                _ if is_target => self.insert(path, index, Node::NotRegular, 0),
                _ => {}
            }
        }
        Ok(())
    }
}

/// The transport or file error an `io::Error` carries, if our own readers
/// put one there.
pub(crate) fn carried_error(e: io::Error) -> Result<Error, io::Error> {
    if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        let inner = e.into_inner().expect("checked above");
        return Ok(*inner.downcast::<Error>().expect("checked above"));
    }
    Err(e)
}

/// Opens a blob's raw byte stream; digests are checked by the caller.
pub(crate) type BlobOpener<'a> = dyn FnMut(&Descriptor) -> Result<Box<dyn Read + Send>, Error> + 'a;

/// Reads `layers` in order and returns the content of `target`.
///
/// Every layer is read to its end and its size and digest compared with the
/// descriptor before the next one starts; nothing is returned unless all of
/// them matched.
pub(crate) fn extract(
    image: &str,
    layers: &[Descriptor],
    target: &ImagePath,
    max_size: u64,
    open: &mut BlobOpener<'_>,
    progress: &Arc<dyn Progress>,
) -> Result<Vec<u8>, Error> {
    let targets = [Target { path: target, limit: max_size, spooled: false }];
    match extract_targets(image, layers, &targets, None, open, progress)?.pop() {
        Some(Extracted::Memory(content)) => Ok(content),
        _ => unreachable!("one target held in memory"),
    }
}

/// Reads `layers` in order and returns the content of each of `targets`
/// (in their order), the one marked `spooled` written to `spool`.
///
/// Every layer is read to its end and its size and digest compared with the
/// descriptor before the next one starts; nothing is returned unless all of
/// them matched. The spool receives a file's bytes as its layer streams, so
/// on an error it holds unverified content the caller must discard.
pub(crate) fn extract_targets<'a>(
    image: &'a str,
    layers: &[Descriptor],
    targets: &'a [Target<'a>],
    spool: Option<&'a mut dyn Spool>,
    open: &mut BlobOpener<'_>,
    progress: &Arc<dyn Progress>,
) -> Result<Vec<Extracted>, Error> {
    assert!(
        targets.iter().filter(|t| t.spooled).count() == usize::from(spool.is_some()),
        "one spool for one spooled target"
    );
    let max_size = targets.iter().filter(|t| !t.spooled).map(|t| t.limit).max().unwrap_or(MIN_CACHE_BYTES);
    let mut merger = Merger {
        image,
        targets,
        spool,
        max_size,
        cache_budget: max_size.max(MIN_CACHE_BYTES),
        cached_bytes: 0,
        nodes: HashMap::new(),
        dirs: HashMap::new(),
    };
    // Check every media type before downloading anything.
    let compressions = layers
        .iter()
        .map(|l| {
            layer_compression(&l.media_type).ok_or_else(|| Error::UnsupportedMediaType {
                image: image.to_owned(),
                what: format!("layer {}", l.digest),
                media_type: l.media_type.clone(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (index, (layer, compression)) in layers.iter().zip(compressions).enumerate() {
        progress.layer_started(index, layers.len(), &layer.digest, layer.size);
        let raw = open(layer)?;
        let p = Arc::clone(progress);
        let mut vr = VerifyingReader::new(raw, layer.digest, layer.size)
            .with_progress(Box::new(move |n| p.advanced(n)));
        let walked = walk_layer(&mut merger, index, layer, compression, &mut vr);
        let finished = vr.finish();
        progress.layer_finished(index);
        let what = format!("layer {index}");
        // A transport failure explains everything after it; then a digest
        // or size mismatch explains any parse error; only an intact layer's
        // parse errors are reported as such.
        if let Err(WalkError::Tar(TarError::Io(e))) = walked {
            match carried_error(e) {
                Ok(err) => return Err(err),
                Err(e) => return finish_then(image, &what, layer, finished, corrupt(image, layer, e)),
            }
        }
        match finished {
            Err(e) => {
                return Err(carried_error(e).unwrap_or_else(|e| corrupt(image, layer, e)));
            }
            Ok(Err(m)) => return Err(mismatch(image, &what, m)),
            Ok(Ok(())) => {}
        }
        match walked {
            Ok(()) => {}
            Err(WalkError::Fatal(e)) => return Err(e),
            Err(WalkError::Tar(e)) => {
                return Err(Error::CorruptLayer {
                    image: image.to_owned(),
                    layer: layer.digest,
                    reason: e.to_string(),
                });
            }
        }
    }
    let mut found = Vec::with_capacity(targets.len());
    for (i, target) in targets.iter().enumerate() {
        let display = target.path.display();
        found.push(match merger.nodes.get(&target.path.bytes).map(|t| t.node.clone()) {
            // A hard link to a small file kept in memory.
            Some(Node::File(c)) if target.spooled => Extracted::Spooled(merger.write_spool(i, &c)?),
            Some(Node::File(c)) => Extracted::Memory(c.to_vec()),
            Some(Node::Spooled(len)) => Extracted::Spooled(len),
            Some(Node::TooLarge(size)) => {
                return Err(Error::FileTooLarge {
                    image: image.to_owned(),
                    path: display,
                    size,
                    limit: target.limit,
                });
            }
            Some(Node::NotRegular) => {
                return Err(Error::NotARegularFile { image: image.to_owned(), path: display });
            }
            None => return Err(Error::FileNotFound { image: image.to_owned(), path: display }),
        });
    }
    Ok(found)
}

fn corrupt(image: &str, layer: &Descriptor, e: io::Error) -> Error {
    Error::CorruptLayer { image: image.to_owned(), layer: layer.digest, reason: e.to_string() }
}

/// Reports a decoding error only if the layer's digest matched.
fn finish_then(
    image: &str,
    what: &str,
    layer: &Descriptor,
    finished: io::Result<Result<(), Mismatch>>,
    err: Error,
) -> Result<Vec<Extracted>, Error> {
    match finished {
        Err(e) => Err(carried_error(e).unwrap_or_else(|e| corrupt(image, layer, e))),
        Ok(Err(m)) => Err(mismatch(image, what, m)),
        Ok(Ok(())) => Err(err),
    }
}

pub(crate) fn mismatch(image: &str, what: &str, m: Mismatch) -> Error {
    match m {
        Mismatch::Size { expected, actual } => {
            Error::SizeMismatch { image: image.to_owned(), what: what.to_owned(), expected, actual }
        }
        Mismatch::Digest { expected, actual } => {
            Error::DigestMismatch { image: image.to_owned(), what: what.to_owned(), expected, actual }
        }
    }
}

fn walk_layer<R: Read>(
    merger: &mut Merger<'_>,
    index: usize,
    layer: &Descriptor,
    compression: Compression,
    vr: &mut VerifyingReader<R>,
) -> Result<(), WalkError> {
    match compression {
        Compression::None => merger.walk(index, &layer.digest, &mut TarReader::new(vr)),
        Compression::Gzip => merger.walk(index, &layer.digest, &mut TarReader::new(MultiGzDecoder::new(vr))),
        Compression::Zstd => {
            let dec = zstd::stream::read::Decoder::new(vr).map_err(TarError::Io)?;
            merger.walk(index, &layer.digest, &mut TarReader::new(dec))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::progress::NoProgress;
    use crate::tar::tests::raw_archive;

    fn desc(media_type: &str, data: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.to_owned(),
            digest: BlobDigest::sha256_of(data),
            size: data.len() as u64,
            annotations: Default::default(),
            platform: None,
        }
    }

    const TAR: &str = "application/vnd.oci.image.layer.v1.tar";
    const GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    const ZST: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

    /// Extracts `targets` from `layers` (media type, blob) as an image
    /// with those layers.
    fn run_targets<'a>(
        layers: &[(&str, Vec<u8>)],
        targets: &'a [Target<'a>],
        spool: Option<&'a mut dyn Spool>,
    ) -> Result<Vec<Extracted>, Error> {
        let descs: Vec<Descriptor> = layers.iter().map(|(m, d)| desc(m, d)).collect();
        let blobs: HashMap<BlobDigest, Vec<u8>> =
            layers.iter().map(|(_, d)| (BlobDigest::sha256_of(d), d.clone())).collect();
        let mut open = |d: &Descriptor| -> Result<Box<dyn Read + Send>, Error> {
            Ok(Box::new(io::Cursor::new(blobs[&d.digest].clone())))
        };
        let progress: Arc<dyn Progress> = Arc::new(NoProgress);
        extract_targets("test", &descs, targets, spool, &mut open, &progress)
    }

    fn run(layers: &[(&str, Vec<u8>)], path: &str, max: u64) -> Result<Vec<u8>, Error> {
        let path = ImagePath::parse(path).unwrap();
        match run_targets(layers, &[Target { path: &path, limit: max, spooled: false }], None)?.pop() {
            Some(Extracted::Memory(content)) => Ok(content),
            other => panic!("{other:?}"),
        }
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    const M: &str = "/image/measurements.json";

    #[test]
    fn later_layers_override_and_whiteouts_remove() {
        let l1 =
            raw_archive(&[(b"./image/", b'5', b"", b""), (b"./image/measurements.json", b'0', b"one", b"")]);
        let l2 = raw_archive(&[(b"image/measurements.json", b'0', b"two", b"")]);
        assert_eq!(run(&[(TAR, l1.clone()), (GZ, gzip(&l2))], M, 100).unwrap(), b"two");
        let wh = raw_archive(&[(b"image/.wh.measurements.json", b'0', b"", b"")]);
        assert!(matches!(run(&[(TAR, l1.clone()), (TAR, wh)], M, 100), Err(Error::FileNotFound { .. })));
        let opq = raw_archive(&[(b"image/.wh..wh..opq", b'0', b"", b"")]);
        assert!(matches!(
            run(&[(TAR, l1.clone()), (TAR, opq.clone())], M, 100),
            Err(Error::FileNotFound { .. })
        ));
        // A whiteout does not affect its own layer.
        let same = raw_archive(&[
            (b"image/.wh..wh..opq", b'0', b"", b""),
            (b"image/measurements.json", b'0', b"three", b""),
        ]);
        assert_eq!(run(&[(TAR, l1.clone()), (TAR, same)], M, 100).unwrap(), b"three");
        // An opaque directory at the root hides everything below.
        let root_opq = raw_archive(&[(b"./.wh..wh..opq", b'0', b"", b"")]);
        assert!(matches!(
            run(&[(TAR, l1.clone()), (TAR, root_opq)], M, 100),
            Err(Error::FileNotFound { .. })
        ));
        // Whiting out the parent directory removes the file too.
        let dir_wh = raw_archive(&[(b".wh.image", b'0', b"", b"")]);
        assert!(run(&[(TAR, l1), (TAR, dir_wh)], M, 100).is_err());
    }

    #[test]
    fn zstd_and_hard_links() {
        let l = raw_archive(&[
            (b"./data/real.json", b'0', b"linked", b""),
            (b"./image/measurements.json", b'1', b"", b"./data/real.json"),
        ]);
        let z = zstd::encode_all(&l[..], 3).unwrap();
        assert_eq!(run(&[(ZST, z)], M, 100).unwrap(), b"linked");
        let dangling = raw_archive(&[(b"image/measurements.json", b'1', b"", b"nowhere")]);
        assert!(matches!(run(&[(TAR, dangling)], M, 100), Err(Error::UnsupportedEntry { .. })));
    }

    #[test]
    fn hard_link_cache_is_bounded() {
        let names: Vec<String> = (0..MAX_CACHED_FILES + 4).map(|i| format!("f/{i}")).collect();
        let mut entries: Vec<crate::tar::tests::RawEntry<'_>> =
            names.iter().map(|n| (n.as_bytes(), b'0', &b"x"[..], &b""[..])).collect();
        let first = entries.clone();
        entries.push((b"image/measurements.json", b'1', b"", b"f/0"));
        assert_eq!(run(&[(TAR, raw_archive(&entries))], M, 10).unwrap(), b"x");
        let last = names.last().unwrap().as_bytes();
        let mut entries = first;
        entries.push((b"image/measurements.json", b'1', b"", last));
        assert!(matches!(run(&[(TAR, raw_archive(&entries))], M, 10), Err(Error::UnsupportedEntry { .. })));
    }

    #[test]
    fn unsafe_entries_are_refused() {
        for (name, t, link) in [
            (&b"../etc/passwd"[..], b'0', &b""[..]),
            (b"/image/measurements.json", b'0', b""),
            (b"image/../../x", b'0', b""),
            (b"image/measurements.json", b'2', b"/etc/shadow"),
            (b"image", b'2', b"/etc"),
            (b"image/x", b'1', b"../../etc/shadow"),
        ] {
            let l = raw_archive(&[(name, t, b"", link)]);
            let err = run(&[(TAR, l)], M, 100).unwrap_err();
            assert!(matches!(err, Error::UnsafeEntry { .. }), "{}: {err}", String::from_utf8_lossy(name));
            assert!(err.is_verification_failure());
        }
    }

    #[test]
    fn size_cap_and_kinds() {
        let l = raw_archive(&[(b"image/measurements.json", b'0', &[b'x'; 101], b"")]);
        assert!(matches!(run(&[(TAR, l.clone())], M, 100), Err(Error::FileTooLarge { limit: 100, .. })));
        assert_eq!(run(&[(TAR, l)], M, 101).unwrap().len(), 101);
        let d = raw_archive(&[(b"image/measurements.json/", b'5', b"", b"")]);
        assert!(matches!(run(&[(TAR, d)], M, 100), Err(Error::NotARegularFile { .. })));
    }

    #[test]
    fn tampered_blob_is_a_digest_error_not_a_parse_error() {
        let l = raw_archive(&[(b"image/measurements.json", b'0', b"good", b"")]);
        let descs = vec![desc(GZ, &gzip(&l))];
        let mut bad = gzip(&l);
        let n = bad.len();
        bad[n / 2] ^= 0xff;
        let mut open = |_: &Descriptor| -> Result<Box<dyn Read + Send>, Error> {
            Ok(Box::new(io::Cursor::new(bad.clone())))
        };
        let progress: Arc<dyn Progress> = Arc::new(NoProgress);
        let err =
            extract("test", &descs, &ImagePath::parse(M).unwrap(), 100, &mut open, &progress).unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    }

    const DISK: &str = "/image/podvm.qcow2";

    /// Extracts `DISK` into a spool (budget `budget`) and `M` into memory.
    fn run_spooled(
        layers: &[(&str, Vec<u8>)],
        budget: u64,
        spool: &mut dyn Spool,
    ) -> Result<Vec<Extracted>, Error> {
        let (disk, m) = (ImagePath::parse(DISK).unwrap(), ImagePath::parse(M).unwrap());
        let targets = [
            Target { path: &disk, limit: budget, spooled: true },
            Target { path: &m, limit: 100, spooled: false },
        ];
        run_targets(layers, &targets, Some(spool))
    }

    #[test]
    fn a_large_file_streams_into_the_spool() {
        // Larger than the copy buffer and than any in-memory cap, not a
        // multiple of either.
        // with a run of zeros longer than a chunk in the middle and at the end.
        let mut big: Vec<u8> = (0..SPOOL_CHUNK * 5 + 12345).map(|i| (i % 251) as u8 | 1).collect();
        big[SPOOL_CHUNK..SPOOL_CHUNK * 3].fill(0);
        let n = big.len();
        big[n - SPOOL_CHUNK - 7..].fill(0);
        let l1 = raw_archive(&[
            (b"image/podvm.qcow2", b'0', &big, b""),
            (b"image/measurements.json", b'0', b"{}", b""),
        ]);
        let mut spool = io::Cursor::new(Vec::new());
        let got = run_spooled(&[(GZ, gzip(&l1))], big.len() as u64, &mut spool).unwrap();
        assert_eq!(got, [Extracted::Spooled(big.len() as u64), Extracted::Memory(b"{}".to_vec())]);
        assert!(spool.get_ref() == &big);
        // A later layer's shorter version replaces the spool's content whole,
        // and its zeros are zeros, not what the first version held there.
        let zeros = vec![0; SPOOL_CHUNK * 2];
        let l2 = raw_archive(&[(b"image/podvm.qcow2", b'0', &zeros, b"")]);
        let mut spool = io::Cursor::new(Vec::new());
        let got = run_spooled(&[(GZ, gzip(&l1)), (TAR, l2)], big.len() as u64, &mut spool).unwrap();
        assert_eq!(got[0], Extracted::Spooled(zeros.len() as u64));
        assert!(spool.get_ref() == &zeros);
        // The same through a file.
        let mut file = tempfile::tempfile().unwrap();
        run_spooled(&[(GZ, gzip(&l1))], big.len() as u64, &mut file).unwrap();
        let mut back = Vec::new();
        file.seek(SeekFrom::Start(0)).unwrap();
        file.read_to_end(&mut back).unwrap();
        assert!(back == big);
        // A hard link to a small file is written to the spool at the end.
        let l3 = raw_archive(&[(b"image/podvm.qcow2", b'1', b"", b"image/measurements.json")]);
        let mut spool = io::Cursor::new(Vec::new());
        let got = run_spooled(&[(TAR, l1.clone()), (TAR, l3)], big.len() as u64, &mut spool).unwrap();
        assert_eq!(got[0], Extracted::Spooled(2));
        assert_eq!(spool.get_ref(), b"{}");
        // A hard link to a kept file larger than the budget is refused too.
        let l4 = raw_archive(&[
            (b"data/big", b'0', &[1; 50], b""),
            (b"image/podvm.qcow2", b'1', b"", b"data/big"),
            (b"image/measurements.json", b'0', b"{}", b""),
        ]);
        let mut spool = io::Cursor::new(Vec::new());
        let err = run_spooled(&[(TAR, l4)], 49, &mut spool).unwrap_err();
        assert!(matches!(err, Error::FileTooLarge { size: 50, limit: 49, .. }), "{err}");
        // A whiteout removes it.
        let wh = raw_archive(&[(b"image/.wh.podvm.qcow2", b'0', b"", b"")]);
        let mut spool = io::Cursor::new(Vec::new());
        let err = run_spooled(&[(TAR, l1), (TAR, wh)], big.len() as u64, &mut spool).unwrap_err();
        assert!(matches!(err, Error::FileNotFound { ref path, .. } if path == DISK), "{err}");
    }

    #[test]
    fn the_spool_budget_is_checked_before_writing() {
        let l = raw_archive(&[
            (b"image/podvm.qcow2", b'0', &[7; 1000], b""),
            (b"image/measurements.json", b'0', b"{}", b""),
        ]);
        let mut spool = io::Cursor::new(Vec::new());
        let err = run_spooled(&[(TAR, l)], 999, &mut spool).unwrap_err();
        assert!(matches!(err, Error::FileTooLarge { size: 1000, limit: 999, .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "/image/podvm.qcow2 in test is 1000 bytes, larger than the limit of 999 bytes"
        );
        assert!(spool.get_ref().is_empty());
    }

    /// A spool whose disk is full.
    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from_raw_os_error(28))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    impl Seek for Full {
        fn seek(&mut self, _: SeekFrom) -> io::Result<u64> {
            Ok(0)
        }
    }
    impl Spool for Full {
        fn set_len(&mut self, _: u64) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn spool_write_errors_and_tampered_layers() {
        let l = raw_archive(&[
            (b"image/podvm.qcow2", b'0', &[7; 1000], b""),
            (b"image/measurements.json", b'0', b"{}", b""),
        ]);
        let err = run_spooled(&[(TAR, l.clone())], 1000, &mut Full).unwrap_err();
        assert!(matches!(err, Error::SpoolFailed { .. }), "{err}");
        assert!(err.to_string().starts_with("test: cannot write /image/podvm.qcow2 to the temporary file: "));
        assert!(!err.is_verification_failure());
        // A layer whose bytes differ from its digest fails as such, after
        // its content went to the spool.
        let gz = gzip(&l);
        let descs = vec![desc(GZ, &gz)];
        let mut bad = gz.clone();
        let n = bad.len();
        bad[n - 9] ^= 0xff; // the gzip trailer's CRC: the tar itself still reads
        let mut open = |_: &Descriptor| -> Result<Box<dyn Read + Send>, Error> {
            Ok(Box::new(io::Cursor::new(bad.clone())))
        };
        let progress: Arc<dyn Progress> = Arc::new(NoProgress);
        let disk = ImagePath::parse(DISK).unwrap();
        let targets = [Target { path: &disk, limit: 1000, spooled: true }];
        let mut spool = io::Cursor::new(Vec::new());
        let err =
            extract_targets("test", &descs, &targets, Some(&mut spool), &mut open, &progress).unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    }

    #[derive(Default)]
    struct Counting {
        started: std::sync::atomic::AtomicUsize,
        bytes: std::sync::atomic::AtomicU64,
        finished: std::sync::atomic::AtomicUsize,
    }

    impl Progress for Counting {
        fn layer_started(&self, _: usize, _: usize, _: &BlobDigest, _: u64) {
            self.started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        fn advanced(&self, n: u64) {
            self.bytes.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
        }
        fn layer_finished(&self, _: usize) {
            self.finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn progress_sees_every_compressed_byte() {
        let l1 = gzip(&raw_archive(&[(b"image/measurements.json", b'0', b"a", b"")]));
        let l2 = raw_archive(&[(b"other", b'0', &[1u8; 5000], b"")]);
        let descs = vec![desc(GZ, &l1), desc(TAR, &l2)];
        let blobs = [l1.clone(), l2.clone()];
        let mut i = 0;
        let mut open = |_: &Descriptor| -> Result<Box<dyn Read + Send>, Error> {
            i += 1;
            Ok(Box::new(io::Cursor::new(blobs[i - 1].clone())))
        };
        let counting = Arc::new(Counting::default());
        let progress: Arc<dyn Progress> = counting.clone();
        let got = extract("t", &descs, &ImagePath::parse(M).unwrap(), 10, &mut open, &progress);
        assert_eq!(got.unwrap(), b"a");
        let c = &*counting;
        use std::sync::atomic::Ordering::SeqCst;
        assert_eq!((c.started.load(SeqCst), c.finished.load(SeqCst)), (2, 2));
        assert_eq!(c.bytes.load(SeqCst), (l1.len() + l2.len()) as u64);
    }

    proptest::proptest! {
        #[test]
        fn normalized_paths_stay_inside(parts in proptest::collection::vec(
            proptest::sample::select(vec!["a", "b", ".", "..", "", ".wh.x", "c d"]), 0..8),
            absolute in proptest::bool::ANY,
        ) {
            let raw = format!("{}{}", if absolute { "/" } else { "" }, parts.join("/"));
            match normalize(raw.as_bytes()) {
                Err(_) => proptest::prop_assert!(raw.starts_with('/') || parts.contains(&"..")),
                Ok(None) => proptest::prop_assert!(parts.iter().all(|p| p.is_empty() || *p == ".")),
                Ok(Some(p)) => {
                    proptest::prop_assert!(!raw.starts_with('/') && !parts.contains(&".."));
                    for c in p.split(|&b| b == b'/') {
                        proptest::prop_assert!(!c.is_empty() && c != b"." && c != b"..");
                    }
                    proptest::prop_assert_eq!(normalize(&p).unwrap(), Some(p.clone()));
                }
            }
        }
    }

    #[test]
    fn image_paths() {
        assert_eq!(ImagePath::parse("/image/./m.json").unwrap().display(), "/image/m.json");
        assert_eq!(ImagePath::parse("image//m.json").unwrap().display(), "/image/m.json");
        for bad in ["/", "", "/image/../etc/passwd", "a\0b"] {
            assert!(matches!(ImagePath::parse(bad), Err(Error::InvalidPath { .. })), "{bad:?}");
        }
    }
}
