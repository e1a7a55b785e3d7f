//! "Why doesn't it attest?": event-log replay against independent producers
//! and replayers, and the offline policy check, coverage, diff and merge of
//! reference values.
//!
//! Event logs come from two producers that are not rvkit: OVMF (EDK2's TCG2
//! code) booting a Debian kernel in QEMU with swtpm as its TPM, and a writer
//! in Python (standard library only) for the cases firmware does not produce
//! on demand (a StartupLocality event, EV_NO_ACTION events in the middle of
//! the log, a CCEL-style TDX log). Replayed values are checked against
//! `tpm2_eventlog` 5.7 (Debian 13's tpm2-tools, unpacked by the repository's
//! set-up script `tests/setup/tpm2-tools-5.7.sh`) and, for the OVMF boot, against the PCRs the TPM itself holds.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::util::{Swtpm, bash, fails, have_tools, ok, rvkit_in, services_required, tempdir};

/// A bank → PCR index → lowercase hex map.
type Pcrs = BTreeMap<String, BTreeMap<u32, String>>;

/// `tpm2_eventlog` 5.7, unpacked into the suite's tool directory by
/// `tests/setup/tpm2-tools-5.7.sh` (which `cargo xtask test` runs, and this
/// runs when it has not); `None` (with a "skipped:" line) when it cannot be
/// had outside CI.
fn tpm2_eventlog(test: &str) -> Option<PathBuf> {
    static TOOL: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let tool = TOOL.get_or_init(|| {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/setup/tpm2-tools-5.7.sh");
        let dest = crate::util::test_tools_dir().join("tpm2-tools-5.7");
        let bin = dest.join("tpm2_eventlog");
        if !bin.is_file() {
            let out = Command::new("bash").arg(&script).arg(&dest).output().map_err(|e| e.to_string())?;
            if !out.status.success() {
                return Err(format!("the setup script failed: {}", String::from_utf8_lossy(&out.stderr)));
            }
        }
        let version = Command::new(&bin).arg("--version").output().map_err(|e| e.to_string())?;
        let version = String::from_utf8_lossy(&version.stdout).into_owned();
        if !version.contains("version=\"5.7") {
            return Err(format!("expected tpm2_eventlog 5.7, got {version}"));
        }
        Ok(bin)
    });
    match tool {
        Ok(bin) => Some(bin.clone()),
        Err(why) if services_required() => panic!("{test}: tpm2_eventlog 5.7 is required in CI: {why}"),
        Err(why) => {
            eprintln!("skipped: {test}: tpm2_eventlog 5.7 unavailable: {why}");
            None
        }
    }
}

/// Reads a `pcrs:` section as tpm2_eventlog and tpm2_pcrread print it.
fn parse_pcrs_yaml(text: &str) -> Pcrs {
    let mut out = Pcrs::new();
    let mut bank = None;
    let start = text.lines().position(|l| l.trim_end() == "pcrs:").map_or(0, |i| i + 1);
    for line in text.lines().skip(start) {
        let t = line.trim();
        match t.split_once(':') {
            Some((k, v)) if v.trim().is_empty() => bank = Some(k.trim().to_owned()),
            Some((k, v)) => {
                let hex = v.trim().trim_start_matches("0x").to_ascii_lowercase();
                out.entry(bank.clone().expect("bank line first"))
                    .or_default()
                    .insert(k.trim().parse().unwrap(), hex);
            }
            None => {}
        }
    }
    out
}

/// The `pcrs` object of `rvkit pcr replay --json`.
fn replay_pcrs(dir: &Path, log: &str) -> (Pcrs, serde_json::Value) {
    let doc: serde_json::Value =
        serde_json::from_str(&ok(rvkit_in(dir, &["pcr", "replay", log, "--json"]))).unwrap();
    let mut out = Pcrs::new();
    for (bank, values) in doc["pcrs"].as_object().unwrap() {
        for (i, v) in values.as_object().unwrap() {
            out.entry(bank.clone()).or_default().insert(i.parse().unwrap(), v.as_str().unwrap().to_owned());
        }
    }
    (out, doc)
}

/// A crypto-agile log writer in Python, independent of the Rust parser: it
/// follows the TCG PC Client Platform Firmware Profile layouts with
/// `struct` and hashes with `hashlib`.
const PY_WRITER: &str = r#"
import hashlib, struct, sys
IDS = {'sha1': 0x0004, 'sha256': 0x000B, 'sha384': 0x000C, 'sha512': 0x000D}
def spec_id(algs):
    body = b'Spec ID Event03\0' + struct.pack('<IBBBBI', 0, 0, 2, 0, 2, len(algs))
    for a in algs:
        body += struct.pack('<HH', IDS[a], hashlib.new(a).digest_size)
    body += b'\0'
    return struct.pack('<II', 0, 3) + b'\0' * 20 + struct.pack('<I', len(body)) + body
def event(algs, pcr, etype, data, digests=None):
    out = struct.pack('<III', pcr, etype, len(algs))
    for i, a in enumerate(algs):
        d = digests[i] if digests else hashlib.new(a, data).digest()
        out += struct.pack('<H', IDS[a]) + d
    return out + struct.pack('<I', len(data)) + data
def var(name, data):
    guid = bytes.fromhex('61dfe48bca93d211aa0d00e098032b8c')
    return guid + struct.pack('<QQ', len(name), len(data)) + name.encode('utf-16-le') + data
def zeros(algs):
    return [b'\0' * hashlib.new(a).digest_size for a in algs]
"#;

/// Runs the writer with `body` appended; returns the log bytes.
fn py_log(dir: &Path, body: &str) -> Vec<u8> {
    fs::write(dir.join("writer.py"), format!("{PY_WRITER}\n{body}\nsys.stdout.buffer.write(log)\n")).unwrap();
    bash(dir, "python3 writer.py")
}

/// Several banks, a StartupLocality event and EV_NO_ACTION events with
/// non-zero digests in the middle of the log, UEFI variables and strings.
const MULTI_BANK: &str = r#"
algs = ['sha1', 'sha256', 'sha384', 'sha512']
log = spec_id(algs)
log += event(algs, 0, 3, b'StartupLocality\0' + bytes([3]), zeros(algs))
log += event(algs, 0, 8, 'rvkit test firmware 1.0\0'.encode('utf-16-le'))
log += event(algs, 0, 0x80000008, struct.pack('<QQ', 0xffc00000, 0x400000))
log += event(algs, 7, 0x80000001, var('SecureBoot', b'\x01'))
log += event(algs, 7, 3, b'SP800-155 Event3\0' + b'x' * 20)
log += event(algs, 1, 0x80000002, var('BootOrder', b'\x01\x00\x00\x00'))
for p in range(8):
    log += event(algs, p, 4, b'\0\0\0\0')
