//! The AMD SEV-SNP launch digest, and the SEV and SEV-ES launch digests.
//!
//! The SNP digest is the chain of `SNP_LAUNCH_UPDATE` page measurements the
//! AMD-SP computes (*SEV Secure Nested Paging Firmware ABI Specification*,
//! section 8.17, PAGE_INFO): each update hashes the previous digest, the
//! page's contents digest, its type and its GPA. QEMU issues the updates in a
//! fixed order, which [`launch_digests`] reproduces: the firmware pages, the
//! SEV metadata sections, then one VMSA page per vCPU.

use std::marker::PhantomData;
use std::ops::RangeInclusive;

use rvkit_pcr::{Digest, HashAlg};
use serde::{Deserialize, Serialize};

use crate::ovmf::{Firmware, PAGE_SIZE, SevSectionType};
use crate::{Error, Guid};

/// The length of the launch digest (SHA-384).
pub const LD_LEN: usize = 48;

/// The largest vCPU count accepted (QEMU's x86 limit for KVM guests is higher,
/// but no SNP host runs more).
pub const MAX_VCPUS: u32 = 512;

/// The GPA the RMP records for VMSA pages: all ones, page-aligned, 52 bits.
pub(crate) const VMSA_GPA: u64 = 0xFFFF_FFFF_F000;

/// The reset vector of the boot processor.
const BSP_EIP: u32 = 0xFFFF_FFF0;

/// The page types of PAGE_INFO (SNP ABI, table "Page Types").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PageType {
    /// Measured contents.
    Normal = 1,
    /// A vCPU save area.
    Vmsa = 2,
    /// A zero page.
    Zero = 3,
    /// Present but not measured.
    Unmeasured = 4,
    /// The secrets page.
    Secrets = 5,
    /// The CPUID page.
    Cpuid = 6,
}

impl PageType {
    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            PageType::Normal => "normal",
            PageType::Vmsa => "vmsa",
            PageType::Zero => "zero",
            PageType::Unmeasured => "unmeasured",
            PageType::Secrets => "secrets",
            PageType::Cpuid => "cpuid",
        }
    }
}

/// One contiguous run of pages measured with the same type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Region {
    /// What the pages hold ("firmware", a section name, "VMSA vCPU n").
    pub what: String,
    /// First GPA.
    pub gpa_start: u64,
    /// GPA just past the last page.
    pub gpa_end: u64,
    /// The page type.
    pub page_type: PageType,
    /// Number of 4 KiB pages.
    pub pages: u64,
}

/// The launch digest is still being built.
#[derive(Clone, Debug)]
pub struct Updating;
/// The launch digest is final.
#[derive(Clone, Debug)]
pub struct Completed;

/// The SNP guest context: the running launch digest. A digest can only be
/// read once the context is [`Completed`].
#[derive(Clone, Debug)]
pub struct Gctx<S> {
    pub(crate) ld: [u8; LD_LEN],
    regions: Option<Vec<Region>>,
    state: PhantomData<S>,
}

impl Gctx<Updating> {
    /// A fresh context (digest of 48 zero bytes); `transcript` records every region.
    pub fn new(transcript: bool) -> Gctx<Updating> {
        Gctx::seeded([0; LD_LEN], transcript)
    }

    /// A context continuing from a digest computed earlier, e.g. the firmware
    /// hash printed by [`firmware_hash`].
    pub fn seeded(seed: [u8; LD_LEN], transcript: bool) -> Gctx<Updating> {
        Gctx { ld: seed, regions: transcript.then(Vec::new), state: PhantomData }
    }

    pub(crate) fn update(&mut self, page_type: PageType, gpa: u64, contents: &[u8; LD_LEN]) {
        let mut info = [0u8; 0x70];
        info[..48].copy_from_slice(&self.ld);
        info[48..96].copy_from_slice(contents);
        info[96..98].copy_from_slice(&0x70u16.to_le_bytes());
        info[98] = page_type as u8;
        // is_imi, the VMPL permissions and a reserved byte stay zero.
        info[104..112].copy_from_slice(&gpa.to_le_bytes());
        self.ld.copy_from_slice(HashAlg::Sha384.hash(&info).as_bytes());
    }

