//! `rvkit rvps ...`: reference values for Trustee's RVPS.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::anyhow;
use clap::{Args, Subcommand};
use rvkit_pcr::HashAlg;
use rvkit_policy::{Claims, ClaimsSource, Policy, TokenKey, evaluate, hints, verify_ear};
use rvkit_rvps::{
    ConfigMapOptions, EmitInput, Expiration, Format, Measurements, Published, ReferenceValueSet, Source, Tee,
    build, read_published,
};
use serde_json::{Value, json};

use rvkit_podvm::ImageAccess;

use crate::cmd_podvm::fetch;
use crate::io::{display, read_input, warn, write_output};
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
    /// Only rules that compare claims of this TEE.
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
    /// Podvm images to read /image/measurements.json from, after verifying them
    /// (repeatable; merged like several --measurements).
    #[arg(long, value_name = "IMAGE")]
    image: Vec<String>,
    #[command(flatten)]
    access: ImageAccess,
    /// Initdata documents whose PCR8 values are allowed.
    #[arg(long, num_args = 1.., value_name = "FILE")]
    initdata: Vec<PathBuf>,
    /// Also allow the PCR8 of the built-in dummy initdata (pods without an annotation).
    #[arg(long)]
    dummy_initdata: bool,
    /// TEE name prefixes to emit, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "snp,tdx")]
    platform: Vec<Tee>,
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
    #[arg(long, default_value = "trusteeconfig-rvps-reference-values", requires = "configmap")]
    name: String,
    /// ConfigMap namespace.
    #[arg(long, default_value = "trustee-operator-system", requires = "configmap")]
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
    let mut measurements = Vec::new();
    for path in &args.measurements {
        let label = display(path);
        let bytes = read_input(path)?;
        let (m, warnings) = Measurements::parse(&bytes).map_err(|e| anyhow!("{label}: {e}"))?;
        for w in warnings {
            warn(format_args!("{label}: {w}"));
        }
        measurements.push((label, m));
    }
    for image in &args.image {
        let (verified, bytes) =
            fetch(image, &args.access, rvkit_podvm::DEFAULT_PATH, rvkit_podvm::DEFAULT_MAX_SIZE)?;
        let label = format!("{}:{}", verified.pinned, rvkit_podvm::DEFAULT_PATH);
        let (m, warnings) = Measurements::parse(&bytes).map_err(|e| anyhow!("{label}: {e}"))?;
        for w in warnings {
            warn(format_args!("{label}: {w}"));
        }
        measurements.push((label, m));
    }
    let mut initdata_bytes = Vec::new();
    for path in &args.initdata {
        initdata_bytes.push((display(path), read_input(path)?));
    }
    let expiration = args.expiration.unwrap_or_else(default_expiration);
    let input = EmitInput {
        measurements,
        initdata: initdata_bytes.iter().map(|(l, b)| (l.clone(), b.as_slice())).collect(),
        include_dummy_initdata: args.dummy_initdata,
        tees: args.platform,
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
    eprintln!("note: {}", args.format.note());
    write_output(args.output.as_ref(), text.as_bytes())?;
    Ok(())
}

fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Twelve months from today at midnight UTC, Trustee's own default.
fn default_expiration() -> Expiration {
    Expiration::months_after_midnight(now_unix(), 12)
}

/// Reads reference values in any format, naming the file in errors.
fn read_values(path: &Path) -> Result<Published, Failure> {
    let bytes = read_input(path)?;
    read_published(&bytes).map_err(|e| Failure::input(anyhow!("{}: {e}", display(path))))
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

fn policy_label(path: Option<&PathBuf>, policy: &Policy) -> String {
    match path {
        Some(p) => format!("{} ({})", display(p), policy.origin()),
        None => "rvkit's built-in peer-pods policy (pass --policy with the cluster's policy for its verdict)"
            .to_owned(),
    }
}

/// A JSON value on one line; strings without quotes.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
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
    let result = evaluate(&policy, &claims, &values.values).map_err(Failure::input)?;
    let now_s = now_unix();
    let now = Expiration::from_unix(now_s);
    let time = |t: Option<i64>| t.map(|t| Expiration::from_unix(t).to_string());
    let expired = |info: &rvkit_policy::TokenInfo| info.expires_at.is_some_and(|e| e <= now_s);
    let failed: Vec<_> = result
        .failed()
        .map(|c| {
            let h = hints(c, &values.values, &initdata, Some(now));
            (c, h)
        })
        .collect();
    let out = if args.json {
        let doc = json!({
            "verdict": match &result.verdict {
                rvkit_policy::Verdict::Ear { status, trust_vector } => json!({
                    "status": status.name(),
                    "trust_vector": trust_vector.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
                }),
                rvkit_policy::Verdict::Allow(a) => json!({"allow": a}),
                other => json!(other.to_string()),
            },
            "passes": result.verdict.passes(),
            "tee": claims.tee(),
            "token": token.as_ref().map(|(key, info)| json!({
                "signature": "verified",
                "key": key,
                "issued_at": time(info.issued_at),
                "expires_at": time(info.expires_at),
                "expired": expired(info),
            })),
            "queried": result.queried,
            "comparisons": result.comparisons.len(),
            "failed": failed.iter().map(|(c, h)| json!({
                "line": c.query.line,
                "claim": c.query.claim,
                "op": c.query.op,
                "value": c.value,
                "reference": c.query.name,
                "allowed": c.reference.as_ref().map(|r| r.value.clone()),
                "hints": h,
            })).collect::<Vec<_>>(),
        });
        let mut s = serde_json::to_string_pretty(&doc)?;
        s.push('\n');
        s
    } else {
        let mut s = String::new();
        let _ = writeln!(s, "verdict: {}", result.verdict);
        let _ = writeln!(s, "policy: {}", policy_label(args.policy.as_ref(), &policy));
        let _ = writeln!(s, "claims: {} ({})", display(&args.claims), claims.tee());
        if let Some((key, info)) = &token {
            let _ = writeln!(
                s,
                "token: ES256 signature verified with {key}; issued {}, expires {}{}",
                time(info.issued_at).unwrap_or_else(|| "(no iat)".to_owned()),
                time(info.expires_at).unwrap_or_else(|| "(no exp)".to_owned()),
                if expired(info) { " (expired)" } else { "" }
            );
        }
        let _ = writeln!(
            s,
            "reference values: {} ({}, {} names)",
            display(&args.reference_values),
            values.origin,
            values.values.len()
        );
        for (c, h) in &failed {
            let _ = writeln!(
                s,
                "failed (policy line {}): {} {} query_reference_value({:?})",
                c.query.line,
                c.query.claim.as_deref().unwrap_or("?"),
                c.query.op.as_deref().unwrap_or("?"),
                c.query.name.as_deref().unwrap_or("?")
            );
            let _ = writeln!(
                s,
                "  claim value: {}",
                c.value.as_ref().map_or("(missing from the claims)".to_owned(), show)
            );
            match &c.reference {
                Some(rv) => {
                    let _ = writeln!(s, "  allowed ({}): {}", rv.name, show(&rv.value));
                }
                None => {
                    let _ = writeln!(
                        s,
                        "  allowed: no reference value named {:?}",
                        c.query.name.as_deref().unwrap_or("")
                    );
                }
            }
            for hint in h {
                let _ = writeln!(s, "  hint: {hint}");
            }
        }
        let _ = writeln!(s, "{} comparisons, {} failed", result.comparisons.len(), failed.len());
        s
    };
    write_output(None, out.as_bytes())?;
    if !result.verdict.passes() {
        return Err(Failure::invalid(anyhow!(
            "the policy does not affirm these claims ({}), {} failed comparison(s)",
            result.verdict,
            failed.len()
        )));
    }
    Ok(())
}

