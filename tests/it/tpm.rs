//! PCR8 against a software TPM: swtpm extends what an independent tool
//! (sha256sum, sha384sum, sha512sum) says the initdata hashes to, the way the
//! podvm does, and rvkit must predict the register's value.

use std::fs;

use crate::util::{Swtpm, bash, have_tools, ok, rvkit_in, tempdir};

const TOOLS: &[&str] = &["swtpm", "tpm2_pcrextend", "tpm2_pcrread", "sha256sum", "sha384sum", "sha512sum"];

fn document(alg: &str, variant: usize) -> String {
    format!(
        "algorithm = \"{alg}\"\nversion = \"0.1.0\"\n\n[data]\n\"aa.toml\" = '''\n[token_configs]\n\
         [token_configs.kbs]\nurl = \"https://kbs-{variant}.example.com\"\n'''\n"
    )
}

#[test]
fn pcr8_equals_what_swtpm_computes() {
    if !have_tools("pcr8_equals_what_swtpm_computes", TOOLS) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let cases = [
        ("dummy.toml", rvkit_initdata::DUMMY_INITDATA.to_owned(), "sha256"),
        ("a.toml", document("sha256", 1), "sha256"),
        ("b.toml", document("sha384", 2), "sha384"),
        ("c.toml", document("sha512", 3), "sha512"),
        ("crlf.toml", document("sha256", 4).replace('\n', "\r\n"), "sha256"),
        ("no-final-newline.toml", document("sha256", 5).trim_end().to_owned(), "sha256"),
    ];
    for (name, text, alg) in cases {
        fs::write(d.join(name), &text).unwrap();
        // The podvm extends the first 32 bytes of the initdata digest into
        // PCR8 of the SHA-256 bank; the digest comes from coreutils here.
        let sum = String::from_utf8(bash(d, &format!("{alg}sum '{name}' | cut -d' ' -f1"))).unwrap();
        let first32 = &sum.trim_end()[..64];
        let tpm = Swtpm::start();
        assert_eq!(tpm.read_sha256(8), "0".repeat(64), "a fresh TPM starts PCR8 at zero");
        tpm.extend_sha256(8, first32);
        let want = tpm.read_sha256(8);

        let out = rvkit_in(d, &["initdata", "digest", name, "--platform", "vtpm"]);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(ok(out).trim_end(), want, "{name}");
        if alg == "sha256" {
            assert!(!stderr.contains("warning"), "{name}: unexpected warning: {stderr}");
        } else {
            assert!(
                stderr.contains("warning") && stderr.contains("32"),
                "{name}: expected a loud warning: {stderr}"
            );
        }
        if name == "dummy.toml" {
            assert_eq!(want, rvkit_initdata::DUMMY_PCR8_HEX, "design.md's dummy PCR8");
        }
    }
}

#[test]
fn extend_chain_equals_what_swtpm_computes() {
    if !have_tools("extend_chain_equals_what_swtpm_computes", TOOLS) {
        return;
    }
    let dir = tempdir();
    let tpm = Swtpm::start();
    let digests: Vec<String> = (0..5)
        .map(|i| {
            String::from_utf8(bash(dir.path(), &format!("printf 'event {i}' | sha256sum | cut -c1-64")))
                .unwrap()
                .trim_end()
                .to_owned()
        })
        .collect();
    // PCR 16 (debug) and 23 (application) are resettable at locality 0 and
    // start at zero; 17-22 cannot be extended from locality 0.
    for pcr in [16u8, 23] {
        for d in &digests {
            tpm.extend_sha256(pcr, d);
        }
        let mut args = vec!["pcr", "extend", "--pcr"];
        let p = pcr.to_string();
        args.push(&p);
        args.extend(digests.iter().map(String::as_str));
        let ours = ok(rvkit_in(dir.path(), &args));
        assert_eq!(ours.trim_end(), tpm.read_sha256(pcr), "pcr {pcr}");
    }
}