    fn record(&mut self, what: &str, gpa: u64, len: u64, page_type: PageType) {
        if let Some(r) = &mut self.regions {
            r.push(Region {
                what: what.to_owned(),
                gpa_start: gpa,
                gpa_end: gpa + len,
                page_type,
                pages: len / PAGE_SIZE,
            });
        }
    }

    /// Measures `data` (a whole number of pages) as normal pages from `gpa`.
    pub fn update_normal_pages(&mut self, what: &str, gpa: u64, data: &[u8]) {
        debug_assert_eq!(data.len() as u64 % PAGE_SIZE, 0);
        self.update_digested_pages(what, gpa, &page_digests(data));
    }

    /// Measures normal pages from `gpa` given their contents' SHA-384
    /// ([`page_digests`]).
    fn update_digested_pages(&mut self, what: &str, gpa: u64, digests: &[[u8; LD_LEN]]) {
        for (i, d) in digests.iter().enumerate() {
            self.update(PageType::Normal, gpa + i as u64 * PAGE_SIZE, d);
        }
        self.record(what, gpa, digests.len() as u64 * PAGE_SIZE, PageType::Normal);
    }

    /// Measures `len` bytes from `gpa` as pages of a contents-less type.
    pub fn update_empty_pages(&mut self, what: &str, page_type: PageType, gpa: u64, len: u64) {
        for off in (0..len).step_by(PAGE_SIZE as usize) {
            self.update(page_type, gpa + off, &[0; LD_LEN]);
        }
        self.record(what, gpa, len, page_type);
    }

    /// Measures one VMSA page, given the SHA-384 of its contents.
    fn update_vmsa(&mut self, what: &str, page_digest: &[u8; LD_LEN]) {
        self.update(PageType::Vmsa, VMSA_GPA, page_digest);
        self.record(what, VMSA_GPA, PAGE_SIZE, PageType::Vmsa);
    }

    /// Ends the launch.
    pub fn finish(self) -> Gctx<Completed> {
        Gctx { ld: self.ld, regions: self.regions, state: PhantomData }
    }
}

impl Gctx<Completed> {
    /// The launch digest (`snp_launch_measurement`).
    pub fn launch_digest(&self) -> Digest {
        Digest::from_slice(HashAlg::Sha384, &self.ld).expect("48 bytes")
    }

    /// Every region measured, in order (empty unless asked for).
    pub fn regions(&self) -> &[Region] {
        self.regions.as_deref().unwrap_or_default()
    }
}

/// Pages from which hashing their contents is split across threads.
const PARALLEL_PAGES: usize = 256;

