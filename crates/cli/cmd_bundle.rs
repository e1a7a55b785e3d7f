//! `rvkit bundle`: the whole Trustee configuration of the walkthrough,
//! rendered into a directory `oc apply -k` can apply, and `rvkit bundle
//! check` for such a directory.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use clap::{Args, Subcommand};
use rvkit_pcr::HashAlg;
use rvkit_rvps::{Expiration, Format, PcrPrefix};
use rvkit_trustee::layout;
use rvkit_trustee::names::{DataKey, DnsLabel, Hostname, ObjectName};
use rvkit_trustee::{
    Bundle, CheckReport, Config, DefaultPolicy, Hours, Inputs, KbsCert, KeyMode, LocalKeys, MANIFEST,
    Profile, ServiceType, SignedImage, Variant, parse_flag_table,
};

use rvkit_podvm::ImageAccess;

use crate::cmd_podvm::fetch_measurements;
use crate::cmd_podvm_predict::{DiskBudget, PredictMode, image_measurements};
use crate::io::{detail, note, now_unix, quiet, read_input, warn, write_output};
use crate::output::{self, DirFile, DirLock};
use crate::report::to_json;
use crate::{CmdResult, Failure};

/// Render the walkthrough's Trustee configuration into a directory, or check one.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Command {
    #[command(subcommand)]
    check: Option<Sub>,
    #[command(flatten)]
    render: RenderArgs,
}

