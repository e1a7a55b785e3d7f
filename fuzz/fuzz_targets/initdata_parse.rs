//! Any bytes: parse, validate, digest and bind without panicking; a parsed
//! document's digest is over exactly the input bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvkit_initdata::{InitData, Platform, ValidateOptions};

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = InitData::parse(data) {
        assert_eq!(doc.raw(), data);
        assert_eq!(doc.digest(), doc.algorithm().hash(data));
        let _ = doc.validate(&ValidateOptions { now_unix: 1_800_000_000 });
        for p in [Platform::Vtpm, Platform::Tdx, Platform::Snp, Platform::Cca] {
            let _ = doc.binding(p);
        }
    }
});
