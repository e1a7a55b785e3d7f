//! `cargo xtask test`: the repository's invariants, the suite's set-up, then
//! the whole suite.

use anyhow::Result;

use crate::util::{cargo, run as run_cmd};

pub fn run(args: &[String]) -> Result<()> {
    let install = !args.iter().any(|a| a == "--no-install");
    let cargo_args: Vec<&String> = args.iter().filter(|a| *a != "--no-install").collect();
    crate::tidy::run()?;
    crate::setup::ensure(install)?;
    // Tests that need a service start it themselves on 127.0.0.1 with an
    // ephemeral port; this variable makes them fail instead of skip when a
    // tool is missing, exactly as they do in CI.
    let mut c = cargo();
    // Python packages the set-up installed are the suite's own, beside the
    // system's: every test's python3 sees them.
    c.env("PYTHONPATH", crate::setup::python_path()?);
    c.env("RVKIT_REQUIRE_SERVICES", "1").args(["test", "--workspace", "--locked", "--no-fail-fast"]);
    c.args(cargo_args);
    println!("xtask: cargo test --workspace --locked --no-fail-fast");
    run_cmd(&mut c)
}
