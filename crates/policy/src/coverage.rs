use rvkit_rvps::ReferenceValue;

use crate::Policy;

/// Which reference names a policy reads and which the reference values have.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Coverage {
    /// Names the policy queries (for the TEE asked about), in policy order,
    /// each with the lines that query it.
    pub queried: Vec<(String, Vec<usize>)>,
    /// Queried names the reference values have.
    pub present: Vec<String>,
    /// Queried names the reference values lack: those comparisons fail.
    pub missing: Vec<String>,
    /// Names the reference values have that no (selected) rule reads.
    pub unused: Vec<String>,
    /// Lines whose `query_reference_value` argument is not a string literal
    /// and so cannot be read off the text.
    pub dynamic: Vec<usize>,
}

/// Compares the names `policy` queries with the names of `reference_values`.
/// With `tee`, only queries that belong to that TEE ([`Query::belongs_to`]:
/// by the compared claim, else by the claims the rule around the call reads),
/// and queries whose TEE cannot be told, count.
///
/// [`Query::belongs_to`]: crate::Query::belongs_to
pub fn coverage(policy: &Policy, reference_values: &[ReferenceValue], tee: Option<&str>) -> Coverage {
    let mut c = Coverage::default();
    for q in policy.queries() {
        if tee.is_some_and(|t| !q.belongs_to(t)) {
            continue;
        }
        let Some(name) = q.name else {
            c.dynamic.push(q.line);
            continue;
        };
        match c.queried.iter_mut().find(|(n, _)| *n == name) {
            Some((_, lines)) => lines.push(q.line),
            None => c.queried.push((name, vec![q.line])),
        }
    }
    for (name, _) in &c.queried {
        if reference_values.iter().any(|rv| rv.name.as_str() == name) {
            c.present.push(name.clone());
        } else {
            c.missing.push(name.clone());
        }
    }
    c.unused = reference_values
        .iter()
        .map(|rv| rv.name.as_str().to_owned())
        .filter(|n| !c.queried.iter().any(|(q, _)| q == n))
        .collect();
    c
}
