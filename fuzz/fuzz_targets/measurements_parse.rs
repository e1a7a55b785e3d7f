//! Any bytes: parse as measurements.json without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvkit_rvps::Measurements;

fuzz_target!(|data: &[u8]| {
    let _ = Measurements::parse(data);
});
