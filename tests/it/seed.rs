//! Access to the walkthrough (the manual procedure rvkit replaces), which the
//! parity tests run as written. It lives beside the project in
//! `shared/seed/`; a machine without it skips those tests with a clear line,
//! except in CI, where they must run.

use std::path::PathBuf;

use crate::util::services_required;

/// The walkthrough's text, or `None` (after printing why) when it is absent
/// outside CI.
pub fn walkthrough(test: &str) -> Option<String> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/seed/configure-trustee-walkthrough.txt");
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if !services_required() => {
            eprintln!("skipped: {test}: the walkthrough is not beside the project ({e})");
            None
        }
        Err(e) => panic!("{test}: cannot read the walkthrough at {}: {e}", path.display()),
    }
}

/// The lines of `text` from the first line equal to `start` up to and
/// including the first line after it equal to `end`.
pub fn block(text: &str, start: &str, end: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let from =
        lines.iter().position(|l| *l == start).unwrap_or_else(|| panic!("walkthrough has no line {start:?}"));
    let to = from
        + lines[from..]
            .iter()
            .position(|l| *l == end)
            .unwrap_or_else(|| panic!("no {end:?} after {start:?}"));
    let mut s = lines[from..=to].join("\n");
    s.push('\n');
    s
}

/// The walkthrough's `cat > initdata.toml <<EOF ... EOF` step, byte for byte.
pub fn initdata_heredoc(text: &str) -> String {
    block(text, "cat > initdata.toml <<EOF", "EOF")
}

/// The walkthrough's jq program that turns measurements into reference
/// values, as a bash statement that leaves the JSON in `$REFERENCE_VALUES_JSON`;
/// `indent` keeps or drops its trailing `sed` (the ConfigMap indentation,
/// which the seed README says stands for four spaces).
pub fn jq_step(text: &str, indent: bool) -> String {
    let step = block(text, "REFERENCE_VALUES_JSON=$(echo \"$JSON_DATA\" | jq \\", "' | sed 's/^/ /')");
    let tail = if indent { "' | sed 's/^/    /')" } else { "')" };
    step.replace("' | sed 's/^/ /')", tail)
}

/// The walkthrough's PCR8 computation (`sha256sum | xxd -r -p | sha256sum`).
pub fn pcr8_step(text: &str) -> String {
    block(
        text,
        "initial_pcr=0000000000000000000000000000000000000000000000000000000000000000",
        "PCR8_HASH=$(echo -n \"$initial_pcr$hash\" | xxd -r -p | sha256sum | cut -d' ' -f1)",
    )
}

/// The walkthrough's ConfigMap heredoc with the YAML indentation the
/// flattening removed put back (two spaces a level).
pub fn configmap_heredoc(text: &str) -> String {
    let raw = block(text, "cat > rvps-configmap.yaml <<EOF", "EOF");
    let indent = |line: &str| -> String {
        let depth = match line {
            "name: trusteeconfig-rvps-reference-values" | "namespace: trustee-operator-system" => 1,
            "reference-values.json: |" => 1,
            _ => 0,
        };
        format!("{}{line}", "  ".repeat(depth))
    };
    raw.lines().map(indent).collect::<Vec<_>>().join("\n") + "\n"
}
