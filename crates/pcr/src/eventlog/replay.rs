use std::collections::BTreeSet;

use super::{EventLog, EventType};
use crate::{Digest, Error, HashAlg, PcrBank, PcrIndex, Rtmr, Transcript, rtmr_for_pcr};

/// The result of replaying a log into simulated PCR banks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    banks: Vec<PcrBank>,
    start: Vec<PcrBank>,
    startup_locality: Option<u8>,
    running: Vec<Option<Vec<Digest>>>,
    transcripts: Vec<Transcript>,
    touched: BTreeSet<PcrIndex>,
    notes: Vec<String>,
}

impl EventLog {
    /// Replays the log: one bank per algorithm of the header, each starting
    /// from the TPM's reset values (PCR 17–22 all ones, the others zero),
    /// PCR0 from the locality of a StartupLocality event if the log has one
    /// before any PCR0 extend, and every event but EV_NO_ACTION extended with
    /// the digest of each bank it carries.
    ///
    /// Fails when an extended event names a PCR above 23.
    pub fn replay(&self) -> Result<Replay, Error> {
        let algs = self.algorithms();
        let mut banks: Vec<PcrBank> = algs.iter().map(|&a| PcrBank::new(a)).collect();
        let mut start = banks.clone();
        let mut transcripts = vec![Transcript::new(); algs.len()];
        let mut running = Vec::with_capacity(self.events().len());
        let mut touched = BTreeSet::new();
        let mut startup_locality = None;
        let mut notes = Vec::new();
        let mut pcr0_extended = false;
        for event in self.events() {
            if event.number == 0 {
                running.push(None);
                continue;
            }
            if let Some(locality) = event.startup_locality() {
                if pcr0_extended || startup_locality.is_some() {
                    notes.push(format!(
                        "event {} (offset {}): StartupLocality {locality} after PCR0 was set up is ignored",
                        event.number, event.offset
                    ));
                } else {
                    startup_locality = Some(locality);
                    banks = algs.iter().map(|&a| PcrBank::with_startup_locality(a, locality)).collect();
                    start = banks.clone();
                    touched.insert(PcrIndex::PCR0);
                }
            }
            if !event.extends() {
                running.push(None);
                continue;
            }
            let pcr = PcrIndex::new(event.pcr).map_err(|_| Error::EventLogPcrOutOfRange {
                event: event.number,
                offset: event.offset,
                pcr: event.pcr,
            })?;
            pcr0_extended |= pcr.get() == 0;
            touched.insert(pcr);
            let mut values = Vec::with_capacity(banks.len());
            for (bank, transcript) in banks.iter_mut().zip(&mut transcripts) {
                if let Some(d) = event.digest(bank.alg()) {
                    bank.extend_logged(pcr, d, transcript)?;
                }
                values.push(bank.get(pcr));
            }
            running.push(Some(values));
        }
        Ok(Replay { banks, start, startup_locality, running, transcripts, touched, notes })
    }
}

impl Replay {
    /// The final banks, in the log's header order.
    pub fn banks(&self) -> &[PcrBank] {
        &self.banks
    }

    /// The final bank of `alg`, if the log carries it.
    pub fn bank(&self, alg: HashAlg) -> Option<&PcrBank> {
        self.banks.iter().find(|b| b.alg() == alg)
    }

    /// The value `pcr` of bank `alg` had before its first extend (its reset
    /// value, or the StartupLocality value for PCR0).
    pub fn start_value(&self, alg: HashAlg, pcr: PcrIndex) -> Option<Digest> {
        self.start.iter().find(|b| b.alg() == alg).map(|b| b.get(pcr))
    }

    /// The locality of the log's StartupLocality event, if it set PCR0's start.
    pub fn startup_locality(&self) -> Option<u8> {
        self.startup_locality
    }

    /// The value of the event's PCR in bank `alg` right after event `number`
    /// was extended; `None` for events that do not extend (the header and
    /// EV_NO_ACTION events) and unknown banks or numbers.
    pub fn value_after(&self, number: usize, alg: HashAlg) -> Option<Digest> {
        let i = self.banks.iter().position(|b| b.alg() == alg)?;
        self.running.get(number)?.as_ref().map(|v| v[i])
    }

    /// Every extend of bank `alg`, in order.
    pub fn transcript(&self, alg: HashAlg) -> Option<&Transcript> {
        let i = self.banks.iter().position(|b| b.alg() == alg)?;
        self.transcripts.get(i)
    }