/// The SHA-384 of each 4 KiB page of `data`, the contents digest each
/// PAGE_INFO carries. Only the PAGE_INFO chain is sequential; the pages'
/// own digests are independent, so a firmware's (most of a launch digest's
/// work) are computed on every available core, or by a caller as it reads
/// the firmware ([`Firmware::parse_end`]).
pub fn page_digests(data: &[u8]) -> Vec<[u8; LD_LEN]> {
    let page = PAGE_SIZE as usize;
    let pages = data.len() / page;
    // Asked only when worth it: the answer reads three files of the cgroup
    // tree each time.
    let threads = if pages < 2 * PARALLEL_PAGES {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get()).min(pages / PARALLEL_PAGES)
    };
    let serial = |data: &[u8]| {
        let mut uniform = Vec::new();
        data.chunks(page).map(|p| page_digest(p, &mut uniform)).collect::<Vec<_>>()
    };
    if threads <= 1 {
        return serial(data);
    }
    let part = pages.div_ceil(threads) * page;
    std::thread::scope(|scope| {
        let parts: Vec<_> = data.chunks(part).map(|part| scope.spawn(move || serial(part))).collect();
        parts
            .into_iter()
            .flat_map(|p| match p.join() {
                Ok(digests) => digests,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// The SHA-384 of one page. A page of one byte value throughout is hashed
/// once per value and remembered in `uniform`: erased flash reads 0xff, and
/// such pages are a quarter of Debian's `OVMF.fd` and more than half of its
/// 4 MiB build (`OVMF_CODE_4M.fd`).
fn page_digest(page: &[u8], uniform: &mut Vec<(u8, [u8; LD_LEN])>) -> [u8; LD_LEN] {
    // One value throughout exactly when every byte equals the next,
    // compared as memory.
    let Some((&first, _)) = page.split_first().filter(|_| page[1..] == page[..page.len() - 1]) else {
        return sha384(page);
    };
    match uniform.iter().find(|(b, _)| *b == first) {
        Some((_, d)) => *d,
        None => {
            let d = sha384(page);
            uniform.push((first, d));
            d
        }
    }
}

fn sha384(data: &[u8]) -> [u8; LD_LEN] {
    HashAlg::Sha384.hash(data).as_bytes().try_into().expect("48 bytes")
}

fn sha256(data: &[u8]) -> [u8; 32] {
    HashAlg::Sha256.hash(data).as_bytes().try_into().expect("32 bytes")
}

/// The firmware hash: the launch digest after the firmware's own pages,
/// which `--ovmf-hash` seeds later computations with.
pub fn firmware_hash(fw: &Firmware<'_>, transcript: bool) -> Gctx<Updating> {
    let mut g = Gctx::new(transcript);
    match (fw.page_digests(), fw.data()) {
        (Some(digests), _) => g.update_digested_pages("firmware", fw.gpa(), digests),
        (None, Some(data)) => g.update_normal_pages("firmware", fw.gpa(), data),
        (None, None) => unreachable!("a firmware parsed from its end has its page digests"),
    }
    g
}

/// The SEV hashes table QEMU places in guest memory for direct kernel boot
/// with `kernel-hashes=on` (QEMU `target/i386/sev.c`, `SevHashTable`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SevHashes {
    cmdline: [u8; 32],
    initrd: [u8; 32],
    kernel: [u8; 32],
}

const HASH_TABLE_GUID: Guid =
    Guid::new(0x9438d606, 0x4f22, 0x4cc9, [0xb4, 0x79, 0xa7, 0x93, 0xd4, 0x11, 0xfd, 0x21]);
const CMDLINE_GUID: Guid =
    Guid::new(0x97d02dd8, 0xbd20, 0x4c94, [0xaa, 0x78, 0xe7, 0x71, 0x4d, 0x36, 0xab, 0x2a]);
const INITRD_GUID: Guid =
    Guid::new(0x44baf731, 0x3a2f, 0x4bd7, [0x9a, 0xf1, 0x41, 0xe2, 0x91, 0x69, 0x78, 0x1d]);
const KERNEL_GUID: Guid =
    Guid::new(0x4de79437, 0xabd2, 0x427f, [0xb8, 0x35, 0xd5, 0xb1, 0x72, 0xd2, 0x04, 0x5b]);

/// The table's length: GUID, u16 length, three entries of GUID, u16 length, SHA-256.
const HASH_TABLE_LEN: usize = 16 + 2 + 3 * (16 + 2 + 32);
/// QEMU pads the table to a multiple of 16 bytes.
pub const PADDED_HASH_TABLE_LEN: usize = HASH_TABLE_LEN.div_ceil(16) * 16;

impl SevHashes {
    /// The table for a kernel and initrd given by their SHA-256 digests and a
    /// command line (`None` or empty: QEMU hashes a lone NUL).
    pub fn from_digests(
        kernel_sha256: [u8; 32],
        initrd_sha256: [u8; 32],
        cmdline: Option<&str>,
    ) -> SevHashes {
        let mut line = cmdline.unwrap_or_default().as_bytes().to_vec();
        line.push(0);
        SevHashes { cmdline: sha256(&line), initrd: initrd_sha256, kernel: kernel_sha256 }
    }

    /// The table for a kernel, an optional initrd and an optional command line.
    pub fn new(kernel: &[u8], initrd: Option<&[u8]>, cmdline: Option<&str>) -> SevHashes {
        SevHashes::from_digests(sha256(kernel), sha256(initrd.unwrap_or_default()), cmdline)
    }

    /// The padded table as QEMU writes it.
    pub fn table(&self) -> [u8; PADDED_HASH_TABLE_LEN] {
        let mut t = [0u8; PADDED_HASH_TABLE_LEN];
        t[..16].copy_from_slice(HASH_TABLE_GUID.bytes());
        t[16..18].copy_from_slice(&(HASH_TABLE_LEN as u16).to_le_bytes());
        for (i, (guid, digest)) in
            [(CMDLINE_GUID, &self.cmdline), (INITRD_GUID, &self.initrd), (KERNEL_GUID, &self.kernel)]
                .into_iter()
                .enumerate()
        {
            let at = 18 + i * 50;
            t[at..at + 16].copy_from_slice(guid.bytes());
            t[at + 16..at + 18].copy_from_slice(&50u16.to_le_bytes());
            t[at + 18..at + 50].copy_from_slice(digest);
        }
        t
    }
}

/// The hypervisor that creates the guest: each sets slightly different initial register state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VmmType {
    /// QEMU/KVM.
    #[default]
    Qemu,
    /// AWS EC2.
    Ec2,
    /// Google Compute Engine.
    Gce,
}

impl VmmType {
    /// Every hypervisor, in the order candidates are searched.
    pub const ALL: [VmmType; 3] = [VmmType::Qemu, VmmType::Ec2, VmmType::Gce];

    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            VmmType::Qemu => "qemu",
            VmmType::Ec2 => "ec2",
            VmmType::Gce => "gce",
        }
    }
}

