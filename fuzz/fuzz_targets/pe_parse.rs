//! Any bytes: parse as a PE/COFF image, read every section as loaded and
//! compute the Authenticode digest, without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvkit_pcr::HashAlg;
use rvkit_pe::PeFile;

fuzz_target!(|data: &[u8]| {
    if let Ok(pe) = PeFile::parse(data) {
        for section in pe.sections() {
            let _ = section.loaded_digest(HashAlg::Sha256);
        }
        let _ = pe.authenticode(HashAlg::Sha256);
    }
});
