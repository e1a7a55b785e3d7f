//! `rvkit podvm predict`: the PCRs a podvm disk boots to, from the disk alone;
//! and the one way a disk (a file, or taken out of a verified podvm image)
//! becomes a prediction, which `rvps emit --predict` and `bundle --predict`
//! use too.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::Args;
use rvkit_disk::{Disk, FileSource};
use rvkit_pcr::eventlog::EventLog;
use rvkit_pcr::{HashAlg, PcrIndex};
use rvkit_podvm::{ImageAccess, ImagePath, ImageRef, SpoolRequest, VerifiedImage};
use rvkit_predict::{
    BootedEvent, CheckReport, EspExtras, ExtraDir, Firmware, Options, Prediction, Uki, check, predict_with,
    predicted_pcrs,
};
use rvkit_rvps::Measurements;

use crate::io::{display, note, read_input, warn, write_output};
use crate::output::Scratch;
use crate::{CmdResult, Failure};

/// Where a podvm's ESP keeps the UKI firmware boots by default.
const UKI_PATH: &str = "EFI/BOOT/BOOTX64.EFI";
/// Largest UKI read into memory.
const MAX_UKI: u64 = 512 << 20;
/// Largest ESP credential read into memory.
const MAX_CREDENTIAL: u64 = 16 << 20;

#[derive(Args)]
pub struct PredictArgs {
    /// The podvm disk image (raw, qcow2 or fixed VHD), or a podvm image holding
    /// /image/podvm.qcow2 (docker://HOST/REPO[:TAG|@DIGEST], HOST/REPO:TAG,
    /// oci:DIR[:TAG] or oci-archive:FILE[:TAG]); an existing file is a disk.
    #[arg(value_name = "DISK|IMAGE")]
    disk: String,
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
    #[command(flatten)]
    budget: DiskBudget,
    #[command(flatten)]
    access: ImageAccess,
}

/// The disk space a disk taken out of a podvm image may use.
#[derive(Args)]
pub struct DiskBudget {
    /// The largest disk image taken out of a podvm image into the temporary
    /// directory ($TMPDIR), in bytes or with K, M, G or T (powers of 1024) [default: 16G].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub disk_budget: Option<u64>,
}

/// Parses a size: a number of bytes, or with a K, M, G or T suffix
/// (powers of 1024, optionally followed by `iB` or `B`).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t.strip_suffix("iB").or_else(|| t.strip_suffix('B')).unwrap_or(t);
    let (digits, shift) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(format!("{s:?} is not a size (a number, optionally with K, M, G or T)")),
            };
            (&t[..i], shift)
        }
        _ => (t, 0),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size (a number, optionally with K, M, G or T)"))?;
    n.checked_mul(1 << shift).ok_or_else(|| format!("{s:?} is too large"))
}

/// How `rvps emit --image` and `bundle` use a prediction
/// (`--predict[=use|check]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PredictMode {
    /// The predicted values replace the image's measurements.json.
    Use,
    /// The image's measurements.json is used, after it was checked against
    /// the prediction.
    Check,
}

impl std::str::FromStr for PredictMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("use") {
            Ok(PredictMode::Use)
        } else if s.eq_ignore_ascii_case("check") {
            Ok(PredictMode::Check)
        } else {
            Err(format!("{s:?} is not use or check"))
        }
    }
}

/// True if `arg` names an image rather than a disk file: an existing file
/// is a disk; otherwise a transport prefix or a `HOST/REPO:TAG` (or
/// `@DIGEST`) shape names an image.
fn is_image(arg: &str) -> bool {
    if Path::new(arg).is_file() {
        return false;
    }
    ["docker://", "oci:", "oci-archive:"].iter().any(|p| arg.starts_with(p))
        || (arg.contains('/') && (arg.contains(':') || arg.contains('@')) && !Path::new(arg).exists())
}

