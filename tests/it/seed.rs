//! The walkthrough's shell steps (the manual procedure rvkit replaces), which
//! the parity tests run as written. They are the project's own test data,
//! transcribed with provenance in `tests/data/walkthrough/` (see its README);
//! one test here checks the transcription against the walkthrough's text
//! when that text is at hand.

use std::path::PathBuf;

use crate::util::{EXPIRATION, in_ci};

/// The transcribed steps: sections of walkthrough lines, each after a
/// `#### lines A-B: what` line.
pub fn steps() -> &'static str {
    include_str!("../data/walkthrough/steps.txt")
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

/// The expiration the walkthrough's jq program writes into every value.
const WALKTHROUGH_EXPIRATION: &str = "2027-12-12T00:00:00Z";

/// The walkthrough's jq program that turns measurements into reference
/// values, as a bash statement that leaves the JSON in `$REFERENCE_VALUES_JSON`;
/// `indent` keeps or drops its trailing `sed` (the ConfigMap indentation,
/// which the seed README says stands for four spaces). Its fixed expiration
/// is replaced by [`EXPIRATION`], the one the tests give rvkit: rvkit refuses
/// a past expiration, and the walkthrough's will pass.
pub fn jq_step(text: &str, indent: bool) -> String {
    let step = written_jq_step(text, indent);
    assert_eq!(step.matches(WALKTHROUGH_EXPIRATION).count(), 2, "the jq program writes two expirations");
    step.replace(WALKTHROUGH_EXPIRATION, EXPIRATION)
}

/// The jq step as the walkthrough writes it, fixed expiration included.
fn written_jq_step(text: &str, indent: bool) -> String {
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

/// The transcription's sections: (first line, last line, the lines).
fn sections(steps: &str) -> Vec<(usize, usize, Vec<&str>)> {
    let mut out: Vec<(usize, usize, Vec<&str>)> = Vec::new();
    for line in steps.lines() {
        if let Some(header) = line.strip_prefix("#### lines ") {
            let range = header.split(':').next().expect("a range");
            let (a, b) = range.split_once('-').unwrap_or_else(|| panic!("bad section header {line:?}"));
            out.push((a.parse().expect("a line number"), b.parse().expect("a line number"), Vec::new()));
        } else {
            out.last_mut().unwrap_or_else(|| panic!("{line:?} comes before any section header")).2.push(line);
        }
    }
    out
}

#[test]
fn the_transcription_is_the_walkthrough_text() {
    let dir = std::env::var_os("RVKIT_SEED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/seed"));
    let path = dir.join("configure-trustee-walkthrough.txt");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if in_ci() => panic!("the walkthrough is required in CI: {}: {e}", path.display()),
        Err(e) => {
            eprintln!("skipped: the walkthrough is not at {} ({e}); set RVKIT_SEED", path.display());
            return;
        }
    };
    let walkthrough: Vec<&str> = text.lines().collect();
    let sections = sections(steps());
    assert_eq!(sections.len(), 10, "the README's table lists ten sections");
    for (first, last, lines) in sections {
        assert!(first >= 1 && first <= last && last <= walkthrough.len(), "lines {first}-{last}");
        let theirs = &walkthrough[first - 1..last];
        if let Some(i) = (0..lines.len().max(theirs.len())).find(|&i| lines.get(i) != theirs.get(i)) {
            panic!(
                "line {} of {} is {:?}; the transcription has {:?}",
                first + i,
                path.display(),
                theirs.get(i),
                lines.get(i)
            );
        }
    }
}

#[test]
fn the_rvps_jq_program_is_the_transcribed_one() {
    let step = written_jq_step(steps(), false);
    let program = step
        .split_once("--arg pcr8_val \"$PCR8_HASH\" '\n")
        .and_then(|(_, rest)| rest.strip_suffix("')\n"))
        .expect("the jq step quotes its program");
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("crates/rvps/tests/data/walkthrough-reference-values.jq");
    assert_eq!(std::fs::read_to_string(&file).expect("the rvps crate's jq program"), program);
}
