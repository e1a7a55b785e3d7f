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
mod cmd_pcr;
mod cmd_podvm;
mod cmd_podvm_predict;
mod cmd_rvps;
mod io;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Compute, verify and publish Trustee reference values for Confidential Containers.
#[derive(Parser)]
#[command(name = "rvkit", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render the walkthrough's whole Trustee configuration for `oc apply -k`, or check one.
    Bundle(Box<cmd_bundle::Command>),
    /// Render, check, digest and encode initdata documents.
    #[command(subcommand)]
    Initdata(cmd_initdata::Command),
    /// Hash files, simulate PCR extends, compute the PCR8 of initdata.
    #[command(subcommand)]
    Pcr(cmd_pcr::Command),
    /// Verify signed podvm images and fetch files from them.
    #[command(subcommand)]
    Podvm(cmd_podvm::Command),
    /// Emit Trustee RVPS reference values.
    #[command(subcommand)]
    Rvps(cmd_rvps::Command),
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bundle(c) => cmd_bundle::run(*c),
        Command::Initdata(c) => cmd_initdata::run(c),
        Command::Pcr(c) => cmd_pcr::run(c),
        Command::Podvm(c) => cmd_podvm::run(c),
        Command::Rvps(c) => cmd_rvps::run(c),
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
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
