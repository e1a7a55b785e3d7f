//! `rvkit rvps ...`: reference values for Trustee's RVPS.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::{Args, Subcommand};
use rvkit_launch::Firmware;
use rvkit_launch::report::TdxReport;
use rvkit_launch::request::{KernelDigests, SnpRequest, TdxRequest, tdx_report};
use rvkit_launch::search::{SnpCandidates, parse_measurement, snp_candidates, tdx_candidates};
use rvkit_pcr::HashAlg;
use rvkit_policy::{
    CheckInputs, CheckReport, Claims, ClaimsSource, CoverageReport, Policy, TokenKey, TokenReport, check_tee,
    evaluate, policy_label, verify_ear,
};
use rvkit_rvps::{
    ConfigMapOptions, EmitInput, Expiration, Format, Measurements, PcrPrefix, Published, ReferenceValueSet,
    build, read_published,
};

use rvkit_podvm::ImageAccess;

use crate::cmd_launch::{kernel_authenticode, tdx_error};
use crate::cmd_podvm::fetch_measurements;
use crate::cmd_podvm_predict::{DiskBudget, PredictMode, image_measurements};
use crate::io::{display, note, now_unix, read_input, warn, write_output};
use crate::report::to_json;
use crate::{CmdResult, Failure};

// The enum is parsed once per run; boxing the large emit arguments would buy
// nothing but indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum Command {
    /// Turn podvm measurements and initdata into reference values.
    Emit(EmitArgs),
    /// Evaluate an attestation policy offline, as Trustee would, and explain failed comparisons.
    Check(CheckArgs),
    /// List the reference names a policy reads: present, missing, unused.
    Coverage(CoverageArgs),
    /// Compare two sets of reference values (any format, ConfigMaps included).
    Diff(DiffArgs),
    /// Merge sets of reference values (union of values per name, latest expiration).
    Merge(MergeArgs),
}

