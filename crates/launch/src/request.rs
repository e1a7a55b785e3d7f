//! What a launch computation is asked for, as plain data: the files QEMU is
//! given and the guest's shape. `rvkit launch snp|tdx` builds these from its
//! flags, `rvkit bundle` reads them from `[[launch.snp]]`/`[[launch.tdx]]`
//! and `rvkit rvps check` from `--launch-snp`, so the three compute the same
//! values from the same inputs: [`snp_report`], [`tdx_report`] and
//! [`crate::search::snp_candidates`] are the one place they are turned into
//! digests.
//!
//! Paths are data here; the caller reads the files and hands in their bytes
//! or digests.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rvkit_pcr::{Digest, HashAlg};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::report::{SnpReport, SnpValue, TdxReport};
pub use crate::rtmr0::Rtmr0Files;
use crate::rtmr0::{self, SecureBootVariable};
use crate::snp::{self, Gctx, SevHashes, VcpuParams, VmmType};
use crate::{Error, Firmware, tdx};

/// An inclusive range of vCPU counts, written `N` or `A-B`, each within 1-[`snp::MAX_VCPUS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VcpuRange {
    first: u32,
    last: u32,
}

impl VcpuRange {
    /// The range as counts.
    pub fn counts(&self) -> RangeInclusive<u32> {
        self.first..=self.last
    }

    /// The smallest count.
    pub fn first(&self) -> u32 {
        self.first
    }

    /// The largest count.
    pub fn last(&self) -> u32 {
        self.last
    }
}

impl Default for VcpuRange {
    fn default() -> VcpuRange {
        VcpuRange { first: 1, last: 1 }
    }
}

impl FromStr for VcpuRange {
    type Err = Error;
    fn from_str(s: &str) -> Result<VcpuRange, Error> {
        let bad = |problem: String| Error::BadVcpus { text: s.to_owned(), problem };
        let num = |t: &str| t.trim().parse::<u32>().map_err(|_| bad("expected N or A-B".to_owned()));
        let (first, last) = match s.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(s)?, num(s)?),
        };
        for n in [first, last] {
            if n == 0 || n > snp::MAX_VCPUS {
                return Err(bad(format!("vCPU count {n} is out of range 1-{}", snp::MAX_VCPUS)));
            }
        }
        if first > last {
            return Err(bad("the range is empty".to_owned()));
        }
        Ok(VcpuRange { first, last })
    }
}

impl fmt::Display for VcpuRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// A configuration value written as a number or as a string (a flag table
/// such as `--launch-snp vcpus=4,kata=true` gives every field as a string).
#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrText {
    Num(u64),
    Bool(bool),
    Text(String),
}

impl Serialize for VcpuRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for VcpuRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<VcpuRange, D::Error> {
        let text = match NumOrText::deserialize(d)? {
            NumOrText::Num(n) => n.to_string(),
            NumOrText::Text(t) => t,
            NumOrText::Bool(b) => b.to_string(),
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses a number written in decimal or as `0x` hex (SEV_FEATURES, CPUID fields).
pub fn parse_number(s: &str) -> Result<u64, Error> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|_| Error::BadNumber { text: s.to_owned() })
}

/// Serde for numbers given as integers or strings (`"0x21"`, `"23"`) and
/// booleans given as `true` or `"true"`.
mod lenient {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::{NumOrText, parse_number};

    pub fn number<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        match NumOrText::deserialize(d)? {
            NumOrText::Num(n) => Ok(n),
            NumOrText::Text(t) => parse_number(&t).map_err(serde::de::Error::custom),
            NumOrText::Bool(_) => Err(serde::de::Error::custom("expected a number, found a boolean")),
        }
    }

    pub fn hex<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{v:#x}"))
    }

    pub fn small<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        let n = number(d)?;
        u32::try_from(n).map(Some).map_err(|_| serde::de::Error::custom(format!("{n} is too large")))
    }

    pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        match NumOrText::deserialize(d)? {
            NumOrText::Bool(b) => Ok(b),
            NumOrText::Text(t) if t == "true" => Ok(true),
            NumOrText::Text(t) if t == "false" => Ok(false),
            _ => Err(serde::de::Error::custom("expected true or false")),
        }
    }
}