log += event(algs, 4, 3, b'NvIndexInstance\0' + b'y' * 8)
log += event(algs, 8, 0xd, b'grub_cmd: linux /vmlinuz root=/dev/vda1')
log += event(algs, 9, 0xd, b'/boot/vmlinuz\0')
log += event(algs, 14, 0xd, b'MokList\0')
log += event(algs, 23, 0x80000007, b'application event')
"#;

#[test]
fn replay_equals_tpm2_eventlog_on_multi_bank_logs_with_no_action_events() {
    if !have_tools("replay_equals_tpm2_eventlog", &["python3"]) {
        return;
    }
    let Some(tool) = tpm2_eventlog("replay_equals_tpm2_eventlog") else { return };
    let dir = tempdir();
    let d = dir.path();
    let cases = [
        ("multi.bin", MULTI_BANK.to_owned()),
        // Without the locality event, and with two banks in another order.
        (
            "two.bin",
            MULTI_BANK
                .replace("['sha1', 'sha256', 'sha384', 'sha512']", "['sha384', 'sha1']")
                .replace("log += event(algs, 0, 3, b'StartupLocality\\0' + bytes([3]), zeros(algs))\n", ""),
        ),
    ];
    for (name, body) in cases {
        fs::write(d.join(name), py_log(d, &body)).unwrap();
        let out = Command::new(&tool).arg(d.join(name)).output().unwrap();
        assert!(out.status.success(), "tpm2_eventlog {name}: {}", String::from_utf8_lossy(&out.stderr));
        let theirs = parse_pcrs_yaml(&String::from_utf8(out.stdout).unwrap());
        let (ours, doc) = replay_pcrs(d, name);
        assert!(!theirs.is_empty());
        assert_eq!(ours, theirs, "{name}");
        // The EV_NO_ACTION events are listed but carry no running value.
        let no_action: Vec<&serde_json::Value> =
            doc["events"].as_array().unwrap().iter().filter(|e| e["type"] == "EV_NO_ACTION").collect();
        assert!(no_action.len() >= 3, "{name}");
        assert!(no_action.iter().all(|e| e["values"].is_null()));
        if name == "multi.bin" {
            assert_eq!(doc["startup_locality"], 3);
        } else {
            assert!(doc["startup_locality"].is_null(), "the locality event was removed");
        }
        // --expect with tpm2_eventlog's own output: everything matches.
        fs::write(d.join("theirs.yaml"), Command::new(&tool).arg(d.join(name)).output().unwrap().stdout)
            .unwrap();
        let report = ok(rvkit_in(d, &["pcr", "replay", name, "--expect", "theirs.yaml"]));
        assert!(!report.contains("differs") && report.contains("matches"), "{report}");
    }
}

/// The pieces of an OVMF boot: QEMU, OVMF, a kernel with the TPM drivers
/// built in, a static busybox, swtpm.
struct VmParts {
    code: PathBuf,
    vars: PathBuf,
    kernel: PathBuf,
    busybox: PathBuf,
}

fn vm_parts(test: &str) -> Option<VmParts> {
    let tools = ["qemu-system-x86_64", "swtpm", "swtpm_setup", "busybox"];
    if !have_tools(test, &tools) {
        return None;
    }
    let files = ["/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd", "/boot/vmlinuz-*"];
    let [code, vars, kernel] = crate::util::have_files(test, files)?;
    Some(VmParts { code, vars, kernel, busybox: crate::util::which("busybox")? })
}

