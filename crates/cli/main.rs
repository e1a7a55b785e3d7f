//! The `rvkit` command: computes, verifies and publishes the attestation
//! reference values Trustee needs for Confidential Containers.
//!
//! Results go to stdout (or atomically to `-o FILE`), diagnostics to stderr.
//! Exit codes: 0 ok, 1 verification or validation failed, 2 usage or input
//! error.

// The doc comments on clap types are the command's help texts, written for a
// terminal (`[:TAG]`, bare URLs, `<name>`), not rustdoc markup.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::bare_urls, rustdoc::invalid_html_tags)]

mod cmd_bundle;
mod cmd_initdata;
mod cmd_launch;
mod cmd_pcr;
mod cmd_podvm;
mod cmd_podvm_predict;
mod cmd_rvps;
mod io;
mod output;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::error::ErrorKind;
use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};

/// Compute, verify and publish Trustee reference values for Confidential Containers.
#[derive(Parser)]
#[command(name = "rvkit", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// The options every command takes.
#[derive(clap::Args)]
struct Global {
    /// Print only errors on stderr: no warnings, notes or progress.
    #[arg(short, long, global = true, conflicts_with = "verbose", help_heading = "Global options")]
    quiet: bool,
    /// Print more detail on stderr (such as every file read and written).
    #[arg(short, long, global = true, help_heading = "Global options")]
    verbose: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Render the walkthrough's whole Trustee configuration for `oc apply -k`, or check one.
    Bundle(Box<cmd_bundle::Command>),
    /// Render, check, digest and encode initdata documents.
    #[command(subcommand)]
    Initdata(cmd_initdata::Command),
    /// Bare-metal launch values: SEV-SNP launch digest, TDX MRTD and RTMR2.
    #[command(subcommand)]
    Launch(cmd_launch::Command),
    /// Hash files, simulate PCR extends, compute the PCR8 of initdata.
    #[command(subcommand)]
    Pcr(cmd_pcr::Command),
    /// Verify signed podvm images and fetch files from them.
    #[command(subcommand)]
    Podvm(cmd_podvm::Command),
    /// Emit Trustee RVPS reference values.
    #[command(subcommand)]
    Rvps(cmd_rvps::Command),
    /// Print the completion script for a shell (bash, zsh, fish, elvish, powershell).
    ///
    /// For example: `rvkit completions bash > /etc/bash_completion.d/rvkit`,
    /// `rvkit completions zsh > "${fpath[1]}/_rvkit"`, or
    /// `rvkit completions fish > ~/.config/fish/completions/rvkit.fish`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write the manual pages (rvkit.1 and one per subcommand) into a directory;
    /// `cargo xtask man` runs it.
    #[command(hide = true)]
    Man {
        /// The directory (created if missing).
        dir: PathBuf,
    },
}

/// The heading of the options that shape what is printed, apart from those
/// that say what to read and how to reach it.
const OUTPUT_HEADING: &str = "Output";
/// Options that shape the output wherever they appear.
const OUTPUT_OPTIONS: &[&str] = &["output", "json", "transcript"];
/// Options that shape the output of a command that can wrap it in a ConfigMap.
const CONFIGMAP_OPTIONS: &[&str] = &["configmap", "format", "name", "namespace", "data_key"];

/// The command line as parsed, printed in help, completions and man pages:
/// the derived definitions, with the output options of every command under
/// one heading, and only the image-access options under theirs.
fn command() -> clap::Command {
    use clap::Args as _;

    // A flattened group's heading also covers the options declared after it
    // (clap's `next_help_heading`); this takes them back out.
    let access = rvkit_podvm::ImageAccess::augment_args(clap::Command::new("access"));
    let access_heading = access.get_arguments().find_map(|a| a.get_help_heading()).map(str::to_owned);
    let access_ids: Vec<clap::Id> = access.get_arguments().map(|a| a.get_id().clone()).collect();

    let group = |cmd: clap::Command| -> clap::Command {
        let wraps = cmd.get_arguments().any(|a| a.get_id() == "configmap");
        let changes: Vec<(clap::Id, Option<&'static str>)> = cmd
            .get_arguments()
            .filter_map(|a| {
                let id = a.get_id();
                let heading = a.get_help_heading();
                let leaked =
                    heading.is_some() && heading == access_heading.as_deref() && !access_ids.contains(id);
                let output = OUTPUT_OPTIONS.contains(&id.as_str())
                    || (wraps && CONFIGMAP_OPTIONS.contains(&id.as_str()));
                match (heading.is_none() || leaked, output) {
                    (true, true) => Some((id.clone(), Some(OUTPUT_HEADING))),
                    (true, false) if leaked => Some((id.clone(), None)),
                    _ => None,
                }
            })
            .collect();
        changes.into_iter().fold(cmd, |cmd, (id, heading)| cmd.mut_arg(id, |a| a.help_heading(heading)))
    };
    fn walk(cmd: clap::Command, f: &dyn Fn(clap::Command) -> clap::Command) -> clap::Command {
        let names: Vec<String> = cmd.get_subcommands().map(|c| c.get_name().to_owned()).collect();
        names.into_iter().fold(f(cmd), |cmd, name| cmd.mut_subcommand(name, |sub| walk(sub, f)))
    }
    walk(Cli::command(), &group)
}

fn completions(shell: clap_complete::Shell) -> CmdResult {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command(), "rvkit", &mut script);
    io::write_output(None, &script)?;
    Ok(())
}

