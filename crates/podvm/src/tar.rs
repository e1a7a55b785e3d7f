//! A streaming reader for tar headers (POSIX ustar, pax and GNU extensions)
//! that never allocates more than a fixed bound, whatever the headers claim.
//!
//! The format is POSIX.1-2008 `pax` (IEEE Std 1003.1, "pax - portable
//! archive interchange", ustar Interchange Format and pax Header Block), with
//! the GNU `L`/`K` long-name entries and old-style sparse headers described in
//! the GNU tar manual ("Basic Tar Format"). End-of-archive handling follows Go's
//! `archive/tar`, which container runtimes use: one zero block must be followed
//! by another zero block or the end of the stream.
//!
//! A general-purpose tar crate reads GNU long names and pax records into
//! memory of whatever size the header states, before any digest could have
//! been checked; here every such record is capped.

use std::io::{self, Read};

/// The tar block size.
const BLOCK: usize = 512;
/// Longest GNU long name or link name accepted (Linux `PATH_MAX` is 4096).
const MAX_LONG_NAME: u64 = 64 * 1024;
/// Largest pax extended header accepted.
const MAX_PAX: u64 = 1024 * 1024;

/// What kind of file an entry creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryKind {
    /// A regular file (`0`, NUL, or contiguous `7`).
    Regular,
    /// A hard link to the file named by `link` (`1`).
    HardLink,
    /// A symbolic link (`2`).
    Symlink,
    /// A directory (`5`).
    Directory,
    /// A sparse file (GNU `S`, or pax `GNU.sparse.*` records): its stored
    /// bytes are not its content.
    Sparse,
    /// Devices, FIFOs and unknown types.
    Other(u8),
}

/// One entry's header, with extensions applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    /// The entry name as raw bytes (pax `path` or GNU long name if present).
    pub path: Vec<u8>,
    /// The link target of hard and symbolic links.
    pub link: Vec<u8>,
    /// The entry type.
    pub kind: EntryKind,
    /// The number of data bytes stored after the header.
    pub size: u64,
}

/// Why a stream is not a tar archive.
#[derive(Debug)]
pub(crate) enum TarError {
    /// The underlying reader failed (or the stream ended inside an entry).
    Io(io::Error),
    /// A malformed header or extension.
    Format(String),
}

impl From<io::Error> for TarError {
    fn from(e: io::Error) -> Self {
        TarError::Io(e)
    }
}

impl std::fmt::Display for TarError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TarError::Io(e) => write!(f, "{e}"),
            TarError::Format(s) => f.write_str(s),
        }
    }
}

fn format_err<T>(s: impl Into<String>) -> Result<T, TarError> {
    Err(TarError::Format(s.into()))
}

/// Reads entries one after another; the caller may read an entry's data
/// with [`TarReader::read_data`] or leave it, in which case it is skipped.
pub(crate) struct TarReader<R> {
    inner: R,
    /// Bytes consumed from `inner` so far.
    pos: u64,
    /// Skips bytes of `inner`; seeks where the reader can.
    skipper: fn(&mut R, u64) -> io::Result<u64>,
    /// Data plus padding of the current entry still to be consumed.
    unread_data: u64,
    /// Padding after the current entry's data.
    unread_padding: u64,
    finished: bool,
}

