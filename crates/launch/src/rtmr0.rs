//! RTMR0 of a TD that OVMF boots directly (QEMU `-kernel`): what the
//! firmware measures into PCRs 1 and 7, which TDVF maps to RTMR0.
//!
//! The events, in order, from EDK II's TDX code (`TdxHelperMeasureTdHob`
//! and `TdxHelperMeasureCfvImage` in SEC; `TdTcg2Dxe` `MeasureSecureBootPolicy`
//! and `OnReadyToBoot`; `QemuFwCfgAcpi.c` `InstallQemuFwCfgTables` and
//! `ProcessCmdAllocate`):
//!
//! 1. the TD HOB QEMU hands the firmware, up to its end-of-list HOB;
//! 2. the configuration firmware volume (CFV: the variable store);
//! 3. the Secure Boot policy variables SecureBoot, PK, KEK, db, dbx, each as
//!    a `UEFI_VARIABLE_DATA`, then a separator;
//! 4. QEMU's ACPI linker script `etc/table-loader`, then each fw_cfg file it
//!    allocates, in the order of its ALLOCATE commands;
//! 5. at ReadyToBoot the boot variables, each digest over the data alone:
//!    BootOrder (`0000`) and Boot0000, the UiApp option OVMF registers
//!    before it starts a kernel given with `-kernel`.
//!
//! What cannot be derived from the artifacts is an input: QEMU's fw_cfg
//! ACPI files (read them in a booted guest under
//! `/sys/firmware/qemu_fw_cfg/by_name/NAME/raw`), and optionally the TD HOB,
//! which is otherwise built from the TDVF sections and the memory size as
//! QEMU builds it (`hw/i386/tdvf-hob.c`, `tdx_accept_ram_range` in
//! `target/i386/kvm/tdx.c`). The variable store is taken to hold no
//! enrolled keys and no boot entries, as the TDVF builds ship it.

use std::collections::BTreeMap;

use rvkit_pcr::HashAlg;
use rvkit_pcr::uefi::{EFI_GLOBAL_VARIABLE, EFI_IMAGE_SECURITY_DATABASE, variable_data};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::ovmf::{Firmware, Guid, PAGE_SIZE};
use crate::tdx::RtmrEvent;

/// What the firmware's `SecureBoot` variable reads when it measures the
/// Secure Boot policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SecureBootVariable {
    /// Not set: the firmware is built without Secure Boot (TDVF's own
    /// build, `OVMF.inteltdx.fd`).
    #[default]
    #[serde(rename = "absent")]
    Absent,
    /// One byte, 0: the firmware supports Secure Boot and no keys are
    /// enrolled (`OvmfPkgX64`'s `OVMF.fd`).
    #[serde(rename = "0")]
    Zero,
}

impl std::str::FromStr for SecureBootVariable {
    type Err = String;
    fn from_str(s: &str) -> Result<SecureBootVariable, String> {
        match s {
            "absent" => Ok(SecureBootVariable::Absent),
            "0" => Ok(SecureBootVariable::Zero),
            _ => Err(format!("{s:?}: expected absent or 0")),
        }
    }
}

/// The files RTMR0 is computed from besides the firmware, read.
#[derive(Clone, Debug, Default)]
pub struct Rtmr0Files<'a> {
    /// QEMU's fw_cfg files by name: `etc/table-loader` and each file it allocates.
    pub fw_cfg: BTreeMap<&'a str, &'a [u8]>,
    /// The TD HOB as QEMU wrote it; `None` builds it from the memory size.
    pub td_hob: Option<&'a [u8]>,
}

/// The linker script's name in fw_cfg.
pub const TABLE_LOADER: &str = "etc/table-loader";

