//! `rvkit pcr ...`: hashing, extend simulation, the PCR8 of initdata and
//! event-log replay.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use clap::{Args, Subcommand};
use rvkit_initdata::{InitData, Pcr8Report};
use rvkit_pcr::eventlog::{EventLog, ExpectReport, MrNumbering, PcrValues, Replay, ReplayReport, RtmrReport};
use rvkit_pcr::{ChecksumLine, Digest, HashAlg, PcrBank, PcrIndex, Transcript, hash_reader};

use crate::io::{display, read_input, warn, write_output};
use crate::report::to_json;
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
    /// Replay a TCG event log (binary_bios_measurements or a TDX CCEL table).
    Replay(ReplayArgs),
}

#[derive(Args)]
pub struct ReplayArgs {
    /// The binary event log; `-` is standard input.
    log: PathBuf,
    /// Banks to show, comma-separated [default: every bank of the log].
    #[arg(long, value_delimiter = ',', value_name = "ALG")]
    bank: Vec<HashAlg>,
    /// Only these PCRs (register indices with --tdx), comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "N")]
    pcrs: Vec<u32>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Print every extend on stderr.
    #[arg(long)]
    transcript: bool,
    /// Compare with these PCR values (tpm2_pcrread output, or JSON such as
    /// {"sha256":{"7":"…"}} or {"pcr07":"…"}) and name the first divergent event of each PCR;
    /// exit 1 if any differs.
    #[arg(long, value_name = "FILE", conflicts_with = "tdx")]
    expect: Option<PathBuf>,
    /// Replay into TDX RTMR0-3 (SHA-384): `ccel` reads the index field as a CCEL
    /// measurement-register index (1-4 = RTMR0-3), `pcr` maps PCR indices to RTMRs.
    #[arg(long, value_name = "NUMBERING", num_args = 0..=1, default_missing_value = "ccel")]
    tdx: Option<MrNumbering>,
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
        Command::Replay(args) => replay(&args),
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
        out.push_str(&ChecksumLine { hex: &digest.to_hex(), name: &path.display().to_string() }.to_string());
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
    let mut reports = Vec::new();
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
        reports.push(Pcr8Report::new(&display(path), &doc));
    }
    let out = if json { to_json(&reports)? } else { reports.iter().map(ToString::to_string).collect() };
    write_output(None, out.as_bytes())?;
    Ok(())
}

fn replay(args: &ReplayArgs) -> CmdResult {
    let label = display(&args.log);
    let bytes = read_input(&args.log)?;
    let log = EventLog::parse(&bytes).map_err(|e| Failure::input(anyhow!("{label}: {e}")))?;
    for alg in &args.bank {
        if !log.algorithms().contains(alg) {
            return Err(Failure::input(anyhow!(
                "{label} has no {alg} bank (it has {})",
                names(log.algorithms())
            )));
        }
    }
    let pcr_filter = |index: u32| args.pcrs.is_empty() || args.pcrs.contains(&index);
    if let Some(numbering) = args.tdx {
        return replay_tdx(&log, &label, numbering, args, &pcr_filter);
    }
    let replay = log.replay().map_err(|e| Failure::input(anyhow!("{label}: {e}")))?;
    let banks: Vec<HashAlg> =
        if args.bank.is_empty() { log.algorithms().to_vec() } else { args.bank.clone() };
    for note in replay.notes() {
        warn(format_args!("{label}: {note}"));
    }
    if args.transcript {
        for alg in &banks {
            if let Some(t) = replay.transcript(*alg) {
                eprintln!("# {alg} bank");
                eprint!("{t}");
            }
        }
    }
    if let Some(path) = &args.expect {
        return expect(&log, &replay, path, &banks, args);
    }
    let report = ReplayReport::new(&label, &log, &replay, &banks, pcr_filter);
    let out = if args.json { to_json(&report)? } else { report.to_string() };
    write_output(None, out.as_bytes())?;
    Ok(())
}

fn names(algs: &[HashAlg]) -> String {
    algs.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ")
}

fn expect(log: &EventLog, replay: &Replay, path: &Path, banks: &[HashAlg], args: &ReplayArgs) -> CmdResult {
    let label = display(path);
    let bytes = read_input(path)?;
    let text = std::str::from_utf8(&bytes).with_context(|| format!("{label} is not UTF-8 text"))?;
    // Flat JSON values are in the one bank given, or sha256.
    let default_bank = if args.bank.len() == 1 { args.bank[0] } else { HashAlg::Sha256 };
    let mut expected =
        PcrValues::parse(text, default_bank).map_err(|e| Failure::input(anyhow!("{label}: {e}")))?;
    expected.retain(|alg, pcr| {
        (args.pcrs.is_empty() || args.pcrs.contains(&u32::from(pcr.get()))) && banks.contains(&alg)
    });
    if expected.is_empty() {
        return Err(Failure::input(anyhow!("{label} holds no PCR values to compare")));
    }
    let report = ExpectReport::new(log, &replay.compare(log, &expected));
    let out = if args.json { to_json(&report)? } else { report.to_string() };
    write_output(None, out.as_bytes())?;
    let differing = report.differing();
    if differing > 0 {
        return Err(Failure::invalid(anyhow!(
            "{differing} of {} pcr values differ from the replay of {}",
            report.checks.len(),
            display(&args.log)
        )));
    }
    Ok(())
}

fn replay_tdx(
    log: &EventLog,
    label: &str,
    mode: MrNumbering,
    args: &ReplayArgs,
    pcr_filter: &dyn Fn(u32) -> bool,
) -> CmdResult {
    let r = log.replay_rtmrs(mode).map_err(|e| Failure::input(anyhow!("{label}: {e}")))?;
    if args.transcript {
        for step in r.steps() {
            eprintln!("{step}");
        }
    }
    let report = RtmrReport::new(log, &r, pcr_filter);
    let out = if args.json { to_json(&report)? } else { report.to_string() };
    write_output(None, out.as_bytes())?;
    Ok(())
}
