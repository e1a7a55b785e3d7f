//! `rvkit podvm predict` on podvm-like disks built by independent tools
//! (mkfs.vfat, mcopy, sfdisk, qemu-img), with expected values from
//! independent sources: PCR 11 from `systemd-measure calculate --phase=`
//! (Debian 12's systemd-stub 252 tooling), PCR 9 from Python's hashlib
//! over the section files, PCR 3 the separator constant a booted VM shows.

use std::path::Path;

use rvkit_pe::testpe::build;

use crate::util::{bash, fails, have_tools, ok, rvkit_in, tempdir};

const TOOLS: &[&str] = &["qemu-img", "mkfs.vfat", "mcopy", "sfdisk", "python3"];
const MEASURE: &str = "/usr/lib/systemd/systemd-measure";

/// Shell lines putting uki.efi as EFI/BOOT/BOOTX64.EFI on an `esp_mib` MiB
/// FAT ESP of a GPT disk.raw (1 MiB before it, 3 MiB after), running
/// `extra` (mtools lines on esp.img) before the ESP is copied in, and the
/// same disk as a compressed qcow2, disk.qcow2.
fn esp_disk(esp_mib: u32, extra: &str) -> String {
    format!(
        r#"export PATH=$PATH:/usr/sbin:/sbin MTOOLS_SKIP_CHECK=1
mkfs.vfat -C esp.img $(({esp_mib} * 1024)) >/dev/null
mmd -i esp.img ::EFI ::EFI/BOOT
mcopy -i esp.img uki.efi ::EFI/BOOT/BOOTX64.EFI
{extra}
truncate -s $(({esp_mib} + 4))M disk.raw
printf 'label: gpt\nstart=2048, size={esp_mib}MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n' | sfdisk -q disk.raw
dd if=esp.img of=disk.raw bs=1M seek=1 conv=notrunc status=none
qemu-img convert -f raw -O qcow2 -c disk.raw disk.qcow2"#
    )
}

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
        &format!(
            r#"{}
qemu-img convert -f raw -O vpc -o subformat=fixed,force_size=on disk.raw disk.vhd
"#,
            esp_disk(8, "")
        ),
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
        assert!(
            !crate::util::services_required(),
            "needs {MEASURE} ({})",
            crate::util::install_of("file", MEASURE)
        );
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
    let matches: String = want256
        .lines()
        .skip(1)
        .map(|l| {
            let (pcr, value) = l.split_once(' ').unwrap();
            format!("{pcr}: matches {value}\n")
        })
        .collect();
    assert_eq!(out, matches);

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

    // The whole reports, text and JSON: the disk is the same bytes every run
    // and its values are checked against other tools above.
    let run = crate::reports::run;
    insta::assert_snapshot!(
        "predict_transcript",
        run(dir, &["podvm", "predict", "disk.raw", "--transcript"])
    );
    insta::assert_snapshot!(
        "predict_json",
        run(dir, &["podvm", "predict", "disk.raw", "--json", "--bank", "sha384"])
    );
    insta::assert_snapshot!(
        "predict_check_differs",
        run(dir, &["podvm", "predict", "disk.raw", "--check", "changed.json"])
    );
    insta::assert_snapshot!(
        "predict_check_json",
        run(dir, &["podvm", "predict", "disk.raw", "--check", "changed.json", "--json"])
    );
}

