//! Which guest shape gives a launch digest: when the evidence's
//! `snp_launch_measurement` is none of the published values, the same
//! firmware, kernel, initrd and command line are measured again for other
//! vCPU counts, CPU models, guest features and hypervisors, and the shapes
//! whose digest equals the evidence's are named.
//!
//! The firmware is hashed once ([`crate::request::SnpRequest`]'s base) and
//! the metadata sections once per hypervisor (per vCPU count with kata's
//! `nr_cpus=`); each vCPU count then costs one more VMSA update on the
//! previous count's state, so a sweep of 1-64 vCPUs over every shape takes
//! a few thousand SHA-384 computations.

use std::fmt;

use base64::Engine as _;
use rvkit_pcr::{Digest, HashAlg};
use serde::Serialize;

use crate::request::{KernelDigests, SnpRequest};
use crate::snp::{self, CPU_TYPES, Gctx, PageType, Updating, VcpuParams, VmmType, VmsaDigests};
use crate::{Error, Firmware};

/// The vCPU counts always searched, besides the requested ones.
pub const SEARCHED_VCPUS: u32 = 64;

/// The guest features always searched: SNP active (host kernels before 6.6
/// and from 6.8) and SNP active with DebugSwap (6.6 and 6.7).
pub const SEARCHED_GUEST_FEATURES: [u64; 2] = [0x1, 0x21];

/// One guest shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SnpShape {
    /// The vCPU counts, `N` or `A-B`.
    pub vcpus: String,
    /// The CPU model's name (one of the names with this signature).
    pub vcpu_type: Option<String>,
    /// CPUID(1).EAX.
    pub vcpu_signature: u32,
    /// SEV_FEATURES.
    pub guest_features: u64,
    /// The hypervisor.
    pub vmm: VmmType,
}

impl fmt::Display for SnpShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = if self.vcpus == "1" { "" } else { "s" };
        write!(f, "{} vCPU{plural}, ", self.vcpus)?;
        match &self.vcpu_type {
            Some(t) => write!(f, "{t} ({:#x})", self.vcpu_signature)?,
            None => write!(f, "CPU signature {:#x}", self.vcpu_signature)?,
        }
        write!(f, ", guest features {:#x}, vmm {}", self.guest_features, self.vmm.name())
    }
}

/// The result of [`snp_candidates`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SnpCandidates {
    /// The shape the request describes.
    pub configured: SnpShape,
    /// How many digests were computed.
    pub searched: usize,
    /// What was searched, in words.
    pub space: String,
    /// The shapes whose digest equals the evidence's, in search order.
    pub matches: Vec<SnpShape>,
}

impl fmt::Display for SnpCandidates {
    /// One sentence: the matching shapes and the configured one, or that none matched.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.matches.is_empty() {
            return write!(
                f,
                "no nearby candidate: none of {} launch digests ({}) equals the evidence's measurement, \
                 so the firmware, kernel, initrd or command line differ from the launch inputs",
                self.searched, self.space
            );
        }
        let shapes: Vec<String> = self.matches.iter().map(ToString::to_string).collect();
        write!(
            f,
            "the evidence's measurement equals the one for {} (you configured {})",
            shapes.join("; or "),
            self.configured
        )
    }
}

/// Reads a launch measurement as a claim carries it: hex (Trustee v0.18 and
/// later) or standard base64 (before), 48 bytes.
pub fn parse_measurement(text: &str) -> Option<Digest> {
    Digest::parse_hex(HashAlg::Sha384, text).ok().or_else(|| {
        let bytes = base64::engine::general_purpose::STANDARD.decode(text).ok()?;
        Digest::from_slice(HashAlg::Sha384, &bytes).ok()
    })
}

/// The CPU signatures searched: the configured one, then each distinct
/// signature of [`CPU_TYPES`] with its first name.
fn cpu_models(configured: (u32, Option<String>)) -> Vec<(u32, Option<String>)> {
    let mut out = vec![configured];
    for (name, (f, m, s)) in CPU_TYPES {
        let sig = snp::cpu_signature(f, m, s);
        if !out.iter().any(|(o, _)| *o == sig) {
            out.push((sig, Some(name.to_owned())));
        }
    }
    out
}

