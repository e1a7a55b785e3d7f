//! The command's contract: results on stdout, diagnostics on stderr, exit
//! codes 0/1/2, atomic `-o`, and no output file on any error.

use std::fs;
use std::path::Path;

use crate::util::{fails, have_tools, ok, rvkit_in, tempdir};

/// The sorted names in `dir`, to prove a failing command left nothing behind.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// Runs a command that must fail with `code`, must name `needle` in its
/// message, and must neither create `out.txt` nor change anything in `dir`.
#[track_caller]
fn rejects(dir: &Path, args: &[&str], code: i32, needle: &str) {
    let before = listing(dir);
    let mut full: Vec<&str> = args.to_vec();
    full.extend(["-o", "out.txt"]);
    let stderr = fails(rvkit_in(dir, &full), code);
    assert!(stderr.contains(needle), "message should mention {needle:?}:\n{stderr}");
    assert_eq!(listing(dir), before, "files changed by a failing command");
}

const VALID: &str = "algorithm = \"sha256\"\nversion = \"0.1.0\"\n\n[data]\n\"aa.toml\" = '''\n'''\n";

#[test]
fn bad_initdata_documents_exit_2_and_write_nothing() {
    let dir = tempdir();
    let d = dir.path();
    let cases: &[(&str, &[u8], &str)] = &[
        ("latin1.toml", b"algorithm = \"sha256\"\nversion = \"0.1.0\"\n# caf\xe9\n[data]\n", "utf-8"),
        ("syntax.toml", b"algorithm = \"sha256\nversion = \"0.1.0\"\n[data]\n", "syntax.toml"),
        ("alg.toml", b"algorithm = \"md5\"\nversion = \"0.1.0\"\n[data]\n", "md5"),
        ("version.toml", b"algorithm = \"sha256\"\nversion = \"0.2.0\"\n[data]\n", "0.2.0"),
        (
            "nested.toml",
            b"algorithm = \"sha256\"\nversion = \"0.1.0\"\n[data]\n[data.\"aa.toml\"]\nx = 1\n",
            "aa.toml",
        ),
        ("number.toml", b"algorithm = \"sha256\"\nversion = \"0.1.0\"\n[data]\n\"aa.toml\" = 3\n", "aa.toml"),
    ];
    for (name, bytes, needle) in cases {
        fs::write(d.join(name), bytes).unwrap();
        // Re-encoding the corrupt document must fail the same way.
        rejects(d, &["initdata", "encode", name], 2, needle);
        let stderr = fails(rvkit_in(d, &["initdata", "digest", name]), 2);
        assert!(stderr.contains(name), "{stderr}");
        let stderr = fails(rvkit_in(d, &["pcr", "initdata", name]), 2);
        assert!(stderr.contains(name), "{stderr}");
    }
    rejects(d, &["initdata", "encode", "missing.toml"], 2, "missing.toml");
}

#[test]
fn a_document_that_parses_but_fails_validation_exits_1() {
    let dir = tempdir();
    let d = dir.path();
    let bad_aa =
        "algorithm = \"sha256\"\nversion = \"0.1.0\"\n\n[data]\n\"aa.toml\" = '''\n[token_configs\n'''\n";
    fs::write(d.join("bad-aa.toml"), bad_aa).unwrap();
    let stderr = fails(rvkit_in(d, &["initdata", "check", "bad-aa.toml"]), 1);
    assert!(stderr.contains("aa.toml"), "{stderr}");
    let bad_policy =
        "algorithm = \"sha256\"\nversion = \"0.1.0\"\n\n[data]\n\"policy.rego\" = '''\npackage other\n'''\n";
    fs::write(d.join("bad-policy.toml"), bad_policy).unwrap();
    let stderr = fails(rvkit_in(d, &["initdata", "check", "bad-policy.toml"]), 1);
    assert!(stderr.contains("agent_policy"), "{stderr}");
    fs::write(d.join("ok.toml"), VALID).unwrap();
    ok(rvkit_in(d, &["initdata", "check", "ok.toml"]));
}

