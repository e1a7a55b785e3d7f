//! The cpio archives systemd-stub generates (systemd `src/boot/efi/cpio.c`):
//! newc ("070701") headers of 8 lowercase hex digits, mtime, uid and gid 0,
//! nlink 1, inodes counted from 1; names and data padded with NULs to 4
//! bytes relative to the archive start; the fixed "TRAILER!!!" record.

fn header(out: &mut Vec<u8>, inode: u32, mode: u32, size: u32, name: &str) {
    out.extend_from_slice(b"070701");
    for v in [inode, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, name.len() as u32 + 1, 0] {
        out.extend_from_slice(format!("{v:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    out.resize(out.len().next_multiple_of(4), 0);
}

/// The archive `pack_cpio` writes: directory `dir` (its leading directories
/// 0555, itself `dir_mode`), then each of `files` (already in the stub's
/// order) as `dir/<name>` with `file_mode`, then the trailer.
pub(crate) fn archive(dir: &str, dir_mode: u32, file_mode: u32, files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut inode = 1;
    let leading = dir.match_indices('/').map(|(i, _)| &dir[..i]).filter(|d| !d.is_empty());
    for d in leading {
        header(&mut out, inode, 0o040000 | 0o555, 0, d);
        inode += 1;
    }
    header(&mut out, inode, 0o040000 | dir_mode, 0, dir);
    inode += 1;
    for (name, data) in files {
        header(&mut out, inode, 0o100000 | file_mode, data.len() as u32, &format!("{dir}/{name}"));
        inode += 1;
        out.extend_from_slice(data);
        pad4(&mut out);
    }
    // The trailer as cpio.c spells it, with an upper-case name size.
    out.extend_from_slice(b"070701");
    for word in ["00000000", "00000000", "00000000", "00000000", "00000001", "00000000", "00000000"] {
        out.extend_from_slice(word.as_bytes());
    }
    for word in ["00000000", "00000000", "00000000", "00000000", "0000000B", "00000000"] {
        out.extend_from_slice(word.as_bytes());
    }
    out.extend_from_slice(b"TRAILER!!!\0\0\0\0");
    out
}

/// The archive holding directory `.extra` (0555) and `.extra/<name>` (0444)
/// with `data` (`pack_cpio_literal`).
pub(crate) fn extra_file(name: &str, data: &[u8]) -> Vec<u8> {
    archive(".extra", 0o555, 0o444, &[(name, data)])
}