/// The RTMR0 events of a direct kernel boot of a guest with `memory_mib`
/// MiB (QEMU `-m`, for the TD HOB built here) whose `SecureBoot` variable
/// reads `secure_boot`.
pub fn rtmr0_events(
    fw: &Firmware<'_>,
    files: &Rtmr0Files<'_>,
    memory_mib: u64,
    secure_boot: SecureBootVariable,
) -> Result<Vec<RtmrEvent>, Error> {
    let sha384 = |b: &[u8]| HashAlg::Sha384.hash(b);
    let event = |description: String, digest| RtmrEvent { description, digest };
    let mut events = Vec::new();
    let hob = match files.td_hob {
        Some(given) => {
            events.push(event("TD HOB (given)".into(), sha384(measured_hob(given)?)));
            None
        }
        None => Some(td_hob(fw, memory_mib)?),
    };
    if let Some(hob) = hob {
        let description = format!("TD HOB ({memory_mib} MiB of memory, built as QEMU does)");
        events.push(event(description, sha384(&hob)));
    }
    let data = fw.data().ok_or(Error::PartialImage)?;
    let cfv = fw.tdvf_sections().iter().find(|s| s.kind == 1).ok_or(Error::MissingTdvfSection("CFV"))?;
    let start = cfv.data_offset as usize;
    // The parser checked that the raw bytes lie within the file.
    let cfv_bytes = &data[start..start + cfv.raw_size as usize];
    check_variable_store(cfv_bytes)?;
    events.push(event(
        format!("CFV ({:#x} bytes at offset {:#x})", cfv.raw_size, cfv.data_offset),
        sha384(cfv_bytes),
    ));
    let secure_boot: &[u8] = match secure_boot {
        SecureBootVariable::Absent => &[],
        SecureBootVariable::Zero => &[0],
    };
    let variables: [(&[u8; 16], &str, &[u8]); 5] = [
        (&EFI_GLOBAL_VARIABLE, "SecureBoot", secure_boot),
        (&EFI_GLOBAL_VARIABLE, "PK", &[]),
        (&EFI_GLOBAL_VARIABLE, "KEK", &[]),
        (&EFI_IMAGE_SECURITY_DATABASE, "db", &[]),
        (&EFI_IMAGE_SECURITY_DATABASE, "dbx", &[]),
    ];
    for (guid, name, value) in variables {
        let description = format!("variable {name} ({} bytes)", value.len());
        events.push(event(description, sha384(&variable_data(guid, name, value))));
    }
    events.push(event("separator".into(), sha384(&[0; 4])));
    let loader = files.fw_cfg.get(TABLE_LOADER).ok_or(Error::MissingFwCfg { name: TABLE_LOADER.into() })?;
    events.push(event(format!("fw_cfg {TABLE_LOADER}"), sha384(loader)));
    for name in table_loader_allocations(loader)? {
        let blob =
            files.fw_cfg.get(name.as_str()).ok_or_else(|| Error::MissingFwCfg { name: name.clone() })?;
        events.push(event(format!("fw_cfg {name}"), sha384(blob)));
    }
    events.push(event("variable BootOrder (0000)".into(), sha384(&[0, 0])));
    events.push(event("variable Boot0000 (UiApp)".into(), sha384(&ui_app_boot_option())));
    Ok(events)
}

