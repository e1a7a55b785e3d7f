//! Any bytes: read as published reference values (an `array` or `kv`
//! payload, a `sample` message, or a ConfigMap in YAML or JSON) without
//! panicking; every value read can be looked up by its name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvkit_rvps::read_published;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = read_published(data) {
        let _ = p.has_expirations();
        for rv in &p.values {
            assert!(p.get(rv.name.as_str()).is_some(), "{} not found by name", rv.name.as_str());
        }
    }
});
