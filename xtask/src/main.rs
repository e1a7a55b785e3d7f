//! `cargo xtask ...`: the project's workflows, in Rust.
//!
//! - `demo`: the main job on an embedded default, end to end.
//! - `test`: runs the tidy, installs what the suite needs, then runs the whole
//!   suite.
//! - `tidy`: checks the invariants ARCHITECTURE.md states.
//! - `bench`: criterion benchmarks plus a side-by-side table against peers.
//! - `fuzz [--smoke] [--seconds N] [TARGET]`: libFuzzer targets on stable Rust.
//! - `man [DIR]`: the manual pages, from the command line's definitions.
//!
//! xtask only composes: every value it prints is computed by the `rvkit`
//! binary or the library crates.

mod bench;
mod demo;
mod fuzz;
mod man;
mod setup;
mod test;
mod tidy;
mod util;

use anyhow::{Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r),
        None => ("help", &[][..]),
    };
    match cmd {
        "demo" => demo::run(rest),
        "test" => test::run(rest),
        "tidy" => tidy::run(),
        "bench" => bench::run(rest),
        "fuzz" => fuzz::run(rest),
        "man" => man::run_man(rest),
        "help" | "--help" | "-h" => {
            println!("{}", HELP);
            Ok(())
        }
        other => bail!("unknown xtask command {other:?}\n\n{HELP}"),
    }
}

const HELP: &str = "\
usage: cargo xtask <command>

commands:
  demo                 run the main job on the embedded demo inputs
  test [--no-install] [-- ARGS]
                       run the tidy, install what the suite needs (apt, pip, npm,
                       tpm2_eventlog 5.7; --no-install lists it instead), then run
                       the whole test suite
  tidy                 check the invariants ARCHITECTURE.md states
  bench [--quick] [--no-podvm] [--whole-process | --launch | --predict]
                       criterion benchmarks, the 1 GiB podvm fetch, podvm predict on a 2 GiB
                       qcow2, and the side-by-side table (--whole-process, --launch,
                       --predict: only those rows)
  fuzz [--smoke] [--seconds N] [TARGET]
                       build and run the libFuzzer targets on stable Rust
  man [DIR]            write the manual pages (default: target/man)";
