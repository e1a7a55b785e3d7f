//! Intel TDX launch values: MRTD from the TDVF descriptor, and the RTMR events
//! of a direct kernel boot.
//!
//! MRTD is one running SHA-384 over the 128-byte records the TDX module
//! hashes for `TDH.MEM.PAGE.ADD` (the page's GPA) and `TDH.MR.EXTEND` (a
//! 256-byte chunk's GPA, then the chunk), in the order QEMU adds the TDVF
//! sections (Intel *TDX Module Base Spec*, sections on TD build measurement;
//! *TDVF Design Guide*, section 11). Each page is added and then, when its
//! section has the MR.EXTEND attribute, extended, as td-shim's reference
//! `td_shim_tee_info_hash.py` does by default.

use rvkit_pcr::{Digest, HashAlg};
use serde::Serialize;

use crate::Error;
use crate::ovmf::{Firmware, PAGE_SIZE, TdvfSection};

/// One TDVF section as it enters MRTD.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TdxRegion {
    /// The section type's name (BFV, CFV, TD_HOB, TempMem, ...).
    pub section: &'static str,
    /// First GPA.
    pub gpa_start: u64,
    /// GPA just past the section.
    pub gpa_end: u64,
    /// Number of 4 KiB pages.
    pub pages: u64,
    /// Whether the pages are added at build time (no PAGE.AUG attribute).
    pub page_add: bool,
    /// Whether the contents are measured (MR.EXTEND attribute).
    pub mr_extend: bool,
}

/// MRTD of the firmware and the regions that went into it.
pub fn mrtd(fw: &Firmware<'_>) -> Result<(Digest, Vec<TdxRegion>), Error> {
    let sections = fw.tdvf_sections();
    if sections.is_empty() {
        return Err(Error::NoTdxMetadata);
    }
    let data = fw.data().ok_or(Error::PartialImage)?;
    let mut h = HashAlg::Sha384.hasher();
    let mut regions = Vec::with_capacity(sections.len());
    for s in sections {
        let page_add = s.attributes & TdvfSection::PAGE_AUG == 0;
        let mr_extend = s.attributes & TdvfSection::MR_EXTEND != 0;
        for p in 0..s.mem_size / PAGE_SIZE {
            let gpa = s.gpa + p * PAGE_SIZE;
            if page_add {
                h.update(&record(b"MEM.PAGE.ADD", gpa));
            }
            if mr_extend {
                // The parser checked that data_offset + mem_size lies within the file.
                let page = s.data_offset as usize + (p * PAGE_SIZE) as usize;
                for c in 0..16 {
                    h.update(&record(b"MR.EXTEND", gpa + c * 256));
                    h.update(&data[page + c as usize * 256..page + (c as usize + 1) * 256]);
                }
            }
        }
        regions.push(TdxRegion {
            section: s.kind_name(),
            gpa_start: s.gpa,
            gpa_end: s.gpa + s.mem_size,
            pages: s.mem_size / PAGE_SIZE,
            page_add,
            mr_extend,
        });
    }
    Ok((h.finish(), regions))
}

/// The 128-byte buffer the TDX module hashes: an ASCII operation name, the GPA at 16.
fn record(op: &[u8], gpa: u64) -> [u8; 128] {
    let mut b = [0u8; 128];
    b[..op.len()].copy_from_slice(op);
    b[16..24].copy_from_slice(&gpa.to_le_bytes());
    b
}

/// One event extended into an RTMR.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RtmrEvent {
    /// What was measured.
    pub description: String,
    /// The SHA-384 digest extended.
    #[serde(serialize_with = "hex_digest")]
    pub digest: Digest,
}

fn hex_digest<S: serde::Serializer>(d: &Digest, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&d.to_hex())
}

/// An RTMR value replayed from its events (starting at 48 zero bytes).
pub fn replay(events: &[RtmrEvent]) -> Digest {
    let mut v = Digest::zero(HashAlg::Sha384);
    for e in events {
        v = HashAlg::Sha384.hash_parts(&[v.as_bytes(), e.digest.as_bytes()]);
    }
    v
}

