//! Launch measurements of confidential VMs computed from their artifacts.
//!
//! Given an OVMF image, and for direct kernel boot the kernel, initrd and
//! command line, this crate computes what the hardware reports at launch:
//! the AMD SEV-SNP launch digest (`snp_launch_measurement` in Trustee) and the
//! Intel TDX MRTD and RTMRs (`mr_td`, `rtmr_1`, `rtmr_2`). It parses the OVMF
//! footer GUID table ([`ovmf`]), replays QEMU's `SNP_LAUNCH_UPDATE` sequence
//! ([`snp`]) and the TDX module's `TDH.MEM.PAGE.ADD`/`TDH.MR.EXTEND` sequence
//! ([`tdx`]). It is pure: it reads only the bytes it is given.
//!
//! ```no_run
//! use rvkit_launch::snp::{cpu_type_signature, firmware_hash, launch_digests, VcpuParams, VmmType};
//! let image = std::fs::read("/usr/share/ovmf/OVMF.fd").unwrap();
//! let fw = rvkit_launch::Firmware::parse(&image)?;
//! let params = VcpuParams { vmm: VmmType::Qemu, signature: cpu_type_signature("EPYC-Genoa")?, guest_features: 1 };
//! let base = firmware_hash(&fw, false);
//! let values = launch_digests(&base, &fw, &params, 1..=4, &|_| None)?;
//! assert_eq!(values.len(), 4);
//! # Ok::<(), rvkit_launch::Error>(())
//! ```
#![warn(missing_docs)]

mod error;
pub mod ovmf;
pub mod report;
pub mod request;
pub mod rtmr0;
pub mod search;
pub mod snp;
pub mod tdx;

pub use error::Error;
pub use ovmf::{Firmware, Guid};
