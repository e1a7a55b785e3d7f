//! Reading inputs and writing outputs the same way in every command.

use std::fs;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Largest input file any command reads whole; initdata and measurement files
/// are a few KiB, so this only stops accidents like pointing at a disk image.
pub const MAX_INPUT: u64 = 64 * 1024 * 1024;

/// Reads a whole file (or stdin for `-`), naming it in errors.
pub fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    if path == Path::new("-") {
        std::io::stdin().take(MAX_INPUT + 1).read_to_end(&mut buf).context("cannot read standard input")?;
    } else {
        let file = fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
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

/// Prints a warning on stderr.
pub fn warn(message: impl std::fmt::Display) {
    eprintln!("warning: {message}");
}

/// Whether stderr is a terminal (progress output is only shown there).
#[allow(dead_code)]
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}
