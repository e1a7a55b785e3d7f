//! The one error type of this crate.

/// Why firmware metadata could not be read or a launch value not computed.
///
/// Offsets are byte offsets into the firmware file; GPAs are guest physical
/// addresses.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The file is too small to hold the OVMF footer table.
    #[error("firmware is {len} bytes, too small to hold an OVMF footer table")]
    TooSmall {
        /// File length.
        len: usize,
    },
    /// The firmware length is not a whole number of 4 KiB pages.
    #[error("firmware is {len} bytes, not a multiple of 4096")]
    NotPageMultiple {
        /// File length.
        len: usize,
    },
    /// Metadata lies before the end of the image the firmware was parsed
    /// from ([`crate::Firmware::parse_end`]): parse the whole image instead.
    #[error("{what} at offset {offset:#x} lies before the end read from offset {start:#x}")]
    BeforeEnd {
        /// What lies there.
        what: &'static str,
        /// Its offset.
        offset: usize,
        /// Where the bytes read begin.
        start: usize,
    },
    /// The page digests given are not one per 4 KiB page of the image.
    #[error("{digests} page digests for an image of {pages} pages")]
    PageDigests {
        /// Pages in the image.
        pages: u64,
        /// Digests given.
        digests: usize,
    },
    /// The computation needs the whole image, and only its end was parsed.
    #[error("the whole firmware image is needed, and only its end was read")]
    PartialImage,
    /// The firmware's TDVF descriptor has no section of this type.
    #[error("the TDVF descriptor has no {0} section")]
    MissingTdvfSection(&'static str),
    /// An fw_cfg file RTMR0 needs is not given.
    #[error("fw_cfg file {name} is needed for RTMR0 and not given")]
    MissingFwCfg {
        /// Its fw_cfg name.
        name: String,
    },
    /// QEMU's ACPI linker script (`etc/table-loader`) is malformed.
    #[error("fw_cfg etc/table-loader, command at offset {offset:#x}: {problem}")]
    TableLoader {
        /// Offset of the command.
        offset: usize,
        /// What is wrong.
        problem: String,
    },
    /// The CFV is not a variable store RTMR0 is modelled for.
    #[error("CFV variable store: {problem}")]
    VariableStore {
        /// What is wrong.
        problem: String,
    },
    /// The TD HOB cannot be read or built.
    #[error("TD HOB: {problem}")]
    TdHob {
        /// What is wrong.
        problem: String,
    },
    /// The footer GUID 96b582de-1fb2-45f7-baea-a366c55a082d is not where it belongs.
    #[error(
        "no OVMF footer table (GUID 96b582de-1fb2-45f7-baea-a366c55a082d expected at offset {offset:#x})"
    )]
    NoFooterTable {
        /// Where the footer GUID was expected.
        offset: usize,
    },
    /// The footer table's size field is too small or larger than the file before it.
    #[error("OVMF footer table at offset {offset:#x} has invalid size {size}")]
    FooterTableSize {
        /// Offset of the footer entry.
        offset: usize,
        /// The size it claims.
        size: u16,
    },
    /// A footer-table entry's size is smaller than its header or runs past the table's start.
    #[error("OVMF footer table entry ending at offset {offset:#x} has invalid size {size}")]
    TableEntrySize {
        /// Offset just past the entry.
        offset: usize,
        /// The size it claims.
        size: u16,
    },
    /// A footer-table entry needed for this computation is missing.
    #[error("OVMF footer table has no {name} entry ({guid})")]
    MissingEntry {
        /// What the entry describes.
        name: &'static str,
        /// Its GUID.
        guid: &'static str,
    },
    /// A footer-table entry's data is shorter than its fields.
    #[error("OVMF footer table {name} entry at offset {offset:#x} holds {len} bytes, {need} needed")]
    EntryTooShort {
        /// What the entry describes.
        name: &'static str,
        /// Offset of the entry's data.
        offset: usize,
        /// Bytes present.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// A structure pointed to by the table lies (partly) outside the file.
    #[error("{what} at offset {offset:#x} needs {need} bytes but the file has {len}")]
    Truncated {
        /// The structure.
        what: &'static str,
        /// Its offset.
        offset: usize,
        /// Bytes it needs from `offset`.
        need: u64,
        /// File length.
        len: usize,
    },
    /// A structure's signature is wrong.
    #[error("{what} at offset {offset:#x} has signature {found:?}, expected {expected:?}")]
    BadSignature {
        /// The structure.
        what: &'static str,
        /// Its offset.
        offset: usize,
        /// The signature read, lossily as text.
        found: String,
        /// The signature expected.
        expected: &'static str,
    },
    /// A structure's header fields disagree with each other or with the format.
    #[error("{what} at offset {offset:#x}: {problem}")]
    BadHeader {
        /// The structure.
        what: &'static str,
        /// Its offset.
        offset: usize,
        /// What is wrong.
        problem: String,
    },
    /// A section of SEV metadata or of the TDVF descriptor is invalid.
    #[error("{what} section {index} (GPA {gpa:#x}, {size:#x} bytes): {problem}")]
    BadSection {
        /// "SEV metadata" or "TDVF descriptor".
        what: &'static str,
        /// Index of the section in its list.
        index: usize,
        /// The section's GPA.
        gpa: u64,
        /// The section's memory size.
        size: u64,
        /// What is wrong.
        problem: String,
    },
    /// Two sections cover the same guest memory.
    #[error("{what} sections {first} and {second} overlap")]
    SectionsOverlap {
        /// "SEV metadata" or "TDVF descriptor".
        what: &'static str,
        /// Index of the first section.
        first: usize,
        /// Index of the second section.
        second: usize,
    },
    /// A kernel was given but the firmware cannot measure one.
    #[error("a kernel was given but the firmware {0}")]
    NoKernelHashes(&'static str),
    /// The vCPU count is 0 or above the limit.
    #[error("vCPU count {count} is out of range 1-{max}")]
    VcpuCount {
        /// The count given.
        count: u32,
        /// The largest count accepted.
        max: u32,
    },
    /// The CPU type is not one QEMU defines for AMD SEV guests.
    #[error("unknown vCPU type {name:?} (known: {known})")]
    UnknownCpuType {
        /// The name given.
        name: String,
        /// The names accepted.
        known: String,
    },
    /// The firmware has no TDX metadata.
    #[error("firmware has no TDX metadata (TDVF descriptor)")]
    NoTdxMetadata,
    /// The firmware has no SEV metadata.
    #[error("firmware has no SEV metadata (ASEV sections)")]
    NoSevMetadata,
    /// A vCPU count or range is not `N` or `A-B` within the limits.
    #[error("{text:?}: {problem}")]
    BadVcpus {
        /// The text given.
        text: String,
        /// What is wrong.
        problem: String,
    },
    /// A number is neither decimal nor `0x` hex.
    #[error("{text:?}: not a number")]
    BadNumber {
        /// The text given.
        text: String,
    },
    /// No CPU model was given for the VMSAs.
    #[error("no vCPU model: give vcpu_type, or vcpu_family, vcpu_model and vcpu_stepping, or kata")]
    NoCpuModel,
    /// The CPU model is given both ways, or its family, model and stepping only in part.
    #[error("give the vCPU model as vcpu_type or as all of vcpu_family, vcpu_model and vcpu_stepping")]
    CpuModelFields,
    /// `kata` asks `nr_cpus=` to follow the vCPU count but the command line has none.
    #[error("kata: the command line (append) has no nr_cpus= parameter to follow the vCPU count")]
    KataWithoutNrCpus,
    /// The firmware hash given is not a SHA-384 digest.
    #[error("ovmf_hash {text:?}: {problem}")]
    BadOvmfHash {
        /// The text given.
        text: String,
        /// What is wrong.
        problem: String,
    },
    /// An initrd or a command line was given without a kernel to boot.
    #[error("{field} is given without a kernel")]
    NeedsKernel {
        /// `initrd` or `append`.
        field: &'static str,
    },
    /// A field that only RTMR0 uses is given without the fw_cfg files RTMR0 needs.
    #[error("{field} is given without fw_cfg, the ACPI files RTMR0 is computed from")]
    NeedsFwCfg {
        /// `td_hob` or `secure_boot_variable`.
        field: &'static str,
    },
    /// The kernel's Linux setup header cannot be patched as QEMU's loader does.
    #[error("kernel setup header: {problem}")]
    KernelHeader {
        /// What is wrong.
        problem: String,
    },
}
