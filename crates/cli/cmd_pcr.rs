//! `rvkit pcr ...`: hashing, extend simulation, the PCR8 of initdata and
//! event-log replay.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use rvkit_initdata::InitData;
use rvkit_pcr::eventlog::{Event, EventLog, MrNumbering, Outcome, PcrValues, Replay};
use rvkit_pcr::{Digest, HashAlg, PcrBank, PcrIndex, Rtmr, Transcript, hash_reader};
use serde_json::{Map, Value, json};

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
    let touched: Vec<PcrIndex> = replay.touched().filter(|p| pcr_filter(u32::from(p.get()))).collect();
    let events: Vec<&Event> = log.events().iter().filter(|e| pcr_filter(e.pcr)).collect();
    let out = if args.json {
        let events: Vec<Value> = events
            .iter()
            .map(|e| {
                let digests: Map<String, Value> = e
                    .digests
                    .iter()
                    .filter(|d| e.number == 0 || banks.contains(&d.alg()))
                    .map(|d| (d.alg().name().to_owned(), d.to_hex().into()))
                    .collect();
                let values: Option<Map<String, Value>> = e.extends().then(|| {
                    banks
                        .iter()
                        .filter_map(|alg| {
                            replay
                                .value_after(e.number, *alg)
                                .map(|v| (alg.name().to_owned(), v.to_hex().into()))
                        })
                        .collect()
                });
                json!({
                    "number": e.number,
                    "offset": e.offset,
                    "pcr": e.pcr,
                    "type": e.event_type.to_string(),
                    "type_id": e.event_type.0,
                    "summary": e.summary(),
                    "digests": digests,
                    "values": values.filter(|_| e.number > 0),
                })
            })
            .collect();
        let pcrs: Map<String, Value> = banks
            .iter()
            .filter_map(|alg| replay.bank(*alg))
            .map(|bank| {
                let values: Map<String, Value> =
                    touched.iter().map(|p| (p.get().to_string(), bank.get(*p).to_hex().into())).collect();
                (bank.alg().name().to_owned(), Value::Object(values))
            })
            .collect();
        let doc = json!({
            "algorithms": log.algorithms().iter().map(|a| a.name()).collect::<Vec<_>>(),
            "startup_locality": replay.startup_locality(),
            "events": events,
            "pcrs": pcrs,
            "notes": replay.notes(),
        });
        let mut s = serde_json::to_string_pretty(&doc)?;
        s.push('\n');
        s
    } else {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# {label}: {} events, banks {}{}",
            log.events().len(),
            names(log.algorithms()),
            replay.startup_locality().map(|l| format!(", StartupLocality {l}")).unwrap_or_default()
        );
        for e in &events {
            let _ = writeln!(
                s,
                "event {} (offset {:#x}): pcr {} {}: {}",
                e.number,
                e.offset,
                e.pcr,
                e.event_type,
                e.summary()
            );
            for alg in &banks {
                let digest = e.digest(*alg).map(|d| d.to_hex()).unwrap_or_else(|| "-".to_owned());
                match replay.value_after(e.number, *alg) {
                    Some(v) if e.number > 0 => {
                        let _ = writeln!(s, "  {:<6} {digest}\n         pcr{:02} = {v}", alg.name(), e.pcr);
                    }
                    _ if e.digest(*alg).is_some() => {
                        let _ = writeln!(s, "  {:<6} {digest} (not extended)", alg.name());
                    }
                    _ => {}
                }
            }
        }
        s.push_str("pcrs:\n");
        for alg in &banks {
            if let Some(bank) = replay.bank(*alg) {
                let _ = writeln!(s, "  {alg}:");
                for p in &touched {
                    let _ = writeln!(s, "    {:<2} : 0x{}", p.get(), bank.get(*p));
                }
            }
        }
        s
    };
    write_output(None, out.as_bytes())?;
    Ok(())
}

fn names(algs: &[HashAlg]) -> String {
    algs.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ")
}

/// Reads expected PCR values: `tpm2_pcrread` YAML, or JSON mapping banks to
/// `{index: hex}`, or a flat `{"pcr07": hex}` in the one bank given (or sha256).
fn read_expected(path: &Path, banks: &[HashAlg], args: &ReplayArgs) -> anyhow::Result<PcrValues> {
    let label = display(path);
    let bytes = read_input(path)?;
    let text = std::str::from_utf8(&bytes).with_context(|| format!("{label} is not UTF-8 text"))?;
    if !text.trim_start().starts_with('{') {
        return PcrValues::parse_pcrread(text).with_context(|| label.clone());
    }
    let doc: Map<String, Value> =
        serde_json::from_str(text).with_context(|| format!("{label} is not a JSON object"))?;
    let mut out = PcrValues::new();
    let default_bank = if args.bank.len() == 1 { args.bank[0] } else { HashAlg::Sha256 };
    let pcr_key = |k: &str| -> anyhow::Result<PcrIndex> {
        let n = k.strip_prefix("pcr").unwrap_or(k);
        let n: u32 =
            n.parse().with_context(|| format!("{label}: {k:?} is not a PCR such as \"7\" or \"pcr07\""))?;
        PcrIndex::new(n).with_context(|| format!("{label}: {k:?}"))
    };
    for (key, value) in &doc {
        match value {
            Value::Object(inner) => {
                let alg: HashAlg = key.parse().with_context(|| format!("{label}: {key:?} is not a bank"))?;
                for (k, v) in inner {
                    let hex = v.as_str().with_context(|| format!("{label}: {key}.{k} is not a string"))?;
                    out.insert(
                        pcr_key(k)?,
                        Digest::parse_hex(alg, hex).with_context(|| format!("{label}: {key}.{k}"))?,
                    );
                }
            }
            Value::String(hex) => {
                out.insert(
                    pcr_key(key)?,
                    Digest::parse_hex(default_bank, hex).with_context(|| format!("{label}: {key}"))?,
                );
            }
            _ => bail!("{label}: {key:?} must be a bank object or a hex string"),
        }
    }
    let _ = banks;
    Ok(out)
}

