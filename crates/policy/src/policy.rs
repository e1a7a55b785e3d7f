use rvkit_rvps::ConfigMap;

use crate::{Error, KNOWN_TEES};

/// The data key the operator's attestation-policy ConfigMap holds the CPU
/// policy under (trustee-operator `internal/controller/common.go`).
pub const DEFAULT_CPU_POLICY_KEY: &str = "default_cpu.rego";

/// An attestation policy in Rego, checked to parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    text: String,
    origin: String,
}

impl Policy {
    /// Reads a policy from a Rego file or from the ConfigMap that holds it
    /// (as `oc get configmap … -o yaml` prints it: the key
    /// `default_cpu.rego`, or the only `.rego` key), and checks that the
    /// Rego engine accepts it.
    pub fn parse(bytes: &[u8]) -> Result<Policy, Error> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| Error::PolicyParse { message: "the policy is not UTF-8 text".to_owned() })?;
        let looks_like_configmap =
            text.lines().any(|l| l.starts_with("kind:") || l.starts_with("apiVersion:"))
                || text.trim_start().starts_with("{\"apiVersion\"")
                || text.trim_start().starts_with("{\"kind\"");
        let (text, origin) = if looks_like_configmap {
            let cm =
                ConfigMap::parse(bytes).map_err(|e| Error::PolicyConfigMap { message: e.to_string() })?;
            let rego: Vec<&String> = cm.data.keys().filter(|k| k.ends_with(".rego")).collect();
            let key = if cm.data.contains_key(DEFAULT_CPU_POLICY_KEY) {
                DEFAULT_CPU_POLICY_KEY.to_owned()
            } else if rego.len() == 1 {
                rego[0].clone()
            } else {
                return Err(Error::PolicyConfigMap {
                    message: format!(
                        "expected data key {DEFAULT_CPU_POLICY_KEY} or a single .rego key, found {}",
                        if cm.data.is_empty() {
                            "none".to_owned()
                        } else {
                            cm.data.keys().cloned().collect::<Vec<_>>().join(", ")
                        }
                    ),
                });
            };
            let origin = format!("ConfigMap {} key {key}", cm.name.as_deref().unwrap_or("(unnamed)"));
            (cm.data[&key].clone(), origin)
        } else {
            (text.to_owned(), "Rego".to_owned())
        };
        let depth = bracket_depth(&text);
        if depth > MAX_BRACKET_DEPTH {
            return Err(Error::PolicyParse {
                message: format!(
                    "brackets and braces nest {depth} levels deep, more than the {MAX_BRACKET_DEPTH} accepted"
                ),
            });
        }
        let mut engine = regorus::Engine::new();
        engine
            .add_policy("policy.rego".to_owned(), text.clone())
            .map_err(|e| Error::PolicyParse { message: e.to_string() })?;
        Ok(Policy { text, origin })
    }

    /// The Rego text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Where the text came from (`Rego`, or the ConfigMap and key).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Every `query_reference_value("…")` call in the policy, found by
    /// reading its text (comments excluded), with the comparison around it
    /// where there is one.
    pub fn queries(&self) -> Vec<Query> {
        let rule_tees = crate::rules::query_tees(&self.text).unwrap_or_default();
        let tees_at = |line: usize| -> Vec<String> {
            rule_tees.get(&line).map(|t| t.iter().cloned().collect()).unwrap_or_default()
        };
        let mut out = Vec::new();
        for (i, raw) in self.text.lines().enumerate() {
            let line = strip_comment(raw);
            let mut from = 0;
            while let Some(pos) = line[from..].find(CALL) {
                let at = from + pos;
                from = at + CALL.len();
                // Skip identifiers that merely end in the name.
                if line[..at].chars().last().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
                    continue;
                }
                let Some((name, end)) = string_arg(&line[at + CALL.len()..]) else {
                    out.push(Query {
                        line: i + 1,
                        name: None,
                        claim: None,
                        op: None,
                        tee: None,
                        rule_tees: tees_at(i + 1),
                    });
                    continue;
                };
                let after = &line[at + CALL.len() + end..];
                let (claim, op) = comparison(&line[..at], after);
                let tee = claim.as_deref().and_then(tee_of);
                out.push(Query { line: i + 1, name: Some(name), claim, op, tee, rule_tees: tees_at(i + 1) });
            }
        }
        out
    }
}