fn coverage(args: &CoverageArgs) -> CmdResult {
    let policy = read_policy(args.policy.as_ref())?;
    if let Some(t) = &args.tee
        && !rvkit_policy::KNOWN_TEES.contains(&t.as_str())
    {
        return Err(Failure::input(rvkit_policy::Error::UnknownTee { name: t.clone() }));
    }
    let values = read_values(&args.reference_values)?;
    let c = rvkit_policy::coverage(&policy, &values.values, args.tee.as_deref());
    let out = if args.json {
        let doc = json!({
            "tee": args.tee,
            "queried": c.queried.iter().map(|(n, lines)| json!({"name": n, "lines": lines})).collect::<Vec<_>>(),
            "present": c.present,
            "missing": c.missing,
            "unused": c.unused,
            "dynamic_lines": c.dynamic,
        });
        let mut s = serde_json::to_string_pretty(&doc)?;
        s.push('\n');
        s
    } else {
        let mut s = String::new();
        let scope = args.tee.as_deref().map(|t| format!(" by {t} rules")).unwrap_or_default();
        let _ = writeln!(s, "policy: {}", policy_label(args.policy.as_ref(), &policy));
        let _ = writeln!(s, "queried{scope}: {}", join(c.queried.iter().map(|(n, _)| n.as_str())));
        let _ = writeln!(s, "present: {}", join(c.present.iter().map(String::as_str)));
        let _ = writeln!(s, "missing: {}", join(c.missing.iter().map(String::as_str)));
        let _ = writeln!(s, "unused: {}", join(c.unused.iter().map(String::as_str)));
        if !c.dynamic.is_empty() {
            let lines: Vec<String> = c.dynamic.iter().map(usize::to_string).collect();
            let _ = writeln!(s, "not a literal name on policy line(s): {}", lines.join(", "));
        }
        s
    };
    write_output(None, out.as_bytes())?;
    if args.fail_on_missing && !c.missing.is_empty() {
        return Err(Failure::invalid(anyhow!(
            "the policy queries {} name(s) the reference values lack",
            c.missing.len()
        )));
    }
    Ok(())
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = items.collect();
    if v.is_empty() { "(none)".to_owned() } else { v.join(" ") }
}

fn diff(args: &DiffArgs) -> CmdResult {
    let old = read_values(&args.old)?;
    let new = read_values(&args.new)?;
    let d = rvkit_rvps::diff(&old.values, &new.values, old.has_expirations() && new.has_expirations());
    let out = if args.json {
        let mut s = serde_json::to_string_pretty(&d.to_json())?;
        s.push('\n');
        s
    } else {
        d.to_string()
    };
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
    let first = &inputs[0].1.origin;
    let format = args.format.unwrap_or(match first.format() {
        Format::Sample => Format::Array,
        f => f,
    });
    let merged = rvkit_rvps::merge(&inputs, args.expiration.unwrap_or_else(default_expiration))?;
    let set = ReferenceValueSet::from_values(merged)?;
    let text = if args.configmap {
        let (cm_name, cm_namespace) = match first {
            Source::ConfigMap { name, namespace, .. } => (name.clone(), namespace.clone()),
            Source::Payload(_) => (None, None),
        };
        let defaults = ConfigMapOptions::default();
        let opts = ConfigMapOptions {
            name: args.name.or(cm_name).unwrap_or(defaults.name),
            namespace: args.namespace.or(cm_namespace).unwrap_or(defaults.namespace),
            data_key: args.data_key,
        };
        rvkit_rvps::render_configmap(&set, format, &opts)?
    } else {
        rvkit_rvps::render(&set, format)
    };
    eprintln!("note: {}", format.note());
    write_output(args.output.as_ref(), text.as_bytes())?;
    Ok(())
}