/// A podvm disk ready to predict from: a file given, or one taken out of a
/// verified podvm image into a scratch file.
pub struct DiskInput {
    /// How the disk is named in messages.
    pub label: String,
    path: PathBuf,
    /// The image it came from, as verified.
    pub verified: Option<VerifiedImage>,
    /// The image's `measurements.json`, when asked for.
    pub published: Option<Vec<u8>>,
    /// Removes the scratch file when the input is dropped.
    _scratch: Option<Scratch>,
}

/// Opens `arg` as a disk file or takes the disk out of the podvm image it
/// names (verified with `access`, within `budget`), with the image's
/// measurements.json too if `with_published`.
pub fn open_disk(
    arg: &str,
    access: &ImageAccess,
    budget: &DiskBudget,
    with_published: bool,
) -> Result<DiskInput, Failure> {
    if !is_image(arg) {
        if *access != ImageAccess::default() || budget.disk_budget.is_some() {
            return Err(Failure::input(anyhow!(
                "{arg} is a disk file: the image access options and --disk-budget apply only to an image"
            )));
        }
        return Ok(DiskInput {
            label: arg.to_owned(),
            path: PathBuf::from(arg),
            verified: None,
            published: None,
            _scratch: None,
        });
    }
    let reference = ImageRef::parse(arg).map_err(Failure::input)?;
    let disk_path = ImagePath::parse(rvkit_podvm::DISK_PATH).map_err(Failure::input)?;
    let budget = budget.disk_budget.unwrap_or(rvkit_podvm::DEFAULT_SPOOL_BUDGET);
    let also = if with_published {
        Some((
            ImagePath::parse(rvkit_podvm::DEFAULT_PATH).map_err(Failure::input)?,
            rvkit_podvm::DEFAULT_MAX_SIZE,
        ))
    } else {
        None
    };
    let request = SpoolRequest { path: disk_path, budget, also };
    let (pull, verify) = crate::cmd_podvm::options(access)?;
    let (scratch, file) = Scratch::create(rvkit_podvm::DISK_PATH)?;
    let spooled = crate::cmd_podvm::runtime()?
        .block_on(rvkit_podvm::fetch_to_spool(
            &reference,
            &request,
            &pull,
            &verify,
            crate::cmd_podvm::progress(),
            file,
        ))
        .map_err(|e| match e {
            rvkit_podvm::Error::FileTooLarge { image, path, size, limit }
                if path == rvkit_podvm::DISK_PATH =>
            {
                Failure::input(anyhow!(
                    "{path} in {image} is {size} bytes, more than the disk budget of {limit} bytes \
                 (raise it with --disk-budget)"
                ))
            }
            e => crate::cmd_podvm::podvm_failure(e),
        })?;
    let label = format!("{}:{}", spooled.verified.pinned, rvkit_podvm::DISK_PATH);
    Ok(DiskInput {
        label,
        path: scratch.path().to_owned(),
        verified: Some(spooled.verified),
        published: spooled.also,
        _scratch: Some(scratch),
    })
}

/// A prediction and what reading the disk took.
pub struct Predicted {
    /// The events and values.
    pub prediction: Prediction,
    /// One line on what was read: the disk's format, the UKI and its stub,
    /// the bytes read of the disk's size.
    pub summary: String,
}

/// Finds the UKI and the extras systemd-stub measures on the disk's ESP and
/// predicts its PCRs in `banks`: the one rule by which `podvm predict`,
/// `rvps emit --predict` and `bundle --predict` read a disk.
pub fn predict_disk(input: &DiskInput, banks: &[HashAlg], options: &Options) -> Result<Predicted, Failure> {
    let label = &input.label;
    let file =
        std::fs::File::open(&input.path).map_err(|e| Failure::input(anyhow!("cannot read {label}: {e}")))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
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
    let in_uki = |e: rvkit_predict::Error| {
        Failure::input(anyhow::Error::new(e).context(format!("{label}: {UKI_PATH}")))
    };
    let uki = Uki::parse(&uki_bytes).map_err(in_uki)?;
    let prediction = predict_with(&uki, &extras, banks, options).map_err(in_uki)?;
    let summary = format!(
        "{label}: {} disk, UKI {UKI_PATH} with systemd-stub {}, {} of {size} bytes read",
        disk.format().name(),
        uki.stub_version(),
        disk.bytes_read(),
    );
    Ok(Predicted { prediction, summary })
}

