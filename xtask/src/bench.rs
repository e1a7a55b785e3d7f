//! `cargo xtask bench`: criterion benchmarks, then one table that puts each
//! number next to a peer measured in the same run on the same machine.

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::util::{build_rvkit, cargo, output, root, run as run_cmd, target_dir};

pub fn run(args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let podvm = !args.iter().any(|a| a == "--no-podvm");
    let runs = if quick { 20 } else { 60 };
    if args.iter().any(|a| a == "--whole-process") {
        return print_table(&whole_process_rows(runs)?);
    }
    let mut bench = cargo();
    bench.args(["bench", "--bench", "hash", "--bench", "initdata"]);
    if podvm {
        bench.args(["--bench", "podvm_fetch"]);
    }
    bench.arg("--");
    if quick {
        bench.arg("--quick");
    }
    run_cmd(&mut bench)?;

    let mut rows = Vec::new();
    for alg in ["sha256", "sha384", "sha512"] {
        let ns = criterion_mean_ns(&format!("hash/{alg}/1048576"))?;
        let ours = (1u64 << 20) as f64 / ns * 1e3;
        let theirs = openssl_speed(alg)?;
        rows.push(Row::new(format!("{alg} 1 MiB (MB/s)"), ours, "openssl speed -evp", theirs, true));
    }
    for alg in ["sha256", "sha384"] {
        let ns = criterion_mean_ns(&format!("extend/{alg}"))?;
        rows.push(Row::alone(format!("{alg} extends per second"), 1e9 / ns));
    }
    for (what, id) in [
        ("annotation encode 4 KiB (µs)", "annotation/encode/4096"),
        ("annotation decode 4 KiB (µs)", "annotation/decode/4096"),
        ("annotation encode 64 KiB (µs)", "annotation/encode/65536"),
        ("annotation decode 64 KiB (µs)", "annotation/decode/65536"),
    ] {
        rows.push(Row::alone(what.to_owned(), criterion_mean_ns(id)? / 1e3));
    }
    let batch = criterion_mean_ns("batch/10000-docs-digest-pcr8")?;
    rows.push(Row::alone("10,000 documents -> digest + PCR8 (ms)".to_owned(), batch / 1e6));

    rows.extend(whole_process_rows(runs)?);
    if podvm {
        rows.extend(podvm_rows()?);
    }
    print_table(&rows)
}

/// `rvps emit` as a user runs it, against the walkthrough's shell steps and
/// against the least any Rust program costs to start (the target: within 2x).
fn whole_process_rows(runs: usize) -> Result<Vec<Row>> {
    let t = whole_process(runs)?;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    Ok(vec![
        Row::new(
            "rvps emit, whole process (ms)".to_owned(),
            ms(t.rvkit),
            "walkthrough shell pipeline",
            ms(t.shell),
            false,
        ),
        Row::new(
            "rvps emit, whole process (ms)".to_owned(),
            ms(t.rvkit),
            "minimal Rust binary",
            ms(t.hello),
            false,
        ),
    ])
}

fn print_table(rows: &[Row]) -> Result<()> {
    let mut table =
        String::from("| measurement | rvkit | peer | peer value | ratio |\n|---|---:|---|---:|---:|\n");
    for r in rows {
        table.push_str(&r.markdown());
    }
    println!("\n{table}");
    let path = target_dir().join("bench-table.md");
    fs::write(&path, &table)?;
    println!("(also written to {})", path.display());
    Ok(())
}

struct Row {
    what: String,
    ours: f64,
    peer: Option<(&'static str, f64, bool)>,
}

impl Row {
    /// `higher_is_better` decides the direction of the ratio, so a ratio
    /// above 1 always means rvkit is ahead.
    fn new(what: String, ours: f64, peer: &'static str, theirs: f64, higher_is_better: bool) -> Row {
        Row { what, ours, peer: Some((peer, theirs, higher_is_better)) }
    }

    fn alone(what: String, ours: f64) -> Row {
        Row { what, ours, peer: None }
    }

