//! PE/COFF section tables and Authenticode digests.
//!
//! UEFI firmware measures every EFI application it starts into PCR 4 as the
//! application's *Authenticode* digest, and systemd-stub measures the sections
//! of a unified kernel image (UKI) into PCR 11. Both need the same two
//! things from a PE/COFF file, which this crate provides:
//!
//! - the section table ([`PeFile::sections`]): each section's name, its
//!   `VirtualSize` and the bytes the loader places in memory
//!   ([`Section::loaded`]), read with every offset bounded by the file and
//!   sections that overlap refused;
//! - the Authenticode digest ([`PeFile::authenticode`]) in any bank
//!   [`HashAlg`] of rvkit-pcr, computed as the *Windows Authenticode Portable
//!   Executable Signature Format* (version 1.0, "Calculating the PE Image
//!   Hash") defines it and as EDK II's `Tcg2MeasurePeImage` (the code OVMF
//!   measures images with) implements it.
//!
//! Formats: *Microsoft PE and COFF Specification* (DOS stub `e_lfanew` at
//! 0x3c, COFF file header, optional header, data directory 4 = certificate
//! table holding a file offset, 40-byte section headers).
//!
//! # The tail of the file
//!
//! Implementations disagree on bytes past the last section. This crate follows
//! the Authenticode specification and EDK II: after the headers and the
//! sections (sorted by `PointerToRawData`), the bytes from
//! `SUM_OF_BYTES_HASHED` to the end of the file, less the certificate table's
//! size, are hashed as they are, **without** padding to a multiple of 8. Tools
//! that pad with zeros (signing tools must align the certificate table they
//! append) compute a different digest for a file whose length is not a
//! multiple of 8; the firmware does not pad.
//!
//! ```
//! use rvkit_pcr::HashAlg;
//! use rvkit_pe::PeFile;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let bytes = std::fs::read("/boot/vmlinuz")
//! #   .or_else(|_| Ok::<_, std::io::Error>(rvkit_pe::doc_example()))?;
//! let pe = PeFile::parse(&bytes)?;
//! for section in pe.sections() {
//!     println!("{} {} bytes", section.name(), section.virtual_size());
//! }
//! println!("{}", pe.authenticode(HashAlg::Sha256));
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod error;

use std::borrow::Cow;
use std::ops::Range;

use rvkit_pcr::{Digest, HashAlg};

pub use error::Error;

/// Offset of `e_lfanew` in the DOS header.
const E_LFANEW: usize = 0x3c;
/// Size of the COFF file header that follows the "PE\0\0" signature.
const COFF_HEADER_LEN: usize = 20;
/// Size of one section header.
const SECTION_HEADER_LEN: usize = 40;
/// Index of the certificate table in the data directories.
const CERTIFICATE_TABLE: u32 = 4;

/// The largest `SizeOfImage` accepted: 1 GiB. A section's loaded bytes
/// ([`Section::loaded`]) are zero-filled up to its `VirtualSize`, so this
/// bounds what a hostile header can make a reader allocate or hash; a
/// unified kernel image with its initrd is some tens of MiB.
pub const MAX_IMAGE_SIZE: u64 = 1 << 30;

/// A parsed PE/COFF image borrowing the file's bytes.
#[derive(Debug, Clone)]
pub struct PeFile<'a> {
    data: &'a [u8],
    check_sum: usize,
    certificate_entry: Option<usize>,
    size_of_headers: usize,
    certificate_table_len: usize,
    sections: Vec<Section<'a>>,
}

/// One entry of the section table with its raw data.
#[derive(Debug, Clone)]
pub struct Section<'a> {
    name: [u8; 8],
    virtual_size: u32,
    virtual_address: u32,
    raw_offset: u32,
    raw: &'a [u8],
}

impl<'a> Section<'a> {
    /// The name: the 8-byte field up to its first NUL, bytes outside ASCII
    /// replaced. Long names of object files ("/4") are returned as written.
    pub fn name(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(self.name_bytes())
    }

    /// The name's bytes up to the first NUL.
    pub fn name_bytes(&self) -> &[u8] {
        let end = self.name.iter().position(|&b| b == 0).unwrap_or(8);
        &self.name[..end]
    }

    /// `VirtualSize`: the section's size once loaded.
    pub fn virtual_size(&self) -> u32 {
        self.virtual_size
    }

    /// `VirtualAddress`: the section's address relative to the image base.
    pub fn virtual_address(&self) -> u32 {
        self.virtual_address
    }

    /// `PointerToRawData`: the file offset of the section's raw data.
    pub fn raw_offset(&self) -> u32 {
        self.raw_offset
    }

