//! Reference values for Trustee's Reference Value Provider Service (RVPS).
//!
//! This crate turns a podvm image's `measurements.json` and the initdata
//! documents its pods use into the reference values Trustee's attestation
//! policy compares vTPM PCRs against, and renders them in each form Trustee
//! reads. It implements the data formats of Trustee's RVPS
//! (<https://github.com/confidential-containers/trustee/tree/main/rvps>:
//! `reference_value.rs` for the record, the key-value storage crate's
//! LocalJson backend for the `kv` file, the sample extractor for the register
//! message) and of trustee-operator's reference-value ConfigMap
//! (<https://github.com/confidential-containers/trustee-operator>), and
//! reproduces the reference-value step of the Confidential Containers
//! Trustee walkthrough byte for byte. [`read_published`] reads every form
//! back (ConfigMaps included), and [`diff`] and [`merge`] compare and
//! combine sets, for example several podvm releases in one policy.
//!
//! The crate is pure: it reads only bytes a caller hands in, and never
//! touches the network or the file system.
//!
//! ```
//! use rvkit_rvps::{build, render, EmitInput, Expiration, Format, Measurements};
//!
//! let json = br#"{"measurements":{"sha256":{
//!     "pcr03":"0x3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969"}}}"#;
//! let (measurements, _warnings) = Measurements::parse(json)?;
//!
//! let mut input = EmitInput::new("2027-12-12T00:00:00Z".parse()?);
//! input.measurements.push(("measurements.json".into(), measurements));
//! input.include_dummy_initdata = true; // pods without initdata
//! let (set, warnings) = build(&input)?;
//! assert!(warnings.is_empty());
//!
//! let names: Vec<&str> = set.values().iter().map(|rv| rv.name.as_str()).collect();
//! assert_eq!(names, ["snp_pcr03", "tdx_pcr03", "snp_pcr08", "tdx_pcr08"]);
//! let array = render(&set, Format::Array);
//! assert!(array.starts_with("[\n  {\n    \"name\": \"snp_pcr03\",\n"));
//! assert!(set.transcript().contains("initdata built-in dummy initdata: sha256 digest"));
//! # Ok::<(), rvkit_rvps::Error>(())
//! ```
#![warn(missing_docs)]

mod emit;
mod error;
mod expiration;
mod measurements;
mod name;
mod published;
mod raw;
mod render;
mod value;

pub use emit::{DUMMY_INITDATA_LABEL, EmitInput, Origin, ReferenceValueSet, ValueOrigin, build};
pub use error::Error;
pub use expiration::Expiration;
pub use measurements::{DEFAULT_MEASUREMENTS_LABEL, MEASUREMENTS_ANNOTATION_PREFIX, Measurements, Warning};
pub use name::{PcrPrefix, RvName};
pub use published::{
    Change, ConfigMap, Diff, Published, Source, compact, diff, json_kind, merge, read_published,
};
pub use render::{
    ConfigMapOptions, DEFAULT_CONFIGMAP_NAME, DEFAULT_NAMESPACE, Format, render, render_configmap,
};
pub use value::{REFERENCE_VALUE_VERSION, ReferenceValue, parse_published};
