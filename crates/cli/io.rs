//! Reading inputs and writing outputs the same way in every command.

use std::fs;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI8, Ordering};

use anyhow::{Context, bail};

/// Largest input file any command reads whole; initdata and measurement files
/// are a few KiB, so this only stops accidents like pointing at a disk image.
pub const MAX_INPUT: u64 = 64 * 1024 * 1024;

/// The current time in seconds since the Unix epoch: the one clock reading
/// the commands hand to the pure libraries (certificate validity, default
/// expirations).
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Reads a whole file (or stdin for `-`), naming it in errors.
pub fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    if path == Path::new("-") {
        std::io::stdin().take(MAX_INPUT + 1).read_to_end(&mut buf).context("cannot read standard input")?;
    } else {
        let file = fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        // Sized from the start: growing by doubling copied a 4 MiB firmware
        // five times over and faulted in twice its pages.
        if let Ok(meta) = file.metadata() {
            buf.reserve_exact(meta.len().min(MAX_INPUT + 1) as usize);
        }
        file.take(MAX_INPUT + 1)
            .read_to_end(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
    }
    if buf.len() as u64 > MAX_INPUT {
        bail!("{} is larger than {} MiB", display(path), MAX_INPUT >> 20);
    }
    Ok(buf)
}

/// Reads an argument that is literal text, `@FILE`, or `-` for stdin.
/// Returns the bytes and a label for messages.
pub fn read_text_arg(arg: &str) -> anyhow::Result<(Vec<u8>, String)> {
    if arg == "-" {
        Ok((read_input(Path::new("-"))?, "standard input".to_owned()))
    } else if let Some(file) = arg.strip_prefix('@') {
        Ok((read_input(Path::new(file))?, file.to_owned()))
    } else {
        Ok((arg.as_bytes().to_vec(), "the argument".to_owned()))
    }
}

/// How a path is named in messages.
pub fn display(path: &Path) -> String {
    if path == Path::new("-") { "standard input".to_owned() } else { path.display().to_string() }
}

/// Writes the result to `out`, or to stdout when `out` is `None`; how a
/// path is written (atomically for files, in place for devices and pipes)
/// is [`crate::output`]'s rule.
pub fn write_output(out: Option<&PathBuf>, bytes: &[u8]) -> anyhow::Result<()> {
    crate::output::write_file(out.map_or(Path::new("-"), |p| p.as_path()), bytes)
}

/// How much goes to stderr besides errors: -1 with `-q`, 1 with `-v`.
static VERBOSITY: AtomicI8 = AtomicI8::new(0);

/// Sets the verbosity of [`warn`], [`note`] and [`detail`] (`-q`: -1, `-v`: 1).
pub fn set_verbosity(level: i8) {
    VERBOSITY.store(level, Ordering::Relaxed);
}

/// Whether `-q` was given: no warnings, notes or progress, only errors.
pub fn quiet() -> bool {
    VERBOSITY.load(Ordering::Relaxed) < 0
}

/// Prints a warning on stderr, unless `-q`.
pub fn warn(message: impl std::fmt::Display) {
    if !quiet() {
        eprintln!("warning: {message}");
    }
}

/// Prints progress or a note on stderr, unless `-q`.
pub fn note(message: impl std::fmt::Display) {
    if !quiet() {
        eprintln!("{message}");
    }
}

/// Prints a detail on stderr, only with `-v`.
pub fn detail(message: impl std::fmt::Display) {
    if VERBOSITY.load(Ordering::Relaxed) > 0 {
        eprintln!("{message}");
    }
}

/// Whether stderr is a terminal (progress output is only shown there).
#[allow(dead_code)]
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}
