//! Where results go: the one place that decides how an output path is
//! written, for every command that writes.
//!
//! - A regular file or a new path is replaced atomically: the bytes go to a
//!   temporary file in the same directory, which is flushed to disk
//!   (`fsync`) and then renamed over the target, so the target holds the old
//!   or the new content, never a mix and never an empty file, even after a
//!   crash. The directory is not synced: after a power loss the rename may
//!   be undone, which leaves the old content, still whole.
//! - A symbolic link to a regular file: the file it points to is replaced
//!   that way, in its own directory; the link stays a link.
//! - A character or block device, a FIFO, a socket, `-` or `/dev/stdout`:
//!   written in place; such a path is never created, truncated or renamed
//!   over.
//! - Anything else (a directory, a dangling or looping link, a missing
//!   parent) is refused before anything is created.
//!
//! A bundle directory ([`write_dir`]) is written as a whole or not at all:
//! a failure or a SIGINT/SIGTERM/SIGHUP on the way puts back what was there.
//! [`DirLock`] keeps two runs from writing the same directory at once.

use std::collections::BTreeSet;
use std::fs;
use std::io::{ErrorKind, Read as _, Write};
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};

/// What an output path names, and so how it is written.
#[derive(Debug, PartialEq)]
enum Target {
    /// Standard output (`-`, `/dev/stdout`).
    Stdout,
    /// Standard error (`/dev/stderr`).
    Stderr,
    /// A device or FIFO, opened for writing and written where it is.
    InPlace,
    /// A Unix socket, connected to and written.
    Socket,
    /// A regular file (or a new one) at `file`, replaced atomically; for a
    /// symbolic link `file` is the file it points to.
    Atomic { file: PathBuf },
}

/// The names of the process's own standard streams, which are the streams
/// themselves rather than the files they happen to point at (a `>>` append
/// must stay an append).
const STDOUT_NAMES: [&str; 3] = ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"];
const STDERR_NAMES: [&str; 3] = ["/dev/stderr", "/dev/fd/2", "/proc/self/fd/2"];

/// Decides how `path` is written, refusing what cannot be written as a
/// file; creates nothing.
fn target(path: &Path) -> anyhow::Result<Target> {
    if path == Path::new("-") || STDOUT_NAMES.iter().any(|n| path == Path::new(n)) {
        return Ok(Target::Stdout);
    }
    if STDERR_NAMES.iter().any(|n| path == Path::new(n)) {
        return Ok(Target::Stderr);
    }
    let shown = path.display();
    let link = match fs::symlink_metadata(path) {
        Ok(meta) => meta.file_type().is_symlink(),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let parent = parent(path);
            return match fs::metadata(parent) {
                Ok(meta) if meta.is_dir() => Ok(Target::Atomic { file: path.to_owned() }),
                Ok(_) => Err(anyhow!("cannot write {shown}: {} is not a directory", parent.display())),
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    Err(anyhow!("cannot write {shown}: the directory {} does not exist", parent.display()))
                }
                Err(e) => Err(anyhow!("cannot write {shown}: {}: {e}", parent.display())),
            };
        }
        Err(e) => bail!("cannot write {shown}: {e}"),
    };
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            bail!("cannot write {shown}: it is a symbolic link that loops")
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let to = fs::read_link(path).map(|t| t.display().to_string()).unwrap_or_default();
            bail!("cannot write {shown}: it is a symbolic link to {to}, which does not exist")
        }
        Err(e) => bail!("cannot write {shown}: {e}"),
    };
    let kind = meta.file_type();
    if kind.is_dir() {
        bail!("cannot write {shown}: it is a directory");
    } else if kind.is_char_device() || kind.is_block_device() || kind.is_fifo() {
        Ok(Target::InPlace)
    } else if kind.is_socket() {
        Ok(Target::Socket)
    } else if link {
        let file = fs::canonicalize(path).with_context(|| format!("cannot resolve the link {shown}"))?;
        Ok(Target::Atomic { file })
    } else {
        Ok(Target::Atomic { file: path.to_owned() })
    }
}

