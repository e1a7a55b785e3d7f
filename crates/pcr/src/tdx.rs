use crate::PcrIndex;

/// A TDX runtime measurement register (SHA-384).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rtmr {
    /// RTMR0: firmware configuration (PCR 1 and 7).
    Rtmr0,
    /// RTMR1: the OS loader and its configuration (PCR 2 to 6).
    Rtmr1,
    /// RTMR2: the OS and its command line (PCR 8 to 15).
    Rtmr2,
    /// RTMR3: reserved for the guest's own use; no PCR maps to it.
    Rtmr3,
}

impl Rtmr {
    /// The register number, 0 to 3.
    pub fn index(self) -> u8 {
        self as u8
    }
}

/// Where TDX firmware records an event the TPM world would put in `pcr`
/// (TDX Virtual Firmware Design Guide, section 4.3.4, "TD Measurement"): PCR0
/// is covered by MRTD and maps to no RTMR; 1 and 7 go to RTMR0; 2 to 6 go to
/// RTMR1; 8 to 15 go to RTMR2; the rest have no RTMR.
pub fn rtmr_for_pcr(pcr: PcrIndex) -> Option<Rtmr> {
    match pcr.get() {
        1 | 7 => Some(Rtmr::Rtmr0),
        2..=6 => Some(Rtmr::Rtmr1),
        8..=15 => Some(Rtmr::Rtmr2),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_matches_the_design_guide() {
        let map = |i| rtmr_for_pcr(PcrIndex::new(i).unwrap());
        assert_eq!(map(0), None);
        assert_eq!(map(1), Some(Rtmr::Rtmr0));
        assert_eq!(map(7), Some(Rtmr::Rtmr0));
        for i in 2..=6 {
            assert_eq!(map(i), Some(Rtmr::Rtmr1));
        }
        for i in 8..=15 {
            assert_eq!(map(i), Some(Rtmr::Rtmr2));
        }
        assert_eq!(map(16), None);
        assert_eq!(map(23), None);
    }
}