fn default_guest_features() -> u64 {
    1
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// An SEV-SNP launch: `rvkit launch snp`'s flags, a bundle's `[[launch.snp]]`
/// table, `rvkit rvps check --launch-snp`'s fields. Field names are the
/// flags' names with `_` for `-`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnpRequest {
    /// The OVMF firmware image QEMU loads.
    pub ovmf: PathBuf,
    /// The kernel booted directly (QEMU `-kernel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<PathBuf>,
    /// The initrd (QEMU `-initrd`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initrd: Option<PathBuf>,
    /// The kernel command line (QEMU `-append`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub append: Option<String>,
    /// The vCPU counts, one value each.
    #[serde(default)]
    pub vcpus: VcpuRange,
    /// The QEMU CPU model by name [default with `kata`: EPYC-v4].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcpu_type: Option<String>,
    /// CPU family, with `vcpu_model` and `vcpu_stepping`, instead of `vcpu_type`.
    #[serde(default, deserialize_with = "lenient::small", skip_serializing_if = "Option::is_none")]
    pub vcpu_family: Option<u32>,
    /// CPU model number.
    #[serde(default, deserialize_with = "lenient::small", skip_serializing_if = "Option::is_none")]
    pub vcpu_model: Option<u32>,
    /// CPU stepping.
    #[serde(default, deserialize_with = "lenient::small", skip_serializing_if = "Option::is_none")]
    pub vcpu_stepping: Option<u32>,
    /// The hypervisor.
    #[serde(default)]
    pub vmm: VmmType,
    /// SEV_FEATURES of the VMSAs.
    #[serde(
        default = "default_guest_features",
        deserialize_with = "lenient::number",
        serialize_with = "lenient::hex"
    )]
    pub guest_features: u64,
    /// The launch digest after the firmware pages, computed earlier (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ovmf_hash: Option<String>,
    /// Kata Containers: `nr_cpus=` in `append` follows the vCPU count, and
    /// the CPU type defaults to EPYC-v4 (kata's `cpuModel()` for SNP).
    #[serde(default, deserialize_with = "lenient::flag", skip_serializing_if = "is_false")]
    pub kata: bool,
}

/// Kata's CPU model for SNP guests (kata-containers `qemu_amd64.go` `cpuModel()`).
pub const KATA_SNP_CPU: &str = "EPYC-v4";

impl SnpRequest {
    /// A request for `ovmf` with every other field at its default.
    pub fn new(ovmf: PathBuf) -> SnpRequest {
        SnpRequest {
            ovmf,
            kernel: None,
            initrd: None,
            append: None,
            vcpus: VcpuRange::default(),
            vcpu_type: None,
            vcpu_family: None,
            vcpu_model: None,
            vcpu_stepping: None,
            vmm: VmmType::Qemu,
            guest_features: default_guest_features(),
            ovmf_hash: None,
            kata: false,
        }
    }

    /// The files to read, each with its field name.
    pub fn files(&self) -> Vec<(&'static str, &Path)> {
        boot_files(&self.ovmf, self.kernel.as_deref(), self.initrd.as_deref())
    }

    /// The CPU model's name: `vcpu_type`, or kata's default, unless given by family/model/stepping.
    pub fn vcpu_type(&self) -> Option<String> {
        if self.vcpu_family.is_some() {
            return None;
        }
        self.vcpu_type.clone().or_else(|| self.kata.then(|| KATA_SNP_CPU.to_owned()))
    }

    /// The vCPU state the request describes; checks what the fields alone
    /// cannot (a CPU model given once, `nr_cpus=` for kata, a kernel for an
    /// initrd or command line, the firmware hash's form).
    pub fn params(&self) -> Result<VcpuParams, Error> {
        check_boot(self.kernel.is_some(), self.initrd.is_some(), self.append.is_some())?;
        let signature = match (self.vcpu_family, self.vcpu_model, self.vcpu_stepping, &self.vcpu_type) {
            (Some(f), Some(m), Some(s), None) => snp::cpu_signature(f, m, s),
            (None, None, None, _) => match self.vcpu_type() {
                Some(t) => snp::cpu_type_signature(&t)?,
                None => return Err(Error::NoCpuModel),
            },
            _ => return Err(Error::CpuModelFields),
        };
        if self.kata && self.kernel.is_some() && !snp::has_nr_cpus(self.append.as_deref().unwrap_or_default())
        {
            return Err(Error::KataWithoutNrCpus);
        }
        self.seed()?;
        Ok(VcpuParams { vmm: self.vmm, signature, guest_features: self.guest_features })
    }

    fn seed(&self) -> Result<Option<Digest>, Error> {
        self.ovmf_hash
            .as_deref()
            .map(|h| {
                Digest::parse_hex(HashAlg::Sha384, h)
                    .map_err(|e| Error::BadOvmfHash { text: h.to_owned(), problem: e.to_string() })
            })
            .transpose()
    }

