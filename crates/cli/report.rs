//! How the commands print the report types the libraries define.

/// A report as pretty-printed JSON with a final newline: the `--json`
/// output of every command.
pub fn to_json(report: &impl serde::Serialize) -> anyhow::Result<String> {
    let mut s = serde_json::to_string_pretty(report)?;
    s.push('\n');
    Ok(s)
}
