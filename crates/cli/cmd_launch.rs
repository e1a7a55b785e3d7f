//! `rvkit launch ...`: bare-metal launch values (SEV-SNP launch digest, TDX
//! MRTD and RTMR2) computed from the firmware, kernel, initrd and command line.

use std::path::PathBuf;

use anyhow::anyhow;
use clap::{Args, Subcommand, ValueEnum};
use rvkit_launch::Firmware;
use rvkit_launch::report::{SevReport, ValueEncoding};
use rvkit_launch::request::{
    DEFAULT_MEMORY_MIB, KernelDigests, Rtmr0Files, SnpRequest, TdxRequest, parse_number, snp_report,
    tdx_report,
};
use rvkit_launch::snp::{self, SevHashes, VmmType};
use rvkit_pcr::{HashAlg, hash_reader};
use rvkit_rvps::{ConfigMapOptions, Expiration, Format, ReferenceValue, ReferenceValueSet, RvName};

use crate::CmdResult;
use crate::io::{display, now_unix, read_input, write_output};

#[derive(Subcommand)]
pub enum Command {
    /// The SEV-SNP launch digest (`snp_launch_measurement`) for each vCPU count.
    Snp(SnpArgs),
    /// A legacy SEV or SEV-ES launch digest (SHA-256; Trustee has no verifier for these).
    Sev(SevArgs),
    /// TDX MRTD (`mr_td`) and, for direct kernel boot, RTMR1 and RTMR2 (`rtmr_1`, `rtmr_2`,
    /// `tdvfkernel`, `tdvfkernelparams`), and RTMR0 (`rtmr_0`) from QEMU's fw_cfg files.
    Tdx(TdxArgs),
}

#[derive(Args)]
pub struct Boot {
    /// The OVMF firmware image QEMU loads.
    #[arg(long, value_name = "FILE")]
    ovmf: PathBuf,
    /// The kernel booted directly (QEMU -kernel).
    #[arg(long, value_name = "FILE")]
    kernel: Option<PathBuf>,
    /// The initrd (QEMU -initrd).
    #[arg(long, value_name = "FILE", requires = "kernel")]
    initrd: Option<PathBuf>,
    /// The kernel command line (QEMU -append).
    #[arg(long, value_name = "CMDLINE", requires = "kernel")]
    append: Option<String>,
}

#[derive(Args)]
pub struct Output {
    /// Print JSON.
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// List every measured region (section, GPA range, page type) and event.
    #[arg(long)]
    transcript: bool,
    /// Print Trustee reference values in this format instead of the report, as
    /// `rvkit rvps emit --format` does: array (Trustee <= v0.18), kv (v0.19+),
    /// sample (RVPS register message).
    // `--reference-values` was this flag's first name; everywhere else it names a file.
    #[arg(long, value_name = "FORMAT", alias = "reference-values")]
    format: Option<Format>,
    /// Write values as base64 instead of hex (Trustee v0.17 and earlier compare base64).
    #[arg(long, requires = "format")]
    base64: bool,
    /// Expiration, exactly YYYY-MM-DDTHH:MM:SSZ [default: 12 months from today, 00:00:00Z].
    #[arg(long, value_name = "T", requires = "format")]
    expiration: Option<Expiration>,
    /// Wrap the reference values in a Kubernetes ConfigMap.
    #[arg(long, requires = "format")]
    configmap: bool,
    /// Write here (atomically) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Vmm {
    Qemu,
    Ec2,
    Gce,
}

