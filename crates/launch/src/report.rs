//! The reports `rvkit launch` prints: serialisable types and their text form,
//! and the Trustee reference values they carry.

use std::fmt::Write as _;

use base64::Engine as _;
use rvkit_pcr::Digest;
use serde::Serialize;

use crate::snp::{Region, VmmType};
use crate::tdx::{RtmrEvent, TdxRegion};

/// How a digest is written as a Trustee reference value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueEncoding {
    /// Lowercase hex: what Trustee v0.18 and later compare against.
    Hex,
    /// Standard base64: what Trustee up to v0.17 compared against.
    Base64,
}

impl ValueEncoding {
    fn encode(self, d: &Digest) -> String {
        match self {
            ValueEncoding::Hex => d.to_hex(),
            ValueEncoding::Base64 => base64::engine::general_purpose::STANDARD.encode(d.as_bytes()),
        }
    }
}

fn hex<S: serde::Serializer>(d: &Digest, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&d.to_hex())
}

fn hex_opt<S: serde::Serializer>(d: &Option<Digest>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&d.to_hex()),
        None => s.serialize_none(),
    }
}

/// The SEV-SNP launch digests of one guest shape over a range of vCPU counts.
#[derive(Clone, Debug, Serialize)]
pub struct SnpReport {
    /// The hypervisor.
    pub vmm: VmmType,
    /// The QEMU CPU model, when given by name.
    pub vcpu_type: Option<String>,
    /// CPUID(1).EAX of the vCPUs.
    pub vcpu_signature: u32,
    /// SEV_FEATURES of the VMSAs.
    pub guest_features: u64,
    /// The launch digest after the firmware pages (`--ovmf-hash` takes it).
    #[serde(serialize_with = "hex")]
    pub firmware_hash: Digest,
    /// Whether a kernel was booted directly (QEMU `kernel-hashes=on`).
    pub kernel_hashes: bool,
    /// One value per vCPU count.
    pub values: Vec<SnpValue>,
}

/// The launch digest for one vCPU count.
#[derive(Clone, Debug, Serialize)]
pub struct SnpValue {
    /// The vCPU count.
    pub vcpus: u32,
    /// The kernel command line measured, when a kernel is booted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmdline: Option<String>,
    /// `snp_launch_measurement`.
    #[serde(serialize_with = "hex")]
    pub launch_measurement: Digest,
    /// Every measured region, when asked for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transcript: Vec<Region>,
}

impl SnpReport {
    /// The report as text: a header line, then one line per vCPU count, each
    /// followed by its transcript when there is one.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let cpu = match &self.vcpu_type {
            Some(t) => format!("{t} ({:#x})", self.vcpu_signature),
            None => format!("signature {:#x}", self.vcpu_signature),
        };
        let _ = writeln!(
            out,
            "SEV-SNP launch measurement: vmm {}, vCPU {cpu}, guest features {:#x}, kernel hashes {}",
            self.vmm.name(),
            self.guest_features,
            if self.kernel_hashes { "on" } else { "off" }
        );
        let _ = writeln!(out, "firmware hash {}", self.firmware_hash.to_hex());
        for v in &self.values {
            let _ = writeln!(out, "vcpus {:>3}  {}", v.vcpus, v.launch_measurement.to_hex());
            if let Some(c) = v.cmdline.as_ref().filter(|_| !v.transcript.is_empty()) {
                let _ = writeln!(out, "  cmdline {c:?}");
            }
            for r in &v.transcript {
                let _ = writeln!(
                    out,
                    "  {:<18} {:#014x}-{:#014x} {:<10} {} page{}",
                    r.what,
                    r.gpa_start,
                    r.gpa_end,
                    r.page_type.name(),
                    r.pages,
                    if r.pages == 1 { "" } else { "s" }
                );
            }
        }
        out
    }

    /// `snp_launch_measurement` with every value, in vCPU order.
    pub fn reference_values(&self, enc: ValueEncoding) -> Vec<(&'static str, Vec<String>)> {
        vec![(
            "snp_launch_measurement",
            self.values.iter().map(|v| enc.encode(&v.launch_measurement)).collect(),
        )]
    }
}

/// The TDX launch values of one firmware and direct-boot payload.
#[derive(Clone, Debug, Serialize)]
pub struct TdxReport {
    /// `mr_td`.
    #[serde(serialize_with = "hex")]
    pub mr_td: Digest,
    /// `rtmr_0`, when computed from QEMU's fw_cfg files.
    #[serde(serialize_with = "hex_opt", skip_serializing_if = "Option::is_none")]
    pub rtmr_0: Option<Digest>,
    /// The RTMR0 events.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rtmr_0_events: Vec<RtmrEvent>,
    /// `rtmr_1`, for direct kernel boot.
    #[serde(serialize_with = "hex_opt")]
    pub rtmr_1: Option<Digest>,
    /// `tdvfkernel`: the kernel's Authenticode SHA-384.
    #[serde(serialize_with = "hex_opt")]
    pub tdvfkernel: Option<Digest>,
    /// The RTMR1 events.
    pub rtmr_1_events: Vec<RtmrEvent>,
    /// `rtmr_2`, for direct kernel boot.
    #[serde(serialize_with = "hex_opt")]
    pub rtmr_2: Option<Digest>,
    /// `tdvfkernelparams`: the digest of the LoadOptions event.
    #[serde(serialize_with = "hex_opt")]
    pub tdvfkernelparams: Option<Digest>,
    /// The RTMR2 events.
    pub rtmr_2_events: Vec<RtmrEvent>,
    /// The TDVF sections as they entered MRTD, when asked for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transcript: Vec<TdxRegion>,
}