    /// The command line measured for `n` vCPUs (kata's `nr_cpus=` follows
    /// `n`); `None` without a kernel.
    pub fn cmdline(&self, n: u32) -> Option<String> {
        self.kernel.as_ref()?;
        let line = self.append.clone().unwrap_or_default();
        Some(if self.kata { snp::with_nr_cpus(&line, n) } else { line })
    }

    /// The SEV hashes table for `n` vCPUs, given the kernel's and initrd's digests.
    pub(crate) fn hashes(&self, kernel: Option<&KernelDigests>, n: u32) -> Option<SevHashes> {
        let k = kernel?;
        Some(SevHashes::from_digests(k.kernel, k.initrd, self.cmdline(n).as_deref()))
    }

    /// The launch digest after the firmware: `ovmf_hash` when given, else computed.
    pub(crate) fn base(
        &self,
        fw: &Firmware<'_>,
        transcript: bool,
    ) -> Result<(Gctx<snp::Updating>, Digest), Error> {
        Ok(match self.seed()? {
            Some(d) => (Gctx::seeded(d.as_bytes().try_into().expect("48 bytes"), transcript), d),
            None => {
                let g = snp::firmware_hash(fw, transcript);
                let d = g.clone().finish().launch_digest();
                (g, d)
            }
        })
    }
}

/// The SHA-256 digests QEMU puts in the SEV hashes table for a directly
/// booted kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelDigests {
    /// SHA-256 of the kernel file.
    pub kernel: [u8; 32],
    /// SHA-256 of the initrd (of nothing when there is none).
    pub initrd: [u8; 32],
}

impl KernelDigests {
    /// The digests of a kernel and an optional initrd.
    pub fn of(kernel: &[u8], initrd: Option<&[u8]>) -> KernelDigests {
        let sha = |b: &[u8]| -> [u8; 32] { HashAlg::Sha256.hash(b).as_bytes().try_into().expect("32 bytes") };
        KernelDigests { kernel: sha(kernel), initrd: sha(initrd.unwrap_or_default()) }
    }
}

/// The SNP launch digests `req` asks for. `kernel` holds the digests of
/// `req.kernel` and `req.initrd` (`None` without a kernel); `transcript`
/// records every region measured.
pub fn snp_report(
    req: &SnpRequest,
    fw: &Firmware<'_>,
    kernel: Option<&KernelDigests>,
    transcript: bool,
) -> Result<SnpReport, Error> {
    let params = req.params()?;
    let (base, firmware_hash) = req.base(fw, transcript)?;
    let values = snp::launch_digests(&base, fw, &params, req.vcpus.counts(), &|n| req.hashes(kernel, n))?;
    Ok(SnpReport {
        vmm: params.vmm,
        vcpu_type: req.vcpu_type(),
        vcpu_signature: params.signature,
        guest_features: params.guest_features,
        firmware_hash,
        kernel_hashes: kernel.is_some(),
        values: values
            .into_iter()
            .map(|(n, g)| SnpValue {
                vcpus: n,
                cmdline: req.cmdline(n),
                launch_measurement: g.launch_digest(),
                transcript: g.regions().to_vec(),
            })
            .collect(),
    })
}

/// A TDX launch: `rvkit launch tdx`'s flags, a bundle's `[[launch.tdx]]` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TdxRequest {
    /// The TDVF (OVMF built for TDX) image QEMU loads.
    pub ovmf: PathBuf,
    /// The kernel booted directly (QEMU `-kernel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<PathBuf>,
    /// The initrd (QEMU `-initrd`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initrd: Option<PathBuf>,
    /// The kernel command line (QEMU `-append`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub append: Option<String>,
    /// Measure the kernel with the setup header older QEMU builds patch
    /// before OVMF measures it ([`tdx::qemu_patched_kernel`]).
    #[serde(default, deserialize_with = "lenient::flag", skip_serializing_if = "is_false")]
    pub qemu_kernel_patch: bool,
    /// The guest's memory in MiB, where that patch places the initrd and
    /// from which QEMU builds the TD HOB RTMR0 measures.
    #[serde(default = "default_memory_mib", deserialize_with = "lenient::number")]
    pub memory: u64,
    /// QEMU's fw_cfg ACPI files by name (`etc/table-loader` and those it
    /// allocates), as a booted guest shows them: given, RTMR0 is computed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fw_cfg: BTreeMap<String, PathBuf>,
    /// The TD HOB QEMU wrote, for RTMR0; else built from `memory`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub td_hob: Option<PathBuf>,
    /// What the firmware's `SecureBoot` variable reads, for RTMR0.
    #[serde(default, skip_serializing_if = "is_default")]
    pub secure_boot_variable: SecureBootVariable,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// Kata's default guest memory (`default_memory`, MiB).
