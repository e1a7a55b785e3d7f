//! Any bytes: read as a PEM or DER public key without panicking; a key that
//! reads has a SubjectPublicKeyInfo that reads back as the same key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvkit_podvm::PublicKey;

fuzz_target!(|data: &[u8]| {
    if let Ok(key) = PublicKey::from_pem_or_der(data, "fuzz.pub") {
        let again = PublicKey::from_pem_or_der(key.spki_der(), "fuzz.pub").expect("own DER reads");
        assert_eq!(again.algorithm(), key.algorithm());
        assert_eq!(again.spki_der(), key.spki_der());
        assert_eq!(again.log_id(), key.log_id());
    }
});