#[derive(Args)]
pub struct CheckArgs {
    /// Claims: the policy input as JSON, one TEE's claims (with --tee), an EAR token, or tpm2_pcrread output.
    #[arg(long, value_name = "FILE")]
    claims: PathBuf,
    /// Reference values: array, kv or sample format, or a ConfigMap of array or kv.
    #[arg(long, value_name = "FILE")]
    reference_values: PathBuf,
    /// The attestation policy: Rego, or its ConfigMap as `oc get configmap -o yaml` prints it
    /// [default: rvkit's built-in peer-pods policy in the style of the operator's].
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// The TEE of the claims (az-snp-vtpm, az-tdx-vtpm, snp, tdx, ...); needed for one TEE's bare claims.
    #[arg(long, value_name = "TEE")]
    tee: Option<String>,
    /// Initdata documents the pod may use, to explain a failing pcr08.
    #[arg(long, num_args = 1.., value_name = "FILE")]
    initdata: Vec<PathBuf>,
    /// The SEV-SNP launch the evidence should come from, to explain a failing
    /// snp_launch_measurement: the fields of rvkit launch snp's flags, e.g.
    /// ovmf=OVMF.fd,kernel=vmlinuz,append="...",vcpus=8,vcpu_type=EPYC-Milan (quoted
    /// as in CSV). The claim is compared with the digests of every vCPU count
    /// 1-64, CPU model, guest features 0x1/0x21 and VMM for these files.
    #[arg(long, value_name = "FIELDS")]
    launch_snp: Option<String>,
    /// The TDX launch the evidence should come from, to explain a failing mr_td,
    /// rtmr_1, rtmr_2, tdvfkernel or tdvfkernelparams: the fields of rvkit launch
    /// tdx's flags (ovmf=FILE[,kernel=FILE,initrd=FILE,append=CMDLINE,...]). A
    /// kernel is measured both as given and with older QEMU's setup-header patch.
    #[arg(long, value_name = "FIELDS")]
    launch_tdx: Option<String>,
    /// Verify the EAR token's ES256 signature first, with the token signer's
    /// certificate or public key (PEM) or its TLS Secret (the walkthrough's
    /// trustee-token-cert); a token that does not verify is refused (exit 1).
    #[arg(long, value_name = "FILE")]
    token_cert: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct CoverageArgs {
    /// The attestation policy: Rego or its ConfigMap.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Reference values in any format rvkit reads.
    #[arg(long, value_name = "FILE")]
    reference_values: PathBuf,
    /// Only rules of this TEE: those that read its claims, directly or through the rules they call.
    #[arg(long, value_name = "TEE")]
    tee: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Exit 1 if the policy queries names the reference values lack.
    #[arg(long)]
    fail_on_missing: bool,
}

#[derive(Args)]
pub struct DiffArgs {
    /// The old set.
    old: PathBuf,
    /// The new set.
    new: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Exit 1 if anything changed.
    #[arg(long)]
    fail_on_change: bool,
}

#[derive(Args)]
pub struct MergeArgs {
    /// Sets to merge, in order (any format rvkit reads).
    #[arg(required = true, num_args = 1..)]
    inputs: Vec<PathBuf>,
    /// Output format [default: the first input's, array for sample].
    #[arg(long)]
    format: Option<Format>,
    /// Expiration for names that come only from sample inputs (which carry none)
    /// [default: 12 months from today, 00:00:00Z].
    #[arg(long, value_name = "T")]
    expiration: Option<Expiration>,
    /// Wrap the result in a Kubernetes ConfigMap.
    #[arg(long)]
    configmap: bool,
    /// ConfigMap name [default: the first input ConfigMap's, else trusteeconfig-rvps-reference-values].
    #[arg(long, requires = "configmap")]
    name: Option<String>,
    /// ConfigMap namespace [default: the first input ConfigMap's, else trustee-operator-system].
    #[arg(long, requires = "configmap")]
    namespace: Option<String>,
    /// ConfigMap data key [default: the format's key].
    #[arg(long, requires = "configmap")]
    data_key: Option<String>,
    /// Write here (atomically) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Args)]
pub struct EmitArgs {
    /// measurements.json files of podvm images; several are merged.
    #[arg(long, num_args = 1.., value_name = "FILE", required_unless_present = "image")]
    measurements: Vec<PathBuf>,
    /// Podvm images to read measurements from, after verifying them: their
    /// manifest annotations or /image/measurements.json (see
    /// --measurements-from; repeatable; merged like several --measurements).
    #[arg(long, value_name = "IMAGE")]
    image: Vec<String>,
    /// With --image: the PCRs predicted from the image's /image/podvm.qcow2
    /// replace its measurements.json (`--predict`, `--predict=use`), or check
    /// it (`--predict=check`: exit 1 naming each PCR that differs).
    #[arg(
        long,
        value_name = "MODE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "use",
        requires = "image"
    )]
    predict: Option<PredictMode>,
    #[command(flatten)]
    budget: DiskBudget,
    #[command(flatten)]
    access: ImageAccess,
    /// Initdata documents whose PCR8 values are allowed.
    #[arg(long, num_args = 1.., value_name = "FILE")]
    initdata: Vec<PathBuf>,
    /// Also allow the PCR8 of the built-in dummy initdata (pods without an annotation).
    #[arg(long)]
    dummy_initdata: bool,
    /// vTPM PCR name prefixes to emit (snp_pcrNN, tdx_pcrNN), comma-separated.
    #[arg(
        long,
        value_name = "PREFIXES",
        value_delimiter = ',',
        default_value = "snp,tdx",
        alias = "platform"
    )]
    pcr_prefixes: Vec<PcrPrefix>,
    /// Measurement bank to read.
    #[arg(long, default_value = "sha256")]
    bank: HashAlg,
    /// Expiration, exactly YYYY-MM-DDTHH:MM:SSZ [default: 12 months from today, 00:00:00Z].
    #[arg(long, value_name = "T")]
    expiration: Option<Expiration>,
    /// Output format: array (Trustee <= v0.18), kv (v0.19+), sample (RVPS register message).
    #[arg(long, default_value = "array")]
    format: Format,
    /// Wrap the values in a Kubernetes ConfigMap.
    #[arg(long)]
    configmap: bool,
    /// ConfigMap name.
    #[arg(long, default_value = rvkit_rvps::DEFAULT_CONFIGMAP_NAME, requires = "configmap")]
    name: String,
    /// ConfigMap namespace.
    #[arg(long, default_value = rvkit_rvps::DEFAULT_NAMESPACE, requires = "configmap")]
    namespace: String,
    /// ConfigMap data key [default: reference-values.json for array, reference_value for kv].
    #[arg(long, requires = "configmap")]
    data_key: Option<String>,
    /// Write here (atomically) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Explain where every value came from, on stderr.
    #[arg(long)]
    transcript: bool,
}

