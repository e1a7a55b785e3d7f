/// Why a disk image, its partition table or its EFI system partition could
/// not be read. Messages name the structure and the offset involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading the underlying file failed.
    #[error("reading {len} bytes at offset {offset:#x}")]
    Io {
        /// Where the read started.
        offset: u64,
        /// How many bytes were asked for.
        len: usize,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A read reached past the end of the image.
    #[error("{what} at offset {offset:#x} with {len} bytes is beyond the end of the {space} ({size} bytes)")]
    OutOfBounds {
        /// The structure being read.
        what: &'static str,
        /// Its offset.
        offset: u64,
        /// Its length.
        len: u64,
        /// "file" or "disk".
        space: &'static str,
        /// The size of that space.
        size: u64,
    },
    /// The qcow2 header is not one this reader supports.
    #[error("qcow2 header: {0}")]
    Qcow2Header(String),
    /// A qcow2 L1 or L2 entry is malformed.
    #[error("qcow2 {table} entry {index} ({entry:#018x}): {problem}")]
    Qcow2Entry {
        /// "L1" or "L2".
        table: &'static str,
        /// The entry's index.
        index: u64,
        /// The raw entry.
        entry: u64,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A compressed qcow2 cluster does not inflate to a cluster.
    #[error("qcow2 compressed cluster at offset {offset:#x}: {problem}")]
    Qcow2Compressed {
        /// The compressed data's file offset.
        offset: u64,
        /// What went wrong.
        problem: String,
    },
    /// A VHD that is not a fixed disk (dynamic or differencing).
    #[error("VHD disk type {disk_type}: only fixed VHDs (type 2) are read")]
    UnsupportedVhd {
        /// The footer's disk type.
        disk_type: u32,
    },
    /// The disk has no GPT header at LBA 1.
    #[error("no GPT: LBA 1 does not start with \"EFI PART\"")]
    NoGpt,
    /// The GPT header or its partition array is malformed.
    #[error("GPT: {0}")]
    BadGpt(String),
    /// No partition has the EFI system partition type GUID.
    #[error("no EFI system partition in the GPT")]
    NoEsp,
    /// The FAT file system could not be read.
    #[error("FAT file system of the EFI system partition: {0}")]
    Fat(String),
    /// A file looked up on the EFI system partition is absent.
    #[error("no file {0} on the EFI system partition")]
    NoSuchFile(String),
    /// A file on the EFI system partition is larger than the caller allows.
    #[error("{path} on the EFI system partition is {size} bytes, more than the {limit}-byte limit")]
    FileTooLarge {
        /// The file's path.
        path: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
}
