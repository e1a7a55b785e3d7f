//! The reports `rvkit rvps check` and `rvkit rvps coverage` print: one type
//! per report, serialised as its `--json` output and rendered as its text
//! output by `Display`.
//!
//! The JSON field names and shapes are a stable interface: new fields may
//! be added, existing ones keep their name and meaning.

use std::collections::BTreeMap;
use std::fmt;

use rvkit_launch::search::{SnpCandidates, TdxCandidates};
use rvkit_rvps::{Expiration, Published, compact};
use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};
use serde_json::Value;

use crate::hints::hints_and_fallback;
use crate::{Claims, Coverage, Evaluation, InitdataFiles, Policy, TokenInfo, Verdict};

/// How a report names the policy: the file and where in it the policy was
/// found, or rvkit's built-in policy with a reminder that it is not the
/// cluster's.
pub fn policy_label(file: Option<&str>, policy: &Policy) -> String {
    match file {
        Some(f) => format!("{f} ({})", policy.origin()),
        None => "rvkit's built-in peer-pods policy (pass --policy with the cluster's policy for its verdict)"
            .to_owned(),
    }
}

impl Serialize for Verdict {
    /// `{"status": "affirming", "trust_vector": {"executables": 2, …}}` for an
    /// EAR appraisal, `{"allow": true}` for an `allow` policy.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Verdict::Ear { status, trust_vector } => {
                let mut st = s.serialize_struct("Verdict", 2)?;
                st.serialize_field("status", status.name())?;
                let tv: BTreeMap<&str, i8> = trust_vector.iter().map(|(k, v)| (k.as_str(), *v)).collect();
                st.serialize_field("trust_vector", &tv)?;
                st.end()
            }
            Verdict::Allow(allow) => {
                let mut st = s.serialize_struct("Verdict", 1)?;
                st.serialize_field("allow", allow)?;
                st.end()
            }
        }
    }
}

/// A verified EAR token, in a [`CheckReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenReport {
    /// Always `verified`: a token that does not verify is an error.
    pub signature: &'static str,
    /// How the key it was verified with is named.
    pub key: String,
    /// `iat`, as `YYYY-MM-DDTHH:MM:SSZ`.
    pub issued_at: Option<String>,
    /// `exp`, as `YYYY-MM-DDTHH:MM:SSZ`.
    pub expires_at: Option<String>,
    /// Whether `exp` is past.
    pub expired: bool,
}

impl TokenReport {
    /// Reports `info` of a token verified with the key named `key`, at
    /// `now_unix`.
    pub fn new(key: &str, info: &TokenInfo, now_unix: i64) -> TokenReport {
        let time = |t: Option<i64>| t.map(|t| Expiration::from_unix(t).to_string());
        TokenReport {
            signature: "verified",
            key: key.to_owned(),
            issued_at: time(info.issued_at),
            expires_at: time(info.expires_at),
            expired: info.expires_at.is_some_and(|e| e <= now_unix),
        }
    }
}

/// A failed comparison, in a [`CheckReport`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedComparison {
    /// The policy line.
    pub line: usize,
    /// The compared claim expression.
    pub claim: Option<String>,
    /// The operator.
    pub op: Option<String>,
    /// The claim's value; `null` when the claims lack it.
    pub value: Option<Value>,
    /// The reference-value name queried.
    pub reference: Option<String>,
    /// The reference value's value; `null` when there is none of that name.
    pub allowed: Option<Value>,
    /// Explanations, most specific first ([`crate::hints`]).
    pub hints: Vec<String>,
    /// Whether `hints` is only the fallback (the nearest allowed value).
    #[serde(skip)]
    pub fallback: bool,
    /// For a failing `snp_launch_measurement`, the guest shapes whose
    /// launch digest is the claim's ([`CheckReport::explain_launch`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch_candidates: Option<SnpCandidates>,
    /// For a failing TDX launch value (`mr_td`, `rtmr_1`, ...), the ways of
    /// booting the launch inputs that give the claim ([`CheckReport::explain_tdx`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tdx_candidates: Option<TdxCandidates>,
}