/// An RTMR's line and the lines of the events extended into it, if it has a value.
fn write_rtmr(out: &mut String, name: &str, value: Option<&Digest>, events: &[RtmrEvent]) {
    if let Some(r) = value {
        let _ = writeln!(out, "{name} {}", r.to_hex());
        for e in events {
            let _ = writeln!(out, "  {} {}", e.description, e.digest.to_hex());
        }
    }
}

impl TdxReport {
    /// The report as text.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "mr_td {}", self.mr_td.to_hex());
        for r in &self.transcript {
            let op = match (r.page_add, r.mr_extend) {
                (true, true) => "PAGE.ADD+MR.EXTEND",
                (true, false) => "PAGE.ADD",
                (false, true) => "MR.EXTEND",
                (false, false) => "not measured",
            };
            let _ = writeln!(
                out,
                "  {:<12} {:#014x}-{:#014x} {} page{} {op}",
                r.section,
                r.gpa_start,
                r.gpa_end,
                r.pages,
                if r.pages == 1 { "" } else { "s" }
            );
        }
        write_rtmr(&mut out, "rtmr_0", self.rtmr_0.as_ref(), &self.rtmr_0_events);
        write_rtmr(&mut out, "rtmr_1", self.rtmr_1.as_ref(), &self.rtmr_1_events);
        if let Some(k) = &self.tdvfkernel {
            let _ = writeln!(out, "tdvfkernel {}", k.to_hex());
        }
        write_rtmr(&mut out, "rtmr_2", self.rtmr_2.as_ref(), &self.rtmr_2_events);
        if let Some(p) = &self.tdvfkernelparams {
            let _ = writeln!(out, "tdvfkernelparams {}", p.to_hex());
        }
        out
    }

    /// `mr_td`, `rtmr_0` when computed (Trustee's default policy does not
    /// query it; a policy may), and for direct boot `rtmr_1`, `rtmr_2`,
    /// `tdvfkernel` and `tdvfkernelparams`.
    pub fn reference_values(&self, enc: ValueEncoding) -> Vec<(&'static str, Vec<String>)> {
        let mut v = vec![("mr_td", vec![enc.encode(&self.mr_td)])];
        if let Some(r) = &self.rtmr_0 {
            v.push(("rtmr_0", vec![enc.encode(r)]));
        }
        if let Some(r) = &self.rtmr_1 {
            v.push(("rtmr_1", vec![enc.encode(r)]));
        }
        if let Some(r) = &self.rtmr_2 {
            v.push(("rtmr_2", vec![enc.encode(r)]));
        }
        if let Some(k) = &self.tdvfkernel {
            v.push(("tdvfkernel", vec![enc.encode(k)]));
        }
        if let Some(p) = &self.tdvfkernelparams {
            v.push(("tdvfkernelparams", vec![enc.encode(p)]));
        }
        v
    }
}

/// A legacy SEV or SEV-ES launch digest (SHA-256). Trustee has no verifier
/// for these, so they carry no reference-value name.
#[derive(Clone, Debug, Serialize)]
pub struct SevReport {
    /// `sev` or `sev-es`.
    pub mode: &'static str,
    /// The hypervisor (SEV-ES only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vmm: Option<VmmType>,
    /// The vCPU count (SEV-ES only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vcpus: Option<u32>,
    /// CPUID(1).EAX of the vCPUs (SEV-ES only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vcpu_signature: Option<u32>,
    /// Whether a kernel was booted directly.
    pub kernel_hashes: bool,
    /// The launch digest.
    #[serde(serialize_with = "hex")]
    pub launch_digest: Digest,
}

impl SevReport {
    /// The report as text.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        match (self.vmm, self.vcpus, self.vcpu_signature) {
            (Some(vmm), Some(n), Some(sig)) => {
                let _ =
                    write!(out, "SEV-ES launch digest: vmm {}, {n} vCPUs, signature {sig:#x}, ", vmm.name());
            }
            _ => out.push_str("SEV launch digest: "),
        }
        let _ = writeln!(out, "kernel hashes {}", if self.kernel_hashes { "on" } else { "off" });
        let _ = writeln!(out, "{}", self.launch_digest.to_hex());
        out
    }
}
