//! Any bytes: parse as a UKI and predict its PCR events, replaying the
//! predicted log, without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvkit_pcr::HashAlg;
use rvkit_predict::{EspExtras, Uki, predict};

fuzz_target!(|data: &[u8]| {
    if let Ok(uki) = Uki::parse(data) {
        if let Ok(p) = predict(&uki, &EspExtras::default(), &[HashAlg::Sha256]) {
            let _ = p.values(&[HashAlg::Sha256], &[3, 9, 11, 12]);
        }
    }
});