/// A policy evaluated on claims: `rvkit rvps check`.
///
/// JSON: `{"verdict", "passes", "tee", "token", "queried", "comparisons"
/// (a count), "failed": [{"line", "claim", "op", "value", "reference",
/// "allowed", "hints"}]}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    /// How the policy is named ([`policy_label`]).
    #[serde(skip)]
    pub policy: String,
    /// How the claims file is named.
    #[serde(skip)]
    pub claims: String,
    /// How the reference values are named, with their origin and count.
    #[serde(skip)]
    pub reference_values: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Whether the verdict lets the claims pass.
    pub passes: bool,
    /// The TEE of the claims.
    pub tee: String,
    /// The token's signature check, when one was asked for.
    pub token: Option<TokenReport>,
    /// The names the policy queried, in first-call order.
    pub queried: Vec<String>,
    /// How many comparisons were evaluated.
    pub comparisons: usize,
    /// The comparisons that failed.
    pub failed: Vec<FailedComparison>,
}

/// What a [`CheckReport`] is made from besides the evaluation.
#[derive(Debug, Clone)]
pub struct CheckInputs<'a> {
    /// How the policy is named ([`policy_label`]).
    pub policy: &'a str,
    /// How the claims file is named.
    pub claims_label: &'a str,
    /// The claims.
    pub claims: &'a Claims,
    /// How the reference-values file is named.
    pub reference_values_file: &'a str,
    /// The reference values, as read from that file.
    pub reference_values: &'a Published,
    /// Initdata documents to explain a failing pcr08 with.
    pub initdata: InitdataFiles<'a>,
    /// The verified token, if any.
    pub token: Option<TokenReport>,
    /// The current time, Unix seconds: expirations are judged at it.
    pub now_unix: i64,
}

impl CheckReport {
    /// Reports `result`, explaining each failed comparison.
    pub fn new(result: &Evaluation, inputs: CheckInputs<'_>) -> CheckReport {
        let now = Expiration::from_unix(inputs.now_unix);
        let failed = result
            .failed()
            .map(|c| {
                let (hints, fallback) =
                    hints_and_fallback(c, &inputs.reference_values.values, inputs.initdata, Some(now));
                FailedComparison {
                    line: c.query.line,
                    claim: c.query.claim.clone(),
                    op: c.query.op.clone(),
                    value: c.value.clone(),
                    reference: c.query.name.clone(),
                    allowed: c.reference.as_ref().map(|r| r.value.clone()),
                    hints,
                    fallback,
                    launch_candidates: None,
                    tdx_candidates: None,
                }
            })
            .collect();
        CheckReport {
            policy: inputs.policy.to_owned(),
            claims: inputs.claims_label.to_owned(),
            reference_values: format!(
                "{} ({}, {} names)",
                inputs.reference_values_file,
                inputs.reference_values.origin,
                inputs.reference_values.values.len()
            ),
            verdict: result.verdict.clone(),
            passes: result.verdict.passes(),
            tee: inputs.claims.tee().to_owned(),
            token: inputs.token,
            queried: result.queried.clone(),
            comparisons: result.comparisons.len(),
            failed,
        }
    }
}

/// The reference-value name of the SEV-SNP launch digest.
pub const SNP_LAUNCH_MEASUREMENT: &str = "snp_launch_measurement";

impl CheckReport {
    /// Explains each failed `snp_launch_measurement` comparison whose claim
    /// is a string: `search` gets the claim's value and returns the guest
    /// shapes whose launch digest it is (`None`: the value is not a launch
    /// digest); their sentence becomes the first hint, and replaces the
    /// nearest-value fallback, which says less.
    pub fn explain_launch<E>(
        &mut self,
        mut search: impl FnMut(&str) -> Result<Option<SnpCandidates>, E>,
    ) -> Result<(), E> {
        for c in &mut self.failed {
            if c.reference.as_deref() != Some(SNP_LAUNCH_MEASUREMENT) {
                continue;
            }
            let Some(value) = c.value.as_ref().and_then(Value::as_str) else { continue };
            if let Some(found) = search(value)? {
                if c.fallback {
                    c.hints.clear();
                    c.fallback = false;
                }
                c.hints.insert(0, found.to_string());
                c.launch_candidates = Some(found);
            }
        }
        Ok(())
    }

    /// Explains each failed comparison of a TDX launch value whose claim is a
    /// string: `compare` gets the reference name and the claim's value and
    /// returns which way of booting the launch inputs gives it (`None`: not a
    /// TDX launch value); the sentence becomes the first hint, replacing the
    /// nearest-value fallback.
    pub fn explain_tdx(&mut self, compare: impl Fn(&str, &str) -> Option<TdxCandidates>) {
        for c in &mut self.failed {
            let (Some(name), Some(value)) =
                (c.reference.as_deref(), c.value.as_ref().and_then(Value::as_str))
            else {
                continue;
            };
            if let Some(found) = compare(name, value) {
                if c.fallback {
                    c.hints.clear();
                    c.fallback = false;
                }
                c.hints.insert(0, found.to_string());
                c.tdx_candidates = Some(found);
            }
        }
    }
}

