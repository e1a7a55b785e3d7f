//! Read-only access to the disk images podvms ship as: raw, qcow2 (version 2
//! and 3, compressed clusters included, without a backing file) and fixed VHD
//! (a raw disk followed by a 512-byte "conectix" footer, as Azure takes it);
//! the GPT partition table on them; and the files of the FAT12/16/32 EFI
//! system partition (ESP).
//!
//! Everything is read on demand through [`Source`], so finding a UKI on a
//! multi-gigabyte qcow2 reads the qcow2 header, the L1 table, the few L2
//! tables and clusters that back the GPT and the ESP's files, and nothing
//! else; [`Disk::bytes_read`] counts what was read.
//!
//! Formats: QEMU's `docs/interop/qcow2.txt` (header, L1/L2 tables, compressed
//! cluster descriptors, deflate without a zlib header); Microsoft's *Virtual
//! Hard Disk Image Format Specification* (the footer); UEFI 2.10 section 5.3
//! (GPT); Microsoft's *FAT32 File System Specification* through the `fatfs`
//! crate.
//!
//! ```
//! use rvkit_disk::Disk;
//!
//! let disk = Disk::open(vec![0u8; 4096])?;
//! assert_eq!(disk.format().name(), "raw");
//! assert!(disk.esp().is_err()); // no GPT on an empty disk
//! # Ok::<(), rvkit_disk::Error>(())
//! ```
#![warn(missing_docs)]

mod error;
mod esp;
mod gpt;
mod qcow2;

use std::cell::Cell;

pub use error::Error;
pub use esp::Esp;
pub use gpt::{ESP_TYPE, Partition};

/// Random-access bytes a disk image is read from: a file or memory.
pub trait Source {
    /// The length in bytes.
    fn len(&self) -> u64;
    /// Whether the source is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fills `buf` from `offset`; the caller keeps `offset + buf.len()` within [`Source::len`].
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()>;
}

impl Source for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        self.as_slice().read_exact_at(buf, offset)
    }
}

impl Source for &[u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| std::io::ErrorKind::UnexpectedEof)?;
        let src = start.checked_add(buf.len()).and_then(|end| self.get(start..end));
        buf.copy_from_slice(src.ok_or(std::io::ErrorKind::UnexpectedEof)?);
        Ok(())
    }
}

/// A file of known length, read with positioned reads.
#[derive(Debug)]
pub struct FileSource {
    file: std::fs::File,
    len: u64,
}

impl FileSource {
    /// Wraps an open file, taking its current length.
    pub fn new(file: std::fs::File) -> std::io::Result<FileSource> {
        let len = file.metadata()?.len();
        Ok(FileSource { file, len })
    }
}

impl Source for FileSource {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(&self.file, buf, offset)
    }
}

/// The container format of a disk image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// The disk's bytes as they are.
    Raw,
    /// A QEMU qcow2 image.
    Qcow2,
    /// A fixed-size VHD: the disk's bytes, then a 512-byte footer.
    FixedVhd,
}

impl Format {
    /// The lowercase name ("raw", "qcow2", "vhd").
    pub fn name(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Qcow2 => "qcow2",
            Format::FixedVhd => "vhd",
        }
    }
}

/// The VHD footer's cookie and the disk type of a fixed disk (VHD specification, "Hard Disk Footer Format").
const VHD_COOKIE: &[u8; 8] = b"conectix";
const VHD_FIXED: u32 = 2;

/// A disk image opened for reading, whatever its container format.
pub struct Disk<S> {
    source: S,
    format: Format,
    size: u64,
    qcow2: Option<qcow2::Qcow2>,
    read: Cell<u64>,
}

impl<S: Source> Disk<S> {
    /// Detects the format of `source` (a qcow2 magic at offset 0, or a VHD
    /// footer in the last 512 bytes; raw otherwise) and reads its header.
    pub fn open(source: S) -> Result<Disk<S>, Error> {
        let mut disk =
            Disk { size: source.len(), source, format: Format::Raw, qcow2: None, read: Cell::new(0) };
        let len = disk.source.len();
        let mut magic = [0u8; 4];
        if len >= 4 {
            disk.read_file(&mut magic, 0, "image magic")?;
        }
        if magic == qcow2::MAGIC {
            let q = qcow2::Qcow2::open(&disk)?;
            disk.size = q.size();
            disk.qcow2 = Some(q);
            disk.format = Format::Qcow2;
        } else if len >= 512 && len % 512 == 0 {
            let mut footer = [0u8; 512];
            disk.read_file(&mut footer, len - 512, "VHD footer")?;
            if footer[..8] == *VHD_COOKIE {
                let disk_type = u32::from_be_bytes(footer[60..64].try_into().expect("4 bytes"));
                if disk_type != VHD_FIXED {
                    return Err(Error::UnsupportedVhd { disk_type });
                }
                disk.size = len - 512;
                disk.format = Format::FixedVhd;
            }
        }
        Ok(disk)
    }

    /// The container format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The virtual disk's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// How many bytes have been read from the source so far.
    pub fn bytes_read(&self) -> u64 {
        self.read.get()
    }

    /// Reads from the image file itself (not the virtual disk), bounded by its length.
    fn read_file(&self, buf: &mut [u8], offset: u64, what: &'static str) -> Result<(), Error> {
        let len = self.source.len();
        if offset.checked_add(buf.len() as u64).is_none_or(|end| end > len) {
            return Err(Error::OutOfBounds { what, offset, len: buf.len() as u64, space: "file", size: len });
        }
        self.source.read_exact_at(buf, offset).map_err(|source| Error::Io {
            offset,
            len: buf.len(),
            source,
        })?;
        self.read.set(self.read.get() + buf.len() as u64);
        Ok(())
    }

    /// Reads bytes of the virtual disk.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<(), Error> {
        if offset.checked_add(buf.len() as u64).is_none_or(|end| end > self.size) {
            return Err(Error::OutOfBounds {
                what: "read",
                offset,
                len: buf.len() as u64,
                space: "disk",
                size: self.size,
            });
        }
        match &self.qcow2 {
            Some(q) => q.read_at(self, buf, offset),
            None => self.read_file(buf, offset, "disk data"),
        }
    }

    /// The partitions of the disk's GPT.
    pub fn partitions(&self) -> Result<Vec<Partition>, Error> {
        gpt::read(self)
    }

    /// The FAT file system of the first EFI system partition.
    pub fn esp(&self) -> Result<Esp<'_, S>, Error> {
        let part = self.partitions()?.into_iter().find(|p| p.type_guid == ESP_TYPE).ok_or(Error::NoEsp)?;
        Esp::open(self, part)
    }
}

#[cfg(test)]
mod tests;
