//! End-to-end tests of the `rvkit` binary, grouped by purpose.

mod attest;
mod bundle;
mod cli;
mod parity;
mod podvm;
mod rvps;
mod seed;
mod tpm;
mod util;
mod vectors;
