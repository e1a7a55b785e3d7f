//! Parse, validate, render, digest and encode Confidential Containers initdata
//! documents.
//!
//! An initdata document is the TOML file described in Trustee's
//! [initdata specification](https://github.com/confidential-containers/trustee/blob/main/kbs/docs/initdata.md):
//! `version = "0.1.0"`, an `algorithm` (sha256, sha384 or sha512) and a
//! `[data]` table of strings, usually `aa.toml`, `cdh.toml` and `policy.rego`.
//! The host passes it to the guest in the pod annotation
//! [`annotation::ANNOTATION_KEY`] (gzip, then base64), and the TEE binds
//! `D = H_algorithm(raw bytes)` into its evidence: TDX MRCONFIGID, SNP
//! HOST_DATA, the Arm CCA personalization value, or PCR8 of a vTPM.
//!
//! This crate is pure: it reads only the bytes a caller hands in, never the
//! file system or the network, and takes the current time as a parameter.
//!
//! ```
//! use rvkit_initdata::{DUMMY_INITDATA, DUMMY_PCR8_HEX, InitData, Platform};
//!
//! let doc = InitData::parse(DUMMY_INITDATA.as_bytes())?;
//! assert_eq!(doc.pcr8().to_hex(), DUMMY_PCR8_HEX);
//! let tdx = doc.binding(Platform::Tdx);
//! assert_eq!(tdx.field, "MRCONFIGID");
//! assert_eq!(tdx.value.len(), 48);
//! # Ok::<(), rvkit_initdata::Error>(())
//! ```
#![warn(missing_docs)]

pub mod annotation;
mod binding;
mod document;
mod error;
pub mod render;
mod report;
mod validate;

pub use binding::{Binding, INITDATA_PCR, Platform, fit, pcr8_from_digest};
pub use document::{InitData, VERSION};
pub use error::Error;
pub use report::{BindingValue, Bindings, CheckReport, DigestReport, Pcr8Report};
pub use rvkit_pcr::{Digest, HashAlg};
pub use validate::{Finding, Report, Severity, ValidateOptions};

/// The document a peer-pods podvm measures when a pod has no initdata: the
/// exact bytes, without a final newline.
pub const DUMMY_INITDATA: &str =
    "algorithm = \"sha256\"\nversion = \"0.1.0\"\n\n[data]\n\"aa.toml\" = '''\n'''";

/// PCR8 (SHA-256 bank) of [`DUMMY_INITDATA`].
pub const DUMMY_PCR8_HEX: &str = "4b58b30becd30d16f7f60d56b32661d921ae0d3310c6a89f5d552f9bfee921a9";

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::render::{RenderParams, render};

    const PEM: &str = include_str!("../testdata/kbs-walkthrough.pem");

    #[test]
    fn dummy_pcr8() {
        let doc = InitData::parse(DUMMY_INITDATA.as_bytes()).unwrap();
        assert_eq!(doc.raw().last(), Some(&b'\''));
        assert_eq!(doc.get("aa.toml"), Some(""));
        assert_eq!(doc.pcr8().to_hex(), DUMMY_PCR8_HEX);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn render_parse_digest(
            host in "[a-z][a-z0-9-]{0,20}(\\.[a-z][a-z0-9-]{0,10}){1,3}",
            port in proptest::option::of(1u16..),
            policy in proptest::option::of("package agent_policy\n[ -~\t\n]{0,200}"),
            alg in prop_oneof![Just(HashAlg::Sha256), Just(HashAlg::Sha384), Just(HashAlg::Sha512)],
        ) {
            prop_assume!(policy.as_deref().is_none_or(|p| !p.contains("'''")));
            let url = match port {
                Some(port) => format!("https://{host}:{port}"),
                None => format!("https://{host}"),
            };
            let mut p = RenderParams::new(url.clone(), PEM);
            p.agent_policy = policy.clone();
            p.algorithm = alg;
            let text = render(&p).unwrap();
            let doc = InitData::parse(text.as_bytes()).unwrap();
            prop_assert_eq!(doc.raw(), text.as_bytes());
            prop_assert_eq!(doc.digest(), alg.hash(text.as_bytes()));
            prop_assert_eq!(doc.algorithm(), alg);
            let expected_policy = format!(
                "{}\n",
                policy.as_deref().unwrap_or(render::DEFAULT_AGENT_POLICY).trim_end_matches('\n')
            );
            prop_assert_eq!(doc.get("policy.rego"), Some(expected_policy.as_str()));
            let aa = doc.get("aa.toml").unwrap();
            let url_line = format!("url = \"{url}\"");
            prop_assert!(aa.contains(&url_line));
            let round_trip = annotation::decode(
                annotation::encode(doc.raw()).as_bytes(),
                &annotation::DecodeOptions::default(),
            ).unwrap();
            prop_assert_eq!(round_trip.bytes, text.into_bytes());
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = InitData::parse(&bytes);
        }

        #[test]
        fn validate_never_panics(aa in "[ -~\n]{0,200}", cdh in "[ -~\n]{0,200}") {
            prop_assume!(!aa.contains("'''") && !cdh.contains("'''"));
            let text = format!(
                "version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n\
                 \"aa.toml\" = '''\n{aa}'''\n\"cdh.toml\" = '''\n{cdh}'''\n"
            );
            if let Ok(doc) = InitData::parse(text.as_bytes()) {
                let _ = doc.validate(&ValidateOptions { now_unix: 0 });
            }
        }
    }
}