pub const DEFAULT_MEMORY_MIB: u64 = 2048;

fn default_memory_mib() -> u64 {
    DEFAULT_MEMORY_MIB
}

impl TdxRequest {
    /// A request for `ovmf` with every other field at its default.
    pub fn new(ovmf: PathBuf) -> TdxRequest {
        TdxRequest {
            ovmf,
            kernel: None,
            initrd: None,
            append: None,
            qemu_kernel_patch: false,
            memory: DEFAULT_MEMORY_MIB,
            fw_cfg: BTreeMap::new(),
            td_hob: None,
            secure_boot_variable: SecureBootVariable::Absent,
        }
    }

    /// The kernel image OVMF measures, given the kernel file's bytes and
    /// the initrd's length: the file itself, or with `qemu_kernel_patch`
    /// the file with QEMU's setup-header changes.
    pub fn kernel_image<'a>(
        &self,
        kernel: &'a [u8],
        initrd_len: Option<u64>,
    ) -> Result<Cow<'a, [u8]>, Error> {
        if !self.qemu_kernel_patch {
            return Ok(Cow::Borrowed(kernel));
        }
        let cmdline = self.append.as_deref().unwrap_or_default();
        tdx::qemu_patched_kernel(kernel, cmdline, initrd_len, self.memory).map(Cow::Owned)
    }

    /// The files to read, each with its field name.
    pub fn files(&self) -> Vec<(&'static str, &Path)> {
        let mut files = boot_files(&self.ovmf, self.kernel.as_deref(), self.initrd.as_deref());
        files.extend(self.fw_cfg.values().map(|p| ("fw_cfg", p.as_path())));
        files.extend(self.td_hob.as_deref().map(|p| ("td_hob", p)));
        files
    }

    /// The paths the request names, to resolve them.
    pub fn paths_mut(&mut self) -> impl Iterator<Item = &mut PathBuf> {
        [Some(&mut self.ovmf), self.kernel.as_mut(), self.initrd.as_mut(), self.td_hob.as_mut()]
            .into_iter()
            .flatten()
            .chain(self.fw_cfg.values_mut())
    }

    /// Checks what the fields alone cannot: a kernel for an initrd, a
    /// command line, the setup-header patch or RTMR0 (which is modelled for
    /// direct kernel boot), and fw_cfg files for the TD HOB and the Secure
    /// Boot variable.
    pub fn check(&self) -> Result<(), Error> {
        check_boot(self.kernel.is_some(), self.initrd.is_some(), self.append.is_some())?;
        if self.qemu_kernel_patch && self.kernel.is_none() {
            return Err(Error::NeedsKernel { field: "qemu_kernel_patch" });
        }
        if !self.fw_cfg.is_empty() && self.kernel.is_none() {
            return Err(Error::NeedsKernel { field: "fw_cfg" });
        }
        if self.fw_cfg.is_empty() {
            if self.td_hob.is_some() {
                return Err(Error::NeedsFwCfg { field: "td_hob" });
            }
            if self.secure_boot_variable != SecureBootVariable::Absent {
                return Err(Error::NeedsFwCfg { field: "secure_boot_variable" });
            }
        }
        Ok(())
    }
}

/// The TDX values `req` asks for: MRTD, for direct kernel boot the RTMR1
/// and RTMR2 events, and with fw_cfg files the RTMR0 events.
/// `kernel_authenticode` is the Authenticode SHA-384 of
/// [`TdxRequest::kernel_image`], `initrd_sha384` the SHA-384 of
/// `req.initrd` and `rtmr0` the files of `req.fw_cfg` and `req.td_hob`.
pub fn tdx_report(
    req: &TdxRequest,
    fw: &Firmware<'_>,
    kernel_authenticode: Option<Digest>,
    initrd_sha384: Option<Digest>,
    rtmr0: &Rtmr0Files<'_>,
    transcript: bool,
) -> Result<TdxReport, Error> {
    req.check()?;
    let (mr_td, regions) = tdx::mrtd(fw)?;
    let rtmr_0_events = if req.fw_cfg.is_empty() {
        Vec::new()
    } else {
        rtmr0::rtmr0_events(fw, rtmr0, req.memory, req.secure_boot_variable)?
    };
    let mut rtmr_1_events = kernel_authenticode.map(tdx::rtmr1_events).unwrap_or_default();
    if let Some(e) = rtmr_1_events.first_mut().filter(|_| req.qemu_kernel_patch) {
        e.description.push_str(" (setup header patched by QEMU)");
    }
    let rtmr_2_events = match req.kernel {
        Some(_) => tdx::rtmr2_events(req.append.as_deref(), initrd_sha384),
        None => Vec::new(),
    };
    let has_kernel = req.kernel.is_some();
    Ok(TdxReport {
        mr_td,
        rtmr_0: (!rtmr_0_events.is_empty()).then(|| tdx::replay(&rtmr_0_events)),
        rtmr_0_events,
        rtmr_1: (!rtmr_1_events.is_empty()).then(|| tdx::replay(&rtmr_1_events)),
        tdvfkernel: rtmr_1_events.first().map(|e| e.digest),
        rtmr_1_events,
        rtmr_2: has_kernel.then(|| tdx::replay(&rtmr_2_events)),
        tdvfkernelparams: rtmr_2_events
            .iter()
            .find(|e| e.description == "LOADED_IMAGE::LoadOptions")
            .map(|e| e.digest),
        rtmr_2_events,
        transcript: if transcript { regions } else { Vec::new() },
    })
}