#[derive(Subcommand)]
enum Sub {
    /// Check that a bundle's objects refer to each other correctly; exit 1
    /// with one line per inconsistency.
    Check {
        /// The bundle directory.
        dir: PathBuf,
        /// Print the findings as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct RenderArgs {
    /// Write a commented starting trustee.toml with the walkthrough's values
    /// (to stdout, or to the file -o names) and exit.
    #[arg(long, conflicts_with_all = ["config", "kbs_cert", "kbs_cert_from_secret", "json"])]
    init: bool,
    /// The configuration file (TOML); flags override its fields.
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The bundle directory (with --init: the file to write).
    #[arg(short, long, value_name = "DIR")]
    output: Option<PathBuf>,
    /// Write even if the directory holds files rvkit did not write (they are
    /// left alone), or overwrite the --init file.
    #[arg(long)]
    force: bool,
    /// cert-manager mode, second run: the issued KBS certificate (PEM).
    #[arg(long, value_name = "PEM", conflicts_with = "kbs_cert_from_secret")]
    kbs_cert: Option<PathBuf>,
    /// cert-manager mode, second run: the issued Secret
    /// (`oc get secret trustee-tls-cert -o yaml`).
    #[arg(long, value_name = "FILE.yaml")]
    kbs_cert_from_secret: Option<PathBuf>,
    /// local mode: make new keys even when the bundle directory holds keys
    /// of an earlier run that still fit (by default those are kept, so the
    /// KBS certificate, initdata and PCR8 stay the same).
    #[arg(long)]
    new_keys: bool,
    /// Print what was written (files, KBS URL, PCR8 values) as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// The PCRs predicted from each image's /image/podvm.qcow2 replace its
    /// measurements.json (`--predict`, `--predict=use`), or check it
    /// (`--predict=check`: exit 1 naming each PCR that differs).
    #[arg(long, value_name = "MODE", num_args = 0..=1, require_equals = true, default_missing_value = "use")]
    predict: Option<PredictMode>,
    #[command(flatten)]
    budget: DiskBudget,
    #[command(flatten)]
    fields: FieldArgs,
}

/// One flag per configuration field (rvkit_trustee::FIELDS), each
/// overriding the file.
#[derive(Args, Default)]
#[command(next_help_heading = "Configuration (each flag overrides the field of the same name in --config)")]
struct FieldArgs {
    /// The Trustee namespace [default: trustee-operator-system].
    #[arg(long, value_name = "NS")]
    namespace: Option<DnsLabel>,
    /// The cluster's ingress domain; the KBS host is <route-name>-<namespace>.<domain>.
    #[arg(long, value_name = "DOMAIN")]
    domain: Option<Hostname>,
    /// The KBS host, instead of one derived from --domain.
    #[arg(long, value_name = "HOST")]
    kbs_host: Option<Hostname>,
    /// The Route's name [default: kbs-service].
    #[arg(long, value_name = "NAME")]
    route_name: Option<DnsLabel>,
    /// TrusteeConfig profile: Restricted or Permissive [default: Restricted].
    #[arg(long)]
    profile: Option<Profile>,
    /// KBS Service type: ClusterIP, NodePort or LoadBalancer [default: ClusterIP].
    #[arg(long)]
    service_type: Option<ServiceType>,
    /// How keys are made: cert-manager or local [default: cert-manager].
    #[arg(long)]
    keys: Option<KeyMode>,
    /// The HTTPS certificate's CN [default: kbs-trustee-operator-system].
    #[arg(long, value_name = "CN")]
    common_name: Option<String>,
    /// The HTTPS certificate's O [default: my_org].
    #[arg(long, value_name = "O")]
    organization: Option<String>,
    /// Certificate lifetime [default: 8760h].
    #[arg(long, value_name = "HOURS")]
    duration: Option<Hours>,
    /// cert-manager renews this long before expiry [default: 360h].
    #[arg(long, value_name = "HOURS")]
    renew_before: Option<Hours>,
    /// The cert-manager Issuer [default: kbs-issuer].
    #[arg(long, value_name = "NAME")]
    issuer: Option<ObjectName>,
    /// The HTTPS key Secret [default: trustee-tls-cert].
    #[arg(long, value_name = "NAME")]
    tls_secret: Option<ObjectName>,
    /// The attestation-token key Secret [default: trustee-token-cert].
    #[arg(long, value_name = "NAME")]
    token_secret: Option<ObjectName>,
    /// Policy for images no rule names: reject or insecureAcceptAnything [default: reject].
    #[arg(long)]
    default_policy: Option<DefaultPolicy>,
    /// The image-policy Secret [default: trustee-image-policy].
    #[arg(long, value_name = "NAME")]
    policy_secret: Option<ObjectName>,
    /// The policy's key in that Secret [default: policy].
    #[arg(long, value_name = "KEY")]
    policy_key: Option<DataKey>,
    /// A signed-image rule, replacing the file's rules when given (repeatable):
    /// scope=REGISTRY/REPO,key=PUBKEY.pem,secret=NAME[,secret_key=KEY]. Quote a
    /// field holding a comma as in CSV: "key=my,key.pem".
    #[arg(long, value_name = "FIELDS")]
    signed_image: Vec<String>,
    /// Initdata algorithm: sha256, sha384 or sha512 [default: sha256].
    #[arg(long)]
    algorithm: Option<HashAlg>,
    /// A Kata agent policy (Rego) for the default initdata.
    #[arg(long, value_name = "FILE")]
    agent_policy: Option<PathBuf>,
    /// A per-pod initdata variant, replacing the file's variants when given
    /// (repeatable): name=NAME,agent_policy=FILE or name=NAME,document=FILE
    /// (fields quoted as for --signed-image).
    #[arg(long, value_name = "FIELDS")]
    variant: Vec<String>,
    /// Reference-value ConfigMap format: array (Trustee <= v0.18) or kv (v0.19+) [default: array].
    #[arg(long)]
    format: Option<Format>,
    /// Reference-value expiration, YYYY-MM-DDTHH:MM:SSZ [default: 12 months from today].
    #[arg(long, value_name = "T")]
    expiration: Option<Expiration>,
    /// Also accept the PCR8 of pods without initdata (--dummy-initdata=false to turn off).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    dummy_initdata: Option<bool>,
    /// vTPM PCR name prefixes (snp_pcrNN, tdx_pcrNN), comma-separated [default: snp,tdx].
    #[arg(long, value_name = "PREFIXES", value_delimiter = ',', alias = "tees")]
    pcr_prefixes: Vec<PcrPrefix>,
    /// A signed podvm image to read measurements from, replacing the file's list
    /// (repeatable; `--image=` empties it).
    #[arg(long, value_name = "IMAGE")]
    image: Vec<String>,
    /// A podvm measurements.json, replacing the file's list (repeatable;
    /// `--measurements=` empties it).
    // OsString rather than PathBuf, whose parser refuses the empty value.
    #[arg(long, value_name = "FILE")]
    measurements: Vec<std::ffi::OsString>,
    /// How podvm images are reached and verified (the `[podvm]` access fields).
    #[command(flatten)]
    access: ImageAccess,
    #[command(flatten)]
    launch: LaunchArgs,
}

/// The bare-metal launch values and merged reference-value files.
#[derive(Args, Default)]
struct LaunchArgs {
    /// Reference-value files (any format, ConfigMaps included) merged in as
    /// `rvkit rvps merge` merges them, replacing the file's list (repeatable;
    /// `--merge-values=` empties it).
    #[arg(long, value_name = "FILE")]
    merge_values: Vec<std::ffi::OsString>,
    /// An SEV-SNP launch, replacing the file's [[launch.snp]] tables when given
    /// (repeatable): the fields of rvkit launch snp's flags, e.g.
    /// ovmf=OVMF.fd,kernel=vmlinuz,append="...",vcpus=1-8,vcpu_type=EPYC-v4,kata=true
    /// (quoted as for --signed-image).
    #[arg(long, value_name = "FIELDS")]
    launch_snp: Vec<String>,
    /// A TDX launch, replacing the file's [[launch.tdx]] tables when given
    /// (repeatable): ovmf=FILE[,kernel=FILE,initrd=FILE,append=CMDLINE].
    #[arg(long, value_name = "FIELDS")]
    launch_tdx: Vec<String>,
    /// Write the launch values in base64, as Trustee v0.17 and earlier compare them
    /// (--launch-base64=false for hex, the default).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    launch_base64: Option<bool>,
}

impl FieldArgs {
    /// Applies every given flag over `c`. Lists given on the command line
    /// replace the file's.
    fn apply(self, c: &mut Config) -> Result<(), Failure> {
        fn set<T>(slot: &mut T, v: Option<T>) {
            if let Some(v) = v {
                *slot = v;
            }
        }
        fn set_opt<T>(slot: &mut Option<T>, v: Option<T>) {
            if v.is_some() {
                *slot = v;
            }
        }
        // Lists given on the command line replace the file's; one empty
        // value (`--image=`) empties it.
        fn set_list<T: AsRef<std::ffi::OsStr>>(slot: &mut Vec<T>, v: Vec<T>) {
            match v.as_slice() {
                [] => {}
                [only] if only.as_ref().is_empty() => slot.clear(),
                _ => *slot = v,
            }
        }
        fn tables<T>(
            v: &[String],
            parse: impl Fn(&str) -> Result<T, rvkit_trustee::Error>,
        ) -> Result<Option<Vec<T>>, Failure> {
            match v {
                [] => Ok(None),
                [only] if only.is_empty() => Ok(Some(Vec::new())),
                _ => v.iter().map(|s| parse(s)).collect::<Result<_, _>>().map(Some).map_err(Failure::input),
            }
        }
        set(&mut c.namespace, self.namespace);
        // A host given on the command line replaces the file's way of naming it.
        if self.domain.is_some() || self.kbs_host.is_some() {
            c.domain = self.domain;
            c.kbs_host = self.kbs_host;
        }
        set(&mut c.route_name, self.route_name);
        set(&mut c.profile, self.profile);
        set(&mut c.service_type, self.service_type);
        set(&mut c.keys, self.keys);
        let cert = &mut c.certificate;
        set(&mut cert.common_name, self.common_name);
        set(&mut cert.organization, self.organization);
        set(&mut cert.duration, self.duration);
        set(&mut cert.renew_before, self.renew_before);
        set(&mut cert.issuer, self.issuer);
        set(&mut cert.tls_secret, self.tls_secret);
        set(&mut cert.token_secret, self.token_secret);
        let p = &mut c.image_policy;
        set(&mut p.default_policy, self.default_policy);
        set(&mut p.policy_secret, self.policy_secret);
        set(&mut p.policy_key, self.policy_key);
        set(
            &mut p.signed,
            tables(&self.signed_image, |s| parse_flag_table::<SignedImage>("--signed-image", s))?,
        );
        set(&mut c.initdata.algorithm, self.algorithm);
        set_opt(&mut c.initdata.agent_policy, self.agent_policy);
        set(
            &mut c.initdata.variants,
            tables(&self.variant, |s| parse_flag_table::<Variant>("--variant", s))?,
        );
        let rv = &mut c.reference_values;
        set(&mut rv.format, self.format);
        set_opt(&mut rv.expiration, self.expiration);
        set(&mut rv.dummy_initdata, self.dummy_initdata);
        if !self.pcr_prefixes.is_empty() {
            rv.pcr_prefixes = self.pcr_prefixes;
        }
        let pv = &mut c.podvm;
        set_list(&mut pv.images, self.image);
        set_list(&mut pv.measurements, self.measurements.into_iter().map(PathBuf::from).collect());
        pv.access.overlay(self.access);
        let launch = self.launch;
        set_list(&mut c.reference_values.merge, launch.merge_values.into_iter().map(PathBuf::from).collect());
        set(&mut c.launch.snp, tables(&launch.launch_snp, |s| parse_flag_table("--launch-snp", s))?);
        set(&mut c.launch.tdx, tables(&launch.launch_tdx, |s| parse_flag_table("--launch-tdx", s))?);
        set(&mut c.launch.base64, launch.launch_base64);
        Ok(())
    }
}

pub fn run(cmd: Command) -> CmdResult {
    match cmd.check {
        Some(Sub::Check { dir, json }) => check(&dir, json),
        None if cmd.render.init => init(cmd.render.output.as_deref(), cmd.render.force),
        None => render(cmd.render),
    }
}

fn init(output: Option<&Path>, force: bool) -> CmdResult {
    let text = rvkit_trustee::init_template();
    match output {
        Some(path) if path != Path::new("-") => {
            if output::replaces_a_file(path) && !force {
                return Err(Failure::input(anyhow!(
                    "{} exists; use --force to overwrite it",
                    path.display()
                )));
            }
            write_output(Some(&path.to_path_buf()), text.as_bytes())?;
            note(format_args!(
                "wrote {}; edit it, then: rvkit bundle --config {} -o DIR",
                path.display(),
                path.display()
            ));
        }
        _ => write_output(None, text.as_bytes())?,
    }
    Ok(())
}

/// Reads the configuration file (paths in it resolved against its
/// directory), then applies the flags (paths in them relative to the
/// current directory).
fn load_config(path: Option<&Path>, fields: FieldArgs) -> Result<Config, Failure> {
    let mut config = match path {
        Some(path) => {
            let bytes = read_input(path)?;
            let text = String::from_utf8(bytes).map_err(|_| anyhow!("{}: not UTF-8 text", path.display()))?;
            let mut c = Config::from_toml(&path.display().to_string(), &text).map_err(Failure::input)?;
            let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            c.resolve_paths(base);
            c
        }
        None => Config::default(),
    };
    fields.apply(&mut config)?;
    config.validate().map_err(Failure::input)?;
    Ok(config)
}

fn render(args: RenderArgs) -> CmdResult {
    let out_dir = args.output.clone().ok_or_else(|| {
        Failure::input(anyhow!(
            "give the bundle directory with -o DIR (or --init for a starting trustee.toml)"
        ))
    })?;
    let config = load_config(args.config.as_deref(), args.fields)?;
    // Held until the bundle is written, so two runs never interleave.
    let _lock = DirLock::acquire(&out_dir)?;
    let previous = existing_bundle(&out_dir, args.force)?;
    let now = now_unix();

    let cert_arg =
        args.kbs_cert.as_ref().map(|p| (p, false)).or(args.kbs_cert_from_secret.as_ref().map(|p| (p, true)));
    let first_phase = config.is_first_phase(cert_arg.is_some());
    let mut inputs = Inputs::new(now);
    read_files(&config, cert_arg.is_some(), &mut inputs)?;
    if first_phase {
        later_files(&config);
    }
    let pv = &config.podvm;
    // The first phase writes no reference values: no registry to contact.
    for image in pv.images.iter().filter(|_| !first_phase) {
        if let Some(mode) = args.predict {
            let (label, m) = image_measurements(image, &pv.access, &args.budget, mode, HashAlg::Sha256)?;
            inputs.image_measurements.push((label, m.to_json().into_bytes()));
            continue;
        }
        let fetched = fetch_measurements(image, &pv.access, rvkit_podvm::DEFAULT_MAX_SIZE)?;
        note(format_args!(
            "verified {}; measurements from {}",
            fetched.image.pinned, fetched.measurements_source
        ));
        inputs.image_measurements.push((fetched.label(), fetched.document));
    }
    if let Some((path, from_secret)) = cert_arg {
        let flag = if from_secret { "--kbs-cert-from-secret" } else { "--kbs-cert" };
        if config.keys == KeyMode::Local {
            return Err(Failure::input(anyhow!(
                "--kbs-cert and --kbs-cert-from-secret complete a cert-manager bundle; local mode makes its own keys"
            )));
        }
        let bytes = read_input(path)?;
        let origin = format!("{flag} {}", path.display());
        let cert = if from_secret {
            KbsCert::from_secret_yaml(&origin, &bytes)
        } else {
            KbsCert::from_pem(&origin, &bytes)
        }
        .map_err(Failure::input)?;
        inputs.kbs_cert = Some((origin, cert));
    }
    if config.keys == KeyMode::Local {
        let kept = if args.new_keys { None } else { previous_keys(&out_dir, &previous, &config, now) };
        inputs.local_keys = Some(match kept {
            Some(keys) => keys,
            None => LocalKeys::generate(&config, now).map_err(Failure::input)?,
        });
    } else if args.new_keys {
        return Err(Failure::input(anyhow!(
            "--new-keys is for local mode; in cert-manager mode cert-manager makes the keys"
        )));
    }

    let bundle = rvkit_trustee::render(&config, &inputs)
        .map_err(|e| if e.is_check_failure() { Failure::invalid(e) } else { Failure::input(e) })?;
    for w in &bundle.warnings {
        warn(w);
    }
    write_bundle(&out_dir, &bundle, &previous)?;
    for f in &bundle.files {
        detail(format_args!("wrote {}", out_dir.join(&f.name).display()));
    }
    let report = bundle.report(&out_dir.display().to_string());
    note(report.to_string().trim_end());
    if args.json {
        write_output(None, to_json(&report)?.as_bytes())?;
    }
    Ok(())
}

/// Reads every file the render needs into `inputs`; all that cannot be read
/// are named in one error, each with its field and flag.
fn read_files(config: &Config, kbs_cert_given: bool, inputs: &mut Inputs) -> Result<(), Failure> {
    let mut unreadable = Vec::new();
    let mut seen = BTreeSet::new();
    for f in config.input_files(kbs_cert_given) {
        if !seen.insert(f.path) {
            continue;
        }
        match read_input(f.path) {
            Ok(bytes) => {
                detail(format_args!("read {} ({})", f.path.display(), f.field));
                inputs.files.insert(f.path.to_owned(), bytes);
            }
            Err(e) => unreadable.push(format!(
                "  {} ({}, {}): {}",
                f.path.display(),
                f.field,
                f.flag,
                e.root_cause()
            )),
        }
    }
    match unreadable.len() {
        0 => Ok(()),
        n => Err(Failure::input(anyhow!(
            "{n} input file{} cannot be read:\n{}",
            if n == 1 { "" } else { "s" },
            unreadable.join("\n")
        ))),
    }
}

/// Says which files the second cert-manager run will read that are not
/// there yet, so that they can be fetched while cert-manager works.
fn later_files(config: &Config) {
    let now: BTreeSet<&Path> = config.input_files(false).iter().map(|f| f.path).collect();
    let mut seen = BTreeSet::new();
    for f in config.input_files(true) {
        if !now.contains(f.path) && seen.insert(f.path) && fs::metadata(f.path).is_err() {
            note(format_args!(
                "note: the second run also reads {} ({}, {}), which is not there yet",
                f.path.display(),
                f.field,
                f.flag
            ));
        }
    }
}

/// The keys of the local-mode bundle already in `dir`, when it has both
/// TLS Secrets and they still fit `config`; says on stderr which it is.
fn previous_keys(dir: &Path, previous: &BTreeSet<String>, config: &Config, now: i64) -> Option<LocalKeys> {
    let c = &config.certificate;
    let names = [layout::secret(c.tls_secret.as_str()), layout::secret(c.token_secret.as_str())];
    if !names.iter().all(|n| previous.contains(n)) {
        return None;
    }
    let read = |n: &String| fs::read(dir.join(n)).map_err(|e| format!("cannot read {n}: {e}"));
    match read(&names[0])
        .and_then(|https| Ok((https, read(&names[1])?)))
        .and_then(|(https, token)| LocalKeys::reuse(config, now, &https, &token))
    {
        Ok(keys) => {
            note(format_args!("kept the keys of {} (--new-keys makes new ones)", dir.display()));
            Some(keys)
        }
        Err(why) => {
            note(format_args!("making new keys: {why}"));
            None
        }
    }
}

/// The files a previous `rvkit bundle` wrote into `dir` (from its
/// manifest), after making sure `dir` holds nothing else unless `force`.
fn existing_bundle(dir: &Path, force: bool) -> Result<BTreeSet<String>, Failure> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => return Err(Failure::input(anyhow!("{}: {e}", dir.display()))),
    };
    let mut present = BTreeSet::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        present.insert(entry.file_name().to_string_lossy().into_owned());
    }
    let previous: BTreeSet<String> = match fs::read_to_string(dir.join(MANIFEST)) {
        Ok(text) => rvkit_trustee::layout::parse_manifest(&text),
        Err(_) => BTreeSet::new(),
    };
    let foreign: Vec<&String> = present.iter().filter(|n| *n != MANIFEST && !previous.contains(*n)).collect();
    if !foreign.is_empty() && !force {
        let shown: Vec<&str> = foreign.iter().take(5).map(|s| s.as_str()).collect();
        let more = if foreign.len() > 5 { format!(" and {} more", foreign.len() - 5) } else { String::new() };
        return Err(Failure::input(anyhow!(
            "{} holds files rvkit bundle did not write ({}{more}); choose an empty directory or use --force",
            dir.display(),
            shown.join(", ")
        )));
    }
    Ok(previous.intersection(&present).cloned().collect())
}

