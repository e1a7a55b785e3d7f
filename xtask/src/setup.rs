//! The test suite's set-up: what it needs beyond Rust and a C toolchain, read
//! from the one list (`tests/data/requirements.txt`, which the tests read
//! too), checked, and installed in one go when missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util::{on_path, root, run, target_dir};

/// The one list of what the suite needs.
pub const LIST: &str = include_str!("../../tests/data/requirements.txt");

/// What kind of thing a line of the list names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A program run from PATH.
    Program,
    /// A file; a `*` in its last component matches any text.
    File,
    /// An importable Python module.
    Python,
    /// A file under an npm `node_modules` directory.
    Node,
    /// A file under the suite's tool directory.
    Tool,
}

/// How a missing requirement is installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Install {
    /// A Debian package.
    Apt(String),
    /// A pip requirement, with its dependencies.
    Pip(String),
    /// A pip requirement, without its dependencies.
    PipNoDeps(String),
    /// An npm package.
    Npm(String),
    /// A set-up script of this repository, run with bash.
    Script(String),
}

/// One line of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// What kind of thing `name` is.
    pub kind: Kind,
    /// The program, file, module or tool.
    pub name: String,
    /// How it is installed.
    pub install: Install,
}

impl std::fmt::Display for Requirement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            Kind::Program => "program",
            Kind::File => "file",
            Kind::Python => "Python module",
            Kind::Node => "npm file",
            Kind::Tool => "tool",
        };
        let install = match &self.install {
            Install::Apt(p) => format!("apt-get install {p}"),
            Install::Pip(s) => format!("pip install {s}"),
            Install::PipNoDeps(s) => format!("pip install --no-deps {s}"),
            Install::Npm(s) => format!("npm install {s}"),
            Install::Script(s) => format!("bash {s}"),
        };
        write!(f, "{kind} {} (from: {install})", self.name)
    }
}

/// Parses the list: `KIND NAME INSTALL` a line, `#` comments.
pub fn parse(list: &str) -> Result<Vec<Requirement>> {
    let mut out = Vec::new();
    for (i, line) in list.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split_whitespace().collect();
        let [kind, name, install] = cols[..] else {
            bail!("requirements line {}: expected KIND NAME INSTALL, got {line:?}", i + 1);
        };
        let kind = match kind {
            "program" => Kind::Program,
            "file" => Kind::File,
            "python" => Kind::Python,
            "node" => Kind::Node,
            "tool" => Kind::Tool,
            other => bail!("requirements line {}: unknown kind {other:?}", i + 1),
        };
        let install = match install.split_once(':') {
            Some(("apt", p)) => Install::Apt(p.into()),
            Some(("pip", s)) => Install::Pip(s.into()),
            Some(("pip-no-deps", s)) => Install::PipNoDeps(s.into()),
            Some(("npm", s)) => Install::Npm(s.into()),
            Some(("script", s)) => Install::Script(s.into()),
            _ => bail!("requirements line {}: unknown install {install:?}", i + 1),
        };
        out.push(Requirement { kind, name: name.into(), install });
    }
    Ok(out)
}

/// Where the suite's own tools go: pip and npm packages, tpm2_eventlog 5.7.
/// The tests find them at the same place (tests/it/util.rs).
pub fn tools_dir() -> PathBuf {
    target_dir().join("test-tools")
}

/// Where pip installs the suite's Python packages.
pub fn python_dir() -> PathBuf {
    tools_dir().join("python")
}

/// PYTHONPATH with the suite's own packages first, then the caller's.
pub fn python_path() -> Result<std::ffi::OsString> {
    let mut dirs = vec![python_dir()];
    dirs.extend(std::env::var_os("PYTHONPATH").iter().flat_map(std::env::split_paths));
    Ok(std::env::join_paths(dirs)?)
}

/// `python3` that imports the suite's packages as well as the system's.
pub fn python3() -> Result<Command> {
    let mut c = Command::new("python3");
    c.env("PYTHONPATH", python_path()?);
    Ok(c)
}

fn node_dir() -> PathBuf {
    tools_dir().join("node")
}

