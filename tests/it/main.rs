//! End-to-end tests of the `rvkit` binary, grouped by purpose.

mod cli;
mod parity;
mod rvps;
mod seed;
mod tpm;
mod util;
mod vectors;