/// One file of an initramfs: path, mode, device number (major, minor) for
/// device nodes, contents.
type Entry = (&'static str, u32, (u32, u32), Vec<u8>);

/// A newc cpio archive (the initramfs format) of `entries`.
fn newc(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    let pad = |out: &mut Vec<u8>| {
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
    };
    let trailer: Entry = ("TRAILER!!!", 0, (0, 0), Vec::new());
    for (ino, (path, mode, (major, minor), data)) in entries.iter().chain([&trailer]).enumerate() {
        let (mode, major, minor) = (*mode, *major, *minor);
        let fields = [
            ino as u32 + 1,
            mode,
            0,
            0,
            1,
            0,
            data.len() as u32,
            0,
            0,
            major,
            minor,
            path.len() as u32 + 1,
            0,
        ];
        out.extend_from_slice(b"070701");
        for f in fields {
            out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        out.extend_from_slice(path.as_bytes());
        out.push(0);
        pad(&mut out);
        out.extend_from_slice(data);
        pad(&mut out);
    }
    out
}

/// The guest's init: dump the firmware log and the TPM's PCRs to the
/// serial console, then power off.
pub(crate) const GUEST_INIT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t sysfs sysfs /sys
mount -t securityfs securityfs /sys/kernel/security
echo BEGIN-LOG
od -An -v -tx1 /sys/kernel/security/tpm0/binary_bios_measurements
echo END-LOG
for a in sha1 sha256 sha384 sha512; do
  for i in 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23; do
    [ -f /sys/class/tpm/tpm0/pcr-$a/$i ] && echo "PCR $a $i $(cat /sys/class/tpm/tpm0/pcr-$a/$i)"
  done
done
echo DONE
poweroff -f
"#;

/// Boots OVMF with swtpm (four banks) and a kernel that dumps the log;
/// returns the log bytes and the TPM's PCR values.
fn ovmf_boot(parts: &VmParts, dir: &Path) -> (Vec<u8>, Pcrs) {
    let busybox = fs::read(&parts.busybox).unwrap();
    let initrd = newc(&[
        ("bin", 0o040755, (0, 0), vec![]),
        ("dev", 0o040755, (0, 0), vec![]),
        ("dev/console", 0o020600, (5, 1), vec![]),
        ("proc", 0o040755, (0, 0), vec![]),
        ("sys", 0o040755, (0, 0), vec![]),
        ("bin/busybox", 0o100755, (0, 0), busybox),
        ("init", 0o100755, (0, 0), GUEST_INIT.as_bytes().to_vec()),
    ]);
    fs::write(dir.join("initrd"), initrd).unwrap();
    let boot: Vec<String> = [
        "-kernel".to_owned(),
        parts.kernel.display().to_string(),
        "-initrd".to_owned(),
        dir.join("initrd").display().to_string(),
        "-append".to_owned(),
        "console=ttyS0 quiet loglevel=0".to_owned(),
    ]
    .into();
    let console =
        crate::util::ovmf_boot_console(dir, &parts.code, &parts.vars, "sha1,sha256,sha384,sha512", &boot);
    let begin = console.find("BEGIN-LOG").unwrap() + "BEGIN-LOG".len();
    let end = console.find("END-LOG").unwrap();
    let log: Vec<u8> = console[begin..end]
        .split_whitespace()
        .map(|h| u8::from_str_radix(h, 16).unwrap_or_else(|_| panic!("not hex: {h:?}")))
        .collect();
    let mut pcrs = Pcrs::new();
    for line in console.lines().filter_map(|l| l.strip_prefix("PCR ")) {
        let f: Vec<&str> = line.split_whitespace().collect();
        pcrs.entry(f[0].to_owned()).or_default().insert(f[1].parse().unwrap(), f[2].to_ascii_lowercase());
    }
    (log, pcrs)
}

#[test]
fn replay_of_an_ovmf_boot_equals_tpm2_eventlog_and_the_tpm() {
    let Some(parts) = vm_parts("replay_of_an_ovmf_boot") else { return };
    let Some(tool) = tpm2_eventlog("replay_of_an_ovmf_boot") else { return };
    let dir = tempdir();
    let d = dir.path();
    let (log, tpm) = ovmf_boot(&parts, d);
    fs::write(d.join("ovmf.bin"), &log).unwrap();
    let (ours, doc) = replay_pcrs(d, "ovmf.bin");
    assert_eq!(doc["algorithms"], serde_json::json!(["sha1", "sha256", "sha384", "sha512"]));
    let out = Command::new(&tool).arg(d.join("ovmf.bin")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let theirs = parse_pcrs_yaml(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(ours, theirs);
    // The TPM holds what the log says for every PCR the log extends. (It
    // holds more: the kernel's IMA extends PCR 10, which this log does not
    // record.)
    for (bank, values) in &ours {
        assert!(values.len() >= 8, "{bank}: {values:?}");
        for (pcr, value) in values {
            assert_eq!(&tpm[bank][pcr], value, "{bank} pcr {pcr}");
        }
    }
    // Firmware events are named and summarised.
    let text = ok(rvkit_in(d, &["pcr", "replay", "ovmf.bin", "--bank", "sha256", "--pcrs", "7"]));
    assert!(text.contains("EV_EFI_VARIABLE_DRIVER_CONFIG: \"SecureBoot\" (EFI_GLOBAL_VARIABLE)"), "{text}");
    assert!(!text.contains("pcr 4 "), "--pcrs 7 shows PCR 7 only:\n{text}");

    // The TPM's values as JSON: everything matches.
    let tpm_json: serde_json::Map<String, serde_json::Value> = ours
        .keys()
        .map(|bank| {
            let m: serde_json::Map<String, serde_json::Value> =
                tpm[bank].iter().map(|(i, v)| (i.to_string(), v.clone().into())).collect();
            (bank.clone(), m.into())
        })
        .collect();
    fs::write(d.join("tpm.json"), serde_json::to_string(&tpm_json).unwrap()).unwrap();
    let report = ok(rvkit_in(
        d,
        &["pcr", "replay", "ovmf.bin", "--expect", "tpm.json", "--pcrs", "0,1,2,3,4,5,6,7,9"],
    ));
    assert!(!report.contains("differs"), "{report}");

    // A log with one more event than the TPM saw: the extra event is named.
    let mut longer = log.clone();
    longer.extend_from_slice(&7u32.to_le_bytes());
    longer.extend_from_slice(&0x8000_0007u32.to_le_bytes());
    longer.extend_from_slice(&1u32.to_le_bytes());
    longer.extend_from_slice(&0x000bu16.to_le_bytes());
    longer.extend_from_slice(&[0x11; 32]);
    longer.extend_from_slice(&4u32.to_le_bytes());
    longer.extend_from_slice(b"late");
    fs::write(d.join("longer.bin"), &longer).unwrap();
    let n = doc["events"].as_array().unwrap().len();
    let out =
        rvkit_in(d, &["pcr", "replay", "longer.bin", "--expect", "tpm.json", "--bank", "sha256", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pcr7 = report.as_array().unwrap().iter().find(|r| r["pcr"] == 7).unwrap();
    assert_eq!(pcr7["status"], "differs");
    assert_eq!(pcr7["first_divergent_event"], n, "{pcr7}");
    let others = report.as_array().unwrap().iter().filter(|r| r["pcr"] != 7 && r["pcr"] != 10);
    assert!(others.clone().all(|r| r["status"] == "match"), "{report}");
}

#[test]
fn expect_reads_tpm2_pcrread_and_names_the_divergent_event() {
    let tools = ["swtpm", "tpm2_pcrextend", "tpm2_pcrread", "python3"];
    if !have_tools("expect_reads_tpm2_pcrread", &tools) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    // A SHA-256 log on PCR 16 and 23, which swtpm lets locality 0 extend.
    let body = r#"
algs = ['sha256']
log = spec_id(algs)
for i in range(4):
    log += event(algs, 16, 0xd, b'step %d' % i)
log += event(algs, 16, 3, b'not extended', [hashlib.sha256(b'x').digest()])
log += event(algs, 23, 0x80000007, b'app')
"#;
    let log = py_log(d, body);
    fs::write(d.join("log.bin"), &log).unwrap();
    let tpm = Swtpm::start();
    // Extend what the log records, except its last PCR 16 event: the TPM
    // then lacks event 4.
    for (pcr, data) in [(16, "step 0"), (16, "step 1"), (16, "step 2"), (23, "app")] {
        let digest =
            String::from_utf8(bash(d, &format!("printf '{data}' | sha256sum | cut -c1-64"))).unwrap();
        tpm.extend_sha256(pcr, digest.trim());
    }
    let read = tpm.tool("tpm2_pcrread").arg("sha256:16,23").output().unwrap();
    assert!(read.status.success());
    fs::write(d.join("pcrs.yaml"), &read.stdout).unwrap();
    let out = rvkit_in(d, &["pcr", "replay", "log.bin", "--expect", "pcrs.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let report = String::from_utf8(out.stdout).unwrap();
    assert!(report.contains("pcr23 sha256: matches"), "{report}");
    assert!(report.contains("pcr16 sha256: differs"), "{report}");
    assert!(
        report.contains("the first 3 of the log's 4 events") && report.contains("event 4 (offset"),
        "{report}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 of 2 pcr values differ"));
}

#[test]
fn tdx_view_of_a_ccel_log_equals_an_independent_replay() {
    if !have_tools("tdx_view_of_a_ccel_log", &["python3"]) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    // A CCEL-style log: SHA-384 only, register indices 1-4 for RTMR0-3, the
    // rest of the table area filled with 0xff. Python replays it as well.
    let body = r#"
algs = ['sha384']
log = spec_id(algs)
rtmr = [b'\0' * 48] * 4
for idx, data in [(1, b'cfv'), (2, b'kernel'), (1, b'sb'), (3, b'cmdline'), (4, b'app'), (2, b'initrd')]:
    log += event(algs, idx, 0x80000007, data)
    rtmr[idx - 1] = hashlib.sha384(rtmr[idx - 1] + hashlib.sha384(data).digest()).digest()
log += event(algs, 1, 3, b'no action', [b'\x55' * 48])
open('rtmrs.txt', 'w').write('\n'.join(r.hex() for r in rtmr) + '\n')
log += b'\xff' * 4096
"#;
    fs::write(d.join("ccel.bin"), py_log(d, body)).unwrap();
    let want: Vec<String> =
        fs::read_to_string(d.join("rtmrs.txt")).unwrap().lines().map(str::to_owned).collect();
    let out: serde_json::Value =
        serde_json::from_str(&ok(rvkit_in(d, &["pcr", "replay", "ccel.bin", "--tdx", "--json"]))).unwrap();
    for (i, w) in want.iter().enumerate() {
        assert_eq!(out["rtmrs"][format!("rtmr{i}")], w.as_str(), "rtmr{i}");
    }
    assert_eq!(out["events"].as_array().unwrap().len(), 6);
    let text = ok(rvkit_in(d, &["pcr", "replay", "ccel.bin", "--tdx"]));
    assert!(text.contains(&format!("rtmr2 : 0x{}", want[2])), "{text}");
    // The same log read as PCRs maps index 1 to RTMR0 and 2-4 to RTMR1.
    let pcr: serde_json::Value =
        serde_json::from_str(&ok(rvkit_in(d, &["pcr", "replay", "ccel.bin", "--tdx=pcr", "--json"])))
            .unwrap();
    assert_eq!(pcr["rtmrs"]["rtmr2"], "0".repeat(96));
}

#[test]
fn corrupt_event_logs_exit_2_naming_offset_and_field() {
    let dir = tempdir();
    let d = dir.path();
    let mut header = Vec::new();
    let mut spec = b"Spec ID Event03\0".to_vec();
    spec.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 2, 1, 0, 0, 0, 0x0b, 0, 32, 0, 0]);
    header.extend_from_slice(&[0, 0, 0, 0, 3, 0, 0, 0]);
    header.extend_from_slice(&[0; 20]);
    header.extend_from_slice(&(spec.len() as u32).to_le_bytes());
    header.extend_from_slice(&spec);
    let event = |alg: u16, size: u32, data: &[u8]| {
        let mut e = vec![7, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0];
        e.extend_from_slice(&alg.to_le_bytes());
        e.extend_from_slice(&[0; 32]);
        e.extend_from_slice(&size.to_le_bytes());
        e.extend_from_slice(data);
        e
    };
    let at = header.len();
    let mut unknown_header = header.clone();
    unknown_header[60] = 0x12;
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        (
            "truncated.bin",
            [header.clone(), event(0x0b, 4, &[0; 4])].concat()[..at + 30].to_vec(),
            format!("offset {}", at + 14),
        ),
        (
            "unknown-alg.bin",
            [header.clone(), event(0x12, 4, &[0; 4])].concat(),
            format!("unknown algorithm id 0x0012 in digest algorithmId at offset {}", at + 12),
        ),
        (
            "unknown-bank.bin",
            unknown_header,
            "unknown algorithm id 0x0012 in Spec ID digestSizes algorithmId at offset 60".to_owned(),
        ),
        (
            "huge-data.bin",
            [header.clone(), event(0x0b, 0x7fff_ffff, &[0; 4])].concat(),
            format!("event data at offset {} declares 2147483647 bytes, but only 4 remain", at + 46),
        ),
        ("not-a-log.bin", b"hello world, this is not an event log at all".to_vec(), "offset".to_owned()),
        ("empty.bin", Vec::new(), "offset 0".to_owned()),
    ];
    for (name, bytes, needle) in cases {
        fs::write(d.join(name), bytes).unwrap();
        for extra in [&[][..], &["--json"], &["--tdx"], &["--expect", "none.yaml"]] {
            let mut args = vec!["pcr", "replay", name];
            args.extend_from_slice(extra);
            let stderr = fails(rvkit_in(d, &args), 2);
            assert!(stderr.contains(name) && stderr.contains(&needle), "{name} {extra:?}: {stderr}");
        }
    }
}

const PCR3: &str = "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969";

fn doc(tag: &str) -> String {
    format!("algorithm = \"sha256\"\nversion = \"0.1.0\"\n\n[data]\n\"aa.toml\" = '''\n# {tag}\n'''\n")
}

/// The operator's policy shape as `oc get configmap -o yaml` prints it,
/// holding rvkit's built-in peer-pods policy (written in that style).
fn policy_configmap() -> String {
    let body: String = rvkit_policy::PEER_PODS_POLICY
        .lines()
        .map(|l| if l.is_empty() { "\n".to_owned() } else { format!("    {l}\n") })
        .collect();
    format!(
        "apiVersion: v1\ndata:\n  default_cpu.rego: |\n{body}kind: ConfigMap\nmetadata:\n  creationTimestamp: \"2026-05-01T10:00:00Z\"\n  name: trusteeconfig-attestation-policy-cpu\n  namespace: trustee-operator-system\n  resourceVersion: \"4242\"\n  uid: 0b0c7a4e-0000-4000-8000-000000000000\n"
    )
}

#[test]
fn check_gives_the_verdict_for_a_software_tpm_and_names_failed_comparisons() {
    let tools = ["swtpm", "tpm2_pcrextend", "tpm2_pcrread", "sha256sum"];
    if !have_tools("check_gives_the_verdict", &tools) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    fs::write(d.join("a.toml"), doc("a")).unwrap();
    fs::write(d.join("b.toml"), doc("b")).unwrap();
    fs::write(d.join("policy.yaml"), policy_configmap()).unwrap();
    // A vTPM as a podvm leaves it: a separator in PCR 3, some boot
    // measurements in 9, 11, 12, and the initdata digest (coreutils) in 8.
    let tpm = Swtpm::start();
    let sum = |what: &str| {
        String::from_utf8(bash(d, &format!("{what} | sha256sum | cut -c1-64"))).unwrap().trim().to_owned()
    };
    tpm.extend_sha256(3, &sum("printf '\\0\\0\\0\\0'"));
    for (pcr, what) in [(9, "kernel"), (11, "uki"), (12, "cmdline")] {
        tpm.extend_sha256(pcr, &sum(&format!("printf {what}")));
    }
    tpm.extend_sha256(8, &sum("cat a.toml"));
    let read = tpm.tool("tpm2_pcrread").arg("sha256:3,8,9,11,12").output().unwrap();
    assert!(read.status.success());
    fs::write(d.join("pcrs.yaml"), &read.stdout).unwrap();
    assert_eq!(tpm.read_sha256(3), PCR3);
    let m: String = [3u8, 9, 11, 12]
        .iter()
        .map(|p| format!("\"pcr{p:02}\":\"0x{}\"", tpm.read_sha256(*p)))
        .collect::<Vec<_>>()
        .join(",");
    fs::write(d.join("m.json"), format!("{{\"measurements\":{{\"sha256\":{{{m}}}}}}}")).unwrap();
    for format in ["array", "kv"] {
        let out = format!("rv-{format}.yaml");
        ok(rvkit_in(
            d,
            &[
                "rvps",
                "emit",
                "--measurements",
                "m.json",
                "--initdata",
                "a.toml",
                "--format",
                format,
                "--configmap",
                "-o",
                &out,
            ],
        ));
        // Trustee's verdict: affirming, for both ConfigMap formats, with the
        // built-in policy and with the policy ConfigMap.
        for policy in [&["--policy", "policy.yaml"][..], &[]] {
            let mut args = vec!["rvps", "check", "--claims", "pcrs.yaml", "--reference-values", &out];
            args.extend_from_slice(policy);
            let text = ok(rvkit_in(d, &args));
            assert!(
                text.starts_with("verdict: affirming (configuration 2, executables 3, hardware 2)"),
                "{text}"
            );
            assert!(text.contains("5 comparisons, 0 failed"), "{text}");
        }
    }
    // The pod used b.toml, which the reference values do not list.
    let tpm = Swtpm::start();
    tpm.extend_sha256(3, &sum("printf '\\0\\0\\0\\0'"));
    for (pcr, what) in [(9, "kernel"), (11, "uki"), (12, "other-cmdline")] {
        tpm.extend_sha256(pcr, &sum(&format!("printf {what}")));
    }
    tpm.extend_sha256(8, &sum("cat b.toml"));
    let read = tpm.tool("tpm2_pcrread").arg("sha256:3,8,9,11,12").output().unwrap();
    fs::write(d.join("pcrs-b.yaml"), &read.stdout).unwrap();
    let out = rvkit_in(
        d,
        &[
            "rvps",
            "check",
            "--claims",
            "pcrs-b.yaml",
            "--reference-values",
            "rv-kv.yaml",
            "--policy",
            "policy.yaml",
            "--initdata",
            "a.toml",
            "b.toml",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["verdict"]["status"], "warning");
    assert_eq!(report["verdict"]["trust_vector"]["executables"], 33);
    let failed = report["failed"].as_array().unwrap();
    let names: Vec<&str> = failed.iter().map(|f| f["reference"].as_str().unwrap()).collect();
    assert_eq!(names, ["snp_pcr08", "snp_pcr12"]);
    assert_eq!(failed[0]["claim"], "input[\"az-snp-vtpm\"].tpm.pcr08");
    assert_eq!(failed[0]["value"], tpm.read_sha256(8));
    let hint = failed[0]["hints"][0].as_str().unwrap();
    assert!(hint.contains("PCR8 of initdata b.toml") && hint.contains("--initdata b.toml"), "{hint}");
    // The allowed value is what the first TPM held for PCR 12.
    let allowed = failed[1]["allowed"][0].as_str().unwrap().to_owned();
    let want = {
        let first = sum("printf cmdline");
        let z = "0".repeat(64);
        String::from_utf8(bash(d, &format!("printf '{z}{first}' | xxd -r -p | sha256sum | cut -c1-64")))
            .unwrap()
            .trim()
            .to_owned()
    };
    assert_eq!(allowed, want);
}

#[test]
fn check_reads_ear_tokens_and_reports_the_dummy_initdata() {
    use base64::Engine as _;
    let dir = tempdir();
    let d = dir.path();
    fs::write(d.join("a.toml"), doc("a")).unwrap();
    let m = format!("{{\"measurements\":{{\"sha256\":{{\"pcr03\":\"{PCR3}\"}}}}}}");
    fs::write(d.join("m.json"), m).unwrap();
    ok(rvkit_in(d, &["rvps", "emit", "--measurements", "m.json", "--initdata", "a.toml", "-o", "rv.json"]));
    // An EAR token as Trustee issues it (signature not checked): the
    // annotated evidence of submodule cpu0 is what the policy saw.
    let evidence = serde_json::json!({
        "az-tdx-vtpm": {"tpm": {"pcr03": PCR3, "pcr08": rvkit_initdata::DUMMY_PCR8_HEX}, "quote": {"header": {"tee_type": "81000000"}, "body": {"xfam": "e718060000000000"}}},
        "init_data": rvkit_initdata::DUMMY_PCR8_HEX,
    });
    let payload = serde_json::json!({"eat_profile": "tag:github.com,2023:veraison/ear", "iat": 1, "submods": {"cpu0": {"ear.status": "warning", "ear.veraison.annotated-evidence": evidence}}});
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    fs::write(
        d.join("token.jwt"),
        format!("{}.{}.{}\n", b64(r#"{"alg":"ES256","typ":"JWT"}"#), b64(&payload.to_string()), b64("sig")),
    )
    .unwrap();
    let out = rvkit_in(d, &["rvps", "check", "--claims", "token.jwt", "--reference-values", "rv.json"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("claims: token.jwt (az-tdx-vtpm)"), "{text}");
    assert!(
        text.contains("hint: pcr08 matches the dummy initdata: the pod has no initdata annotation"),
        "{text}"
    );
    assert!(text.contains("hint: the claims have no input[\"az-tdx-vtpm\"].tpm.pcr09"), "{text}");
    assert!(text.contains("hint: there is no reference value named \"xfam\""), "{text}");
}

#[test]
fn coverage_diff_and_merge_work_on_configmaps_of_both_formats() {
    let dir = tempdir();
    let d = dir.path();
    fs::write(d.join("a.toml"), doc("a")).unwrap();
    fs::write(d.join("policy.yaml"), policy_configmap()).unwrap();
    let m = |p9: &str| {
        format!(
            "{{\"measurements\":{{\"sha256\":{{\"pcr03\":\"{PCR3}\",\"pcr09\":\"{p9}\",\"pcr11\":\"{}\"}}}}}}",
            "11".repeat(32)
        )
    };
    fs::write(d.join("old.json"), m(&"09".repeat(32))).unwrap();
    fs::write(d.join("new.json"), m(&"19".repeat(32))).unwrap();
    let emit = |measurements: &str, format: &str, out: &str, exp: &str| {
        ok(rvkit_in(
            d,
            &[
                "rvps",
                "emit",
                "--measurements",
                measurements,
                "--initdata",
                "a.toml",
                "--format",
                format,
                "--configmap",
                "--expiration",
                exp,
                "-o",
                out,
            ],
        ));
    };
    emit("old.json", "array", "old-array.yaml", "9098-01-01T00:00:00Z");
    emit("new.json", "kv", "new-kv.yaml", "9099-01-01T00:00:00Z");

    // Coverage: the az-snp-vtpm rules read five names; pcr12 is missing.
    let cov: serde_json::Value = serde_json::from_str(&ok(rvkit_in(
        d,
        &[
            "rvps",
            "coverage",
            "--policy",
            "policy.yaml",
            "--reference-values",
            "new-kv.yaml",
            "--tee",
            "az-snp-vtpm",
            "--json",
        ],
    )))
    .unwrap();
    assert_eq!(cov["missing"], serde_json::json!(["snp_pcr12"]));
    assert_eq!(cov["present"], serde_json::json!(["snp_pcr03", "snp_pcr08", "snp_pcr09", "snp_pcr11"]));
    assert_eq!(cov["unused"], serde_json::json!(["tdx_pcr03", "tdx_pcr08", "tdx_pcr09", "tdx_pcr11"]));
    let out = rvkit_in(
        d,
        &[
            "rvps",
            "coverage",
            "--policy",
            "policy.yaml",
            "--reference-values",
            "old-array.yaml",
            "--fail-on-missing",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("missing: snp_pcr12 tdx_pcr12 xfam"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Diff across formats: pcr09 changed value, every expiration moved.
    let text = ok(rvkit_in(d, &["rvps", "diff", "old-array.yaml", "new-kv.yaml"]));
    assert!(
        text.contains(&format!(
            "~ snp_pcr09\n    + {}\n    - {}\n    expiration 9098-01-01T00:00:00Z -> 9099-01-01T00:00:00Z\n",
            "19".repeat(32),
            "09".repeat(32)
        )),
        "{text}"
    );
    assert!(text.ends_with("0 added, 0 removed, 8 changed\n"), "{text}");
    assert_eq!(
        ok(rvkit_in(d, &["rvps", "diff", "old-array.yaml", "old-array.yaml", "--fail-on-change"])),
        "0 added, 0 removed, 0 changed\n"
    );
    let out = rvkit_in(d, &["rvps", "diff", "old-array.yaml", "new-kv.yaml", "--json", "--fail-on-change"]);
    assert_eq!(out.status.code(), Some(1));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["changed"].as_array().unwrap().len(), 8);

    // Merge: both releases in one set, names it did not compute kept,
    // latest expiration, written as a kv ConfigMap that reads back.
    fs::write(d.join("extra.json"), r#"[{"name":"mr_td","expiration":"9097-01-01T00:00:00Z","value":["abcd"]},{"name":"xfam","expiration":"9097-01-01T00:00:00Z","value":["e718060000000000"]}]"#).unwrap();
    let out = rvkit_in(
        d,
        &[
            "rvps",
            "merge",
            "old-array.yaml",
            "new-kv.yaml",
            "extra.json",
            "--format",
            "kv",
            "--configmap",
            "-o",
            "merged.yaml",
        ],
    );
    assert_eq!(ok(out), "");
    let merged = fs::read_to_string(d.join("merged.yaml")).unwrap();
    assert!(
        merged.contains("  name: trusteeconfig-rvps-reference-values\n")
            && merged.contains("  reference_value: |\n"),
        "{merged}"
    );
    let back: serde_json::Value =
        serde_json::from_str(&ok(rvkit_in(d, &["rvps", "diff", "old-array.yaml", "merged.yaml", "--json"])))
            .unwrap();
    let added: Vec<&str> =
        back["added"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(added, ["mr_td", "xfam"]);
    let pcr9 = back["changed"].as_array().unwrap().iter().find(|c| c["name"] == "snp_pcr09").unwrap();
    assert_eq!(pcr9["values_added"], serde_json::json!(["19".repeat(32)]));
    assert_eq!(pcr9["values_removed"], serde_json::json!([]));
    assert_eq!(pcr9["expiration"]["new"], "9099-01-01T00:00:00Z");

    // A name whose values differ in kind is refused, and nothing is written.
    fs::write(
        d.join("conflict.json"),
        r#"[{"name":"mr_td","expiration":"9097-01-01T00:00:00Z","value":"abcd"}]"#,
    )
    .unwrap();
    let stderr = fails(rvkit_in(d, &["rvps", "merge", "extra.json", "conflict.json", "-o", "never.json"]), 2);
    assert!(
        stderr.contains("mr_td")
            && stderr.contains("an array in extra.json")
            && stderr.contains("a string in conflict.json"),
        "{stderr}"
    );
    assert!(!d.join("never.json").exists());
}

#[test]
fn bad_policies_claims_and_reference_values_exit_2_without_output() {
    let dir = tempdir();
    let d = dir.path();
    fs::write(
        d.join("rv.json"),
        format!(
            "[{{\"name\":\"snp_pcr03\",\"expiration\":\"9030-01-01T00:00:00Z\",\"value\":[\"{PCR3}\"]}}]"
        ),
    )
    .unwrap();
    fs::write(d.join("claims.json"), format!("{{\"az-snp-vtpm\":{{\"tpm\":{{\"pcr03\":\"{PCR3}\"}}}}}}"))
        .unwrap();
    fs::write(d.join("broken.rego"), "package policy\n\nimport rego.v1\n\nallow if {\n  input.x ==\n")
        .unwrap();
    fs::write(d.join("unknown-tee.json"), "{\"az-sev-vtpm\":{\"tpm\":{}}}").unwrap();
    fs::write(d.join("not-rv.json"), "{\"snp_pcr03\": 3}").unwrap();
    fs::write(d.join("cm-no-rego.yaml"), "apiVersion: v1\nkind: ConfigMap\ndata:\n  notes.txt: hello\n")
        .unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "rvps",
                "check",
                "--claims",
                "claims.json",
                "--reference-values",
                "rv.json",
                "--policy",
                "broken.rego",
            ],
            "broken.rego: policy does not parse",
        ),
        (
            &["rvps", "check", "--claims", "unknown-tee.json", "--reference-values", "rv.json"],
            "unknown TEE \"az-sev-vtpm\"",
        ),
        (
            &[
                "rvps",
                "check",
                "--claims",
                "claims.json",
                "--reference-values",
                "rv.json",
                "--tee",
                "az-sev-vtpm",
            ],
            "unknown TEE \"az-sev-vtpm\"",
        ),
        (&["rvps", "check", "--claims", "claims.json", "--reference-values", "not-rv.json"], "not-rv.json"),
        (
            &[
                "rvps",
                "check",
                "--claims",
                "claims.json",
                "--reference-values",
                "rv.json",
                "--policy",
                "cm-no-rego.yaml",
            ],
            "default_cpu.rego",
        ),
        (
            &["rvps", "coverage", "--policy", "broken.rego", "--reference-values", "rv.json"],
            "policy does not parse",
        ),
        (&["rvps", "coverage", "--reference-values", "rv.json", "--tee", "vtpm"], "unknown TEE \"vtpm\""),
        (&["rvps", "diff", "rv.json", "missing.json"], "missing.json"),
        (&["rvps", "diff", "rv.json", "not-rv.json"], "not-rv.json"),
    ];
    for (args, needle) in cases {
        let stderr = fails(rvkit_in(d, args), 2);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

/// The raw `r || s` (32 bytes each) of a DER ECDSA signature, as JWS wants it.
fn jws_signature(der: &[u8]) -> Vec<u8> {
    assert_eq!(der[0], 0x30, "a DER SEQUENCE");
    let mut i = 2;
    let mut out = Vec::new();
    for _ in 0..2 {
        assert_eq!(der[i], 0x02, "a DER INTEGER");
        let len = der[i + 1] as usize;
        let int = &der[i + 2..i + 2 + len];
        let int = &int[int.len().saturating_sub(32)..];
        out.extend(std::iter::repeat_n(0u8, 32 - int.len()));
        out.extend_from_slice(int);
        i += 2 + len;
    }
    out
}

/// EAR tokens signed by OpenSSL as Trustee's token broker signs them (ES256,
/// the signer's key in the `jwk` header) verify with the signer's
/// certificate, its public key or its TLS Secret; any change, another key,
/// another algorithm is refused with exit 1 before the policy is evaluated.
#[test]
fn ear_token_signatures_are_verified_with_the_token_signer_certificate() {
    use base64::Engine as _;
    let b64 = |s: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    if !have_tools("ear_token_signatures_are_verified_with_the_token_signer_certificate", &["openssl"]) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    fs::write(d.join("a.toml"), doc("a")).unwrap();
    fs::write(d.join("m.json"), format!("{{\"measurements\":{{\"sha256\":{{\"pcr03\":\"{PCR3}\"}}}}}}"))
        .unwrap();
    ok(rvkit_in(d, &["rvps", "emit", "--measurements", "m.json", "--initdata", "a.toml", "-o", "rv.json"]));
    // The walkthrough's token signer: ECDSA P-256, self-signed, DNS kbs-service.
    for (key, cert) in [("token.key", "token.crt"), ("other.key", "other.crt")] {
        bash(
            d,
            &format!(
                "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout {key} \
                 -out {cert} -days 30 -subj /CN=kbs-service -addext subjectAltName=DNS:kbs-service 2>/dev/null\n\
                 openssl pkey -in {key} -pubout -out {key}.pub"
            ),
        );
    }
    bash(
        d,
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout rsa.key -out rsa.crt -days 30 -subj /CN=x 2>/dev/null",
    );
    let spki = bash(d, "openssl pkey -in token.key -pubout -outform DER");
    let point = &spki[spki.len() - 65..];
    let jwk = serde_json::json!({"kty": "EC", "crv": "P-256", "alg": "ES256", "x": b64(&point[1..33]), "y": b64(&point[33..])});
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let token_at = |alg: &str, iat: i64, exp: i64, pcr03: &str, key: &str| {
        let header = serde_json::json!({"alg": alg, "typ": "JWT", "jwk": jwk});
        let evidence = serde_json::json!({"az-snp-vtpm": {"tpm": {"pcr03": pcr03}}, "init_data": "00"});
        let payload = serde_json::json!({"eat_profile": "tag:github.com,2024:confidential-containers/Trustee", "iat": iat, "exp": exp, "submods": {"cpu0": {"ear.status": "affirming", "ear.veraison.annotated-evidence": evidence}}});
        let signed =
            format!("{}.{}", b64(header.to_string().as_bytes()), b64(payload.to_string().as_bytes()));
        fs::write(d.join("signed.txt"), &signed).unwrap();
        let der = bash(d, &format!("openssl dgst -sha256 -sign {key} signed.txt"));
        format!("{signed}.{}\n", b64(&jws_signature(&der)))
    };
    let token = |alg: &str, exp: i64, pcr03: &str, key: &str| token_at(alg, now - 60, exp, pcr03, key);
    fn check_args(cert: &str) -> [&str; 8] {
        ["rvps", "check", "--claims", "token.jwt", "--reference-values", "rv.json", "--token-cert", cert]
    }
    let check = |token: &str, cert: &str| {
        fs::write(d.join("token.jwt"), token).unwrap();
        rvkit_in(d, &check_args(cert))
    };
    let secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: trustee-token-cert\ntype: kubernetes.io/tls\ndata:\n  tls.crt: {}\n",
        base64::engine::general_purpose::STANDARD.encode(fs::read(d.join("token.crt")).unwrap())
    );
    fs::write(d.join("secret.yaml"), secret).unwrap();

    let good = token("ES256", now + 300, PCR3, "token.key");
    for cert in ["token.crt", "token.key.pub", "secret.yaml"] {
        let out = check(&good, cert);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            text.contains(&format!("token: ES256 signature verified with {cert}; issued ")),
            "{cert}: {text}"
        );
        assert!(!text.contains("(expired)"), "{text}");
        assert!(text.contains("verdict: "), "the policy was evaluated: {text}");
    }
    let out = check(&token("ES256", now - 10, PCR3, "token.key"), "token.crt");
    assert!(String::from_utf8_lossy(&out.stdout).contains("(expired)"));
    // The whole report, text and JSON, for a token with fixed times (issued
    // 2023-11-14, expires 9033-05-18: a date no calendar reaches, see
    // `util::EXPIRATION`).
    fs::write(d.join("token.jwt"), token_at("ES256", 1_700_000_000, 222_898_620_800, PCR3, "token.key"))
        .unwrap();
    let args = check_args("token.crt");
    insta::assert_snapshot!("rvps_check_token", crate::reports::run(d, &args));
    insta::assert_snapshot!(
        "rvps_check_token_json",
        crate::reports::run(d, &[&args[..], &["--json"]].concat())
    );

    // A claim changed after signing.
    let tampered = {
        let parts: Vec<&str> = good.trim().split('.').collect();
        let other = token("ES256", now + 300, &"ab".repeat(32), "token.key");
        let other_payload = other.split('.').nth(1).unwrap().to_owned();
        format!("{}.{}.{}", parts[0], other_payload, parts[2])
    };
    let refused = [
        (tampered, "token.crt", "signature does not verify with the given key"),
        (good.clone(), "other.crt", "header jwk names another signing key"),
        (token("ES256", now + 300, PCR3, "other.key"), "token.crt", "signature does not verify"),
        (
            good.replacen(&good[..good.find('.').unwrap()], &b64(br#"{"alg":"HS256","typ":"JWT"}"#), 1),
            "token.crt",
            "is signed with HS256",
        ),
    ];
    for (t, cert, why) in &refused {
        let stderr = fails(check(t, cert), 1);
        assert!(stderr.contains(why) && stderr.contains("token.jwt"), "{why}: {stderr}");
    }
    // Keys that cannot verify an EAR token, and claims that are not one.
    for (cert, why) in [("token.key", "holds a private key"), ("rsa.crt", "not an ECDSA P-256 key")] {
        let stderr = fails(check(&good, cert), 2);
        assert!(stderr.contains(why) && stderr.contains(cert), "{stderr}");
    }
    fs::write(d.join("claims.json"), format!("{{\"az-snp-vtpm\":{{\"tpm\":{{\"pcr03\":\"{PCR3}\"}}}}}}"))
        .unwrap();
    let stderr = fails(
        rvkit_in(
            d,
            &[
                "rvps",
                "check",
                "--claims",
                "claims.json",
                "--reference-values",
                "rv.json",
                "--token-cert",
                "token.crt",
            ],
        ),
        2,
    );
    assert!(stderr.contains("--token-cert verifies EAR tokens"), "{stderr}");
}

/// The trustee-operator's default policy (see crates/policy/tests/data/README.md):
/// its TDX helper rules compare event digests, not claims of a named TEE.
const OPERATOR_POLICY: &str =
    include_str!("../../crates/policy/tests/data/trustee-operator-default-cpu.rego");

#[test]
fn coverage_of_the_operators_default_policy_attributes_helper_rules_to_their_tee() {
    let dir = tempdir();
    let d = dir.path();
    fs::write(d.join("operator.rego"), OPERATOR_POLICY).unwrap();
    fs::write(d.join("a.toml"), doc("a")).unwrap();
    fs::write(
        d.join("m.json"),
        format!(
            "{{\"measurements\":{{\"sha256\":{{\"pcr03\":\"{PCR3}\",\"pcr09\":\"{}\",\"pcr11\":\"{}\",\"pcr12\":\"{}\"}}}}}}",
            "09".repeat(32),
            "11".repeat(32),
            "12".repeat(32)
        ),
    )
    .unwrap();
    ok(rvkit_in(
        d,
        &[
            "rvps",
            "emit",
            "--measurements",
            "m.json",
            "--initdata",
            "a.toml",
            "--pcr-prefixes",
            "snp",
            "--expiration",
            "9099-01-01T00:00:00Z",
            "-o",
            "rv.json",
        ],
    ));
    let coverage = |tee: &str| {
        rvkit_in(
            d,
            &[
                "rvps",
                "coverage",
                "--policy",
                "operator.rego",
                "--reference-values",
                "rv.json",
                "--tee",
                tee,
                "--fail-on-missing",
            ],
        )
    };
    // A complete az-snp-vtpm set passes: tdvfkernel and tdvfkernelparams
    // are read by rules that read only input.tdx.
    assert_eq!(
        ok(coverage("az-snp-vtpm")),
        "policy: operator.rego (Rego)\n\
         queried by az-snp-vtpm rules: snp_pcr03 snp_pcr08 snp_pcr09 snp_pcr11 snp_pcr12\n\
         present: snp_pcr03 snp_pcr08 snp_pcr09 snp_pcr11 snp_pcr12\n\
         missing: (none)\n\
         unused: (none)\n"
    );
    // For tdx they are queried, and missing from this set.
    let out = coverage("tdx");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "policy: operator.rego (Rego)\n\
         queried by tdx rules: rtmr_1 rtmr_2 mr_td xfam tdvfkernel tdvfkernelparams\n\
         present: (none)\n\
         missing: rtmr_1 rtmr_2 mr_td xfam tdvfkernel tdvfkernelparams\n\
         unused: snp_pcr03 snp_pcr08 snp_pcr09 snp_pcr11 snp_pcr12\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: the policy queries 6 name(s) the reference values lack\n"
    );
}
