//! Which TEEs each rule of a policy belongs to, read off the Rego syntax tree.
//!
//! A rule belongs to the TEEs whose claims it reads (`input.tdx…`,
//! `input["az-snp-vtpm"]…`), directly or through the rules and functions it
//! calls. A helper that reads no claims itself (a function handed the claims
//! as an argument) belongs to the TEEs of the rules that call it. Only the
//! TEE names Trustee puts at the top of the input count; `input.init_data`
//! and the other keys next to them are shared by every TEE.
//!
//! The tree comes from regorus's parser, the one the engine evaluates with,
//! so rule boundaries, `else` chains, strings and comments are read exactly
//! as Trustee reads them. regorus publishes its syntax tree as `unstable`
//! (it may change in any release): Cargo.lock fixes the version, and this
//! module's tests fail if an update changes what is read from it.

use std::collections::{BTreeMap, BTreeSet};

use regorus::unstable::{Expr, Literal, Parser, Query, Rule, RuleHead};

use crate::KNOWN_TEES;
use crate::policy::CALL;

/// What one rule definition (one `name … if { … }` with its `else` chain)
/// reads.
#[derive(Debug, Default)]
struct Definition {
    name: String,
    /// TEE roots of `input` read directly.
    roots: BTreeSet<String>,
    /// Identifiers used, some of which are other rules.
    vars: BTreeSet<String>,
    /// Lines of its `query_reference_value(…)` calls.
    query_lines: BTreeSet<usize>,
}

/// The TEEs the rule around each `query_reference_value` call belongs to,
/// by one-based line of the call. A line missing from the map, or mapped
/// to no TEE, is in a rule whose TEE cannot be told. `None` if the text
/// does not parse (a caller has already checked that it does).
pub(crate) fn query_tees(text: &str) -> Option<BTreeMap<usize, BTreeSet<String>>> {
    let source = regorus::Source::from_contents("policy.rego".to_owned(), text.to_owned()).ok()?;
    let mut parser = Parser::new(&source).ok()?;
    parser.enable_rego_v1().ok()?;
    let module = parser.parse().ok()?;
    let defs: Vec<Definition> = module.policy.iter().filter_map(|r| definition(r)).collect();
    let names: BTreeSet<&str> = defs.iter().map(|d| d.name.as_str()).collect();

    // What each rule name reads: its definitions' roots and, transitively,
    // those of the rules they use.
    let mut reads: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for name in &names {
        let mut seen = BTreeSet::new();
        let mut acc = BTreeSet::new();
        collect_reads(name, &defs, &mut seen, &mut acc);
        reads.insert(name, acc);
    }
    // A definition's own TEEs: what it reads through its body and callees.
    let own: Vec<BTreeSet<String>> = defs
        .iter()
        .map(|d| {
            let mut s = d.roots.clone();
            for v in d.vars.iter().filter(|v| *v != &d.name) {
                if let Some(r) = reads.get(v.as_str()) {
                    s.extend(r.iter().cloned());
                }
            }
            s
        })
        .collect();

    let mut out: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    for (i, d) in defs.iter().enumerate() {
        if d.query_lines.is_empty() {
            continue;
        }
        let tees = if own[i].is_empty() {
            let mut seen = BTreeSet::new();
            callers_tees(&d.name, &defs, &own, &mut seen)
        } else {
            own[i].clone()
        };
        for line in &d.query_lines {
            out.entry(*line).or_default().extend(tees.iter().cloned());
        }
    }
    Some(out)
}

/// The roots `name`'s definitions read, following the rules they use.
fn collect_reads(name: &str, defs: &[Definition], seen: &mut BTreeSet<String>, acc: &mut BTreeSet<String>) {
    if !seen.insert(name.to_owned()) {
        return;
    }
    for d in defs.iter().filter(|d| d.name == name) {
        acc.extend(d.roots.iter().cloned());
        for v in &d.vars {
            collect_reads(v, defs, seen, acc);
        }
    }
}

/// The TEEs of the rules that use `name`, going up through callers that
/// read no TEE themselves.
fn callers_tees(
    name: &str,
    defs: &[Definition],
    own: &[BTreeSet<String>],
    seen: &mut BTreeSet<String>,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if !seen.insert(name.to_owned()) {
        return out;
    }
    for (i, caller) in defs.iter().enumerate() {
        if caller.name == name || !caller.vars.contains(name) {
            continue;
        }
        if own[i].is_empty() {
            out.extend(callers_tees(&caller.name, defs, own, seen));
        } else {
            out.extend(own[i].iter().cloned());
        }
    }
    out
}

