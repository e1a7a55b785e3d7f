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
    if args.iter().any(|a| a == "--launch") {
        return print_table(&launch_rows(if quick { 5 } else { 15 })?);
    }
    if args.iter().any(|a| a == "--predict") {
        let mut bench = cargo();
        bench.args(["bench", "--locked", "--bench", "podvm_predict", "--"]);
        if quick {
            bench.arg("--quick");
        }
        run_cmd(&mut bench)?;
        return print_table(&predict_rows()?);
    }
    let mut bench = cargo();
    bench.args(["bench", "--bench", "hash", "--bench", "initdata"]);
    if podvm {
        bench.args(["--bench", "podvm_fetch", "--bench", "podvm_predict"]);
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

    for (alg, ours, theirs) in hash_file(if quick { 5 } else { 15 })? {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let what = format!("pcr hash {alg}, 512 MiB file in the page cache");
        rows.push(Row::new(
            format!("{what}, wall (ms)"),
            ms(ours.wall),
            "openssl dgst",
            ms(theirs.wall),
            false,
        ));
        rows.push(Row::new(
            "… user CPU (ms)".to_owned(),
            ms(ours.user),
            "openssl dgst",
            ms(theirs.user),
            false,
        ));
        rows.push(Row::new(
            "… system CPU (ms)".to_owned(),
            ms(ours.system),
            "openssl dgst",
            ms(theirs.system),
            false,
        ));
    }

    rows.extend(whole_process_rows(runs)?);
    if podvm {
        rows.extend(podvm_rows()?);
        rows.extend(predict_rows()?);
    }
    rows.extend(launch_rows(if quick { 5 } else { 15 })?);
    print_table(&rows)
}