/// The QEMU CPU models for SEV guests and their (family, model, stepping), as in
/// QEMU's `builtin_x86_defs` (also listed by sev-snp-measure's `vcpu_types.py`).
/// The later versions QEMU 9.1 and 10 added (EPYC-v5, EPYC-Rome-v4 and -v5,
/// EPYC-Milan-v3, EPYC-Genoa-v2, EPYC-Turin-v1 and -v2; the last two also in
/// virtee's `sev` crate) change features and cache data, never the family,
/// model and stepping of their base model.
pub const CPU_TYPES: [(&str, (u32, u32, u32)); 23] = [
    ("EPYC", (23, 1, 2)),
    ("EPYC-v1", (23, 1, 2)),
    ("EPYC-v2", (23, 1, 2)),
    ("EPYC-IBPB", (23, 1, 2)),
    ("EPYC-v3", (23, 1, 2)),
    ("EPYC-v4", (23, 1, 2)),
    ("EPYC-v5", (23, 1, 2)),
    ("EPYC-Rome", (23, 49, 0)),
    ("EPYC-Rome-v1", (23, 49, 0)),
    ("EPYC-Rome-v2", (23, 49, 0)),
    ("EPYC-Rome-v3", (23, 49, 0)),
    ("EPYC-Rome-v4", (23, 49, 0)),
    ("EPYC-Rome-v5", (23, 49, 0)),
    ("EPYC-Milan", (25, 1, 1)),
    ("EPYC-Milan-v1", (25, 1, 1)),
    ("EPYC-Milan-v2", (25, 1, 1)),
    ("EPYC-Milan-v3", (25, 1, 1)),
    ("EPYC-Genoa", (25, 17, 0)),
    ("EPYC-Genoa-v1", (25, 17, 0)),
    ("EPYC-Genoa-v2", (25, 17, 0)),
    ("EPYC-Turin", (26, 0, 0)),
    ("EPYC-Turin-v1", (26, 0, 0)),
    ("EPYC-Turin-v2", (26, 0, 0)),
];

/// CPUID Fn0000_0001 EAX for a family, model and stepping (AMD CPUID
/// specification #25481: family above 0xf is split into base 0xf and an extended part).
pub fn cpu_signature(family: u32, model: u32, stepping: u32) -> u32 {
    let (fam_lo, fam_hi) = if family > 0xf { (0xf, (family - 0xf) & 0xff) } else { (family, 0) };
    (fam_hi << 20) | (((model >> 4) & 0xf) << 16) | (fam_lo << 8) | ((model & 0xf) << 4) | (stepping & 0xf)
}

/// The CPUID signature of a QEMU CPU model by name (case-sensitive, as QEMU's `-cpu`).
pub fn cpu_type_signature(name: &str) -> Result<u32, Error> {
    CPU_TYPES.iter().find(|(n, _)| *n == name).map(|&(_, (f, m, s))| cpu_signature(f, m, s)).ok_or_else(
        || Error::UnknownCpuType {
            name: name.to_owned(),
            known: CPU_TYPES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "),
        },
    )
}

/// What shapes the initial vCPU state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VcpuParams {
    /// The hypervisor.
    pub vmm: VmmType,
    /// CPUID(1).EAX of the vCPU model.
    pub signature: u32,
    /// SEV_FEATURES of the VMSA (0x1 = SNP active; 0x21 adds DebugSwap).
    pub guest_features: u64,
}

