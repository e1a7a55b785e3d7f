//! `cargo xtask man [DIR]`: the manual pages, generated from the command
//! line's own definitions (clap), so they never disagree with `--help`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util::{build_rvkit, run, target_dir};

pub fn run_man(args: &[String]) -> Result<()> {
    let dir = match args {
        [] => target_dir().join("man"),
        [dir] => PathBuf::from(dir),
        _ => bail!("usage: cargo xtask man [DIR]"),
    };
    let rvkit = build_rvkit(false)?;
    run(Command::new(&rvkit).arg("man").arg(&dir))?;
    let mut pages: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".1"))
        .collect();
    pages.sort();
    println!("{} manual pages in {} (man {}/rvkit.1)", pages.len(), dir.display(), dir.display());
    Ok(())
}