/// `rvps emit` as a user runs it, against the walkthrough's shell steps and
/// against the least any Rust program costs to start (the target: within
/// 2x), before (a position-independent build) and after (the default,
/// position-dependent link; see `build.rs`).
fn whole_process_rows(runs: usize) -> Result<Vec<Row>> {
    let t = whole_process(runs)?;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    Ok(vec![
        Row::new(
            "rvps emit -o FILE (fsync, rename), whole process (ms)".to_owned(),
            ms(t.rvkit_file),
            "walkthrough shell pipeline",
            ms(t.shell),
            false,
        ),
        Row::new(
            "rvps emit to stdout, whole process (ms)".to_owned(),
            ms(t.rvkit.wall),
            "minimal Rust binary",
            ms(t.hello.wall),
            false,
        ),
        Row::new(
            "… the same, linked as PIE (before) (ms)".to_owned(),
            ms(t.rvkit_pie.wall),
            "minimal Rust binary",
            ms(t.hello.wall),
            false,
        ),
        Row::new(
            "rvps emit to stdout, user + system CPU (ms)".to_owned(),
            ms(t.rvkit.user + t.rvkit.system),
            "minimal Rust binary",
            ms(t.hello.user + t.hello.system),
            false,
        ),
        Row::new(
            "… the same, linked as PIE (before) (ms)".to_owned(),
            ms(t.rvkit_pie.user + t.rvkit_pie.system),
            "minimal Rust binary",
            ms(t.hello.user + t.hello.system),
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

/// The numbers a whole-process benchmark wrote to `target/<file>`, as a
/// getter of `who.what`.
fn bench_result(file: &str) -> Result<impl Fn(&str, &str) -> Result<f64>> {
    let path = target_dir().join(file);
    let text =
        fs::read_to_string(&path).with_context(|| format!("no benchmark result at {}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)?;
    Ok(move |who: &str, what: &str| {
        v[who][what].as_f64().with_context(|| format!("{} lacks {who}.{what}", path.display()))
    })
}

/// Rows from `benches/podvm_fetch.rs`, which writes its own result file.
fn podvm_rows() -> Result<Vec<Row>> {
    let get = bench_result("bench-podvm.json")?;
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
        // The same image: streaming the 1 GiB disk out into a temporary
        // file (and predicting from it) against reading the layer for one
        // small file.
        Row::new(
            "podvm predict IMAGE, 1 GiB disk: wall (s)".to_owned(),
            get("rvkit_predict", "wall_s")?,
            "podvm fetch",
            get("rvkit", "wall_s")?,
            false,
        ),
        Row::alone(
            "podvm predict IMAGE: peak RSS (MiB)".to_owned(),
            get("rvkit_predict", "peak_rss_kib")? / 1024.0,
        ),
    ])
}

/// Rows from `benches/podvm_predict.rs`: `rvkit podvm predict` on a 2 GiB
/// qcow2 against `qemu-img convert` of it to raw (what reading any file of
/// the disk takes without rvkit), both whole processes with the disk
/// file's page cache dropped first, plus rvkit with a warm cache. Bytes are
/// the `rchar` of `/proc/<pid>/io` (every byte a read call returned, cached
/// or not); "from storage" is `read_bytes`.
fn predict_rows() -> Result<Vec<Row>> {
    let get = bench_result("bench-predict.json")?;
    let peer = "qemu-img convert -O raw";
    let mib = 1048576.0;
    Ok(vec![
        Row::new(
            "podvm predict, 2 GiB qcow2, cold cache: wall (ms)".to_owned(),
            get("rvkit_cold", "wall_s")? * 1e3,
            peer,
            get("qemu_img_convert_cold", "wall_s")? * 1e3,
            false,
        ),
        Row::new(
            "… bytes read (rchar, MiB)".to_owned(),
            get("rvkit_cold", "rchar")? / mib,
            peer,
            get("qemu_img_convert_cold", "rchar")? / mib,
            false,
        ),
        Row::new(
            "… share of the file read (rchar, %)".to_owned(),
            get("rvkit_cold", "rchar_percent_of_file")?,
            peer,
            get("qemu_img_convert_cold", "rchar_percent_of_file")?,
            false,
        ),
        Row::new(
            "… bytes from storage (read_bytes, MiB)".to_owned(),
            get("rvkit_cold", "read_bytes")? / mib,
            peer,
            get("qemu_img_convert_cold", "read_bytes")? / mib,
            false,
        ),
        Row::alone("podvm predict, warm cache: wall (ms)".to_owned(), get("rvkit_warm", "wall_s")? * 1e3),
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

/// The expiration the walkthrough's jq program writes.
const WALKTHROUGH_EXPIRATION: &str = "2027-12-12T00:00:00Z";
/// The same day in the year 9027, which rvkit accepts whenever the bench runs.
const EXPIRATION: &str = "9027-12-12T00:00:00Z";

/// Median wall times of whole processes.
struct WholeProcess {
    /// `rvkit rvps emit --configmap` to stdout.
    rvkit: Times,
    /// The same, from a position-independent build (`RVKIT_LINK_PIE=1`).
    rvkit_pie: Times,
    /// The same with `-o FILE`: a temporary file, fsync and rename.
    rvkit_file: Duration,
    /// The walkthrough's shell steps on the same inputs.
    shell: Duration,
    /// A Rust program that prints one line, built with the same toolchain.
    hello: Times,
}

/// The release binary linked as a position-independent executable, copied
/// aside; the next [`build_rvkit`] links the default one again.
fn build_rvkit_pie() -> Result<std::path::PathBuf> {
    println!("xtask: building the rvkit binary as PIE, for the before/after start-up rows");
    run_cmd(cargo().args(["build", "--locked", "--release", "--bin", "rvkit"]).env("RVKIT_LINK_PIE", "1"))?;
    let dir = target_dir().join("bench-pie");
    fs::create_dir_all(&dir)?;
    let bin = dir.join("rvkit");
    fs::copy(target_dir().join("release/rvkit"), &bin)?;
    Ok(bin)
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
    let pie = build_rvkit_pie()?;
    let rvkit = build_rvkit(true)?;
    let hello = build_hello()?;
    let dir = target_dir().join("bench-pipeline");
    fs::create_dir_all(dir.join("podvm"))?;
    fs::copy(root().join("data/demo/measurements.json"), dir.join("podvm/measurements.json"))?;
    fs::write(dir.join("initdata.toml"), rvkit_initdata::DUMMY_INITDATA)?;
    // The walkthrough's steps as the rvps parity tests run them, copied
    // beside the inputs with the jq program's fixed expiration (which will
    // pass, and rvkit refuses a past one) moved to a year no calendar
    // reaches; both sides then write the same date.
    let data = root().join("crates/rvps/tests/data");
    let pipeline = dir.join("walkthrough-reference-values.sh");
    fs::copy(data.join("walkthrough-reference-values.sh"), &pipeline)?;
    let program = fs::read_to_string(data.join("walkthrough-reference-values.jq"))?;
    if program.matches(WALKTHROUGH_EXPIRATION).count() != 2 {
        bail!("the walkthrough's jq program no longer writes {WALKTHROUGH_EXPIRATION} twice");
    }
    fs::write(
        dir.join("walkthrough-reference-values.jq"),
        program.replace(WALKTHROUGH_EXPIRATION, EXPIRATION),
    )?;
    let emit = |bin: &std::path::Path, to_file: bool| {
        let mut c = Command::new(bin);
        c.current_dir(&dir).args([
            "rvps",
            "emit",
            "--measurements",
            "podvm/measurements.json",
            "--initdata",
            "initdata.toml",
            "--expiration",
            EXPIRATION,
            "--configmap",
        ]);
        if to_file {
            c.args(["-o", "rvkit.yaml"]);
        }
        c
    };
    let (mut ours, mut ours_pie, mut ours_file) = (Vec::new(), Vec::new(), Vec::new());
    let mut theirs = Vec::new();
    let mut floor = Vec::new();
    for _ in 0..runs {
        floor.push(Times::of(&mut Command::new(&hello))?);
        ours.push(Times::of(&mut emit(&rvkit, false))?);
        ours_pie.push(Times::of(&mut emit(&pie, false))?);
        ours_file.push(time(&mut emit(&rvkit, true))?);
        theirs.push(time(Command::new("bash").arg(&pipeline).current_dir(&dir))?);
    }
    // Both must have produced the same reference values for the timing to mean anything.
    let a = fs::read_to_string(dir.join("rvkit.yaml"))?;
    let b = fs::read_to_string(dir.join("rvps-configmap.yaml"))?;
    if strip_ws(&a) != strip_ws(&b) {
        bail!("rvkit and the shell pipeline disagree; see {}", dir.display());
    }
    Ok(WholeProcess {
        rvkit: Times::median(ours),
        rvkit_pie: Times::median(ours_pie),
        rvkit_file: median(ours_file),
        shell: median(theirs),
        hello: Times::median(floor),
    })
}

/// Median times of `rvkit pcr hash` and `openssl dgst` over one 512 MiB
/// file that is in the page cache, for each SHA-2 bank, interleaved like
/// [`whole_process`]; both digests must agree.
fn hash_file(runs: usize) -> Result<Vec<(&'static str, Times, Times)>> {
    let rvkit = build_rvkit(true)?;
    let dir = target_dir().join("bench-hash");
    fs::create_dir_all(&dir)?;
    let file = dir.join("512MiB.bin");
    if fs::metadata(&file).map(|m| m.len()).ok() != Some(512 << 20) {
        // Not zeros, which some file systems store sparsely.
        let mut block = vec![0u8; 1 << 20];
        let mut f = fs::File::create(&file)?;
        for i in 0..512u32 {
            for (j, b) in block.iter_mut().enumerate() {
                *b = (j as u32 ^ i).wrapping_mul(2654435761) as u8;
            }
            std::io::Write::write_all(&mut f, &block)?;
        }
    }
    // Read once so every timed run finds it in the page cache.
    std::io::copy(&mut fs::File::open(&file)?, &mut std::io::sink())?;
    let mut rows = Vec::new();
    for alg in ["sha256", "sha384", "sha512"] {
        let ours_cmd = || {
            let mut c = Command::new(&rvkit);
            c.args(["pcr", "hash", "--bank", alg]).arg(&file);
            c
        };
        let theirs_cmd = || {
            let mut c = Command::new("openssl");
            c.args(["dgst", &format!("-{alg}"), "-r"]).arg(&file);
            c
        };
        let a = String::from_utf8(output(&mut ours_cmd())?)?;
        let b = String::from_utf8(output(&mut theirs_cmd())?)?;
        let first = |s: &str| s.split_whitespace().next().map(str::to_owned);
        if first(&a).is_none() || first(&a) != first(&b) {
            bail!("rvkit and openssl disagree on the {alg} of {}:\n{a}{b}", file.display());
        }
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            ours.push(Times::of(&mut ours_cmd())?);
            theirs.push(Times::of(&mut theirs_cmd())?);
        }
        rows.push((alg, Times::median(ours), Times::median(theirs)));
    }
    Ok(rows)
}

/// Wall and CPU time of one run of a command.
struct Times {
    wall: Duration,
    user: Duration,
    system: Duration,
}

impl Times {
    fn of(cmd: &mut Command) -> Result<Times> {
        let (user0, system0) = children_cpu()?;
        let wall = time(cmd)?;
        let (user1, system1) = children_cpu()?;
        Ok(Times { wall, user: user1 - user0, system: system1 - system0 })
    }

    /// The median of each time on its own.
    fn median(v: Vec<Times>) -> Times {
        Times {
            wall: median(v.iter().map(|t| t.wall).collect()),
            user: median(v.iter().map(|t| t.user).collect()),
            system: median(v.iter().map(|t| t.system).collect()),
        }
    }
}

/// User and system CPU time of every child this process has waited for, as
/// `getrusage(RUSAGE_CHILDREN)` reports them: to the microsecond, where
/// /proc's clock ticks (10 ms) would round a short process to nothing.
fn children_cpu() -> Result<(Duration, Duration)> {
    use nix::sys::resource::{UsageWho, getrusage};
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).context("getrusage")?;
    let time = |t: nix::sys::time::TimeVal| {
        Duration::new(t.tv_sec().try_into().unwrap_or(0), u32::try_from(t.tv_usec()).unwrap_or(0) * 1000)
    };
    Ok((time(usage.user_time()), time(usage.system_time())))
}

/// `rvkit launch snp` against sev-snp-measure 0.0.13 (AMD's Python
/// reference) on a 4 MiB firmware: Debian's 2 MiB OVMF.fd behind 2 MiB of
/// pseudo-random bytes (the footer table and metadata are found from the
/// end, so it stays valid). One digest, whole process; and a 1-64 vCPU sweep, which rvkit
/// computes in one process reusing the firmware hash and the peer in one
/// Python process calling its API per count.
fn launch_rows(runs: usize) -> Result<Vec<Row>> {
    let ovmf = std::path::Path::new("/usr/share/ovmf/OVMF.fd");
    let python3 = crate::setup::python3;
    let have_peer =
        python3()?.args(["-c", "import sevsnpmeasure"]).output().is_ok_and(|o| o.status.success());
    if !ovmf.exists() || !have_peer {
        println!("launch rows skipped: needs {} (package ovmf) and sev-snp-measure==0.0.13", ovmf.display());
        return Ok(Vec::new());
    }
    let rvkit = build_rvkit(true)?;
    let dir = target_dir().join("bench-launch");
    fs::create_dir_all(&dir)?;
    // Padding no page of which is one byte value throughout: rvkit hashes
    // such pages once per value, and zeros would flatter it.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut image: Vec<u8> = (0..(2 << 20) / 8)
        .flat_map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()
        })
        .collect();
    image.extend(fs::read(ovmf)?);
    fs::write(dir.join("ovmf4m.fd"), &image)?;
    // Both print to a pipe: `-o FILE` would add rvkit's fsync to its side.
    let one = |vcpus: &'static str| {
        ["launch", "snp", "--ovmf", "ovmf4m.fd", "--vcpu-type", "EPYC-v4", "--vcpus", vcpus]
    };
    let peer_one = [
        "-m",
        "sevsnpmeasure.cli",
        "--mode",
        "snp",
        "--vcpus",
        "4",
        "--vcpu-type",
        "EPYC-v4",
        "--ovmf",
        "ovmf4m.fd",
    ];
    let peer_sweep = "from sevsnpmeasure import guest\nfrom sevsnpmeasure.sev_mode import SevMode\n\
        for n in range(1, 65):\n    print(guest.calc_launch_digest(SevMode.SEV_SNP, n, 0x800f12, 'ovmf4m.fd', None, None, None, 1).hex())";
    let (mut a, mut b, mut c, mut d) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        a.push(time(Command::new(&rvkit).current_dir(&dir).args(one("4")))?);
        b.push(time(python3()?.current_dir(&dir).args(peer_one))?);
        c.push(time(Command::new(&rvkit).current_dir(&dir).args(one("1-64")))?);
        d.push(time(python3()?.current_dir(&dir).args(["-c", peer_sweep]))?);
    }
    // The timings mean something only if both computed the same values.
    let theirs = String::from_utf8_lossy(&output(python3()?.current_dir(&dir).args(peer_one))?).into_owned();
    let ours =
        String::from_utf8_lossy(&output(Command::new(&rvkit).current_dir(&dir).args(one("4")))?).into_owned();
    if !ours.lines().any(|l| l.ends_with(theirs.trim())) {
        bail!("rvkit launch snp and sev-snp-measure disagree; see {}", dir.display());
    }
    let ms = |v: Vec<Duration>| median(v).as_secs_f64() * 1e3;
    Ok(vec![
        Row::new(
            "launch snp, 4 MiB firmware, whole process (ms)".to_owned(),
            ms(a),
            "sev-snp-measure 0.0.13",
            ms(b),
            false,
        ),
        Row::new(
            "launch snp, 1-64 vCPU sweep, whole process (ms)".to_owned(),
            ms(c),
            "sev-snp-measure API loop",
            ms(d),
            false,
        ),
    ])
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
