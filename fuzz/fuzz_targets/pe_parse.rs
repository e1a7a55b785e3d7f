//! Any bytes: parse as a PE/COFF image, read every section as loaded and
//! compute the Authenticode digest, without panicking; the same for the
//! image with the setup header older QEMU patches (which changes the
//! header's loader fields only).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvkit_launch::tdx::qemu_patched_kernel;
use rvkit_pcr::HashAlg;
use rvkit_pe::PeFile;

fn digests(data: &[u8]) {
    if let Ok(pe) = PeFile::parse(data) {
        // Loaded sizes up to 1 MiB: beyond, the zero fill up to
        // `VirtualSize` is just hashing, and slows the target to a crawl.
        for section in pe.sections().iter().filter(|s| s.virtual_size() <= 1 << 20) {
            let _ = section.loaded_digest(HashAlg::Sha256);
        }
        let _ = pe.authenticode(HashAlg::Sha256);
    }
}

fuzz_target!(|data: &[u8]| {
    digests(data);
    let memory = u64::from(data.first().copied().unwrap_or(0)) * 64;
    let initrd = data.get(1).map(|b| u64::from(*b) << 20);
    if let Ok(patched) = qemu_patched_kernel(data, "console=hvc0", initrd, memory) {
        assert_eq!(patched.len(), data.len());
        let changed = |i: usize| (0x20..0x24).contains(&i) || (0x210..0x22c).contains(&i);
        assert!(patched.iter().zip(data).enumerate().all(|(i, (a, b))| a == b || changed(i)));
        digests(&patched);
    }
});
