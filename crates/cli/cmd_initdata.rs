//! `rvkit initdata ...`: render, check, digest, encode and decode initdata.

use std::path::PathBuf;

use anyhow::{Context, anyhow};
use clap::Subcommand;
use rvkit_initdata::annotation::{self, DecodeOptions};
use rvkit_initdata::render::{DEFAULT_IMAGE_POLICY_URI, RenderParams, render};
use rvkit_initdata::{CheckReport, DigestReport, InitData, Platform, ValidateOptions};
use rvkit_pcr::HashAlg;

use crate::io::{display, read_input, read_text_arg, warn, write_output};
use crate::report::to_json;
use crate::{CmdResult, Failure};

#[derive(Subcommand)]
pub enum Command {
    /// Render the walkthrough's initdata document from parameters.
    Render {
        /// The KBS URL the guest will use (e.g. https://kbs.example.com).
        #[arg(long)]
        kbs_url: String,
        /// PEM file with the KBS TLS certificate.
        #[arg(long, value_name = "PEM")]
        kbs_cert: PathBuf,
        /// Where the guest fetches the image-signature policy.
        #[arg(long, default_value = DEFAULT_IMAGE_POLICY_URI)]
        image_policy_uri: String,
        /// Kata agent policy (Rego) to embed instead of the walkthrough's default.
        #[arg(long, value_name = "FILE")]
        agent_policy: Option<PathBuf>,
        /// Digest algorithm declared in the document.
        #[arg(long, default_value = "sha256")]
        algorithm: HashAlg,
        /// Write here (atomically) instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Parse and validate a document or a pod annotation; exit 1 on errors.
    #[command(group = clap::ArgGroup::new("input").required(true))]
    Check {
        /// The initdata document; `-` is standard input.
        #[arg(group = "input")]
        file: Option<PathBuf>,
        /// An annotation value: TEXT, @FILE or - for standard input.
        #[arg(long, group = "input", value_name = "TEXT|@FILE|-")]
        annotation: Option<String>,
        /// Print the findings as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the document's digest, or the value it binds on a platform.
    Digest {
        /// The initdata document; `-` is standard input.
        file: PathBuf,
        /// Print the binding for this platform: vtpm (PCR8), tdx (MRCONFIGID), snp (HOST_DATA), cca.
        #[arg(long)]
        platform: Option<Platform>,
        /// Print digest and every binding as JSON.
        #[arg(long)]
        json: bool,
        /// Explain each step on stderr.
        #[arg(long)]
        transcript: bool,
    },
    /// Encode a document as the pod annotation value (gzip, then base64).
    Encode {
        /// The initdata document; `-` is standard input.
        file: PathBuf,
        /// Write here (atomically) instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Decode an annotation value back to the document bytes.
    Decode {
        /// TEXT, @FILE or - for standard input.
        #[arg(value_name = "TEXT|@FILE|-")]
        input: String,
        /// Largest decoded document accepted, in bytes.
        #[arg(long, default_value_t = annotation::DEFAULT_MAX_DECODED)]
        max_size: usize,
        /// Write here (atomically) instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

pub fn run(cmd: Command) -> CmdResult {
    match cmd {
        Command::Render { kbs_url, kbs_cert, image_policy_uri, agent_policy, algorithm, output } => {
            let cert = read_input(&kbs_cert)?;
            let kbs_cert_pem = String::from_utf8(cert)
                .map_err(|_| anyhow!("{}: certificate file is not UTF-8 text", kbs_cert.display()))?;
            let agent_policy = match &agent_policy {
                Some(p) => Some(
                    String::from_utf8(read_input(p)?)
                        .map_err(|_| anyhow!("{}: agent policy is not UTF-8 text", p.display()))?,
                ),
                None => None,
            };
            let params = RenderParams { kbs_url, kbs_cert_pem, image_policy_uri, agent_policy, algorithm };
            let text = render(&params)?;
            // Validate what we produced before anything is written, so a bad
            // certificate or URL is reported instead of published.
            let doc = InitData::parse(text.as_bytes()).context("rendered document")?;
            let report = CheckReport::new("rendered document", &doc, &doc.validate(&validate_options()));
            eprint!("{}", report.findings_text());
            fail_on_errors(&report)?;
            write_output(output.as_ref(), text.as_bytes())?;
            Ok(())
        }
        Command::Check { file, annotation, json } => {
            let (raw, label) = match (file, annotation) {
                (Some(path), _) => (read_input(&path)?, display(&path)),
                (None, Some(arg)) => {
                    let (text, label) = read_text_arg(&arg)?;
                    (decode_annotation(&text, &label, annotation::DEFAULT_MAX_DECODED)?, label)
                }
                (None, None) => unreachable!("clap requires one input"),
            };
            let doc = InitData::parse(&raw).map_err(|e| Failure::input(anyhow!("{label}: {e}")))?;
            let report = CheckReport::new(&label, &doc, &doc.validate(&validate_options()));
            if json {
                write_output(None, to_json(&report)?.as_bytes())?;
                eprint!("{}", report.findings_text());
            } else {
                eprint!("{report}");
            }
            fail_on_errors(&report)
        }
        Command::Digest { file, platform, json, transcript } => {
            let raw = read_input(&file)?;
            let label = display(&file);
            let doc = InitData::parse(&raw).map_err(|e| Failure::input(anyhow!("{label}: {e}")))?;
            let platforms = match platform {
                Some(p) => vec![p],
                None => vec![Platform::Vtpm, Platform::Tdx, Platform::Snp, Platform::Cca],
            };
            for p in &platforms {
                let b = doc.binding(*p);
                if platform.is_some() || json {
                    for w in &b.warnings {
                        warn(format_args!("{label}: {w}"));
                    }
                }
                if transcript {
                    eprintln!("# {} {}", p.name(), b.field);
                    for step in &b.steps {
                        eprintln!("{step}");
                    }
                }
            }
            let report = DigestReport::new(&label, &doc, platform);
            let out = if json { to_json(&report)? } else { report.to_string() };
            write_output(None, out.as_bytes())?;
            Ok(())
        }
        Command::Encode { file, output } => {
            let raw = read_input(&file)?;
            let label = display(&file);
            // Encoding a document the guest would reject helps nobody: parse it first.
            let doc = InitData::parse(&raw).map_err(|e| Failure::input(anyhow!("{label}: {e}")))?;
            let text = annotation::encode(doc.raw());
            if let Some(w) = annotation::size_warning(&text) {
                warn(format_args!("{label}: {w}"));
            }
            write_output(output.as_ref(), format!("{text}\n").as_bytes())?;
            Ok(())
        }
        Command::Decode { input, max_size, output } => {
            let (text, label) = read_text_arg(&input)?;
            let bytes = decode_annotation(&text, &label, max_size)?;
            write_output(output.as_ref(), &bytes)?;
            Ok(())
        }
    }
}

fn decode_annotation(text: &[u8], label: &str, max_decoded: usize) -> Result<Vec<u8>, Failure> {
    let decoded = annotation::decode(text, &DecodeOptions { max_decoded })
        .map_err(|e| Failure::input(anyhow!("{label}: {e}")))?;
    if let Some(w) = decoded.warning() {
        warn(format_args!("{label}: {w}"));
    }
    Ok(decoded.bytes)
}

pub fn validate_options() -> ValidateOptions {
    ValidateOptions { now_unix: crate::io::now_unix() }
}

/// Fails with exit 1 when the report has errors.
fn fail_on_errors(report: &CheckReport) -> CmdResult {
    match report.errors() {
        0 => Ok(()),
        errors => Err(Failure::invalid(anyhow!("{}: {errors} validation error(s)", report.input))),
    }
}
