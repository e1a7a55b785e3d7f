//! rvkit-pe's Authenticode digests against signify's, an independent
//! implementation (the Python package signify), on Debian's signed kernel image and
//! on generated images whose length is not a multiple of 8 and which carry
//! data after the last section.

use std::path::{Path, PathBuf};
use std::process::Command;

use rvkit_pcr::HashAlg;
use rvkit_pe::PeFile;
use rvkit_pe::testpe::build;

/// signify's digests of `files`, one "sha256 sha384 sha512" line each; None
/// (a skip outside CI) when python3 or signify is missing.
fn signify(files: &[PathBuf]) -> Option<Vec<String>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/signify_authentihash.py");
    let out = Command::new("python3").arg(script).args(files).output();
    match out {
        Ok(o) if o.status.success() => {
            Some(String::from_utf8(o.stdout).unwrap().lines().map(str::to_owned).collect())
        }
        other => {
            let msg = format!("needs python3 with signify (cargo xtask test installs it): {other:?}");
            assert!(!rvkit_test_support::services_required(), "{msg}");
            eprintln!("skipped: {msg}");
            None
        }
    }
}

fn ours(bytes: &[u8]) -> String {
    let pe = PeFile::parse(bytes).unwrap();
    [HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512].map(|a| pe.authenticode(a).to_hex()).join(" ")
}

#[test]
fn debian_kernel_image_matches_signify() {
    let kernels: Vec<PathBuf> = std::fs::read_dir("/boot")
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    let kernels: Vec<PathBuf> = kernels
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-")))
        .collect();
    if kernels.is_empty() {
        assert!(
            !rvkit_test_support::services_required(),
            "needs /boot/vmlinuz-* (cargo xtask test installs it)"
        );
        eprintln!("skipped: no /boot/vmlinuz-*");
        return;
    }
    let Some(expected) = signify(&kernels) else { return };
    for (path, expected) in kernels.iter().zip(expected) {
        let bytes = std::fs::read(path).unwrap();
        // Debian signs its kernels: the certificate table must be left out.
        assert_eq!(ours(&bytes), expected, "{}", path.display());
    }
}

#[test]
fn odd_sized_images_with_trailing_data_match_signify() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("aligned", build(&[(".text", 0, b"hello"), (".data", 0, &[7; 600])], 0x200, b"")),
        ("trailing-7", build(&[(".text", 0, b"hello")], 0x200, b"1234567")),
        ("trailing-13", build(&[(".text", 0, b"hello"), (".data", 0, &[9; 33])], 0x200, b"abcdefghijklm")),
        ("unaligned-sections", build(&[(".text", 0, b"hello"), (".data", 0, b"odd")], 1, b"")),
        ("unaligned-trailing", build(&[(".a", 0, &[1; 3]), (".b", 0, &[2; 5])], 1, b"xyz")),
    ];
    let mut files = Vec::new();
    for (name, bytes) in &cases {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        files.push(p);
    }
    assert!(
        cases.iter().filter(|(_, b)| b.len() % 8 != 0).count() >= 3,
        "the cases cover lengths not a multiple of 8"
    );
    let Some(expected) = signify(&files) else { return };
    for ((name, bytes), expected) in cases.iter().zip(expected) {
        assert_eq!(ours(bytes), expected, "{name} ({} bytes)", bytes.len());
    }
}
