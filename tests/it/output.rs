//! How outputs are written: atomically for files (and through links to
//! files), in place for devices, FIFOs, sockets and standard streams,
//! refused for what is not a file; whole or not at all under full disks,
//! file-size limits and signals; one writer at a time per bundle directory.
//!
//! Device nodes and FIFOs are made with `mknod`/`mkfifo` in a temporary
//! directory, and file systems that are full or read-only are small tmpfs
//! mounts inside a private mount namespace (`unshare -m`), so the machine's
//! own `/dev` and mounts are never touched. Those need root, which CI has.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead as _, BufReader, Read as _};
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _};
use std::os::unix::net::UnixListener;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::util::{bash, fails, ok, rvkit, rvkit_in, services_required, tempdir};
use rvkit_test_support::{Image, Registry, Sig, SignatureManifest, Signer, measurements};

/// Whether the test can make device nodes and mounts; fails in CI when not.
fn root(test: &str) -> bool {
    let uid = Command::new("id").arg("-u").output().expect("id runs").stdout;
    if uid == b"0\n" {
        return true;
    }
    let msg = format!("{test}: needs root (device nodes, tmpfs mounts)");
    if services_required() {
        panic!("{msg}");
    }
    eprintln!("skipped: {msg}");
    false
}

/// What `rvkit bundle --init` prints: the content every file test writes.
fn init_text() -> String {
    ok(rvkit().args(["bundle", "--init"]).output().unwrap())
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn device_nodes_are_written_in_place_and_never_replaced() {
    if !root("device_nodes_are_written_in_place_and_never_replaced") {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    // The kernel's null and full devices (1,3 and 1,7), and a block device
    // node with a major number no driver has (so nothing real is written).
    let major = free_block_major();
    bash(d, &format!("mknod null c 1 3 && mknod full c 1 7 && mknod blk b {major} 0"));
    let rdev = |n: &str| fs::symlink_metadata(d.join(n)).unwrap().rdev();
    let (null, full, blk) = (rdev("null"), rdev("full"), rdev("blk"));

    let out = rvkit_in(d, &["bundle", "--init", "-o", "null"]);
    assert_eq!(stderr(&out), "wrote null; edit it, then: rvkit bundle --config null -o DIR\n");
    ok(out);
    let out = rvkit_in(d, &["rvps", "emit", "--measurements", &demo_measurements(d), "-o", "null"]);
    ok(out);

    let err = fails(rvkit_in(d, &["bundle", "--init", "-o", "full"]), 2);
    assert_eq!(err, "error: cannot write full: No space left on device (os error 28)\n");

    let err = fails(rvkit_in(d, &["bundle", "--init", "-o", "blk"]), 2);
    assert_eq!(err, "error: cannot open blk: No such device or address (os error 6)\n");

    for (name, want) in [("null", null), ("full", full)] {
        let meta = fs::symlink_metadata(d.join(name)).unwrap();
        assert!(meta.file_type().is_char_device(), "{name} is no longer a device");
        assert_eq!(meta.rdev(), want, "{name}");
    }
    let meta = fs::symlink_metadata(d.join("blk")).unwrap();
    assert!(meta.file_type().is_block_device() && meta.rdev() == blk, "blk is no longer the device node");
    assert_eq!(names(d), ["blk", "full", "m.json", "null"], "nothing else was created");
}

/// A block major number no driver registered (from 240, the range Linux
/// reserves for local and experimental use, downwards).
fn free_block_major() -> u32 {
    let devices = fs::read_to_string("/proc/devices").unwrap();
    let (_, block) = devices.split_once("Block devices:").unwrap();
    let used: Vec<u32> = block.lines().filter_map(|l| l.split_whitespace().next()?.parse().ok()).collect();
    (200..=240).rev().find(|m| !used.contains(m)).expect("a free block major")
}

/// The demo measurements file, copied into `d`; returns its name.
fn demo_measurements(d: &Path) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    fs::copy(root.join("data/demo/measurements.json"), d.join("m.json")).unwrap();
    "m.json".to_owned()
}

#[test]
fn a_fifo_is_written_in_place() {
    let dir = tempdir();
    let d = dir.path();
    bash(d, "mkfifo pipe");
    // A bounded reader: if the FIFO were replaced it would never see a writer.
    let reader = Command::new("timeout")
        .args(["20", "cat", "pipe"])
        .current_dir(d)
        .stdout(Stdio::piped())
        .spawn()
        .expect("timeout and cat run");
    ok(rvkit_in(d, &["bundle", "--init", "-o", "pipe"]));
    let got = reader.wait_with_output().unwrap();
    assert!(got.status.success(), "the reader got no writer: {}", got.status);
    assert_eq!(String::from_utf8(got.stdout).unwrap(), init_text());
    assert!(fs::symlink_metadata(d.join("pipe")).unwrap().file_type().is_fifo());
    assert_eq!(names(d), ["pipe"]);
}

#[test]
fn a_socket_is_connected_to_and_written() {
    let dir = tempdir();
    let d = dir.path();
    let listener = UnixListener::bind(d.join("sock")).unwrap();
    listener.set_nonblocking(true).unwrap();
    let server = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match listener.accept() {
                Ok((mut s, _)) => {
                    s.set_nonblocking(false).unwrap();
                    let mut got = String::new();
                    s.read_to_string(&mut got).unwrap();
                    return Some(got);
                }
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => return None,
            }
        }
    });
    ok(rvkit_in(d, &["bundle", "--init", "-o", "sock"]));
    assert_eq!(
        server.join().unwrap().as_deref(),
        Some(init_text().as_str()),
        "nothing came through the socket"
    );
    assert!(fs::symlink_metadata(d.join("sock")).unwrap().file_type().is_socket());
}

