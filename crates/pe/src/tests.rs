use super::*;
use crate::testpe::build;

#[test]
fn sections_are_read_with_virtual_size_and_loaded_bytes() {
    let pe_bytes =
        build(&[(".linux", 0, b"kernel"), (".cmdline", 3, b"abcdef"), (".osrel", 8, b"ID=x")], 0x200, b"");
    let pe = PeFile::parse(&pe_bytes).unwrap();
    let names: Vec<_> = pe.sections().iter().map(|s| s.name().into_owned()).collect();
    assert_eq!(names, [".linux", ".cmdline", ".osrel"]);
    assert_eq!(pe.section(".cmdline").unwrap().loaded().as_ref(), b"abc");
    assert_eq!(pe.section(".osrel").unwrap().loaded().as_ref(), b"ID=x\0\0\0\0");
    assert_eq!(pe.section(".linux").unwrap().raw_data().len(), 0x200);
    for s in pe.sections() {
        assert_eq!(s.loaded_digest(HashAlg::Sha384), HashAlg::Sha384.hash(&s.loaded()));
    }
    assert!(pe.section(".initrd").is_none());
}

#[test]
fn overlapping_sections_are_refused_naming_them() {
    let mut b = build(&[(".a", 0, b"aaaa"), (".b", 0, b"bbbb")], 0x200, b"");
    let table = 0x40 + 4 + 20 + 240;
    // Point .b's raw data into .a's.
    let a_raw = u32::from_le_bytes(b[table + 20..table + 24].try_into().unwrap());
    b[table + 40 + 20..table + 40 + 24].copy_from_slice(&(a_raw + 0x100).to_le_bytes());
    let err = PeFile::parse(&b).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("sections .a and .b overlap in the file at offset {:#x}", a_raw + 0x100)
    );
}

#[test]
fn overlapping_virtual_ranges_are_refused() {
    let mut b = build(&[(".a", 0x3000, b"aaaa"), (".b", 0, b"bbbb")], 0x200, b"");
    let table = 0x40 + 4 + 20 + 240;
    b[table + 40 + 12..table + 40 + 16].copy_from_slice(&0x2000u32.to_le_bytes());
    let err = PeFile::parse(&b).unwrap_err();
    assert_eq!(err.to_string(), "sections .a and .b overlap in the loaded image at offset 0x2000");
}

#[test]
fn bad_inputs_name_the_structure_and_offset() {
    assert_eq!(
        PeFile::parse(b"MZ").unwrap_err().to_string(),
        "DOS header at offset 0x0 needs 64 bytes but the file has 2"
    );
    assert_eq!(PeFile::parse(&[0; 64]).unwrap_err(), Error::NoDosSignature);
    let good = build(&[(".a", 0, b"aaaa")], 0x200, b"");
    let mut b = good.clone();
    b[0x40] = b'X';
    assert_eq!(
        PeFile::parse(&b).unwrap_err().to_string(),
        "no PE signature at offset 0x40 (named by the DOS header at 0x3c)"
    );
    let cut = &good[..good.len() - 1];
    assert_eq!(
        PeFile::parse(cut).unwrap_err().to_string(),
        "section 0 (.a) raw data at offset 0x200 with 512 bytes extends past the end of the file (1023 bytes)"
    );
    let mut b = good.clone();
    b[0x58..0x5a].copy_from_slice(&0x10cu16.to_le_bytes());
    assert_eq!(
        PeFile::parse(&b).unwrap_err().to_string(),
        "optional header at offset 0x58 has magic 0x010c, neither PE32 (0x10b) nor PE32+ (0x20b)"
    );
}

#[test]
fn authenticode_skips_checksum_and_certificate_entry() {
    let a = build(&[(".a", 0, b"aaaa")], 0x200, b"");
    let mut b = a.clone();
    b[0x58 + 64] ^= 0xff; // CheckSum
    assert_eq!(
        PeFile::parse(&a).unwrap().authenticode(HashAlg::Sha256),
        PeFile::parse(&b).unwrap().authenticode(HashAlg::Sha256)
    );
    b[0x60] ^= 1; // any other header byte
    assert_ne!(
        PeFile::parse(&a).unwrap().authenticode(HashAlg::Sha256),
        PeFile::parse(&b).unwrap().authenticode(HashAlg::Sha256)
    );
}

#[test]
fn certificate_table_is_excluded_from_the_tail() {
    let base = build(&[(".a", 0, b"aaaa")], 0x200, b"");
    let cert = [0xaau8; 16];
    let mut signed = base.clone();
    signed.extend_from_slice(&cert);
    let entry = 0x58 + 112 + 8 * 4;
    signed[entry..entry + 4].copy_from_slice(&(base.len() as u32).to_le_bytes());
    signed[entry + 4..entry + 8].copy_from_slice(&(cert.len() as u32).to_le_bytes());
    let d = |b: &[u8]| PeFile::parse(b).unwrap().authenticode(HashAlg::Sha512);
    assert_eq!(d(&base), d(&signed));
    signed[entry + 4] = 0x20; // 32 bytes: past the end
    assert_eq!(
        PeFile::parse(&signed).unwrap_err().to_string(),
        "certificate table at offset 0x400 with 32 bytes extends past the end of the file (1040 bytes)"
    );
}

proptest::proptest! {
    #[test]
    fn parse_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
        let _ = PeFile::parse(&data).map(|pe| pe.authenticode(HashAlg::Sha256));
    }

    #[test]
    fn mutated_images_never_panic(at in 0usize..0x400, byte in proptest::num::u8::ANY) {
        let mut b = build(&[(".a", 0, b"aaaa"), (".b", 9, b"bbbb")], 0x200, b"xyz");
        b[at] = byte;
        if let Ok(pe) = PeFile::parse(&b) {
            let _ = pe.authenticode(HashAlg::Sha256);
            for s in pe.sections() { let _ = s.loaded_digest(HashAlg::Sha256); }
        }
    }
}

#[test]
fn sections_must_fit_size_of_image_and_images_are_bounded() {
    let size_of_image = 0x40 + 4 + 20 + 56;
    let b = build(&[(".a", 0, b"aaaa"), (".b", 0x2000, b"bbbb")], 0x200, b"");
    let declared = u32::from_le_bytes(b[size_of_image..size_of_image + 4].try_into().unwrap());
    let pe = PeFile::parse(&b).unwrap();
    let b_end = u64::from(pe.sections()[1].virtual_address()) + 0x2000;
    assert!(b_end <= u64::from(declared));

    // One byte short of .b's end.
    let mut short = b.clone();
    short[size_of_image..size_of_image + 4].copy_from_slice(&(b_end as u32 - 1).to_le_bytes());
    assert_eq!(
        PeFile::parse(&short).unwrap_err().to_string(),
        format!("section 1 (.b) ends at {b_end:#x} in the loaded image, past SizeOfImage {:#x}", b_end - 1)
    );

    // A header asking for 4 GiB of zero-filled memory is refused before any
    // section is read.
    let mut huge = b;
    huge[size_of_image..size_of_image + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        PeFile::parse(&huge).unwrap_err().to_string(),
        "SizeOfImage 0xffffffff is larger than the 1024 MiB this reader loads"
    );
}
