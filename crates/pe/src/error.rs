/// Why a file is not a PE/COFF image this crate can read.
///
/// Every variant names the structure and the file offset involved, so a
/// message points at the byte that made the parse fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file ends before a structure that must be present.
    #[error("{what} at offset {offset:#x} needs {len} bytes but the file has {file_len}")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Its file offset.
        offset: u64,
        /// The bytes it needs.
        len: u64,
        /// The file's length.
        file_len: u64,
    },
    /// The file does not start with the DOS signature "MZ".
    #[error("no DOS signature \"MZ\" at offset 0x0")]
    NoDosSignature,
    /// The DOS header's `e_lfanew` does not point at "PE\0\0".
    #[error("no PE signature at offset {offset:#x} (named by the DOS header at 0x3c)")]
    NoPeSignature {
        /// Where the signature was looked for.
        offset: u64,
    },
    /// The optional header's magic is neither PE32 (0x10b) nor PE32+ (0x20b).
    #[error(
        "optional header at offset {offset:#x} has magic {magic:#06x}, neither PE32 (0x10b) nor PE32+ (0x20b)"
    )]
    BadOptionalMagic {
        /// The optional header's offset.
        offset: u64,
        /// The magic found.
        magic: u16,
    },
    /// The optional header is too small for the fields Authenticode needs.
    #[error(
        "optional header at offset {offset:#x} is {size} bytes, too small for its {needed}-byte fixed part"
    )]
    OptionalHeaderTooSmall {
        /// The optional header's offset.
        offset: u64,
        /// `SizeOfOptionalHeader` from the COFF header.
        size: u16,
        /// The bytes the fields in use need.
        needed: u16,
    },
    /// A section's raw data lies (partly) outside the file.
    #[error(
        "section {index} ({name}) raw data at offset {offset:#x} with {len} bytes extends past the end of the file ({file_len} bytes)"
    )]
    SectionOutOfFile {
        /// The section's index in the section table, from 0.
        index: usize,
        /// The section's name.
        name: String,
        /// `PointerToRawData`.
        offset: u64,
        /// `SizeOfRawData`.
        len: u64,
        /// The file's length.
        file_len: u64,
    },
    /// A section reaches past the loaded image's size (`SizeOfImage`), which
    /// a loader refuses.
    #[error(
        "section {index} ({name}) ends at {end:#x} in the loaded image, past SizeOfImage {size_of_image:#x}"
    )]
    SectionBeyondImage {
        /// The section's index in the section table, from 0.
        index: usize,
        /// The section's name.
        name: String,
        /// `VirtualAddress` plus the section's size in memory.
        end: u64,
        /// `SizeOfImage` from the optional header.
        size_of_image: u64,
    },
    /// The loaded image would be larger than [`crate::MAX_IMAGE_SIZE`].
    #[error("SizeOfImage {size_of_image:#x} is larger than the {max} MiB this reader loads", max = crate::MAX_IMAGE_SIZE >> 20)]
    ImageTooLarge {
        /// `SizeOfImage` from the optional header.
        size_of_image: u64,
    },
    /// Two sections share bytes of the file or of the loaded image.
    #[error("sections {first} and {second} overlap in the {space} at offset {offset:#x}")]
    OverlappingSections {
        /// The name of the section starting first.
        first: String,
        /// The name of the section starting inside it.
        second: String,
        /// "file" or "loaded image".
        space: &'static str,
        /// Where the second section starts (file offset or RVA).
        offset: u64,
    },
    /// `SizeOfHeaders` is larger than the file or smaller than the section table's end.
    #[error(
        "SizeOfHeaders {size:#x} is outside the file's headers (section table ends at {table_end:#x}, file is {file_len} bytes)"
    )]
    BadSizeOfHeaders {
        /// `SizeOfHeaders`.
        size: u64,
        /// The end of the section table.
        table_end: u64,
        /// The file's length.
        file_len: u64,
    },
    /// The certificate table directory points outside the file.
    #[error(
        "certificate table at offset {offset:#x} with {len} bytes extends past the end of the file ({file_len} bytes)"
    )]
    CertificateTableOutOfFile {
        /// The directory's file offset.
        offset: u64,
        /// The directory's size.
        len: u64,
        /// The file's length.
        file_len: u64,
    },
}
