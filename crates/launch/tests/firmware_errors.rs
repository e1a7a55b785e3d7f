//! Malformed firmware images are refused with the error that names the problem.

use rvkit_launch::ovmf::guids;
use rvkit_launch::snp::{SevHashes, VcpuParams, VmmType, firmware_hash, launch_digests};
use rvkit_launch::{Error, Firmware, Guid};

fn entry(guid: &Guid, data: &[u8]) -> Vec<u8> {
    let mut e = data.to_vec();
    e.extend_from_slice(&((data.len() + 18) as u16).to_le_bytes());
    e.extend_from_slice(guid.bytes());
    e
}

/// An 8 KiB image with SEV metadata at 0x100 and the given table entries.
fn image(sections: &[(u32, u32, u32)], extra: &[Vec<u8>]) -> Vec<u8> {
    let mut img = vec![0u8; 8192];
    let len = img.len();
    let mut meta = b"ASEV".to_vec();
    for v in [16 + 12 * sections.len() as u32, 1, sections.len() as u32] {
        meta.extend_from_slice(&v.to_le_bytes());
    }
    for (gpa, size, kind) in sections {
        for v in [gpa, size, kind] {
            meta.extend_from_slice(&v.to_le_bytes());
        }
    }
    img[0x100..0x100 + meta.len()].copy_from_slice(&meta);
    let mut table = entry(&guids::SEV_METADATA, &((len - 0x100) as u32).to_le_bytes());
    table.extend(entry(&guids::SEV_ES_RESET_BLOCK, &0xffff_b004u32.to_le_bytes()));
    for e in extra {
        table.extend_from_slice(e);
    }
    let footer = len - 50;
    img[footer - table.len()..footer].copy_from_slice(&table);
    img[footer..footer + 2].copy_from_slice(&((table.len() + 18) as u16).to_le_bytes());
    img[footer + 2..footer + 18].copy_from_slice(guids::FOOTER.bytes());
    img
}

const GOOD: [(u32, u32, u32); 3] = [(0x80_0000, 0x2000, 1), (0x80_2000, 0x1000, 2), (0x80_3000, 0x1000, 3)];

#[test]
fn a_valid_image_parses() {
    let img = image(&GOOD, &[]);
    let fw = Firmware::parse(&img).unwrap();
    assert_eq!(fw.sev_sections().len(), 3);
    assert_eq!(fw.sev_es_reset_eip(), Ok(0xffff_b004));
}

#[test]
fn no_footer_table() {
    assert_eq!(Firmware::parse(&[0u8; 8192]).unwrap_err(), Error::NoFooterTable { offset: 8192 - 48 });
    assert_eq!(Firmware::parse(&[0u8; 40]).unwrap_err(), Error::TooSmall { len: 40 });
    assert_eq!(Firmware::parse(&[0u8; 5000]).unwrap_err(), Error::NotPageMultiple { len: 5000 });
}

#[test]
fn footer_table_larger_than_the_file() {
    let mut img = image(&GOOD, &[]);
    let footer = img.len() - 50;
    img[footer..footer + 2].copy_from_slice(&0xffffu16.to_le_bytes());
    assert_eq!(Firmware::parse(&img).unwrap_err(), Error::FooterTableSize { offset: footer, size: 0xffff });
}

#[test]
fn truncated_metadata() {
    let img = image(&GOOD, &[]);
    let mut bad = img.clone();
    // Claim 200 sections in a header that holds 3.
    bad[0x10c..0x110].copy_from_slice(&200u32.to_le_bytes());
    assert!(matches!(Firmware::parse(&bad).unwrap_err(), Error::BadHeader { offset: 0x100, .. }));
    let mut bad = img.clone();
    bad[0x100] = b'X';
    assert!(matches!(Firmware::parse(&bad).unwrap_err(), Error::BadSignature { offset: 0x100, .. }));
}

#[test]
fn overlapping_and_out_of_range_sections() {
    let img = image(&[(0x80_0000, 0x2000, 1), (0x80_1000, 0x1000, 2)], &[]);
    assert_eq!(
        Firmware::parse(&img).unwrap_err(),
        Error::SectionsOverlap { what: "SEV metadata", first: 0, second: 1 }
    );
    let img = image(&[(0xffff_f000, 0x1000, 1)], &[]);
    assert!(matches!(Firmware::parse(&img).unwrap_err(), Error::BadSection { index: 0, .. }));
    let img = image(&[(0x80_0000, 0x1000, 7)], &[]);
    let err = Firmware::parse(&img).unwrap_err();
    assert_eq!(err.to_string(), "SEV metadata section 0 (GPA 0x800000, 0x1000 bytes): unknown type 0x7");
}

#[test]
fn kernel_without_kernel_hashes_section() {
    let img = image(&GOOD, &[]);
    let fw = Firmware::parse(&img).unwrap();
    let p = VcpuParams { vmm: VmmType::Qemu, signature: 0x800f12, guest_features: 1 };
    let h = SevHashes::new(b"k", None, None);
    let err = launch_digests(&firmware_hash(&fw, false), &fw, &p, 1..=1, &|_| Some(h.clone())).unwrap_err();
    assert_eq!(err, Error::NoKernelHashes("has no SNP_KERNEL_HASHES metadata section"));
    for n in [0, 513] {
        let err = launch_digests(&firmware_hash(&fw, false), &fw, &p, 1..=n, &|_| None).unwrap_err();
        assert_eq!(err, Error::VcpuCount { count: n, max: 512 });
    }
}

#[test]
fn truncated_tdvf_descriptor() {
    let mut img = image(&GOOD, &[]);
    let len = img.len();
    img[0x400..0x410].copy_from_slice(guids::TDVF_DESCRIPTOR.bytes());
    img[0x410..0x414].copy_from_slice(b"TDVF");
    for (i, v) in [16 + 32u32, 1, 2].iter().enumerate() {
        img[0x414 + 4 * i..0x418 + 4 * i].copy_from_slice(&v.to_le_bytes());
    }
    let tdx = entry(&guids::TDX_METADATA, &((len - 0x410) as u32).to_le_bytes());
    let with = image(&GOOD, &[tdx]);
    let mut img2 = with.clone();
    img2[0x400..0x420].copy_from_slice(&img[0x400..0x420]);
    let err = Firmware::parse(&img2).unwrap_err();
    assert_eq!(
        err.to_string(),
        "TDVF descriptor at offset 0x410: length 48 does not match 2 sections of 32 bytes"
    );
}

proptest::proptest! {
    /// Any byte of a valid image changed to any value: parsing and, when it
    /// parses, computing the digests end in a value or an error, never a panic.
    #[test]
    fn mutated_images_never_panic(at in 0usize..8192, byte in proptest::prelude::any::<u8>(), kernel in proptest::prelude::any::<bool>()) {
        let mut img = image(&GOOD, &[]);
        img[at] = byte;
        if let Ok(fw) = Firmware::parse(&img) {
            let p = VcpuParams { vmm: VmmType::Gce, signature: 0xa10f10, guest_features: 1 };
            let h = SevHashes::new(b"k", Some(b"i"), Some("c"));
            let _ = launch_digests(&firmware_hash(&fw, true), &fw, &p, 1..=2, &|_| kernel.then(|| h.clone()));
            let _ = rvkit_launch::tdx::mrtd(&fw);
        }
    }
}
