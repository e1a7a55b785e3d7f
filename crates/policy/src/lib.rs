//! Offline evaluation of Trustee attestation policies.
//!
//! Trustee's attestation service decides with a Rego policy evaluated by the
//! [regorus](https://github.com/microsoft/regorus) engine: the verifier's
//! claims are the `input`, reference values come from the RVPS through a
//! `query_reference_value(name)` extension, and the EAR token broker reads
//! the AR4SI trust vector from `data.policy.trust_claims` (trustee
//! `attestation-service/src/ear_token/broker.rs`,
//! `deps/policy-engine/src/policy/rego.rs`). This crate does the same with
//! the same engine, offline, over reference values a caller hands in, and
//! then explains the result: every `CLAIM in query_reference_value("name")`
//! comparison that fails, with the claim's value, the allowed values and
//! hints ([`hints`]), and which reference names a policy reads
//! ([`coverage`]).
//!
//! ```
//! use rvkit_policy::{Claims, Policy, evaluate};
//! use rvkit_rvps::ReferenceValue;
//!
//! let policy = Policy::parse(br#"package policy
//! import rego.v1
//! default executables := 33
//! executables := 3 if {
//!     input["az-snp-vtpm"].tpm.pcr03 in query_reference_value("snp_pcr03")
//! }
//! trust_claims := {"executables": executables}
//! "#)?;
//! let claims = Claims::parse(br#"{"az-snp-vtpm":{"tpm":{"pcr03":"aa"}}}"#, None)?;
//! let rvs: Vec<ReferenceValue> = serde_json::from_str(
//!     r#"[{"name":"snp_pcr03","expiration":"2030-01-01T00:00:00Z","value":["bb"]}]"#,
//! ).unwrap();
//! let result = evaluate(&policy, &claims, &rvs)?;
//! assert_eq!(result.verdict.to_string(), "warning (executables 33)");
//! let failed: Vec<_> = result.failed().collect();
//! assert_eq!(failed[0].query.name.as_deref(), Some("snp_pcr03"));
//! assert_eq!(failed[0].value.as_ref().unwrap(), "aa");
//! # Ok::<(), rvkit_policy::Error>(())
//! ```
#![warn(missing_docs)]

mod claims;
mod coverage;
mod ear;
mod error;
mod eval;
mod hints;
mod policy;
mod report;
mod rules;

pub use claims::{Claims, ClaimsSource, check_tee};
pub use coverage::{Coverage, coverage};
pub use ear::{TokenInfo, TokenKey, verify_ear};
pub use error::Error;
pub use eval::{
    ALLOW_RULE, Comparison, Evaluation, TRUST_CLAIMS, TRUST_CLAIMS_RULE, Tier, Verdict, evaluate,
};
pub use hints::{InitdataFiles, hints};
pub use policy::{DEFAULT_CPU_POLICY_KEY, Policy, Query};
pub use report::{
    CheckInputs, CheckReport, CoverageReport, FailedComparison, QueriedName, SNP_LAUNCH_MEASUREMENT,
    TokenReport, policy_label,
};

/// A policy for peer pods written for rvkit in the style of the
/// trustee-operator's default CPU policy: the AR4SI claims `executables`,
/// `hardware` and `configuration`, and for `az-snp-vtpm` and `az-tdx-vtpm`
/// the vTPM's PCR 3, 8, 9, 11 and 12 checked with
/// `in query_reference_value("snp_pcrNN")` / `("tdx_pcrNN")` (plus a few
/// bare-metal SNP and TDX rules). It is not the operator's policy: check
/// against the cluster's own (`--policy` with its ConfigMap) to get the
/// cluster's verdict.
pub const PEER_PODS_POLICY: &str = include_str!("peer-pods-policy.rego");