/// `/dev/stdout` is the standard output itself: an append (`>>`) stays an
/// append. Run in a private mount namespace whose `/dev` is a fresh tmpfs,
/// so the machine's own `/dev/stdout` is never at risk; a link to
/// `/proc/self/fd/1` in the test directory checks the same through a
/// link to a pipe.
#[test]
fn standard_output_by_name_is_written_in_place() {
    let dir = tempdir();
    let d = dir.path();
    let text = init_text();

    // Through a link to the process's stdout (a pipe here).
    std::os::unix::fs::symlink("/proc/self/fd/1", d.join("out")).unwrap();
    let out = rvkit_in(d, &["bundle", "--init", "-o", "out"]);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), text);
    assert!(fs::symlink_metadata(d.join("out")).unwrap().file_type().is_symlink());

    if !root("standard_output_by_name_is_written_in_place") {
        return;
    }
    let script = format!(
        "mount -t tmpfs tmpfs /dev && ln -s /proc/self/fd/1 /dev/stdout && echo first > appended \
         && {} bundle --init -o /dev/stdout >> appended 2>/dev/null && readlink /dev/stdout",
        env!("CARGO_BIN_EXE_rvkit")
    );
    let link = bash(d, &format!("unshare -m sh -c '{script}'"));
    assert_eq!(String::from_utf8(link).unwrap(), "/proc/self/fd/1\n", "/dev/stdout was replaced");
    assert_eq!(fs::read_to_string(d.join("appended")).unwrap(), format!("first\n{text}"));
}

