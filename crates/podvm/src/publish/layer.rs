//! Deterministic image layers: a POSIX ustar archive (IEEE Std 1003.1,
//! "ustar Interchange Format") of the given files and their directories,
//! compressed with gzip (RFC 1952) under a fixed header.
//!
//! Nothing about the machine leaks into the bytes: entries are sorted by
//! path, every modification time is 0, owner and group are 0 without names,
//! modes are 0644 for files and 0755 for directories, and the gzip header
//! has no name, modification time 0 and operating system 255 ("unknown").

use std::collections::BTreeMap;
use std::io::Write as _;

use flate2::{Compression, GzBuilder};

use crate::error::Error;
use crate::extract::ImagePath;

/// The tar block size.
const BLOCK: usize = 512;
/// The largest size an 11-digit octal ustar size field holds (8 GiB - 1).
const MAX_USTAR_SIZE: u64 = (1 << 33) - 1;

/// What a layer entry is.
enum Node<'a> {
    File(&'a [u8]),
    Dir,
}

/// Builds the uncompressed layer: every file under its normalised path, and
/// a directory entry for every directory above one, parents first.
///
/// `layout` names the layout being written in error messages.
pub(crate) fn tar_of(files: &[(&str, &[u8])], layout: &str) -> Result<Vec<u8>, Error> {
    let mut nodes: BTreeMap<Vec<u8>, Node<'_>> = BTreeMap::new();
    let mut given: BTreeMap<Vec<u8>, &str> = BTreeMap::new();
    for &(name, data) in files {
        let path = ImagePath::parse(name)?;
        let key = path.as_bytes().to_vec();
        // Readers of layers take these names as deletions, not files.
        if key.split(|&b| b == b'/').any(|c| c.starts_with(b".wh.")) {
            return Err(Error::InvalidPath {
                path: name.to_owned(),
                reason: "whiteout names (.wh.*) are reserved",
            });
        }
        if data.len() as u64 > MAX_USTAR_SIZE {
            return Err(Error::FileTooLarge {
                image: layout.to_owned(),
                path: path.display(),
                size: data.len() as u64,
                limit: MAX_USTAR_SIZE,
            });
        }
        if given.insert(key.clone(), name).is_some() {
            return Err(Error::InvalidPath { path: name.to_owned(), reason: "given more than once" });
        }
        nodes.insert(key, Node::File(data));
    }
    for (key, name) in &given {
        for (i, _) in key.iter().enumerate().filter(|&(_, &b)| b == b'/') {
            match nodes.get(&key[..i]) {
                Some(Node::File(_)) => {
                    return Err(Error::InvalidPath {
                        path: (*name).to_owned(),
                        reason: "lies below another file given",
                    });
                }
                Some(Node::Dir) => {}
                None => {
                    nodes.insert(key[..i].to_vec(), Node::Dir);
                }
            }
        }
    }
    // A parent's path is a proper prefix of its children's, so the sorted
    // order puts every directory before what it contains.
    let mut out = Vec::new();
    for (key, node) in &nodes {
        let display = || String::from_utf8_lossy(key).into_owned();
        match node {
            Node::Dir => {
                let mut name = key.clone();
                name.push(b'/');
                let h = header(&name, b'5', 0o755, 0)
                    .map_err(|reason| Error::InvalidPath { path: display(), reason })?;
                out.extend_from_slice(&h);
            }
            Node::File(data) => {
                let h = header(key, b'0', 0o644, data.len() as u64)
                    .map_err(|reason| Error::InvalidPath { path: display(), reason })?;
                out.extend_from_slice(&h);
                out.extend_from_slice(data);
                out.resize(out.len().next_multiple_of(BLOCK), 0);
            }
        }
    }
    // The end of an archive is two zero blocks.
    out.resize(out.len() + 2 * BLOCK, 0);
    Ok(out)
}

/// Compresses `data` with a gzip header that carries no name, time or
/// operating system, at zlib's default level.
pub(crate) fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = GzBuilder::new().mtime(0).operating_system(255).write(Vec::new(), Compression::default());
    enc.write_all(data)?;
    enc.finish()
}

/// One ustar header block.
fn header(name: &[u8], kind: u8, mode: u64, size: u64) -> Result<[u8; BLOCK], &'static str> {
    let mut h = [0u8; BLOCK];
    let (prefix, name) = split_name(name)?;
    h[..name.len()].copy_from_slice(name);
    octal(&mut h[100..108], mode)?;
    octal(&mut h[108..116], 0)?; // uid
    octal(&mut h[116..124], 0)?; // gid
    octal(&mut h[124..136], size)?;
    octal(&mut h[136..148], 0)?; // mtime
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    octal(&mut h[329..337], 0)?; // devmajor
    octal(&mut h[337..345], 0)?; // devminor
    h[345..345 + prefix.len()].copy_from_slice(prefix);
    // The checksum is the byte sum of the header with its own field read
    // as eight spaces, stored as six octal digits, NUL and space.
    h[148..156].fill(b' ');
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    octal(&mut h[148..155], sum)?;
    h[155] = b' ';
    Ok(h)
}