/// `--initdata` adds PCR 8 as a podvm extends it (SHA-256 bank only; the
/// expected value is the peer-pods dummy initdata's published PCR8), and a
/// PCR the options do not predict is refused, asked for or published.
#[test]
fn initdata_gives_pcr8_and_unpredicted_pcrs_are_refused() {
    if !have_tools("podvm predict", TOOLS) {
        return;
    }
    let tmp = tempdir();
    let dir = tmp.path();
    podvm_disk(dir);
    std::fs::write(dir.join("initdata.toml"), rvkit_initdata::DUMMY_INITDATA).unwrap();
    let args = ["podvm", "predict", "disk.raw", "--initdata", "initdata.toml", "--pcrs", "8"];
    let out = ok(rvkit_in(dir, &[&args[..], &["--bank", "sha256", "--bank", "sha384"]].concat()));
    assert_eq!(
        out,
        format!(
            "systemd-stub 252.39-1~deb12u2\nsha256:pcr08 {}\nsha384:pcr08 {}\n",
            rvkit_initdata::DUMMY_PCR8_HEX,
            "0".repeat(96)
        )
    );
    let err = fails(rvkit_in(dir, &["podvm", "predict", "disk.raw", "--pcrs", "3,4"]), 2);
    assert_eq!(err, "error: PCR 4 is not predicted: give --firmware ovmf\n");
    let published = format!("{{\"measurements\":{{\"sha256\":{{\"pcr08\":\"0x{}\"}}}}}}", "00".repeat(32));
    std::fs::write(dir.join("published.json"), published).unwrap();
    let err = fails(rvkit_in(dir, &["podvm", "predict", "disk.raw", "--check", "published.json"]), 2);
    assert_eq!(err, "error: PCR 8 is not predicted: give --initdata\n");
    let out = rvkit_in(
        dir,
        &["podvm", "predict", "disk.raw", "--check", "published.json", "--initdata", "initdata.toml"],
    );
    assert_eq!(out.status.code(), Some(1));
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

/// Override where the stubs of Debian 13's systemd-boot-efi (257) and of
/// bookworm-backports' (254) are; by default they are where `cargo xtask
/// test` unpacks them from the packages without installing them
/// (tests/setup/systemd-stub-257.sh, systemd-stub-254.sh).
const STUB_257_VAR: &str = "RVKIT_STUB_257";
const STUB_254_VAR: &str = "RVKIT_STUB_254";
/// The stubs' places under the suite's tool directory (tests/data/requirements.txt).
const STUB_257_TOOL: &str = "systemd-boot-efi-257/linuxx64.efi.stub";
const STUB_254_TOOL: &str = "systemd-boot-efi-254/linuxx64.efi.stub";

/// Ground truth: UKIs assembled with objcopy from Debian 12's systemd-stub
/// 252 (systemd-boot-efi), bookworm-backports' 254 (`$RVKIT_STUB_254`) and
/// Debian 13's 257 (`$RVKIT_STUB_257`), Debian's kernel and a busybox
/// initrd, on a GPT ESP, booted by OVMF under QEMU (TCG) with swtpm. The
/// PCRs the TPM holds after boot (3, 4 and 7 under the `ovmf` firmware
/// profile, 9, 11, 12) must equal the prediction in both banks, and the
/// firmware's PCR 4 event for the UKI must carry rvkit-pe's Authenticode
/// digest. Every UKI ends in data after its last section, its length not a
/// multiple of 8, and carries a .uname section and the stub's own .sbat
/// (which stub 252 does not measure, 254 and 257 do). Each boot brings a
/// stub whose measurements differ: the stub-254 UKI also has .pcrpkey and
/// .pcrsig sections (archives after .initrd, no os-release) and ESP
/// credentials; the stub-257 UKI also has .ucode (a cpio ahead of
/// .initrd), .splash (a BMP), .pcrpkey and .pcrsig sections, and its ESP a
/// credential of its own (`BOOTX64.EFI.extra.d/*.cred`), a global one
/// (`loader/credentials/*.cred`) and a file there the stub skips: PCR 12
/// and the initrd of PCR 9 change.
#[test]
fn booted_pcrs_equal_the_prediction_for_stubs_252_254_and_257() {
    let tools = ["qemu-system-x86_64", "swtpm", "swtpm_setup", "busybox", "objcopy", "cpio"];
    if !have_tools("podvm predict boot", &[TOOLS, &tools].concat()) {
        return;
    }
    let stub = Path::new("/usr/lib/systemd/boot/efi/linuxx64.efi.stub");
    let code = Path::new("/usr/share/OVMF/OVMF_CODE_4M.fd");
    let kernel = std::fs::read_dir("/boot").ok().and_then(|d| {
        d.filter_map(Result::ok).map(|e| e.path()).find(|p| p.to_string_lossy().contains("vmlinuz-"))
    });
    let unpacked = |var: &str, tool: &str| {
        std::env::var_os(var)
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| crate::util::test_tools_dir().join(tool))
    };
    let (stub_254, stub_257) = (unpacked(STUB_254_VAR, STUB_254_TOOL), unpacked(STUB_257_VAR, STUB_257_TOOL));
    let (Some(kernel), true, true, true, true) =
        (kernel, stub.is_file(), code.is_file(), stub_254.is_file(), stub_257.is_file())
    else {
        let msg = format!(
            "needs systemd-boot-efi, ovmf, linux-image-amd64, ${STUB_254_VAR} (bookworm-backports' \
             linuxx64.efi.stub) and ${STUB_257_VAR} (trixie's)"
        );
        assert!(!crate::util::services_required(), "{msg}");
        eprintln!("skipped: {msg}");
        return;
    };
    for (stub, version) in [(stub, "252."), (stub_254.as_path(), "254."), (stub_257.as_path(), "257.")] {
        boot_and_compare(&kernel, stub, version, code);
    }
}

