//! `rvkit pcr ...`: hashing, extend simulation and the PCR8 of initdata.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use rvkit_initdata::InitData;
use rvkit_pcr::{Digest, HashAlg, PcrBank, PcrIndex, Transcript, hash_reader};

use crate::io::{display, read_input, warn, write_output};
use crate::{CmdResult, Failure};

#[derive(Subcommand)]
pub enum Command {
    /// Hash files (streaming), printing `DIGEST  FILE` like sha256sum.
    Hash {
        /// Files to hash; `-` is standard input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Hash algorithm.
        #[arg(long, default_value = "sha256")]
        bank: HashAlg,
    },
    /// Simulate extending digests into one PCR and print the result.
    Extend(ExtendArgs),
    /// Print the PCR8 (SHA-256 bank) a peer pod with this initdata will have.
    Initdata {
        /// Initdata documents; `-` is standard input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print a JSON array of results.
        #[arg(long)]
        json: bool,
        /// Print every hash and extend on stderr.
        #[arg(long)]
        transcript: bool,
    },
}

#[derive(Args)]
pub struct ExtendArgs {
    /// Digests to extend, in order (hex, optional 0x prefix).
    #[arg(required = true)]
    digests: Vec<String>,
    /// The bank's hash algorithm.
    #[arg(long, default_value = "sha256")]
    bank: HashAlg,
    /// The PCR to extend; decides the start value (0-16 and 23 zero, 17-22 all ones).
    #[arg(long, default_value_t = 8)]
    pcr: u32,
    /// Start from this value instead of the PCR's reset value.
    #[arg(long, value_name = "HEX")]
    from: Option<String>,
    /// Print every extend on stderr.
    #[arg(long)]
    transcript: bool,
}

pub fn run(cmd: Command) -> CmdResult {
    match cmd {
        Command::Hash { files, bank } => hash(&files, bank),
        Command::Extend(args) => extend(&args),
        Command::Initdata { files, json, transcript } => initdata(&files, json, transcript),
    }
}

fn hash(files: &[PathBuf], alg: HashAlg) -> CmdResult {
    let mut out = String::new();
    for path in files {
        let digest = if path.as_os_str() == "-" {
            hash_reader(alg, std::io::stdin().lock()).context("cannot read standard input")?
        } else {
            let file =
                std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
            hash_reader(alg, file).with_context(|| format!("cannot read {}", path.display()))?
        };
        out.push_str(&format!("{digest}  {}\n", path.display()));
    }
    write_output(None, out.as_bytes())?;
    Ok(())
}

fn extend(args: &ExtendArgs) -> CmdResult {
    let pcr = PcrIndex::new(args.pcr)?;
    let mut bank = PcrBank::new(args.bank);
    if let Some(from) = &args.from {
        let start = Digest::parse_hex(args.bank, from).context("--from")?;
        bank.set(pcr, start)?;
    }
    let mut transcript = Transcript::new();
    for (i, hex) in args.digests.iter().enumerate() {
        let d = Digest::parse_hex(args.bank, hex).with_context(|| format!("digest {}", i + 1))?;
        bank.extend_logged(pcr, &d, &mut transcript)?;
    }
    if args.transcript {
        eprint!("{transcript}");
    }
    write_output(None, format!("{}\n", bank.get(pcr)).as_bytes())?;
    Ok(())
}

fn initdata(files: &[PathBuf], json: bool, transcript: bool) -> CmdResult {
    let mut lines = String::new();
    let mut records = Vec::new();
    for path in files {
        let raw = read_input(path)?;
        let doc =
            InitData::parse(&raw).map_err(|e| Failure::input(anyhow::anyhow!("{}: {e}", display(path))))?;
        let binding = doc.binding(rvkit_initdata::Platform::Vtpm);
        for w in &binding.warnings {
            warn(format_args!("{}: {w}", display(path)));
        }
        if transcript {
            eprintln!("# {}", display(path));
            for step in &binding.steps {
                eprintln!("{step}");
            }
        }
        let pcr8 = doc.pcr8();
        lines.push_str(&format!("{pcr8}  {}\n", display(path)));
        records.push(serde_json::json!({
            "file": display(path),
            "algorithm": doc.algorithm().name(),
            "digest": doc.digest().to_hex(),
            "pcr8": pcr8.to_hex(),
        }));
    }
    if json {
        let mut s = serde_json::to_string_pretty(&records)?;
        s.push('\n');
        write_output(None, s.as_bytes())?;
    } else {
        write_output(None, lines.as_bytes())?;
    }
    Ok(())
}