pub(crate) const CALL: &str = "query_reference_value(";

/// The deepest nesting of `[` and `{` accepted in a policy. The Rego parser
/// (regorus 0.11) first tries each `[` or `{` as a comprehension and parses
/// it again as a literal when that fails, so its time doubles with every
/// level: 20 levels take tens of seconds. Attestation policies nest a few
/// levels (rule body, comprehension, object, index).
const MAX_BRACKET_DEPTH: usize = 10;

/// The deepest nesting of `[` and `{` outside strings and comments.
fn bracket_depth(text: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let (mut in_str, mut raw, mut escaped, mut comment) = (false, false, false, false);
    for c in text.chars() {
        match c {
            '\n' if comment => comment = false,
            _ if comment => {}
            _ if escaped => escaped = false,
            '\\' if in_str => escaped = true,
            '"' if !raw => in_str = !in_str,
            '`' if !in_str => raw = !raw,
            _ if in_str || raw => {}
            '#' => comment = true,
            '[' | '{' => {
                depth += 1;
                max = max.max(depth);
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// One `query_reference_value` call in a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// One-based line number.
    pub line: usize,
    /// The reference-value name, if the argument is a string literal.
    pub name: Option<String>,
    /// The Rego expression compared with the reference value, such as
    /// `input["az-snp-vtpm"].tpm.pcr03`, if the call is one side of a
    /// comparison on its line.
    pub claim: Option<String>,
    /// The comparison operator (`in`, `==`, `>=`, ...).
    pub op: Option<String>,
    /// The TEE the compared claim belongs to (`input["az-snp-vtpm"]…` or
    /// `input.snp…`), if that can be read off the expression.
    pub tee: Option<String>,
    /// The TEEs the rule around the call belongs to: those whose claims it
    /// reads, directly or through the rules and functions it calls, else
    /// those of the rules that call it. Empty if that cannot be told.
    pub rule_tees: Vec<String>,
}

impl Query {
    /// Whether this query is part of checking claims of `tee`: the compared
    /// claim is that TEE's, or (when the claim does not say) the rule
    /// around it belongs to that TEE, or nothing tells.
    pub fn belongs_to(&self, tee: &str) -> bool {
        match &self.tee {
            Some(t) => t == tee,
            None => self.rule_tees.is_empty() || self.rule_tees.iter().any(|t| t == tee),
        }
    }
}

/// Removes a `#` comment, leaving `#` inside strings alone.
fn strip_comment(line: &str) -> &str {
    let mut in_str = false;
    let mut raw = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_str => escaped = true,
            '"' if !raw => in_str = !in_str,
            '`' if !in_str => raw = !raw,
            '#' if !in_str && !raw => return &line[..i],
            _ => {}
        }
    }
    line
}

/// A string literal argument followed by `)`: the text and the byte length
/// consumed.
fn string_arg(s: &str) -> Option<(String, usize)> {
    let t = s.trim_start();
    let lead = s.len() - t.len();
    let body = t.strip_prefix('"')?;
    let close = body.find('"')?;
    let name = &body[..close];
    if name.contains('\\') {
        return None;
    }
    let rest = &body[close + 1..];
    let rest_t = rest.trim_start();
    rest_t.strip_prefix(')')?;
    let consumed = lead + 1 + close + 1 + (rest.len() - rest_t.len()) + 1;
    Some((name.to_owned(), consumed))
}

const OPS: [&str; 6] = ["==", "!=", ">=", "<=", ">", "<"];

/// The other side and operator of a comparison whose one side is the call:
/// `CLAIM in CALL`, `CLAIM == CALL`, or `CALL == CLAIM`.
fn comparison(before: &str, after: &str) -> (Option<String>, Option<String>) {
    let b = before.trim_end();
    if let Some(lhs) = b.strip_suffix(" in").or_else(|| b.strip_suffix("\tin")) {
        let lhs = lhs.trim();
        if !lhs.is_empty() && !lhs.contains(":=") {
            return (Some(lhs.to_owned()), Some("in".to_owned()));
        }
    }
    for op in OPS {
        if let Some(lhs) = b.strip_suffix(op) {
            let lhs = lhs.trim();
            if !lhs.is_empty() && !lhs.ends_with(['=', '!', '<', '>', ':']) && !lhs.contains(":=") {
                return (Some(lhs.to_owned()), Some(op.to_owned()));
            }
        }
    }
    let a = after.trim();
    for op in ["==", "!="] {
        if let Some(rhs) = a.strip_prefix(op) {
            let rhs = rhs.trim();
            if !rhs.is_empty() && b.is_empty() {
                return (Some(rhs.to_owned()), Some(op.to_owned()));
            }
        }
    }
    (None, None)
}

/// The TEE an `input` expression starts with: `input["az-snp-vtpm"]…` or
/// `input.snp…`. The other keys of the input (`init_data`, …) belong to
/// every TEE.
pub(crate) fn tee_of(expr: &str) -> Option<String> {
    let name = if let Some(rest) = expr.strip_prefix("input[\"") {
        rest.split('"').next()?
    } else {
        let rest = expr.strip_prefix("input.")?;
        let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
        &rest[..end]
    };
    KNOWN_TEES.contains(&name).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r##"package policy

import rego.v1

default executables := 33

executables := 3 if {
	input["az-snp-vtpm"]
	# input["az-snp-vtpm"].measurement in query_reference_value("measurement")
	input["az-snp-vtpm"].tpm.pcr03 in query_reference_value("snp_pcr03")
	input.snp.policy_abi_major == query_reference_value("abi_major") # trailing "#"
	query_reference_value("xfam") == input.tdx.quote.body.xfam
	x := query_reference_value("dynamic")
}
"##;

    #[test]
    fn deep_brackets_are_refused_before_the_parser_sees_them() {
        // Found by the policy_inputs fuzz target: 60 nested `[` kept the
        // Rego parser busy for minutes.
        let deep = format!("package policy\n\nx := {} 1\n", "[".repeat(60));
        let started = std::time::Instant::now();
        let err = Policy::parse(deep.as_bytes()).unwrap_err();
        assert!(matches!(&err, Error::PolicyParse { message } if message.contains("60 levels")), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        // Brackets in strings and comments do not count; closed ones do not add up.
        let fine = format!(
            "package policy\n\n# {open}\ns := \"{open}\"\nr := `{open}`\nx := [[1]]\ny := {{\"a\": [2]}}\n",
            open = "[{".repeat(30)
        );
        Policy::parse(fine.as_bytes()).unwrap();
        assert_eq!(bracket_depth(&fine), 2);
        assert!(bracket_depth(crate::PEER_PODS_POLICY) <= MAX_BRACKET_DEPTH);
    }

    #[test]
    fn finds_calls_and_their_comparisons_outside_comments() {
        let p = Policy::parse(POLICY.as_bytes()).unwrap();
        let q = p.queries();
        let names: Vec<_> = q.iter().map(|q| q.name.as_deref().unwrap()).collect();
        assert_eq!(names, ["snp_pcr03", "abi_major", "xfam", "dynamic"]);
        assert_eq!(q[0].claim.as_deref(), Some("input[\"az-snp-vtpm\"].tpm.pcr03"));
        assert_eq!(
            (q[0].op.as_deref(), q[0].tee.as_deref(), q[0].line),
            (Some("in"), Some("az-snp-vtpm"), 10)
        );
        assert_eq!((q[1].op.as_deref(), q[1].tee.as_deref()), (Some("=="), Some("snp")));
        assert_eq!(
            (q[2].claim.as_deref(), q[2].tee.as_deref()),
            (Some("input.tdx.quote.body.xfam"), Some("tdx"))
        );
        assert_eq!((q[3].claim.as_deref(), q[3].op.as_deref()), (None, None));
    }

    #[test]
    fn configmaps_and_parse_errors() {
        let indented: String = POLICY.lines().map(|l| format!("    {l}\n")).collect();
        let cm = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: trusteeconfig-attestation-policy-cpu\ndata:\n  default_cpu.rego: |\n{indented}"
        );
        let p = Policy::parse(cm.as_bytes()).unwrap();
        assert_eq!(p.text(), POLICY);
        assert_eq!(p.origin(), "ConfigMap trusteeconfig-attestation-policy-cpu key default_cpu.rego");
        let err = Policy::parse(b"package policy\n\nallow if {\n").unwrap_err();
        assert!(matches!(err, Error::PolicyParse { .. }), "{err}");
        let err = Policy::parse(b"apiVersion: v1\nkind: ConfigMap\ndata:\n  a: b\n").unwrap_err();
        assert!(matches!(err, Error::PolicyConfigMap { .. }), "{err}");
    }
}
