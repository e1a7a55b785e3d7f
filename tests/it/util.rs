//! Shared helpers: running the binary, temporary directories, external tools
//! and the services some tests start (always on 127.0.0.1, ephemeral ports,
//! capped waits, killed on drop).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The programs the walkthrough's shell steps run.
pub const WALKTHROUGH_TOOLS: &[&str] = &["bash", "gzip", "base64", "sha256sum", "xxd", "jq", "openssl"];

/// The expiration the tests give rvkit where the walkthrough writes its fixed
/// 2027-12-12T00:00:00Z: the same day in the year 9027. Every writer of
/// reference values refuses an expiration that has passed, so a date the
/// calendar reaches would make the suite fail from that day on; for the same
/// reason every other future expiration in these tests is in the 9000s (its
/// last two digits those of the 20xx year it stands for), and a test that
/// means a past one uses the 2020s.
pub const EXPIRATION: &str = "9027-12-12T00:00:00Z";

/// Fails in CI (and under `cargo xtask test`), and otherwise prints a skip
/// line, for a test that misses what `installs` install.
fn missing(test: &str, what: &[&str], installs: &[&str]) {
    let msg = format!(
        "{test}: needs {} ({}; `cargo xtask test` installs what is missing)",
        what.join(", "),
        installs.join(" ")
    );
    if services_required() {
        panic!("{msg}");
    }
    eprintln!("skipped: {msg}");
}

/// The `rvkit` binary under test.
pub fn rvkit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rvkit"))
}

/// Runs `rvkit` with `args` in `dir`.
pub fn rvkit_in(dir: &Path, args: &[&str]) -> Output {
    rvkit().args(args).current_dir(dir).output().expect("rvkit runs")
}

/// Asserts success and returns stdout as text.
#[track_caller]
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "expected success, got {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

/// Asserts exit code `code`, empty stdout, and returns stderr as text.
#[track_caller]
pub fn fails(out: Output, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "stderr:\n{stderr}\nstdout:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        out.stdout.is_empty(),
        "a failing command printed a result:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr.starts_with("error: ") || stderr.contains("\nerror: ") || stderr.contains("error:"),
        "{stderr}"
    );
    stderr
}

/// A fresh temporary directory, removed on drop.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

pub use rvkit_test_support::{install_of, services_required};

/// Whether this is a CI run (`CI=true`), where data kept outside the
/// repository (`RVKIT_SEED`, `RVKIT_SCHEMAS`) must be there too.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Checks that the programs a test needs are installed. When one is missing,
/// fails in CI and otherwise prints a clear skip line and returns false.
#[must_use]
pub fn have_tools(test: &str, programs: &[&str]) -> bool {
    let missing: Vec<&str> = programs.iter().copied().filter(|p| which(p).is_none()).collect();
    if missing.is_empty() {
        return true;
    }
    let installs: Vec<&str> = missing.iter().map(|p| install_of("program", p)).collect();
    self::missing(test, &missing, &installs);
    false
}

/// The files a test needs, each a path from the one list whose last
/// component may hold one `*`; `None` (see [`have_tools`]) when one is missing.
pub fn have_files<const N: usize>(test: &str, names: [&str; N]) -> Option<[PathBuf; N]> {
    let found = names.map(|name| {
        let path = Path::new(name);
        let pattern = path.file_name()?.to_str()?;
        let Some((head, tail)) = pattern.split_once('*') else { return path.is_file().then(|| path.into()) };
        let mut matches: Vec<PathBuf> = std::fs::read_dir(path.parent()?)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                let n = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                n.len() >= head.len() + tail.len() && n.starts_with(head) && n.ends_with(tail) && p.is_file()
            })
            .collect();
        matches.sort();
        matches.pop()
    });
    let absent: Vec<&str> = names.iter().zip(&found).filter(|(_, f)| f.is_none()).map(|(n, _)| *n).collect();
    if absent.is_empty() {
        return Some(found.map(|f| f.expect("checked")));
    }
    let installs: Vec<&str> = absent.iter().map(|n| install_of("file", n)).collect();
    missing(test, &absent, &installs);
    None
}

/// Where `cargo xtask test` installs what the suite needs that is not a
/// system package: tpm2_eventlog 5.7, the Python and npm packages.
pub fn test_tools_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("the target directory").join("test-tools")
}

/// `python3`, seeing the packages `cargo xtask test` installs into the tool
/// directory as well as the system's.
pub fn python3() -> Command {
    let tools = test_tools_dir();
    let mut paths = vec![tools.join("python")];
    paths.extend(std::env::var_os("PYTHONPATH").iter().flat_map(std::env::split_paths));
    let mut c = Command::new("python3");
    c.env("PYTHONPATH", std::env::join_paths(paths).expect("a path list"));
    let node_modules = tools.join("node/node_modules");
    if node_modules.is_dir() {
        c.env("RVKIT_NODE_MODULES", node_modules);
    }
    c
}

/// The full path of `program` on PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths).map(|d| d.join(program)).find(|p| p.is_file())
}

/// Runs a shell script with bash (`set -euo pipefail`) in `dir`; returns stdout bytes.
#[track_caller]
pub fn bash(dir: &Path, script: &str) -> Vec<u8> {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\n{script}"))
        .current_dir(dir)
        .output()
        .expect("bash runs");
    assert!(out.status.success(), "bash failed: {}\nscript:\n{script}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// A certificate for `host` made by openssl (an independent implementation),
/// as the walkthrough's `openssl req -x509` step makes it. Returns the PEM path.
pub fn openssl_cert(dir: &Path, host: &str, org: &str, days: u32) -> PathBuf {
    let cert = dir.join(format!("{host}.crt"));
    let key = dir.join(format!("{host}.key"));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-nodes", "-days", &days.to_string(), "-newkey", "rsa:2048", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-subj", &format!("/CN=kbs-trustee-operator-system/O={org}")])
        .args(["-addext", &format!("subjectAltName=DNS:{host}")])
        .output()
        .expect("openssl runs");
    assert!(out.status.success(), "openssl req failed: {}", String::from_utf8_lossy(&out.stderr));
    cert
}