    /// The raw data in the file (`SizeOfRawData` bytes, file-aligned).
    pub fn raw_data(&self) -> &'a [u8] {
        self.raw
    }

    /// The `VirtualSize` bytes the loader puts in memory: the raw data cut to
    /// `VirtualSize`, or followed by zeros when `VirtualSize` is larger. This
    /// is what systemd-stub measures for a UKI section.
    pub fn loaded(&self) -> Cow<'a, [u8]> {
        let len = self.virtual_size as usize;
        if len <= self.raw.len() {
            Cow::Borrowed(&self.raw[..len])
        } else {
            let mut v = Vec::with_capacity(len);
            v.extend_from_slice(self.raw);
            v.resize(len, 0);
            Cow::Owned(v)
        }
    }

    /// The digest of [`Section::loaded`], without materialising the zeros
    /// a large `VirtualSize` asks for.
    pub fn loaded_digest(&self, alg: HashAlg) -> Digest {
        let len = self.virtual_size as usize;
        let mut h = alg.hasher();
        h.update(&self.raw[..len.min(self.raw.len())]);
        let zeros = [0u8; 4096];
        let mut left = len.saturating_sub(self.raw.len());
        while left > 0 {
            let n = left.min(zeros.len());
            h.update(&zeros[..n]);
            left -= n;
        }
        h.finish()
    }
}

fn bytes<'a>(data: &'a [u8], what: &'static str, offset: usize, len: usize) -> Result<&'a [u8], Error> {
    offset.checked_add(len).and_then(|end| data.get(offset..end)).ok_or(Error::Truncated {
        what,
        offset: offset as u64,
        len: len as u64,
        file_len: data.len() as u64,
    })
}