fn boot_files<'a>(
    ovmf: &'a Path,
    kernel: Option<&'a Path>,
    initrd: Option<&'a Path>,
) -> Vec<(&'static str, &'a Path)> {
    let mut out = vec![("ovmf", ovmf)];
    out.extend(kernel.map(|k| ("kernel", k)));
    out.extend(initrd.map(|i| ("initrd", i)));
    out
}

fn check_boot(kernel: bool, initrd: bool, append: bool) -> Result<(), Error> {
    if !kernel && (initrd || append) {
        return Err(Error::NeedsKernel { field: if initrd { "initrd" } else { "append" } });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vcpu_ranges() {
        assert_eq!("1-32".parse::<VcpuRange>().unwrap().counts(), 1..=32);
        assert_eq!("8".parse::<VcpuRange>().unwrap().counts(), 8..=8);
        for (bad, problem) in [
            ("4-2", "the range is empty"),
            ("0", "vCPU count 0 is out of range 1-512"),
            ("x", "expected N or A-B"),
        ] {
            assert_eq!(
                bad.parse::<VcpuRange>(),
                Err(Error::BadVcpus { text: bad.to_owned(), problem: problem.to_owned() })
            );
        }
    }

    #[test]
    fn tables_read_numbers_and_flags_as_text_or_values() {
        let from = |s: &str| serde_json::from_str::<SnpRequest>(s);
        let a =
            from(r#"{"ovmf":"f","vcpus":"1-4","guest_features":"0x21","kata":"true","vcpu_family":"25"}"#)
                .unwrap();
        let b =
            from(r#"{"ovmf":"f","vcpus":"1-4","guest_features":33,"kata":true,"vcpu_family":25}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            (a.vcpus.counts(), a.guest_features, a.kata, a.vcpu_family),
            (1..=4, 0x21, true, Some(25))
        );
        let d = from(r#"{"ovmf":"f"}"#).unwrap();
        assert_eq!(d, SnpRequest::new("f".into()));
        assert!(from(r#"{"ovmf":"f","vcpus":0}"#).unwrap_err().to_string().contains("out of range"));
        assert!(from(r#"{"ovmf":"f","kata":"yes"}"#).is_err());
        assert!(from(r#"{"ovmf":"f","colour":"red"}"#).is_err());
    }

    #[test]
    fn requests_are_checked_before_any_file_is_read() {
        let mut r = SnpRequest::new("f".into());
        assert_eq!(r.params(), Err(Error::NoCpuModel));
        r.kata = true;
        assert_eq!(r.params().unwrap().signature, 0x800f12);
        r.kernel = Some("k".into());
        assert_eq!(r.params(), Err(Error::KataWithoutNrCpus));
        r.append = Some("quiet nr_cpus=2".into());
        r.params().unwrap();
        assert_eq!(r.cmdline(5).as_deref(), Some("quiet nr_cpus=5"));
        r.vcpu_family = Some(25);
        assert_eq!(r.params(), Err(Error::CpuModelFields));
        let t = TdxRequest { append: Some("x".into()), ..TdxRequest::new("f".into()) };
        assert_eq!(t.check(), Err(Error::NeedsKernel { field: "append" }));
        let t = TdxRequest { qemu_kernel_patch: true, ..TdxRequest::new("f".into()) };
        assert_eq!(t.check(), Err(Error::NeedsKernel { field: "qemu_kernel_patch" }));
    }
}
