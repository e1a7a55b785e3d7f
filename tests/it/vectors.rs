//! Published vectors, through the command. Sources:
//! - Trustee's verifier tests: initdata digest 8505e4e2…7781 gives PCR8
//!   bddaccb9…dfdd (design.md, "initdata facts").
//! - The peer-pods dummy initdata document and its PCR8 4b58b30b…21a9
//!   (design.md; cloud-api-adaptor's podvm).

use std::fs;

use crate::util::{ok, rvkit_in, tempdir};

#[test]
fn trustee_vector_through_pcr_extend() {
    let dir = tempdir();
    let out = ok(rvkit_in(
        dir.path(),
        &[
            "pcr",
            "extend",
            "--pcr",
            "8",
            "0x8505e4e25e50a27c5dc8147af88efbece627fbea55291911eff832d9ee127781",
        ],
    ));
    assert_eq!(out, "bddaccb9c52249e97a31baea61b7d91be8221a16e703d92148d04fb8e9c1dfdd\n");
}

#[test]
fn dummy_initdata_pcr8_through_the_command() {
    let dir = tempdir();
    fs::write(dir.path().join("dummy.toml"), rvkit_initdata::DUMMY_INITDATA).unwrap();
    let out = ok(rvkit_in(dir.path(), &["initdata", "digest", "dummy.toml", "--platform", "vtpm"]));
    assert_eq!(out, "4b58b30becd30d16f7f60d56b32661d921ae0d3310c6a89f5d552f9bfee921a9\n");
    let out = ok(rvkit_in(dir.path(), &["initdata", "digest", "dummy.toml", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["bindings"]["vtpm"]["value"],
        "4b58b30becd30d16f7f60d56b32661d921ae0d3310c6a89f5d552f9bfee921a9"
    );
    assert_eq!(v["bindings"]["tdx"]["value"].as_str().unwrap().len(), 96);
    assert_eq!(v["bindings"]["snp"]["value"].as_str().unwrap().len(), 64);
    assert_eq!(v["bindings"]["cca"]["value"].as_str().unwrap().len(), 128);
}

#[test]
fn sha384_initdata_gives_the_truncated_pcr8_with_a_warning() {
    let dir = tempdir();
    let d = dir.path();
    let doc = "algorithm = \"sha384\"\nversion = \"0.1.0\"\n\n[data]\n\"aa.toml\" = '''\n'''\n";
    fs::write(d.join("i.toml"), doc).unwrap();
    let out = rvkit_in(d, &["pcr", "initdata", "i.toml"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(stderr.contains("warning") && stderr.contains("sha384"), "{stderr}");
    let ours = ok(out);
    // Independent computation: sha384sum, keep 32 bytes, extend with xxd + sha256sum.
    let want = crate::util::bash(
        d,
        "h=$(sha384sum i.toml | cut -c1-64); printf '%064d%s' 0 \"$h\" | xxd -r -p | sha256sum | cut -d' ' -f1",
    );
    assert_eq!(ours, format!("{}  i.toml\n", String::from_utf8(want).unwrap().trim_end()));
}