#[derive(Args)]
pub struct SnpArgs {
    #[command(flatten)]
    boot: Boot,
    /// vCPU count, or an inclusive range such as 1-32 (one value per count).
    #[arg(long, value_name = "N|A-B", default_value = "1")]
    vcpus: String,
    /// QEMU CPU model (EPYC, EPYC-v1..v4, EPYC-Rome, EPYC-Milan, EPYC-Genoa, EPYC-Turin, ...)
    /// [default with --kata: EPYC-v4].
    #[arg(long, value_name = "NAME", conflicts_with = "vcpu_family")]
    vcpu_type: Option<String>,
    /// CPU family, with --vcpu-model and --vcpu-stepping, instead of --vcpu-type.
    #[arg(long, value_name = "N", requires_all = ["vcpu_model", "vcpu_stepping"])]
    vcpu_family: Option<u32>,
    /// CPU model number.
    #[arg(long, value_name = "N", requires = "vcpu_family")]
    vcpu_model: Option<u32>,
    /// CPU stepping.
    #[arg(long, value_name = "N", requires = "vcpu_family")]
    vcpu_stepping: Option<u32>,
    /// The hypervisor.
    #[arg(long, value_enum, default_value = "qemu")]
    vmm: Vmm,
    /// SEV_FEATURES of the VMSAs: 0x1 for host kernels before 6.6 and from 6.8, 0x21 for 6.6-6.7.
    #[arg(long, value_name = "HEX", default_value = "0x1")]
    guest_features: String,
    /// The launch digest after the firmware pages, printed earlier as "firmware hash";
    /// skips hashing the firmware (its metadata is still read).
    #[arg(long, value_name = "HEX")]
    ovmf_hash: Option<String>,
    /// Kata Containers: `nr_cpus=` in --append follows the vCPU count, and the CPU type defaults to EPYC-v4.
    #[arg(long)]
    kata: bool,
    #[command(flatten)]
    out: Output,
}

#[derive(Args)]
pub struct SevArgs {
    #[command(flatten)]
    boot: Boot,
    /// SEV-ES: also measure one VMSA per vCPU.
    #[arg(long)]
    es: bool,
    /// vCPU count (SEV-ES).
    #[arg(long, value_name = "N", default_value_t = 1, requires = "es")]
    vcpus: u32,
    /// QEMU CPU model (SEV-ES).
    #[arg(long, value_name = "NAME", requires = "es")]
    vcpu_type: Option<String>,
    /// The hypervisor (SEV-ES).
    #[arg(long, value_enum, default_value = "qemu", requires = "es")]
    vmm: Vmm,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Write here (atomically) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("memory_users").args(["qemu_kernel_patch", "fw_cfg"]).multiple(true)))]
pub struct TdxArgs {
    #[command(flatten)]
    boot: Boot,
    /// Measure the kernel with the setup header older QEMU builds (Ubuntu 25.04's,
    /// RHEL's QEMU 9.1) patch before OVMF measures it into RTMR1.
    #[arg(long, requires = "kernel")]
    qemu_kernel_patch: bool,
    /// The guest's memory in MiB (QEMU -m), where that patch places the initrd and from
    /// which QEMU builds the TD HOB that RTMR0 measures.
    #[arg(long, value_name = "MIB", default_value_t = DEFAULT_MEMORY_MIB, requires = "memory_users")]
    memory: u64,
    /// Compute RTMR0 (`rtmr_0`), with this QEMU fw_cfg file: give etc/table-loader and each
    /// file it allocates (etc/acpi/tables, etc/acpi/rsdp, ...), as a booted guest of the same
    /// QEMU command line shows them in /sys/firmware/qemu_fw_cfg/by_name/NAME/raw.
    #[arg(long = "fw-cfg", value_name = "NAME=FILE", requires = "kernel", value_parser = parse_fw_cfg)]
    fw_cfg: Vec<(String, PathBuf)>,
    /// The TD HOB QEMU wrote, for RTMR0 (default: built from --memory as QEMU builds it).
    #[arg(long, value_name = "FILE", requires = "fw_cfg")]
    td_hob: Option<PathBuf>,
    /// What the firmware's SecureBoot variable reads, for RTMR0: absent (built without Secure
    /// Boot, as OVMF.inteltdx.fd) or 0 (Secure Boot built in, no keys enrolled, as OVMF.fd).
    #[arg(long, value_name = "absent|0", default_value = "absent", requires = "fw_cfg")]
    secure_boot_variable: rvkit_launch::rtmr0::SecureBootVariable,
    #[command(flatten)]
    out: Output,
}