/// The initial SEV-ES save area (AMD APM vol. 2, table B-4) of a vCPU
/// starting at `eip`, as KVM sets it up for `vmm`.
pub fn vmsa_page(eip: u32, p: &VcpuParams) -> Box<[u8; 4096]> {
    let mut page = Box::new([0u8; 4096]);
    let seg = |page: &mut [u8; 4096], at: usize, sel: u16, attr: u16, limit: u32, base: u64| {
        page[at..at + 2].copy_from_slice(&sel.to_le_bytes());
        page[at + 2..at + 4].copy_from_slice(&attr.to_le_bytes());
        page[at + 4..at + 8].copy_from_slice(&limit.to_le_bytes());
        page[at + 8..at + 16].copy_from_slice(&base.to_le_bytes());
    };
    let put = |page: &mut [u8; 4096], at: usize, v: &[u8]| page[at..at + v.len()].copy_from_slice(v);
    let (mut cs_attr, mut ss_attr, mut tr_attr, mut g_pat, rdx, mxcsr, fcw) =
        (0x9b, 0x93, 0x8b, 0x0007_0406_0007_0406u64, u64::from(p.signature), 0x1f80u32, 0x37fu16);
    let (rdx, mxcsr, fcw) = match p.vmm {
        VmmType::Qemu => (rdx, mxcsr, fcw),
        VmmType::Ec2 => {
            if eip == BSP_EIP {
                cs_attr = 0x9a;
            }
            ss_attr = 0x92;
            tr_attr = 0x83;
            (0x600, 0, 0)
        }
        VmmType::Gce => {
            g_pat = 0x0007_0106;
            (0x600, 0, 0)
        }
    };
    for at in [0x00, 0x30, 0x40, 0x50] {
        seg(&mut page, at, 0, 0x93, 0xffff, 0);
    }
    seg(&mut page, 0x10, 0xf000, cs_attr, 0xffff, u64::from(eip & 0xffff_0000));
    seg(&mut page, 0x20, 0, ss_attr, 0xffff, 0);
    seg(&mut page, 0x60, 0, 0, 0xffff, 0);
    seg(&mut page, 0x70, 0, 0x82, 0xffff, 0);
    seg(&mut page, 0x80, 0, 0, 0xffff, 0);
    seg(&mut page, 0x90, 0, tr_attr, 0xffff, 0);
    put(&mut page, 0xd0, &0x1000u64.to_le_bytes()); // EFER.SVME, set by KVM
    put(&mut page, 0x148, &0x40u64.to_le_bytes()); // CR4.MCE, set by KVM
    put(&mut page, 0x158, &0x10u64.to_le_bytes()); // CR0
    put(&mut page, 0x160, &0x400u64.to_le_bytes()); // DR7
    put(&mut page, 0x168, &0xffff_0ff0u64.to_le_bytes()); // DR6
    put(&mut page, 0x170, &2u64.to_le_bytes()); // RFLAGS
    put(&mut page, 0x178, &u64::from(eip & 0xffff).to_le_bytes()); // RIP
    put(&mut page, 0x268, &g_pat.to_le_bytes());
    put(&mut page, 0x310, &rdx.to_le_bytes());
    put(&mut page, 0x3b0, &p.guest_features.to_le_bytes());
    put(&mut page, 0x3e8, &1u64.to_le_bytes()); // XCR0
    put(&mut page, 0x408, &mxcsr.to_le_bytes());
    put(&mut page, 0x410, &fcw.to_le_bytes()); // x87 FCW
    page
}

/// Whether a kernel command line has kata's `nr_cpus=` parameter.
pub fn has_nr_cpus(cmdline: &str) -> bool {
    cmdline.split(' ').any(|w| w.starts_with("nr_cpus="))
}