rvkit_names::spelled_enum! {
    /// A TEE name Trustee's attestation service puts at the top of the
    /// policy input: kbs-types 0.18 `Tee` as serde spells it. Parsed in any
    /// ASCII case; [`Tee::name`] is the spelling in the policy input.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Tee {
        /// Azure SEV-SNP confidential VM with a vTPM.
        AzSnpVtpm = "az-snp-vtpm",
        /// Azure TDX confidential VM with a vTPM.
        AzTdxVtpm = "az-tdx-vtpm",
        /// NVIDIA GPU.
        Nvidia = "nvidia",
        /// Intel SGX.
        Sgx = "sgx",
        /// AMD SEV-SNP.
        Snp = "snp",
        /// Intel TDX.
        Tdx = "tdx",
        /// Arm CCA.
        Cca = "cca",
        /// Hygon CSV.
        Csv = "csv",
        /// IBM Secure Execution.
        Se = "se",
        /// Hygon DCU.
        Hygondcu = "hygondcu",
        /// NVIDIA DPU.
        NvidiaDpu = "nvidia-dpu",
        /// A TPM.
        Tpm = "tpm",
        /// Trustee's sample attester.
        Sample = "sample",
        /// Trustee's sample device attester.
        Sampledevice = "sampledevice",
    }
    error: Error = |name| Error::UnknownTee { name: name.to_owned() };
}

/// The TEE names ([`Tee`]) as they appear in the policy input.
pub const KNOWN_TEES: [&str; Tee::ALL.len()] = {
    let mut names = [""; Tee::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = Tee::ALL[i].name();
        i += 1;
    }
    names
};

#[cfg(test)]
mod tests {
    use rvkit_rvps::{ReferenceValue, RvName};
    use serde_json::{Value, json};

    use super::*;

    const POLICY: &str = PEER_PODS_POLICY;
    const PCR3: &str = "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969";

    fn hex(b: u8) -> String {
        format!("{b:02x}").repeat(32)
    }

    fn rv(name: &str, value: Value) -> ReferenceValue {
        ReferenceValue::new(RvName::new(name).unwrap(), "2030-01-01T00:00:00Z".parse().unwrap(), value)
    }

    /// Reference values for SNP peer pods: PCR 3, 9, 11, 12 and PCR8 of one
    /// initdata document.
    fn snp_values(pcr8: &str) -> Vec<ReferenceValue> {
        vec![
            rv("snp_pcr03", json!([PCR3])),
            rv("snp_pcr08", json!([pcr8])),
            rv("snp_pcr09", json!([hex(9), hex(0x19)])),
            rv("snp_pcr11", json!([hex(11)])),
            rv("snp_pcr12", json!([hex(12)])),
            rv("tdx_pcr08", json!([rvkit_initdata::DUMMY_PCR8_HEX])),
        ]
    }

    fn snp_claims(pcr8: &str, pcr9: &str) -> Claims {
        let c = json!({"az-snp-vtpm": {"tpm": {"pcr03": PCR3, "pcr08": pcr8, "pcr09": pcr9, "pcr11": hex(11), "pcr12": hex(12)}}});
        Claims::parse(c.to_string().as_bytes(), None).unwrap()
    }

    #[test]
    fn matching_claims_are_affirming() {
        let policy = Policy::parse(POLICY.as_bytes()).unwrap();
        let r = evaluate(&policy, &snp_claims(&hex(8), &hex(0x19)), &snp_values(&hex(8))).unwrap();
        assert_eq!(
            r.verdict,
            Verdict::Ear {
                status: Tier::Affirming,
                trust_vector: vec![
                    ("configuration".into(), 2),
                    ("executables".into(), 3),
                    ("hardware".into(), 2)
                ]
            }
        );
        assert!(r.verdict.passes());
        assert_eq!(r.comparisons.len(), 5, "only the az-snp-vtpm comparisons apply");
        assert_eq!(r.failed().count(), 0);
        assert_eq!(r.queried, ["snp_pcr03", "snp_pcr08", "snp_pcr09", "snp_pcr11", "snp_pcr12"]);
    }