/// The RTMR1 events of a direct kernel boot (PCRs 2-6 map to RTMR1): OVMF
/// measures the kernel's Authenticode SHA-384 when QEMU's kernel loader
/// loads it (Trustee's `tdvfkernel`), then signals ReadyToBoot ("Calling EFI
/// Application from Boot Option", one separator for the register), and the
/// kernel's ExitBootServices call adds the two actions of the TCG PC Client
/// firmware profile.
///
/// Older QEMU builds patched the bzImage setup header before OVMF measured
/// it: the digest is then of [`qemu_patched_kernel`]'s image.
pub fn rtmr1_events(kernel_authenticode: Digest) -> Vec<RtmrEvent> {
    let action =
        |s: &str| RtmrEvent { description: s.to_owned(), digest: HashAlg::Sha384.hash(s.as_bytes()) };
    vec![
        RtmrEvent { description: "File(kernel) Authenticode".into(), digest: kernel_authenticode },
        action("Calling EFI Application from Boot Option"),
        RtmrEvent { description: "separator".into(), digest: HashAlg::Sha384.hash(&[0; 4]) },
        action("Exit Boot Services Invocation"),
        action("Exit Boot Services Returned with Success"),
    ]
}

/// The LoadOptions OVMF hands a directly booted kernel (edk2
/// `OvmfPkg/Library/X86QemuLoadImageLib`): the command line, then
/// ` initrd=initrd` when QEMU passed an initrd; `None` when both are absent.
pub fn load_options(cmdline: Option<&str>, has_initrd: bool) -> Option<String> {
    let mut s = cmdline.unwrap_or_default().to_owned();
    if has_initrd {
        s.push_str(" initrd=initrd");
    }
    (!s.is_empty()).then_some(s)
}

/// The RTMR2 events of a direct kernel boot: the Linux EFI stub measures
/// the LoadOptions as UTF-16LE with the terminating NUL (Trustee's
/// `tdvfkernelparams`), then the initrd it serves through LoadFile2.
pub fn rtmr2_events(cmdline: Option<&str>, initrd_sha384: Option<Digest>) -> Vec<RtmrEvent> {
    let mut events = Vec::new();
    if let Some(opts) = load_options(cmdline, initrd_sha384.is_some()) {
        let utf16: Vec<u8> = opts.encode_utf16().chain([0]).flat_map(u16::to_le_bytes).collect();
        events.push(RtmrEvent {
            description: "LOADED_IMAGE::LoadOptions".into(),
            digest: HashAlg::Sha384.hash(&utf16),
        });
    }
    if let Some(d) = initrd_sha384 {
        events.push(RtmrEvent { description: "Linux initrd".into(), digest: d });
    }
    events
}

/// The memory QEMU keeps below the initrd for the firmware's ACPI tables
/// and data on the PC machines (`pcmc->acpi_data_size`, QEMU `hw/i386/pc.c`).
const QEMU_ACPI_DATA_SIZE: u32 = 0x20000 + 0x8000;