/// The directory a new file at `path` goes into.
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Whether writing `path` would replace an existing file (rather than
/// create one, or write to a device, pipe or standard output).
pub fn replaces_a_file(path: &Path) -> bool {
    matches!(target(path), Ok(Target::Atomic { file }) if file.exists())
}

/// Writes `bytes` to `path` as the module documentation says.
pub fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let shown = path.display();
    match target(path)? {
        Target::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes).and_then(|()| out.flush()).context("cannot write to standard output")
        }
        Target::Stderr => {
            let mut err = std::io::stderr().lock();
            err.write_all(bytes).and_then(|()| err.flush()).context("cannot write to standard error")
        }
        Target::InPlace => {
            signals::install();
            // No create, no truncate: a device or FIFO is used as it is. A
            // terminal opened this way never becomes our controlling one.
            let mut f = fs::OpenOptions::new()
                .write(true)
                .custom_flags(rustix::fs::OFlags::NOCTTY.bits() as i32)
                .open(path)
                .with_context(|| format!("cannot open {shown}"))?;
            f.write_all(bytes).and_then(|()| f.flush()).with_context(|| format!("cannot write {shown}"))
        }
        Target::Socket => {
            signals::install();
            let mut s =
                UnixStream::connect(path).with_context(|| format!("cannot connect to the socket {shown}"))?;
            s.write_all(bytes).with_context(|| format!("cannot write to the socket {shown}"))
        }
        Target::Atomic { file } => write_atomic(path, &file, bytes),
    }
}

/// Replaces `file` (which `shown` names, perhaps through a link) by a file
/// holding `bytes`.
fn write_atomic(shown: &Path, file: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    signals::install();
    let old = fs::metadata(file).ok();
    let (tmp, mut f) = Fresh::file(parent(file)).map_err(|e| {
        anyhow!("cannot create a temporary file in {} for {}: {e}", parent(file).display(), shown.display())
    })?;
    // Removed by the signal handler if we are stopped before the rename.
    let _cleanup = signals::Cleanup::register(tmp.path());
    let failed = |e: std::io::Error| anyhow!("cannot write {}: {e}", shown.display());
    // Temporary files are created 0600; results are not secret, so the new
    // file gets the permissions (and, where allowed, the owner) the old one
    // had, or the usual 0644.
    let mode = old.as_ref().map_or(0o644, |m| m.mode() & 0o7777);
    f.set_permissions(fs::Permissions::from_mode(mode)).map_err(failed)?;
    if let Some(m) = &old {
        // Only root may give a file away; anyone else keeps their own.
        let _ = std::os::unix::fs::fchown(&f, Some(m.uid()), Some(m.gid()));
    }
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(failed)?;
    fs::rename(tmp.path(), file).map_err(failed)?;
    tmp.keep();
    Ok(())
}

/// A temporary file for a large intermediate input (a disk image taken out
/// of a podvm image), in the system's temporary directory (`TMPDIR`),
/// usable only by its owner. It is removed when dropped, and by
/// SIGINT/SIGTERM/SIGHUP before that.
pub struct Scratch {
    // Dropped in this order: the file goes, then its signal registration.
    fresh: Fresh,
    _cleanup: signals::Cleanup,
}

impl Scratch {
    /// Creates an empty scratch file, open for reading and writing.
    pub fn create(purpose: &str) -> anyhow::Result<(Scratch, fs::File)> {
        signals::install();
        let dir = std::env::temp_dir();
        let (fresh, file) = Fresh::create(&dir, |p| {
            fs::OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(p)
        })
        .with_context(|| format!("cannot create a temporary file in {} for {purpose}", dir.display()))?;
        let cleanup = signals::Cleanup::register(fresh.path());
        Ok((Scratch { fresh, _cleanup: cleanup }, file))
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        self.fresh.path()
    }
}

/// One file of a directory [`write_dir`] writes.
pub struct DirFile<'a> {
    /// The name inside the directory.
    pub name: &'a str,
    /// Its permission bits, whatever the umask.
    pub mode: u32,
    /// Its content.
    pub contents: &'a [u8],
}

/// The test-only environment variable that makes [`write_dir`] pause this
/// many milliseconds before each file and say so on stderr, so a test can
/// stop a run in the middle. Not for users.
const TEST_DELAY_VAR: &str = "RVKIT_TEST_WRITE_DELAY_MS";