/// Whether a file matching `pattern` (a `*` allowed in the last component)
/// exists.
fn file_exists(pattern: &Path) -> bool {
    let Some(name) = pattern.file_name().and_then(|n| n.to_str()) else { return false };
    let Some((head, tail)) = name.split_once('*') else { return pattern.is_file() };
    let Some(Ok(entries)) = pattern.parent().map(std::fs::read_dir) else { return false };
    entries.filter_map(Result::ok).any(|e| {
        let n = e.file_name().to_string_lossy().into_owned();
        n.len() >= head.len() + tail.len() && n.starts_with(head) && n.ends_with(tail) && e.path().is_file()
    })
}

/// The Python modules among `modules` that python3 cannot import, with the
/// suite's own package directory on its path.
fn missing_modules<'a>(modules: &[&'a str]) -> Vec<&'a str> {
    if modules.is_empty() {
        return Vec::new();
    }
    if !on_path("python3") {
        return modules.to_vec();
    }
    let Ok(mut python) = python3() else { return modules.to_vec() };
    let out = python
        .args([
            "-c",
            "import importlib.util, sys\n\
             for m in sys.argv[1:]:\n    \
               if importlib.util.find_spec(m) is None: print(m)",
        ])
        .args(modules)
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            modules.iter().copied().filter(|m| text.lines().any(|l| l == *m)).collect()
        }
        _ => modules.to_vec(),
    }
}

/// Whether the npm file `name` is installed, in the suite's own directory or
/// globally.
fn node_file_exists(name: &str) -> bool {
    if node_dir().join("node_modules").join(name).is_file() {
        return true;
    }
    on_path("npm")
        && Command::new("npm").args(["root", "-g"]).output().is_ok_and(|o| {
            o.status.success() && Path::new(String::from_utf8_lossy(&o.stdout).trim()).join(name).is_file()
        })
}

/// The requirements that are not met.
pub fn missing(reqs: &[Requirement]) -> Vec<Requirement> {
    let modules: Vec<&str> =
        reqs.iter().filter(|r| r.kind == Kind::Python).map(|r| r.name.as_str()).collect();
    let absent_modules = missing_modules(&modules);
    reqs.iter()
        .filter(|r| match r.kind {
            Kind::Program => !on_path(&r.name),
            Kind::File => !file_exists(Path::new(&r.name)),
            Kind::Python => absent_modules.contains(&r.name.as_str()),
            Kind::Node => !node_file_exists(&r.name),
            Kind::Tool => !tools_dir().join(&r.name).is_file(),
        })
        .cloned()
        .collect()
}

/// Checks everything on the list and installs what is missing: Debian
/// packages first (`apt-get update`, then one `apt-get install`, and a second for what it removed, as root or
/// through sudo), then pip and npm packages into the suite's tool directory,
/// then the repository's set-up scripts. With `install` false, lists what is
/// missing and fails.
pub fn ensure(install: bool) -> Result<()> {
    let reqs = parse(LIST)?;
    let missing = missing(&reqs);
    if missing.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = missing.iter().map(|r| format!("  {r}")).collect();
    if !install {
        bail!("the test suite needs {} more:\n{}", missing.len(), list.join("\n"));
    }
    println!("xtask: the test suite needs {} more:\n{}", missing.len(), list.join("\n"));

    let pick = |f: fn(&Install) -> Option<&String>| -> Vec<String> {
        let mut v: Vec<String> = missing.iter().filter_map(|r| f(&r.install)).cloned().collect();
        v.sort();
        v.dedup();
        v
    };
    let apt = pick(|i| if let Install::Apt(p) = i { Some(p) } else { None });
    let pip = pick(|i| if let Install::Pip(s) = i { Some(s) } else { None });
    let pip_no_deps = pick(|i| if let Install::PipNoDeps(s) = i { Some(s) } else { None });
    let npm = pick(|i| if let Install::Npm(s) = i { Some(s) } else { None });
    let scripts: Vec<(&String, &Requirement)> = missing
        .iter()
        .filter_map(|r| if let Install::Script(s) = &r.install { Some((s, r)) } else { None })
        .collect();

    if !apt.is_empty() {
        let mut update = as_root("apt-get", &apt)?;
        update.args(["update", "-q"]);
        shown(&mut update)?;
        apt_install(&apt)?;
        // Resolving the install can remove a package the list needs that
        // was installed before at a version the new ones conflict with (a
        // backported qemu-utils beside the release's qemu-system-x86): a
        // second install brings it back at the version that fits.
        let mut removed: Vec<String> = self::missing(&reqs)
            .iter()
            .filter_map(|r| if let Install::Apt(p) = &r.install { Some(p.clone()) } else { None })
            .collect();
        removed.sort();
        removed.dedup();
        if !removed.is_empty() {
            apt_install(&removed)?;
        }
    }
    for (specs, extra) in [(&pip, None), (&pip_no_deps, Some("--no-deps"))] {
        if specs.is_empty() {
            continue;
        }
        // Into the suite's own directory: no root, and no conflict with a
        // system Python that is marked externally managed.
        let mut c = Command::new("python3");
        c.args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target"])
            .arg(python_dir());
        c.args(extra).args(specs);
        shown(&mut c)?;
    }
    if !npm.is_empty() {
        let mut c = Command::new("npm");
        c.args(["install", "--no-audit", "--no-fund", "--prefix"]).arg(node_dir()).args(&npm);
        shown(&mut c)?;
    }
    for (script, req) in scripts {
        let dest = tools_dir().join(Path::new(&req.name).parent().unwrap_or(Path::new("")));
        let mut c = Command::new("bash");
        c.arg(root().join(script)).arg(dest);
        shown(&mut c)?;
    }

    let still = self::missing(&reqs);
    if !still.is_empty() {
        let list: Vec<String> = still.iter().map(|r| format!("  {r}")).collect();
        bail!("still missing after the installation:\n{}", list.join("\n"));
    }
    Ok(())
}

