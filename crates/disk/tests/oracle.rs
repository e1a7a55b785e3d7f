//! rvkit-disk against independent tools: disks partitioned by `sfdisk`, ESPs
//! formatted by `mkfs.vfat` (FAT12, FAT16, FAT32) and filled by `mcopy`, then
//! converted by `qemu-img` to qcow2 (plain and compressed, two cluster sizes)
//! and fixed VHD. Every form must read back as the same bytes and the same files.

use std::path::Path;
use std::process::Command;

use rvkit_disk::{Disk, FileSource, Format};

const TOOLS: &[&str] = &["qemu-img", "mkfs.vfat", "mcopy", "mmd", "sfdisk"];

/// Every tool the oracle runs, or a skip (a failure in CI) naming the first
/// one missing. mkfs.vfat and sfdisk live in /usr/sbin, which a user's PATH
/// may lack; the scripts add it.
fn have_tools() -> bool {
    TOOLS.iter().all(|t| {
        ["/usr/sbin", "/sbin"].iter().any(|d| Path::new(d).join(t).is_file())
            || rvkit_test_support::require(t)
    })
}

fn sh(dir: &Path, script: &str) {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\nexport PATH=$PATH:/usr/sbin:/sbin MTOOLS_SKIP_CHECK=1\n{script}"))
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{script}\n{}", String::from_utf8_lossy(&out.stderr));
}

fn open(path: &Path) -> Disk<FileSource> {
    Disk::open(FileSource::new(std::fs::File::open(path).unwrap()).unwrap()).unwrap()
}

/// Builds disk.raw: a GPT with a 1 MiB gap, an ESP of `esp_mib` MiB formatted
/// as FAT`fat`, and a Linux partition of random bytes after it.
fn build(dir: &Path, fat: u32, esp_mib: u32) {
    sh(
        dir,
        &format!(
            r#"
head -c 300007 /dev/urandom > uki.efi
head -c 123 /dev/urandom > cred
mkfs.vfat -F {fat} -C esp.img $(({esp_mib} * 1024)) >/dev/null
mmd -i esp.img ::EFI ::EFI/BOOT ::loader ::loader/credentials
mcopy -i esp.img uki.efi ::EFI/BOOT/BOOTX64.EFI
mcopy -i esp.img cred ::loader/credentials/Some.Long-Name.cred
truncate -s $(( ({esp_mib} + 4) * 1024 * 1024 )) disk.raw
printf 'label: gpt\nstart=2048, size={esp_mib}MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\ntype=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n' | sfdisk -q disk.raw
dd if=esp.img of=disk.raw bs=1M seek=1 conv=notrunc status=none
head -c 1000000 /dev/urandom | dd of=disk.raw bs=1M seek=$(({esp_mib} + 1)) conv=notrunc status=none
qemu-img convert -f raw -O qcow2 disk.raw disk.qcow2
qemu-img convert -f raw -O qcow2 -c disk.raw disk-c.qcow2
qemu-img convert -f raw -O qcow2 -c -o cluster_size=4096 disk.raw disk-c4k.qcow2
qemu-img convert -f raw -O qcow2 -o cluster_size=4096,compat=0.10 disk.raw disk-v2.qcow2
qemu-img convert -f raw -O vpc -o subformat=fixed,force_size=on disk.raw disk.vhd
"#
        ),
    );
}

#[test]
fn every_container_reads_as_the_raw_disk_and_its_esp() {
    if !have_tools() {
        return;
    }
    for (fat, mib) in [(12, 2), (16, 20), (32, 40)] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        build(dir, fat, mib);
        let raw = std::fs::read(dir.join("disk.raw")).unwrap();
        let uki = std::fs::read(dir.join("uki.efi")).unwrap();
        let cred = std::fs::read(dir.join("cred")).unwrap();
        for (file, format) in [
            ("disk.raw", Format::Raw),
            ("disk.qcow2", Format::Qcow2),
            ("disk-c.qcow2", Format::Qcow2),
            ("disk-c4k.qcow2", Format::Qcow2),
            ("disk-v2.qcow2", Format::Qcow2),
            ("disk.vhd", Format::FixedVhd),
        ] {
            let what = format!("FAT{fat} {file}");
            let disk = open(&dir.join(file));
            assert_eq!(disk.format(), format, "{what}");
            assert_eq!(disk.size(), raw.len() as u64, "{what}");
            let esp = disk.esp().unwrap();
            assert_eq!(esp.partition().offset, 1 << 20, "{what}");
            assert_eq!(esp.read_file("EFI/BOOT/BOOTX64.EFI", 1 << 20).unwrap(), uki, "{what}");
            assert_eq!(
                esp.read_file("efi/boot/bootx64.efi", 1 << 20).unwrap(),
                uki,
                "{what}: FAT names ignore case"
            );
            assert_eq!(esp.list("loader/credentials").unwrap().unwrap(), ["Some.Long-Name.cred"], "{what}");
            assert_eq!(
                esp.read_file("loader/credentials/Some.Long-Name.cred", 1024).unwrap(),
                cred,
                "{what}"
            );
            assert_eq!(esp.list("EFI/Linux").unwrap(), None, "{what}");
            assert_eq!(
                esp.read_file("EFI/BOOT/BOOTX64.EFI", 1000).unwrap_err().to_string(),
                "EFI/BOOT/BOOTX64.EFI on the EFI system partition is 300007 bytes, more than the 1000-byte limit"
            );
            let read_for_esp = disk.bytes_read();
            let mut all = vec![0u8; raw.len()];
            for (i, chunk) in all.chunks_mut(777_777).enumerate() {
                disk.read_at(chunk, i as u64 * 777_777).unwrap();
            }
            assert!(all == raw, "{what}: the virtual disk's bytes differ from the raw image");
            assert!(
                read_for_esp < raw.len() as u64 / 2,
                "{what}: read {read_for_esp} bytes to find one file"
            );
        }
    }
}

#[test]
fn qcow2_l2_entry_beyond_the_file_is_named() {
    if !have_tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    build(tmp.path(), 12, 2);
    let path = tmp.path().join("disk.qcow2");
    let mut q = std::fs::read(&path).unwrap();
    let be64 = |b: &[u8], at: usize| u64::from_be_bytes(b[at..at + 8].try_into().unwrap());
    let l1 = be64(&q, 40) as usize;
    let l2 = (be64(&q, l1) & 0x00ff_ffff_ffff_fe00) as usize;
    // Cluster 0 (the protective MBR and the GPT header) now lies far past the end.
    q[l2..l2 + 8].copy_from_slice(&(0x8000_0000_0000_0000u64 | 0x40_0000_0000).to_be_bytes());
    std::fs::write(&path, &q).unwrap();
    let disk = open(&path);
    assert_eq!(
        disk.esp().err().unwrap().to_string(),
        "qcow2 L2 entry 0 (0x8000004000000000): cluster is beyond the end of the file"
    );
}
