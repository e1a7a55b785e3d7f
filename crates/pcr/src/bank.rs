use std::fmt;

use crate::{Digest, Error, HashAlg};

/// A PCR index, 0 to 23 (the PC Client platform has 24 PCRs per bank).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PcrIndex(u8);

impl PcrIndex {
    /// The number of PCRs in a PC Client bank.
    pub const COUNT: usize = 24;

    /// PCR0, where a StartupLocality event changes the start value.
    pub(crate) const PCR0: PcrIndex = PcrIndex(0);

    /// Checks that `index` is in range.
    pub fn new(index: u32) -> Result<PcrIndex, Error> {
        if index < Self::COUNT as u32 {
            Ok(PcrIndex(index as u8))
        } else {
            Err(Error::PcrOutOfRange { index })
        }
    }

    /// The index as a number.
    pub fn get(self) -> u8 {
        self.0
    }

    /// The value this PCR holds after a TPM2_Startup(CLEAR) at locality 0:
    /// all ones for PCRs 17–22 (the dynamic-launch PCRs), zero for the rest
    /// (TCG PC Client Platform TPM Profile, table "PCR Attributes").
    pub fn reset_value(self, alg: HashAlg) -> Digest {
        if (17..=22).contains(&self.0) { Digest::ones(alg) } else { Digest::zero(alg) }
    }
}

