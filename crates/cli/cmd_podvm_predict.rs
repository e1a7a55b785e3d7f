//! `rvkit podvm predict`: the PCRs a podvm disk boots to, from the disk alone.

use std::path::PathBuf;

use anyhow::anyhow;
use clap::Args;
use rvkit_disk::{Disk, FileSource};
use rvkit_pcr::eventlog::EventLog;
use rvkit_pcr::{HashAlg, PcrIndex};
use rvkit_predict::{
    BootedEvent, EspExtras, ExtraDir, Firmware, Options, Uki, check, predict_with, predicted_pcrs,
};
use rvkit_rvps::Measurements;

use crate::io::{display, read_input, warn, write_output};
use crate::{CmdResult, Failure};

/// Where a podvm's ESP keeps the UKI firmware boots by default.
const UKI_PATH: &str = "EFI/BOOT/BOOTX64.EFI";
/// Largest UKI read into memory.
const MAX_UKI: u64 = 512 << 20;
/// Largest ESP credential read into memory.
const MAX_CREDENTIAL: u64 = 16 << 20;

#[derive(Args)]
pub struct PredictArgs {
    /// The podvm disk image: raw, qcow2 or fixed VHD.
    disk: PathBuf,
    /// Banks to predict (repeatable).
    #[arg(long, default_values_t = [HashAlg::Sha256])]
    bank: Vec<HashAlg>,
    /// PCRs to predict [default: 3,9,11,12, with 4,7 for --firmware and 8 for --initdata].
    #[arg(long, value_delimiter = ',')]
    pcrs: Option<Vec<u32>>,
    /// Also predict PCR 8 (SHA-256 bank) from this initdata document, as the podvm extends it.
    #[arg(long, value_name = "F")]
    initdata: Option<PathBuf>,
    /// Also predict PCRs 4 and 7 for this firmware profile. Only one is modelled: `ovmf` is
    /// Debian 12's OVMF (OVMF_CODE_4M.fd with its OVMF_VARS_4M.fd, secure boot off) on QEMU
    /// q35 with its default devices; other firmware measures other PCR 4 and 7 values.
    #[arg(long, value_name = "PROFILE", value_parser = ["ovmf"])]
    firmware: Option<String>,
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
    for dir in ExtraDir::ALL {
        for name in esp.list(&dir.path(UKI_PATH)).map_err(in_disk)?.unwrap_or_default() {
            if !name.ends_with('/') {
                extras
                    .add(dir, UKI_PATH, &name, |path| esp.read_file(path, MAX_CREDENTIAL))
                    .map_err(in_disk)?;
            }
        }
    }
    let mut options = Options { firmware: args.firmware.as_ref().map(|_| Firmware::Ovmf), initdata: None };
    if let Some(path) = &args.initdata {
        let doc = rvkit_initdata::InitData::parse(&read_input(path)?)
            .map_err(|e| Failure::input(anyhow!("{}: {e}", display(path))))?;
        options.initdata = Some(rvkit_initdata::pcr8_from_digest(&doc.digest()).1.digest);
    }
    let predictable = predicted_pcrs(&options);
    let unpredicted = |pcr: u32| {
        let need = match pcr {
            4 | 7 => ": give --firmware ovmf",
            8 => ": give --initdata",
            _ => "",
        };
        Failure::input(anyhow!("PCR {pcr} is not predicted{need}"))
    };
    let pcrs = args.pcrs.clone().unwrap_or_else(|| predictable.clone());
    if let Some(&pcr) = pcrs.iter().find(|p| !predictable.contains(p)) {
        return Err(unpredicted(pcr));
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
        for &alg in &banks {
            for (pcr, _) in published.bank(alg).unwrap_or_default() {
                if !predictable.contains(&u32::from(pcr.get())) {
                    return Err(unpredicted(u32::from(pcr.get())));
                }
            }
        }
        let prediction = predict_with(&uki, &extras, &banks, &options).map_err(in_uki)?;
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

    let prediction = predict_with(&uki, &extras, &banks, &options).map_err(in_uki)?;
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
        for (_, pcr, value) in prediction.values(&banks, &pcrs) {
            m.insert(PcrIndex::new(pcr).map_err(Failure::input)?, value).map_err(Failure::input)?;
        }
        return Ok(write_output(Some(path), m.to_json().as_bytes())?);
    }
    let report = prediction.report(&banks, &pcrs);
    let out =
        if args.json { format!("{}\n", serde_json::to_string_pretty(&report)?) } else { report.to_string() };
    write_output(None, out.as_bytes())?;
    Ok(())
}