pub fn run(cmd: Command) -> CmdResult {
    // Refused before any firmware is read, as every writer of reference
    // values refuses an expiration that has passed.
    if let Command::Snp(SnpArgs { out, .. }) | Command::Tdx(TdxArgs { out, .. }) = &cmd
        && let Some(e) = out.expiration
    {
        e.require_future("--expiration", now_unix())?;
    }
    match cmd {
        Command::Snp(args) => run_snp(args),
        Command::Sev(args) => run_sev(args),
        Command::Tdx(args) => run_tdx(args),
    }
}

impl Boot {
    /// The SHA-256 of the kernel and of the initrd (empty when not given)
    /// for the SEV hashes table; `None` without a kernel.
    fn sha256_digests(&self) -> anyhow::Result<Option<KernelDigests>> {
        let Some(k) = &self.kernel else { return Ok(None) };
        let initrd = match &self.initrd {
            Some(i) => sha256_file(i)?,
            None => HashAlg::Sha256.hash(b"").as_bytes().try_into().expect("32 bytes"),
        };
        Ok(Some(KernelDigests { kernel: sha256_file(k)?, initrd }))
    }
}

fn sha256_file(path: &PathBuf) -> anyhow::Result<[u8; 32]> {
    let f = std::fs::File::open(path).map_err(|e| anyhow!("cannot read {}: {e}", display(path)))?;
    let d = hash_reader(HashAlg::Sha256, f).map_err(|e| anyhow!("cannot read {}: {e}", display(path)))?;
    Ok(d.as_bytes().try_into().expect("32 bytes"))
}

impl SnpArgs {
    /// The request the flags describe, checked before any file is read.
    fn request(&self) -> anyhow::Result<SnpRequest> {
        let b = &self.boot;
        let req = SnpRequest {
            ovmf: b.ovmf.clone(),
            kernel: b.kernel.clone(),
            initrd: b.initrd.clone(),
            append: b.append.clone(),
            vcpus: self.vcpus.parse().map_err(|e| anyhow!("--vcpus {e}"))?,
            vcpu_type: self.vcpu_type.clone(),
            vcpu_family: self.vcpu_family,
            vcpu_model: self.vcpu_model,
            vcpu_stepping: self.vcpu_stepping,
            vmm: vmm_type(self.vmm),
            guest_features: parse_number(&self.guest_features)
                .map_err(|e| anyhow!("--guest-features {e}"))?,
            ovmf_hash: self.ovmf_hash.clone(),
            kata: self.kata,
        };
        req.params().map_err(|e| match e {
            rvkit_launch::Error::UnknownCpuType { .. } => anyhow!("--vcpu-type: {e}"),
            rvkit_launch::Error::NoCpuModel => anyhow!(
                "give the vCPU model: --vcpu-type NAME, --vcpu-family/--vcpu-model/--vcpu-stepping, or --kata"
            ),
            rvkit_launch::Error::KataWithoutNrCpus => {
                anyhow!("--kata: --append has no nr_cpus= parameter to follow the vCPU count")
            }
            rvkit_launch::Error::BadOvmfHash { problem, .. } => anyhow!("--ovmf-hash: {problem}"),
            e => anyhow!(e),
        })?;
        Ok(req)
    }
}