fn u16_at(data: &[u8], what: &'static str, offset: usize) -> Result<u16, Error> {
    let b = bytes(data, what, offset, 2)?;
    Ok(u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(data: &[u8], what: &'static str, offset: usize) -> Result<u32, Error> {
    let b = bytes(data, what, offset, 4)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

impl<'a> PeFile<'a> {
    /// Parses the headers and the section table of `data`.
    pub fn parse(data: &'a [u8]) -> Result<PeFile<'a>, Error> {
        if bytes(data, "DOS header", 0, 0x40)?[..2] != *b"MZ" {
            return Err(Error::NoDosSignature);
        }
        let pe = u32_at(data, "e_lfanew", E_LFANEW)? as usize;
        if bytes(data, "PE signature", pe, 4)? != b"PE\0\0" {
            return Err(Error::NoPeSignature { offset: pe as u64 });
        }
        let coff = pe + 4;
        bytes(data, "COFF header", coff, COFF_HEADER_LEN)?;
        let number_of_sections = u16_at(data, "COFF header", coff + 2)? as usize;
        let size_of_optional = u16_at(data, "COFF header", coff + 16)?;
        let opt = coff + COFF_HEADER_LEN;
        let magic = u16_at(data, "optional header", opt)?;
        // Offsets inside the optional header of NumberOfRvaAndSizes and of the
        // first data directory (PE/COFF specification, "Optional Header Windows-Specific Fields").
        let (number_of_rva, directories) = match magic {
            0x10b => (92, 96),
            0x20b => (108, 112),
            _ => return Err(Error::BadOptionalMagic { offset: opt as u64, magic }),
        };
        let mut needed = number_of_rva + 4;
        if usize::from(size_of_optional) < needed {
            return Err(Error::OptionalHeaderTooSmall {
                offset: opt as u64,
                size: size_of_optional,
                needed: needed as u16,
            });
        }
        bytes(data, "optional header", opt, usize::from(size_of_optional))?;
        let size_of_image = u64::from(u32_at(data, "optional header", opt + 56)?);
        if size_of_image > MAX_IMAGE_SIZE {
            return Err(Error::ImageTooLarge { size_of_image });
        }
        let size_of_headers = u32_at(data, "optional header", opt + 60)? as usize;
        let check_sum = opt + 64;
        let rva_count = u32_at(data, "optional header", opt + number_of_rva)?;
        let certificate_entry = if rva_count > CERTIFICATE_TABLE {
            let entry = directories + 8 * CERTIFICATE_TABLE as usize;
            needed = entry + 8;
            if usize::from(size_of_optional) < needed {
                return Err(Error::OptionalHeaderTooSmall {
                    offset: opt as u64,
                    size: size_of_optional,
                    needed: needed as u16,
                });
            }
            Some(opt + entry)
        } else {
            None
        };

        let table = opt + usize::from(size_of_optional);
        let table_len = number_of_sections * SECTION_HEADER_LEN;
        let table_bytes = bytes(data, "section table", table, table_len)?;
        if size_of_headers > data.len() || size_of_headers < table + table_len {
            return Err(Error::BadSizeOfHeaders {
                size: size_of_headers as u64,
                table_end: (table + table_len) as u64,
                file_len: data.len() as u64,
            });
        }

        let mut certificate_table_len = 0;
        if let Some(entry) = certificate_entry {
            let offset = u32_at(data, "certificate table entry", entry)? as usize;
            let len = u32_at(data, "certificate table entry", entry + 4)? as usize;
            if len > 0 && offset.checked_add(len).is_none_or(|end| end > data.len()) {
                return Err(Error::CertificateTableOutOfFile {
                    offset: offset as u64,
                    len: len as u64,
                    file_len: data.len() as u64,
                });
            }
            certificate_table_len = len;
        }

        let mut sections = Vec::with_capacity(number_of_sections);
        for (index, h) in table_bytes.chunks_exact(SECTION_HEADER_LEN).enumerate() {
            let field = |at: usize| u32::from_le_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
            let mut name = [0u8; 8];
            name.copy_from_slice(&h[..8]);
            let (virtual_size, virtual_address, raw_len, raw_offset) =
                (field(8), field(12), field(16), field(20));
            let raw = if raw_len == 0 {
                &data[..0]
            } else {
                bytes(data, "section data", raw_offset as usize, raw_len as usize).map_err(|_| {
                    Error::SectionOutOfFile {
                        index,
                        name: String::from_utf8_lossy(&name).trim_end_matches('\0').to_owned(),
                        offset: raw_offset.into(),
                        len: raw_len.into(),
                        file_len: data.len() as u64,
                    }
                })?
            };
            sections.push(Section { name, virtual_size, virtual_address, raw_offset, raw });
        }
        refuse_overlaps(&sections, "file", |s| {
            let start = u64::from(s.raw_offset);
            start..start + s.raw.len() as u64
        })?;
        let in_memory = |s: &Section<'_>| {
            let start = u64::from(s.virtual_address);
            let len = if s.virtual_size == 0 { s.raw.len() as u64 } else { u64::from(s.virtual_size) };
            start..start + len
        };
        if let Some((index, s)) = sections.iter().enumerate().find(|(_, s)| in_memory(s).end > size_of_image) {
            return Err(Error::SectionBeyondImage {
                index,
                name: s.name().into_owned(),
                end: in_memory(s).end,
                size_of_image,
            });
        }
        refuse_overlaps(&sections, "loaded image", in_memory)?;

        Ok(PeFile { data, check_sum, certificate_entry, size_of_headers, certificate_table_len, sections })
    }

    /// The whole file.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The sections in the order of the section table.
    pub fn sections(&self) -> &[Section<'a>] {
        &self.sections
    }

    /// The first section whose name is `name` (".linux", ".cmdline", ...).
    pub fn section(&self, name: &str) -> Option<&Section<'a>> {
        self.sections.iter().find(|s| s.name_bytes() == name.as_bytes())
    }

    /// The Authenticode digest of the image in `alg`, as firmware measures it
    /// into PCR 4 (see the crate documentation for the tail of the file).
    pub fn authenticode(&self, alg: HashAlg) -> Digest {
        let mut h = alg.hasher();
        self.authenticode_parts(|part| h.update(part));
        h.finish()
    }

    /// Calls `hash` with each run of bytes the Authenticode digest covers, in
    /// order. The offsets were bounded when the file was parsed.
    fn authenticode_parts(&self, mut hash: impl FnMut(&[u8])) {
        let d = self.data;
        // The headers, less CheckSum and the certificate table's directory entry.
        hash(&d[..self.check_sum]);
        match self.certificate_entry {
            Some(entry) => {
                hash(&d[self.check_sum + 4..entry]);
                hash(&d[entry + 8..self.size_of_headers]);
            }
            None => hash(&d[self.check_sum + 4..self.size_of_headers]),
        }
        // The sections by file offset; SUM_OF_BYTES_HASHED counts bytes, not a
        // position, as in the specification and EDK II.
        let mut sum_of_bytes_hashed = self.size_of_headers;
        let mut by_offset: Vec<&Section<'_>> = self.sections.iter().filter(|s| !s.raw.is_empty()).collect();
        by_offset.sort_by_key(|s| s.raw_offset);
        for s in by_offset {
            hash(s.raw);
            sum_of_bytes_hashed += s.raw.len();
        }
        // Whatever follows, less the certificate table, unpadded.
        let end = d.len().saturating_sub(self.certificate_table_len);
        if end > sum_of_bytes_hashed {
            hash(&d[sum_of_bytes_hashed..end]);
        }
    }
}

/// Refuses two sections whose ranges in one address space share a byte.
fn refuse_overlaps<'a>(
    sections: &[Section<'a>],
    space: &'static str,
    range: impl Fn(&Section<'a>) -> Range<u64>,
) -> Result<(), Error> {
    let mut ranges: Vec<(Range<u64>, &Section<'a>)> =
        sections.iter().map(|s| (range(s), s)).filter(|(r, _)| !r.is_empty()).collect();
    ranges.sort_by_key(|(r, _)| r.start);
    for pair in ranges.windows(2) {
        let ((a, first), (b, second)) = (&pair[0], &pair[1]);
        if b.start < a.end {
            return Err(Error::OverlappingSections {
                first: first.name().into_owned(),
                second: second.name().into_owned(),
                space,
                offset: b.start,
            });
        }
    }
    Ok(())
}

/// A minimal PE32+ image for documentation examples on machines without a
/// kernel image; not part of the API.
#[doc(hidden)]
pub fn doc_example() -> Vec<u8> {
    testpe::build(&[(".text", 0, b"hello")], 0x200, b"")
}

#[doc(hidden)]
pub mod testpe;

#[cfg(test)]
mod tests;