impl<R: Read> TarReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self::with_skipper(inner, |r, n| io::copy(&mut r.take(n), &mut io::sink()))
    }

    /// A reader that skips entry data with `skipper`, which must consume
    /// exactly the bytes it reports.
    pub(crate) fn with_skipper(inner: R, skipper: fn(&mut R, u64) -> io::Result<u64>) -> Self {
        TarReader { inner, pos: 0, skipper, unread_data: 0, unread_padding: 0, finished: false }
    }

    /// The next entry, or `None` at the end of the archive.
    pub(crate) fn next_entry(&mut self) -> Result<Option<Header>, TarError> {
        if self.finished {
            return Ok(None);
        }
        self.skip_rest()?;
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        let mut pax = PaxOverrides::default();
        loop {
            let mut block = [0u8; BLOCK];
            if !self.read_block_or_eof(&mut block)? {
                if long_name.is_some() || long_link.is_some() || pax.any() {
                    return format_err("archive ends after an extension header");
                }
                self.finished = true;
                return Ok(None);
            }
            if block.iter().all(|&b| b == 0) {
                // Go's archive/tar: a zero block must be followed by a second
                // zero block or the end of the stream.
                let mut second = [0u8; BLOCK];
                if self.read_block_or_eof(&mut second)? && second.iter().any(|&b| b != 0) {
                    return format_err("data after a zero block");
                }
                self.finished = true;
                return Ok(None);
            }
            verify_checksum(&block)?;
            let typeflag = block[156];
            let size = parse_numeric(&block[124..136])
                .ok_or_else(|| TarError::Format("invalid size field".into()))?;
            match typeflag {
                b'L' | b'K' => {
                    if size > MAX_LONG_NAME {
                        return format_err(format!("GNU long name of {size} bytes"));
                    }
                    let mut v = self.read_extension(size)?;
                    // GNU writes the name NUL-terminated.
                    if let Some(p) = v.iter().position(|&b| b == 0) {
                        v.truncate(p);
                    }
                    if typeflag == b'L' {
                        long_name = Some(v);
                    } else {
                        long_link = Some(v);
                    }
                }
                b'x' => {
                    if size > MAX_PAX {
                        return format_err(format!("pax header of {size} bytes"));
                    }
                    let data = self.read_extension(size)?;
                    pax.parse(&data)?;
                }
                b'g' => {
                    // Global pax headers set defaults this reader does not
                    // need; their data is skipped without being stored.
                    self.start_entry(size);
                    self.skip_rest()?;
                }
                _ => {
                    let mut header = Header {
                        path: long_name.take().unwrap_or_else(|| ustar_name(&block)),
                        link: long_link.take().unwrap_or_else(|| cstr(&block[157..257]).to_vec()),
                        kind: match typeflag {
                            b'0' | 0 | b'7' => EntryKind::Regular,
                            b'1' => EntryKind::HardLink,
                            b'2' => EntryKind::Symlink,
                            b'5' => EntryKind::Directory,
                            b'S' => EntryKind::Sparse,
                            other => EntryKind::Other(other),
                        },
                        size,
                    };
                    if typeflag == b'S' && block[482] != 0 {
                        self.skip_sparse_extensions()?;
                    }
                    if let Some(p) = pax.path.take() {
                        header.path = p;
                    }
                    if let Some(l) = pax.linkpath.take() {
                        header.link = l;
                    }
                    if let Some(s) = pax.size.take() {
                        header.size = s;
                    }
                    if pax.sparse {
                        header.kind = EntryKind::Sparse;
                    }
                    // Links and directories carry no data in any format this
                    // reader accepts, whatever the size field says.
                    if matches!(header.kind, EntryKind::HardLink | EntryKind::Symlink | EntryKind::Directory)
                    {
                        header.size = 0;
                    }
                    self.start_entry(header.size);
                    return Ok(Some(header));
                }
            }
        }
    }

    /// Reads the whole data of the current entry into `out`; the caller has
    /// checked `size` against its own limit first.
    pub(crate) fn read_data(&mut self, out: &mut Vec<u8>) -> Result<(), TarError> {
        let n = self.unread_data;
        let start = out.len();
        let got = (&mut self.inner).take(n).read_to_end(out);
        self.pos += (out.len() - start) as u64;
        got?;
        if (out.len() - start) as u64 != n {
            return Err(TarError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        self.unread_data = 0;
        Ok(())
    }

    /// Reads the next part of the current entry's data into `buf`; 0 at
    /// the end of the data.
    pub(crate) fn read_data_chunk(&mut self, buf: &mut [u8]) -> Result<usize, TarError> {
        if self.unread_data == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(self.unread_data).unwrap_or(usize::MAX));
        let n = loop {
            match self.inner.read(&mut buf[..want]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => break r?,
            }
        };
        if n == 0 {
            return Err(TarError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        self.pos += n as u64;
        self.unread_data -= n as u64;
        Ok(n)
    }

    /// The offset in the stream where the current entry's data starts, as
    /// long as none of it was read.
    pub(crate) fn position(&self) -> u64 {
        self.pos
    }

    fn start_entry(&mut self, size: u64) {
        self.unread_data = size;
        self.unread_padding = (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64;
    }

    fn skip_rest(&mut self) -> Result<(), TarError> {
        let n = self.unread_data + self.unread_padding;
        if n == 0 {
            return Ok(());
        }
        let copied = (self.skipper)(&mut self.inner, n)?;
        self.pos += copied;
        if copied != n {
            return Err(TarError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        self.unread_data = 0;
        self.unread_padding = 0;
        Ok(())
    }

    fn read_extension(&mut self, size: u64) -> Result<Vec<u8>, TarError> {
        self.start_entry(size);
        let mut v = Vec::new();
        self.read_data(&mut v)?;
        self.skip_rest()?;
        Ok(v)
    }

    /// Old GNU sparse headers continue in extension blocks, each ending with
    /// an "is extended" flag at offset 504.
    fn skip_sparse_extensions(&mut self) -> Result<(), TarError> {
        loop {
            let mut ext = [0u8; BLOCK];
            if !self.read_block_or_eof(&mut ext)? {
                return format_err("archive ends inside a sparse header");
            }
            if ext[504] == 0 {
                return Ok(());
            }
        }
    }

    /// Fills `block`, or returns false at a clean end of stream; a partial
    /// block is an error.
    fn read_block_or_eof(&mut self, block: &mut [u8; BLOCK]) -> Result<bool, TarError> {
        let mut filled = 0;
        while filled < BLOCK {
            match self.inner.read(&mut block[filled..]) {
                Ok(0) if filled == 0 => return Ok(false),
                Ok(0) => return Err(TarError::Io(io::ErrorKind::UnexpectedEof.into())),
                Ok(n) => {
                    filled += n;
                    self.pos += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(true)
    }
}

/// The pax records this reader honours.
#[derive(Default)]
struct PaxOverrides {
    path: Option<Vec<u8>>,
    linkpath: Option<Vec<u8>>,
    size: Option<u64>,
    sparse: bool,
}

impl PaxOverrides {
    fn any(&self) -> bool {
        self.path.is_some() || self.linkpath.is_some() || self.size.is_some() || self.sparse
    }

    /// Parses `"%d %s=%s\n"` records, where the decimal length counts the
    /// whole record including itself and the newline.
    fn parse(&mut self, mut data: &[u8]) -> Result<(), TarError> {
        while !data.is_empty() {
            let sp = data
                .iter()
                .position(|&b| b == b' ')
                .ok_or_else(|| TarError::Format("pax record without length".into()))?;
            let len: usize = std::str::from_utf8(&data[..sp])
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| TarError::Format("invalid pax record length".into()))?;
            if len <= sp + 1 || len > data.len() || data[len - 1] != b'\n' {
                return format_err("invalid pax record length");
            }
            let record = &data[sp + 1..len - 1];
            let eq = record
                .iter()
                .position(|&b| b == b'=')
                .ok_or_else(|| TarError::Format("pax record without '='".into()))?;
            let (key, value) = (&record[..eq], &record[eq + 1..]);
            match key {
                b"path" => self.path = Some(value.to_vec()),
                b"linkpath" => self.linkpath = Some(value.to_vec()),
                b"size" => {
                    let s = std::str::from_utf8(value)
                        .ok()
                        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(|| TarError::Format("invalid pax size".into()))?;
                    self.size = Some(s);
                }
                k if k.starts_with(b"GNU.sparse.") => self.sparse = true,
                _ => {}
            }
            data = &data[len..];
        }
        Ok(())
    }
}

/// The bytes of a NUL-terminated (or full-width) field.
fn cstr(field: &[u8]) -> &[u8] {
    match field.iter().position(|&b| b == 0) {
        Some(p) => &field[..p],
        None => field,
    }
}

/// `prefix/name` for POSIX ustar headers; GNU headers use the prefix area
/// for other fields, so only the name counts there.
fn ustar_name(block: &[u8; BLOCK]) -> Vec<u8> {
    let name = cstr(&block[0..100]);
    let is_posix_ustar = &block[257..263] == b"ustar\0";
    let prefix = cstr(&block[345..500]);
    if is_posix_ustar && !prefix.is_empty() {
        let mut v = prefix.to_vec();
        v.push(b'/');
        v.extend_from_slice(name);
        v
    } else {
        name.to_vec()
    }
}

/// Octal (space or NUL padded) or GNU base-256 (high bit set) numbers.
fn parse_numeric(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|&b| b & 0x80 != 0) {
        // Base-256: big-endian two's complement with the marker bit cleared;
        // negative sizes are invalid.
        if field[0] & 0x40 != 0 {
            return None;
        }
        let mut v: u64 = u64::from(field[0] & 0x3f);
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    let s = field
        .iter()
        .copied()
        .skip_while(|&b| b == b' ')
        .take_while(|&b| b != 0 && b != b' ')
        .collect::<Vec<u8>>();
    if s.is_empty() {
        return Some(0);
    }
    let mut v: u64 = 0;
    for b in s {
        if !(b'0'..=b'7').contains(&b) {
            return None;
        }
        v = v.checked_mul(8)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

/// The header checksum: the sum of all bytes with the checksum field taken
/// as spaces. Historic writers summed signed bytes; both sums are accepted.
fn verify_checksum(block: &[u8; BLOCK]) -> Result<(), TarError> {
    let stored = parse_numeric(&block[148..156])
        .ok_or_else(|| TarError::Format("invalid header checksum field".into()))?;
    let (mut unsigned, mut signed) = (0u64, 0i64);
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    if stored == unsigned || i64::try_from(stored).is_ok_and(|s| s == signed) {
        Ok(())
    } else {
        format_err("header checksum mismatch")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::process::Command;

    use super::*;

    /// A ustar header block built by hand, for entries that archivers refuse
    /// to write (`../x`, absolute names).
    pub(crate) fn raw_header(name: &[u8], typeflag: u8, size: u64, link: &[u8]) -> [u8; BLOCK] {
        let mut h = [0u8; BLOCK];
        h[..name.len()].copy_from_slice(name);
        h[100..107].copy_from_slice(b"0000644");
        h[108..115].copy_from_slice(b"0000000");
        h[116..123].copy_from_slice(b"0000000");
        h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        h[136..147].copy_from_slice(b"00000000000");
        h[156] = typeflag;
        h[157..157 + link.len()].copy_from_slice(link);
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        h
    }

    /// One entry of a hand-made archive: name, type flag, data, link target.
    pub(crate) type RawEntry<'a> = (&'a [u8], u8, &'a [u8], &'a [u8]);

    /// A whole archive of hand-made entries.
    pub(crate) fn raw_archive(entries: &[RawEntry<'_>]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, t, data, link) in entries {
            out.extend_from_slice(&raw_header(name, *t, data.len() as u64, link));
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
        }
        out.extend_from_slice(&[0u8; 2 * BLOCK]);
        out
    }

    fn list(archive: &[u8]) -> Result<Vec<(Header, Vec<u8>)>, TarError> {
        let mut r = TarReader::new(archive);
        let mut v = Vec::new();
        while let Some(h) = r.next_entry()? {
            let mut data = Vec::new();
            if h.kind == EntryKind::Regular {
                r.read_data(&mut data)?;
            }
            v.push((h, data));
        }
        Ok(v)
    }

    #[test]
    fn hand_made_archive() {
        let a = raw_archive(&[
            (b"./image/", b'5', b"", b""),
            (b"./image/a.json", b'0', b"{}\n", b""),
            (b"image/b", b'1', b"", b"./image/a.json"),
        ]);
        let v = list(&a).unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[1].0.path, b"./image/a.json");
        assert_eq!(v[1].1, b"{}\n");
        assert_eq!(v[2].0.kind, EntryKind::HardLink);
        assert_eq!(v[2].0.link, b"./image/a.json");
    }

    #[test]
    fn corrupt_headers_are_refused() {
        let mut a = raw_archive(&[(b"x", b'0', b"data", b"")]);
        a[10] ^= 1;
        assert!(matches!(list(&a), Err(TarError::Format(_))));
        // Data after a single zero block.
        let mut a = raw_archive(&[(b"x", b'0', b"data", b"")]);
        a.truncate(2 * BLOCK);
        a.extend_from_slice(&[0u8; BLOCK]);
        a.extend_from_slice(&raw_header(b"hidden", b'0', 0, b""));
        assert!(matches!(list(&a), Err(TarError::Format(_))));
        // Truncated inside an entry's data.
        let a = raw_archive(&[(b"x", b'0', &[7u8; 1000], b"")]);
        assert!(matches!(list(&a[..700]), Err(TarError::Io(_))));
    }

    #[test]
    fn huge_long_name_is_refused_without_allocation() {
        // The largest size an 11-digit octal field holds: 8 GiB.
        let mut a = raw_header(b"././@LongLink", b'L', 0o77777777777, b"").to_vec();
        a.extend_from_slice(&[b'a'; BLOCK]);
        assert!(matches!(list(&a), Err(TarError::Format(_))));
    }

    proptest::proptest! {
        // Garbage and mangled headers end in an error or a clean end, never
        // a panic, and never an allocation beyond the input's size.
        #[test]
        fn arbitrary_input_never_panics(garbage in proptest::collection::vec(proptest::num::u8::ANY, 0..3000)) {
            let _ = list(&garbage);
        }

        #[test]
        fn mangled_headers_never_panic(
            typeflag in proptest::num::u8::ANY,
            size in 0u64..0o7777777,
            tail in proptest::collection::vec(proptest::num::u8::ANY, 0..2048),
        ) {
            let mut a = raw_header(b"x", typeflag, size, b"").to_vec();
            a.extend_from_slice(&tail);
            let _ = list(&a);
        }
    }

    #[test]
    fn numeric_fields() {
        assert_eq!(parse_numeric(b"00000000012\0"), Some(10));
        assert_eq!(parse_numeric(b"     12 "), Some(10));
        assert_eq!(parse_numeric(b"\0\0\0"), Some(0));
        assert_eq!(parse_numeric(b"0000009"), None);
        let mut big = [0u8; 12];
        big[0] = 0x80;
        big[4] = 1;
        assert_eq!(parse_numeric(&big), Some(1 << 56));
    }

    /// Cross-check against GNU tar, an independent writer: long names (GNU
    /// `L` entries), pax headers, hard links and symlinks.
    #[test]
    fn reads_gnu_tar_output() {
        if !rvkit_test_support::require("tar") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let long = "d".repeat(120);
        let base = dir.path().join("root");
        std::fs::create_dir_all(base.join(&long)).unwrap();
        std::fs::write(base.join(&long).join("f.txt"), b"long name\n").unwrap();
        // Sorted by name, "a_plain" is archived first and "b_hard" links to it.
        std::fs::write(base.join("a_plain"), vec![b'p'; 1500]).unwrap();
        std::fs::hard_link(base.join("a_plain"), base.join("b_hard")).unwrap();
        std::os::unix::fs::symlink("a_plain", base.join("sym")).unwrap();
        for format in ["gnu", "pax"] {
            let out = Command::new("tar")
                .args(["--sort=name", "--format", format, "-cf", "-", "-C"])
                .arg(&base)
                .arg(".")
                .output()
                .expect("GNU tar is installed");
            assert!(out.status.success(), "{format}");
            let v = list(&out.stdout).unwrap();
            let find = |p: &str| {
                v.iter()
                    .find(|(h, _)| h.path == p.as_bytes())
                    .unwrap_or_else(|| panic!("{format}: {p} missing"))
            };
            assert_eq!(find(&format!("./{long}/f.txt")).1, b"long name\n");
            assert_eq!(find("./a_plain").1.len(), 1500);
            let hard = find("./b_hard");
            assert_eq!((hard.0.kind, hard.0.link.as_slice()), (EntryKind::HardLink, b"./a_plain".as_slice()));
            let sym = find("./sym");
            assert_eq!((sym.0.kind, sym.0.link.as_slice()), (EntryKind::Symlink, b"a_plain".as_slice()));
        }
    }
}
