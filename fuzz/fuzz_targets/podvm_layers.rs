//! Any bytes: read as one uncompressed image layer and extract a file from
//! it without panicking; whatever comes out stays within the size cap.
//! The first byte picks the cap, so both small and large caps are explored.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvkit_podvm::fuzzing::extract_from_tar;

fuzz_target!(|data: &[u8]| {
    let Some((&cap, tar)) = data.split_first() else { return };
    let max = u64::from(cap) * 64;
    for path in ["/image/measurements.json", "/a"] {
        if let Ok(content) = extract_from_tar(tar, path, max) {
            assert!(content.len() as u64 <= max, "{} bytes over a cap of {max}", content.len());
        }
    }
});