fn man(dir: &std::path::Path) -> CmdResult {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    clap_mangen::generate_to(command(), dir)
        .with_context(|| format!("cannot write into {}", dir.display()))?;
    Ok(())
}

/// A failure with the exit code it maps to.
pub struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl Failure {
    /// Bad input or usage: exit 2.
    pub fn input(error: impl Into<anyhow::Error>) -> Failure {
        Failure { code: 2, error: error.into() }
    }

    /// The input was read but failed validation or verification: exit 1.
    pub fn invalid(error: impl Into<anyhow::Error>) -> Failure {
        Failure { code: 1, error: error.into() }
    }
}

/// Plain errors are input errors unless a command says otherwise.
impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Failure {
        Failure::input(error)
    }
}

/// The result every command returns.
pub type CmdResult = Result<(), Failure>;

/// The command line with only the top-level command `name` under the root,
/// as [`Cli`] derives it minus what only help and `--version` show; `None`
/// for a name that is not a command.
///
/// Building the whole tree was a third of a short command's instructions
/// (callgrind, `rvps emit`); parsing needs only the branch the user named.
/// Whatever this tree rejects, including `--help` and `--version`, is parsed
/// again by the whole tree, so errors and help read the same either way.
/// `lone_commands_are_the_derived_ones` checks the two trees agree.
fn lone_command(name: &str) -> Option<clap::Command> {
    use clap::{Args as _, Subcommand as _};
    // A `#[command(subcommand)]` variant requires one of its subcommands.
    let new = |name| clap::Command::new(name).subcommand_required(true);
    let sub = match name {
        "bundle" => cmd_bundle::Command::augment_args(clap::Command::new("bundle")),
        "initdata" => cmd_initdata::Command::augment_subcommands(new("initdata")),
        "launch" => cmd_launch::Command::augment_subcommands(new("launch")),
        "pcr" => cmd_pcr::Command::augment_subcommands(new("pcr")),
        "podvm" => cmd_podvm::Command::augment_subcommands(new("podvm")),
        "rvps" => cmd_rvps::Command::augment_subcommands(new("rvps")),
        _ => return None,
    };
    Some(Global::augment_args(clap::Command::new("rvkit")).subcommand(sub))
}

fn main() -> ExitCode {
    // The tree and the matches are left for the process exit to free:
    // dropping them took a tenth of a short command's instructions, and
    // parsing from them by `&mut` avoids clap's copy of every match.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let lone = args.get(1).and_then(|a| a.to_str()).and_then(lone_command).and_then(|mut tree| {
        let matches = tree.try_get_matches_from_mut(&args).ok();
        std::mem::forget(tree);
        matches
    });
    let mut matches = lone.unwrap_or_else(|| {
        // The help headings are regrouped only when help is printed: walking
        // the whole tree again costs every other run a measurable share of
        // its start-up, and nothing but help shows a heading.
        let mut tree = Cli::command();
        let matches = tree.try_get_matches_from_mut(&args).unwrap_or_else(|e| match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                command().get_matches_from(&args)
            }
            _ => e.exit(),
        });
        std::mem::forget(tree);
        matches
    });
    let cli = Cli::from_arg_matches_mut(&mut matches).unwrap_or_else(|e| e.exit());
    std::mem::forget(matches);
    io::set_verbosity(if cli.global.quiet { -1 } else { i8::from(cli.global.verbose) });
    let result = match cli.command {
        Command::Bundle(c) => cmd_bundle::run(*c),
        Command::Initdata(c) => cmd_initdata::run(c),
        Command::Launch(c) => cmd_launch::run(c),
        Command::Pcr(c) => cmd_pcr::run(c),
        Command::Podvm(c) => cmd_podvm::run(c),
        Command::Rvps(c) => cmd_rvps::run(c),
        Command::Completions { shell } => completions(shell),
        Command::Man { dir } => man(&dir),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {:#}", f.error);
            ExitCode::from(f.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    #[test]
    fn the_command_line_is_consistent() {
        super::command().debug_assert();
    }

    /// The tree `main` parses most command lines with is the derived one,
    /// cut to the command named: the same options (every attribute, help
    /// text included), groups and subcommands.
    #[test]
    fn lone_commands_are_the_derived_ones() {
        let full = super::Cli::command();
        let args = |c: &clap::Command| c.get_arguments().map(|a| format!("{a:?}")).collect::<Vec<_>>();
        let groups = |c: &clap::Command| c.get_groups().map(|g| format!("{g:?}")).collect::<Vec<_>>();
        let subs = |c: &clap::Command| c.get_subcommands().map(|s| format!("{s:?}")).collect::<Vec<_>>();
        let mut seen = 0;
        for derived in full.get_subcommands() {
            let name = derived.get_name();
            let Some(lone) = super::lone_command(name) else {
                assert!(matches!(name, "completions" | "man"), "no lone tree for {name}");
                continue;
            };
            seen += 1;
            lone.clone().debug_assert();
            assert_eq!(args(&lone), args(&full), "the global options beside {name}");
            let ours = lone.find_subcommand(name).unwrap();
            assert_eq!(args(ours), args(derived), "{name}");
            assert_eq!(groups(ours), groups(derived), "{name}");
            assert_eq!(subs(ours), subs(derived), "{name}");
            assert_eq!(ours.is_subcommand_required_set(), derived.is_subcommand_required_set(), "{name}");
        }
        assert_eq!(seen, 6);
        assert!(super::lone_command("-q").is_none());
    }
}