    #[test]
    fn every_failed_comparison_is_named() {
        let policy = Policy::parse(POLICY.as_bytes()).unwrap();
        let dummy = rvkit_initdata::DUMMY_PCR8_HEX;
        let r = evaluate(&policy, &snp_claims(dummy, &hex(0x18)), &snp_values(&hex(8))).unwrap();
        assert_eq!(r.verdict.to_string(), "warning (configuration 2, executables 33, hardware 2)");
        assert!(!r.verdict.passes());
        let failed: Vec<&Comparison> = r.failed().collect();
        let names: Vec<&str> = failed.iter().map(|c| c.query.name.as_deref().unwrap()).collect();
        assert_eq!(names, ["snp_pcr08", "snp_pcr09"], "both are reported, not only the first");
        assert_eq!(failed[0].value.as_ref().unwrap(), dummy);
        assert_eq!(failed[0].query.claim.as_deref(), Some("input[\"az-snp-vtpm\"].tpm.pcr08"));
        let h = hints(failed[0], &snp_values(&hex(8)), &[], None);
        assert!(h[0].contains("dummy initdata: the pod has no initdata annotation"), "{h:?}");
        assert!(h.iter().any(|s| s.contains("listed under \"tdx_pcr08\"")), "{h:?}");
        let h = hints(failed[1], &snp_values(&hex(8)), &[], None);
        assert_eq!(h, ["nearest allowed value ".to_owned() + &hex(0x19) + " differs in 32 of 64 characters"]);
    }

    #[test]
    fn pcr8_hints_find_how_initdata_was_hashed() {
        let doc = b"algorithm = \"sha384\"\nversion = \"0.1.0\"\n\n[data]\n\"aa.toml\" = '''\n'''\n".to_vec();
        let parsed = rvkit_initdata::InitData::parse(&doc).unwrap();
        let files = vec![("i.toml".to_owned(), doc.clone())];
        let policy = Policy::parse(POLICY.as_bytes()).unwrap();
        let values = snp_values(&parsed.pcr8().to_hex());
        // The pod's PCR8 from the same document hashed with sha256.
        let as256 = rvkit_initdata::pcr8_from_digest(&rvkit_pcr::HashAlg::Sha256.hash(&doc)).0.to_hex();
        let r = evaluate(&policy, &snp_claims(&as256, &hex(9)), &values).unwrap();
        let c = r.failed().next().unwrap();
        let h = hints(c, &values, &files, None);
        assert!(
            h.iter().any(|s| s == "pcr08 matches initdata i.toml hashed as sha256 (its algorithm is sha384)"),
            "{h:?}"
        );
        // The pod's annotation was made from the CRLF version of the file.
        let crlf = String::from_utf8(doc.clone()).unwrap().replace('\n', "\r\n");
        let p8 = rvkit_initdata::InitData::parse(crlf.as_bytes()).unwrap().pcr8().to_hex();
        let r = evaluate(&policy, &snp_claims(&p8, &hex(9)), &values).unwrap();
        let h = hints(r.failed().next().unwrap(), &values, &files, None);
        assert!(h.iter().any(|s| s.contains("with CRLF line endings")), "{h:?}");
        // The reference values lack a document the pod uses.
        let other = snp_values(&hex(8));
        let r = evaluate(&policy, &snp_claims(&parsed.pcr8().to_hex(), &hex(9)), &other).unwrap();
        let h = hints(r.failed().next().unwrap(), &other, &files, None);
        assert!(
            h[0].contains("is the PCR8 of initdata i.toml") && h[0].contains("--initdata i.toml"),
            "{h:?}"
        );
    }

