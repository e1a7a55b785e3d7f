//! `cargo xtask tidy`: the invariants ARCHITECTURE.md states, checked by
//! machine. Each rule is a function from what it reads to the violations it
//! finds, so a test can feed it a deliberate violation.
//!
//! - A pure crate has no I/O, network or registry crate among its normal
//!   dependencies, direct or not (from `cargo metadata`).
//! - Every member declares its dependencies through
//!   `[workspace.dependencies]` (`name.workspace = true`).
//! - Every library crate denies or warns on `missing_docs`, so a public item
//!   without documentation fails `cargo clippy -- -D warnings`.
//! - The list of what the test suite needs exists once
//!   (`tests/data/requirements.txt`): no install line or (program, package)
//!   table naming its entries elsewhere.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::setup::{self, Install, Kind, Requirement};
use crate::util::{cargo, output, root};

/// The crates ARCHITECTURE.md calls pure, and whether each may depend on
/// anything at all.
const PURE: &[(&str, Deps)] = &[
    ("rvkit-names", Deps::None),
    ("rvkit-pcr", Deps::NoOtherRvkit),
    ("rvkit-keys", Deps::Pure),
    ("rvkit-image-access", Deps::Pure),
    ("rvkit-pe", Deps::Pure),
    ("rvkit-launch", Deps::Pure),
    ("rvkit-disk", Deps::Pure),
    ("rvkit-predict", Deps::Pure),
    ("rvkit-initdata", Deps::Pure),
    ("rvkit-rvps", Deps::Pure),
    ("rvkit-policy", Deps::Pure),
    ("rvkit-trustee", Deps::Pure),
];

/// What a pure crate may depend on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Deps {
    /// Nothing at all.
    None,
    /// No I/O crate, and no other rvkit crate but rvkit-names, which
    /// itself depends on nothing.
    NoOtherRvkit,
    /// No I/O crate.
    Pure,
}

/// Crates that do I/O a pure crate must not: async runtimes and sockets,
/// HTTP and TLS clients, OCI registries and Sigstore, temporary files, and
/// the one rvkit crate that talks to registries.
const IO_CRATES: &[&str] = &[
    "async-std",
    "curl",
    "h2",
    "hyper",
    "hyper-util",
    "mio",
    "native-tls",
    "oci-client",
    "oci-distribution",
    "reqwest",
    "rustls",
    "rvkit-podvm",
    "sigstore",
    "socket2",
    "tempfile",
    "tokio",
    "ureq",
];

/// The file that holds the one list of what the suite needs.
const REQUIREMENTS: &str = "tests/data/requirements.txt";