    fn markdown(&self) -> String {
        match self.peer {
            Some((peer, theirs, higher)) => {
                let (num, den) = if higher { (self.ours, theirs) } else { (theirs, self.ours) };
                let ratio = if den == 0.0 { "none used".to_owned() } else { format!("{:.2}x", num / den) };
                format!("| {} | {:.1} | {peer} | {theirs:.1} | {ratio} |\n", self.what, self.ours)
            }
            None => format!("| {} | {:.1} | | | |\n", self.what, self.ours),
        }
    }
}

/// Rows from `benches/podvm_fetch.rs`, which writes its own result file.
fn podvm_rows() -> Result<Vec<Row>> {
    let path = target_dir().join("bench-podvm.json");
    let text = fs::read_to_string(&path)
        .with_context(|| format!("no podvm benchmark result at {}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)?;
    let get = |who: &str, what: &str| {
        v[who][what].as_f64().with_context(|| format!("{} lacks {who}.{what}", path.display()))
    };
    let peer = "skopeo copy dir: + tar -x";
    Ok(vec![
        Row::new(
            "podvm fetch, 1 GiB image: wall (s)".to_owned(),
            get("rvkit", "wall_s")?,
            peer,
            get("skopeo_tar", "wall_s")?,
            false,
        ),
        Row::new(
            "podvm fetch: peak RSS (MiB)".to_owned(),
            get("rvkit", "peak_rss_kib")? / 1024.0,
            peer,
            get("skopeo_tar", "peak_rss_kib")? / 1024.0,
            false,
        ),
        Row::new(
            "podvm fetch: temporary disk (MiB)".to_owned(),
            get("rvkit", "temp_disk_bytes")? / 1048576.0,
            peer,
            get("skopeo_tar", "temp_disk_bytes")? / 1048576.0,
            false,
        ),
    ])
}

/// The mean time per iteration criterion recorded for `id`, in nanoseconds.
fn criterion_mean_ns(id: &str) -> Result<f64> {
    let path = target_dir().join("criterion").join(id).join("new/estimates.json");
    let text =
        fs::read_to_string(&path).with_context(|| format!("no criterion result at {}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)?;
    v["mean"]["point_estimate"].as_f64().with_context(|| format!("{} has no mean", path.display()))
}

/// `openssl speed` on 1 MiB blocks, in MB/s.
fn openssl_speed(alg: &str) -> Result<f64> {
    let out =
        output(Command::new("openssl").args(["speed", "-evp", alg, "-bytes", "1048576", "-seconds", "3"]))?;
    let text = String::from_utf8_lossy(&out);
    // The result line is "<alg>  <N>k" with N in thousands of bytes per second.
    let line = text.lines().rev().find(|l| l.starts_with(alg)).context("openssl speed printed no result")?;
    let k: f64 = line
        .split_whitespace()
        .last()
        .and_then(|v| v.strip_suffix('k'))
        .context("unexpected openssl speed output")?
        .parse()?;
    Ok(k / 1e3)
}

/// Median wall times of whole processes.
struct WholeProcess {
    /// `rvkit rvps emit --configmap`.
    rvkit: Duration,
    /// The walkthrough's shell steps on the same inputs.
    shell: Duration,
    /// A Rust program that prints one line, built with the same toolchain.
    hello: Duration,
}

/// A minimal Rust binary (one `println!`), optimised, as the floor of what a
/// Rust process costs to start on this machine.
fn build_hello() -> Result<std::path::PathBuf> {
    let dir = target_dir().join("bench-hello");
    fs::create_dir_all(&dir)?;
    fs::write(dir.join("main.rs"), "fn main() {\n    println!(\"hello\");\n}\n")?;
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let bin = dir.join("hello");
    run_cmd(
        Command::new(rustc)
            .args(["--edition", "2024", "-C", "opt-level=3", "-o"])
            .arg(&bin)
            .arg(dir.join("main.rs")),
    )?;
    Ok(bin)
}

/// Median wall time of `rvkit rvps emit`, of the walkthrough's shell steps
/// (PCR8 with sha256sum|xxd|sha256sum, the jq program, the ConfigMap heredoc)
/// on the same inputs, and of a minimal Rust binary, interleaved so machine
/// noise hits all alike.
fn whole_process(runs: usize) -> Result<WholeProcess> {
    let rvkit = build_rvkit(true)?;
    let hello = build_hello()?;
    let dir = target_dir().join("bench-pipeline");
    fs::create_dir_all(dir.join("podvm"))?;
    fs::copy(root().join("data/demo/measurements.json"), dir.join("podvm/measurements.json"))?;
    fs::write(dir.join("initdata.toml"), rvkit_initdata::DUMMY_INITDATA)?;
    // The walkthrough's steps as the rvps parity tests run them.
    let pipeline = root().join("crates/rvps/tests/data/walkthrough-reference-values.sh");
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let mut floor = Vec::new();
    for _ in 0..runs {
        floor.push(time(&mut Command::new(&hello))?);
        ours.push(time(Command::new(&rvkit).current_dir(&dir).args([
            "rvps",
            "emit",
            "--measurements",
            "podvm/measurements.json",
            "--initdata",
            "initdata.toml",
            "--expiration",
            "2027-12-12T00:00:00Z",
            "--configmap",
            "-o",
            "rvkit.yaml",
        ]))?);
        theirs.push(time(Command::new("bash").arg(&pipeline).current_dir(&dir))?);
    }
    // Both must have produced the same reference values for the timing to mean anything.
    let a = fs::read_to_string(dir.join("rvkit.yaml"))?;
    let b = fs::read_to_string(dir.join("rvps-configmap.yaml"))?;
    if strip_ws(&a) != strip_ws(&b) {
        bail!("rvkit and the shell pipeline disagree; see {}", dir.display());
    }
    Ok(WholeProcess { rvkit: median(ours), shell: median(theirs), hello: median(floor) })
}

fn strip_ws(s: &str) -> String {
    s.split_whitespace().collect()
}

fn time(cmd: &mut Command) -> Result<Duration> {
    let start = Instant::now();
    let out = cmd.output().with_context(|| format!("cannot start {cmd:?}"))?;
    let t = start.elapsed();
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(t)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}