/// Reads one rule definition; `default` rules compare no claims and are
/// skipped.
fn definition(rule: &Rule) -> Option<Definition> {
    let Rule::Spec { head, bodies, .. } = rule else {
        return None;
    };
    let mut d = Definition::default();
    match head {
        RuleHead::Compr { refr, assign, .. } => {
            d.name = root_var(refr)?.to_owned();
            if let Some(a) = assign {
                walk(&a.value, &mut d);
            }
        }
        RuleHead::Set { refr, key, .. } => {
            d.name = root_var(refr)?.to_owned();
            if let Some(k) = key {
                walk(k, &mut d);
            }
        }
        RuleHead::Func { refr, args, assign, .. } => {
            d.name = root_var(refr)?.to_owned();
            for a in args {
                walk(a, &mut d);
            }
            if let Some(a) = assign {
                walk(&a.value, &mut d);
            }
        }
    }
    for body in bodies {
        if let Some(a) = &body.assign {
            walk(&a.value, &mut d);
        }
        walk_query(&body.query, &mut d);
    }
    Some(d)
}

/// The identifier an expression such as `a`, `a.b` or `a["b"]` starts with.
fn root_var(e: &Expr) -> Option<&str> {
    match e {
        Expr::Var { span, .. } => Some(span.text()),
        Expr::RefDot { refr, .. } | Expr::RefBrack { refr, .. } => root_var(refr),
        _ => None,
    }
}