pub fn run() -> Result<()> {
    let root = root();
    let metadata: Value =
        serde_json::from_slice(&output(cargo().args(["metadata", "--format-version", "1", "--locked"]))?)
            .context("cargo metadata printed something other than JSON")?;
    let mut violations = pure_crate_violations(&metadata);
    for (manifest, lib) in members(&metadata) {
        let text = std::fs::read_to_string(&manifest)
            .with_context(|| format!("cannot read {}", manifest.display()))?;
        violations.extend(workspace_dep_violations(&shown(&manifest), &text)?);
        if let Some(lib) = lib {
            let text =
                std::fs::read_to_string(&lib).with_context(|| format!("cannot read {}", lib.display()))?;
            violations.extend(missing_docs_violations(&shown(&lib), &text));
        }
    }
    let reqs = setup::parse(setup::LIST)?;
    for file in text_files(&root)? {
        let rel = shown(&file);
        if rel == REQUIREMENTS {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        violations.extend(tool_list_violations(&rel, &text, &reqs));
    }
    if !violations.is_empty() {
        bail!("tidy: {} violation(s):\n  {}", violations.len(), violations.join("\n  "));
    }
    println!("xtask: tidy: ok");
    Ok(())
}

/// A path relative to the workspace root, for messages.
fn shown(path: &Path) -> String {
    path.strip_prefix(root()).unwrap_or(path).display().to_string()
}

/// The workspace members' manifests and library roots.
fn members(metadata: &Value) -> Vec<(PathBuf, Option<PathBuf>)> {
    let ids: BTreeSet<&str> =
        metadata["workspace_members"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let packages = metadata["packages"].as_array().into_iter().flatten();
    packages
        .filter(|p| p["id"].as_str().is_some_and(|id| ids.contains(id)))
        .filter_map(|p| {
            let manifest = PathBuf::from(p["manifest_path"].as_str()?);
            let lib = p["targets"].as_array().into_iter().flatten().find_map(|t| {
                let kinds = t["kind"].as_array()?;
                kinds.iter().any(|k| k == "lib").then(|| PathBuf::from(t["src_path"].as_str().unwrap_or("")))
            });
            Some((manifest, lib))
        })
        .collect()
}

/// Violations of the pure crates' dependency rules in `cargo metadata`'s
/// resolved graph: each names the chain of normal dependencies that leads
/// from the pure crate to the crate it must not use.
pub fn pure_crate_violations(metadata: &Value) -> Vec<String> {
    let packages = metadata["packages"].as_array().map(Vec::as_slice).unwrap_or_default();
    let name_of: HashMap<&str, &str> =
        packages.iter().filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?))).collect();
    let nodes = metadata["resolve"]["nodes"].as_array().map(Vec::as_slice).unwrap_or_default();
    // Normal (run-time) dependencies only: dev and build dependencies never
    // reach a user of the crate.
    let deps_of: HashMap<&str, Vec<&str>> = nodes
        .iter()
        .filter_map(|n| {
            let deps = n["deps"].as_array()?.iter().filter(|d| {
                d["dep_kinds"].as_array().is_some_and(|kinds| kinds.iter().any(|k| k["kind"].is_null()))
            });
            Some((n["id"].as_str()?, deps.filter_map(|d| d["pkg"].as_str()).collect()))
        })
        .collect();
    let mut out = Vec::new();
    for (krate, rule) in PURE {
        let Some(start) = name_of.iter().find(|(_, n)| *n == krate).map(|(id, _)| *id) else { continue };
        let direct = deps_of.get(start).map(Vec::as_slice).unwrap_or_default();
        if *rule == Deps::None && !direct.is_empty() {
            let names: Vec<&str> = direct.iter().filter_map(|d| name_of.get(d).copied()).collect();
            out.push(format!("{krate} must have no dependencies; it depends on {}", names.join(", ")));
        }
        // Breadth first, so each chain reported is a shortest one.
        let mut parent: HashMap<&str, &str> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        while let Some(id) = queue.pop_front() {
            for &dep in deps_of.get(id).map(Vec::as_slice).unwrap_or_default() {
                if dep == start || parent.contains_key(dep) {
                    continue;
                }
                parent.insert(dep, id);
                let name = name_of.get(dep).copied().unwrap_or(dep);
                let other_rvkit =
                    *rule == Deps::NoOtherRvkit && name.starts_with("rvkit-") && name != "rvkit-names";
                if IO_CRATES.contains(&name) || other_rvkit {
                    let mut chain = vec![name];
                    let mut at = id;
                    while at != start {
                        chain.push(name_of.get(at).copied().unwrap_or(at));
                        at = parent[at];
                    }
                    chain.push(krate);
                    chain.reverse();
                    let what = if other_rvkit { "another rvkit crate" } else { "an I/O crate" };
                    out.push(format!("{krate} is pure but depends on {what}: {}", chain.join(" -> ")));
                } else {
                    queue.push_back(dep);
                }
            }
        }
    }
    out
}

/// Dependencies in a member's manifest that do not come from
/// `[workspace.dependencies]`.
pub fn workspace_dep_violations(manifest: &str, text: &str) -> Result<Vec<String>> {
    let doc: toml_edit::DocumentMut =
        text.parse().with_context(|| format!("{manifest} is not valid TOML"))?;
    let mut tables: Vec<(String, &toml_edit::Item)> = Vec::new();
    for kind in ["dependencies", "dev-dependencies", "build-dependencies"] {
        if let Some(t) = doc.get(kind) {
            tables.push((kind.to_owned(), t));
        }
    }
    if let Some(targets) = doc.get("target").and_then(toml_edit::Item::as_table_like) {
        for (cfg, item) in targets.iter() {
            for kind in ["dependencies", "dev-dependencies", "build-dependencies"] {
                if let Some(t) = item.get(kind) {
                    tables.push((format!("target.{cfg}.{kind}"), t));
                }
            }
        }
    }
    let mut out = Vec::new();
    for (kind, table) in tables {
        let Some(table) = table.as_table_like() else { continue };
        for (name, item) in table.iter() {
            let inherited = item
                .as_table_like()
                .and_then(|t| t.get("workspace"))
                .and_then(toml_edit::Item::as_bool)
                .unwrap_or(false);
            if !inherited {
                out.push(format!(
                    "{manifest}: [{kind}] {name} bypasses [workspace.dependencies] (declare it there and write \
                     `{name}.workspace = true`)"
                ));
            }
        }
    }
    Ok(out)
}

