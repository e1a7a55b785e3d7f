//! qcow2 (QEMU `docs/interop/qcow2.txt`), read-only, without backing files.

use std::cell::RefCell;

use crate::{Disk, Error, Source};

/// "QFI\xfb".
pub(crate) const MAGIC: [u8; 4] = *b"QFI\xfb";

/// Host offset bits of L1 and standard L2 entries (bits 9–55).
const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
/// L2 entry flag: the cluster is compressed.
const COMPRESSED: u64 = 1 << 62;
/// L2 entry flag (version 3): the cluster reads as zeros.
const ZERO: u64 = 1;
/// Largest L1 table read (32 MiB of entries covers far more than any podvm).
const MAX_L1_BYTES: u64 = 32 << 20;

/// Incompatible feature bits (header offset 72) and the ones this reader accepts.
const INCOMPAT_DIRTY: u64 = 1;
const INCOMPAT_COMPRESSION_TYPE: u64 = 1 << 3;

pub(crate) struct Qcow2 {
    cluster_bits: u32,
    size: u64,
    l1: Vec<u64>,
    /// The last L2 table read: (its file offset, its entries).
    l2_cache: RefCell<Option<(u64, Vec<u64>)>>,
    /// The last inflated compressed clusters, most recent first: (L2 entry, data).
    /// File-system reads come sector by sector and alternate between a FAT
    /// and the data, so a few clusters are kept to inflate each once.
    inflated: RefCell<Vec<(u64, Vec<u8>)>>,
}

/// How many inflated clusters [`Qcow2`] keeps.
const INFLATED_KEPT: usize = 8;

fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

impl Qcow2 {
    pub(crate) fn open<S: Source>(disk: &Disk<S>) -> Result<Qcow2, Error> {
        let bad = |m: String| Error::Qcow2Header(m);
        let mut h = [0u8; 112];
        let want = (disk.source.len() as usize).min(h.len());
        disk.read_file(&mut h[..want], 0, "qcow2 header")?;
        if want < 72 {
            return Err(bad(format!("{want} bytes, shorter than the 72-byte version 2 header")));
        }
        let version = be32(&h, 4);
        if version != 2 && version != 3 {
            return Err(bad(format!("version {version}, expected 2 or 3")));
        }
        if be64(&h, 8) != 0 {
            return Err(bad("has a backing file; only standalone images are read".into()));
        }
        let cluster_bits = be32(&h, 20);
        if !(9..=21).contains(&cluster_bits) {
            return Err(bad(format!("cluster_bits {cluster_bits} outside 9..=21")));
        }
        let size = be64(&h, 24);
        if be32(&h, 32) != 0 {
            return Err(bad("encrypted images are not read".into()));
        }
        let l1_size = u64::from(be32(&h, 36));
        let l1_offset = be64(&h, 40);
        if version == 3 {
            if want < 104 {
                return Err(bad(format!("{want} bytes, shorter than the 104-byte version 3 header")));
            }
            let incompat = be64(&h, 72);
            let unknown = incompat & !(INCOMPAT_DIRTY | INCOMPAT_COMPRESSION_TYPE);
            if unknown != 0 {
                return Err(bad(format!(
                    "incompatible features {unknown:#x} (corrupt, external data file or extended L2) are not read"
                )));
            }
            let header_len = be32(&h, 100);
            if incompat & INCOMPAT_COMPRESSION_TYPE != 0 && header_len > 104 && want > 104 && h[104] != 0 {
                return Err(bad(format!("compression type {} (zstd); only deflate is read", h[104])));
            }
        }
        // Each L2 table maps a cluster of 8-byte entries, each a cluster.
        let l2_bits = cluster_bits - 3;
        let needed = size.div_ceil(1u64 << (cluster_bits + l2_bits));
        if l1_size < needed {
            return Err(bad(format!(
                "L1 table has {l1_size} entries, fewer than the {needed} a {size}-byte disk needs"
            )));
        }
        let l1_bytes = needed * 8;
        if l1_bytes > MAX_L1_BYTES {
            return Err(bad(format!("L1 table of {l1_bytes} bytes is larger than {MAX_L1_BYTES}")));
        }
        let mut raw = vec![0u8; l1_bytes as usize];
        disk.read_file(&mut raw, l1_offset, "qcow2 L1 table")?;
        let l1 = raw.chunks_exact(8).map(|c| u64::from_be_bytes(c.try_into().expect("8 bytes"))).collect();
        Ok(Qcow2 { cluster_bits, size, l1, l2_cache: RefCell::new(None), inflated: RefCell::new(Vec::new()) })
    }

    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Reads virtual-disk bytes; the caller bounded `offset + buf.len()` by the size.
    pub(crate) fn read_at<S: Source>(
        &self,
        disk: &Disk<S>,
        buf: &mut [u8],
        mut offset: u64,
    ) -> Result<(), Error> {
        let cluster = 1u64 << self.cluster_bits;
        let mut done = 0;
        while done < buf.len() {
            let within = offset & (cluster - 1);
            let n = ((cluster - within) as usize).min(buf.len() - done);
            self.read_in_cluster(disk, &mut buf[done..done + n], offset)?;
            done += n;
            offset += n as u64;
        }
        Ok(())
    }

