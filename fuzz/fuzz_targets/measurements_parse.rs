//! Any bytes: parse as measurements.json without panicking; read as
//! `key=value` lines, parse as measurement annotations without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvkit_rvps::Measurements;

fuzz_target!(|data: &[u8]| {
    let _ = Measurements::parse(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let annotations = text.lines().filter_map(|l| l.split_once('='));
        let _ = Measurements::from_annotations(annotations);
    }
});
