//! Any bytes, split at NUL bytes: the first part is read as a bundle
//! configuration (and validated if it reads) and as the fields of the
//! `--signed-image` and `--variant` flags, the others become bundle files
//! under fixed names and are checked as a bundle, without panicking; a
//! check's findings come out sorted and without duplicates.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use rvkit_trustee::{Config, SignedImage, Variant, check, parse_flag_table};

/// The files a bundle check reads first, in the order the parts fill them.
const FILES: [&str; 8] = [
    "kustomization.yaml",
    "initdata.toml",
    "route.yaml",
    "rvps-configmap.yaml",
    "trusteeconfig.yaml",
    "secret-trustee-image-policy.yaml",
    "secret-conf-devhub-signature.yaml",
    "kbsconfig-patch.yaml",
];

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == 0);
    let config = String::from_utf8_lossy(parts.next().unwrap_or_default());
    if let Ok(c) = Config::from_toml("fuzz.toml", &config) {
        let _ = c.validate();
        let _ = c.kbs_url();
    }
    let _ = parse_flag_table::<SignedImage>("--signed-image", &config);
    let _ = parse_flag_table::<Variant>("--variant", &config);
    let files: BTreeMap<String, Vec<u8>> =
        FILES.iter().zip(parts).map(|(name, part)| ((*name).to_owned(), part.to_vec())).collect();
    let report = check(&files, 1_800_000_000);
    assert!(report.findings.windows(2).all(|w| w[0] < w[1]), "findings not sorted and unique");
});
