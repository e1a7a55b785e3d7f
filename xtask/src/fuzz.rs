//! `cargo xtask fuzz`: builds the libFuzzer targets in `fuzz/` with the same
//! coverage instrumentation cargo-fuzz uses, but on the stable toolchain (no
//! sanitizer, which is what needs nightly), and runs them.

use std::fs;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util::{cargo, output, root, run as run_cmd, target_dir};

pub const TARGETS: &[&str] = &[
    "initdata_parse",
    "annotation_decode",
    "measurements_parse",
    "eventlog_parse",
    "pcr_values_parse",
    "image_ref_parse",
    "public_key_parse",
    "podvm_layers",
    "published_parse",
    "policy_inputs",
    "bundle_config",
    "ovmf_parse",
    "pe_parse",
    "uki_predict",
    "disk_read",
];

/// Runs per target in a smoke run: about 10 s each on a development machine.
fn smoke_runs(target: &str) -> u64 {
    match target {
        "bundle_config" => 30_000,
        "policy_inputs" => 150_000,
        "podvm_layers" | "published_parse" => 300_000,
        // Firmware images are kilobytes each: about 1,000 runs per second.
        "ovmf_parse" => 10_000,
        // PE images too, with zero fills over 1 MiB left out: over 10,000 per second.
        "pe_parse" | "uki_predict" => 100_000,
        _ => 500_000,
    }
}

/// The flags cargo-fuzz passes for `--sanitizer none`: SanitizerCoverage with
/// inline 8-bit counters, PC tables and comparison tracing, plus `cfg(fuzzing)`.
const RUSTFLAGS: &str = "-Cpasses=sancov-module \
    -Cllvm-args=-sanitizer-coverage-level=4 \
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
    -Cllvm-args=-sanitizer-coverage-pc-table \
    -Cllvm-args=-sanitizer-coverage-trace-compares \
    --cfg fuzzing -Cdebug-assertions -Coverflow-checks";

pub fn run(args: &[String]) -> Result<()> {
    let mut seconds: u64 = 600;
    let mut smoke = false;
    let mut only = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--smoke" => smoke = true,
            "--seconds" => {
                seconds = it.next().context("--seconds needs a number")?.parse().context("--seconds")?;
            }
            t if TARGETS.contains(&t) => only = Some(t.to_owned()),
            other => bail!("unknown fuzz argument {other:?} (targets: {})", TARGETS.join(", ")),
        }
    }
    let host = host_triple()?;
    let fuzz_target_dir = target_dir().join("fuzz");
    let mut build = cargo();
    build
        .args(["build", "--release", "--quiet", "--locked", "--manifest-path"])
        .arg(root().join("fuzz/Cargo.toml"))
        .arg("--target-dir")
        .arg(&fuzz_target_dir)
        // A target triple keeps RUSTFLAGS away from build scripts and proc macros.
        .args(["--target", &host])
        .env("RUSTFLAGS", RUSTFLAGS);
    run_cmd(&mut build)?;

    for target in TARGETS.iter().filter(|t| only.as_deref().is_none_or(|o| o == **t)) {
        let seeds = root().join("fuzz/seeds").join(target);
        let bin = fuzz_target_dir.join(&host).join("release").join(target);
        let mut fuzz = Command::new(bin);
        // A smoke run is reproducible: a fixed random seed, a fixed number of
        // runs and a fresh corpus from the committed seeds only, so CI and a
        // developer's machine explore exactly the same inputs. A long run
        // keeps and grows its corpus under target/fuzz/corpus.
        let corpus = if smoke {
            let runs = smoke_runs(target);
            println!("fuzz {target}: {runs} runs from the seeds, random seed 1");
            fuzz.args(["-seed=1", &format!("-runs={runs}")]);
            fuzz_target_dir.join("smoke-corpus").join(target)
        } else {
            println!("fuzz {target}: {seconds} s");
            fuzz.arg(format!("-max_total_time={seconds}"));
            fuzz_target_dir.join("corpus").join(target)
        };
        if smoke && corpus.exists() {
            fs::remove_dir_all(&corpus)?;
        }
        fs::create_dir_all(&corpus)?;
        run_cmd(
            fuzz.arg("-max_len=65536")
                .arg("-rss_limit_mb=1024")
                .arg("-print_final_stats=1")
                .arg(&corpus)
                .arg(&seeds),
        )
        .with_context(|| format!("fuzz target {target} found a failure (see the crash file above)"))?;
    }
    Ok(())
}

fn host_triple() -> Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let info = String::from_utf8(output(Command::new(rustc).arg("-vV"))?)?;
    info.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .context("rustc -vV printed no host triple")
}