#[test]
fn bad_annotations_exit_2_and_write_nothing() {
    if !have_tools("bad_annotations_exit_2_and_write_nothing", &["gzip", "base64", "bash"]) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    fs::write(d.join("ok.toml"), VALID).unwrap();
    let sh = |script: &str| crate::util::bash(d, script);
    sh("gzip -c ok.toml | base64 -w0 > good.b64");
    sh("head -c 200000000 /dev/zero | gzip -c | base64 -w0 > bomb.b64");
    sh("(gzip -c ok.toml; printf 'trailing garbage') | base64 -w0 > trailing.b64");
    sh("printf 'not base64 at all!' > alphabet.b64");
    sh("base64 -w0 ok.toml > plain.b64");
    sh("gzip -c ok.toml | base64 -w0 | tr '+/' '-_' > urlsafe.b64");
    for (file, needle) in [
        ("@bomb.b64", "bomb.b64"),
        ("@trailing.b64", "trailing.b64"),
        ("@alphabet.b64", "alphabet.b64"),
        ("@plain.b64", "plain.b64"),
        ("@missing.b64", "missing.b64"),
    ] {
        rejects(d, &["initdata", "decode", file], 2, needle);
    }
    // Wrapped base64 (whitespace) decodes; a URL-safe one decodes only if it
    // happens to have no '-' or '_', so just check it does not panic.
    sh("base64 -w 20 good.b64 > /dev/null; gzip -c ok.toml | base64 -w 20 > wrapped.b64");
    assert_eq!(ok(rvkit_in(d, &["initdata", "decode", "@wrapped.b64"])), VALID);
    let _ = rvkit_in(d, &["initdata", "decode", "@urlsafe.b64"]);
    // The bomb is also refused by `check --annotation`.
    fails(rvkit_in(d, &["initdata", "check", "--annotation", "@bomb.b64"]), 2);
}

#[test]
fn output_file_is_replaced_atomically_and_kept_on_error() {
    let dir = tempdir();
    let d = dir.path();
    fs::write(d.join("ok.toml"), VALID).unwrap();
    fs::write(d.join("out.txt"), "previous content\n").unwrap();
    fs::write(d.join("bad.toml"), "algorithm = 1\n").unwrap();
    fails(rvkit_in(d, &["initdata", "encode", "bad.toml", "-o", "out.txt"]), 2);
    assert_eq!(fs::read_to_string(d.join("out.txt")).unwrap(), "previous content\n");
    assert_eq!(ok(rvkit_in(d, &["initdata", "encode", "ok.toml", "-o", "out.txt"])), "");
    let text = fs::read_to_string(d.join("out.txt")).unwrap();
    assert_eq!(ok(rvkit_in(d, &["initdata", "decode", text.trim_end()])), VALID);
    assert_eq!(listing(d), ["bad.toml", "ok.toml", "out.txt"], "no temporary files left behind");
}