/// Writes `files` into `dir` as one change: every file is first written
/// (and synced) into a staging directory beside `dir`, then moved into
/// place, the old version of each kept aside until all are in; the files
/// of `previous` that `files` lacks are removed. An error or a signal
/// before the end puts the old files back and removes the new ones, so
/// `dir` is either wholly the new bundle or as it was. (A power loss in
/// the middle of the moves is not covered.)
pub fn write_dir(dir: &Path, files: &[DirFile], previous: &BTreeSet<String>) -> anyhow::Result<()> {
    // Declared first so it is dropped last, after the staging directories.
    let critical = signals::Critical::enter();
    let delay = std::env::var(TEST_DELAY_VAR).ok().and_then(|v| v.parse().ok()).map(Duration::from_millis);
    let pause = |what: &str| {
        if let Some(d) = delay {
            eprintln!("test delay: {what}");
            std::thread::sleep(d);
        }
    };
    let exists = match fs::metadata(dir) {
        Ok(m) if m.is_dir() => true,
        Ok(_) => bail!("cannot write {}: it is not a directory", dir.display()),
        Err(e) if e.kind() == ErrorKind::NotFound => false,
        Err(e) => bail!("cannot write {}: {e}", dir.display()),
    };
    // Beside the directory's real location, so the moves stay on one file system.
    let real = if exists {
        fs::canonicalize(dir).with_context(|| format!("cannot resolve {}", dir.display()))?
    } else {
        dir.to_owned()
    };
    let staging = Fresh::dir(parent(&real))
        .map_err(|e| anyhow!("cannot create a staging directory beside {}: {e}", dir.display()))?;
    for f in files {
        critical.check()?;
        pause(&format!("staging {}", f.name));
        let path = staging.path().join(f.name);
        let failed = |e: std::io::Error| anyhow!("cannot write {}: {e}", dir.join(f.name).display());
        let mut file =
            fs::OpenOptions::new().write(true).create_new(true).mode(f.mode).open(&path).map_err(failed)?;
        // The mode given to open() is reduced by the umask; private keys must
        // be 0600 and the rest readable as usual, whatever the umask.
        file.set_permissions(fs::Permissions::from_mode(f.mode))
            .and_then(|()| file.write_all(f.contents))
            .and_then(|()| file.sync_all())
            .map_err(failed)?;
    }
    critical.check()?;
    if !exists {
        fs::set_permissions(staging.path(), fs::Permissions::from_mode(0o755))?;
        fs::rename(staging.path(), dir).map_err(|e| anyhow!("cannot create {}: {e}", dir.display()))?;
        staging.keep();
        return Ok(());
    }
    let backup = Fresh::dir(parent(&real))
        .map_err(|e| anyhow!("cannot create a directory beside {} for its old files: {e}", dir.display()))?;
    let mut done = Vec::new();
    let result = (|| -> anyhow::Result<()> {
        for f in files {
            critical.check()?;
            pause(&format!("moving {} into place", f.name));
            let (new, old, kept) =
                (staging.path().join(f.name), real.join(f.name), backup.path().join(f.name));
            let replaced = match fs::hard_link(&old, &kept) {
                Ok(()) => true,
                Err(e) if e.kind() == ErrorKind::NotFound => false,
                Err(e) => bail!("cannot keep the old {} aside: {e}", dir.join(f.name).display()),
            };
            fs::rename(&new, &old)
                .map_err(|e| anyhow!("cannot move {} into {}: {e}", f.name, dir.display()))?;
            done.push(if replaced { Step::Replaced(f.name) } else { Step::Added(f.name) });
        }
        let current: BTreeSet<&str> = files.iter().map(|f| f.name).collect();
        for stale in previous.iter().filter(|n| !current.contains(n.as_str())) {
            critical.check()?;
            fs::rename(real.join(stale), backup.path().join(stale))
                .map_err(|e| anyhow!("cannot remove {}: {e}", dir.join(stale).display()))?;
            done.push(Step::Removed(stale));
        }
        critical.check()
    })();
    if let Err(e) = result {
        for step in done.iter().rev() {
            let undone = match *step {
                Step::Replaced(n) | Step::Removed(n) => fs::rename(backup.path().join(n), real.join(n)),
                Step::Added(n) => fs::remove_file(real.join(n)),
            };
            if let Err(u) = undone {
                crate::io::warn(format_args!("cannot put back {}: {u}", dir.join(step.name()).display()));
            }
        }
        return Err(e);
    }
    Ok(())
}

