//! Helpers for tests that cross-check against installed tools.

use std::io::Write as _;
use std::process::{Command, Stdio};

/// Runs `program` with `args`, feeding `stdin`, and returns its stdout.
/// Fails the test with the tool's stderr when it cannot run or fails; the
/// tools used (jq, bash, GNU coreutils) are part of the CI image.
pub(crate) fn run(program: &str, args: &[String], stdin: &[u8]) -> String {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program} (is it installed?): {e}"));
    // Feed stdin from another thread so a large output cannot deadlock us.
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || pipe.write_all(&input));
    let out = child.wait_with_output().expect("wait for child");
    writer.join().expect("writer thread").expect("write stdin");
    assert!(out.status.success(), "{program} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("tool output is UTF-8")
}