fn expect(log: &EventLog, replay: &Replay, path: &Path, banks: &[HashAlg], args: &ReplayArgs) -> CmdResult {
    let mut expected = read_expected(path, banks, args).map_err(Failure::input)?;
    if !args.pcrs.is_empty() || !args.bank.is_empty() {
        let mut filtered = PcrValues::new();
        for (pcr, d) in expected.iter() {
            if (args.pcrs.is_empty() || args.pcrs.contains(&u32::from(pcr.get()))) && banks.contains(&d.alg())
            {
                filtered.insert(pcr, *d);
            }
        }
        expected = filtered;
    }
    if expected.is_empty() {
        return Err(Failure::input(anyhow!("{} holds no PCR values to compare", display(path))));
    }
    let results = replay.compare(log, &expected);
    let describe = |number: usize| -> String {
        log.events()
            .get(number)
            .map(|e| {
                format!("event {} (offset {:#x}, {}: {})", e.number, e.offset, e.event_type, e.summary())
            })
            .unwrap_or_else(|| format!("event {number}"))
    };
    let mut differing = 0;
    let mut lines = String::new();
    let mut records = Vec::new();
    for c in &results {
        let head = format!("pcr{:02} {}", c.pcr.get(), c.alg);
        let (status, detail) = match &c.outcome {
            Outcome::Match => ("match", String::new()),
            Outcome::BankNotInLog => ("differs", format!("the log has no {} bank", c.alg)),
            Outcome::ExtraEvents { matched, total, first_divergent } => (
                "differs",
                format!(
                    "the first {matched} of the log's {total} events on this pcr give the expected value; \
                     the first divergent event is {}",
                    describe(*first_divergent)
                ),
            ),
            Outcome::NoPrefix { total, first_event } => (
                "differs",
                match first_event {
                    Some(n) => format!(
                        "no prefix of the log's {total} events on this pcr gives the expected value: the register \
                         was extended with something the log does not record, or an event's digest differs; \
                         the first event on this pcr is {}",
                        describe(*n)
                    ),
                    None => {
                        "the log has no event on this pcr, but the value is not its start value".to_owned()
                    }
                },
            ),
            _ => ("differs", String::new()),
        };
        if status != "match" {
            differing += 1;
            let replayed = c.replayed.map(|d| d.to_hex()).unwrap_or_else(|| "-".to_owned());
            let _ = writeln!(
                lines,
                "{head}: differs\n  expected {}\n  replayed {replayed}\n  {detail}",
                c.expected
            );
        } else {
            let _ = writeln!(lines, "{head}: matches {}", c.expected);
        }
        let first_divergent = match &c.outcome {
            Outcome::ExtraEvents { first_divergent, .. } => Some(*first_divergent),
            _ => None,
        };
        records.push(json!({
            "pcr": c.pcr.get(),
            "bank": c.alg.name(),
            "status": status,
            "expected": c.expected.to_hex(),
            "replayed": c.replayed.map(|d| d.to_hex()),
            "first_divergent_event": first_divergent,
            "detail": detail,
        }));
    }
    let out = if args.json {
        let mut s = serde_json::to_string_pretty(&records)?;
        s.push('\n');
        s
    } else {
        lines
    };
    write_output(None, out.as_bytes())?;
    if differing > 0 {
        return Err(Failure::invalid(anyhow!(
            "{differing} of {} pcr values differ from the replay of {}",
            results.len(),
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
            eprintln!(
                "rtmr{} = sha384(… || {}) = {} (event {})",
                step.rtmr.index(),
                step.digest,
                step.value,
                step.event
            );
        }
    }
    let rtmrs = [Rtmr::Rtmr0, Rtmr::Rtmr1, Rtmr::Rtmr2, Rtmr::Rtmr3];
    let steps: Vec<_> = r.steps().iter().filter(|s| pcr_filter(log.events()[s.event].pcr)).collect();
    let out = if args.json {
        let events: Vec<Value> = steps
            .iter()
            .map(|s| {
                let e = &log.events()[s.event];
                json!({
                    "number": e.number,
                    "offset": e.offset,
                    "index": e.pcr,
                    "rtmr": s.rtmr.index(),
                    "type": e.event_type.to_string(),
                    "summary": e.summary(),
                    "digest": s.digest.to_hex(),
                    "value": s.value.to_hex(),
                })
            })
            .collect();
        let values: Map<String, Value> =
            rtmrs.iter().map(|m| (format!("rtmr{}", m.index()), r.value(*m).to_hex().into())).collect();
        let mut s = serde_json::to_string_pretty(
            &json!({"events": events, "rtmrs": values, "skipped_events": r.skipped()}),
        )?;
        s.push('\n');
        s
    } else {
        let mut s = String::new();
        for st in &steps {
            let e = &log.events()[st.event];
            let _ = writeln!(
                s,
                "event {} (offset {:#x}): index {} -> rtmr{} {}: {}\n  sha384 {}\n         rtmr{} = {}",
                e.number,
                e.offset,
                e.pcr,
                st.rtmr.index(),
                e.event_type,
                e.summary(),
                st.digest,
                st.rtmr.index(),
                st.value
            );
        }
        s.push_str("rtmrs:\n");
        for m in rtmrs {
            let _ = writeln!(s, "  rtmr{} : 0x{}", m.index(), r.value(m));
        }
        s
    };
    write_output(None, out.as_bytes())?;
    Ok(())
}