/// The kernel image as older QEMU (before it stopped touching the image of
/// an EFI boot; Ubuntu 25.04's and RHEL's QEMU 9.1 among them) hands it to
/// OVMF, which measures it into RTMR1: QEMU's x86 Linux loader (`x86_load_linux`,
/// QEMU `hw/i386/x86-common.c`) writes into the bzImage setup header, whose
/// fields the Linux x86 boot protocol defines (`Documentation/arch/x86/boot.rst`):
/// `type_of_loader` (0xb0, QEMU), `loadflags` CAN_USE_HEAP, `heap_end_ptr`,
/// `cmd_line_ptr` (or the old command-line magic), and for an initrd
/// `ramdisk_image` and `ramdisk_size`, placed below the ACPI data at the top
/// of the memory under 4 GiB of a q35 machine with `memory_mib` MiB.
///
/// A command line with `vga=` (QEMU also writes the video mode) is refused
/// rather than guessed.
pub fn qemu_patched_kernel(
    kernel: &[u8],
    cmdline: &str,
    initrd_len: Option<u64>,
    memory_mib: u64,
) -> Result<Vec<u8>, Error> {
    let bad = |problem: String| Error::KernelHeader { problem };
    if kernel.len() < 0x240 {
        return Err(bad(format!("{} bytes are too few for a Linux setup header", kernel.len())));
    }
    if kernel[0x202..0x206] != *b"HdrS" {
        return Err(bad("no Linux boot protocol header (\"HdrS\" at 0x202)".to_owned()));
    }
    if cmdline.contains("vga=") {
        return Err(bad("vga= in the command line: QEMU's video-mode patch is not modelled".to_owned()));
    }
    let mut k = kernel.to_vec();
    let u16_at = |k: &[u8], at: usize| u16::from_le_bytes([k[at], k[at + 1]]);
    let u32_at = |k: &[u8], at: usize| u32::from_le_bytes(k[at..at + 4].try_into().expect("4 bytes"));
    let protocol = u16_at(&k, 0x206);
    let loaded_high = k[0x211] & 0x01 != 0;
    let cmdline_size = ((cmdline.len() + 16) & !15) as u32;
    let (real_addr, cmdline_addr) = if protocol < 0x200 || !loaded_high || protocol < 0x202 {
        (0x90000u32, 0x9a000 - cmdline_size)
    } else {
        (0x10000, 0x20000)
    };
    // XLF_CAN_BE_LOADED_ABOVE_4G is bit 1 of xloadflags.
    let mut initrd_max = if protocol >= 0x20c && u16_at(&k, 0x236) & 0x2 != 0 {
        u32::MAX
    } else if protocol >= 0x203 {
        u32_at(&k, 0x22c)
    } else {
        0x37ff_ffff
    };
    let below_4g = crate::rtmr0::q35_below_4g(memory_mib.saturating_mul(1 << 20)) as u32;
    if below_4g <= QEMU_ACPI_DATA_SIZE {
        return Err(bad(format!("{memory_mib} MiB of memory cannot hold the firmware's ACPI data")));
    }
    if initrd_max >= below_4g - QEMU_ACPI_DATA_SIZE {
        initrd_max = below_4g - QEMU_ACPI_DATA_SIZE - 1;
    }
    if protocol >= 0x202 {
        k[0x228..0x22c].copy_from_slice(&cmdline_addr.to_le_bytes());
    } else {
        k[0x20..0x22].copy_from_slice(&0xa33fu16.to_le_bytes());
        k[0x22..0x24].copy_from_slice(&((cmdline_addr - real_addr) as u16).to_le_bytes());
    }
    if protocol >= 0x200 {
        k[0x210] = 0xb0;
    }
    if protocol >= 0x201 {
        k[0x211] |= 0x80;
        k[0x224..0x226].copy_from_slice(&((cmdline_addr - real_addr - 0x200) as u16).to_le_bytes());
    }
    if let Some(size) = initrd_len {
        if protocol < 0x200 {
            return Err(bad(format!("boot protocol {protocol:#x} is too old for an initrd")));
        }
        let size = u32::try_from(size)
            .ok()
            .filter(|s| *s < initrd_max)
            .ok_or_else(|| bad(format!("an initrd of {size} bytes does not fit below {initrd_max:#x}")))?;
        let addr = (initrd_max - size) & !4095;
        k[0x218..0x21c].copy_from_slice(&addr.to_le_bytes());
        k[0x21c..0x220].copy_from_slice(&size.to_le_bytes());
    }
    Ok(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qemu_patch_refuses_what_it_cannot_patch() {
        let header = |problem: &str| Err(Error::KernelHeader { problem: problem.to_owned() });
        assert_eq!(
            qemu_patched_kernel(&[0; 0x100], "", None, 2048),
            header("256 bytes are too few for a Linux setup header")
        );
        assert_eq!(
            qemu_patched_kernel(&[0; 0x1000], "", None, 2048),
            header("no Linux boot protocol header (\"HdrS\" at 0x202)")
        );
        let mut k = vec![0u8; 0x1000];
        k[0x202..0x206].copy_from_slice(b"HdrS");
        k[0x206..0x208].copy_from_slice(&0x20fu16.to_le_bytes());
        k[0x211] = 1;
        k[0x236] = 2;
        let p = qemu_patched_kernel(&k, "quiet", Some(4096), 1024).unwrap();
        // The initrd ends below the ACPI data at the top of 1 GiB, page-aligned.
        assert_eq!(u32::from_le_bytes(p[0x218..0x21c].try_into().unwrap()), 0x3ffd_7000 - 0x1000);
        assert_eq!(u32::from_le_bytes(p[0x228..0x22c].try_into().unwrap()), 0x20000);
        assert_eq!((p[0x210], p[0x211]), (0xb0, 0x81));
        assert_eq!(
            qemu_patched_kernel(&k, "", Some(1 << 31), 1024),
            header("an initrd of 2147483648 bytes does not fit below 0x3ffd7fff")
        );
        assert_eq!(
            qemu_patched_kernel(&k, "", None, 0),
            header("0 MiB of memory cannot hold the firmware's ACPI data")
        );
    }
}
