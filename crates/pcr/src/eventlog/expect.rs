use std::collections::BTreeMap;

use super::{EventLog, Replay};
use crate::{Digest, Error, HashAlg, PcrIndex};

/// PCR values to compare a replay with, such as a TPM's as `tpm2_pcrread`
/// prints them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PcrValues {
    values: BTreeMap<(HashAlg, PcrIndex), Digest>,
}

impl PcrValues {
    /// No values.
    pub fn new() -> PcrValues {
        PcrValues::default()
    }

    /// Sets `pcr` of the bank of `value`'s algorithm, replacing an earlier
    /// value.
    pub fn insert(&mut self, pcr: PcrIndex, value: Digest) {
        self.values.insert((value.alg(), pcr), value);
    }

    /// The value of `pcr` in bank `alg`.
    pub fn get(&self, alg: HashAlg, pcr: PcrIndex) -> Option<&Digest> {
        self.values.get(&(alg, pcr))
    }

    /// All values, by bank then PCR.
    pub fn iter(&self) -> impl Iterator<Item = (PcrIndex, &Digest)> + '_ {
        self.values.iter().map(|((_, pcr), d)| (*pcr, d))
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Reads the YAML `tpm2_pcrread` prints:
    ///
    /// ```text
    ///   sha256:
    ///     0 : 0x3D458CFE55CC03EA1F443F1562BEEC8DF51C75E14A9FCF9A7234A13F198E7969
    /// ```
    ///
    /// Bank lines name an algorithm and end with `:`; value lines are an index,
    /// `:` and hex with an optional `0x`. If the text has a top-level `pcrs:`
    /// line (as `tpm2_eventlog` prints after its events), only what follows
    /// it is read. Blank lines and `#` comments are skipped; anything else is
    /// an error naming the line.
    pub fn parse_pcrread(text: &str) -> Result<PcrValues, Error> {
        let bad = |line: usize, reason: String| Error::PcrValuesSyntax { line, reason };
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.iter().position(|l| l.trim_end() == "pcrs:").map_or(0, |i| i + 1);
        let mut out = PcrValues::new();
        let mut bank: Option<HashAlg> = None;
        for (i, raw) in lines.iter().enumerate().skip(start) {
            let line_no = i + 1;
            let line = raw.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                return Err(bad(line_no, format!("expected \"ALG:\" or \"INDEX : VALUE\", found {line:?}")));
            };
            let (key, value) = (key.trim(), value.trim());
            if value.is_empty() {
                let alg = key.parse::<HashAlg>().map_err(|_| {
                    bad(line_no, format!("{key:?} is not a bank (sha1, sha256, sha384, sha512)"))
                })?;
                bank = Some(alg);
                continue;
            }
            let Some(alg) = bank else {
                return Err(bad(line_no, "a PCR value before any bank line such as \"sha256:\"".to_owned()));
            };
            let index: u32 = key.parse().map_err(|_| bad(line_no, format!("{key:?} is not a PCR index")))?;
            let pcr = PcrIndex::new(index).map_err(|e| bad(line_no, e.to_string()))?;
            let digest = Digest::parse_hex(alg, value).map_err(|e| bad(line_no, e.to_string()))?;
            out.insert(pcr, digest);
        }
        Ok(out)
    }
}

/// What replaying a log says about one expected PCR value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The replayed value equals the expected one.
    Match,
    /// The log has no bank of this algorithm.
    BankNotInLog,
    /// The first `matched` of the log's `total` events on this PCR reproduce
    /// the expected value; event `first_divergent` and those after it are in
    /// the log but were not (or differently) measured.
    ExtraEvents {
        /// How many events reproduce the value.
        matched: usize,
        /// How many events the log has on this PCR.
        total: usize,
        /// The number of the first event past the matching prefix.
        first_divergent: usize,
    },
    /// No prefix of the log's events on this PCR (not even none of them)
    /// reproduces the expected value: the register saw an extend the log
    /// does not record, or an event's digest differs. With final values
    /// alone the event cannot be narrowed further than `first_event`, the
    /// first event on the PCR (`None` if the log has none).
    NoPrefix {
        /// How many events the log has on this PCR.
        total: usize,
        /// The number of the first event on the PCR.
        first_event: Option<usize>,
    },
}

/// The comparison of one expected PCR value with the replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcrComparison {
    /// The bank.
    pub alg: HashAlg,
    /// The PCR.
    pub pcr: PcrIndex,
    /// The expected value.
    pub expected: Digest,
    /// The replayed value, if the log has the bank.
    pub replayed: Option<Digest>,
    /// What the difference means.
    pub outcome: Outcome,
}