/// Measures `req`'s firmware, kernel, initrd and command line for every
/// vCPU count from 1 to [`SEARCHED_VCPUS`] (and the requested counts), every
/// CPU model of [`CPU_TYPES`], the requested and [`SEARCHED_GUEST_FEATURES`]
/// and every hypervisor, and returns the shapes whose digest is `target`.
pub fn snp_candidates(
    req: &SnpRequest,
    fw: &Firmware<'_>,
    kernel: Option<&KernelDigests>,
    target: &Digest,
) -> Result<SnpCandidates, Error> {
    let params = req.params()?;
    let (base, _) = req.base(fw, false)?;
    let last = SEARCHED_VCPUS.max(req.vcpus.last());
    snp::check_vcpus(last)?;
    let models = cpu_models((params.signature, req.vcpu_type()));
    let mut features = vec![params.guest_features];
    features.extend(SEARCHED_GUEST_FEATURES.iter().filter(|f| **f != params.guest_features));
    let mut vmms = vec![params.vmm];
    vmms.extend(VmmType::ALL.iter().filter(|v| **v != params.vmm));
    // With kata's nr_cpus= the hashes page, and so the state before the VMSAs, depends on the count.
    let per_count = req.kata && kernel.is_some();
    let mut matches = Vec::new();
    let mut searched = 0;
    for &vmm in &vmms {
        let metadata = |n: u32| -> Result<Gctx<Updating>, Error> {
            let mut g = base.clone();
            snp::measure_metadata(&mut g, fw, req.hashes(kernel, n).as_ref(), vmm)?;
            Ok(g)
        };
        let states = if per_count {
            (1..=last).map(metadata).collect::<Result<Vec<_>, _>>()?
        } else {
            vec![metadata(1)?]
        };
        for (signature, name) in &models {
            for &guest_features in &features {
                let vmsa = VmsaDigests::new(fw, &VcpuParams { vmm, signature: *signature, guest_features })?;
                let mut found = |n: u32| {
                    matches.push(SnpShape {
                        vcpus: n.to_string(),
                        vcpu_type: name.clone(),
                        vcpu_signature: *signature,
                        guest_features,
                        vmm,
                    })
                };
                if per_count {
                    for (n, state) in (1..=last).zip(&states) {
                        let mut g = state.clone();
                        g.update(PageType::Vmsa, snp::VMSA_GPA, &vmsa.bsp);
                        for _ in 1..n {
                            g.update(PageType::Vmsa, snp::VMSA_GPA, &vmsa.ap);
                        }
                        searched += 1;
                        if g.ld[..] == *target.as_bytes() {
                            found(n);
                        }
                    }
                } else {
                    let mut g = states[0].clone();
                    for n in 1..=last {
                        let page = if n == 1 { &vmsa.bsp } else { &vmsa.ap };
                        g.update(PageType::Vmsa, snp::VMSA_GPA, page);
                        searched += 1;
                        if g.ld[..] == *target.as_bytes() {
                            found(n);
                        }
                    }
                }
            }
        }
    }
    let names: Vec<String> =
        models.iter().map(|(sig, name)| name.clone().unwrap_or_else(|| format!("{sig:#x}"))).collect();
    let hex: Vec<String> = features.iter().map(|f| format!("{f:#x}")).collect();
    let vmm_names: Vec<&str> = vmms.iter().map(|v| v.name()).collect();
    Ok(SnpCandidates {
        configured: SnpShape {
            vcpus: req.vcpus.to_string(),
            vcpu_type: req.vcpu_type(),
            vcpu_signature: params.signature,
            guest_features: params.guest_features,
            vmm: params.vmm,
        },
        searched,
        space: format!(
            "vCPUs 1-{last}; CPU models {}; guest features {}; vmm {}",
            names.join(", "),
            hex.join(", "),
            vmm_names.join(", ")
        ),
        matches,
    })
}

/// The Trustee names of the TDX launch values.
pub const TDX_NAMES: [&str; 6] = ["mr_td", "rtmr_0", "rtmr_1", "rtmr_2", "tdvfkernel", "tdvfkernelparams"];

/// Which TDX value computed from the launch inputs a claim equals: the
/// result of [`tdx_candidates`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TdxCandidates {
    /// The reference-value name (`mr_td`, `rtmr_1`, ...).
    pub name: String,
    /// Each way of booting the inputs that gives a value of that name, with the value.
    pub computed: Vec<TdxValue>,
    /// The ways whose value is the claim's.
    pub matches: Vec<String>,
}

impl fmt::Display for TdxCandidates {
    /// One sentence: the way of booting that gives the claim, or the values computed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.matches.is_empty() {
            return write!(
                f,
                "the evidence's {} is the one the launch inputs give {}",
                self.name,
                self.matches.join("; or ")
            );
        }
        let computed: Vec<String> = self.computed.iter().map(|c| format!("{} {}", c.value, c.how)).collect();
        let causes = match self.name.as_str() {
            "rtmr_0" => "another firmware, guest memory or QEMU command line (its fw_cfg ACPI files)",
            _ => "another firmware, kernel, initrd or command line",
        };
        write!(
            f,
            "the evidence's {} is not what the launch inputs give ({}): {causes}",
            self.name,
            computed.join("; ")
        )
    }
}

/// A TDX value and how the launch inputs give it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TdxValue {
    /// The way of booting.
    pub how: String,
    /// The value, hex.
    pub value: String,
}

/// Compares a claim of one of [`TDX_NAMES`] with the values of `variants`
/// (each a way of booting the launch inputs, e.g. with and without QEMU's
/// kernel patch, and its report); `None` for other names or when no
/// variant has a value of that name.
pub fn tdx_candidates(
    name: &str,
    target: &Digest,
    variants: &[(String, crate::report::TdxReport)],
) -> Option<TdxCandidates> {
    if !TDX_NAMES.contains(&name) {
        return None;
    }
    let target = target.to_hex();
    let mut computed = Vec::new();
    let mut matches = Vec::new();
    for (how, report) in variants {
        let values = report.reference_values(crate::report::ValueEncoding::Hex);
        for v in values.into_iter().filter(|(n, _)| *n == name).flat_map(|(_, v)| v) {
            if v == target {
                matches.push(how.clone());
            }
            if !computed.iter().any(|c: &TdxValue| c.value == v) {
                computed.push(TdxValue { how: how.clone(), value: v });
            }
        }
    }
    (!computed.is_empty()).then(|| TdxCandidates { name: name.to_owned(), computed, matches })
}