/// A library root that does not make missing documentation a lint.
pub fn missing_docs_violations(lib: &str, text: &str) -> Vec<String> {
    let lints = ["#![warn(missing_docs)]", "#![deny(missing_docs)]", "#![forbid(missing_docs)]"];
    if text.lines().any(|l| lints.contains(&l.trim())) {
        Vec::new()
    } else {
        vec![format!(
            "{lib}: a library crate needs #![warn(missing_docs)], so every public item is documented"
        )]
    }
}

/// Lines of `text` that restate the suite's requirements: an `apt-get`,
/// `pip` or `npm` install naming an entry of the list, or a
/// `("program", "package")` pair of it.
pub fn tool_list_violations(file: &str, text: &str, reqs: &[Requirement]) -> Vec<String> {
    let package = |r: &Requirement| -> Option<(&'static str, String)> {
        match &r.install {
            Install::Apt(p) => Some(("apt-get install", p.clone())),
            Install::Pip(s) | Install::PipNoDeps(s) => {
                Some(("pip install", s.split("==").next().unwrap_or(s).to_owned()))
            }
            Install::Npm(s) => {
                Some(("npm install", s.rsplit_once('@').map_or(s.as_str(), |(n, _)| n).to_owned()))
            }
            Install::Script(_) => None,
        }
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let words: Vec<&str> = line
            .split(|c: char| c.is_whitespace() || "\"'`(),;[]".contains(c))
            .filter(|w| !w.is_empty())
            .collect();
        let mut hits = BTreeSet::new();
        for r in reqs {
            let Some((command, name)) = package(r) else { continue };
            let (tool, verb) = command.split_once(' ').expect("two words");
            let installs = words.windows(2).any(|w| w[0].ends_with(tool) && w[1] == verb);
            let names_it = words
                .iter()
                .any(|w| w.split("==").next() == Some(&name) || w.split('@').next() == Some(&name));
            if installs && names_it {
                hits.insert(format!("{name}, from {tool}"));
            }
            if r.kind == Kind::Program && line.contains(&format!("(\"{}\", \"{name}\")", r.name)) {
                hits.insert(format!("{} and its package {name}", r.name));
            }
        }
        if !hits.is_empty() {
            out.push(format!(
                "{file}:{}: restates {REQUIREMENTS} ({}); read the list instead",
                i + 1,
                hits.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    out
}

/// The repository's text files: everything under the root but build
/// output, version control and installed packages.
fn text_files(root: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))? {
            let path = entry?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if path.is_dir() {
                if !matches!(name.as_str(), "target" | ".git" | "node_modules" | "corpus" | "artifacts") {
                    dirs.push(path);
                }
            } else if path.metadata().is_ok_and(|m| m.len() < 1 << 20) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A `cargo metadata` document with `edges` as normal dependencies.
    fn metadata(edges: &[(&str, &str)]) -> Value {
        let mut names: BTreeSet<&str> = BTreeSet::new();
        for (a, b) in edges {
            names.insert(a);
            names.insert(b);
        }
        let packages: Vec<Value> =
            names.iter().map(|n| json!({"id": format!("{n} 1.0"), "name": n})).collect();
        let nodes: Vec<Value> = names
            .iter()
            .map(|n| {
                let deps: Vec<Value> = edges
                    .iter()
                    .filter(|(a, _)| a == n)
                    .map(
                        |(_, b)| json!({"name": b, "pkg": format!("{b} 1.0"), "dep_kinds": [{"kind": null}]}),
                    )
                    .collect();
                json!({"id": format!("{n} 1.0"), "deps": deps})
            })
            .collect();
        json!({"packages": packages, "resolve": {"nodes": nodes}})
    }

    #[test]
    fn a_pure_crate_reaching_an_io_crate_fails_with_the_chain() {
        let clean = metadata(&[("rvkit-rvps", "serde"), ("rvkit-rvps", "rvkit-pcr"), ("rvkit-pcr", "sha2")]);
        assert_eq!(pure_crate_violations(&clean), Vec::<String>::new());
        let dirty = metadata(&[("rvkit-rvps", "serde"), ("rvkit-rvps", "helper"), ("helper", "tokio")]);
        assert_eq!(
            pure_crate_violations(&dirty),
            ["rvkit-rvps is pure but depends on an I/O crate: rvkit-rvps -> helper -> tokio"]
        );
        let podvm = metadata(&[("rvkit-trustee", "rvkit-podvm"), ("rvkit-podvm", "oci-client")]);
        assert_eq!(
            pure_crate_violations(&podvm),
            ["rvkit-trustee is pure but depends on an I/O crate: rvkit-trustee -> rvkit-podvm"]
        );
    }

    #[test]
    fn pcr_may_not_use_another_rvkit_crate_nor_names_anything() {
        let m = metadata(&[("rvkit-pcr", "rvkit-initdata"), ("rvkit-names", "memchr")]);
        assert_eq!(
            pure_crate_violations(&m),
            [
                "rvkit-names must have no dependencies; it depends on memchr",
                "rvkit-pcr is pure but depends on another rvkit crate: rvkit-pcr -> rvkit-initdata",
            ]
        );
        // rvkit-names depends on nothing, so rvkit-pcr may use it.
        let names = metadata(&[("rvkit-pcr", "rvkit-names")]);
        assert!(pure_crate_violations(&names).is_empty());
    }

    #[test]
    fn dev_dependencies_do_not_count() {
        let mut m = metadata(&[("rvkit-rvps", "tempfile")]);
        m["resolve"]["nodes"][0]["deps"][0]["dep_kinds"] = json!([{"kind": "dev"}]);
        assert_eq!(m["resolve"]["nodes"][0]["id"], "rvkit-rvps 1.0");
        assert_eq!(pure_crate_violations(&m), Vec::<String>::new());
    }

    #[test]
    fn a_dependency_outside_the_workspace_table_fails() {
        let good = "[package]\nname = \"a\"\n\n[dependencies]\nserde.workspace = true\n\
                    tokio = { workspace = true, features = [\"rt\"] }\n\n[dev-dependencies]\nproptest.workspace = true\n";
        assert_eq!(workspace_dep_violations("a/Cargo.toml", good).unwrap(), Vec::<String>::new());
        let bad = format!("{good}\n[target.'cfg(unix)'.dependencies]\nlibc = \"0.2\"\n");
        let bad = bad.replace("proptest.workspace = true", "proptest = { version = \"1\" }");
        assert_eq!(
            workspace_dep_violations("a/Cargo.toml", &bad).unwrap(),
            [
                "a/Cargo.toml: [dev-dependencies] proptest bypasses [workspace.dependencies] (declare it there and \
                 write `proptest.workspace = true`)",
                "a/Cargo.toml: [target.cfg(unix).dependencies] libc bypasses [workspace.dependencies] (declare it \
                 there and write `libc.workspace = true`)",
            ]
        );
    }

    #[test]
    fn a_library_without_the_missing_docs_lint_fails() {
        assert_eq!(
            missing_docs_violations("a/lib.rs", "//! A.\n\n#![warn(missing_docs)]\n"),
            Vec::<String>::new()
        );
        assert_eq!(
            missing_docs_violations("a/lib.rs", "//! A.\n\n// #![warn(missing_docs)] later\npub fn f() {}\n"),
            ["a/lib.rs: a library crate needs #![warn(missing_docs)], so every public item is documented"]
        );
    }

    #[test]
    fn a_second_tool_list_fails() {
        let reqs = setup::parse(
            "program jq apt:jq\nprogram xxd apt:xxd\npython yaml pip:PyYAML==6.0.3\n\
             node x/y.json npm:openshift-rest-client@9.1.1\n",
        )
        .unwrap();
        // Built at run time, so this file does not hold the violations it tests.
        let apt = ["sudo apt", "-get install -y jq curl"].concat();
        let pip = ["python3 -m pi", "p install PyYAML==6.0.3"].concat();
        let npm = ["npm inst", "all -g openshift-rest-client@9.1.1"].concat();
        let table = ["const TOOLS: &[(&str, &str)] = &[(\"xxd\", ", "\"xxd\")];"].concat();
        let other = ["apt-get inst", "all curl"].concat();
        let text = format!("# fine: jq and xxd are tools\n{other}\n{apt}\n{pip}\n{npm}\n{table}\n");
        assert_eq!(
            tool_list_violations("f.sh", &text, &reqs),
            [
                format!("f.sh:3: restates {REQUIREMENTS} (jq, from apt-get); read the list instead"),
                format!("f.sh:4: restates {REQUIREMENTS} (PyYAML, from pip); read the list instead"),
                format!(
                    "f.sh:5: restates {REQUIREMENTS} (openshift-rest-client, from npm); read the list instead"
                ),
                format!("f.sh:6: restates {REQUIREMENTS} (xxd and its package xxd); read the list instead"),
            ]
        );
    }
}