fn walk_query(q: &Query, d: &mut Definition) {
    for stmt in &q.stmts {
        match &stmt.literal {
            Literal::SomeVars { .. } => {}
            Literal::SomeIn { key, value, collection, .. } => {
                if let Some(k) = key {
                    walk(k, d);
                }
                walk(value, d);
                walk(collection, d);
            }
            Literal::Expr { expr, .. } | Literal::NotExpr { expr, .. } => walk(expr, d),
            Literal::Every { domain, query, .. } => {
                walk(domain, d);
                walk_query(query, d);
            }
        }
        for m in &stmt.with_mods {
            walk(&m.r#as, d);
        }
    }
}

fn walk(e: &Expr, d: &mut Definition) {
    match e {
        Expr::Var { span, .. } => {
            d.vars.insert(span.text().to_owned());
        }
        Expr::RefDot { refr, field, .. } => {
            if is_input(refr) {
                add_root(Some(field.0.text()), d);
            }
            // `data.policy.rule` names a rule too; the package segment is
            // taken as a name as well, which matches no rule.
            if root_var(refr) == Some("data") {
                d.vars.insert(field.0.text().to_owned());
            }
            walk(refr, d);
        }
        Expr::RefBrack { refr, index, .. } => {
            if is_input(refr)
                && let Expr::String { value, .. } | Expr::RawString { value, .. } = index.as_ref()
            {
                add_root(value.as_string().ok().map(|s| &**s), d);
            }
            walk(refr, d);
            walk(index, d);
        }
        Expr::Call { fcn, params, span, .. } => {
            if matches!(fcn.as_ref(), Expr::Var { span: f, .. } if Some(f.text()) == CALL.strip_suffix('(')) {
                d.query_lines.insert(span.line as usize);
            }
            walk(fcn, d);
            for p in params {
                walk(p, d);
            }
        }
        Expr::Array { items, .. } | Expr::Set { items, .. } => {
            for i in items {
                walk(i, d);
            }
        }
        Expr::Object { fields, .. } => {
            for (_, k, v) in fields {
                walk(k, d);
                walk(v, d);
            }
        }
        Expr::ArrayCompr { term, query, .. } | Expr::SetCompr { term, query, .. } => {
            walk(term, d);
            walk_query(query, d);
        }
        Expr::ObjectCompr { key, value, query, .. } => {
            walk(key, d);
            walk(value, d);
            walk_query(query, d);
        }
        Expr::UnaryExpr { expr, .. } => walk(expr, d),
        Expr::BinExpr { lhs, rhs, .. }
        | Expr::BoolExpr { lhs, rhs, .. }
        | Expr::ArithExpr { lhs, rhs, .. }
        | Expr::AssignExpr { lhs, rhs, .. } => {
            walk(lhs, d);
            walk(rhs, d);
        }
        Expr::Membership { key, value, collection, .. } => {
            if let Some(k) = key {
                walk(k, d);
            }
            walk(value, d);
            walk(collection, d);
        }
        // Literals carry nothing to follow.
        _ => {}
    }
}

fn is_input(e: &Expr) -> bool {
    matches!(e, Expr::Var { span, .. } if span.text() == "input")
}

fn add_root(name: Option<&str>, d: &mut Definition) {
    if let Some(n) = name.filter(|n| KNOWN_TEES.contains(n)) {
        d.roots.insert(n.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Helper rules of every kind: TEE-specific without a guard, shared
    /// (functions handed the claims), mixed (reading two TEEs' claims),
    /// reached through two levels of calls, and one nothing calls.
    const HELPERS: &str = r#"package policy

import rego.v1

default executables := 33

default hardware := 97

default configuration := 36

tdx_kernel_ok if {
	event := input.tdx.uefi_event_logs[_]
	event.digest == query_reference_value("tdvfkernel")
}

tdx_boot_ok if {
	data.policy.tdx_kernel_ok
}

init_ok(value) if {
	value in query_reference_value("init_data")
}

wrapped_init_ok(value) if {
	init_ok(value)
}

debug := d if {
	d := input.snp.policy_debug_allowed
} else := d if {
	d := input.tdx.td_attributes.debug
}

executables := 3 if {
	input["az-snp-vtpm"].tpm.pcr03 in query_reference_value("snp_pcr03")
	init_ok(input["az-snp-vtpm"].tpm.pcr08)
}

executables := 3 if {
	input.tdx
	tdx_kernel_ok
	wrapped_init_ok(input.tdx.quote.body.mr_config_id)
}

hardware := 2 if {
	tdx_boot_ok
	query_reference_value("tdx_boot_allowed") == true
}

configuration := 2 if {
	debug == query_reference_value("debug")
	input.init_data in query_reference_value("init_data_hash")
}

orphan(x) if {
	x in query_reference_value("orphan")
}
"#;

    fn tees(text: &str) -> Vec<(usize, Vec<String>)> {
        query_tees(text).unwrap().into_iter().map(|(l, t)| (l, t.into_iter().collect())).collect()
    }

    #[test]
    fn rules_belong_to_the_tees_they_read_directly_through_callees_or_through_callers() {
        let v = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            tees(HELPERS),
            [
                // tdx_kernel_ok: reads only input.tdx, with no `input.tdx` guard.
                (13, v(&["tdx"])),
                // init_ok: reads no claims; called by an az-snp-vtpm rule and,
                // through wrapped_init_ok, by a tdx rule.
                (21, v(&["az-snp-vtpm", "tdx"])),
                (35, v(&["az-snp-vtpm"])),
                // hardware: through tdx_boot_ok, then data.policy.tdx_kernel_ok.
                (47, v(&["tdx"])),
                // configuration: `debug` reads snp and tdx claims (mixed);
                // input.init_data is every TEE's and adds none.
                (51, v(&["snp", "tdx"])),
                (52, v(&["snp", "tdx"])),
                // orphan: nothing reads claims or calls it.
                (56, v(&[])),
            ]
        );
    }

    fn names(policy: &str, tee: Option<&str>) -> Vec<String> {
        let policy = crate::Policy::parse(policy.as_bytes()).unwrap();
        crate::coverage(&policy, &[], tee).missing
    }

    #[test]
    fn coverage_by_tee_follows_helper_rules() {
        assert_eq!(
            names(HELPERS, Some("az-snp-vtpm")),
            ["init_data", "snp_pcr03", "orphan"],
            "tdvfkernel belongs to tdx alone"
        );
        assert_eq!(
            names(HELPERS, Some("tdx")),
            ["tdvfkernel", "init_data", "tdx_boot_allowed", "debug", "init_data_hash", "orphan"]
        );
        assert_eq!(names(HELPERS, Some("snp")), ["debug", "init_data_hash", "orphan"]);
        assert_eq!(names(HELPERS, None).len(), 7);
    }

    /// The trustee-operator's default policy: its TDX helper rules compare
    /// event digests, not `input` expressions, and have no `input.tdx`
    /// guard of their own.
    #[test]
    fn the_operators_default_policy_by_tee() {
        const OPERATOR: &str = include_str!("../tests/data/trustee-operator-default-cpu.rego");
        assert_eq!(
            names(OPERATOR, Some("az-snp-vtpm")),
            ["snp_pcr03", "snp_pcr08", "snp_pcr09", "snp_pcr11", "snp_pcr12"]
        );
        assert_eq!(
            names(OPERATOR, Some("tdx")),
            ["rtmr_1", "rtmr_2", "mr_td", "xfam", "tdvfkernel", "tdvfkernelparams"]
        );
        assert_eq!(
            names(OPERATOR, Some("az-tdx-vtpm")),
            ["tdx_pcr03", "tdx_pcr08", "tdx_pcr09", "tdx_pcr11", "tdx_pcr12"]
        );
        assert_eq!(names(OPERATOR, Some("se")), Vec::<String>::new());
    }

    #[test]
    fn unparsable_text_attributes_nothing() {
        assert_eq!(query_tees("package policy\n\nallow if {\n"), None);
    }
}
