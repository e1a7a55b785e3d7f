//! `rvkit podvm predict`: the PCRs a podvm disk boots to, from the disk alone.

use std::path::PathBuf;

use anyhow::anyhow;
use clap::Args;
use rvkit_disk::{Disk, FileSource};
use rvkit_pcr::eventlog::EventLog;
use rvkit_pcr::{HashAlg, PcrIndex};
use rvkit_predict::{BootedEvent, EspExtras, Uki, check, predict};
use rvkit_rvps::Measurements;

use crate::io::{display, read_input, warn, write_output};
use crate::{CmdResult, Failure};

/// Where a podvm's ESP keeps the UKI firmware boots by default.
const UKI_PATH: &str = "EFI/BOOT/BOOTX64.EFI";
/// Largest UKI read into memory.
const MAX_UKI: u64 = 512 << 20;
/// ESP directories whose files systemd-stub measures as extras.
const EXTRA_DIRS: [&str; 3] = ["EFI/BOOT/BOOTX64.EFI.extra.d", "loader/credentials", "loader/addons"];

#[derive(Args)]
pub struct PredictArgs {
    /// The podvm disk image: raw, qcow2 or fixed VHD.
    disk: PathBuf,
    /// Banks to predict (repeatable).
    #[arg(long, default_values_t = [HashAlg::Sha256])]
    bank: Vec<HashAlg>,
    /// PCRs to predict.
    #[arg(long, value_delimiter = ',', default_values_t = [3, 9, 11, 12])]
    pcrs: Vec<u32>,
    /// Print the values and the events behind them as JSON.
    #[arg(long)]
    json: bool,
    /// Print every predicted extend on stderr.
    #[arg(long)]
    transcript: bool,
    /// Write the values as a release's measurements.json here (`-` for stdout).
    #[arg(short, long, value_name = "FILE", conflicts_with = "check")]
    output: Option<PathBuf>,
    /// Compare with a published measurements.json; exit 1 naming each PCR that differs.
    #[arg(long, value_name = "FILE")]
    check: Option<PathBuf>,
    /// With --check: a booted VM's TCG event log, to name the first event that differs.
    #[arg(long, value_name = "LOG", requires = "check")]
    eventlog: Option<PathBuf>,
}

pub fn run(args: PredictArgs) -> CmdResult {
    let label = display(&args.disk);
    let file =
        std::fs::File::open(&args.disk).map_err(|e| Failure::input(anyhow!("cannot read {label}: {e}")))?;
    let source = FileSource::new(file).map_err(|e| Failure::input(anyhow!("cannot read {label}: {e}")))?;
    let in_disk = |e: rvkit_disk::Error| Failure::input(anyhow::Error::new(e).context(label.clone()));
    let disk = Disk::open(source).map_err(in_disk)?;
    let esp = disk.esp().map_err(in_disk)?;
    let uki_bytes = esp.read_file(UKI_PATH, MAX_UKI).map_err(in_disk)?;
    let mut extras = EspExtras::default();
    for dir in EXTRA_DIRS {
        for name in esp.list(dir).map_err(in_disk)?.unwrap_or_default() {
            extras.files.push(format!("{dir}/{name}"));
        }
    }
    let in_uki = |e: rvkit_predict::Error| {
        Failure::input(anyhow::Error::new(e).context(format!("{label}: {UKI_PATH}")))
    };
    let uki = Uki::parse(&uki_bytes).map_err(in_uki)?;
    let mut banks = args.bank.clone();
    if let Some(path) = &args.check {
        let (published, warnings) = Measurements::parse_labeled(&read_input(path)?, &display(path))
            .map_err(|e| Failure::input(anyhow!("{}: {e}", display(path))))?;
        for w in warnings {
            warn(w);
        }
        banks = published.banks().collect();
        let prediction = predict(&uki, &extras, &banks).map_err(in_uki)?;
        eprintln!(
            "{label}: {} disk, UKI {UKI_PATH} with systemd-stub {}, {} of {} bytes read",
            disk.format().name(),
            uki.stub_version(),
            disk.bytes_read(),
            std::fs::metadata(&args.disk).map(|m| m.len()).unwrap_or(0)
        );
        let values: Vec<(HashAlg, u32, rvkit_pcr::Digest)> = banks
            .iter()
            .flat_map(|&alg| {
                published
                    .bank(alg)
                    .unwrap_or_default()
                    .iter()
                    .map(move |(p, d)| (alg, u32::from(p.get()), *d))
            })
            .collect();
        let booted = match &args.eventlog {
            Some(path) => Some(
                EventLog::parse(&read_input(path)?)
                    .map_err(|e| Failure::input(anyhow!("{}: {e}", display(path))))?,
            ),
            None => None,
        };
        let booted_events = |alg: HashAlg| -> Vec<BootedEvent> {
            booted
                .iter()
                .flat_map(|log| log.events().iter())
                .filter(|e| e.number > 0 && e.extends())
                .map(|e| BootedEvent {
                    number: e.number,
                    pcr: e.pcr,
                    digest: e.digest(alg).cloned(),
                    summary: e.summary(),
                })
                .collect()
        };
        let report = check(
            &prediction,
            &values,
            booted.as_ref().map(|_| &booted_events as &dyn Fn(HashAlg) -> Vec<BootedEvent>),
        );
        let out = if args.json {
            format!("{}\n", serde_json::to_string_pretty(&report)?)
        } else {
            report.to_string()
        };
        write_output(None, out.as_bytes())?;
        if !report.ok() {
            let differing: Vec<String> = report
                .pcrs
                .iter()
                .filter(|c| !c.matches)
                .map(|c| format!("{}:pcr{:02}", c.bank, c.pcr))
                .collect();
            return Err(Failure::invalid(anyhow!(
                "{} differs from the prediction at {}",
                display(path),
                differing.join(", ")
            )));
        }
        return Ok(());
    }

    let prediction = predict(&uki, &extras, &banks).map_err(in_uki)?;
    if args.transcript {
        let log = prediction.event_log();
        let replay = log.replay().map_err(Failure::input)?;
        for alg in &banks {
            if let Some(t) = replay.transcript(*alg) {
                eprintln!("# {alg} bank");
                eprint!("{t}");
            }
        }
    }
    if let Some(path) = &args.output {
        let mut m = Measurements::new();
        for (_, pcr, value) in prediction.values(&banks, &args.pcrs) {
            m.insert(PcrIndex::new(pcr).map_err(Failure::input)?, value).map_err(Failure::input)?;
        }
        return Ok(write_output(Some(path), m.to_json().as_bytes())?);
    }
    let report = prediction.report(&banks, &args.pcrs);
    let out =
        if args.json { format!("{}\n", serde_json::to_string_pretty(&report)?) } else { report.to_string() };
    write_output(None, out.as_bytes())?;
    Ok(())
}