impl fmt::Display for CheckReport {
    /// The verdict and what it was computed from, then each failed
    /// comparison with the claim's value, the allowed values and hints, then
    /// a count line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "verdict: {}", self.verdict)?;
        writeln!(f, "policy: {}", self.policy)?;
        writeln!(f, "claims: {} ({})", self.claims, self.tee)?;
        if let Some(t) = &self.token {
            writeln!(
                f,
                "token: ES256 signature verified with {}; issued {}, expires {}{}",
                t.key,
                t.issued_at.as_deref().unwrap_or("(no iat)"),
                t.expires_at.as_deref().unwrap_or("(no exp)"),
                if t.expired { " (expired)" } else { "" }
            )?;
        }
        writeln!(f, "reference values: {}", self.reference_values)?;
        for c in &self.failed {
            let name = c.reference.as_deref();
            writeln!(
                f,
                "failed (policy line {}): {} {} query_reference_value({:?})",
                c.line,
                c.claim.as_deref().unwrap_or("?"),
                c.op.as_deref().unwrap_or("?"),
                name.unwrap_or("?")
            )?;
            writeln!(
                f,
                "  claim value: {}",
                c.value.as_ref().map_or("(missing from the claims)".to_owned(), compact)
            )?;
            match &c.allowed {
                Some(v) => writeln!(f, "  allowed ({}): {}", name.unwrap_or_default(), compact(v))?,
                None => writeln!(f, "  allowed: no reference value named {:?}", name.unwrap_or_default())?,
            }
            for hint in &c.hints {
                writeln!(f, "  hint: {hint}")?;
            }
        }
        writeln!(f, "{} comparisons, {} failed", self.comparisons, self.failed.len())
    }
}

/// One queried name of a [`CoverageReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueriedName {
    /// The reference-value name.
    pub name: String,
    /// The policy lines that query it.
    pub lines: Vec<usize>,
}

/// Which names a policy reads and the reference values have: `rvkit rvps
/// coverage`.
///
/// JSON: `{"tee", "queried": [{"name", "lines"}], "present", "missing",
/// "unused", "dynamic_lines"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoverageReport {
    /// How the policy is named ([`policy_label`]).
    #[serde(skip)]
    pub policy: String,
    /// The TEE whose rules were counted, if one was asked for.
    pub tee: Option<String>,
    /// Names the policy queries, in policy order.
    pub queried: Vec<QueriedName>,
    /// Queried names the reference values have.
    pub present: Vec<String>,
    /// Queried names the reference values lack.
    pub missing: Vec<String>,
    /// Names no counted rule reads.
    pub unused: Vec<String>,
    /// Lines whose queried name is not a string literal.
    pub dynamic_lines: Vec<usize>,
}

impl CoverageReport {
    /// Reports `coverage` of the policy named `policy`, for `tee`.
    pub fn new(policy: &str, tee: Option<&str>, coverage: &Coverage) -> CoverageReport {
        CoverageReport {
            policy: policy.to_owned(),
            tee: tee.map(str::to_owned),
            queried: coverage
                .queried
                .iter()
                .map(|(name, lines)| QueriedName { name: name.clone(), lines: lines.clone() })
                .collect(),
            present: coverage.present.clone(),
            missing: coverage.missing.clone(),
            unused: coverage.unused.clone(),
            dynamic_lines: coverage.dynamic.clone(),
        }
    }
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = items.collect();
    if v.is_empty() { "(none)".to_owned() } else { v.join(" ") }
}

impl fmt::Display for CoverageReport {
    /// One line each for the queried, present, missing and unused names,
    /// then the lines with a name that is not a literal, if any.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scope = self.tee.as_deref().map(|t| format!(" by {t} rules")).unwrap_or_default();
        writeln!(f, "policy: {}", self.policy)?;
        writeln!(f, "queried{scope}: {}", join(self.queried.iter().map(|q| q.name.as_str())))?;
        writeln!(f, "present: {}", join(self.present.iter().map(String::as_str)))?;
        writeln!(f, "missing: {}", join(self.missing.iter().map(String::as_str)))?;
        writeln!(f, "unused: {}", join(self.unused.iter().map(String::as_str)))?;
        if !self.dynamic_lines.is_empty() {
            let lines: Vec<String> = self.dynamic_lines.iter().map(usize::to_string).collect();
            writeln!(f, "not a literal name on policy line(s): {}", lines.join(", "))?;
        }
        Ok(())
    }
}
