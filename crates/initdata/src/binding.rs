use std::fmt;

use rvkit_pcr::{Digest, ExtendStep, HashAlg, PcrBank, PcrIndex};

use crate::{Error, InitData};

/// The PCR the peer-pods podvm extends with the initdata digest.
pub const INITDATA_PCR: u32 = 8;

rvkit_names::spelled_enum! {
    /// A platform that binds the initdata digest into its evidence, named
    /// `vtpm`, `tdx`, `snp` or `cca`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum Platform {
        /// A virtual TPM (Azure confidential VMs and other peer pods): PCR8 of the
        /// SHA-256 bank is extended with the digest.
        Vtpm = "vtpm",
        /// Intel TDX: the digest is the 48-byte MRCONFIGID of the TD.
        Tdx = "tdx",
        /// AMD SEV-SNP: the digest is the 32-byte HOST_DATA of the guest.
        Snp = "snp",
        /// Arm CCA: the digest is the 64-byte realm personalization value.
        Cca = "cca",
    }
    error: Error = |s| Error::UnknownPlatform { name: s.to_owned() };
}

impl Platform {
    /// The name of the evidence field that carries the binding.
    pub const fn field(self) -> &'static str {
        match self {
            Platform::Vtpm => "PCR8 (SHA-256 bank)",
            Platform::Tdx => "MRCONFIGID",
            Platform::Snp => "HOST_DATA",
            Platform::Cca => "personalization value",
        }
    }

    /// The length of that field in bytes.
    pub const fn field_len(self) -> usize {
        match self {
            Platform::Vtpm | Platform::Snp => 32,
            Platform::Tdx => 48,
            Platform::Cca => 64,
        }
    }
}

/// The value a platform's evidence must carry for a given initdata document,
/// with an explanation of how it was computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The platform.
    pub platform: Platform,
    /// The evidence field, e.g. `"MRCONFIGID"`.
    pub field: &'static str,
    /// The expected field value.
    pub value: Vec<u8>,
    /// Problems with this binding (e.g. a non-SHA-256 digest on a vTPM).
    pub warnings: Vec<String>,
    /// One line per computation step, for transcripts.
    pub steps: Vec<String>,
}