/// Shell lines writing a PEM-looking .pcrpkey and a JSON .pcrsig and
/// naming them in `$more` for objcopy.
const SECTIONS_KEYS: &str = r#"printf -- '-----BEGIN PUBLIC KEY-----\nrvkit\n-----END PUBLIC KEY-----\n' > pcrpkey
printf '{}\n' > pcrsig
more="--add-section .pcrpkey=pcrpkey --change-section-vma .pcrpkey=$(at 0x50000)
  --add-section .pcrsig=pcrsig --change-section-vma .pcrsig=$(at 0x60000)"
"#;

/// Shell lines writing the stub-257 UKI's further sections and naming them
/// in `$more` for objcopy after [`SECTIONS_KEYS`]: a .ucode cpio (the
/// kernel unpacks it first) and a 2x2 BMP splash.
const SECTIONS_257: &str = r#"mkdir -p u && printf 'not microcode\n' > u/ucode-placeholder
(cd u && find . | cpio -o -H newc --quiet > ../ucode)
python3 -c "
import struct
px = bytes([0, 0, 255, 0, 255, 0, 0, 0, 255, 0, 0, 255, 255, 255, 255, 0])
open('splash', 'wb').write(b'BM' + struct.pack('<IHHI', 54 + len(px), 0, 0, 54)
    + struct.pack('<IiiHHIIiiII', 40, 2, 2, 1, 24, 0, len(px), 2835, 2835, 0, 0) + px)"
more="$more --add-section .ucode=ucode --change-section-vma .ucode=$(at 0x30000)
  --add-section .splash=splash --change-section-vma .splash=$(at 0x40000)"
"#;

/// mtools lines giving the ESP a credential of the UKI's own, a global one,
/// and a file in loader/credentials the stub skips.
const CREDENTIALS: &str = r#"printf 'rvkit-uki-credential' > own.cred
printf 'rvkit-global-credential\n' > global.cred
printf 'not a credential' > notes.txt
mmd -i esp.img ::EFI/BOOT/BOOTX64.EFI.extra.d ::loader ::loader/credentials
mcopy -i esp.img own.cred ::EFI/BOOT/BOOTX64.EFI.extra.d/rvkit.cred
mcopy -i esp.img global.cred ::loader/credentials/global.cred
mcopy -i esp.img notes.txt ::loader/credentials/notes.txt"#;