    #[test]
    fn missing_and_malformed_reference_values() {
        let policy = Policy::parse(POLICY.as_bytes()).unwrap();
        let mut values = snp_values(&hex(8));
        values.retain(|v| v.name.as_str() != "snp_pcr12");
        values[0].value = json!([format!("0x{}", PCR3.to_uppercase())]);
        values[2].value = json!(hex(9));
        let r = evaluate(&policy, &snp_claims(&hex(8), &hex(9)), &values).unwrap();
        let failed: Vec<&Comparison> = r.failed().collect();
        let names: Vec<&str> = failed.iter().map(|c| c.query.name.as_deref().unwrap()).collect();
        assert_eq!(names, ["snp_pcr03", "snp_pcr09", "snp_pcr12"]);
        assert!(hints(failed[0], &values, &[], None)[0].contains("spelled differently"));
        assert!(hints(failed[1], &values, &[], None)[0].contains("is a string, but `in` needs an array"));
        assert!(failed[2].reference.is_none());
        assert!(hints(failed[2], &values, &[], None)[0].contains("no reference value named \"snp_pcr12\""));
        let expired = hints(failed[1], &values, &[], Some("2031-01-01T00:00:00Z".parse().unwrap()));
        assert!(expired.iter().any(|h| h.contains("expired on 2030-01-01T00:00:00Z")), "{expired:?}");
    }

    #[test]
    fn other_tees_and_legacy_allow_policies() {
        let policy = Policy::parse(POLICY.as_bytes()).unwrap();
        let claims = Claims::parse(
            br#"{"tdx":{"quote":{"header":{"tee_type":"81000000"},"body":{"mr_td":"aa","rtmr_1":"bb"}}}}"#,
            None,
        )
        .unwrap();
        let values = vec![rv("mr_td", json!(["aa"])), rv("rtmr_1", json!(["cc"]))];
        let r = evaluate(&policy, &claims, &values).unwrap();
        assert_eq!(r.verdict.to_string(), "warning (configuration 36, executables 33, hardware 2)");
        let failed: Vec<_> = r.failed().map(|c| c.query.name.clone().unwrap()).collect();
        assert_eq!(failed, ["rtmr_1"]);

        let allow = Policy::parse(
            b"package policy\nimport rego.v1\ndefault allow := false\nallow if input.sample.svn in query_reference_value(\"svn\")\n",
        )
        .unwrap();
        let claims = Claims::parse(br#"{"sample":{"svn":1}}"#, None).unwrap();
        assert_eq!(
            evaluate(&allow, &claims, &[rv("svn", json!([1]))]).unwrap().verdict,
            Verdict::Allow(true)
        );
        assert_eq!(
            evaluate(&allow, &claims, &[rv("svn", json!([2]))]).unwrap().verdict,
            Verdict::Allow(false)
        );

        let bad = Policy::parse(b"package policy\nimport rego.v1\ntrust_claims := {\"speed\": 3}\n").unwrap();
        assert!(matches!(evaluate(&bad, &claims, &[]), Err(Error::TrustClaims { .. })));
    }

    #[test]
    fn coverage_by_tee() {
        let policy = Policy::parse(POLICY.as_bytes()).unwrap();
        let mut values = snp_values(&hex(8));
        values.push(rv("unused_name", json!([])));
        values.retain(|v| v.name.as_str() != "snp_pcr11");
        let c = coverage(&policy, &values, Some("az-snp-vtpm"));
        let queried: Vec<&str> = c.queried.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(queried, ["snp_pcr03", "snp_pcr08", "snp_pcr09", "snp_pcr11", "snp_pcr12"]);
        assert_eq!(c.missing, ["snp_pcr11"]);
        assert_eq!(c.unused, ["tdx_pcr08", "unused_name"]);
        let all = coverage(&policy, &values, None);
        assert_eq!(all.queried.len(), 16, "{:?}", all.queried);
        assert!(!all.queried.iter().any(|(n, _)| n == "mr_seam"), "commented-out queries do not count");
        assert!(all.unused == ["unused_name"]);
    }
}
