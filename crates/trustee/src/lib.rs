//! The Kubernetes objects of a Trustee configuration, rendered consistently
//! from one small [`Config`], and a consistency check for a rendered bundle.
//!
//! Trustee (the Confidential Containers key broker) is configured on
//! OpenShift through the trustee-operator
//! (<https://github.com/confidential-containers/trustee-operator>): a
//! TrusteeConfig, the Secrets it names, a passthrough Route, an image
//! signature policy (containers-policy.json(5) with `sigstoreSigned`
//! requirements whose keys the guest fetches from the KBS), the initdata
//! document the guest measures
//! (<https://github.com/confidential-containers/trustee/blob/main/kbs/docs/initdata.md>),
//! the reference values Trustee compares the measurements with, and a change
//! to the operator's KbsConfig. Every piece names others: [`render`] writes
//! them all from one configuration, the way the walkthrough writes them by
//! hand, and [`check()`] reads a bundle back and reports every reference
//! that does not hold.
//!
//! The crate is pure: it never touches the network or the file system. The
//! caller reads the files a configuration names ([`Config::input_files`]),
//! fetches podvm measurements, and writes the [`Bundle`]'s files.
//!
//! ```
//! use std::collections::BTreeMap;
//! use rvkit_trustee::{Config, Inputs, KeyMode, LocalKeys, check, render};
//!
//! let toml = r#"
//!     domain = "apps.example.com"
//!     keys = "local"
//!     [image_policy]
//!     default_policy = "insecureAcceptAnything"
//!     [podvm]
//!     measurements = ["measurements.json"]
//! "#;
//! let config = Config::from_toml("trustee.toml", toml)?;
//! assert_eq!(config.keys, KeyMode::Local);
//! let now = 1_780_000_000; // 2026-05-28
//! let mut inputs = Inputs::new(now);
//! inputs.files.insert(
//!     "measurements.json".into(),
//!     br#"{"measurements":{"sha256":{"pcr03":"0x3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969"}}}"#.to_vec(),
//! );
//! inputs.local_keys = Some(LocalKeys::generate(&config, now)?);
//!
//! let bundle = render(&config, &inputs)?;
//! assert!(bundle.complete);
//! let files: BTreeMap<String, Vec<u8>> =
//!     bundle.files.iter().map(|f| (f.name.clone(), f.contents.clone())).collect();
//! assert!(files.contains_key("initdata.toml"));
//! assert!(check(&files, now).findings.is_empty());
//! # Ok::<(), rvkit_trustee::Error>(())
//! ```
#![warn(missing_docs)]

mod bundle;
pub mod check;
mod config;
mod error;
mod keys;
mod launch;
pub mod layout;
pub mod names;
mod yaml;

pub use bundle::{Bundle, BundleFile, Inputs, RenderReport, init_template, render};
pub use check::{CheckReport, Finding, Report, check};
pub use config::{
    CertificateConfig, Config, DefaultPolicy, FIELDS, Hours, ImagePolicyConfig, InitdataConfig, InputFile,
    KeyMode, LaunchConfig, PLACEHOLDER_TLD, PodvmConfig, Profile, ReferenceValuesConfig, ServiceType,
    SignedImage, Variant, flag_of, parse_flag_table,
};
pub use error::Error;
pub use keys::{KbsCert, LocalKeys, PublicKeyType, TlsPair, check_public_key};
pub use layout::MANIFEST;

/// The TrusteeConfig's name, which the operator's derived objects start with.
pub const TRUSTEECONFIG_NAME: &str = "trusteeconfig";
/// The KbsConfig the operator creates from the TrusteeConfig.
pub const KBSCONFIG_NAME: &str = "trusteeconfig-kbs-config";
/// The reference-value ConfigMap the operator hands the KbsConfig.
pub const RV_CONFIGMAP_NAME: &str = rvkit_rvps::DEFAULT_CONFIGMAP_NAME;
/// The KBS Service the operator creates.
pub const SERVICE_NAME: &str = "kbs-service";
/// The KBS Service's port name.
pub const SERVICE_PORT: &str = "kbs-port";
/// The deployment to restart after the KbsConfig changes.
pub const DEPLOYMENT_NAME: &str = "trustee-deployment";

/// A Unix time as `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn rfc3339(unix: i64) -> String {
    rvkit_rvps::Expiration::from_unix(unix).to_string()
}