impl fmt::Display for PcrIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One extend: `new = H(old || digest)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtendStep {
    /// The register that was extended.
    pub pcr: PcrIndex,
    /// Its value before.
    pub old: Digest,
    /// The digest extended into it.
    pub digest: Digest,
    /// Its value after.
    pub new: Digest,
}

impl fmt::Display for ExtendStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pcr{:02} = {}({} || {}) = {}", self.pcr.0, self.old.alg(), self.old, self.digest, self.new)
    }
}

/// An ordered record of extends, printable one per line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transcript {
    steps: Vec<ExtendStep>,
}

impl Transcript {
    /// An empty transcript.
    pub fn new() -> Transcript {
        Transcript::default()
    }

    /// Appends a step.
    pub fn push(&mut self, step: ExtendStep) {
        self.steps.push(step);
    }

    /// The steps in the order they happened.
    pub fn steps(&self) -> &[ExtendStep] {
        &self.steps
    }
}

impl fmt::Display for Transcript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for step in &self.steps {
            writeln!(f, "{step}")?;
        }
        Ok(())
    }
}

/// A simulated bank of 24 PCRs for one hash algorithm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcrBank {
    alg: HashAlg,
    pcrs: [Digest; PcrIndex::COUNT],
}

impl PcrBank {
    /// A bank in its post-startup state at locality 0.
    pub fn new(alg: HashAlg) -> PcrBank {
        let pcrs = std::array::from_fn(|i| PcrIndex(i as u8).reset_value(alg));
        PcrBank { alg, pcrs }
    }

    /// A bank whose PCR0 starts with `locality` in its last byte, as after a
    /// TPM2_Startup at locality 3 or an H-CRTM sequence at locality 4 (recorded
    /// in an event log by a StartupLocality EV_NO_ACTION event; TCG PC Client
    /// Platform Firmware Profile, section 10.4.5.3).
    pub fn with_startup_locality(alg: HashAlg, locality: u8) -> PcrBank {
        let mut bank = PcrBank::new(alg);
        let mut start = [0u8; crate::MAX_DIGEST_LEN];
        start[alg.digest_len() - 1] = locality;
        bank.pcrs[0] =
            Digest::from_slice(alg, &start[..alg.digest_len()]).expect("length taken from the algorithm");
        bank
    }

    /// The bank's algorithm.
    pub fn alg(&self) -> HashAlg {
        self.alg
    }

    /// The current value of `pcr`.
    pub fn get(&self, pcr: PcrIndex) -> Digest {
        self.pcrs[pcr.0 as usize]
    }

    /// Sets `pcr` to `value`, e.g. to continue from a known state.
    pub fn set(&mut self, pcr: PcrIndex, value: Digest) -> Result<(), Error> {
        self.check_alg(&value)?;
        self.pcrs[pcr.0 as usize] = value;
        Ok(())
    }

    /// Extends `pcr` with `digest`: `new = H(old || digest)`. The digest must be
    /// of the bank's algorithm, as a TPM requires.
    pub fn extend(&mut self, pcr: PcrIndex, digest: &Digest) -> Result<ExtendStep, Error> {
        self.check_alg(digest)?;
        let old = self.pcrs[pcr.0 as usize];
        let new = self.alg.hash_parts(&[old.as_bytes(), digest.as_bytes()]);
        self.pcrs[pcr.0 as usize] = new;
        Ok(ExtendStep { pcr, old, digest: *digest, new })
    }

    /// Extends and records the step in `transcript`.
    pub fn extend_logged(
        &mut self,
        pcr: PcrIndex,
        digest: &Digest,
        transcript: &mut Transcript,
    ) -> Result<Digest, Error> {
        let step = self.extend(pcr, digest)?;
        transcript.push(step);
        Ok(step.new)
    }

    /// All PCRs with their current values, in index order.
    pub fn iter(&self) -> impl Iterator<Item = (PcrIndex, Digest)> + '_ {
        self.pcrs.iter().enumerate().map(|(i, d)| (PcrIndex(i as u8), *d))
    }

    fn check_alg(&self, d: &Digest) -> Result<(), Error> {
        if d.alg() == self.alg {
            Ok(())
        } else {
            Err(Error::BankMismatch { bank: self.alg, digest: d.alg() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcr(i: u32) -> PcrIndex {
        PcrIndex::new(i).unwrap()
    }

    #[test]
    fn reset_values() {
        let bank = PcrBank::new(HashAlg::Sha256);
        for (i, v) in bank.iter() {
            let ones = (17..=22).contains(&i.get());
            assert_eq!(v, if ones { Digest::ones(HashAlg::Sha256) } else { Digest::zero(HashAlg::Sha256) });
        }
        assert_eq!(PcrIndex::new(24), Err(Error::PcrOutOfRange { index: 24 }));
    }

    #[test]
    fn separator_extend_gives_well_known_pcr3() {
        // EV_SEPARATOR's digest is SHA-256 of four zero bytes; extended once
        // into a zero PCR it gives the value design.md calls well known for
        // PCR3 of a podvm (and that every UEFI machine shows in unused PCRs).
        let mut bank = PcrBank::new(HashAlg::Sha256);
        let sep = HashAlg::Sha256.hash(&[0, 0, 0, 0]);
        bank.extend(pcr(3), &sep).unwrap();
        assert_eq!(
            bank.get(pcr(3)).to_hex(),
            "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969"
        );
    }

    #[test]
    fn bank_mismatch_is_an_error() {
        let mut bank = PcrBank::new(HashAlg::Sha384);
        let d = HashAlg::Sha256.hash(b"x");
        assert_eq!(
            bank.extend(pcr(0), &d),
            Err(Error::BankMismatch { bank: HashAlg::Sha384, digest: HashAlg::Sha256 })
        );
    }

    #[test]
    fn locality_sets_last_byte_of_pcr0_only() {
        let bank = PcrBank::with_startup_locality(HashAlg::Sha1, 3);
        assert_eq!(bank.get(pcr(0)).to_hex(), format!("{}03", "00".repeat(19)));
        assert_eq!(bank.get(pcr(1)), Digest::zero(HashAlg::Sha1));
    }

    #[test]
    fn transcript_records_each_step() {
        let mut bank = PcrBank::new(HashAlg::Sha256);
        let mut t = Transcript::new();
        let d = HashAlg::Sha256.hash(b"a");
        let first = bank.extend_logged(pcr(8), &d, &mut t).unwrap();
        let second = bank.extend_logged(pcr(8), &d, &mut t).unwrap();
        assert_eq!(t.steps().len(), 2);
        assert_eq!(t.steps()[1].old, first);
        assert_eq!(t.steps()[1].new, second);
        assert!(t.to_string().starts_with("pcr08 = sha256(0000"));
    }
}
