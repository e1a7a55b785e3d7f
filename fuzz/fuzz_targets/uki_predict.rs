//! Any bytes: parse as a UKI and predict its PCR events (with the OVMF
//! firmware profile, which parses `.linux` as a PE image too, and with a
//! credential on the ESP), replaying the predicted log, without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvkit_pcr::HashAlg;
use rvkit_predict::{EspExtras, Firmware, Options, Uki, predict_with};

/// Sections whose loaded size is larger than this are not predicted: the
/// zero fill up to `VirtualSize` (up to `rvkit_pe::MAX_IMAGE_SIZE`) is just
/// hashing, and would slow the target to a few runs per second.
const MAX_LOADED: u32 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    if let Ok(uki) = Uki::parse(data) {
        if uki.pe().sections().iter().any(|s| s.virtual_size() > MAX_LOADED) {
            return;
        }
        let extras = EspExtras {
            credentials: vec![("a.cred".into(), data[..data.len().min(64)].to_vec())],
            ..EspExtras::default()
        };
        let options = Options { firmware: Some(Firmware::Ovmf), initdata: None };
        if let Ok(p) = predict_with(&uki, &extras, &[HashAlg::Sha256], &options) {
            let _ = p.values(&[HashAlg::Sha256], &[3, 4, 7, 9, 11, 12]);
        }
    }
});