fn run_snp(args: SnpArgs) -> CmdResult {
    let req = args.request()?;
    let ovmf_label = display(&req.ovmf);
    let (whole, end): (Vec<u8>, Vec<u8>);
    let fw = match read_firmware(&req.ovmf)? {
        FirmwareRead::Whole(bytes) => {
            whole = bytes;
            Firmware::parse(&whole)
        }
        FirmwareRead::End { end: bytes, len, pages } => {
            end = bytes;
            match Firmware::parse_end(&end, len, pages) {
                // Metadata before the end read: the whole image, then.
                Err(rvkit_launch::Error::BeforeEnd { .. }) => {
                    whole = read_input(&req.ovmf)?;
                    Firmware::parse(&whole)
                }
                r => r,
            }
        }
    }
    .map_err(|e| anyhow!("{ovmf_label}: {e}"))?;
    let digests = args.boot.sha256_digests()?;
    let report = snp_report(&req, &fw, digests.as_ref(), args.out.transcript)
        .map_err(|e| anyhow!("{ovmf_label}: {e}"))?;
    let rvs = report.reference_values(encoding(&args.out));
    emit(&args.out, || report.to_text(), || serde_json::to_string_pretty(&report), rvs)
}

/// The SHA-384 of one 4 KiB page.
type PageDigest = [u8; 48];

/// A firmware image as `launch snp` reads it.
enum FirmwareRead {
    /// The whole image.
    Whole(Vec<u8>),
    /// The image's last bytes, its length and the SHA-384 of each of its pages.
    End { end: Vec<u8>, len: usize, pages: Vec<PageDigest> },
}

/// Reads a firmware image for `launch snp`: from a regular file of whole
/// pages, its pages' digests (the contents digest of each PAGE_INFO) and its
/// last 64 KiB, where OVMF keeps its metadata; else the whole image.
///
/// The pages are read a piece at a time into one buffer per thread, which
/// stays in cache, and hashed on every core: a piece goes to the first
/// thread free, so the threads stay equally busy whatever the mix of uniform
/// pages (hashed once per value) and others, and however late a thread
/// starts. Reading the image into one buffer of its size instead cost a
/// page fault per 4 KiB and a copy to memory (`cargo xtask bench --launch`).
fn read_firmware(path: &std::path::Path) -> anyhow::Result<FirmwareRead> {
    use std::os::unix::fs::FileExt as _;
    /// Bytes read, then hashed, at a time.
    const PIECE: usize = 128 << 10;
    /// Bytes kept from the end of the image.
    const END: usize = 64 << 10;
    const PAGE: u64 = 4096;
    let file = match std::fs::File::open(path) {
        Ok(f) if path != std::path::Path::new("-") => f,
        _ => return Ok(FirmwareRead::Whole(read_input(path)?)),
    };
    let len = file.metadata().map(|m| if m.is_file() { m.len() } else { 0 }).unwrap_or(0);
    if len < 4 * PIECE as u64 || len > crate::io::MAX_INPUT || !len.is_multiple_of(PAGE) {
        return Ok(FirmwareRead::Whole(read_input(path)?));
    }
    let cannot = |e: std::io::Error| anyhow!("cannot read {}: {e}", path.display());
    let len = len as usize;
    let mut end = vec![0u8; END];
    file.read_exact_at(&mut end, (len - END) as u64).map_err(cannot)?;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || -> std::io::Result<Vec<(usize, Vec<PageDigest>)>> {
        let mut buf = vec![0u8; PIECE];
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(piece) =
                buf.get_mut(..PIECE.min(len.saturating_sub(i * PIECE))).filter(|p| !p.is_empty())
            else {
                return Ok(done);
            };
            file.read_exact_at(piece, (i * PIECE) as u64)?;
            done.push((i, snp::page_digests(piece)));
        }
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // The calling thread is one of the workers.
    let results = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mut results = vec![work()];
        for h in helpers {
            results.push(h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        }
        results
    });
    let mut pieces = Vec::with_capacity(len.div_ceil(PIECE));
    for r in results {
        pieces.extend(r.map_err(cannot)?);
    }
    pieces.sort_unstable_by_key(|(i, _)| *i);
    let pages = pieces.into_iter().flat_map(|(_, d)| d).collect();
    Ok(FirmwareRead::End { end, len, pages })
}

fn vmm_type(v: Vmm) -> VmmType {
    match v {
        Vmm::Qemu => VmmType::Qemu,
        Vmm::Ec2 => VmmType::Ec2,
        Vmm::Gce => VmmType::Gce,
    }
}

