//! `rvkit podvm ...`: verify signed podvm images and fetch verified files.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use clap::Subcommand;
use rvkit_podvm::{
    DEFAULT_MAX_SIZE, DEFAULT_PATH, ImageAccess, ImageMeasurements, ImagePath, ImageRef, MeasurementsFrom,
    NoProgress, Progress, PublicKey, PullOptions, VerifiedImage, VerifyOptions,
};

use crate::io::{read_input, warn, write_output};
use crate::report::to_json;
use crate::{CmdResult, Failure};

#[derive(Subcommand)]
pub enum Command {
    /// Verify an image's cosign signature (and Rekor bundle) and print the pinned reference.
    // `--platform` was the flag's name here before it became `--image-platform` everywhere.
    #[command(mut_arg("image_platform", |a| a.alias("platform")))]
    // Verifying reads no measurements.
    #[command(mut_arg("measurements_from", |a| a.hide(true)))]
    Verify {
        /// docker://HOST/REPO[:TAG|@DIGEST], HOST/REPO:TAG, oci:DIR[:TAG] or oci-archive:FILE[:TAG].
        image: String,
        /// Print the pinned reference and every signature checked as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        access: ImageAccess,
    },
    /// Verify an image, then print one file from its layers (streamed, never stored).
    ///
    /// /image/measurements.json, the default, is made from the signed
    /// manifest's measurement annotations when it has them, without
    /// downloading a layer (see --measurements-from).
    #[command(mut_arg("image_platform", |a| a.alias("platform")))]
    Fetch {
        /// docker://HOST/REPO[:TAG|@DIGEST], HOST/REPO:TAG, oci:DIR[:TAG] or oci-archive:FILE[:TAG].
        image: String,
        /// The file inside the image.
        #[arg(long, default_value = DEFAULT_PATH)]
        path: String,
        /// The largest file accepted, in bytes.
        #[arg(long, default_value_t = DEFAULT_MAX_SIZE)]
        max_size: u64,
        /// Write here (atomically) instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        access: ImageAccess,
    },
    /// Predict the PCRs 3, 9, 11 and 12 a podvm disk boots to, or check a published measurements.json.
    Predict(Box<crate::cmd_podvm_predict::PredictArgs>),
}

/// The pull and verification options `access` gives, with its key files
/// read; shared by `podvm`, `rvps emit --image` and `bundle`.
pub fn options(access: &ImageAccess) -> Result<(PullOptions, VerifyOptions), Failure> {
    let key = |path: &PathBuf| -> Result<PublicKey, Failure> {
        let bytes = read_input(path)?;
        PublicKey::from_pem_or_der(&bytes, &path.display().to_string()).map_err(Failure::input)
    };
    if access.key.is_none() && !access.insecure_skip_verify() {
        return Err(Failure::input(anyhow!(
            "--key is required to verify the image signature (or --insecure-skip-verify to skip it)"
        )));
    }
    if access.insecure_skip_verify() {
        warn(
            "--insecure-skip-verify: the image signature is NOT checked; values from it are not trustworthy",
        );
    } else if access.rekor_key.is_none() && access.insecure_ignore_tlog() {
        warn("--insecure-ignore-tlog: signatures are accepted without a transparency-log check");
    }
    let pull = PullOptions::from_access(access).map_err(Failure::input)?;
    let verify = VerifyOptions::from_access(
        access,
        access.key.as_ref().map(key).transpose()?,
        access.rekor_key.as_ref().map(key).transpose()?,
    );
    Ok((pull, verify))
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
    match rvkit_podvm::TerminalProgress::if_terminal().filter(|_| !crate::io::quiet()) {
        Some(p) => Arc::new(p),
        None => Arc::new(NoProgress),
    }
}

/// Verifies `image` and returns the content of `path` in it.
pub fn fetch(
    image: &str,
    access: &ImageAccess,
    path: &str,
    max_size: u64,
) -> Result<(VerifiedImage, Vec<u8>), Failure> {
    let image = ImageRef::parse(image).map_err(Failure::input)?;
    let path = ImagePath::parse(path).map_err(Failure::input)?;
    let (pull, verify) = options(access)?;
    let rt = runtime()?;
    rt.block_on(rvkit_podvm::fetch_file(&image, &path, max_size, &pull, &verify, progress()))
        .map_err(podvm_failure)
}

/// Verifies `image` and returns its measurements, from its manifest
/// annotations or its layers as `access` says (a file of at most
/// `max_size` bytes).
pub fn fetch_measurements(
    image: &str,
    access: &ImageAccess,
    max_size: u64,
) -> Result<ImageMeasurements, Failure> {
    let image = ImageRef::parse(image).map_err(Failure::input)?;
    let (pull, verify) = options(access)?;
    let rt = runtime()?;
    rt.block_on(rvkit_podvm::fetch_measurements(
        &image,
        access.measurements_from(),
        max_size,
        &pull,
        &verify,
        progress(),
    ))
    .map_err(podvm_failure)
}

pub fn run(cmd: Command) -> CmdResult {
    match cmd {
        Command::Verify { image, access, json } => {
            let image = ImageRef::parse(&image).map_err(Failure::input)?;
            let (pull, verify) = options(&access)?;
            let verified =
                runtime()?.block_on(rvkit_podvm::verify(&image, &pull, &verify)).map_err(podvm_failure)?;
            eprint!("{verified}");
            let out = if json { to_json(&verified)? } else { format!("{}\n", verified.pinned) };
            write_output(None, out.as_bytes())?;
            Ok(())
        }
        Command::Fetch { image, access, path, max_size, output } if path == DEFAULT_PATH => {
            let measurements = fetch_measurements(&image, &access, max_size)?;
            eprint!("{measurements}");
            write_output(output.as_ref(), &measurements.document)?;
            Ok(())
        }
        Command::Fetch { image, access, path, max_size, output } => {
            if access.measurements_from == Some(MeasurementsFrom::Annotations) {
                return Err(Failure::input(anyhow!(
                    "--measurements-from annotations gives {DEFAULT_PATH} only; --path names {path}"
                )));
            }
            let (verified, bytes) = fetch(&image, &access, &path, max_size)?;
            eprint!("{verified}");
            write_output(output.as_ref(), &bytes)?;
            Ok(())
        }
        Command::Predict(args) => crate::cmd_podvm_predict::run(*args),
    }
}
