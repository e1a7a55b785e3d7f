//! End-to-end tests of the `rvkit` binary, grouped by purpose.

mod attest;
mod bundle;
mod cli;
#[path = "../../crates/podvm/tests/it/harness.rs"]
#[allow(dead_code)]
mod harness;
mod parity;
mod podvm;
mod predict;
mod rvps;
mod seed;
mod tpm;
mod util;
mod vectors;
