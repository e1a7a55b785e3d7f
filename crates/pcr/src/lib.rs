//! Hash banks, PCR extend simulation and TEE register mapping.
//!
//! This crate implements the arithmetic of the TPM 2.0 Platform Configuration
//! Registers (TCG *TPM 2.0 Library, Part 1*, section 17: an extend replaces a
//! register with `H(old || digest)`) and the TDX mapping of PCR indices to
//! runtime measurement registers (TCG/Intel *TDX Virtual Firmware Design Guide*,
//! section 4.3.4). Its [`eventlog`] module parses and replays the
//! crypto-agile TCG event logs of the *TCG PC Client Platform Firmware
//! Profile* (section 10) that firmware leaves for the OS, and the TDX CCEL
//! log in the same format. It is pure: it reads only the bytes and readers
//! a caller hands in and never touches the network.
//!
//! ```
//! use rvkit_pcr::{Digest, HashAlg, PcrBank, PcrIndex};
//!
//! // PCR8 of a peer pod whose initdata document hashes to `d`.
//! let d = Digest::parse_hex(HashAlg::Sha256,
//!     "8505e4e25e50a27c5dc8147af88efbece627fbea55291911eff832d9ee127781")?;
//! let mut bank = PcrBank::new(HashAlg::Sha256);
//! bank.extend(PcrIndex::new(8)?, &d)?;
//! assert_eq!(
//!     bank.get(PcrIndex::new(8)?).to_hex(),
//!     "bddaccb9c52249e97a31baea61b7d91be8221a16e703d92148d04fb8e9c1dfdd",
//! );
//! # Ok::<(), rvkit_pcr::Error>(())
//! ```
#![warn(missing_docs)]

mod alg;
mod bank;
mod digest;
mod error;
pub mod eventlog;
mod tdx;
pub mod uefi;

pub use alg::{HashAlg, Hasher, hash_reader};
pub use bank::{ExtendStep, PcrBank, PcrIndex, Transcript};
pub use digest::{ChecksumLine, Digest, MAX_DIGEST_LEN, strip_hex_prefix};
pub use error::Error;
pub use tdx::{Rtmr, rtmr_for_pcr};