/// A port on 127.0.0.1 that was free a moment ago, with `port + 1` free too.
pub fn free_port_pair() -> u16 {
    for _ in 0..50 {
        let a = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = a.local_addr().expect("local addr").port();
        if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
    panic!("no free pair of loopback ports");
}

/// A software TPM (swtpm) with a fresh state, on loopback; killed on drop.
pub struct Swtpm {
    child: Child,
    port: u16,
    _state: tempfile::TempDir,
}

impl Swtpm {
    /// Starts swtpm and waits (at most 10 s) until it answers a PCR read.
    pub fn start() -> Swtpm {
        for _attempt in 0..5 {
            let state = tempdir();
            let port = free_port_pair();
            let child = Command::new("swtpm")
                .arg("socket")
                .arg("--tpmstate")
                .arg(format!("dir={}", state.path().display()))
                .arg("--tpm2")
                .args(["--server", &format!("type=tcp,port={port},bindaddr=127.0.0.1")])
                .args(["--ctrl", &format!("type=tcp,port={},bindaddr=127.0.0.1", port + 1)])
                .args(["--flags", "not-need-init,startup-clear"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("swtpm starts");
            let mut tpm = Swtpm { child, port, _state: state };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = tpm.child.try_wait() {
                    break; // port taken meanwhile: try another
                }
                if tpm.tool("tpm2_pcrread").arg("sha256:0").output().is_ok_and(|o| o.status.success()) {
                    return tpm;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("swtpm did not come up on loopback");
    }

    /// A tpm2-tools command pointed at this TPM.
    pub fn tool(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("TPM2TOOLS_TCTI", format!("swtpm:host=127.0.0.1,port={}", self.port));
        c
    }

    /// Extends `pcr` in the SHA-256 bank with `digest_hex`.
    pub fn extend_sha256(&self, pcr: u8, digest_hex: &str) {
        let out =
            self.tool("tpm2_pcrextend").arg(format!("{pcr}:sha256={digest_hex}")).output().expect("runs");
        assert!(out.status.success(), "tpm2_pcrextend: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Reads `pcr` from the SHA-256 bank as lowercase hex.
    pub fn read_sha256(&self, pcr: u8) -> String {
        let out = self.tool("tpm2_pcrread").arg(format!("sha256:{pcr}")).output().expect("runs");
        assert!(out.status.success(), "tpm2_pcrread: {}", String::from_utf8_lossy(&out.stderr));
        // "  sha256:\n    8 : 0xABCD..." or "   16: 0xABCD..." (uppercase hex)
        let text = String::from_utf8(out.stdout).expect("UTF-8");
        let value = text
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(index, _)| index.trim() == pcr.to_string())
            .and_then(|(_, value)| value.trim().strip_prefix("0x").map(str::to_owned))
            .unwrap_or_else(|| panic!("unexpected tpm2_pcrread output:\n{text}"));
        value.to_ascii_lowercase()
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Boots OVMF (`code`, with a fresh copy of `vars`) under QEMU with software
/// emulation and a fresh swtpm holding `banks` ("sha256,sha384"), passing
/// `boot` (the kernel or disk arguments); returns the serial console's text
/// once the guest powers off (at most 300 s).
pub fn ovmf_boot_console(dir: &Path, code: &Path, vars: &Path, banks: &str, boot: &[String]) -> String {
    let state = dir.join("tpm");
    std::fs::create_dir_all(&state).unwrap();
    let setup = Command::new("swtpm_setup")
        .args(["--tpm2", "--pcr-banks", banks, "--tpmstate"])
        .arg(&state)
        .output()
        .unwrap();
    assert!(setup.status.success(), "swtpm_setup: {}", String::from_utf8_lossy(&setup.stderr));
    let sock = state.join("ctrl.sock");
    let mut swtpm = Command::new("swtpm")
        .args(["socket", "--tpm2", "--tpmstate"])
        .arg(format!("dir={}", state.display()))
        .arg("--ctrl")
        .arg(format!("type=unixio,path={}", sock.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sock.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::copy(vars, dir.join("vars.fd")).unwrap();
    let console = std::fs::File::create(dir.join("console.txt")).unwrap();
    let mut qemu = Command::new("qemu-system-x86_64")
        .args(["-machine", "q35,accel=tcg", "-cpu", "max", "-m", "512", "-nographic", "-no-reboot"])
        .arg("-drive")
        .arg(format!("if=pflash,format=raw,readonly=on,file={}", code.display()))
        .arg("-drive")
        .arg(format!("if=pflash,format=raw,file={}", dir.join("vars.fd").display()))
        .arg("-chardev")
        .arg(format!("socket,id=chrtpm,path={}", sock.display()))
        .args(["-tpmdev", "emulator,id=tpm0,chardev=chrtpm", "-device", "tpm-tis,tpmdev=tpm0"])
        .args(boot)
        .stdin(Stdio::null())
        .stdout(console)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Software emulation boots in 15-40 s on two cores; cap it.
    let deadline = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(status) = qemu.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = qemu.kill();
            let _ = qemu.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = swtpm.kill();
    let _ = swtpm.wait();
    let console = String::from_utf8_lossy(&std::fs::read(dir.join("console.txt")).unwrap()).replace('\r', "");
    assert!(status.is_some() && console.contains("DONE"), "the guest did not finish:\n{console}");
    console
}