    fn read_in_cluster<S: Source>(&self, disk: &Disk<S>, buf: &mut [u8], offset: u64) -> Result<(), Error> {
        let cluster_bits = self.cluster_bits;
        let cluster = 1u64 << cluster_bits;
        let l2_bits = cluster_bits - 3;
        let cluster_index = offset >> cluster_bits;
        let l1_index = cluster_index >> l2_bits;
        let l2_index = cluster_index & ((1 << l2_bits) - 1);
        let within = offset & (cluster - 1);
        let l1_entry = self.l1[l1_index as usize];
        let l2_offset = l1_entry & OFFSET_MASK;
        if l2_offset == 0 {
            buf.fill(0);
            return Ok(());
        }
        if l2_offset & (cluster - 1) != 0 {
            return Err(Error::Qcow2Entry {
                table: "L1",
                index: l1_index,
                entry: l1_entry,
                problem: "L2 table offset is not cluster-aligned",
            });
        }
        let entry = self.l2_entry(disk, l1_index, l1_entry, l2_offset, l2_index)?;
        let index = cluster_index;
        if entry & COMPRESSED != 0 {
            let mut kept = self.inflated.borrow_mut();
            let at = match kept.iter().position(|(e, _)| *e == entry) {
                Some(at) => at,
                None => {
                    kept.truncate(INFLATED_KEPT - 1);
                    kept.push((entry, self.inflate(disk, index, entry)?));
                    kept.len() - 1
                }
            };
            let hit = kept.remove(at);
            buf.copy_from_slice(&hit.1[within as usize..within as usize + buf.len()]);
            kept.insert(0, hit);
            return Ok(());
        }
        let host = entry & OFFSET_MASK;
        if host == 0 || entry & ZERO != 0 {
            buf.fill(0);
            return Ok(());
        }
        if host & (cluster - 1) != 0 {
            return Err(Error::Qcow2Entry {
                table: "L2",
                index,
                entry,
                problem: "cluster offset is not cluster-aligned",
            });
        }
        if host + within + buf.len() as u64 > disk.source.len() {
            return Err(Error::Qcow2Entry {
                table: "L2",
                index,
                entry,
                problem: "cluster is beyond the end of the file",
            });
        }
        disk.read_file(buf, host + within, "qcow2 data cluster")
    }

    fn l2_entry<S: Source>(
        &self,
        disk: &Disk<S>,
        l1_index: u64,
        l1_entry: u64,
        l2_offset: u64,
        l2_index: u64,
    ) -> Result<u64, Error> {
        let mut cache = self.l2_cache.borrow_mut();
        if cache.as_ref().is_none_or(|(at, _)| *at != l2_offset) {
            let cluster = 1usize << self.cluster_bits;
            if l2_offset.checked_add(cluster as u64).is_none_or(|end| end > disk.source.len()) {
                return Err(Error::Qcow2Entry {
                    table: "L1",
                    index: l1_index,
                    entry: l1_entry,
                    problem: "L2 table is beyond the end of the file",
                });
            }
            let mut raw = vec![0u8; cluster];
            disk.read_file(&mut raw, l2_offset, "qcow2 L2 table")?;
            let entries =
                raw.chunks_exact(8).map(|c| u64::from_be_bytes(c.try_into().expect("8 bytes"))).collect();
            *cache = Some((l2_offset, entries));
        }
        Ok(cache.as_ref().expect("filled above").1[l2_index as usize])
    }

    /// Inflates the compressed cluster an L2 entry describes.
    fn inflate<S: Source>(&self, disk: &Disk<S>, index: u64, entry: u64) -> Result<Vec<u8>, Error> {
        // Bits 0..x-1 hold the host offset and bits x..61 the number of
        // additional 512-byte sectors, x = 62 - (cluster_bits - 8).
        let x = 62 - (self.cluster_bits - 8);
        let host = entry & ((1u64 << x) - 1);
        let sectors = (entry & ((1u64 << 62) - 1)) >> x;
        let file_len = disk.source.len();
        if host >= file_len {
            return Err(Error::Qcow2Entry {
                table: "L2",
                index,
                entry,
                problem: "compressed cluster is beyond the end of the file",
            });
        }
        // The data runs to the end of the host offset's sector plus `sectors`
        // more; the last sector may be cut by the end of the file.
        let end = ((host | 511) + 1 + sectors * 512).min(file_len);
        let mut compressed = vec![0u8; (end - host) as usize];
        disk.read_file(&mut compressed, host, "qcow2 compressed cluster")?;
        let cluster = 1usize << self.cluster_bits;
        let mut out = vec![0u8; cluster];
        let mut z = flate2::Decompress::new(false);
        let status = z
            .decompress(&compressed, &mut out, flate2::FlushDecompress::Finish)
            .map_err(|e| Error::Qcow2Compressed { offset: host, problem: e.to_string() })?;
        if z.total_out() as usize != cluster {
            return Err(Error::Qcow2Compressed {
                offset: host,
                problem: format!(
                    "inflates to {} bytes, not a {cluster}-byte cluster ({status:?})",
                    z.total_out()
                ),
            });
        }
        Ok(out)
    }
}