fn boot_and_compare(kernel: &Path, stub: &Path, version: &str, code: &Path) {
    let v252 = version == "252.";
    let tmp = tempdir();
    let dir = tmp.path();
    std::fs::write(dir.join("init"), crate::attest::GUEST_INIT).unwrap();
    bash(
        dir,
        &format!(
            r#"export PATH=$PATH:/usr/sbin:/sbin MTOOLS_SKIP_CHECK=1
mkdir -p r/bin r/dev r/proc r/sys && cp "$(command -v busybox)" r/bin/busybox && install -m 755 init r/init
(cd r && find . | cpio -o -H newc --quiet > ../initrd)
printf 'ID=podvm\nVERSION_ID=1\n' > osrel
printf 'console=ttyS0 quiet loglevel=0 rvkit=predict\n' > cmdline
printf '6.1.0-rvkit' > uname
# New sections go after the stub's own, above its image base.
end=$(objdump -h {stub} | python3 -c '
import sys
ends = [int(f[3], 16) + int(f[2], 16) for f in (l.split() for l in sys.stdin) if len(f) > 4 and f[0].isdigit()]
print(hex((max(ends) + 0xffff) & ~0xffff))')
at() {{ python3 -c "print(hex($end + $1))"; }}
{sections}
objcopy --add-section .osrel=osrel --change-section-vma .osrel=$(at 0) \
  --add-section .cmdline=cmdline --change-section-vma .cmdline=$(at 0x10000) \
  --add-section .uname=uname --change-section-vma .uname=$(at 0x20000) $more \
  --add-section .linux={kernel} --change-section-vma .linux=$(at 0x100000) \
  --add-section .initrd=initrd --change-section-vma .initrd=$(at 0x4000000) {stub} uki.efi
# Data after the last section, leaving a length that is not a multiple of 8:
# the Authenticode tail the firmware hashes without padding.
python3 -c "import os; n = os.path.getsize('uki.efi'); open('uki.efi', 'ab').write(b'rvkit-tail'[:(5 - n) % 8 or 8])"
{esp}
"#,
            kernel = kernel.display(),
            stub = stub.display(),
            sections = match version {
                "252." => "more=".to_owned(),
                "254." => SECTIONS_KEYS.to_owned(),
                _ => format!("{SECTIONS_KEYS}{SECTIONS_257}"),
            },
            esp = esp_disk(20, if v252 { "" } else { CREDENTIALS })
        ),
    );
    let uki = std::fs::read(dir.join("uki.efi")).unwrap();
    assert_eq!(
        uki.len() % 8,
        5,
        "the UKI ends in data after its last section, its length not a multiple of 8"
    );
    let predicted = ok(rvkit_in(
        dir,
        &["podvm", "predict", "disk.qcow2", "--bank", "sha256", "--bank", "sha384", "--firmware", "ovmf"],
    ));

    let (log, pcrs) = boot(dir, code);
    let booted: String = ["sha256", "sha384"]
        .iter()
        .flat_map(|bank| [3, 4, 7, 9, 11, 12].map(|i| (bank, i)))
        .map(|(bank, i)| format!("{bank}:pcr{i:02} {}\n", pcrs[&(bank.to_string(), i)]))
        .collect();
    let (stub_version, values) = predicted.split_once('\n').unwrap();
    assert!(stub_version.starts_with(&format!("systemd-stub {version}")), "{stub_version}");
    assert_eq!(values, booted);
    // The variants changed what they should: stubs 254 and 257 measured
    // both credential archives into PCR 12, stub 252 nothing.
    let parsed = rvkit_pcr::eventlog::EventLog::parse(&log).unwrap();
    let twelve = parsed.events().iter().filter(|e| e.pcr == 12 && e.extends()).count();
    assert_eq!(twelve, if v252 { 0 } else { 2 }, "PCR 12 events of stub {version}");

    // The firmware measured the UKI into PCR 4 with rvkit-pe's digest.
    let pe = rvkit_pe::PeFile::parse(&uki).unwrap();
    let apps: Vec<String> = parsed
        .events()
        .iter()
        .filter(|e| e.pcr == 4 && e.event_type.0 == 0x8000_0003)
        .map(|e| e.digest(rvkit_pcr::HashAlg::Sha384).unwrap().to_hex())
        .collect();
    assert_eq!(apps.first(), Some(&pe.authenticode(rvkit_pcr::HashAlg::Sha384).to_hex()), "{apps:?}");

    // --check with the booted log: a published PCR 9 that differs is named
    // with the predicted events, which are the booted log's own.
    std::fs::write(dir.join("boot.log"), &log).unwrap();
    let published = format!("{{\"measurements\":{{\"sha256\":{{\"pcr09\":\"0x{}\"}}}}}}", "00".repeat(32));
    std::fs::write(dir.join("published.json"), published).unwrap();
    let out = rvkit_in(
        dir,
        &["podvm", "predict", "disk.qcow2", "--check", "published.json", "--eventlog", "boot.log"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let nine: Vec<String> = parsed
        .events()
        .iter()
        .filter(|e| e.pcr == 9)
        .map(|e| e.digest(rvkit_pcr::HashAlg::Sha256).unwrap().to_hex())
        .collect();
    let initrd_len = std::fs::metadata(dir.join("initrd")).unwrap().len();
    let extras = "/.extra/credentials cpio + /.extra/global_credentials cpio + \
                  /.extra/tpm2-pcr-signature.json cpio + /.extra/tpm2-pcr-public-key.pem cpio";
    let initrd = match version {
        "252." => format!(".initrd ({initrd_len} bytes)"),
        "254." => format!(".initrd ({initrd_len} bytes) + {extras}"),
        _ => {
            let ucode = std::fs::metadata(dir.join("ucode")).unwrap().len();
            format!(
                ".ucode ({ucode} bytes) + .initrd ({initrd_len} bytes) + {extras} + /.extra/os-release cpio"
            )
        }
    };
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!(
            "sha256:pcr09: differs\n  published {}\n  predicted {}\n\
             \x20 event {} LoadOptions \"console=ttyS0 quiet loglevel=0 rvkit=predict\"\n\
             \x20 event {} Linux initrd: {initrd}\n\
             \x20 the booted log's events on this pcr equal the prediction\n",
            "00".repeat(32),
            pcrs[&("sha256".to_owned(), 9)],
            nine[0],
            nine[1],
        )
    );
}

/// Boots disk.raw under OVMF with swtpm (sha256 and sha384 banks); returns
/// the firmware's event log and the PCRs the guest read, keyed by (bank, index).
fn boot(dir: &Path, code: &Path) -> (Vec<u8>, std::collections::HashMap<(String, u32), String>) {
    let boot = ["-drive".to_owned(), format!("file={},format=raw,if=virtio", dir.join("disk.raw").display())];
    let console = crate::util::ovmf_boot_console(
        dir,
        code,
        &code.with_file_name("OVMF_VARS_4M.fd"),
        "sha256,sha384",
        &boot,
    );
    let begin = console.find("BEGIN-LOG").unwrap() + "BEGIN-LOG".len();
    let end = console.find("END-LOG").unwrap();
    let log = console[begin..end].split_whitespace().map(|h| u8::from_str_radix(h, 16).unwrap()).collect();
    let pcrs = console
        .lines()
        .filter_map(|l| l.strip_prefix("PCR "))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            ((f[0].to_owned(), f[1].parse().unwrap()), f[2].to_ascii_lowercase())
        })
        .collect();
    (log, pcrs)
}

