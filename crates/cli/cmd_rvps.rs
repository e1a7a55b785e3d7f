//! `rvkit rvps ...`: reference values for Trustee's RVPS.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::anyhow;
use clap::{Args, Subcommand};
use rvkit_pcr::HashAlg;
use rvkit_rvps::{ConfigMapOptions, EmitInput, Expiration, Format, Measurements, Tee, build};

use crate::io::{display, read_input, warn, write_output};
use crate::{CmdResult, Failure};

#[derive(Subcommand)]
pub enum Command {
    /// Turn podvm measurements and initdata into reference values.
    Emit(EmitArgs),
}

#[derive(Args)]
pub struct EmitArgs {
    /// measurements.json files of podvm images; several are merged.
    #[arg(long, num_args = 1.., required = true, value_name = "FILE")]
    measurements: Vec<PathBuf>,
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
    let mut initdata_bytes = Vec::new();
    for path in &args.initdata {
        initdata_bytes.push((display(path), read_input(path)?));
    }
    let expiration = match args.expiration {
        Some(e) => e,
        None => {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
            Expiration::months_after_midnight(now, 12)
        }
    };
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
