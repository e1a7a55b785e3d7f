//! Any bytes: parse as attestation claims (for every known TEE and for
//! none), as a Rego policy or its ConfigMap, as an EAR token key, and as an
//! EAR token to verify, without panicking. Nothing is evaluated.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvkit_policy::{Claims, KNOWN_TEES, Policy, TokenKey, verify_ear};

fuzz_target!(|data: &[u8]| {
    let _ = Claims::parse(data, None);
    for tee in KNOWN_TEES {
        let _ = Claims::parse(data, Some(tee));
    }
    let _ = Policy::parse(data);
    let _ = TokenKey::parse(data);
    // A fixed P-256 public key (a test key, not a secret).
    const KEY: &str = "-----BEGIN PUBLIC KEY-----\n\
        MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEz0woCWoUNaXH5RI8mupESZ5Cl5IU\n\
        sjr2ee9H+uz5os22U3wWn8cdRgp35VxfwUxTaY6uPidCQoZnQa2xCDtHbw==\n\
        -----END PUBLIC KEY-----\n";
    let key = TokenKey::parse(KEY.as_bytes()).expect("the fixed key parses");
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = verify_ear(text, &key);
    }
});
