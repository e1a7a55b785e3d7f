//! The OVMF footer GUID table and the structures it points to.
//!
//! OVMF ends with a table of GUID-tagged entries that QEMU reads to learn
//! where the firmware wants things (edk2 `OvmfPkg/ResetVector/Ia16/ResetVectorVtf0.asm`).
//! The footer entry sits 32 bytes before the end of the file; every entry is
//! `data || u16 size || GUID` and the table is walked from its end, so an
//! entry's size covers its data and its 18-byte trailer. GUIDs are stored in
//! the mixed-endian EFI layout.
//!
//! Every offset read from the file is checked against the file's length
//! before use; no structure is trusted to fit.

use std::fmt;

use crate::Error;

/// Firmware is mapped so that it ends at 4 GiB.
pub const FOUR_GIB: u64 = 1 << 32;

/// The 4 KiB page size of both SEV and TDX.
pub const PAGE_SIZE: u64 = 4096;

/// A GUID in the mixed-endian byte layout EFI stores on disk.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Guid([u8; 16]);

impl Guid {
    /// The GUID `a-b-c-d` with its fields given as numbers.
    pub const fn new(a: u32, b: u16, c: u16, d: [u8; 8]) -> Guid {
        let a = a.to_le_bytes();
        let b = b.to_le_bytes();
        let c = c.to_le_bytes();
        Guid([a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
    }

    /// The 16 bytes as stored.
    pub const fn bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&rvkit_pcr::eventlog::guid_to_string(&self.0))
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// GUIDs of the footer table (edk2 `OvmfPkg/ResetVector`).
pub mod guids {
    use super::Guid;

    /// The footer entry that closes the table.
    pub const FOOTER: Guid =
        Guid::new(0x96b582de, 0x1fb2, 0x45f7, [0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d]);
    /// Where QEMU writes the SEV hashes table (u32 GPA, u32 size).
    pub const SEV_HASH_TABLE: Guid =
        Guid::new(0x7255371f, 0x3a3b, 0x4b04, [0x92, 0x7b, 0x1d, 0xa6, 0xef, 0xa8, 0xd4, 0x54]);
    /// The SEV-ES AP reset block (u32 reset EIP).
    pub const SEV_ES_RESET_BLOCK: Guid =
        Guid::new(0x00f771de, 0x1a7e, 0x4fcb, [0x89, 0x0e, 0x68, 0xc7, 0x7e, 0x2f, 0xb4, 0x4e]);
    /// The SEV metadata ("ASEV", u32 offset from the end of the file).
    pub const SEV_METADATA: Guid =
        Guid::new(0xdc886566, 0x984a, 0x4798, [0xa7, 0x5e, 0x55, 0x85, 0xa7, 0xbf, 0x67, 0xcc]);
    /// The TDX metadata (u32 offset from the end of the file to the TDVF descriptor).
    pub const TDX_METADATA: Guid =
        Guid::new(0xe47a6535, 0x984a, 0x4798, [0x86, 0x5e, 0x46, 0x85, 0xa7, 0xbf, 0x8e, 0xc2]);
    /// The GUID in front of a TDVF descriptor (TDVF design guide, section 11).
    pub const TDVF_DESCRIPTOR: Guid =
        Guid::new(0xe9eaf9f3, 0x168e, 0x44d5, [0xa8, 0xeb, 0x7f, 0x4d, 0x87, 0x38, 0xf6, 0xae]);
}

/// The types of SEV metadata sections (edk2 `OvmfPkg/ResetVector/X64/OvmfSevMetadata.asm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SevSectionType {
    /// Memory the firmware uses before it validates memory itself.
    SnpSecMem,
    /// The SNP secrets page.
    SnpSecrets,
    /// The CPUID page.
    Cpuid,
    /// The SVSM calling-area page.
    SvsmCaa,
    /// The page QEMU fills with the kernel/initrd/cmdline hashes.
    SnpKernelHashes,
}

impl SevSectionType {
    fn from_u32(v: u32) -> Option<SevSectionType> {
        Some(match v {
            1 => SevSectionType::SnpSecMem,
            2 => SevSectionType::SnpSecrets,
            3 => SevSectionType::Cpuid,
            4 => SevSectionType::SvsmCaa,
            0x10 => SevSectionType::SnpKernelHashes,
            _ => return None,
        })
    }

