//! The FAT file system of the EFI system partition, read through `fatfs`.

use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::{Disk, Error, Partition, Source};

/// A partition of a [`Disk`] as the `Read + Seek` stream `fatfs` reads; writes fail.
pub(crate) struct PartitionIo<'a, S> {
    disk: &'a Disk<S>,
    offset: u64,
    len: u64,
    pos: u64,
}

impl<S: Source> Read for PartitionIo<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (self.len.saturating_sub(self.pos)).min(buf.len() as u64) as usize;
        self.disk.read_at(&mut buf[..n], self.offset + self.pos).map_err(io::Error::other)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<S> Write for PartitionIo<'_, S> {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(io::ErrorKind::PermissionDenied, "the EFI system partition is read only"))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<S> Seek for PartitionIo<'_, S> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the partition start"))?;
        Ok(self.pos)
    }
}

/// The EFI system partition's FAT file system.
pub struct Esp<'a, S: Source> {
    partition: Partition,
    fs: fatfs::FileSystem<PartitionIo<'a, S>>,
}

fn fat(e: io::Error) -> Error {
    Error::Fat(e.to_string())
}

/// Runs a `fatfs` call, turning a panic into an error: fatfs 0.3.6 computes
/// cluster offsets with unchecked arithmetic that a corrupt directory entry
/// overflows (found by the disk_read fuzz target), so a corrupt ESP must not
/// take the process down. A FAT reader of our own would remove the need.
fn guarded<T>(f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(Error::Fat("corrupt file system (cluster arithmetic out of range)".into())))
}

impl<'a, S: Source> Esp<'a, S> {
    pub(crate) fn open(disk: &'a Disk<S>, partition: Partition) -> Result<Esp<'a, S>, Error> {
        let io = PartitionIo { disk, offset: partition.offset, len: partition.len, pos: 0 };
        let fs = guarded(|| fatfs::FileSystem::new(io, fatfs::FsOptions::new()).map_err(fat))?;
        Ok(Esp { partition, fs })
    }

    /// The GPT entry of this partition.
    pub fn partition(&self) -> &Partition {
        &self.partition
    }

    /// Reads the file at `path` ("EFI/BOOT/BOOTX64.EFI"; FAT names match
    /// without regard to case), refusing one larger than `limit` bytes.
    pub fn read_file(&self, path: &str, limit: u64) -> Result<Vec<u8>, Error> {
        guarded(|| self.read_file_unguarded(path, limit))
    }

    fn read_file_unguarded(&self, path: &str, limit: u64) -> Result<Vec<u8>, Error> {
        let mut file = self.fs.root_dir().open_file(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::NoSuchFile(path.to_owned()),
            _ => fat(e),
        })?;
        let size = file.seek(SeekFrom::End(0)).map_err(fat)?;
        if size > limit {
            return Err(Error::FileTooLarge { path: path.to_owned(), size, limit });
        }
        file.seek(SeekFrom::Start(0)).map_err(fat)?;
        let mut out = Vec::with_capacity(size as usize);
        file.read_to_end(&mut out).map_err(fat)?;
        if out.len() as u64 != size {
            return Err(Error::Fat(format!("{path}: read {} of its {size} bytes", out.len())));
        }
        Ok(out)
    }

    /// The names of the entries of directory `path` ("" for the root), with
    /// "/" appended to subdirectories; `None` when there is no such directory.
    pub fn list(&self, path: &str) -> Result<Option<Vec<String>>, Error> {
        guarded(|| self.list_unguarded(path))
    }

    fn list_unguarded(&self, path: &str) -> Result<Option<Vec<String>>, Error> {
        let root = self.fs.root_dir();
        let dir = if path.is_empty() {
            root
        } else {
            match root.open_dir(path) {
                Ok(d) => d,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(fat(e)),
            }
        };
        let mut names = Vec::new();
        for entry in dir.iter() {
            let entry = entry.map_err(fat)?;
            let name = entry.file_name();
            if name == "." || name == ".." {
                continue;
            }
            names.push(if entry.is_dir() { format!("{name}/") } else { name });
        }
        names.sort();
        Ok(Some(names))
    }
}
