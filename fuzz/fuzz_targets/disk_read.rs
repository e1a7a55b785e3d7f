//! Any bytes: open as a disk image (raw, qcow2 or fixed VHD), read its GPT,
//! its EFI system partition and a file on it, without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvkit_disk::Disk;

fuzz_target!(|data: &[u8]| {
    if let Ok(disk) = Disk::open(data) {
        let _ = disk.partitions();
        if let Ok(esp) = disk.esp() {
            let _ = esp.list("");
            let _ = esp.read_file("EFI/BOOT/BOOTX64.EFI", 1 << 20);
        }
    }
});
