//! End-to-end tests of the `rvkit` binary, grouped by purpose.

mod attest;
mod bundle;
mod cli;
mod contract;
mod initdata;
mod launch;
mod output;
mod parity;
mod podvm;
mod predict;
mod reports;
mod rvps;
mod seed;
mod tpm;
mod util;
mod vectors;
