use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use rvkit_rvps::ReferenceValue;
use serde_json::Value;

use crate::{Claims, Error, Policy, Query};

/// The rule Trustee's EAR token broker reads the AR4SI trust vector from.
pub const TRUST_CLAIMS_RULE: &str = "data.policy.trust_claims";
/// The rule older (simple-token) Trustee policies decide with.
pub const ALLOW_RULE: &str = "data.policy.allow";

/// The AR4SI trust claims an EAR appraisal carries (draft-ietf-rats-ar4si;
/// the names the `ear` crate's trust vector accepts).
pub const TRUST_CLAIMS: [&str; 8] = [
    "instance-identity",
    "configuration",
    "executables",
    "file-system",
    "hardware",
    "runtime-opaque",
    "storage-opaque",
    "sourced-data",
];

/// An AR4SI trust tier, the `ear.status` of an appraisal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// No claim was made (values -1 to 1).
    None,
    /// Affirming (2 to 31 and -2 to -32).
    Affirming,
    /// Warning (32 to 95 and -33 to -96).
    Warning,
    /// Contraindicated (the rest).
    Contraindicated,
}

impl Tier {
    /// The tier of one claim value (the `ear` crate's `TrustClaim::tier`).
    pub fn of(value: i8) -> Tier {
        if (-1..=1).contains(&value) {
            Tier::None
        } else if (-32..32).contains(&value) {
            Tier::Affirming
        } else if (-96..96).contains(&value) {
            Tier::Warning
        } else {
            Tier::Contraindicated
        }
    }

    /// The lowercase name, as in `ear.status`.
    pub fn name(self) -> &'static str {
        match self {
            Tier::None => "none",
            Tier::Affirming => "affirming",
            Tier::Warning => "warning",
            Tier::Contraindicated => "contraindicated",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the policy decided.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// An EAR appraisal: the trust vector from `trust_claims` and the
    /// status, the worst tier among the claims (`update_status_from_trust_vector`
    /// in the `ear` crate). Trustee's default resource policy releases
    /// secrets only for `affirming`.
    Ear {
        /// The status.
        status: Tier,
        /// Each claim the policy set, in name order (Rego objects are sorted).
        trust_vector: Vec<(String, i8)>,
    },
    /// A policy with an `allow` rule and no `trust_claims` (simple tokens).
    Allow(bool),
}

impl Verdict {
    /// Whether the evidence passes: `affirming`, or `allow` true.
    pub fn passes(&self) -> bool {
        match self {
            Verdict::Ear { status, .. } => *status == Tier::Affirming,
            Verdict::Allow(allow) => *allow,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Ear { status, trust_vector } => {
                write!(f, "{status} (")?;
                for (i, (name, v)) in trust_vector.iter().enumerate() {
                    write!(f, "{}{name} {v}", if i > 0 { ", " } else { "" })?;
                }
                write!(f, ")")
            }
            Verdict::Allow(allow) => write!(f, "allow = {allow}"),
        }
    }
}

/// One comparison of a claim with a reference value, evaluated on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Where the comparison is in the policy and what it compares.
    pub query: Query,
    /// The claim's value; `None` when the claims lack it although they are
    /// of the TEE the comparison belongs to (the rule then fails too).
    pub value: Option<Value>,
    /// The reference value as the policy sees it (`None` if the name is
    /// not among the reference values: Trustee then returns null).
    pub reference: Option<ReferenceValue>,
    /// Whether the comparison holds.
    pub passed: bool,
}

/// The result of [`evaluate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The verdict.
    pub verdict: Verdict,
    /// Every comparison whose claim side is defined for these claims, or
    /// belongs to their TEE, in policy order, each once.
    pub comparisons: Vec<Comparison>,
    /// The names the policy queried while deciding, in first-call order.
    pub queried: Vec<String>,
}

impl Evaluation {
    /// The comparisons that do not hold.
    pub fn failed(&self) -> impl Iterator<Item = &Comparison> {
        self.comparisons.iter().filter(|c| !c.passed)
    }
}