/// The predicted values of `pcrs` in `banks`, in the shape of a release's
/// measurements.json.
pub fn predicted_measurements(
    prediction: &Prediction,
    banks: &[HashAlg],
    pcrs: &[u32],
) -> Result<Measurements, Failure> {
    let mut m = Measurements::new();
    for (_, pcr, value) in prediction.values(banks, pcrs) {
        m.insert(PcrIndex::new(pcr).map_err(Failure::input)?, value).map_err(Failure::input)?;
    }
    Ok(m)
}

/// Checks every value of `published` against the prediction.
fn check_published(
    prediction: &Prediction,
    published: &Measurements,
    booted: Option<&dyn Fn(HashAlg) -> Vec<BootedEvent>>,
) -> CheckReport {
    let values: Vec<(HashAlg, u32, rvkit_pcr::Digest)> = published
        .banks()
        .flat_map(|alg| {
            published.bank(alg).unwrap_or_default().iter().map(move |(p, d)| (alg, u32::from(p.get()), *d))
        })
        .collect();
    check(prediction, &values, booted)
}

/// The error for a PCR the prediction does not cover, naming the option
/// that would add it.
fn unpredicted(pcr: u32) -> Failure {
    let need = match pcr {
        4 | 7 => ": give --firmware ovmf",
        8 => ": give --initdata",
        _ => "",
    };
    Failure::input(anyhow!("PCR {pcr} is not predicted{need}"))
}

/// Refuses a published file holding a PCR the prediction with `options`
/// does not cover, rather than comparing it with a value never predicted.
fn refuse_unpredicted(published: &Measurements, options: &Options) -> Result<(), Failure> {
    let predictable = predicted_pcrs(options);
    for alg in published.banks() {
        for (pcr, _) in published.bank(alg).unwrap_or_default() {
            if !predictable.contains(&u32::from(pcr.get())) {
                return Err(unpredicted(u32::from(pcr.get())));
            }
        }
    }
    Ok(())
}

/// The error for a published file that differs from the prediction (exit 1).
fn differs(what: &str, report: &CheckReport) -> Failure {
    let differing: Vec<String> =
        report.pcrs.iter().filter(|c| !c.matches).map(|c| format!("{}:pcr{:02}", c.bank, c.pcr)).collect();
    Failure::invalid(anyhow!("{what} differs from the prediction at {}", differing.join(", ")))
}

/// The measurements `rvps emit --image --predict` and `bundle --predict`
/// take from `image`: the predicted PCRs 3, 9, 11 and 12 in `bank`
/// ([`PredictMode::Use`]), or the image's measurements.json after it was
/// checked against the prediction in its own banks ([`PredictMode::Check`];
/// exit 1 naming each PCR that differs, the check report on stderr).
/// Returns a label naming where the values came from, and the values.
pub fn image_measurements(
    image: &str,
    access: &ImageAccess,
    budget: &DiskBudget,
    mode: PredictMode,
    bank: HashAlg,
) -> Result<(String, Measurements), Failure> {
    let input = open_disk(image, access, budget, mode == PredictMode::Check)?;
    let pinned = input.verified.as_ref().map(|v| v.pinned.to_string()).unwrap_or_else(|| image.to_owned());
    match mode {
        PredictMode::Use => {
            let predicted = predict_disk(&input, &[bank], &Options::default())?;
            crate::io::detail(&predicted.summary);
            let pcrs = predicted_pcrs(&Options::default());
            let m = predicted_measurements(&predicted.prediction, &[bank], &pcrs)?;
            Ok((format!("prediction from {}", input.label), m))
        }
        PredictMode::Check => {
            let label = format!("{pinned}:{}", rvkit_podvm::DEFAULT_PATH);
            let bytes = input.published.as_deref().unwrap_or_default();
            let (published, warnings) = Measurements::parse_labeled(bytes, &label)
                .map_err(|e| Failure::input(anyhow!("{label}: {e}")))?;
            for w in warnings {
                warn(w);
            }
            let banks: Vec<HashAlg> = published.banks().collect();
            refuse_unpredicted(&published, &Options::default())?;
            let predicted = predict_disk(&input, &banks, &Options::default())?;
            crate::io::detail(&predicted.summary);
            let report = check_published(&predicted.prediction, &published, None);
            if !report.ok() {
                eprint!("{report}");
                return Err(differs(&label, &report));
            }
            note(format_args!("note: {label} matches the prediction from {}", rvkit_podvm::DISK_PATH));
            Ok((label, published))
        }
    }
}