impl Replay {
    /// Compares every expected value with this replay of `log`, in bank then
    /// PCR order. For a mismatch it finds the longest prefix of the log's
    /// events on that PCR whose running value equals the expected value: the
    /// first event past it is the first one the register did not see.
    pub fn compare(&self, log: &EventLog, expected: &PcrValues) -> Vec<PcrComparison> {
        let mut out = Vec::new();
        for (&(alg, pcr), want) in &expected.values {
            let Some(bank) = self.bank(alg) else {
                out.push(PcrComparison {
                    alg,
                    pcr,
                    expected: *want,
                    replayed: None,
                    outcome: Outcome::BankNotInLog,
                });
                continue;
            };
            let replayed = bank.get(pcr);
            let outcome = if replayed == *want {
                Outcome::Match
            } else {
                // Running values of this PCR, event by event.
                let events: Vec<(usize, Digest)> = log
                    .events()
                    .iter()
                    .filter(|e| e.pcr == u32::from(pcr.get()))
                    .filter_map(|e| self.value_after(e.number, alg).map(|v| (e.number, v)))
                    .collect();
                let start = self.start_value(alg, pcr).unwrap_or_else(|| pcr.reset_value(alg));
                let matched = if start == *want { Some(0) } else { None };
                let matched = events.iter().rposition(|(_, v)| v == want).map(|i| i + 1).or(matched);
                match matched {
                    Some(k) => {
                        Outcome::ExtraEvents { matched: k, total: events.len(), first_divergent: events[k].0 }
                    }
                    None => {
                        Outcome::NoPrefix { total: events.len(), first_event: events.first().map(|e| e.0) }
                    }
                }
            };
            out.push(PcrComparison { alg, pcr, expected: *want, replayed: Some(replayed), outcome });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::testlog::LogBuilder;
    use super::*;

    const PCRREAD: &str = "  sha1:\n    0 : 0x0000000000000000000000000000000000000000\n  sha256:\n    7 : 0x3D458CFE55CC03EA1F443F1562BEEC8DF51C75E14A9FCF9A7234A13F198E7969\n    16: 0x0000000000000000000000000000000000000000000000000000000000000000\n";

    #[test]
    fn reads_pcrread_output() {
        let v = PcrValues::parse_pcrread(PCRREAD).unwrap();
        assert_eq!(v.len(), 3);
        let p7 = v.get(HashAlg::Sha256, PcrIndex::new(7).unwrap()).unwrap();
        assert_eq!(p7.to_hex(), "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969");
        // tpm2_eventlog's trailing section reads the same.
        let v2 = PcrValues::parse_pcrread(&format!("events:\n- EventNum: 0\npcrs:\n{PCRREAD}")).unwrap();
        assert_eq!(v, v2);
        for (bad, line) in
            [("7 : 0x00\n", 1), ("  sha256:\n    x : 00\n", 2), ("  md5:\n", 1), ("sha1:\n  1 : 0x00\n", 2)]
        {
            assert!(
                matches!(PcrValues::parse_pcrread(bad), Err(Error::PcrValuesSyntax { line: l, .. }) if l == line),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn names_the_first_event_the_tpm_did_not_see() {
        let log = LogBuilder::new(&[HashAlg::Sha256])
            .event(4, 0x8000_0003, b"a")
            .event(4, 4, &[0; 4])
            .event(4, 0x8000_0003, b"b")
            .build();
        let log = EventLog::parse(&log).unwrap();
        let r = log.replay().unwrap();
        let p4 = PcrIndex::new(4).unwrap();
        let mut tpm = PcrValues::new();
        tpm.insert(p4, r.value_after(2, HashAlg::Sha256).unwrap());
        let c = r.compare(&log, &tpm);
        assert_eq!(c[0].outcome, Outcome::ExtraEvents { matched: 2, total: 3, first_divergent: 3 });

        tpm.insert(p4, Digest::zero(HashAlg::Sha256));
        assert_eq!(
            r.compare(&log, &tpm)[0].outcome,
            Outcome::ExtraEvents { matched: 0, total: 3, first_divergent: 1 }
        );

        tpm.insert(p4, HashAlg::Sha256.hash(b"other"));
        assert_eq!(r.compare(&log, &tpm)[0].outcome, Outcome::NoPrefix { total: 3, first_event: Some(1) });

        tpm.insert(p4, r.bank(HashAlg::Sha256).unwrap().get(p4));
        assert_eq!(r.compare(&log, &tpm)[0].outcome, Outcome::Match);

        let mut sha1 = PcrValues::new();
        sha1.insert(p4, Digest::zero(HashAlg::Sha1));
        assert_eq!(r.compare(&log, &sha1)[0].outcome, Outcome::BankNotInLog);
    }
}
