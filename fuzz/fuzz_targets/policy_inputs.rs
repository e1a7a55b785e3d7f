//! Any bytes: parse as attestation claims (for every known TEE and for
//! none) and as a Rego policy or its ConfigMap, without panicking. Nothing
//! is evaluated.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvkit_policy::{Claims, KNOWN_TEES, Policy};

fuzz_target!(|data: &[u8]| {
    let _ = Claims::parse(data, None);
    for tee in KNOWN_TEES {
        let _ = Claims::parse(data, Some(tee));
    }
    let _ = Policy::parse(data);
});