    /// The PCRs the log extends (and PCR0 if a StartupLocality event set it).
    pub fn touched(&self) -> impl Iterator<Item = PcrIndex> + '_ {
        self.touched.iter().copied()
    }

    /// Things a reader should know, such as a StartupLocality event that came
    /// too late to count.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }
}

rvkit_names::spelled_enum! {
    /// How a log's PCR index field maps to TDX measurement registers,
    /// written `ccel` or `pcr`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum MrNumbering {
        /// A CCEL log (the ACPI CCEL table TDX firmware fills): the index field
        /// holds the measurement-register index, 0 for MRTD and 1 to 4 for RTMR0
        /// to RTMR3 (TDX Virtual Firmware Design Guide, "CC_MR_INDEX"; Trustee's
        /// CCEL parser replays index 1 to 4 into RTMR0 to RTMR3 the same way).
        Ccel = "ccel",
        /// A TPM log read as TDX firmware would record it: each PCR goes to the
        /// RTMR [`rtmr_for_pcr`] names; PCRs with no RTMR are skipped.
        Pcr = "pcr",
    }
    error: Error = |s| Error::UnknownNumbering { name: s.to_owned() };
}

/// One extend of an RTMR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtmrStep {
    /// The event's number in the log.
    pub event: usize,
    /// The register extended.
    pub rtmr: Rtmr,
    /// The SHA-384 digest extended.
    pub digest: Digest,
    /// The register's value after the extend.
    pub value: Digest,
}

impl std::fmt::Display for RtmrStep {
    /// `rtmr1 = sha384(… || DIGEST) = VALUE (event N)`, one transcript line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rtmr{} = sha384(… || {}) = {} (event {})",
            self.rtmr.index(),
            self.digest,
            self.value,
            self.event
        )
    }
}

/// The result of replaying a log into the four TDX RTMRs (SHA-384, starting
/// at zero).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtmrReplay {
    values: [Digest; 4],
    steps: Vec<RtmrStep>,
    skipped: Vec<usize>,
}

impl RtmrReplay {
    /// The final value of `rtmr`.
    pub fn value(&self, rtmr: Rtmr) -> Digest {
        self.values[usize::from(rtmr.index())]
    }

    /// Every extend in order.
    pub fn steps(&self) -> &[RtmrStep] {
        &self.steps
    }

    /// Numbers of extending events that map to no RTMR (with
    /// [`MrNumbering::Pcr`]: PCR 0 and 16 to 23).
    pub fn skipped(&self) -> &[usize] {
        &self.skipped
    }
}

const RTMRS: [Rtmr; 4] = [Rtmr::Rtmr0, Rtmr::Rtmr1, Rtmr::Rtmr2, Rtmr::Rtmr3];