/// Checks that the CFV is an EDK II variable store (a firmware volume whose
/// header is followed by a VARIABLE_STORE_HEADER, MdeModulePkg
/// `Guid/VariableFormat.h`) holding none of the variables the events above
/// take as absent: Secure Boot keys (PK, KEK, db, dbx, dbt) and boot
/// entries (BootOrder, Boot####). Firmware that ships them measures other
/// values, which are not modelled.
pub fn check_variable_store(cfv: &[u8]) -> Result<(), Error> {
    const AUTHENTICATED: Guid =
        Guid::new(0xaaf32c78, 0x947b, 0x439a, [0xa1, 0x80, 0x2e, 0x14, 0x4e, 0xc3, 0x77, 0x92]);
    const PLAIN: Guid =
        Guid::new(0xddcf3616, 0x3275, 0x4164, [0x98, 0xb6, 0xfe, 0x85, 0x70, 0x7f, 0xfe, 0x7d]);
    const START_ID: u16 = 0x55aa;
    // VAR_ADDED, alone or with VAR_IN_DELETED_TRANSITION cleared as well.
    const LIVE: [u8; 2] = [0x3f, 0x3e];
    let bad = |problem: String| Error::VariableStore { problem };
    let u16_at = |at: usize| cfv.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |at: usize| cfv.get(at..at + 4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")));
    if cfv.get(40..44) != Some(b"_FVH".as_slice()) {
        return Err(bad("no firmware volume header (\"_FVH\" at offset 0x28)".into()));
    }
    let store = usize::from(u16_at(48).expect("checked above"));
    let signature = cfv.get(store..store + 16);
    let header_len = match signature {
        Some(g) if g == AUTHENTICATED.bytes() => 60,
        Some(g) if g == PLAIN.bytes() => 32,
        _ => return Err(bad(format!("no variable store header at offset {store:#x}"))),
    };
    let size = u32_at(store + 16).expect("the signature fits") as usize;
    let end = store.checked_add(size).filter(|&e| e <= cfv.len()).ok_or_else(|| {
        bad(format!("the store at offset {store:#x} claims {size} bytes, past the CFV's {}", cfv.len()))
    })?;
    let mut at = (store + 28).next_multiple_of(4);
    while at + header_len <= end && u16_at(at) == Some(START_ID) {
        let state = cfv[at + 2];
        let (name_size, data_size) = (
            u32_at(at + header_len - 24).expect("within the header") as usize,
            u32_at(at + header_len - 20).expect("within the header") as usize,
        );
        let name_at = at + header_len;
        let next = name_at
            .checked_add(name_size)
            .and_then(|n| n.checked_add(data_size))
            .filter(|&n| n <= end)
            .ok_or_else(|| bad(format!("the variable at offset {at:#x} runs past the store")))?;
        if LIVE.contains(&state) {
            let units: Vec<u16> = cfv[name_at..name_at + name_size]
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            let name = String::from_utf16_lossy(&units).trim_end_matches('\0').to_owned();
            let boot_entry = name.len() == 8
                && name.starts_with("Boot")
                && name[4..].chars().all(|c| c.is_ascii_hexdigit());
            if ["PK", "KEK", "db", "dbx", "dbt"].contains(&name.as_str()) {
                return Err(bad(format!(
                    "it enrolls Secure Boot keys ({name}), which RTMR0 here takes as absent"
                )));
            }
            if name == "BootOrder" || boot_entry {
                return Err(bad(format!("it holds boot entries ({name}), which RTMR0 here takes as absent")));
            }
        }
        at = next.next_multiple_of(4);
    }
    Ok(())
}

/// The load option OVMF registers for its setup utility before it starts a
/// kernel given with `-kernel` (`PlatformRegisterFvBootOption` in
/// `OvmfPkg/Library/PlatformBootManagerLib`): active, hidden, an
/// application; "UiApp"; the device path FV(DXEFV)/FvFile(UiApp), whose
/// GUIDs are the `FvNameGuid` of OVMF's DXEFV and UiApp's FILE_GUID.
fn ui_app_boot_option() -> Vec<u8> {
    const DXEFV: Guid =
        Guid::new(0x7cb8bdc9, 0xf8eb, 0x4f34, [0xaa, 0xea, 0x3e, 0xe4, 0xaf, 0x65, 0x16, 0xa1]);
    const UI_APP: Guid =
        Guid::new(0x462caa21, 0x7614, 0x4503, [0x83, 0x6e, 0x8a, 0xb6, 0xf4, 0x66, 0x23, 0x31]);
    // LOAD_OPTION_ACTIVE | LOAD_OPTION_HIDDEN | LOAD_OPTION_CATEGORY_APP.
    const ATTRIBUTES: u32 = 0x1 | 0x8 | 0x100;
    let mut path = Vec::new();
    // MEDIA_DEVICE_PATH, MEDIA_PIWG_FW_VOL_DP then MEDIA_PIWG_FW_FILE_DP, 20 bytes each.
    for (subtype, guid) in [(7u8, DXEFV), (6, UI_APP)] {
        path.extend_from_slice(&[4, subtype, 20, 0]);
        path.extend_from_slice(guid.bytes());
    }
    path.extend_from_slice(&[0x7f, 0xff, 4, 0]);
    let mut option = ATTRIBUTES.to_le_bytes().to_vec();
    option.extend_from_slice(&(path.len() as u16).to_le_bytes());
    option.extend("UiApp\0".encode_utf16().flat_map(u16::to_le_bytes));
    option.extend_from_slice(&path);
    option
}

/// The fw_cfg files QEMU's ACPI linker script allocates, in its order: the
/// script is 128-byte commands, ALLOCATE (1) naming a file of at most 55
/// bytes and NUL; OVMF skips commands it does not know, and refuses a file
/// allocated twice or aligned to more than a page.
pub fn table_loader_allocations(loader: &[u8]) -> Result<Vec<String>, Error> {
    const ENTRY: usize = 128;
    const NAME: usize = 56;
    let bad = |offset: usize, problem: String| Error::TableLoader { offset, problem };
    if !loader.len().is_multiple_of(ENTRY) {
        return Err(bad(0, format!("{} bytes are not whole 128-byte commands", loader.len())));
    }
    let mut names = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (i, cmd) in loader.chunks_exact(ENTRY).enumerate() {
        let offset = i * ENTRY;
        if u32::from_le_bytes(cmd[..4].try_into().expect("4 bytes")) != 1 {
            continue;
        }
        let file = &cmd[4..4 + NAME];
        let Some(len) = file.iter().position(|&b| b == 0) else {
            return Err(bad(offset, "ALLOCATE names a file without a terminating NUL".into()));
        };
        let name = std::str::from_utf8(&file[..len])
            .map_err(|_| bad(offset, "ALLOCATE names a file that is not UTF-8".into()))?
            .to_owned();
        let align = u32::from_le_bytes(cmd[4 + NAME..8 + NAME].try_into().expect("4 bytes"));
        if u64::from(align) > PAGE_SIZE {
            return Err(bad(
                offset,
                format!("ALLOCATE of {name} asks an alignment of {align:#x}, above a page"),
            ));
        }
        if !seen.insert(name.clone()) {
            return Err(bad(offset, format!("{name} is allocated twice")));
        }
        names.push(name);
    }
    Ok(names)
}

/// The bytes of a HOB list OVMF measures: the HOBs before the end-of-list HOB.
pub fn measured_hob(hob: &[u8]) -> Result<&[u8], Error> {
    const END_OF_HOB_LIST: u16 = 0xffff;
    let bad = |problem: String| Error::TdHob { problem };
    let mut at = 0;
    while let Some(header) = hob.get(at..at + 8) {
        let kind = u16::from_le_bytes([header[0], header[1]]);
        if kind == END_OF_HOB_LIST {
            return Ok(&hob[..at]);
        }
        let len = usize::from(u16::from_le_bytes([header[2], header[3]]));
        if len < 8 || at + len > hob.len() {
            return Err(bad(format!("the HOB at offset {at:#x} claims {len} bytes")));
        }
        at += len;
    }
    Err(bad(format!("no end-of-list HOB in {} bytes", hob.len())))
}

/// A RAM range of the guest as QEMU tracks it for TDX.
struct RamEntry {
    start: u64,
    len: u64,
    accepted: bool,
}

/// q35's RAM below 4 GiB for `memory` bytes: all of it up to 2.75 GiB,
/// else 2 GiB, the rest above 4 GiB (QEMU `hw/i386/pc_q35.c`).
pub(crate) fn q35_below_4g(memory: u64) -> u64 {
    let lowmem: u64 = if memory >= 0xb000_0000 { 0x8000_0000 } else { 0xb000_0000 };
    memory.min(lowmem)
}

/// The TD HOB QEMU writes at the TD_HOB section for a guest of `memory_mib`
/// MiB, up to its end-of-list HOB: a handoff-information HOB, then one
/// resource HOB per RAM range, address-ordered, the ranges of the TD_HOB
/// and TempMem sections as accepted system memory and the rest unaccepted.
pub fn td_hob(fw: &Firmware<'_>, memory_mib: u64) -> Result<Vec<u8>, Error> {
    let sections = fw.tdvf_sections();
    let base = sections.iter().find(|s| s.kind == 2).ok_or(Error::MissingTdvfSection("TD_HOB"))?.gpa;
    let memory =
        memory_mib.checked_mul(1 << 20).ok_or(Error::TdHob { problem: "memory too large".into() })?;
    let below = q35_below_4g(memory);
    let mut ram = vec![RamEntry { start: 0, len: below, accepted: false }];
    if memory > below {
        ram.push(RamEntry { start: 1 << 32, len: memory - below, accepted: false });
    }
    for s in sections.iter().filter(|s| matches!(s.kind, 2 | 3) && s.mem_size != 0) {
        let (start, end) = (s.gpa, s.gpa + s.mem_size);
        let Some(i) = ram.iter().position(|e| !e.accepted && e.start <= start && end <= e.start + e.len)
        else {
            return Err(Error::TdHob {
                problem: format!(
                    "the {} section {start:#x}-{end:#x} does not lie within unaccepted RAM of {memory_mib} MiB",
                    s.kind_name()
                ),
            });
        };
        let e = ram.remove(i);
        if start > e.start {
            ram.push(RamEntry { start: e.start, len: start - e.start, accepted: false });
        }
        ram.push(RamEntry { start, len: s.mem_size, accepted: true });
        if e.start + e.len > end {
            ram.push(RamEntry { start: end, len: e.start + e.len - end, accepted: false });
        }
    }
    ram.sort_by_key(|e| e.start);
    const HANDOFF: usize = 56;
    const RESOURCE: usize = 48;
    const END: usize = 8;
    let mut hob = Vec::with_capacity(HANDOFF + RESOURCE * ram.len());
    // EFI_HOB_HANDOFF_INFO_TABLE: version 9, boot mode 0, memory fields 0,
    // EfiEndOfHobList the address just past the end-of-list HOB.
    hob.extend_from_slice(&1u16.to_le_bytes());
    hob.extend_from_slice(&(HANDOFF as u16).to_le_bytes());
    hob.extend_from_slice(&[0; 4]);
    hob.extend_from_slice(&9u32.to_le_bytes());
    hob.extend_from_slice(&[0; 4 + 4 * 8]);
    let end = base + (HANDOFF + RESOURCE * ram.len() + END) as u64;
    hob.extend_from_slice(&end.to_le_bytes());
    for e in &ram {
        // EFI_HOB_RESOURCE_DESCRIPTOR: owner zero; system memory (0) or
        // unaccepted (7); present, initialized, tested (7).
        hob.extend_from_slice(&3u16.to_le_bytes());
        hob.extend_from_slice(&(RESOURCE as u16).to_le_bytes());
        hob.extend_from_slice(&[0; 4 + 16]);
        hob.extend_from_slice(&(if e.accepted { 0u32 } else { 7 }).to_le_bytes());
        hob.extend_from_slice(&7u32.to_le_bytes());
        hob.extend_from_slice(&e.start.to_le_bytes());
        hob.extend_from_slice(&e.len.to_le_bytes());
    }
    Ok(hob)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allocate(name: &str, align: u32) -> Vec<u8> {
        let mut cmd = vec![0u8; 128];
        cmd[0] = 1;
        cmd[4..4 + name.len()].copy_from_slice(name.as_bytes());
        cmd[60..64].copy_from_slice(&align.to_le_bytes());
        cmd
    }

    #[test]
    fn the_table_loader_names_its_allocations_in_order_and_refuses_what_ovmf_refuses() {
        let mut loader = allocate("etc/acpi/tables", 64);
        let mut pointer = vec![0u8; 128];
        pointer[0] = 2;
        loader.extend(&pointer);
        loader.extend(allocate("etc/acpi/rsdp", 16));
        assert_eq!(table_loader_allocations(&loader).unwrap(), ["etc/acpi/tables", "etc/acpi/rsdp"]);
        let bad = |offset, problem: &str| Err(Error::TableLoader { offset, problem: problem.into() });
        assert_eq!(
            table_loader_allocations(&loader[..100]),
            bad(0, "100 bytes are not whole 128-byte commands")
        );
        let mut twice = loader.clone();
        twice.extend(allocate("etc/acpi/rsdp", 16));
        assert_eq!(table_loader_allocations(&twice), bad(384, "etc/acpi/rsdp is allocated twice"));
        assert_eq!(
            table_loader_allocations(&allocate("x", 8192)),
            bad(0, "ALLOCATE of x asks an alignment of 0x2000, above a page")
        );
        let mut unterminated = allocate("", 1);
        unterminated[4..60].fill(b'a');
        assert_eq!(
            table_loader_allocations(&unterminated),
            bad(0, "ALLOCATE names a file without a terminating NUL")
        );
    }

    #[test]
    fn the_measured_hob_stops_before_the_end_of_list() {
        let mut hob = vec![1, 0, 16, 0, 0, 0, 0, 0, 9, 9, 9, 9, 9, 9, 9, 9];
        hob.extend_from_slice(&[0xff, 0xff, 8, 0, 0, 0, 0, 0]);
        hob.extend_from_slice(&[0xaa; 8]);
        assert_eq!(measured_hob(&hob).unwrap(), &hob[..16]);
        assert_eq!(
            measured_hob(&hob[..16]),
            Err(Error::TdHob { problem: "no end-of-list HOB in 16 bytes".into() })
        );
        hob[2] = 4;
        assert_eq!(
            measured_hob(&hob),
            Err(Error::TdHob { problem: "the HOB at offset 0x0 claims 4 bytes".into() })
        );
    }

    #[test]
    fn the_ui_app_option_is_the_one_ovmf_registers() {
        // EFI_LOAD_OPTION as OVMF writes Boot0000 (tdx-measure's direct-boot
        // constant, which it checked against booted TDs).
        assert_eq!(
            ui_app_boot_option(),
            [
                &[0x09, 0x01, 0x00, 0x00, 0x2c, 0x00][..],
                &[0x55, 0x00, 0x69, 0x00, 0x41, 0x00, 0x70, 0x00, 0x70, 0x00, 0x00, 0x00],
                &[0x04, 0x07, 0x14, 0x00, 0xc9, 0xbd, 0xb8, 0x7c, 0xeb, 0xf8, 0x34, 0x4f],
                &[0xaa, 0xea, 0x3e, 0xe4, 0xaf, 0x65, 0x16, 0xa1, 0x04, 0x06, 0x14, 0x00],
                &[0x21, 0xaa, 0x2c, 0x46, 0x14, 0x76, 0x03, 0x45, 0x83, 0x6e, 0x8a, 0xb6],
                &[0xf4, 0x66, 0x23, 0x31, 0x7f, 0xff, 0x04, 0x00],
            ]
            .concat()
        );
    }
}

#[cfg(test)]
mod booted_td {
    use super::*;

    /// RTMR0 events of a booted TD: the CC event log of a Dstack guest on
    /// Phala Cloud (direct kernel boot by TDVF; RTMR0 85e0855a…cb6547),
    /// published with a Dstack quote-verification test. Its events 3-8 and
    /// its last two are the same for every direct boot of a TDVF built
    /// without Secure Boot; the others depend on the guest's memory, the
    /// CFV and QEMU's ACPI files.
    const LOG: [&str; 13] = [
        "0e35f1b315ba6c912cf791e5c79dd9d3a2b8704516aa27d4e5aa78fb09ede04aef2bbd02ac7a8734c48562b9c26ba35d",
        "344bc51c980ba621aaa00da3ed7436f7d6e549197dfe699515dfa2c6583d95e6412af21c097d473155875ffd561d6790",
        "9dc3a1f80bcec915391dcda5ffbb15e7419f77eab462bbf72b42166fb70d50325e37b36f93537a863769bcf9bedae6fb",
        "6f2e3cbc14f9def86980f5f66fd85e99d63e69a73014ed8a5633ce56eca5b64b692108c56110e22acadcef58c3250f1b",
        "d607c0efb41c0d757d69bca0615c3a9ac0b1db06c557d992e906c6b7dee40e0e031640c7bfd7bcd35844ef9edeadc6f9",
        "08a74f8963b337acb6c93682f934496373679dd26af1089cb4eaf0c30cf260a12e814856385ab8843e56a9acea19e127",
        "18cc6e01f0c6ea99aa23f8a280423e94ad81d96d0aeb5180504fc0f7a40cb3619dd39bd6a95ec1680a86ed6ab0f9828d",
        "394341b7182cd227c5c6b07ef8000cdfd86136c4292b8e576573ad7ed9ae41019f5818b4b971c9effc60e1ad9f1289f0",
        "68cd79315e70aecd4afe7c1b23a5ed7b3b8e51a477e1739f111b3156def86bbc56ebf239dcd4591bc7a9fff90023f481",
        "6bc203b3843388cc4918459c3f5c6d1300a796fb594781b7ecfaa3ae7456975f095bfcc1156c9f2d25e8b8bc1b520f66",
        "ec9e8622a100c399d71062a945f95d8e4cdb7294e8b1c6d17a6a8d37b5084444000a78b007ef533f290243421256d25c",
        "1dd6f7b457ad880d840d41c961283bab688e94e4b59359ea45686581e90feccea3c624b1226113f824f315eb60ae0a7c",
        "23ada07f5261f12f34a0bd8e46760962d6b4d576a416f1fea1c64bc656b1d28eacf7047ae6e967c58fd2a98bfa74c298",
    ];

    #[test]
    fn the_log_replays_to_its_rtmr0() {
        let events: Vec<RtmrEvent> = LOG
            .iter()
            .map(|d| RtmrEvent {
                description: String::new(),
                digest: rvkit_pcr::Digest::parse_hex(HashAlg::Sha384, d).unwrap(),
            })
            .collect();
        assert_eq!(
            crate::tdx::replay(&events).to_hex(),
            "85e0855a6384fa1c8a6ab36d0dcbfaa11a5753e5a070c08218ae5fe872fcb86967fd2449c29e22e59dc9fec998cb6547"
        );
    }

    /// A firmware image with a TDVF descriptor: CFV, TD_HOB and TempMem
    /// sections, as OVMF lays them out.
    fn tdvf_image() -> Vec<u8> {
        use crate::ovmf::guids;
        let len = 64 * 4096;
        let mut img: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        img[..0x4000].copy_from_slice(&variable_store(&[]));
        let sections: [(u32, u32, u64, u64, u32, u32); 4] = [
            (0, 0x4000, 0xffc0_0000, 0x4000, 1, 0),
            (0x4000, 0x3c000, 0xffc0_4000, 0x3c000, 0, 1),
            (0, 0, 0x80_9000, 0x2000, 2, 0),
            (0, 0, 0x80_0000, 0x9000, 3, 0),
        ];
        let mut desc = b"TDVF".to_vec();
        desc.extend_from_slice(&(16 + 32 * sections.len() as u32).to_le_bytes());
        desc.extend_from_slice(&1u32.to_le_bytes());
        desc.extend_from_slice(&(sections.len() as u32).to_le_bytes());
        for (off, raw, gpa, size, kind, attr) in sections {
            for f in
                [off.to_le_bytes().as_slice(), &raw.to_le_bytes(), &gpa.to_le_bytes(), &size.to_le_bytes()]
            {
                desc.extend_from_slice(f);
            }
            desc.extend_from_slice(&kind.to_le_bytes());
            desc.extend_from_slice(&attr.to_le_bytes());
        }
        let at = len - 4096;
        img[at - 16..at].copy_from_slice(guids::TDVF_DESCRIPTOR.bytes());
        img[at..at + desc.len()].copy_from_slice(&desc);
        let mut table = ((len - at) as u32).to_le_bytes().to_vec();
        table.extend_from_slice(&22u16.to_le_bytes());
        table.extend_from_slice(guids::TDX_METADATA.bytes());
        let footer = len - 32 - 18;
        img[footer - table.len()..footer].copy_from_slice(&table);
        img[footer..footer + 2].copy_from_slice(&((table.len() + 18) as u16).to_le_bytes());
        img[footer + 2..footer + 18].copy_from_slice(guids::FOOTER.bytes());
        img
    }

    /// A CFV as OVMF builds one: a firmware volume header, an authenticated
    /// variable store holding `vars` (name, state) and free space.
    fn variable_store(vars: &[(&str, u8)]) -> Vec<u8> {
        let mut fv = vec![0xffu8; 0x4000];
        fv[..72].fill(0);
        fv[40..44].copy_from_slice(b"_FVH");
        fv[48..50].copy_from_slice(&72u16.to_le_bytes());
        let guid = Guid::new(0xaaf32c78, 0x947b, 0x439a, [0xa1, 0x80, 0x2e, 0x14, 0x4e, 0xc3, 0x77, 0x92]);
        fv[72..88].copy_from_slice(guid.bytes());
        fv[88..92].copy_from_slice(&(0x4000u32 - 72).to_le_bytes());
        fv[92..100].copy_from_slice(&[0x5a, 0xfe, 0, 0, 0, 0, 0, 0]);
        let mut at = 100;
        for (name, state) in vars {
            let name: Vec<u8> = name.encode_utf16().chain([0]).flat_map(u16::to_le_bytes).collect();
            let mut header = vec![0u8; 60];
            header[..4].copy_from_slice(&[0xaa, 0x55, *state, 0]);
            header[36..40].copy_from_slice(&(name.len() as u32).to_le_bytes());
            header[40..44].copy_from_slice(&3u32.to_le_bytes());
            let var = [header, name, vec![1, 2, 3]].concat();
            fv[at..at + var.len()].copy_from_slice(&var);
            at = (at + var.len()).next_multiple_of(4);
        }
        fv
    }

    #[test]
    fn a_variable_store_with_keys_or_boot_entries_is_refused() {
        let store = |problem: &str| Err(Error::VariableStore { problem: problem.into() });
        assert_eq!(check_variable_store(&variable_store(&[("Lang", 0x3f), ("PK", 0xfd)])), Ok(()));
        assert_eq!(
            check_variable_store(&variable_store(&[("Lang", 0x3f), ("KEK", 0x3e)])),
            store("it enrolls Secure Boot keys (KEK), which RTMR0 here takes as absent")
        );
        assert_eq!(
            check_variable_store(&variable_store(&[("Boot0001", 0x3f)])),
            store("it holds boot entries (Boot0001), which RTMR0 here takes as absent")
        );
        assert_eq!(
            check_variable_store(&[0; 0x4000]),
            store("no firmware volume header (\"_FVH\" at offset 0x28)")
        );
        let mut long = variable_store(&[]);
        long[88..92].copy_from_slice(&0x8000u32.to_le_bytes());
        assert_eq!(
            check_variable_store(&long),
            store("the store at offset 0x48 claims 32768 bytes, past the CFV's 16384")
        );
        let mut runaway = variable_store(&[("Lang", 0x3f)]);
        runaway[100 + 36..100 + 40].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
        assert_eq!(check_variable_store(&runaway), store("the variable at offset 0x64 runs past the store"));
    }

    #[test]
    fn the_events_fall_where_a_booted_td_logs_them() {
        let image = tdvf_image();
        let fw = Firmware::parse(&image).unwrap();
        let mut loader = vec![0u8; 3 * 128];
        for (i, name) in ["etc/acpi/tables", "etc/acpi/rsdp"].iter().enumerate() {
            let cmd = &mut loader[i * 256..];
            cmd[0] = 1;
            cmd[4..4 + name.len()].copy_from_slice(name.as_bytes());
        }
        loader[128] = 2;
        let inputs = Rtmr0Files {
            fw_cfg: [
                (TABLE_LOADER, loader.as_slice()),
                ("etc/acpi/tables", b"DSDT".as_slice()),
                ("etc/acpi/rsdp", b"RSD PTR ".as_slice()),
            ]
            .into(),
            td_hob: None,
        };
        let events = rtmr0_events(&fw, &inputs, 2048, SecureBootVariable::Absent).unwrap();
        assert_eq!(events.len(), LOG.len());
        for i in (2..8).chain(11..13) {
            assert_eq!(events[i].digest.to_hex(), LOG[i], "event {i}: {}", events[i].description);
        }
        let names: Vec<&str> = events[8..11].iter().map(|e| e.description.as_str()).collect();
        assert_eq!(names, ["fw_cfg etc/table-loader", "fw_cfg etc/acpi/tables", "fw_cfg etc/acpi/rsdp"]);
        // The TD HOB: the handoff table, then RAM below the TempMem section
        // (unaccepted), TempMem and TD_HOB (accepted), the rest (unaccepted).
        let hob = td_hob(&fw, 2048).unwrap();
        assert_eq!(hob.len(), 56 + 4 * 48);
        assert_eq!(u64::from_le_bytes(hob[48..56].try_into().unwrap()), 0x80_9000 + 56 + 4 * 48 + 8);
        let ranges: Vec<(u32, u64, u64)> = hob[56..]
            .chunks(48)
            .map(|r| {
                let kind = u32::from_le_bytes(r[24..28].try_into().unwrap());
                (
                    kind,
                    u64::from_le_bytes(r[32..40].try_into().unwrap()),
                    u64::from_le_bytes(r[40..48].try_into().unwrap()),
                )
            })
            .collect();
        assert_eq!(
            ranges,
            [
                (7, 0, 0x80_0000),
                (0, 0x80_0000, 0x9000),
                (0, 0x80_9000, 0x2000),
                (7, 0x80_b000, (2048 << 20) - 0x80_b000)
            ]
        );
        // Above 2.75 GiB, q35 splits RAM at 2 GiB and continues at 4 GiB.
        let hob = td_hob(&fw, 4096).unwrap();
        assert_eq!(
            &hob[56 + 3 * 48 + 32..56 + 3 * 48 + 48],
            [0x80_b000u64.to_le_bytes(), (0x8000_0000u64 - 0x80_b000).to_le_bytes()].concat()
        );
        assert_eq!(
            &hob[56 + 4 * 48 + 32..],
            [(1u64 << 32).to_le_bytes(), (2u64 << 30).to_le_bytes()].concat()
        );
        assert_eq!(
            td_hob(&fw, 8),
            Err(Error::TdHob {
                problem: "the TD_HOB section 0x809000-0x80b000 does not lie within unaccepted RAM of 8 MiB"
                    .into()
            })
        );
    }
}
