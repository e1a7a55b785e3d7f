//! The GUID partition table (UEFI 2.10, section 5.3), read from 512-byte sectors.

use crate::{Disk, Error, Source};

const SECTOR: u64 = 512;
/// Largest partition entry array read (the usual 128 × 128 bytes is 16 KiB).
const MAX_ENTRIES_BYTES: u64 = 1 << 20;

/// The EFI system partition type GUID C12A7328-F81F-11D2-BA4B-00A0C93EC93B,
/// in its on-disk (mixed-endian) byte order.
pub const ESP_TYPE: [u8; 16] =
    [0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b];

/// One used entry of the partition array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// The entry's index in the array, from 0.
    pub index: u32,
    /// The partition type GUID, on-disk byte order.
    pub type_guid: [u8; 16],
    /// The first byte of the partition on the disk.
    pub offset: u64,
    /// The partition's length in bytes.
    pub len: u64,
}

pub(crate) fn read<S: Source>(disk: &Disk<S>) -> Result<Vec<Partition>, Error> {
    if disk.size() < 2 * SECTOR {
        return Err(Error::NoGpt);
    }
    let mut h = [0u8; 92];
    disk.read_at(&mut h, SECTOR)?;
    if h[..8] != *b"EFI PART" {
        return Err(Error::NoGpt);
    }
    let le32 = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"));
    let le64 = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
    let entries_lba = le64(&h, 72);
    let count = u64::from(le32(&h, 80));
    let entry_size = u64::from(le32(&h, 84));
    if entry_size < 128 || entry_size % 8 != 0 {
        return Err(Error::BadGpt(format!("partition entry size {entry_size} (must be 128 × 2^n)")));
    }
    let bytes = count * entry_size;
    if bytes > MAX_ENTRIES_BYTES {
        return Err(Error::BadGpt(format!(
            "{count} partition entries of {entry_size} bytes exceed {MAX_ENTRIES_BYTES} bytes"
        )));
    }
    let start = entries_lba
        .checked_mul(SECTOR)
        .ok_or_else(|| Error::BadGpt(format!("partition entries at LBA {entries_lba} overflow")))?;
    let mut raw = vec![0u8; bytes as usize];
    disk.read_at(&mut raw, start)?;
    let mut parts = Vec::new();
    for (index, e) in raw.chunks_exact(entry_size as usize).enumerate() {
        let type_guid: [u8; 16] = e[..16].try_into().expect("16 bytes");
        if type_guid == [0; 16] {
            continue;
        }
        let (first, last) = (le64(e, 32), le64(e, 40));
        let bad = |what: &str| {
            Error::BadGpt(format!("partition {index}: {what} (first LBA {first}, last LBA {last})"))
        };
        if last < first {
            return Err(bad("ends before it starts"));
        }
        let offset = first.checked_mul(SECTOR).ok_or_else(|| bad("offset overflows"))?;
        let len = (last - first + 1).checked_mul(SECTOR).ok_or_else(|| bad("length overflows"))?;
        if offset.checked_add(len).is_none_or(|end| end > disk.size()) {
            return Err(bad(&format!("extends past the end of the {}-byte disk", disk.size())));
        }
        parts.push(Partition { index: index as u32, type_guid, offset, len });
    }
    Ok(parts)
}