impl EventLog {
    /// Replays the log into RTMR0–3 with the SHA-384 digests of its events,
    /// skipping EV_NO_ACTION. Every extending event must carry a SHA-384
    /// digest; with [`MrNumbering::Ccel`] its index must be 1 to 4.
    pub fn replay_rtmrs(&self, numbering: MrNumbering) -> Result<RtmrReplay, Error> {
        let mut values = [Digest::zero(HashAlg::Sha384); 4];
        let mut steps = Vec::new();
        let mut skipped = Vec::new();
        for event in self.events().iter().skip(1) {
            if event.event_type == EventType::NO_ACTION {
                continue;
            }
            let rtmr = match numbering {
                MrNumbering::Ccel => match event.pcr {
                    1..=4 => Some(RTMRS[event.pcr as usize - 1]),
                    _ => {
                        return Err(Error::EventLogNoRtmr {
                            event: event.number,
                            offset: event.offset,
                            index: event.pcr,
                        });
                    }
                },
                MrNumbering::Pcr => PcrIndex::new(event.pcr).ok().and_then(rtmr_for_pcr),
            };
            let Some(rtmr) = rtmr else {
                skipped.push(event.number);
                continue;
            };
            let digest = *event.digest(HashAlg::Sha384).ok_or(Error::EventLogMissingDigest {
                event: event.number,
                offset: event.offset,
                alg: HashAlg::Sha384,
            })?;
            let slot = &mut values[usize::from(rtmr.index())];
            *slot = HashAlg::Sha384.hash_parts(&[slot.as_bytes(), digest.as_bytes()]);
            steps.push(RtmrStep { event: event.number, rtmr, digest, value: *slot });
        }
        Ok(RtmrReplay { values, steps, skipped })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testlog::LogBuilder;
    use super::*;

    fn pcr(i: u32) -> PcrIndex {
        PcrIndex::new(i).unwrap()
    }

    #[test]
    fn replay_extends_each_bank_and_skips_no_action() {
        let algs = [HashAlg::Sha1, HashAlg::Sha256];
        let log = LogBuilder::new(&algs)
            .event(7, 4, &[0; 4])
            // An EV_NO_ACTION event with non-zero digests must not count.
            .event(7, 3, b"not extended")
            .event(17, 0x8000_0007, b"drtm")
            .build();
        let log = EventLog::parse(&log).unwrap();
        let r = log.replay().unwrap();
        for alg in algs {
            let mut want = PcrBank::new(alg);
            want.extend(pcr(7), &alg.hash(&[0; 4])).unwrap();
            want.extend(pcr(17), &alg.hash(b"drtm")).unwrap();
            assert_eq!(r.bank(alg).unwrap(), &want);
            assert_eq!(r.value_after(1, alg), Some(want.get(pcr(7))));
            assert_eq!(r.value_after(2, alg), None);
        }
        // The separator into a zero SHA-256 PCR gives the well-known value.
        assert_eq!(
            r.bank(HashAlg::Sha256).unwrap().get(pcr(7)).to_hex(),
            "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969"
        );
        assert_eq!(r.touched().collect::<Vec<_>>(), [pcr(7), pcr(17)]);
        assert_eq!(r.transcript(HashAlg::Sha1).unwrap().steps().len(), 2);
    }

    #[test]
    fn startup_locality_sets_pcr0_start() {
        let log = LogBuilder::new(&[HashAlg::Sha256]).startup_locality(3).event(0, 8, b"crtm").build();
        let r = EventLog::parse(&log).unwrap().replay().unwrap();
        assert_eq!(r.startup_locality(), Some(3));
        let mut want = PcrBank::with_startup_locality(HashAlg::Sha256, 3);
        want.extend(pcr(0), &HashAlg::Sha256.hash(b"crtm")).unwrap();
        assert_eq!(r.bank(HashAlg::Sha256).unwrap(), &want);

        // Too late: PCR0 was already extended.
        let log = LogBuilder::new(&[HashAlg::Sha256]).event(0, 8, b"crtm").startup_locality(3).build();
        let r = EventLog::parse(&log).unwrap().replay().unwrap();
        assert_eq!(r.startup_locality(), None);
        assert_eq!(r.notes().len(), 1);
    }

    #[test]
    fn pcr_out_of_range_is_an_error() {
        let log = LogBuilder::new(&[HashAlg::Sha256]).event(24, 1, b"x").build();
        let log = EventLog::parse(&log).unwrap();
        assert!(matches!(log.replay(), Err(Error::EventLogPcrOutOfRange { event: 1, pcr: 24, .. })));
    }

    #[test]
    fn rtmr_views() {
        let log = LogBuilder::new(&[HashAlg::Sha384])
            .event(1, 4, b"a")
            .event(3, 4, b"b")
            .event(1, 3, b"no action")
            .build();
        let log = EventLog::parse(&log).unwrap();
        let r = log.replay_rtmrs(MrNumbering::Ccel).unwrap();
        let ext = |d: &[u8]| {
            let z = Digest::zero(HashAlg::Sha384);
            HashAlg::Sha384.hash_parts(&[z.as_bytes(), HashAlg::Sha384.hash(d).as_bytes()])
        };
        assert_eq!(r.value(Rtmr::Rtmr0), ext(b"a"));
        assert_eq!(r.value(Rtmr::Rtmr2), ext(b"b"));
        assert_eq!(r.value(Rtmr::Rtmr1), Digest::zero(HashAlg::Sha384));
        // Read as PCRs, index 1 is RTMR0 and index 3 is RTMR1.
        let p = log.replay_rtmrs(MrNumbering::Pcr).unwrap();
        assert_eq!(p.value(Rtmr::Rtmr1), ext(b"b"));
        // Index 0 (MRTD) is not an RTMR in a CCEL log.
        let bad = LogBuilder::new(&[HashAlg::Sha384]).event(0, 4, b"a").build();
        let bad = EventLog::parse(&bad).unwrap();
        assert!(matches!(bad.replay_rtmrs(MrNumbering::Ccel), Err(Error::EventLogNoRtmr { index: 0, .. })));
        assert_eq!(bad.replay_rtmrs(MrNumbering::Pcr).unwrap().skipped(), [1]);
        let no384 = LogBuilder::new(&[HashAlg::Sha256]).event(1, 4, b"a").build();
        assert!(matches!(
            EventLog::parse(&no384).unwrap().replay_rtmrs(MrNumbering::Ccel),
            Err(Error::EventLogMissingDigest { alg: HashAlg::Sha384, .. })
        ));
    }
}
