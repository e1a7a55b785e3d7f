//! Any text: decode as an annotation within a small cap; whatever decodes
//! must stay within the cap and re-encode to something that decodes the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvkit_initdata::annotation::{DecodeOptions, decode, encode};

fuzz_target!(|data: &[u8]| {
    let opts = DecodeOptions { max_decoded: 64 * 1024 };
    if let Ok(d) = decode(data, &opts) {
        assert!(d.bytes.len() <= opts.max_decoded);
        let again = decode(encode(&d.bytes).as_bytes(), &opts).expect("own encoding decodes");
        assert_eq!(again.bytes, d.bytes);
    }
});