pub fn run(args: PredictArgs) -> CmdResult {
    let mut options = Options { firmware: args.firmware.as_ref().map(|_| Firmware::Ovmf), initdata: None };
    if let Some(path) = &args.initdata {
        let doc = rvkit_initdata::InitData::parse(&read_input(path)?)
            .map_err(|e| Failure::input(anyhow!("{}: {e}", display(path))))?;
        options.initdata = Some(rvkit_initdata::pcr8_from_digest(&doc.digest()).1.digest);
    }
    let predictable = predicted_pcrs(&options);
    let pcrs = args.pcrs.clone().unwrap_or_else(|| predictable.clone());
    if let Some(&pcr) = pcrs.iter().find(|p| !predictable.contains(p)) {
        return Err(unpredicted(pcr));
    }
    let input = open_disk(&args.disk, &args.access, &args.budget, false)?;
    if let Some(verified) = &input.verified {
        eprint!("{verified}");
    }
    let mut banks = args.bank.clone();
    if let Some(path) = &args.check {
        let (published, warnings) = Measurements::parse_labeled(&read_input(path)?, &display(path))
            .map_err(|e| Failure::input(anyhow!("{}: {e}", display(path))))?;
        for w in warnings {
            warn(w);
        }
        banks = published.banks().collect();
        refuse_unpredicted(&published, &options)?;
        let Predicted { prediction, summary } = predict_disk(&input, &banks, &options)?;
        eprintln!("{summary}");
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
        let report = check_published(
            &prediction,
            &published,
            booted.as_ref().map(|_| &booted_events as &dyn Fn(HashAlg) -> Vec<BootedEvent>),
        );
        let out = if args.json {
            format!("{}\n", serde_json::to_string_pretty(&report)?)
        } else {
            report.to_string()
        };
        write_output(None, out.as_bytes())?;
        if !report.ok() {
            return Err(differs(&display(path), &report));
        }
        return Ok(());
    }

    let prediction = predict_disk(&input, &banks, &options)?.prediction;
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
        let m = predicted_measurements(&prediction, &banks, &pcrs)?;
        return Ok(write_output(Some(path), m.to_json().as_bytes())?);
    }
    let report = prediction.report(&banks, &pcrs);
    let out =
        if args.json { format!("{}\n", serde_json::to_string_pretty(&report)?) } else { report.to_string() };
    write_output(None, out.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_modes() {
        assert_eq!(parse_size("16G"), Ok(16 << 30));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("3k"), Ok(3 << 10));
        assert_eq!(parse_size("1TB"), Ok(1 << 40));
        assert_eq!(parse_size("100"), Ok(100));
        for bad in ["", "G", "1X", "-1G", "1.5G"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_size("99999999999T"), Err("\"99999999999T\" is too large".to_owned()));
        assert_eq!("CHECK".parse(), Ok(PredictMode::Check));
        assert_eq!("use".parse(), Ok(PredictMode::Use));
        assert!("replace".parse::<PredictMode>().is_err());
    }

    #[test]
    fn disks_and_images_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a:b@c");
        std::fs::write(&file, b"").unwrap();
        assert!(!is_image(file.to_str().unwrap()));
        assert!(!is_image("podvm.qcow2"));
        for image in
            ["docker://r/p", "oci:dir", "oci-archive:f.tar:v1", "registry.example/podvm:v1", "r/p@sha256:00"]
        {
            assert!(is_image(image), "{image}");
        }
    }
}