/// The names left in a temporary directory.
fn left_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

/// Runs rvkit in `dir` with `TMPDIR` set to `tmp`.
fn rvkit_tmp(dir: &Path, tmp: &Path, args: &[&str]) -> std::process::Output {
    crate::util::rvkit().args(args).current_dir(dir).env("TMPDIR", tmp).output().unwrap()
}

/// `podvm predict IMAGE`, `rvps emit --image --predict` and `--predict=check`
/// against a signed image in a registry holding the disk of
/// [`podvm_disk`] as /image/podvm.qcow2: the values equal those predicted
/// from the disk file; a tampered layer, a published file that differs and
/// a disk budget too small fail with the exit code and message the rules
/// give; no temporary file outlives a run, even one ended by SIGTERM.
#[test]
fn predicts_from_a_signed_podvm_image_as_from_its_disk() {
    use rvkit_test_support::{Image, LAYER_GZIP, Layer, Registry, tar_of};
    if !have_tools("podvm predict IMAGE", TOOLS) {
        return;
    }
    let Some(reg) = Registry::start() else { return };
    let tmp = tempdir();
    let dir = tmp.path();
    let scratch = dir.join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    podvm_disk(dir);
    let from_disk = ok(rvkit_in(dir, &["podvm", "predict", "disk.qcow2"]));
    ok(rvkit_in(dir, &["podvm", "predict", "disk.qcow2", "-o", "predicted.json"]));
    let predicted = std::fs::read(dir.join("predicted.json")).unwrap();
    let qcow2 = std::fs::read(dir.join("disk.qcow2")).unwrap();
    let pcr11 = String::from_utf8(predicted.clone())
        .unwrap()
        .lines()
        .find_map(|l| l.trim().strip_prefix("\"pcr11\": \"0x").map(|v| v[..64].to_owned()))
        .unwrap();
    let changed = String::from_utf8(predicted.clone()).unwrap().replace(&pcr11, &"ab".repeat(32));
    let image_of = |measurements: &[u8]| {
        let tar = tar_of(&[("image/measurements.json", measurements), ("image/podvm.qcow2", &qcow2)]);
        Image::new(vec![Layer::new(LAYER_GZIP, &tar)], "amd64")
    };
    let (good, bad) = (image_of(&predicted), image_of(changed.as_bytes()));
    crate::podvm::push_signed(&reg, "podvm/good", &good, dir);
    // Signed with other keys: only the good image is checked with them below.
    let other = dir.join("other");
    std::fs::create_dir(&other).unwrap();
    crate::podvm::push_signed(&reg, "podvm/bad", &bad, &other);
    let keys =
        |d: &Path| [d.join("cosign.pub").display().to_string(), d.join("rekor.pub").display().to_string()];
    let [good_key, good_rekor] = keys(dir);
    let [bad_key, bad_rekor] = keys(&other);
    let access = |key: &str, rekor: &str| {
        vec![
            "--key".to_owned(),
            key.to_owned(),
            "--rekor-key".to_owned(),
            rekor.to_owned(),
            "--insecure-registry".to_owned(),
            reg.addr.clone(),
        ]
    };
    let run = |args: &[&str], key: (&str, &str)| {
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.extend(access(key.0, key.1));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let out = rvkit_tmp(dir, &scratch, &all);
        assert_eq!(left_in(&scratch), Vec::<String>::new(), "a temporary file was left behind");
        out
    };
    let good_ref = format!("docker://{}/podvm/good:v1", reg.addr);
    let bad_ref = format!("docker://{}/podvm/bad:v1", reg.addr);
    let g = (good_key.as_str(), good_rekor.as_str());
    let b = (bad_key.as_str(), bad_rekor.as_str());

    // The same report as from the disk file; the image is named on stderr.
    let out = run(&["podvm", "predict", &good_ref], g);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(ok(out), from_disk);
    // What it says on stderr is `podvm verify`'s account of the image.
    let verified = String::from_utf8(run(&["podvm", "verify", &good_ref], g).stderr).unwrap();
    assert!(verified.starts_with(&format!("verified {}/podvm/good@{}\n", reg.addr, good.digest())));
    assert_eq!(stderr, verified);
    let out = run(&["podvm", "predict", &good_ref, "--check", "predicted.json"], g);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    ok(out);
    let pinned_good = format!("{}/podvm/good@{}", reg.addr, good.digest());
    assert_eq!(
        stderr,
        format!(
            "{verified}{pinned_good}:/image/podvm.qcow2: qcow2 disk, UKI EFI/BOOT/BOOTX64.EFI with systemd-stub 252.39-1~deb12u2, {} of {} bytes read\n",
            read_of(&stderr),
            qcow2.len()
        )
    );

    // rvps emit: predicted values give what the published file gives.
    let emit = |extra: &[&str], key| {
        let mut args = vec!["rvps", "emit", "--expiration", crate::util::EXPIRATION, "--format", "kv"];
        args.extend_from_slice(extra);
        run(&args, key)
    };
    let from_file = ok(rvkit_in(dir, EMIT_PREDICTED));
    assert_eq!(ok(emit(&["--image", &good_ref, "--predict"], g)), from_file);
    let out = emit(&["--image", &good_ref, "--predict=check"], g);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(ok(out), from_file);
    assert_eq!(
        stderr,
        format!(
            "note: {pinned_good}:/image/measurements.json matches the prediction from /image/podvm.qcow2\n{}",
            emit_stderr(dir)
        )
    );
    // A release whose measurements.json differs from its disk: exit 1, the
    // PCR named, no output.
    let out = emit(&["--image", &bad_ref, "--predict=check"], b);
    assert!(out.stdout.is_empty());
    let stderr = fails(out, 1);
    // The report is `podvm predict --check`'s on the same file.
    std::fs::write(dir.join("changed.json"), &changed).unwrap();
    let report = rvkit_in(dir, &["podvm", "predict", "disk.qcow2", "--check", "changed.json"]);
    let report = String::from_utf8(report.stdout).unwrap();
    assert!(report.contains("sha256:pcr11: differs\n"), "{report}");
    let pinned = format!("{}/podvm/bad@{}", reg.addr, bad.digest());
    assert_eq!(
        stderr,
        format!(
            "{report}error: {pinned}:/image/measurements.json differs from the prediction at sha256:pcr11\n"
        )
    );
    // --predict uses the disk whatever the published file says.
    assert_eq!(ok(emit(&["--image", &bad_ref, "--predict"], b)), from_file);

    // bundle: the same choice, from the template configuration.
    ok(rvkit_in(dir, &["bundle", "--init", "-o", "trustee.toml"]));
    std::fs::write(dir.join("cluster-pull-secret.json"), "{\"auths\":{}}").unwrap();
    let bundle = |out: &str, extra: &[&str], key| {
        let mut args = vec!["bundle", "--config", "trustee.toml", "--keys", "local", "-o", out];
        args.extend_from_slice(extra);
        run(&args, key)
    };
    ok(bundle("from-file", &["--image=", "--measurements", "predicted.json"], g));
    ok(bundle("predicted", &["--image", &good_ref, "--predict"], g));
    // The podvm's values; PCR8 differs, each render making its own keys.
    let podvm_values = |b: &str| {
        let text = std::fs::read_to_string(dir.join(b).join("rvps-configmap.yaml")).unwrap();
        let cm: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
        let values: Vec<serde_json::Value> =
            serde_json::from_str(cm["data"]["reference-values.json"].as_str().unwrap()).unwrap();
        values.into_iter().filter(|v| !v["name"].as_str().unwrap().ends_with("_pcr08")).collect::<Vec<_>>()
    };
    let predicted_values = podvm_values("predicted");
    assert_eq!(predicted_values.len(), 8);
    assert_eq!(predicted_values, podvm_values("from-file"));
    let stderr = fails(bundle("checked", &["--image", &bad_ref, "--predict=check"], b), 1);
    assert_eq!(
        stderr.lines().last().unwrap(),
        format!("error: {pinned}:/image/measurements.json differs from the prediction at sha256:pcr11")
    );
    assert!(!dir.join("checked").exists());

    // The disk budget.
    let size = qcow2.len();
    let budget = format!("{}K", size / 2048);
    let out = run(&["podvm", "predict", &good_ref, "--disk-budget", &budget], g);
    assert_eq!(
        fails(out, 2),
        format!(
            "error: /image/podvm.qcow2 in {}/podvm/good:v1 is {size} bytes, more than the disk budget of {} bytes (raise it with --disk-budget)\n",
            reg.addr,
            size / 2048 * 1024
        )
    );
    let out = rvkit_in(dir, &["podvm", "predict", "disk.qcow2", "--disk-budget", "1M"]);
    assert_eq!(
        fails(out, 2),
        "error: disk.qcow2 is a disk file: the image access options and --disk-budget apply only to an image\n"
    );
    let out = rvkit_in(dir, &["podvm", "predict", &good_ref, "--disk-budget", "1X"]);
    assert!(fails(out, 2).contains("\"1X\" is not a size (a number, optionally with K, M, G or T)"));

    // A tampered layer: refused as a verification failure.
    let layer = reg.blob_file(good.layers[0].descriptor()["digest"].as_str().unwrap());
    let mut blob = std::fs::read(&layer).unwrap();
    let n = blob.len();
    blob[n / 2] ^= 0x55;
    std::fs::write(&layer, &blob).unwrap();
    let out = run(&["podvm", "predict", &good_ref], g);
    assert!(out.stdout.is_empty());
    assert_eq!(
        fails(out, 1),
        format!(
            "error: {}/podvm/good:v1: layer 0 does not match its digest: expected {}, got {}\n",
            reg.addr,
            good.layers[0].descriptor()["digest"].as_str().unwrap(),
            rvkit_test_support::digest_of(&blob)
        )
    );
}

