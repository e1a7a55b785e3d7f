//! Any bytes: open as a disk image (raw, qcow2 or fixed VHD), read its GPT,
//! its EFI system partition and a file on it, without panicking.
//!
//! fatfs 0.3.6 panics on some corrupt directories: `FileSystem::sector_from_cluster`
//! (src/fs.rs, line 448) computes `first_data_sector + (cluster - 2) *
//! sectors_per_cluster` in `u32` arithmetic, which a directory entry or FAT
//! chain naming cluster 0 or 1 (or a huge one) overflows; overflow checks,
//! on in fuzz builds, turn that into a panic. rvkit-disk runs every fatfs
//! call under `catch_unwind` and returns an error instead, so such a panic is
//! an error here, not a crash; libFuzzer's panic hook would abort on it
//! before the unwinding reached that guard, so the hook lets a panic raised
//! in fatfs's own code unwind. Any other panic still aborts the run, and a
//! fatfs panic that escaped the guard would reach libFuzzer's `catch_unwind`
//! and abort there.
#![no_main]

use std::sync::Once;

use libfuzzer_sys::fuzz_target;
use rvkit_disk::Disk;

static HOOK: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    HOOK.call_once(|| {
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_fatfs = |f: &str| f.contains("/fatfs-0.3.6/") || f.contains("/fatfs/src/");
            if info.location().is_some_and(|l| in_fatfs(l.file())) {
                return;
            }
            abort(info);
        }));
    });
    if let Ok(disk) = Disk::open(data) {
        let _ = disk.partitions();
        if let Ok(esp) = disk.esp() {
            let _ = esp.list("");
            let _ = esp.read_file("EFI/BOOT/BOOTX64.EFI", 1 << 20);
        }
    }
});