fn run_sev(args: SevArgs) -> CmdResult {
    let ovmf_label = display(&args.boot.ovmf);
    let es = match (args.es, &args.vcpu_type) {
        (false, _) => None,
        (true, None) => return Err(anyhow!("--es needs --vcpu-type").into()),
        (true, Some(t)) => {
            let sig = snp::cpu_type_signature(t).map_err(|e| anyhow!("--vcpu-type: {e}"))?;
            Some((vmm_type(args.vmm), sig, args.vcpus))
        }
    };
    let image = read_input(&args.boot.ovmf)?;
    let fw = Firmware::parse(&image).map_err(|e| anyhow!("{ovmf_label}: {e}"))?;
    let hashes = args
        .boot
        .sha256_digests()?
        .map(|d| SevHashes::from_digests(d.kernel, d.initrd, args.boot.append.as_deref()));
    let digest =
        snp::sev_launch_digest(&fw, hashes.as_ref(), es).map_err(|e| anyhow!("{ovmf_label}: {e}"))?;
    let report = SevReport {
        mode: if es.is_some() { "sev-es" } else { "sev" },
        vmm: es.map(|e| e.0),
        vcpus: es.map(|e| e.2),
        vcpu_signature: es.map(|e| e.1),
        kernel_hashes: hashes.is_some(),
        launch_digest: digest,
    };
    let text = if args.json {
        let mut s = serde_json::to_string_pretty(&report)?;
        s.push('\n');
        s
    } else {
        report.to_text()
    };
    write_output(args.output.as_ref(), text.as_bytes())?;
    Ok(())
}

/// `NAME=FILE` of `--fw-cfg`.
fn parse_fw_cfg(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((name, file)) if !name.is_empty() && !file.is_empty() => Ok((name.to_owned(), file.into())),
        _ => Err(format!("{s:?}: expected NAME=FILE, as etc/table-loader=loader.bin")),
    }
}

/// A TDX computation's error, named after the input it is about: the TD
/// HOB file, the table loader, the fw_cfg files asked for, else the firmware.
pub(crate) fn tdx_error(req: &TdxRequest, e: rvkit_launch::Error) -> anyhow::Error {
    use rvkit_launch::Error as E;
    let label = match (&e, &req.td_hob) {
        (E::TdHob { .. }, Some(hob)) => display(hob),
        (E::TableLoader { .. }, _) => match req.fw_cfg.get(rvkit_launch::rtmr0::TABLE_LOADER) {
            Some(loader) => display(loader),
            None => display(&req.ovmf),
        },
        (E::MissingFwCfg { .. }, _) => "--fw-cfg".to_owned(),
        _ => display(&req.ovmf),
    };
    anyhow!("{label}: {e}")
}

/// The files a TDX request names for RTMR0, read.
pub(crate) struct Rtmr0Bytes {
    fw_cfg: Vec<(String, Vec<u8>)>,
    td_hob: Option<Vec<u8>>,
}

impl Rtmr0Bytes {
    pub(crate) fn read(req: &TdxRequest) -> anyhow::Result<Rtmr0Bytes> {
        let fw_cfg =
            req.fw_cfg.iter().map(|(n, p)| Ok((n.clone(), read_input(p)?))).collect::<anyhow::Result<_>>()?;
        Ok(Rtmr0Bytes { fw_cfg, td_hob: req.td_hob.as_deref().map(read_input).transpose()? })
    }

    pub(crate) fn files(&self) -> Rtmr0Files<'_> {
        Rtmr0Files {
            fw_cfg: self.fw_cfg.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect(),
            td_hob: self.td_hob.as_deref(),
        }
    }
}