pub fn run(cmd: Command) -> CmdResult {
    match cmd {
        Command::Emit(args) => emit(args),
        Command::Check(args) => check(&args),
        Command::Coverage(args) => coverage(&args),
        Command::Diff(args) => diff(&args),
        Command::Merge(args) => merge(args),
    }
}

fn emit(args: EmitArgs) -> CmdResult {
    // Refused before any image is pulled.
    let expiration = match args.expiration {
        Some(e) => e.require_future("--expiration", now_unix())?,
        None => default_expiration(),
    };
    let mut measurements = Vec::new();
    for path in &args.measurements {
        let label = display(path);
        let bytes = read_input(path)?;
        let (m, warnings) =
            Measurements::parse(&bytes).map_err(|e| anyhow::Error::new(e).context(label.clone()))?;
        for w in warnings {
            warn(format_args!("{label}: {w}"));
        }
        measurements.push((label, m));
    }
    for image in &args.image {
        if let Some(mode) = args.predict {
            measurements.push(image_measurements(image, &args.access, &args.budget, mode, args.bank)?);
            continue;
        }
        let fetched = fetch_measurements(image, &args.access, rvkit_podvm::DEFAULT_MAX_SIZE)?;
        let label = fetched.label();
        let (m, warnings) = Measurements::parse(&fetched.document)
            .map_err(|e| anyhow::Error::new(e).context(label.clone()))?;
        for w in warnings {
            warn(format_args!("{label}: {w}"));
        }
        measurements.push((label, m));
    }
    let mut initdata_bytes = Vec::new();
    for path in &args.initdata {
        initdata_bytes.push((display(path), read_input(path)?));
    }
    let input = EmitInput {
        measurements,
        initdata: initdata_bytes.iter().map(|(l, b)| (l.clone(), b.as_slice())).collect(),
        include_dummy_initdata: args.dummy_initdata,
        pcr_prefixes: args.pcr_prefixes,
        bank: args.bank,
        expiration,
    };
    let (set, warnings) = build(&input).map_err(Failure::input)?;
    for w in warnings {
        warn(w);
    }
    if args.transcript {
        eprint!("{}", set.transcript());
    }
    let text = if args.configmap {
        let opts = ConfigMapOptions { name: args.name, namespace: args.namespace, data_key: args.data_key };
        rvkit_rvps::render_configmap(&set, args.format, &opts)?
    } else {
        rvkit_rvps::render(&set, args.format)
    };
    note(format_args!("note: {}", args.format.note()));
    write_output(args.output.as_ref(), text.as_bytes())?;
    Ok(())
}

/// Twelve months from today at midnight UTC, Trustee's own default.
fn default_expiration() -> Expiration {
    Expiration::default_at(now_unix())
}

/// Reads reference values in any format, naming the file in errors.
fn read_values(path: &Path) -> Result<Published, Failure> {
    let bytes = read_input(path)?;
    read_published(&bytes).map_err(|e| Failure::input(anyhow::Error::new(e).context(display(path))))
}

fn read_policy(path: Option<&PathBuf>) -> Result<Policy, Failure> {
    match path {
        Some(p) => {
            let bytes = read_input(p)?;
            Policy::parse(&bytes).map_err(|e| Failure::input(anyhow!("{}: {e}", display(p))))
        }
        None => Policy::parse(rvkit_policy::PEER_PODS_POLICY.as_bytes()).map_err(Failure::input),
    }
}