#[test]
fn a_link_to_a_file_stays_a_link_and_its_target_is_replaced() {
    let dir = tempdir();
    let d = dir.path();
    fs::create_dir(d.join("real")).unwrap();
    fs::write(d.join("real/trustee.toml"), "old\n").unwrap();
    fs::set_permissions(d.join("real/trustee.toml"), fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink("real/trustee.toml", d.join("link.toml")).unwrap();

    ok(rvkit_in(d, &["bundle", "--init", "--force", "-o", "link.toml"]));
    assert_eq!(fs::read_link(d.join("link.toml")).unwrap(), Path::new("real/trustee.toml"));
    assert_eq!(fs::read_to_string(d.join("real/trustee.toml")).unwrap(), init_text());
    assert_eq!(fs::metadata(d.join("real/trustee.toml")).unwrap().mode() & 0o7777, 0o640);
    assert_eq!(names(d), ["link.toml", "real"]);
    assert_eq!(names(&d.join("real")), ["trustee.toml"], "temporary file left behind");
    // Without --force the file behind the link is not replaced either.
    let err = fails(rvkit_in(d, &["bundle", "--init", "-o", "link.toml"]), 2);
    assert_eq!(err, "error: link.toml exists; use --force to overwrite it\n");
}

#[test]
fn what_is_not_a_file_is_refused_and_nothing_is_created() {
    let dir = tempdir();
    let d = dir.path();
    fs::create_dir(d.join("dir")).unwrap();
    std::os::unix::fs::symlink("nowhere.toml", d.join("dangling")).unwrap();
    std::os::unix::fs::symlink("loop", d.join("loop")).unwrap();
    fs::write(d.join("file"), "x").unwrap();
    let before = names(d);
    for (out, want) in [
        ("dir", "error: cannot write dir: it is a directory\n"),
        (
            "dangling",
            "error: cannot write dangling: it is a symbolic link to nowhere.toml, which does not exist\n",
        ),
        ("loop", "error: cannot write loop: it is a symbolic link that loops\n"),
        ("missing/x.toml", "error: cannot write missing/x.toml: the directory missing does not exist\n"),
        ("file/x.toml", "error: cannot write file/x.toml: Not a directory (os error 20)\n"),
    ] {
        let err = fails(rvkit_in(d, &["bundle", "--init", "--force", "-o", out]), 2);
        assert_eq!(err, want, "-o {out}");
        assert_eq!(names(d), before, "-o {out} created something");
        assert_eq!(fs::read_link(d.join("dangling")).unwrap(), Path::new("nowhere.toml"));
    }
    assert!(names(&d.join("dir")).is_empty());
}

/// Runs `script` in a private mount namespace (its mounts vanish with it)
/// in `d`, with `$RVKIT` the binary; returns its stdout.
fn in_namespace(d: &Path, script: &str) -> String {
    let out = Command::new("unshare")
        .args(["-m", "bash", "-c"])
        .arg(format!("set -euo pipefail\n{script}"))
        .env("RVKIT", env!("CARGO_BIN_EXE_rvkit"))
        .current_dir(d)
        .output()
        .expect("unshare runs");
    assert!(out.status.success(), "{}\nscript:\n{script}", stderr(&out));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_read_only_directory_is_refused() {
    if !root("a_read_only_directory_is_refused") {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    fs::create_dir(d.join("ro")).unwrap();
    let got = in_namespace(
        d,
        "mount -t tmpfs -o ro,size=64k tmpfs ro\n\
         set +e; $RVKIT bundle --init -o ro/t.toml 2>&1; echo \"exit $?\"; set -e\n\
         ls -A ro",
    );
    assert_eq!(
        got,
        "error: cannot create a temporary file in ro for ro/t.toml: Read-only file system (os error 30)\nexit 2\n"
    );
}

#[test]
fn a_full_disk_leaves_the_previous_file_and_no_temporary_file() {
    if !root("a_full_disk_leaves_the_previous_file_and_no_temporary_file") {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    fs::create_dir(d.join("small")).unwrap();
    // 16 KiB of tmpfs is four pages: the old file takes one and the filler
    // the other three, so the first page of the new file does not fit.
    let got = in_namespace(
        d,
        "mount -t tmpfs -o size=16k tmpfs small\n\
         echo old > small/t.toml && head -c 12288 /dev/zero > small/filler\n\
         set +e; $RVKIT bundle --init --force -o small/t.toml 2>&1; echo \"exit $?\"; set -e\n\
         cat small/t.toml; ls -A small",
    );
    assert_eq!(
        got,
        "error: cannot write small/t.toml: No space left on device (os error 28)\nexit 2\nold\nfiller\nt.toml\n"
    );
}

#[test]
fn a_file_size_limit_leaves_the_previous_file_and_no_temporary_file() {
    let dir = tempdir();
    let d = dir.path();
    fs::write(d.join("t.toml"), "old\n").unwrap();
    // Over RLIMIT_FSIZE the kernel sends SIGXFSZ, which kills a process that
    // does not catch it, and leaves its temporary file behind.
    let out = Command::new("prlimit")
        .args(["--fsize=1000", env!("CARGO_BIN_EXE_rvkit"), "bundle", "--init", "--force", "-o", "t.toml"])
        .current_dir(d)
        .output()
        .expect("prlimit runs");
    let err = fails(out, 2);
    assert_eq!(err, "error: cannot write t.toml: File too large (os error 27)\n");
    assert_eq!(fs::read_to_string(d.join("t.toml")).unwrap(), "old\n");
    assert_eq!(names(d), ["t.toml"]);
}

/// The arguments of a bundle that needs no service; `namespace` varies
/// its content.
fn bundle_args<'a>(namespace: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "bundle",
        "--domain",
        "apps.example.com",
        "--default-policy",
        "insecureAcceptAnything",
        "--measurements",
        "m.json",
        "--namespace",
        namespace,
        "-o",
        out,
    ]
}

/// Every file of a directory and its content.
fn contents(dir: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    names(dir)
        .into_iter()
        .map(|n| {
            let p = dir.join(&n);
            (n, (fs::metadata(&p).unwrap().mode(), fs::read(&p).unwrap()))
        })
        .collect()
}

/// Starts a bundle run slowed by the test-only delay; returns it and a
/// reader of its stderr.
fn slowed_bundle(d: &Path, args: &[&str], delay_ms: u32) -> (Child, BufReader<std::process::ChildStderr>) {
    let mut child = rvkit()
        .args(args)
        .current_dir(d)
        .env("RVKIT_TEST_WRITE_DELAY_MS", delay_ms.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = BufReader::new(child.stderr.take().unwrap());
    (child, err)
}

/// Reads `err` until a line starting with `prefix`; returns what was read.
fn wait_for_line(err: &mut BufReader<std::process::ChildStderr>, prefix: &str) -> String {
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = err.read_line(&mut line).unwrap();
        assert!(n > 0, "the run ended before {prefix:?}:\n{seen}");
        seen.push_str(&line);
        if line.starts_with(prefix) {
            return seen;
        }
    }
}

/// Names in the bundle's parent that only a write in progress should have.
fn leftovers(d: &Path) -> Vec<String> {
    names(d).into_iter().filter(|n| n.starts_with(".rvkit") || n.ends_with(".rvkit-lock")).collect()
}

#[test]
fn a_signal_mid_bundle_leaves_the_directory_as_it_was() {
    let dir = tempdir();
    let d = dir.path();
    demo_measurements(d);
    ok(rvkit_in(d, &bundle_args("first", "b")));
    let before = contents(&d.join("b"));
    // Stopped while staging, then while moving files into place (the
    // second namespace changes every file's content).
    for (signal, phase) in [(2, "test delay: staging"), (15, "test delay: moving")] {
        let (mut child, mut err) = slowed_bundle(d, &bundle_args("second", "b"), 100);
        wait_for_line(&mut err, phase);
        // Let it get a few files further.
        wait_for_line(&mut err, phase);
        wait_for_line(&mut err, phase);
        let kill =
            Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status().unwrap();
        assert!(kill.success());
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(signal), "{status}");
        assert_eq!(contents(&d.join("b")), before, "signal {signal} during {phase:?} changed the bundle");
        assert_eq!(leftovers(d), Vec::<String>::new(), "signal {signal} during {phase:?}");
    }
    // Undisturbed, the same run completes.
    ok(rvkit_in(d, &bundle_args("second", "b")));
    assert_ne!(contents(&d.join("b")), before);
    ok(rvkit_in(d, &["bundle", "check", "b"]));
}

#[test]
fn a_full_disk_mid_bundle_leaves_the_directory_as_it_was() {
    if !root("a_full_disk_mid_bundle_leaves_the_directory_as_it_was") {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    demo_measurements(d);
    fs::create_dir(d.join("small")).unwrap();
    // The first bundle fits; the filler then leaves room for only part of
    // the second, whose staging fails part way.
    let got = in_namespace(
        d,
        "mount -t tmpfs -o size=96k tmpfs small\n\
         $RVKIT bundle --domain apps.example.com --default-policy insecureAcceptAnything --measurements m.json -o small/b 2>/dev/null\n\
         (cd small/b && sha256sum * .rvkit-bundle) > before\n\
         head -c 40960 /dev/zero > small/filler\n\
         set +e; $RVKIT bundle --domain apps.example.com --default-policy insecureAcceptAnything --measurements m.json \
           --namespace other -o small/b 2>&1; echo \"exit $?\"; set -e\n\
         (cd small/b && sha256sum * .rvkit-bundle) | cmp - before && echo unchanged\n\
         ls -A small",
    );
    let (first, rest) = got.split_once('\n').unwrap();
    assert!(
        first.starts_with("error: cannot write small/b/")
            && first.ends_with(": No space left on device (os error 28)"),
        "{got}"
    );
    assert_eq!(rest, "exit 2\nunchanged\nb\nfiller\n");
}

#[test]
fn concurrent_bundles_into_one_directory_take_turns() {
    let dir = tempdir();
    let d = dir.path();
    demo_measurements(d);
    let lock = fs::canonicalize(d).unwrap().join(".b.rvkit-lock");

    // A second run that may not wait says who holds the directory.
    let (mut first, mut err) = slowed_bundle(d, &bundle_args("first", "b"), 100);
    wait_for_line(&mut err, "test delay: staging");
    let pid = first.id();
    let out =
        rvkit().args(bundle_args("second", "b")).current_dir(d).env("RVKIT_LOCK_WAIT", "0").output().unwrap();
    let err2 = fails(out, 2);
    assert_eq!(
        err2,
        format!("error: b is being written by process {pid} (lock {}); gave up after 0 s\n", lock.display())
    );
    // One that may wait does, then writes its own bundle whole.
    let second =
        rvkit().args(bundle_args("second", "b")).current_dir(d).stderr(Stdio::piped()).spawn().unwrap();
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    assert!(first.wait().unwrap().success(), "{rest}");
    let out = second.wait_with_output().unwrap();
    let err2 = stderr(&out);
    assert!(out.status.success(), "{err2}");
    assert!(err2.starts_with(&format!("waiting for process {pid}, which is writing b\n")), "{err2}");
    ok(rvkit_in(d, &["bundle", "check", "b"]));
    ok(rvkit_in(d, &bundle_args("second", "c")));
    assert_eq!(contents(&d.join("b")), contents(&d.join("c")), "the bundle is the second run's, whole");
    assert_eq!(leftovers(d), Vec::<String>::new());
}

#[test]
fn concurrent_podvm_fetches_to_one_file_leave_one_complete_file() {
    let Some(reg) = Registry::start() else { return };
    let dir = tempdir();
    let d = dir.path();
    let signer = Signer::new("prime256v1");
    fs::write(d.join("cosign.pub"), &signer.public_pem).unwrap();
    let repo = "podvm/concurrent";
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let digest = reg.push_image(repo, "v1", &Image::podvm(repo)).await;
        let sig = Sig::make(&signer, None, &format!("{}/{repo}", reg.addr), &digest);
        reg.push_signatures(repo, &digest, &SignatureManifest::new(&[sig])).await;
    });
    let image = format!("docker://{}/{repo}:v1", reg.addr);
    let args = [
        "podvm",
        "fetch",
        &image,
        "--key",
        "cosign.pub",
        "--insecure-ignore-tlog",
        "--insecure-registry",
        &reg.addr,
        "-o",
        "m.json",
    ];
    let runs: Vec<Child> = (0..4)
        .map(|_| {
            rvkit().args(args).current_dir(d).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
        })
        .collect();
    for run in runs {
        let out = run.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert_eq!(fs::read(d.join("m.json")).unwrap(), measurements(repo));
    assert_eq!(names(d), ["cosign.pub", "m.json"]);
}