fn run_tdx(args: TdxArgs) -> CmdResult {
    let b = &args.boot;
    let mut fw_cfg = std::collections::BTreeMap::new();
    for (name, path) in args.fw_cfg {
        if fw_cfg.insert(name.clone(), path).is_some() {
            return Err(anyhow!("--fw-cfg {name} is given twice").into());
        }
    }
    let req = TdxRequest {
        ovmf: b.ovmf.clone(),
        kernel: b.kernel.clone(),
        initrd: b.initrd.clone(),
        append: b.append.clone(),
        qemu_kernel_patch: args.qemu_kernel_patch,
        memory: args.memory,
        fw_cfg,
        td_hob: args.td_hob,
        secure_boot_variable: args.secure_boot_variable,
    };
    req.check()?;
    let rtmr0 = Rtmr0Bytes::read(&req)?;
    let ovmf_label = display(&req.ovmf);
    let image = read_input(&req.ovmf)?;
    let fw = Firmware::parse(&image).map_err(|e| anyhow!("{ovmf_label}: {e}"))?;
    let kernel_authenticode = match &req.kernel {
        None => None,
        Some(k) => {
            let initrd_len = match &req.initrd {
                Some(p) => {
                    Some(std::fs::metadata(p).map_err(|e| anyhow!("cannot read {}: {e}", display(p)))?.len())
                }
                None => None,
            };
            Some(kernel_authenticode(&req, k, &read_input(k)?, initrd_len)?)
        }
    };
    let initrd_sha384 = match &req.initrd {
        None => None,
        Some(p) => {
            let f = std::fs::File::open(p).map_err(|e| anyhow!("cannot read {}: {e}", display(p)))?;
            Some(hash_reader(HashAlg::Sha384, f).map_err(|e| anyhow!("cannot read {}: {e}", display(p)))?)
        }
    };
    let report =
        tdx_report(&req, &fw, kernel_authenticode, initrd_sha384, &rtmr0.files(), args.out.transcript)
            .map_err(|e| tdx_error(&req, e))?;
    let rvs = report.reference_values(encoding(&args.out));
    emit(&args.out, || report.to_text(), || serde_json::to_string_pretty(&report), rvs)
}

/// The Authenticode SHA-384 of the kernel image OVMF measures for `req`
/// (the file `path` holds, patched as older QEMU does when asked).
pub(crate) fn kernel_authenticode(
    req: &TdxRequest,
    path: &std::path::Path,
    bytes: &[u8],
    initrd_len: Option<u64>,
) -> anyhow::Result<rvkit_pcr::Digest> {
    let image = req.kernel_image(bytes, initrd_len).map_err(|e| anyhow!("{}: {e}", display(path)))?;
    let pe = rvkit_pe::PeFile::parse(&image).map_err(|e| anyhow!("{}: {e}", display(path)))?;
    Ok(pe.authenticode(HashAlg::Sha384))
}

fn encoding(out: &Output) -> ValueEncoding {
    if out.base64 { ValueEncoding::Base64 } else { ValueEncoding::Hex }
}

/// Prints the report (text or JSON) or its reference values through rvps's renderer.
fn emit(
    out: &Output,
    text: impl FnOnce() -> String,
    json: impl FnOnce() -> serde_json::Result<String>,
    rvs: Vec<(&'static str, Vec<String>)>,
) -> CmdResult {
    let bytes = match out.format {
        None if out.json => {
            let mut s = json()?;
            s.push('\n');
            s
        }
        None => text(),
        Some(format) => {
            let expiration = out.expiration.unwrap_or_else(|| Expiration::default_at(now_unix()));
            let values = rvs
                .into_iter()
                .map(|(name, vals)| Ok(ReferenceValue::new(RvName::new(name)?, expiration, vals.into())))
                .collect::<Result<Vec<_>, rvkit_rvps::Error>>()?;
            let set = ReferenceValueSet::from_values(values)?;
            eprintln!("note: {}", format.note());
            if out.configmap {
                rvkit_rvps::render_configmap(&set, format, &ConfigMapOptions::default())?
            } else {
                rvkit_rvps::render(&set, format)
            }
        }
    };
    write_output(out.output.as_ref(), bytes.as_bytes())?;
    Ok(())
}