fn check(args: &CheckArgs) -> CmdResult {
    let policy = read_policy(args.policy.as_ref())?;
    let claims_bytes = read_input(&args.claims)?;
    let claims = Claims::parse(&claims_bytes, args.tee.as_deref())
        .map_err(|e| Failure::input(anyhow!("{}: {e}", display(&args.claims))))?;
    let token = match &args.token_cert {
        None => None,
        Some(path) => {
            if claims.source() != ClaimsSource::EarToken {
                return Err(Failure::input(anyhow!(
                    "--token-cert verifies EAR tokens; {} is not one",
                    display(&args.claims)
                )));
            }
            let key = TokenKey::parse(&read_input(path)?)
                .map_err(|e| Failure::input(anyhow!("{}: {e}", display(path))))?;
            let text = String::from_utf8_lossy(&claims_bytes);
            let info = verify_ear(&text, &key).map_err(|e| {
                Failure::invalid(anyhow!("{}: {e} ({})", display(&args.claims), display(path)))
            })?;
            Some((display(path), info))
        }
    };
    let values = read_values(&args.reference_values)?;
    let mut initdata = Vec::new();
    for path in &args.initdata {
        initdata.push((display(path), read_input(path)?));
    }
    let launch = args.launch_snp.as_deref().map(LaunchInputs::read).transpose()?;
    let tdx = args.launch_tdx.as_deref().map(tdx_variants).transpose()?;
    let result = evaluate(&policy, &claims, &values.values).map_err(Failure::input)?;
    let now_unix = now_unix();
    let policy_file = args.policy.as_deref().map(display);
    let mut report = CheckReport::new(
        &result,
        CheckInputs {
            policy: &policy_label(policy_file.as_deref(), &policy),
            claims_label: &display(&args.claims),
            claims: &claims,
            reference_values_file: &display(&args.reference_values),
            reference_values: &values,
            initdata: &initdata,
            token: token.map(|(key, info)| TokenReport::new(&key, &info, now_unix)),
            now_unix,
        },
    );
    if let Some(launch) = &launch {
        report.explain_launch(|value| launch.candidates(value))?;
    }
    if let Some(variants) = &tdx {
        report.explain_tdx(|name, value| tdx_candidates(name, &parse_measurement(value)?, variants));
    }
    let out = if args.json { to_json(&report)? } else { report.to_string() };
    write_output(None, out.as_bytes())?;
    if !report.passes {
        return Err(Failure::invalid(anyhow!(
            "the policy does not affirm these claims ({}), {} failed comparison(s)",
            report.verdict,
            report.failed.len()
        )));
    }
    Ok(())
}

/// The files of `--launch-snp`, read before the policy is evaluated.
struct LaunchInputs {
    request: SnpRequest,
    firmware: Vec<u8>,
    kernel: Option<KernelDigests>,
}

impl LaunchInputs {
    fn read(fields: &str) -> Result<LaunchInputs, Failure> {
        let request: SnpRequest =
            rvkit_trustee::parse_flag_table("--launch-snp", fields).map_err(Failure::input)?;
        request.params().map_err(|e| Failure::input(anyhow!("--launch-snp: {e}")))?;
        let firmware = read_input(&request.ovmf)?;
        Firmware::parse(&firmware).map_err(|e| Failure::input(anyhow!("{}: {e}", display(&request.ovmf))))?;
        let kernel = match &request.kernel {
            Some(k) => {
                let initrd = request.initrd.as_deref().map(read_input).transpose()?;
                Some(KernelDigests::of(&read_input(k)?, initrd.as_deref()))
            }
            None => None,
        };
        Ok(LaunchInputs { request, firmware, kernel })
    }

    /// The shapes whose launch digest is `value`; `None` when `value` is no launch digest.
    fn candidates(&self, value: &str) -> Result<Option<SnpCandidates>, Failure> {
        let Some(target) = parse_measurement(value) else { return Ok(None) };
        let fw = Firmware::parse(&self.firmware).map_err(Failure::input)?;
        let found = snp_candidates(&self.request, &fw, self.kernel.as_ref(), &target)
            .map_err(|e| Failure::input(anyhow!("{}: {e}", display(&self.request.ovmf))))?;
        Ok(Some(found))
    }
}