/// A file or directory under a new name (`.rvkit-` and random letters),
/// removed when dropped unless kept.
struct Fresh {
    path: PathBuf,
    kept: bool,
}

impl Fresh {
    /// Tries new names in `dir` until one is free.
    fn create<T>(dir: &Path, make: impl Fn(&Path) -> std::io::Result<T>) -> std::io::Result<(Fresh, T)> {
        use std::hash::{BuildHasher as _, Hasher as _};
        let mut tries = 0;
        loop {
            // A per-process random key, hashed with a counter: names no
            // other run (or earlier try) picks.
            let mut h = std::hash::RandomState::new().build_hasher();
            h.write_u32(std::process::id());
            h.write_u32(tries);
            let path = dir.join(format!(".rvkit-{:016x}", h.finish()));
            match make(&path) {
                Ok(made) => return Ok((Fresh { path, kept: false }, made)),
                Err(e) if e.kind() == ErrorKind::AlreadyExists && tries < 100 => tries += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// A new, empty file readable only by its owner.
    fn file(dir: &Path) -> std::io::Result<(Fresh, fs::File)> {
        Fresh::create(dir, |p| fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(p))
    }

    /// A new, empty directory usable only by its owner.
    fn dir(parent: &Path) -> std::io::Result<Fresh> {
        use std::os::unix::fs::DirBuilderExt as _;
        Fresh::create(parent, |p| fs::DirBuilder::new().mode(0o700).create(p)).map(|(f, ())| f)
    }

    fn path(&self) -> &Path {
        &self.path
    }

    /// Leaves it where it is (it has been renamed into place).
    fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        if !self.kept {
            let _ = fs::remove_file(&self.path).or_else(|_| fs::remove_dir_all(&self.path));
        }
    }
}

/// One change [`write_dir`] made to the directory, so it can be undone.
enum Step<'a> {
    Replaced(&'a str),
    Added(&'a str),
    Removed(&'a str),
}

impl Step<'_> {
    fn name(&self) -> &str {
        match self {
            Step::Replaced(n) | Step::Added(n) | Step::Removed(n) => n,
        }
    }
}

/// How long a run waits for another one writing the same directory,
/// in seconds, unless `RVKIT_LOCK_WAIT` says otherwise.
const LOCK_WAIT_SECS: u64 = 30;

/// An exclusive advisory lock (`flock`) on a directory that is about to be
/// written, held until dropped. The lock is taken on a file beside the
/// directory, `.NAME.rvkit-lock`, which holds the holder's process id and
/// is removed when the lock is released; the directory itself may not
/// exist yet.
pub struct DirLock {
    path: PathBuf,
    _file: fs::File,
    _cleanup: signals::Cleanup,
}

impl DirLock {
    /// Locks `dir`, waiting up to `RVKIT_LOCK_WAIT` seconds (default 30)
    /// for another run to finish with it.
    pub fn acquire(dir: &Path) -> anyhow::Result<DirLock> {
        signals::install();
        let real = match fs::canonicalize(dir) {
            Ok(real) => real,
            Err(_) => {
                let parent = parent(dir);
                let name = dir
                    .file_name()
                    .with_context(|| format!("cannot write {}: no directory name", dir.display()))?;
                fs::canonicalize(parent)
                    .map_err(|e| anyhow!("cannot write {}: {}: {e}", dir.display(), parent.display()))?
                    .join(name)
            }
        };
        let (Some(parent), Some(name)) = (real.parent(), real.file_name()) else {
            bail!("cannot write {}: not a directory rvkit can lock", dir.display());
        };
        let path = parent.join(format!(".{}.rvkit-lock", name.to_string_lossy()));
        let wait =
            std::env::var("RVKIT_LOCK_WAIT").ok().and_then(|v| v.parse().ok()).unwrap_or(LOCK_WAIT_SECS);
        let deadline = Instant::now() + Duration::from_secs(wait);
        let mut said = false;
        loop {
            let mut file = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .open(&path)
                .with_context(|| format!("cannot create the lock file {}", path.display()))?;
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {
                    // The holder before us may have removed the file after we
                    // opened it: then our lock is on a file nobody else sees.
                    let same = fs::metadata(&path).is_ok_and(|m| {
                        file.metadata().is_ok_and(|f| (f.dev(), f.ino()) == (m.dev(), m.ino()))
                    });
                    if !same {
                        continue;
                    }
                    let cleanup = signals::Cleanup::register(&path);
                    file.set_len(0)
                        .and_then(|()| writeln!(file, "{}", std::process::id()))
                        .with_context(|| format!("cannot write the lock file {}", path.display()))?;
                    return Ok(DirLock { path, _file: file, _cleanup: cleanup });
                }
                Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                    let mut holder = String::new();
                    let _ = file.read_to_string(&mut holder);
                    let holder = match holder.trim() {
                        "" => "another process".to_owned(),
                        pid => format!("process {pid}"),
                    };
                    if Instant::now() >= deadline {
                        bail!(
                            "{} is being written by {holder} (lock {}); gave up after {wait} s",
                            dir.display(),
                            path.display()
                        );
                    }
                    if !said {
                        eprintln!("waiting for {holder}, which is writing {}", dir.display());
                        said = true;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => bail!("cannot lock {}: {e}", path.display()),
            }
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Removed while still locked, so a waiting run that opened the old
        // file sees it is gone and opens a new one.
        let _ = fs::remove_file(&self.path);
    }
}

/// SIGINT, SIGTERM and SIGHUP while something is half written.
///
/// Outside a [`Critical`] section a signal removes the registered
/// temporary files and lock files, then ends the process as the signal
/// would have. Inside one it is held until the section ends, so the code
/// in it can undo its work ([`Critical::check`]). SIGXFSZ is caught too,
/// so a write over the file-size limit fails with EFBIG (and is cleaned
/// up like any failed write) instead of killing the process.
mod signals {
    use std::path::{Path, PathBuf};
    use std::sync::{Mutex, Once};

    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGXFSZ};

    struct State {
        critical: usize,
        pending: Option<i32>,
        cleanup: Vec<PathBuf>,
    }

    static STATE: Mutex<State> = Mutex::new(State { critical: 0, pending: None, cleanup: Vec::new() });

    fn state() -> std::sync::MutexGuard<'static, State> {
        STATE.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts listening for the signals (once per process).
    pub fn install() {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP, SIGXFSZ])
            else {
                return;
            };
            std::thread::spawn(move || {
                for sig in signals.forever() {
                    if sig == SIGXFSZ {
                        continue;
                    }
                    let mut s = state();
                    if s.critical > 0 {
                        s.pending.get_or_insert(sig);
                    } else {
                        die(&mut s, sig);
                    }
                }
            });
        });
    }

    /// Removes what is registered and ends the process with `sig`.
    fn die(s: &mut State, sig: i32) -> ! {
        for path in s.cleanup.drain(..) {
            let _ = std::fs::remove_file(&path);
        }
        let _ = signal_hook::low_level::emulate_default_handler(sig);
        std::process::exit(128 + sig);
    }

    /// A path removed if a signal ends the process while this lives.
    pub struct Cleanup(PathBuf);

    impl Cleanup {
        pub fn register(path: &Path) -> Cleanup {
            state().cleanup.push(path.to_owned());
            Cleanup(path.to_owned())
        }
    }

    impl Drop for Cleanup {
        fn drop(&mut self) {
            let mut s = state();
            if let Some(i) = s.cleanup.iter().rposition(|p| *p == self.0) {
                s.cleanup.remove(i);
            }
        }
    }

    /// A section that a signal does not interrupt; the signal takes effect
    /// when it ends.
    pub struct Critical(());

    impl Critical {
        pub fn enter() -> Critical {
            install();
            state().critical += 1;
            Critical(())
        }

        /// An error once a signal has arrived, so the section can undo its
        /// work and end.
        pub fn check(&self) -> anyhow::Result<()> {
            match state().pending {
                Some(sig) => anyhow::bail!("interrupted by signal {sig}"),
                None => Ok(()),
            }
        }
    }

    impl Drop for Critical {
        fn drop(&mut self) {
            let mut s = state();
            s.critical -= 1;
            if let (0, Some(sig)) = (s.critical, s.pending) {
                die(&mut s, sig);
            }
        }
    }
}
