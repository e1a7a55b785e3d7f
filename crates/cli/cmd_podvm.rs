//! `rvkit podvm ...`: verify signed podvm images and fetch verified files.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use clap::{Args, Subcommand};
use rvkit_podvm::{
    DEFAULT_MAX_SIZE, DEFAULT_PATH, ImagePath, ImageRef, NoProgress, Outcome, Platform, Progress, PublicKey,
    PullOptions, VerifiedImage, VerifyOptions,
};

use crate::io::{read_input, warn, write_output};
use crate::{CmdResult, Failure};

#[derive(Subcommand)]
pub enum Command {
    /// Verify an image's cosign signature (and Rekor bundle) and print the pinned reference.
    Verify {
        /// docker://HOST/REPO[:TAG|@DIGEST], HOST/REPO:TAG, oci:DIR[:TAG] or oci-archive:FILE[:TAG].
        image: String,
        #[command(flatten)]
        access: ImageArgs,
        /// Platform an image index resolves to.
        #[arg(long, value_name = "OS/ARCH", default_value = "linux/amd64")]
        platform: String,
        /// Print the pinned reference and every signature checked as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Verify an image, then print one file from its layers (streamed, never stored).
    Fetch {
        /// docker://HOST/REPO[:TAG|@DIGEST], HOST/REPO:TAG, oci:DIR[:TAG] or oci-archive:FILE[:TAG].
        image: String,
        #[command(flatten)]
        access: ImageArgs,
        /// Platform an image index resolves to.
        #[arg(long, value_name = "OS/ARCH", default_value = "linux/amd64")]
        platform: String,
        /// The file inside the image.
        #[arg(long, default_value = DEFAULT_PATH)]
        path: String,
        /// The largest file accepted, in bytes.
        #[arg(long, default_value_t = DEFAULT_MAX_SIZE)]
        max_size: u64,
        /// Write here (atomically) instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Predict the PCRs 3, 9, 11 and 12 a podvm disk boots to, or check a published measurements.json.
    Predict(Box<crate::cmd_podvm_predict::PredictArgs>),
}

/// How to reach and verify an image; shared by `podvm` and `rvps emit --image`.
#[derive(Args, Clone, Default)]
#[command(next_help_heading = "Image verification and access")]
pub struct ImageArgs {
    /// Public key (PEM or DER: ECDSA P-256/P-384, RSA, Ed25519) the image must be signed with.
    #[arg(long, value_name = "PEM")]
    pub key: Option<PathBuf>,
    /// The Rekor log's public key, to verify each signature's bundle offline.
    #[arg(long, value_name = "PEM", conflicts_with = "insecure_ignore_tlog")]
    pub rekor_key: Option<PathBuf>,
    /// Accept signatures without a transparency-log check (the signature is still checked).
    #[arg(long)]
    pub insecure_ignore_tlog: bool,
    /// Do not check signatures at all (digests are still checked). Never use for production values.
    #[arg(long, conflicts_with_all = ["key", "rekor_key", "insecure_ignore_tlog", "identity"])]
    pub insecure_skip_verify: bool,
    /// The docker-reference the signature payload must name (e.g. registry.example/podvm).
    #[arg(long, value_name = "REPO")]
    pub identity: Option<String>,
    /// Registry credentials (docker config JSON, such as the cluster pull secret).
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// Reach this registry over plain HTTP (repeatable).
    #[arg(long, value_name = "HOST:PORT")]
    pub insecure_registry: Vec<String>,
    /// Retries after a 5xx, 429 or connection error.
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
}

impl ImageArgs {
    fn options(&self, platform: &str) -> Result<(PullOptions, VerifyOptions), Failure> {
        let key = |path: &PathBuf| -> Result<PublicKey, Failure> {
            let bytes = read_input(path)?;
            PublicKey::from_pem_or_der(&bytes, &path.display().to_string()).map_err(Failure::input)
        };
        if self.key.is_none() && !self.insecure_skip_verify {
            return Err(Failure::input(anyhow!(
                "--key is required to verify the image signature (or --insecure-skip-verify to skip it)"
            )));
        }
        if self.insecure_skip_verify {
            warn(
                "--insecure-skip-verify: the image signature is NOT checked; values from it are not trustworthy",
            );
        } else if self.rekor_key.is_none() && self.insecure_ignore_tlog {
            warn("--insecure-ignore-tlog: signatures are accepted without a transparency-log check");
        }
        let platform: Platform = platform.parse().map_err(Failure::input)?;
        let pull = PullOptions {
            authfile: self.authfile.clone(),
            insecure_registries: self.insecure_registry.clone(),
            platform,
            retries: self.retries,
            ..PullOptions::default()
        };
        let verify = VerifyOptions {
            key: self.key.as_ref().map(key).transpose()?,
            rekor_key: self.rekor_key.as_ref().map(key).transpose()?,
            insecure_ignore_tlog: self.insecure_ignore_tlog,
            insecure_skip_verify: self.insecure_skip_verify,
            identity: self.identity.clone(),
        };
        Ok((pull, verify))
    }
}

/// Maps a podvm error to its exit code: 1 when verification failed, 2 otherwise.
fn podvm_failure(e: rvkit_podvm::Error) -> Failure {
    if e.is_verification_failure() { Failure::invalid(e) } else { Failure::input(e) }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::input)
}

fn progress() -> Arc<dyn Progress> {
    match rvkit_podvm::TerminalProgress::if_terminal() {
        Some(p) => Arc::new(p),
        None => Arc::new(NoProgress),
    }
}

/// Verifies `image` and returns the content of `path` in it.
pub fn fetch(
    image: &str,
    access: &ImageArgs,
    platform: &str,
    path: &str,
    max_size: u64,
) -> Result<(VerifiedImage, Vec<u8>), Failure> {
    let image = ImageRef::parse(image).map_err(Failure::input)?;
    let path = ImagePath::parse(path).map_err(Failure::input)?;
    let (pull, verify) = access.options(platform)?;
    let rt = runtime()?;
    rt.block_on(rvkit_podvm::fetch_file(&image, &path, max_size, &pull, &verify, progress()))
        .map_err(podvm_failure)
}

pub fn run(cmd: Command) -> CmdResult {
    match cmd {
        Command::Verify { image, access, platform, json } => {
            let image = ImageRef::parse(&image).map_err(Failure::input)?;
            let (pull, verify) = access.options(&platform)?;
            let verified =
                runtime()?.block_on(rvkit_podvm::verify(&image, &pull, &verify)).map_err(podvm_failure)?;
            describe(&verified);
            let out = if json {
                format!("{}\n", serde_json::to_string_pretty(&verified)?)
            } else {
                format!("{}\n", verified.pinned)
            };
            write_output(None, out.as_bytes())?;
            Ok(())
        }
        Command::Fetch { image, access, platform, path, max_size, output } => {
            let (verified, bytes) = fetch(&image, &access, &platform, &path, max_size)?;
            describe(&verified);
            write_output(output.as_ref(), &bytes)?;
            Ok(())
        }
        Command::Predict(args) => crate::cmd_podvm_predict::run(*args),
    }
}

/// One stderr line per signature, so a person sees what was checked.
fn describe(v: &VerifiedImage) {
    eprintln!("verified {}", v.pinned);
    for (i, s) in v.signatures.iter().enumerate() {
        let status = match s.first_failure() {
            None => "ok".to_owned(),
            Some(f) => format!("rejected ({f})"),
        };
        let skipped: Vec<String> = s
            .checks
            .iter()
            .filter_map(|c| match &c.outcome {
                Outcome::Skipped(why) => Some(format!("{}: {why}", c.check)),
                _ => None,
            })
            .collect();
        let tlog = s.log_index.map(|i| format!(", rekor log index {i}")).unwrap_or_default();
        eprintln!("  signature {} (payload {}): {status}{tlog}", i + 1, s.payload_digest);
        for why in skipped {
            eprintln!("    skipped {why}");
        }
    }
}