/// The bytes read of the disk, as a summary line of `podvm predict` says
/// (the number of bytes depends on the qcow2 layout qemu-img chose; the
/// disk tests above bound it).
fn read_of(stderr: &str) -> u64 {
    let line = stderr.lines().last().unwrap();
    let (_, rest) = line.rsplit_once(", ").unwrap();
    rest.split(' ').next().unwrap().parse().unwrap()
}

/// `rvps emit --format kv` of the predicted measurements file.
const EMIT_PREDICTED: &[&str] = &[
    "rvps",
    "emit",
    "--measurements",
    "predicted.json",
    "--expiration",
    crate::util::EXPIRATION,
    "--format",
    "kv",
];

/// What `rvps emit --format kv` prints on stderr for a measurements file.
fn emit_stderr(dir: &Path) -> String {
    let out = rvkit_in(dir, EMIT_PREDICTED);
    String::from_utf8(out.stderr).unwrap()
}

/// SIGTERM while a disk is being taken out of an image removes the
/// temporary file.
#[test]
fn a_signal_during_extraction_removes_the_temporary_disk() {
    use rvkit_test_support::{Fault, Image, Proxy, Registry};
    let Some(reg) = Registry::start() else { return };
    let tmp = tempdir();
    let dir = tmp.path();
    let scratch = dir.join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let img = Image::podvm("podvm/slow");
    crate::podvm::push_signed(&reg, "podvm/slow", &img, dir);
    let blob = img.layers[0].descriptor()["digest"].as_str().unwrap().to_owned();
    let proxy = Proxy::start(&reg.addr, Fault::Trickle { blob });
    let image = format!("docker://{}/podvm/slow:v1", proxy.addr);
    let mut child = crate::util::rvkit()
        .args(["podvm", "predict", &image, "--key", "cosign.pub", "--rekor-key", "rekor.pub"])
        .args(["--insecure-registry", &proxy.addr])
        .current_dir(dir)
        .env("TMPDIR", &scratch)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while left_in(&scratch).is_empty() {
        assert!(start.elapsed() < std::time::Duration::from_secs(30), "no temporary file appeared");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let kill = std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(status.signal(), Some(15), "{status}");
    assert_eq!(left_in(&scratch), Vec::<String>::new());
}

/// The demo image's disk (`data/demo/podvm.qcow2`) predicts what its
/// `measurements.json` publishes, and those values come from other tools:
/// the disk converted by qemu-img, the UKI copied off the ESP by mtools, its
/// sections dumped by objcopy, then PCR 11 from systemd-measure and PCR 9
/// from Python's hashlib, as for the test disks above.
#[test]
fn the_demo_disk_predicts_its_published_measurements() {
    if !have_tools("the demo disk", &["qemu-img", "mcopy", "objcopy", "python3"]) {
        return;
    }
    if !Path::new(MEASURE).exists() {
        assert!(!crate::util::services_required(), "needs {MEASURE}");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo");
    let tmp = tempdir();
    let dir = tmp.path();
    bash(
        dir,
        &format!(
            "export MTOOLS_SKIP_CHECK=1
qemu-img convert -f qcow2 -O raw {root}/podvm.qcow2 disk.raw
mcopy -i disk.raw@@1M ::EFI/BOOT/BOOTX64.EFI uki.efi
objcopy -O binary --dump-section .linux=linux --dump-section .osrel=osrel \\
    --dump-section .cmdline=cmdline --dump-section .initrd=initrd uki.efi /dev/null",
            root = root.display()
        ),
    );
    let want = expected(dir);
    let value =
        |pcr: &str| want.lines().find_map(|l| l.strip_prefix(&format!("sha256:{pcr} "))).unwrap().to_owned();
    let published = std::fs::read_to_string(root.join("measurements.json")).unwrap();
    let m: serde_json::Value = serde_json::from_str(&published).unwrap();
    for pcr in ["pcr03", "pcr09", "pcr11", "pcr12"] {
        assert_eq!(m["measurements"]["sha256"][pcr], format!("0x{}", value(pcr)), "{pcr}");
    }
    let out = rvkit_in(&root, &["podvm", "predict", "podvm.qcow2", "--check", "measurements.json"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        ok(out),
        ["pcr03", "pcr09", "pcr11", "pcr12"].map(|p| format!("sha256:{p}: matches {}\n", value(p))).concat()
    );
    assert_eq!(
        stderr,
        "podvm.qcow2: qcow2 disk, UKI EFI/BOOT/BOOTX64.EFI with systemd-stub 252.39, 11874 of 32768 bytes read\n"
    );
}