/// Writes the bundle into `dir` as one change (see [`output::write_dir`]).
fn write_bundle(dir: &Path, bundle: &Bundle, previous: &BTreeSet<String>) -> anyhow::Result<()> {
    let files: Vec<DirFile> = bundle
        .files
        .iter()
        .map(|f| DirFile { name: &f.name, mode: f.mode(), contents: &f.contents })
        .collect();
    output::write_dir(dir, &files, previous)
}

fn check(dir: &Path, json: bool) -> CmdResult {
    let entries =
        fs::read_dir(dir).with_context(|| format!("cannot read the bundle directory {}", dir.display()))?;
    let mut files = BTreeMap::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let path = entry.path();
        let meta = entry.metadata().with_context(|| format!("cannot read {}", path.display()))?;
        // Bundles are flat; anything else in the directory is not ours to judge.
        if !meta.is_file() {
            continue;
        }
        files.insert(entry.file_name().to_string_lossy().into_owned(), read_input(&path)?);
    }
    let report =
        CheckReport::new(&dir.display().to_string(), files.len(), rvkit_trustee::check(&files, now_unix()));
    if json {
        write_output(None, to_json(&report)?.as_bytes())?;
    }
    // Notes and the closing line are progress (-q silences them); errors
    // always print.
    if quiet() {
        eprint!("{}", report.errors_text());
    } else if json {
        eprint!("{}{}", report.notes_text(), report.errors_text());
    } else {
        eprint!("{report}");
    }
    match report.failure() {
        Some(failure) => Err(Failure::invalid(anyhow!(failure))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use clap::{Args as _, CommandFactory as _};

    use super::*;

    #[test]
    fn every_configuration_field_has_its_flag() {
        let cmd = Command::augment_args(clap::Command::new("bundle"));
        let longs: BTreeSet<String> =
            cmd.get_arguments().filter_map(|a| a.get_long()).map(|l| format!("--{l}")).collect();
        for (field, flag) in rvkit_trustee::FIELDS {
            assert!(longs.contains(*flag), "{field}: no flag {flag}");
        }
        crate::Cli::command().debug_assert();
    }

    #[test]
    fn flags_override_the_file_and_replace_its_lists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        fs::write(
            &path,
            "domain = \"apps.example.com\"\n[podvm]\nmeasurements = [\"m.json\"]\n[image_policy]\ndefault_policy = \"insecureAcceptAnything\"\n",
        )
        .unwrap();
        let mut fields =
            FieldArgs { kbs_host: Some("kbs.example.org".parse().unwrap()), ..FieldArgs::default() };
        fields.measurements = vec!["other.json".into()];
        fields.dummy_initdata = Some(true);
        let c = load_config(Some(&path), fields).unwrap_or_else(|f| panic!("{:#}", f.error));
        assert_eq!(c.host().unwrap().as_str(), "kbs.example.org");
        assert_eq!(c.podvm.measurements, [PathBuf::from("other.json")]);
        assert!(c.reference_values.dummy_initdata);
        let c = load_config(Some(&path), FieldArgs::default()).unwrap_or_else(|f| panic!("{:#}", f.error));
        assert_eq!(c.podvm.measurements, [dir.path().join("m.json")]);
    }
}
