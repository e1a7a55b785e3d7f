//! `rvkit podvm predict` on podvm-like disks built by independent tools
//! (mkfs.vfat, mcopy, sfdisk, qemu-img), with expected values from
//! independent sources: PCR 11 from `systemd-measure calculate --phase=`
//! (Debian 12's systemd-stub 252 tooling), PCR 9 from Python's hashlib
//! over the section files, PCR 3 the separator constant a booted VM shows.

use std::path::Path;

use rvkit_pe::testpe::build;

use crate::util::{bash, fails, have_tools, ok, rvkit_in, tempdir};

const TOOLS: &[(&str, &str)] = &[
    ("qemu-img", "qemu-utils"),
    ("mkfs.vfat", "dosfstools"),
    ("mcopy", "mtools"),
    ("sfdisk", "fdisk"),
    ("python3", "python3"),
];
const MEASURE: &str = "/usr/lib/systemd/systemd-measure";

/// Writes uki.efi (stub 252 magic and four sections) and each section as a
/// file, then disk.raw / disk.qcow2 (compressed) / disk.vhd holding it as
/// EFI/BOOT/BOOTX64.EFI on a GPT ESP.
fn podvm_disk(dir: &Path) {
    let linux: Vec<u8> = (0..40_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let initrd: Vec<u8> = (0..3_001u32).map(|i| (i * 13) as u8).collect();
    let sections: [(&str, &[u8]); 4] = [
        (".linux", &linux),
        (".osrel", b"ID=podvm\nVERSION_ID=0.1\n"),
        (".cmdline", b"console=ttyS0 root=/dev/mapper/root roothash=0123abcd\n"),
        (".initrd", &initrd),
    ];
    let magic = b"#### LoaderInfo: systemd-stub 252.39-1~deb12u2 ####\0";
    let mut all: Vec<(&str, u32, &[u8])> = vec![(".sdmagic", 0, magic)];
    all.extend(sections.iter().map(|(n, d)| (*n, 0, *d)));
    std::fs::write(dir.join("uki.efi"), build(&all, 0x200, b"")).unwrap();
    for (name, data) in sections {
        std::fs::write(dir.join(&name[1..]), data).unwrap();
    }
    bash(
        dir,
        r#"export PATH=$PATH:/usr/sbin:/sbin MTOOLS_SKIP_CHECK=1
mkfs.vfat -C esp.img 8192 >/dev/null
mmd -i esp.img ::EFI ::EFI/BOOT
mcopy -i esp.img uki.efi ::EFI/BOOT/BOOTX64.EFI
truncate -s 12M disk.raw
printf 'label: gpt\nstart=2048, size=8MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n' | sfdisk -q disk.raw
dd if=esp.img of=disk.raw bs=1M seek=1 conv=notrunc status=none
qemu-img convert -f raw -O qcow2 -c disk.raw disk.qcow2
qemu-img convert -f raw -O vpc -o subformat=fixed,force_size=on disk.raw disk.vhd
"#,
    );
}

/// The expected values, from tools other than rvkit.
fn expected(dir: &Path) -> String {
    let pcr11 = |bank: &str| {
        let out = bash(
            dir,
            &format!(
                "{MEASURE} calculate --linux=linux --osrel=osrel --cmdline=cmdline --initrd=initrd --phase= --bank={bank}"
            ),
        );
        let text = String::from_utf8(out).unwrap();
        text.lines().find_map(|l| l.strip_prefix(&format!("11:{bank}="))).unwrap().to_owned()
    };
    let pcr9 = |bank: &str| {
        let script = format!(
            r#"python3 -c '
import hashlib
h = lambda b: hashlib.new("{bank}", b).digest()
cmdline = open("cmdline", "rb").read().decode().strip()
pcr = bytes(len(h(b"")))
for measured in [(cmdline + "\0").encode("utf-16-le"), open("initrd", "rb").read()]:
    pcr = h(pcr + h(measured))
print(pcr.hex())'"#
        );
        String::from_utf8(bash(dir, &script)).unwrap().trim().to_owned()
    };
    format!(
        "systemd-stub 252.39-1~deb12u2\n\
         sha256:pcr03 3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969\n\
         sha256:pcr09 {}\nsha256:pcr11 {}\nsha256:pcr12 {}\n\
         sha384:pcr09 {}\nsha384:pcr11 {}\n",
        pcr9("sha256"),
        pcr11("sha256"),
        "0".repeat(64),
        pcr9("sha384"),
        pcr11("sha384"),
    )
}

#[test]
fn predicts_the_same_values_from_raw_qcow2_and_vhd_and_checks_a_release_file() {
    if !have_tools("podvm predict", TOOLS) {
        return;
    }
    if !Path::new(MEASURE).exists() {
        assert!(!crate::util::services_required(), "needs {MEASURE} (apt-get install systemd)");
        return;
    }
    let tmp = tempdir();
    let dir = tmp.path();
    podvm_disk(dir);
    let want = expected(dir);
    // PCR 3 and 12 are asked for in sha256 only: the lines are printed bank by bank.
    let (want256, want384) = want.split_at(want.find("sha384").unwrap());
    for disk in ["disk.raw", "disk.qcow2", "disk.vhd"] {
        let out = ok(rvkit_in(dir, &["podvm", "predict", disk, "--bank", "sha256"]));
        assert_eq!(out, want256, "{disk}");
        let out = ok(rvkit_in(dir, &["podvm", "predict", disk, "--bank", "sha384", "--pcrs", "9,11"]));
        assert_eq!(out, format!("systemd-stub 252.39-1~deb12u2\n{want384}"), "{disk}");
    }

    ok(rvkit_in(dir, &["podvm", "predict", "disk.qcow2", "-o", "measurements.json"]));
    let published = std::fs::read_to_string(dir.join("measurements.json")).unwrap();
    assert!(
        published.starts_with("{\n  \"measurements\": {\n    \"sha256\": {\n      \"pcr03\": \"0x3d458cfe"),
        "{published}"
    );
    let out = ok(rvkit_in(dir, &["podvm", "predict", "disk.vhd", "--check", "measurements.json"]));
    assert_eq!(out.lines().filter(|l| l.contains(": matches ")).count(), 4, "{out}");

    // One changed PCR: exit 1, that PCR named, the events behind it printed.
    let pcr11 = want256.lines().find_map(|l| l.strip_prefix("sha256:pcr11 ")).unwrap();
    let changed = published.replace(&format!("0x{pcr11}"), &format!("0x{}", "ab".repeat(32)));
    std::fs::write(dir.join("changed.json"), changed).unwrap();
    let out = rvkit_in(dir, &["podvm", "predict", "disk.raw", "--check", "changed.json"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let section_events: Vec<&str> = stdout.lines().filter(|l| l.starts_with("  event ")).collect();
    assert_eq!(section_events.len(), 8, "{stdout}");
    assert!(section_events[0].ends_with(" section name .linux"), "{stdout}");
    assert!(section_events[7].ends_with(" section .initrd (3001 bytes)"), "{stdout}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr.lines().last().unwrap(),
        "error: changed.json differs from the prediction at sha256:pcr11"
    );
}

#[test]
fn bad_disks_are_refused_with_exit_2_naming_the_structure() {
    let tmp = tempdir();
    let dir = tmp.path();
    std::fs::write(dir.join("zeros.img"), vec![0u8; 65536]).unwrap();
    let err = fails(rvkit_in(dir, &["podvm", "predict", "zeros.img"]), 2);
    assert_eq!(err, "error: zeros.img: no GPT: LBA 1 does not start with \"EFI PART\"\n");
    let err = fails(rvkit_in(dir, &["podvm", "predict", "missing.qcow2"]), 2);
    assert_eq!(err, "error: cannot read missing.qcow2: No such file or directory (os error 2)\n");
}
