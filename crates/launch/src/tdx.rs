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
    let data = fw.data();
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
/// Older QEMU and OVMF builds patched the bzImage setup header before
/// measuring it; the digest here is of the file as given.
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