impl Binding {
    /// The value as lowercase hex.
    pub fn to_hex(&self) -> String {
        use fmt::Write as _;
        self.value.iter().fold(String::with_capacity(self.value.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }
}

/// Truncates `bytes` to `len` or right-pads them with zero bytes.
///
/// This is how every upstream consumer fits the digest to a field: the Kata
/// runtime's `adjust_digest`/`adjustProperLength` and the attestation agent's
/// `pad` (guest-components `attestation-agent/attester/src/utils.rs`).
pub fn fit(bytes: &[u8], len: usize) -> Vec<u8> {
    let mut out = bytes[..bytes.len().min(len)].to_vec();
    out.resize(len, 0);
    out
}

/// PCR8 of the SHA-256 bank after extending the digest `d` once from reset:
/// `SHA256(32 zero bytes || d')`, where `d'` is `d` truncated to 32 bytes
/// (or zero-padded to 32 bytes for SHA-1).
///
/// Returns the new PCR value and the extend step that produced it.
pub fn pcr8_from_digest(d: &Digest) -> (Digest, ExtendStep) {
    let fitted = fit(d.as_bytes(), HashAlg::Sha256.digest_len());
    // `fit` returns exactly 32 bytes and 8 is a PCR of the SHA-256 bank, so
    // neither step can fail.
    let digest = Digest::from_slice(HashAlg::Sha256, &fitted).unwrap_or_else(|_| unreachable!("32 bytes"));
    let pcr = PcrIndex::new(INITDATA_PCR).unwrap_or_else(|_| unreachable!("8 is below 24"));
    let step = PcrBank::new(HashAlg::Sha256)
        .extend(pcr, &digest)
        .unwrap_or_else(|_| unreachable!("a SHA-256 digest extends the SHA-256 bank"));
    (step.new, step)
}

impl InitData {
    /// PCR8 of the SHA-256 bank as a peer-pods podvm computes it:
    /// `SHA256(32 zero bytes || D[0..32])`.
    pub fn pcr8(&self) -> Digest {
        pcr8_from_digest(&self.digest()).0
    }

    /// The value `platform`'s evidence carries for this document, with the
    /// steps that produce it and any warnings.
    pub fn binding(&self, platform: Platform) -> Binding {
        let d = self.digest();
        let alg = self.algorithm();
        let mut steps = vec![format!("D = {alg}(initdata document, {} bytes) = {d}", self.raw().len())];
        let mut warnings = Vec::new();
        let len = platform.field_len();
        let value = if platform == Platform::Vtpm {
            if alg != HashAlg::Sha256 {
                warnings.push(format!(
                    "initdata algorithm is {alg}, but the attestation agent on vTPM platforms \
                     extends PCR8 with a SHA-256 digest only and Trustee's vTPM verifiers expect \
                     exactly 32 bytes: this PCR8 (from the first 32 bytes of D) is unlikely to \
                     attest; use algorithm = \"sha256\""
                ));
                steps.push(format!(
                    "D' = D[0..32] = {} (truncated from {} bytes)",
                    hex(&fit(d.as_bytes(), 32)),
                    alg.digest_len()
                ));
            }
            let (pcr8, step) = pcr8_from_digest(&d);
            steps.push(step.to_string());
            pcr8.as_bytes().to_vec()
        } else {
            let value = fit(d.as_bytes(), len);
            let field = platform.field();
            match alg.digest_len().cmp(&len) {
                std::cmp::Ordering::Less => steps.push(format!(
                    "{field} = D || {} zero bytes = {}",
                    len - alg.digest_len(),
                    hex(&value)
                )),
                std::cmp::Ordering::Equal => steps.push(format!("{field} = D")),
                std::cmp::Ordering::Greater => {
                    steps.push(format!("{field} = D[0..{len}] = {}", hex(&value)));
                }
            }
            value
        };
        Binding { platform, field: platform.field(), value, warnings, steps }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trustee_vector() {
        // From design.md, which takes it from the Trustee verifier tests.
        let d = Digest::parse_hex(
            HashAlg::Sha256,
            "8505e4e25e50a27c5dc8147af88efbece627fbea55291911eff832d9ee127781",
        )
        .unwrap();
        let (pcr8, step) = pcr8_from_digest(&d);
        assert_eq!(pcr8.to_hex(), "bddaccb9c52249e97a31baea61b7d91be8221a16e703d92148d04fb8e9c1dfdd");
        assert_eq!(step.pcr.get(), 8);
        assert_eq!(step.old, Digest::zero(HashAlg::Sha256));
        assert_eq!(step.digest, d);
        assert_eq!(step.new, pcr8);
    }

    #[test]
    fn longer_digests_are_truncated_for_pcr8() {
        let d384 = HashAlg::Sha384.hash(b"x");
        let d256 = Digest::from_slice(HashAlg::Sha256, &d384.as_bytes()[..32]).unwrap();
        assert_eq!(pcr8_from_digest(&d384).0, pcr8_from_digest(&d256).0);
        let d1 = HashAlg::Sha1.hash(b"x");
        let (_, step) = pcr8_from_digest(&d1);
        assert_eq!(&step.digest.as_bytes()[..20], d1.as_bytes());
        assert_eq!(&step.digest.as_bytes()[20..], &[0; 12]);
    }

    #[test]
    fn platform_names() {
        for p in Platform::ALL {
            assert_eq!(p.name().parse::<Platform>(), Ok(p));
            assert_eq!(p.name().to_uppercase().parse::<Platform>(), Ok(p));
            assert_eq!(p.to_string(), p.name());
        }
        assert_eq!("sgx".parse::<Platform>(), Err(Error::UnknownPlatform { name: "sgx".into() }));
    }

    #[test]
    fn fit_truncates_and_pads() {
        assert_eq!(fit(&[1, 2, 3], 2), [1, 2]);
        assert_eq!(fit(&[1, 2], 4), [1, 2, 0, 0]);
        assert_eq!(fit(&[], 1), [0]);
    }

    fn doc(alg: &str) -> InitData {
        let text = format!("version = \"0.1.0\"\nalgorithm = \"{alg}\"\n[data]\n");
        InitData::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn bindings_follow_the_padding_rule() {
        for (alg, hash) in
            [("sha256", HashAlg::Sha256), ("sha384", HashAlg::Sha384), ("sha512", HashAlg::Sha512)]
        {
            let d = doc(alg);
            let digest = hash.hash(d.raw());
            assert_eq!(d.digest(), digest);
            let tdx = d.binding(Platform::Tdx);
            assert_eq!(tdx.value.len(), 48);
            assert_eq!(tdx.value, fit(digest.as_bytes(), 48));
            let snp = d.binding(Platform::Snp);
            assert_eq!(snp.value, digest.as_bytes()[..32]);
            let cca = d.binding(Platform::Cca);
            assert_eq!(cca.value, fit(digest.as_bytes(), 64));
            assert_eq!(cca.field, "personalization value");
            for b in [&tdx, &snp, &cca] {
                assert!(b.warnings.is_empty());
            }
            let vtpm = d.binding(Platform::Vtpm);
            assert_eq!(vtpm.value, d.pcr8().as_bytes());
            assert_eq!(vtpm.warnings.is_empty(), alg == "sha256", "{alg}");
            assert!(vtpm.steps.last().unwrap().starts_with("pcr08 = sha256("));
        }
        let tdx256 = doc("sha256").binding(Platform::Tdx);
        assert_eq!(tdx256.value[32..], [0; 16]);
        assert_eq!(tdx256.to_hex().len(), 96);
        assert!(tdx256.steps[1].contains("16 zero bytes"));
    }
}