/// The TDX values of `--launch-tdx`'s inputs, each with how they were
/// booted: the kernel as configured, then with the other setting of
/// `qemu_kernel_patch`.
fn tdx_variants(fields: &str) -> Result<Vec<(String, TdxReport)>, Failure> {
    let req: TdxRequest = rvkit_trustee::parse_flag_table("--launch-tdx", fields).map_err(Failure::input)?;
    req.check().map_err(|e| Failure::input(anyhow!("--launch-tdx: {e}")))?;
    let firmware = read_input(&req.ovmf)?;
    let ovmf = display(&req.ovmf);
    let fw = Firmware::parse(&firmware).map_err(|e| Failure::input(anyhow!("{ovmf}: {e}")))?;
    let initrd = req.initrd.as_deref().map(read_input).transpose()?;
    let initrd_sha384 = initrd.as_deref().map(|b| HashAlg::Sha384.hash(b));
    let rtmr0 = crate::cmd_launch::Rtmr0Bytes::read(&req)?;
    let Some(kernel) = &req.kernel else {
        let report =
            tdx_report(&req, &fw, None, None, &rtmr0.files(), false).map_err(|e| tdx_error(&req, e))?;
        return Ok(vec![(format!("from {ovmf}"), report)]);
    };
    let bytes = read_input(kernel)?;
    let mut out = Vec::new();
    for patch in [req.qemu_kernel_patch, !req.qemu_kernel_patch] {
        let r = TdxRequest { qemu_kernel_patch: patch, ..req.clone() };
        let auth = kernel_authenticode(&r, kernel, &bytes, initrd.as_ref().map(|b| b.len() as u64))?;
        let report = tdx_report(&r, &fw, Some(auth), initrd_sha384, &rtmr0.files(), false)
            .map_err(|e| tdx_error(&r, e))?;
        let how = if patch {
            format!(
                "with the kernel's setup header patched by older QEMU (qemu_kernel_patch=true, memory={})",
                r.memory
            )
        } else {
            "with the kernel as given (qemu_kernel_patch=false)".to_owned()
        };
        out.push((how, report));
    }
    Ok(out)
}

fn coverage(args: &CoverageArgs) -> CmdResult {
    let policy = read_policy(args.policy.as_ref())?;
    let tee = args.tee.as_deref().map(check_tee).transpose().map_err(Failure::input)?;
    let values = read_values(&args.reference_values)?;
    let c = rvkit_policy::coverage(&policy, &values.values, tee);
    let policy_file = args.policy.as_deref().map(display);
    let report = CoverageReport::new(&policy_label(policy_file.as_deref(), &policy), tee, &c);
    let out = if args.json { to_json(&report)? } else { report.to_string() };
    write_output(None, out.as_bytes())?;
    if args.fail_on_missing && !c.missing.is_empty() {
        return Err(Failure::invalid(anyhow!(
            "the policy queries {} name(s) the reference values lack",
            c.missing.len()
        )));
    }
    Ok(())
}

fn diff(args: &DiffArgs) -> CmdResult {
    let old = read_values(&args.old)?;
    let new = read_values(&args.new)?;
    let d = rvkit_rvps::diff(&old.values, &new.values, old.has_expirations() && new.has_expirations());
    let out = if args.json { to_json(&d)? } else { d.to_string() };
    write_output(None, out.as_bytes())?;
    if args.fail_on_change && !d.is_empty() {
        return Err(Failure::invalid(anyhow!(
            "{} differs from {}: {} added, {} removed, {} changed",
            display(&args.new),
            display(&args.old),
            d.added.len(),
            d.removed.len(),
            d.changed.len()
        )));
    }
    Ok(())
}

fn merge(args: MergeArgs) -> CmdResult {
    let mut inputs = Vec::new();
    for path in &args.inputs {
        inputs.push((display(path), read_values(path)?));
    }
    let first = &inputs[0].1;
    let format = args.format.unwrap_or(first.merge_format());
    let now = now_unix();
    let default = match args.expiration {
        Some(e) => e.require_future("--expiration", now)?,
        None => default_expiration(),
    };
    let merged = rvkit_rvps::merge(&inputs, default)?;
    for rv in &merged {
        rv.expiration.require_future(&format!("the expiration of {}", rv.name), now)?;
    }
    let set = ReferenceValueSet::from_values(merged)?;
    let text = if args.configmap {
        let opts = first.configmap_options(args.name, args.namespace, args.data_key);
        rvkit_rvps::render_configmap(&set, format, &opts)?
    } else {
        rvkit_rvps::render(&set, format)
    };
    note(format_args!("note: {}", format.note()));
    write_output(args.output.as_ref(), text.as_bytes())?;
    Ok(())
}