/// Evaluates `policy` on `claims` the way Trustee's attestation service
/// does: the regorus engine with the claims as `input`, a
/// `query_reference_value(name)` extension that returns the `value` of the
/// named reference value (null when there is none), and the verdict from
/// `data.policy.trust_claims` (EAR tokens) or, for a policy without it,
/// `data.policy.allow`.
///
/// Then every `CLAIM op query_reference_value("name")` comparison of the
/// policy text is evaluated on its own with the same engine, so that all
/// failing comparisons are reported, not only the first one of each rule.
pub fn evaluate(
    policy: &Policy,
    claims: &Claims,
    reference_values: &[ReferenceValue],
) -> Result<Evaluation, Error> {
    let failed = |e: anyhow::Error| Error::Evaluation { message: e.to_string() };
    let values: Arc<BTreeMap<String, ReferenceValue>> =
        Arc::new(reference_values.iter().map(|rv| (rv.name.as_str().to_owned(), rv.clone())).collect());
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut engine = regorus::Engine::new();
    engine
        .add_policy("policy.rego".to_owned(), policy.text().to_owned())
        .map_err(|e| Error::PolicyParse { message: e.to_string() })?;
    engine.set_input_json(&claims.input().to_string()).map_err(failed)?;
    let (ext_values, ext_log) = (Arc::clone(&values), Arc::clone(&log));
    let extension = move |params: Vec<regorus::Value>| -> anyhow::Result<regorus::Value> {
        let [name] = params.as_slice() else {
            anyhow::bail!("query_reference_value extension requires exactly one parameter");
        };
        let name = name.as_string()?.to_string();
        if let Ok(mut l) = ext_log.lock() {
            l.push(name.clone());
        }
        match ext_values.get(&name) {
            Some(rv) => Ok(serde_json::from_value(rv.value.clone())?),
            None => Ok(regorus::Value::Null),
        }
    };
    engine.add_extension("query_reference_value".to_owned(), 1, Box::new(extension)).map_err(failed)?;

    let verdict = match eval_rule(&mut engine, TRUST_CLAIMS_RULE).map_err(failed)? {
        Some(Value::Object(claims)) => {
            let mut trust_vector = Vec::new();
            for (name, v) in claims {
                if !TRUST_CLAIMS.contains(&name.as_str()) {
                    return Err(Error::TrustClaims {
                        message: format!("{name:?} is not an AR4SI trust claim"),
                    });
                }
                let n = v.as_i64().ok_or_else(|| Error::TrustClaims {
                    message: format!("trust claim {name:?} is {v}, not a number"),
                })?;
                // Trustee's broker casts with `as i8`; do the same.
                trust_vector.push((name, n as i8));
            }
            let status = trust_vector.iter().map(|(_, v)| Tier::of(*v)).max().unwrap_or(Tier::None);
            Verdict::Ear { status, trust_vector }
        }
        Some(other) => {
            return Err(Error::TrustClaims { message: format!("trust_claims is {other}, not an object") });
        }
        None => match eval_rule(&mut engine, ALLOW_RULE).map_err(failed)? {
            Some(Value::Bool(b)) => Verdict::Allow(b),
            // Trustee sets every claim to 0 when trust_claims is missing.
            _ => Verdict::Ear { status: Tier::None, trust_vector: Vec::new() },
        },
    };
    let mut queried: Vec<String> = Vec::new();
    for name in log.lock().map(|l| l.clone()).unwrap_or_default() {
        if !queried.contains(&name) {
            queried.push(name);
        }
    }

    let mut comparisons: Vec<Comparison> = Vec::new();
    for q in policy.queries() {
        let (Some(claim), Some(op), Some(name)) = (&q.claim, &q.op, &q.name) else { continue };
        if comparisons
            .iter()
            .any(|c| c.query.claim == q.claim && c.query.op == q.op && c.query.name == q.name)
        {
            continue;
        }
        // A claim side that is undefined for these claims (another TEE's
        // rule) or that uses rule-local variables is not a comparison these
        // claims take part in.
        let value = match eval_query(&mut engine, claim) {
            Ok(Some(v)) => Some(v),
            // Undefined, but the claims are of this comparison's TEE: the
            // claim is missing and the rule cannot hold.
            Ok(None) if q.tee.as_deref() == Some(claims.tee()) => None,
            _ => continue,
        };
        let expr = format!("{claim} {op} query_reference_value({name:?})");
        let passed = value.is_some() && matches!(eval_query(&mut engine, &expr), Ok(Some(Value::Bool(true))));
        comparisons.push(Comparison { reference: values.get(name).cloned(), query: q, value, passed });
    }
    Ok(Evaluation { verdict, comparisons, queried })
}

/// Evaluates a rule; `None` when the policy has no such rule or it is
/// undefined.
fn eval_rule(engine: &mut regorus::Engine, rule: &str) -> anyhow::Result<Option<Value>> {
    match engine.eval_rule(rule.to_owned()) {
        Ok(regorus::Value::Undefined) => Ok(None),
        Ok(v) => Ok(Some(serde_json::to_value(v)?)),
        Err(e) if e.to_string().contains("not a valid rule path") => Ok(None),
        Err(e) => Err(e),
    }
}

/// Evaluates an expression as a query; `None` when it is undefined.
fn eval_query(engine: &mut regorus::Engine, query: &str) -> anyhow::Result<Option<Value>> {
    let results = engine.eval_query(query.to_owned(), false)?;
    let Some(first) = results.result.first() else { return Ok(None) };
    let Some(expr) = first.expressions.first() else { return Ok(None) };
    if expr.value == regorus::Value::Undefined {
        return Ok(None);
    }
    Ok(Some(serde_json::to_value(&expr.value)?))
}