/// One `apt-get install` of `packages`, without recommended packages.
fn apt_install(packages: &[String]) -> Result<()> {
    let mut inst = as_root("apt-get", packages)?;
    inst.env("DEBIAN_FRONTEND", "noninteractive").args(["install", "-y", "-q", "--no-install-recommends"]);
    inst.args(packages);
    shown(&mut inst)
}

/// `program` run as root: directly when we are root, through sudo otherwise.
fn as_root(program: &str, packages: &[String]) -> Result<Command> {
    let uid = Command::new("id").arg("-u").output().context("cannot run id -u")?;
    if String::from_utf8_lossy(&uid.stdout).trim() == "0" {
        return Ok(Command::new(program));
    }
    if !on_path("sudo") {
        bail!(
            "installing the Debian packages {} needs root, and sudo is not installed: run `cargo xtask test` as root \
             or install them",
            packages.join(" ")
        );
    }
    let mut c = Command::new("sudo");
    c.arg(program);
    Ok(c)
}

/// Prints a command, then runs it.
fn shown(cmd: &mut Command) -> Result<()> {
    let words: Vec<String> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|w| w.to_string_lossy().into_owned())
        .collect();
    println!("xtask: {}", words.join(" "));
    run(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_parses_and_names_each_thing_once() {
        let reqs = parse(LIST).unwrap();
        assert!(reqs.len() > 20);
        let mut names: Vec<(String, &str)> =
            reqs.iter().map(|r| (format!("{:?}", r.kind), r.name.as_str())).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a requirement is listed twice");
        for script in
            reqs.iter().filter_map(|r| if let Install::Script(s) = &r.install { Some(s) } else { None })
        {
            assert!(root().join(script).is_file(), "{script} does not exist");
        }
    }

    #[test]
    fn bad_lines_name_their_line() {
        let err = parse("program bash apt:bash\nprogram jq\n").unwrap_err();
        assert_eq!(err.to_string(), "requirements line 2: expected KIND NAME INSTALL, got \"program jq\"");
        let err = parse("binary bash apt:bash\n").unwrap_err();
        assert_eq!(err.to_string(), "requirements line 1: unknown kind \"binary\"");
        let err = parse("program bash brew:bash\n").unwrap_err();
        assert_eq!(err.to_string(), "requirements line 1: unknown install \"brew:bash\"");
    }

    #[test]
    fn missing_checks_each_kind() {
        let reqs = parse(
            "program sh apt:dash\nprogram rvkit-no-such-program apt:x\nfile /bin/s* apt:x\n\
             file /no/such/dir/x* apt:x\ntool no-such-tool/x script:tests/setup/tpm2-tools-5.7.sh\n",
        )
        .unwrap();
        let names: Vec<String> = missing(&reqs).into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["rvkit-no-such-program", "/no/such/dir/x*", "no-such-tool/x"]);
    }
}