    /// The name edk2 uses.
    pub fn name(self) -> &'static str {
        match self {
            SevSectionType::SnpSecMem => "SNP_SEC_MEM",
            SevSectionType::SnpSecrets => "SNP_SECRETS",
            SevSectionType::Cpuid => "CPUID",
            SevSectionType::SvsmCaa => "SVSM_CAA",
            SevSectionType::SnpKernelHashes => "SNP_KERNEL_HASHES",
        }
    }
}

/// One section of the SEV metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SevSection {
    /// First guest physical address.
    pub gpa: u32,
    /// Size in bytes.
    pub size: u32,
    /// What the section holds.
    pub kind: SevSectionType,
}

/// One section of a TDVF descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TdvfSection {
    /// Offset of the section's bytes in the file.
    pub data_offset: u32,
    /// Number of bytes in the file.
    pub raw_size: u32,
    /// First guest physical address.
    pub gpa: u64,
    /// Size in guest memory.
    pub mem_size: u64,
    /// Section type: 0 BFV, 1 CFV, 2 TD_HOB, 3 TempMem, 4 PermMem, 5 Payload, 6 PayloadParam, 7 TdInfo, 8 TdParams.
    pub kind: u32,
    /// Bit 0: MR.EXTEND the contents; bit 1: PAGE.AUG (not added at build time).
    pub attributes: u32,
}

impl TdvfSection {
    /// Attribute bit: the section's contents are measured with MR.EXTEND.
    pub const MR_EXTEND: u32 = 1;
    /// Attribute bit: the pages are accepted later (PAGE.AUG), not added at build time.
    pub const PAGE_AUG: u32 = 2;

    /// The name of the section type (TDVF design guide, table 11-2).
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            0 => "BFV",
            1 => "CFV",
            2 => "TD_HOB",
            3 => "TempMem",
            4 => "PermMem",
            5 => "Payload",
            6 => "PayloadParam",
            7 => "TdInfo",
            8 => "TdParams",
            _ => "unknown",
        }
    }
}

/// A parsed OVMF image: its bytes and the metadata its footer table points to.
///
/// [`Firmware::parse_end`] parses one from the end of the image and its
/// pages' digests only: all the SEV-SNP launch digest needs, without reading
/// the image twice.
#[derive(Clone, Debug)]
pub struct Firmware<'a> {
    /// The whole image, or its end.
    data: &'a [u8],
    /// The file offset of `data[0]`: 0 for a whole image.
    start: usize,
    /// The image's length.
    len: usize,
    entries: Vec<(Guid, usize, &'a [u8])>,
    sev_sections: Vec<SevSection>,
    tdvf_sections: Vec<TdvfSection>,
    page_digests: Option<Vec<[u8; 48]>>,
}

const ENTRY_HEADER: usize = 18;
const FOOTER_FROM_END: usize = 32;
const SEV_WHAT: &str = "SEV metadata";
const TDVF_WHAT: &str = "TDVF descriptor";

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