/// Writes `value` as zero-padded octal digits filling `field` but its last
/// byte, which stays NUL.
fn octal(field: &mut [u8], value: u64) -> Result<(), &'static str> {
    let width = field.len() - 1;
    let digits = format!("{value:0width$o}");
    if digits.len() > width {
        return Err("a number does not fit its ustar header field");
    }
    field[..width].copy_from_slice(digits.as_bytes());
    field[width] = 0;
    Ok(())
}

/// Splits a name into the ustar `prefix` (at most 155 bytes) and `name` (at
/// most 100 bytes, not empty) at a slash.
fn split_name(full: &[u8]) -> Result<(&[u8], &[u8]), &'static str> {
    if full.len() <= 100 {
        return Ok((&[], full));
    }
    full.iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'/' && i <= 155 && full.len() - i - 1 <= 100 && i + 1 < full.len())
        .map(|(i, _)| (&full[..i], &full[i + 1..]))
        .next()
        .ok_or("too long for a ustar header (a name of at most 100 bytes under a directory of at most 155)")
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    /// GNU tar, an independent reader, lists what was written, with the
    /// fixed owner, mode and time.
    #[test]
    fn gnu_tar_lists_the_layer() {
        if !rvkit_test_support::require("tar") || !rvkit_test_support::require("gzip") {
            return;
        }
        // Longer than 100 bytes: stored with the ustar prefix field.
        let long_dir = format!("{}/{}", "a".repeat(60), "b".repeat(60));
        let long = format!("{long_dir}/file.txt");
        let tar = tar_of(
            &[("/image/measurements.json", b"{}\n"), ("image/podvm.qcow2", &[7u8; 1000]), (&long, b"x")],
            "test",
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("layer.tar.gz");
        std::fs::write(&f, gzip(&tar).unwrap()).unwrap();
        let out = Command::new("tar")
            .args(["--numeric-owner", "--full-time", "-tvzf"])
            .arg(&f)
            .env("TZ", "UTC")
            .output()
            .expect("GNU tar");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let listing = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<Vec<&str>> = listing.lines().map(|l| l.split_whitespace().collect()).collect();
        let want = [
            ("drwxr-xr-x", "0", &format!("{}/", "a".repeat(60))[..]),
            ("drwxr-xr-x", "0", &format!("{long_dir}/")[..]),
            ("-rw-r--r--", "1", &long[..]),
            ("drwxr-xr-x", "0", "image/"),
            ("-rw-r--r--", "3", "image/measurements.json"),
            ("-rw-r--r--", "1000", "image/podvm.qcow2"),
        ];
        assert_eq!(lines.len(), want.len(), "{listing}");
        for (l, (mode, size, name)) in lines.iter().zip(want) {
            assert_eq!(
                (l[0], l[1], l[2], l[3], l[4], l[5]),
                (mode, "0/0", size, "1970-01-01", "00:00:00", name),
                "{listing}"
            );
        }
        // And it extracts the same bytes.
        let st = Command::new("tar").arg("-xzf").arg(&f).arg("-C").arg(dir.path()).status().unwrap();
        assert!(st.success());
        assert_eq!(std::fs::read(dir.path().join("image/measurements.json")).unwrap(), b"{}\n");
        assert_eq!(std::fs::read(dir.path().join(&long)).unwrap(), b"x");
    }

    /// The gzip header is fixed: no name flag, modification time 0, OS 255.
    #[test]
    fn gzip_header_is_fixed() {
        let gz = gzip(b"hello").unwrap();
        assert_eq!(&gz[..4], &[0x1f, 0x8b, 8, 0]);
        assert_eq!(&gz[4..8], &[0, 0, 0, 0]);
        assert_eq!(gz[9], 255);
        if !rvkit_test_support::require("gzip") {
            return;
        }
        let out = Command::new("gzip")
            .arg("-dc")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                c.stdin.take().unwrap().write_all(&gz)?;
                c.wait_with_output()
            })
            .expect("gzip");
        assert_eq!(out.stdout, b"hello");
    }

    #[test]
    fn order_of_input_does_not_matter() {
        let a = tar_of(&[("b/x", b"1"), ("a", b"2")], "t").unwrap();
        let b = tar_of(&[("a", b"2"), ("/b/./x", b"1")], "t").unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn bad_file_lists_are_refused() {
        let cases: &[&[(&str, &[u8])]] = &[
            &[("a/../../etc/passwd", b"")],
            &[("/", b"")],
            &[("a", b"1"), ("/a", b"2")],
            &[("a", b"1"), ("a/b", b"2")],
            &[("image/.wh.measurements.json", b"")],
        ];
        for files in cases {
            assert!(matches!(tar_of(files, "t"), Err(Error::InvalidPath { .. })), "{:?}", files[0].0);
        }
        // A single component longer than the ustar name field cannot be stored.
        let too_long = format!("dir/{}", "x".repeat(101));
        assert!(matches!(tar_of(&[(&too_long, b"")], "t"), Err(Error::InvalidPath { .. })));
    }
}
