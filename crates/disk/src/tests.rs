use super::*;

#[test]
fn raw_without_gpt_is_named() {
    let disk = Disk::open(vec![0u8; 8192]).unwrap();
    assert_eq!(disk.format(), Format::Raw);
    assert_eq!(disk.esp().err().unwrap().to_string(), "no GPT: LBA 1 does not start with \"EFI PART\"");
}

#[test]
fn fixed_vhd_hides_its_footer() {
    let mut b = vec![7u8; 4096];
    let mut footer = [0u8; 512];
    footer[..8].copy_from_slice(b"conectix");
    footer[60..64].copy_from_slice(&2u32.to_be_bytes());
    b.extend_from_slice(&footer);
    let disk = Disk::open(b.clone()).unwrap();
    assert_eq!((disk.format(), disk.size()), (Format::FixedVhd, 4096));
    footer[60..64].copy_from_slice(&3u32.to_be_bytes());
    b[4096..].copy_from_slice(&footer);
    assert_eq!(
        Disk::open(b).err().unwrap().to_string(),
        "VHD disk type 3: only fixed VHDs (type 2) are read"
    );
}

#[test]
fn reads_past_the_disk_are_refused() {
    let disk = Disk::open(vec![0u8; 1024]).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(
        disk.read_at(&mut buf, 1020).unwrap_err().to_string(),
        "read at offset 0x3fc with 16 bytes is beyond the end of the disk (1024 bytes)"
    );
}

proptest::proptest! {
    #[test]
    fn any_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..4096)) {
        let disk = Disk::open(data);
        if let Ok(Ok(esp)) = disk.as_ref().map(Disk::esp) {
            let _ = esp.read_file("EFI/BOOT/BOOTX64.EFI", 1 << 20);
        }
    }
}

/// An input the disk_read fuzz target found: a directory entry whose
/// cluster number makes fatfs 0.3.6 overflow. It must be an error, not a panic.
#[test]
fn corrupt_fat_cluster_is_an_error() {
    let bytes = include_bytes!("../tests/data/fat-cluster-overflow.qcow2").to_vec();
    let result = Disk::open(bytes).and_then(|disk| {
        let esp = disk.esp()?;
        esp.list("")?;
        esp.read_file("EFI/BOOT/BOOTX64.EFI", 1 << 20).map(|_| ())
    });
    assert!(result.is_err(), "{result:?}");
}