impl<'a> Firmware<'a> {
    /// The bytes from file offset `offset` to the end, or [`Error::BeforeEnd`]
    /// when they begin before the end this firmware was parsed from.
    fn bytes_from(&self, offset: usize, what: &'static str) -> Result<&'a [u8], Error> {
        match offset.checked_sub(self.start) {
            Some(i) => Ok(&self.data[i..]),
            None => Err(Error::BeforeEnd { what, offset, start: self.start }),
        }
    }

    /// The structure of `need` bytes `from_end` bytes before the end of the
    /// image: its file offset and the bytes from there.
    fn located(&self, from_end: u32, need: usize, what: &'static str) -> Result<(usize, &'a [u8]), Error> {
        let len = self.len;
        let Some(start) = len.checked_sub(from_end as usize) else {
            return Err(Error::BadHeader {
                what,
                offset: 0,
                problem: format!(
                    "offset {from_end:#x} from the end lies before the start of the {len}-byte file"
                ),
            });
        };
        match self.bytes_from(start, what)? {
            rest if rest.len() >= need => Ok((start, rest)),
            _ => Err(Error::Truncated { what, offset: start, need: need as u64, len }),
        }
    }

    /// Parses the footer table of `data` and the SEV and TDX metadata it points to.
    pub fn parse(data: &'a [u8]) -> Result<Firmware<'a>, Error> {
        Firmware::parse_from(data, 0, data.len())
    }

    /// Parses a firmware image of `len` bytes from its last bytes, `end`,
    /// given the SHA-384 digest of each of its 4 KiB pages (as
    /// [`crate::snp::page_digests`] computes them). [`Error::BeforeEnd`]
    /// when the metadata lies before `end`: then parse the whole image.
    pub fn parse_end(end: &'a [u8], len: usize, page_digests: Vec<[u8; 48]>) -> Result<Firmware<'a>, Error> {
        assert!(end.len() <= len, "the end of an image is not longer than the image");
        let mut fw = Firmware::parse_from(end, len - end.len(), len)?;
        if page_digests.len() as u64 * PAGE_SIZE != len as u64 {
            return Err(Error::PageDigests { pages: len as u64 / PAGE_SIZE, digests: page_digests.len() });
        }
        fw.page_digests = Some(page_digests);
        Ok(fw)
    }

    fn parse_from(data: &'a [u8], start: usize, len: usize) -> Result<Firmware<'a>, Error> {
        if len < FOOTER_FROM_END + ENTRY_HEADER {
            return Err(Error::TooSmall { len });
        }
        if !(len as u64).is_multiple_of(PAGE_SIZE) {
            return Err(Error::NotPageMultiple { len });
        }
        let mut fw = Firmware {
            data,
            start,
            len,
            entries: Vec::new(),
            sev_sections: Vec::new(),
            tdvf_sections: Vec::new(),
            page_digests: None,
        };
        let footer = len - FOOTER_FROM_END - ENTRY_HEADER;
        let at_footer = fw.bytes_from(footer, "OVMF footer table")?;
        if at_footer[2..ENTRY_HEADER] != *guids::FOOTER.bytes() {
            return Err(Error::NoFooterTable { offset: footer + 2 });
        }
        let size = u16_at(at_footer, 0);
        let table_len = usize::from(size)
            .checked_sub(ENTRY_HEADER)
            .filter(|&t| t <= footer)
            .ok_or(Error::FooterTableSize { offset: footer, size })?;
        let table_start = footer - table_len;
        // Indices into `table` are file offsets less `table_start`.
        let table = fw.bytes_from(table_start, "OVMF footer table")?;
        let mut end = footer;
        while end - table_start >= ENTRY_HEADER {
            let at = |offset: usize| offset - table_start;
            let size = u16_at(table, at(end - ENTRY_HEADER));
            let size_us = usize::from(size);
            if size_us < ENTRY_HEADER || size_us > end - table_start {
                return Err(Error::TableEntrySize { offset: end, size });
            }
            let guid = Guid(table[at(end - 16)..at(end)].try_into().expect("16 bytes"));
            let start = end - size_us;
            fw.entries.push((guid, start, &table[at(start)..at(end - ENTRY_HEADER)]));
            end = start;
        }
        fw.sev_sections = fw.parse_sev_metadata()?;
        fw.tdvf_sections = fw.parse_tdvf()?;
        Ok(fw)
    }

    /// The whole image; `None` for one parsed from its end ([`Firmware::parse_end`]).
    pub fn data(&self) -> Option<&'a [u8]> {
        (self.start == 0).then_some(self.data)
    }

    /// The image's length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the image is empty (never, once parsed).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The pages' digests given to [`Firmware::parse_end`].
    pub fn page_digests(&self) -> Option<&[[u8; 48]]> {
        self.page_digests.as_deref()
    }

    /// The GPA of the first byte: the image ends at 4 GiB.
    pub fn gpa(&self) -> u64 {
        FOUR_GIB - self.len as u64
    }

    /// The data of the footer-table entry `guid` and its file offset. When
    /// a GUID appears twice, the entry nearer the start of the file wins, as
    /// in QEMU and sev-snp-measure, which walk the table from its end.
    pub fn entry(&self, guid: Guid) -> Option<(usize, &'a [u8])> {
        self.entries.iter().rev().find(|(g, _, _)| *g == guid).map(|&(_, off, d)| (off, d))
    }

    fn entry_u32(&self, guid: Guid, name: &'static str, guid_text: &'static str) -> Result<u32, Error> {
        let (offset, d) = self.entry(guid).ok_or(Error::MissingEntry { name, guid: guid_text })?;
        if d.len() < 4 {
            return Err(Error::EntryTooShort { name, offset, len: d.len(), need: 4 });
        }
        Ok(u32_at(d, 0))
    }

    /// The AP reset EIP from the SEV-ES reset block.
    pub fn sev_es_reset_eip(&self) -> Result<u32, Error> {
        self.entry_u32(
            guids::SEV_ES_RESET_BLOCK,
            "SEV-ES reset block",
            "00f771de-1a7e-4fcb-890e-68c77e2fb44e",
        )
    }

    /// The GPA where QEMU places the SEV hashes table (0 when the firmware does not support it).
    pub fn sev_hashes_table_gpa(&self) -> Result<u32, Error> {
        self.entry_u32(guids::SEV_HASH_TABLE, "SEV hash table", "7255371f-3a3b-4b04-927b-1da6efa8d454")
    }

    /// The SEV metadata sections, in file order.
    pub fn sev_sections(&self) -> &[SevSection] {
        &self.sev_sections
    }

    /// The TDVF descriptor's sections, in file order (empty without TDX metadata).
    pub fn tdvf_sections(&self) -> &[TdvfSection] {
        &self.tdvf_sections
    }

    /// Checks a metadata header's table: its `len` bytes hold its sections
    /// (`fits`, else `problem`) and are all in the file.
    fn table_fits(
        &self,
        hdr: &[u8],
        offset: usize,
        what: &'static str,
        len: usize,
        fits: bool,
        problem: impl FnOnce() -> String,
    ) -> Result<(), Error> {
        if !fits {
            return Err(Error::BadHeader { what, offset, problem: problem() });
        }
        if hdr.len() < len {
            return Err(Error::Truncated { what, offset, need: len as u64, len: self.len });
        }
        Ok(())
    }

    fn parse_sev_metadata(&self) -> Result<Vec<SevSection>, Error> {
        if self.entry(guids::SEV_METADATA).is_none() {
            return Ok(Vec::new());
        }
        let from_end =
            self.entry_u32(guids::SEV_METADATA, SEV_WHAT, "dc886566-984a-4798-a75e-5585a7bf67cc")?;
        let (start, hdr) = self.located(from_end, 16, SEV_WHAT)?;
        let (size, count) = header(hdr, start, SEV_WHAT, "ASEV")?;
        let need = count.checked_mul(12).and_then(|n| n.checked_add(16));
        self.table_fits(hdr, start, SEV_WHAT, size, need.is_some_and(|n| n <= size), || {
            format!("{count} sections do not fit its size of {size} bytes")
        })?;
        let mut sections: Vec<SevSection> = Vec::with_capacity(count);
        for index in 0..count {
            let at = 16 + index * 12;
            let (gpa, size, kind) = (u32_at(hdr, at), u32_at(hdr, at + 4), u32_at(hdr, at + 8));
            let bad = |problem: String| Error::BadSection {
                what: SEV_WHAT,
                index,
                gpa: gpa.into(),
                size: size.into(),
                problem,
            };
            let kind =
                SevSectionType::from_u32(kind).ok_or_else(|| bad(format!("unknown type {kind:#x}")))?;
            if !u64::from(gpa).is_multiple_of(PAGE_SIZE)
                || !u64::from(size).is_multiple_of(PAGE_SIZE)
                || size == 0
            {
                return Err(bad("GPA or size is not a non-zero multiple of 4096".into()));
            }
            if u64::from(gpa) + u64::from(size) > self.gpa() {
                return Err(bad(format!("reaches past {:#x}, where the firmware is mapped", self.gpa())));
            }
            if matches!(kind, SevSectionType::SnpSecrets | SevSectionType::Cpuid)
                && u64::from(size) != PAGE_SIZE
            {
                return Err(bad(format!("a {} section is one page", kind.name())));
            }
            let s = SevSection { gpa, size, kind };
            if let Some(first) =
                sections.iter().position(|o| overlaps(o.gpa.into(), o.size.into(), gpa.into(), size.into()))
            {
                return Err(Error::SectionsOverlap { what: SEV_WHAT, first, second: index });
            }
            sections.push(s);
        }
        Ok(sections)
    }

    fn parse_tdvf(&self) -> Result<Vec<TdvfSection>, Error> {
        let Some((entry_off, d)) = self.entry(guids::TDX_METADATA) else {
            return Ok(Vec::new());
        };
        // The entry's data ends with the offset; edk2 puts nothing before it.
        if d.len() < 4 {
            return Err(Error::EntryTooShort {
                name: "TDX metadata",
                offset: entry_off,
                len: d.len(),
                need: 4,
            });
        }
        let from_end = u32_at(d, d.len() - 4);
        let (start, hdr) = self.located(from_end, 16, TDVF_WHAT)?;
        // The descriptor GUID precedes the descriptor (td-shim checks it too).
        let guid_ok =
            start >= 16 && self.bytes_from(start - 16, TDVF_WHAT)?[..16] == *guids::TDVF_DESCRIPTOR.bytes();
        if !guid_ok {
            return Err(Error::BadHeader {
                what: TDVF_WHAT,
                offset: start,
                problem: format!("not preceded by GUID {}", guids::TDVF_DESCRIPTOR),
            });
        }
        let (length, count) = header(hdr, start, TDVF_WHAT, "TDVF")?;
        let exact = count != 0 && count.checked_mul(32).and_then(|n| n.checked_add(16)) == Some(length);
        self.table_fits(hdr, start, TDVF_WHAT, length, exact, || {
            format!("length {length} does not match {count} sections of 32 bytes")
        })?;
        let mut sections: Vec<TdvfSection> = Vec::with_capacity(count);
        for index in 0..count {
            let at = 16 + index * 32;
            let s = TdvfSection {
                data_offset: u32_at(hdr, at),
                raw_size: u32_at(hdr, at + 4),
                gpa: u64_at(hdr, at + 8),
                mem_size: u64_at(hdr, at + 16),
                kind: u32_at(hdr, at + 24),
                attributes: u32_at(hdr, at + 28),
            };
            let bad = |problem: String| Error::BadSection {
                what: TDVF_WHAT,
                index,
                gpa: s.gpa,
                size: s.mem_size,
                problem,
            };
            // The checks of td-shim's reference tool, plus bounds.
            if !s.gpa.is_multiple_of(PAGE_SIZE) || !s.mem_size.is_multiple_of(PAGE_SIZE) {
                return Err(bad("GPA or memory size is not a multiple of 4096".into()));
            }
            if s.kind >= 9 {
                return Err(bad(format!("unknown type {}", s.kind)));
            }
            if s.kind != 7 && (s.gpa != 0 || s.mem_size != 0) && s.mem_size < u64::from(s.raw_size) {
                return Err(bad(format!("memory size is below the raw size {:#x}", s.raw_size)));
            }
            if s.gpa.checked_add(s.mem_size).is_none_or(|e| e > 1 << 52) {
                return Err(bad("reaches past the 52-bit physical address space".into()));
            }
            let file_need =
                if s.attributes & TdvfSection::MR_EXTEND != 0 { s.mem_size } else { u64::from(s.raw_size) };
            if u64::from(s.data_offset) + file_need > self.len as u64 {
                return Err(bad(format!(
                    "its data at offset {:#x} ({file_need:#x} bytes) runs past the {}-byte file",
                    s.data_offset, self.len
                )));
            }
            if let Some(first) = sections.iter().position(|o| overlaps(o.gpa, o.mem_size, s.gpa, s.mem_size))
            {
                return Err(Error::SectionsOverlap { what: TDVF_WHAT, first, second: index });
            }
            sections.push(s);
        }
        Ok(sections)
    }
}

/// Checks the 16-byte header `signature, u32 length, u32 version (1), u32
/// count` shared by the SEV metadata and the TDVF descriptor; returns the
/// length and the count.
fn header(
    hdr: &[u8],
    offset: usize,
    what: &'static str,
    signature: &'static str,
) -> Result<(usize, usize), Error> {
    if hdr[..4] != *signature.as_bytes() {
        return Err(Error::BadSignature {
            what,
            offset,
            found: String::from_utf8_lossy(&hdr[..4]).into_owned(),
            expected: signature,
        });
    }
    let version = u32_at(hdr, 8);
    if version != 1 {
        return Err(Error::BadHeader { what, offset, problem: format!("version {version}, expected 1") });
    }
    Ok((u32_at(hdr, 4) as usize, u32_at(hdr, 12) as usize))
}

fn overlaps(a: u64, a_len: u64, b: u64, b_len: u64) -> bool {
    a_len != 0 && b_len != 0 && a < b + b_len && b < a + a_len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_print_in_registry_form() {
        assert_eq!(guids::FOOTER.to_string(), "96b582de-1fb2-45f7-baea-a366c55a082d");
        assert_eq!(guids::TDVF_DESCRIPTOR.to_string(), "e9eaf9f3-168e-44d5-a8eb-7f4d8738f6ae");
    }
}