#[test]
fn bad_hex_and_pcr_indices_exit_2() {
    let dir = tempdir();
    let d = dir.path();
    let zero = "00".repeat(32);
    for (args, needle) in [
        (vec!["pcr", "extend", "abcd"], "32"),
        (vec!["pcr", "extend", &zero[..63]], "odd"),
        (vec!["pcr", "extend", "--pcr", "24", &zero], "24"),
        (vec!["pcr", "extend", "--bank", "sha384", &zero], "48"),
        (vec!["pcr", "extend", "--bank", "md5", &zero], "md5"),
        (vec!["pcr", "extend", "--from", "0x12", &zero], "--from"),
    ] {
        let stderr = fails(rvkit_in(d, &args), 2);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn bad_measurements_and_expirations_exit_2_and_write_nothing() {
    let dir = tempdir();
    let d = dir.path();
    let good_value = format!("0x{}", "0a".repeat(32));
    let files = [
        ("notjson.json", "{\"measurements\":".to_owned(), "notjson.json"),
        (
            "trailing.json",
            format!("{{\"measurements\":{{\"sha256\":{{\"pcr03\":\"{good_value}\"}}}}}} x"),
            "trailing.json",
        ),
        (
            "range.json",
            format!("{{\"measurements\":{{\"sha256\":{{\"pcr24\":\"{good_value}\"}}}}}}"),
            "pcr24",
        ),
        ("short.json", "{\"measurements\":{\"sha256\":{\"pcr03\":\"0xabcd\"}}}".to_owned(), "pcr03"),
        (
            "badhex.json",
            format!("{{\"measurements\":{{\"sha256\":{{\"pcr03\":\"0x{}zz\"}}}}}}", "0".repeat(62)),
            "pcr03",
        ),
    ];
    for (name, text, needle) in &files {
        fs::write(d.join(name), text).unwrap();
        rejects(d, &["rvps", "emit", "--measurements", name], 2, needle);
    }
    fs::write(
        d.join("m.json"),
        format!("{{\"measurements\":{{\"sha256\":{{\"pcr03\":\"{good_value}\"}}}}}}"),
    )
    .unwrap();
    for bad in ["2027-12-12", "2027-12-12T00:00:00.5Z", "2027-12-12T00:00:00+01:00", "2027-02-30T00:00:00Z"] {
        rejects(d, &["rvps", "emit", "--measurements", "m.json", "--expiration", bad], 2, bad);
    }
    rejects(d, &["rvps", "emit", "--measurements", "missing.json"], 2, "missing.json");
}

/// `rvkit completions SHELL` prints a script each shell reads without a
/// syntax error, and that completes a subcommand.
#[test]
fn completion_scripts_parse_in_their_shells_and_complete_subcommands() {
    if !have_tools(
        "completion_scripts_parse_in_their_shells_and_complete_subcommands",
        &["bash", "zsh", "fish"],
    ) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    for (shell, file, check) in [
        ("bash", "rvkit.bash", &["bash", "-n"][..]),
        ("zsh", "_rvkit", &["zsh", "-n"][..]),
        ("fish", "rvkit.fish", &["fish", "--no-execute"][..]),
    ] {
        let script = ok(rvkit_in(d, &["completions", shell]));
        fs::write(d.join(file), &script).unwrap();
        let out =
            std::process::Command::new(check[0]).args(&check[1..]).arg(file).current_dir(d).output().unwrap();
        assert!(out.status.success(), "{shell}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let bash = crate::util::bash(
        d,
        "source ./rvkit.bash\nCOMP_WORDS=(rvkit bun); COMP_CWORD=1\n_rvkit rvkit bun rvkit\necho \"${COMPREPLY[@]}\"",
    );
    assert_eq!(String::from_utf8_lossy(&bash), "bundle\n");
    let fish = std::process::Command::new("fish")
        .args(["-c", "source ./rvkit.fish; complete -C 'rvkit rvps em'"])
        .current_dir(d)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&fish.stdout),
        "emit\tTurn podvm measurements and initdata into reference values\n"
    );
    let stderr = fails(rvkit_in(d, &["completions", "tcsh"]), 2);
    assert!(stderr.contains("invalid value 'tcsh'"), "{stderr}");
}

/// The manual pages `cargo xtask man` writes (with `rvkit man DIR`): one for
/// rvkit and one for every subcommand, each read by groff without a warning.
#[test]
fn man_pages_cover_every_subcommand_and_format_cleanly() {
    if !have_tools("man_pages_cover_every_subcommand_and_format_cleanly", &["groff"]) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    assert_eq!(ok(rvkit_in(d, &["man", "pages"])), "");
    let pages = listing(&d.join("pages"));
    let help = ok(rvkit_in(d, &["--help"]));
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert_eq!(commands, ["bundle", "initdata", "launch", "pcr", "podvm", "rvps", "completions"]);
    assert!(pages.contains(&"rvkit.1".to_owned()), "{pages:?}");
    for c in commands {
        assert!(pages.contains(&format!("rvkit-{c}.1")), "{c}: {pages:?}");
    }
    assert!(pages.contains(&"rvkit-rvps-emit.1".to_owned()), "{pages:?}");
    assert!(!pages.iter().any(|p| p.starts_with("rvkit-man")), "the generator is not a documented command");
    for page in &pages {
        let out = std::process::Command::new("groff")
            .args(["-k", "-man", "-ww", "-z"])
            .arg(d.join("pages").join(page))
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{page}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let bundle = fs::read_to_string(d.join("pages/rvkit-bundle.1")).unwrap();
    assert!(bundle.contains("\\-\\-domain"), "the page documents the flags");
}

/// The long options under each heading of a command's help.
fn headings(help: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in help.lines() {
        if let Some(heading) = line.strip_suffix(':').filter(|l| !l.starts_with(' ') && !l.contains(": ")) {
            out.push((heading.to_owned(), Vec::new()));
        } else if let Some((_, flags)) = out.last_mut()
            && let Some(long) = line.split_whitespace().find(|w| w.starts_with("--"))
            && line.trim_start().starts_with('-')
        {
            flags.push(long.trim_end_matches(',').to_owned());
        }
    }
    out
}

/// Help groups the output options apart from those that say how to reach
/// and verify an image, and the global -q/-v apart from both.
#[test]
fn help_groups_output_options_apart_from_image_access() {
    let dir = tempdir();
    let emit = headings(&ok(rvkit_in(dir.path(), &["rvps", "emit", "--help"])));
    let names: Vec<&str> = emit.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(names, ["Options", "Image verification and access", "Output", "Global options"]);
    let section = |h: &str| emit.iter().find(|(n, _)| n == h).map(|(_, f)| f.join(" ")).unwrap();
    assert_eq!(section("Global options"), "--quiet --verbose");
    assert_eq!(
        section("Image verification and access"),
        "--key --rekor-key --insecure-ignore-tlog[=<BOOL>] --insecure-skip-verify[=<BOOL>] --identity \
         --authfile --insecure-registry --image-platform --retries --timeout --measurements-from"
    );
    assert_eq!(section("Output"), "--format --configmap --name --namespace --data-key --output --transcript");
    let fetch = headings(&ok(rvkit_in(dir.path(), &["podvm", "fetch", "--help"])));
    let output = fetch.iter().find(|(n, _)| n == "Output").map(|(_, f)| f.clone()).unwrap();
    assert_eq!(output, ["--output"]);
    let bundle = headings(&ok(rvkit_in(dir.path(), &["bundle", "--help"])));
    let output = bundle.iter().find(|(n, _)| n == "Output").map(|(_, f)| f.clone()).unwrap();
    assert_eq!(output, ["--output", "--json"]);
}

/// `-q` leaves only errors on stderr: a known warning and note go, the
/// result on stdout stays the same, and an error is still printed.
#[test]
fn quiet_silences_warnings_and_notes_but_not_errors() {
    let dir = tempdir();
    let d = dir.path();
    let value = format!("0x{}", "0a".repeat(32));
    fs::write(d.join("m.json"), format!("{{\"measurements\":{{\"sha256\":{{\"pcr03\":\"{value}\"}}}}}}"))
        .unwrap();
    let args = ["rvps", "emit", "--measurements", "m.json", "--expiration", "9030-01-01T00:00:00Z"];
    let loud = rvkit_in(d, &args);
    assert_eq!(
        String::from_utf8_lossy(&loud.stderr),
        "warning: reference values: no pcr08 value: Trustee's default attestation policy for peer pods \
         checks snp_pcr08/tdx_pcr08, so attestation will fail; give the initdata documents the pods use \
         (or the dummy initdata for pods without one)\n\
         note: format array (ConfigMap key reference-values.json) is read by Trustee and trustee-operator \
         up to v0.18; for v0.19 and later use --format kv\n"
    );
    let quiet = rvkit_in(d, &[&["-q"][..], &args].concat());
    assert!(quiet.status.success());
    assert_eq!(String::from_utf8_lossy(&quiet.stderr), "");
    assert_eq!(quiet.stdout, ok(loud).into_bytes());
    let stderr = fails(rvkit_in(d, &["rvps", "emit", "--quiet", "--measurements", "missing.json"]), 2);
    assert_eq!(stderr, "error: cannot read missing.json: No such file or directory (os error 2)\n");
}
