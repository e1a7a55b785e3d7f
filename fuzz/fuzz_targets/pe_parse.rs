//! Any bytes: parse as a PE/COFF image, read every section as loaded and
//! compute the Authenticode digest, without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvkit_pcr::HashAlg;
use rvkit_pe::PeFile;

fuzz_target!(|data: &[u8]| {
    if let Ok(pe) = PeFile::parse(data) {
        // Loaded sizes up to 1 MiB: beyond, the zero fill up to
        // `VirtualSize` is just hashing, and slows the target to a crawl.
        for section in pe.sections().iter().filter(|s| s.virtual_size() <= 1 << 20) {
            let _ = section.loaded_digest(HashAlg::Sha256);
        }
        let _ = pe.authenticode(HashAlg::Sha256);
    }
});