/// The command line with every `nr_cpus=` parameter set to `n`: kata's
/// runtime puts the VM's vCPU count there for confidential guests (before
/// kata 3.32), so the measured command line changes with the count.
pub fn with_nr_cpus(cmdline: &str, n: u32) -> String {
    cmdline
        .split(' ')
        .map(|w| if w.starts_with("nr_cpus=") { format!("nr_cpus={n}") } else { w.to_owned() })
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn check_vcpus(count: u32) -> Result<(), Error> {
    if count == 0 || count > MAX_VCPUS {
        return Err(Error::VcpuCount { count, max: MAX_VCPUS });
    }
    Ok(())
}

/// Measures the SEV metadata sections in file order, with the hashes page when a kernel is booted.
pub fn measure_metadata(
    g: &mut Gctx<Updating>,
    fw: &Firmware<'_>,
    hashes: Option<&SevHashes>,
    vmm: VmmType,
) -> Result<(), Error> {
    let sections = fw.sev_sections();
    if sections.is_empty() {
        return Err(Error::NoSevMetadata);
    }
    let hashes_page = match hashes {
        None => None,
        Some(h) => {
            let Some(s) = sections.iter().find(|s| s.kind == SevSectionType::SnpKernelHashes) else {
                return Err(Error::NoKernelHashes("has no SNP_KERNEL_HASHES metadata section"));
            };
            let offset = (fw.sev_hashes_table_gpa()? as usize) & 0xfff;
            if u64::from(s.size) != PAGE_SIZE || offset + PADDED_HASH_TABLE_LEN > PAGE_SIZE as usize {
                return Err(Error::NoKernelHashes(
                    "SNP_KERNEL_HASHES section cannot hold the hashes table in one page",
                ));
            }
            let mut page = vec![0u8; PAGE_SIZE as usize];
            page[offset..offset + PADDED_HASH_TABLE_LEN].copy_from_slice(&h.table());
            Some(page)
        }
    };
    for s in sections {
        let (gpa, size, name) = (u64::from(s.gpa), u64::from(s.size), s.kind.name());
        match s.kind {
            SevSectionType::SnpSecMem if vmm == VmmType::Gce => {
                g.update_empty_pages(name, PageType::Unmeasured, gpa, size)
            }
            SevSectionType::SnpSecMem | SevSectionType::SvsmCaa => {
                g.update_empty_pages(name, PageType::Zero, gpa, size)
            }
            SevSectionType::SnpSecrets => g.update_empty_pages(name, PageType::Secrets, gpa, PAGE_SIZE),
            // EC2 measures the CPUID pages after all other sections.
            SevSectionType::Cpuid if vmm == VmmType::Ec2 => {}
            SevSectionType::Cpuid => g.update_empty_pages(name, PageType::Cpuid, gpa, PAGE_SIZE),
            SevSectionType::SnpKernelHashes => match &hashes_page {
                Some(page) => g.update_normal_pages(name, gpa, page),
                None => g.update_empty_pages(name, PageType::Zero, gpa, size),
            },
        }
    }
    if vmm == VmmType::Ec2 {
        for s in sections.iter().filter(|s| s.kind == SevSectionType::Cpuid) {
            g.update_empty_pages(s.kind.name(), PageType::Cpuid, s.gpa.into(), PAGE_SIZE);
        }
    }
    Ok(())
}

/// The two VMSA page digests of a guest: the boot processor's and the APs'.
pub(crate) struct VmsaDigests {
    pub(crate) bsp: [u8; LD_LEN],
    pub(crate) ap: [u8; LD_LEN],
}

impl VmsaDigests {
    pub(crate) fn new(fw: &Firmware<'_>, p: &VcpuParams) -> Result<VmsaDigests, Error> {
        let ap_eip = fw.sev_es_reset_eip()?;
        Ok(VmsaDigests { bsp: sha384(&vmsa_page(BSP_EIP, p)[..]), ap: sha384(&vmsa_page(ap_eip, p)[..]) })
    }

    fn measure(&self, g: &mut Gctx<Updating>, vcpus: u32) {
        for i in 0..vcpus {
            g.update_vmsa(&format!("VMSA vCPU {i}"), if i == 0 { &self.bsp } else { &self.ap });
        }
    }
}

/// One SNP launch digest per vCPU count in `vcpus`, each continuing from
/// `base` (see [`firmware_hash`] and [`Gctx::seeded`]), so the firmware is
/// hashed once. `hashes(n)` gives the kernel hashes table for `n` vCPUs
/// (`None` without a kernel); it may differ per count, e.g. for kata's `nr_cpus=`.
pub fn launch_digests(
    base: &Gctx<Updating>,
    fw: &Firmware<'_>,
    params: &VcpuParams,
    vcpus: RangeInclusive<u32>,
    hashes: &dyn Fn(u32) -> Option<SevHashes>,
) -> Result<Vec<(u32, Gctx<Completed>)>, Error> {
    check_vcpus(*vcpus.start())?;
    check_vcpus(*vcpus.end())?;
    let vmsa = VmsaDigests::new(fw, params)?;
    let mut out = Vec::new();
    for n in vcpus {
        let mut g = base.clone();
        measure_metadata(&mut g, fw, hashes(n).as_ref(), params.vmm)?;
        vmsa.measure(&mut g, n);
        out.push((n, g.finish()));
    }
    Ok(out)
}

/// The SEV (without `es`) or SEV-ES launch digest: SHA-256 over the firmware,
/// the hashes table when a kernel is booted and, for SEV-ES, one VMSA per vCPU
/// (SEV_FEATURES 0).
pub fn sev_launch_digest(
    fw: &Firmware<'_>,
    hashes: Option<&SevHashes>,
    es: Option<(VmmType, u32, u32)>,
) -> Result<Digest, Error> {
    let mut h = HashAlg::Sha256.hasher();
    h.update(fw.data().ok_or(Error::PartialImage)?);
    if let Some(hashes) = hashes {
        if fw.sev_hashes_table_gpa().unwrap_or(0) == 0 {
            return Err(Error::NoKernelHashes("has no SEV hash table location"));
        }
        h.update(&hashes.table());
    }
    if let Some((vmm, signature, vcpus)) = es {
        check_vcpus(vcpus)?;
        let p = VcpuParams { vmm, signature, guest_features: 0 };
        let ap_eip = fw.sev_es_reset_eip()?;
        h.update(&vmsa_page(BSP_EIP, &p)[..]);
        let ap = vmsa_page(ap_eip, &p);
        for _ in 1..vcpus {
            h.update(&ap[..]);
        }
    }
    Ok(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Remembered digests of uniform pages, on one thread and split across
    /// threads, equal hashing every page: pages of 0x00, 0xff and 0x5a,
    /// pages uniform but for their first or last byte, and varied pages.
    #[test]
    fn page_digests_equal_hashing_every_page() {
        let page = PAGE_SIZE as usize;
        let mut data = Vec::new();
        for i in 0..(3 * PARALLEL_PAGES) {
            let mut p = match i % 6 {
                0 => vec![0u8; page],
                1 => vec![0xff; page],
                2 => vec![0x5a; page],
                _ => (0..page).map(|j| (i * 31 + j * 7) as u8).collect(),
            };
            match i % 12 {
                3 => p.fill(0xff),
                6 => p[0] = 1,
                7 => p[page - 1] = 0xfe,
                _ => {}
            }
            data.extend(p);
        }
        let expected: Vec<[u8; LD_LEN]> = data.chunks(page).map(sha384).collect();
        assert_eq!(page_digests(&data), expected);
        assert_eq!(page_digests(&data[..8 * page]), expected[..8]);
    }

    #[test]
    fn cpu_signatures_match_cpuid_of_known_parts() {
        // CPUID(1).EAX values published for these parts (AMD revision guides).
        assert_eq!(cpu_type_signature("EPYC-v4").unwrap(), 0x800f12);
        assert_eq!(cpu_type_signature("EPYC-Rome").unwrap(), 0x830f10);
        assert_eq!(cpu_type_signature("EPYC-Milan").unwrap(), 0xa00f11);
        assert_eq!(cpu_type_signature("EPYC-Genoa").unwrap(), 0xa10f10);
        assert_eq!(cpu_type_signature("EPYC-Turin").unwrap(), 0xb00f00);
        assert!(matches!(cpu_type_signature("epyc"), Err(Error::UnknownCpuType { .. })));
    }

    #[test]
    fn nr_cpus_follows_the_count() {
        assert_eq!(with_nr_cpus("quiet nr_cpus=4 panic=1", 12), "quiet nr_cpus=12 panic=1");
        assert_eq!(with_nr_cpus("nr_cpus=1", 2), "nr_cpus=2");
        assert_eq!(with_nr_cpus("a.nr_cpus=1", 2), "a.nr_cpus=1");
        assert!(has_nr_cpus("x nr_cpus=1") && !has_nr_cpus("x a.nr_cpus=1"));
    }

    #[test]
    fn hash_table_is_168_bytes_padded_to_176() {
        assert_eq!(HASH_TABLE_LEN, 168);
        assert_eq!(PADDED_HASH_TABLE_LEN, 176);
    }
}
