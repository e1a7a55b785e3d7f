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

    /// Keeps only the values for which `keep(bank, pcr)` holds.
    pub fn retain(&mut self, mut keep: impl FnMut(HashAlg, PcrIndex) -> bool) {
        self.values.retain(|(alg, pcr), _| keep(*alg, *pcr));
    }

    /// Reads expected PCR values in any form `rvkit pcr replay --expect`
    /// takes: text starting with `{` is JSON ([`PcrValues::parse_json`]),
    /// anything else `tpm2_pcrread` output ([`PcrValues::parse_pcrread`]).
    pub fn parse(text: &str, default_bank: HashAlg) -> Result<PcrValues, Error> {
        if text.trim_start().starts_with('{') {
            PcrValues::parse_json(text, default_bank)
        } else {
            PcrValues::parse_pcrread(text)
        }
    }

    /// Reads a JSON object mapping banks to PCR values,
    /// `{"sha256": {"7": "3d45…"}}`, or PCRs to values of `default_bank`,
    /// `{"pcr07": "3d45…"}`; the two may be mixed. A PCR key is its index,
    /// with or without a `pcr` prefix; values are hex with an optional `0x`.
    pub fn parse_json(text: &str, default_bank: HashAlg) -> Result<PcrValues, Error> {
        let bad = |reason: String| Error::PcrValuesJson { reason };
        let doc: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).map_err(|e| bad(format!("not a JSON object: {e}")))?;
        let pcr_key = |k: &str| -> Result<PcrIndex, Error> {
            let n: u32 = k
                .strip_prefix("pcr")
                .unwrap_or(k)
                .parse()
                .map_err(|_| bad(format!("{k:?} is not a PCR such as \"7\" or \"pcr07\"")))?;
            PcrIndex::new(n).map_err(|e| bad(format!("{k:?}: {e}")))
        };
        let mut out = PcrValues::new();
        for (key, value) in &doc {
            match value {
                serde_json::Value::Object(inner) => {
                    let alg: HashAlg = key.parse().map_err(|_| bad(format!("{key:?} is not a bank")))?;
                    for (k, v) in inner {
                        let hex = v.as_str().ok_or_else(|| bad(format!("{key}.{k} is not a string")))?;
                        let pcr = pcr_key(k)?;
                        out.insert(
                            pcr,
                            Digest::parse_hex(alg, hex).map_err(|e| bad(format!("{key}.{k}: {e}")))?,
                        );
                    }
                }
                serde_json::Value::String(hex) => {
                    let pcr = pcr_key(key)?;
                    out.insert(
                        pcr,
                        Digest::parse_hex(default_bank, hex).map_err(|e| bad(format!("{key}: {e}")))?,
                    );
                }
                _ => return Err(bad(format!("{key:?} must be a bank object or a hex string"))),
            }
        }
        Ok(out)
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

impl PcrComparison {
    /// Whether the replay reproduces the expected value.
    pub fn matches(&self) -> bool {
        self.outcome == Outcome::Match
    }

    /// What the outcome means for a reader, naming events of `log` (the log
    /// the comparison was made with); empty for a match.
    pub fn explain(&self, log: &EventLog) -> String {
        let describe = |number: usize| -> String {
            log.events()
                .get(number)
                .map(|e| {
                    format!("event {} (offset {:#x}, {}: {})", e.number, e.offset, e.event_type, e.summary())
                })
                .unwrap_or_else(|| format!("event {number}"))
        };
        match &self.outcome {
            Outcome::Match => String::new(),
            Outcome::BankNotInLog => format!("the log has no {} bank", self.alg),
            Outcome::ExtraEvents { matched, total, first_divergent } => format!(
                "the first {matched} of the log's {total} events on this pcr give the expected value; \
                 the first divergent event is {}",
                describe(*first_divergent)
            ),
            Outcome::NoPrefix { total, first_event: Some(n) } => format!(
                "no prefix of the log's {total} events on this pcr gives the expected value: the register \
                 was extended with something the log does not record, or an event's digest differs; \
                 the first event on this pcr is {}",
                describe(*n)
            ),
            Outcome::NoPrefix { first_event: None, .. } => {
                "the log has no event on this pcr, but the value is not its start value".to_owned()
            }
        }
    }
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
    fn reads_json_values_nested_and_flat() {
        let p7 = "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969";
        let nested = format!(
            r#"{{"sha256":{{"7":"0x{}","16":"{}"}},"sha1":{{"pcr00":"{}"}}}}"#,
            p7.to_uppercase(),
            "00".repeat(32),
            "00".repeat(20)
        );
        let v = PcrValues::parse(&nested, HashAlg::Sha384).unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v.get(HashAlg::Sha256, PcrIndex::new(7).unwrap()).unwrap().to_hex(), p7);
        assert!(v.get(HashAlg::Sha1, PcrIndex::new(0).unwrap()).is_some());
        // Flat keys are in the default bank; text that is not JSON is pcrread.
        let flat = PcrValues::parse(&format!(r#" {{"pcr07":"{p7}"}}"#), HashAlg::Sha256).unwrap();
        assert_eq!(flat.get(HashAlg::Sha256, PcrIndex::new(7).unwrap()).unwrap().to_hex(), p7);
        assert_eq!(
            PcrValues::parse(PCRREAD, HashAlg::Sha1).unwrap(),
            PcrValues::parse_pcrread(PCRREAD).unwrap()
        );

        let mut retained = v.clone();
        retained.retain(|alg, pcr| alg == HashAlg::Sha256 && pcr.get() == 7);
        assert_eq!(retained.len(), 1);

        for (bad, reason) in [
            ("{", "not a JSON object: EOF while parsing an object at line 1 column 1"),
            (r#"{"x7":"00"}"#, r#""x7" is not a PCR such as "7" or "pcr07""#),
            (r#"{"pcr24":"00"}"#, r#""pcr24": pcr index 24 is out of range (0 to 23)"#),
            (r#"{"md5":{"1":"00"}}"#, r#""md5" is not a bank"#),
            (r#"{"sha1":{"1":1}}"#, "sha1.1 is not a string"),
            (r#"{"sha1":{"1":"00"}}"#, "sha1.1: sha1 digest must be 20 bytes (40 hex digits), got 1 bytes"),
            (r#"{"7":"zz"}"#, r#"7: invalid hex digit 'z' at position 0 in "zz""#),
            (r#"{"7":null}"#, r#""7" must be a bank object or a hex string"#),
        ] {
            assert_eq!(
                PcrValues::parse(bad, HashAlg::Sha256),
                Err(Error::PcrValuesJson { reason: reason.to_owned() }),
                "{bad}"
            );
        }
    }

    proptest::proptest! {
        /// Values written as nested JSON, as flat `pcrNN` keys of their one
        /// bank, and as `tpm2_pcrread` output all read back the same.
        #[test]
        fn json_and_pcrread_forms_read_back(
            alg_index in 0..4usize,
            entries in proptest::collection::btree_map(0..24u32, proptest::prelude::any::<u8>(), 0..24),
        ) {
            let alg = HashAlg::ALL[alg_index];
            let mut values = PcrValues::new();
            for (pcr, byte) in &entries {
                values.insert(PcrIndex::new(*pcr).unwrap(), alg.hash(&[*byte]));
            }
            let hex = |pcr: PcrIndex, d: &Digest| (pcr.get(), d.to_hex());
            let pairs: Vec<(u8, String)> = values.iter().map(|(p, d)| hex(p, d)).collect();
            let nested: Vec<String> = pairs.iter().map(|(p, h)| format!("\"{p}\":\"0x{h}\"")).collect();
            let nested = format!("{{\"{}\":{{{}}}}}", alg.name(), nested.join(","));
            proptest::prop_assert_eq!(PcrValues::parse(&nested, HashAlg::Sha1), Ok(values.clone()));
            let flat: Vec<String> = pairs.iter().map(|(p, h)| format!("\"pcr{p:02}\":\"{}\"", h.to_uppercase())).collect();
            proptest::prop_assert_eq!(PcrValues::parse(&format!("{{{}}}", flat.join(",")), alg), Ok(values.clone()));
            let pcrread: String = std::iter::once(format!("  {}:\n", alg.name()))
                .chain(pairs.iter().map(|(p, h)| format!("    {p} : 0x{h}\n")))
                .collect();
            proptest::prop_assert_eq!(PcrValues::parse(&pcrread, HashAlg::Sha1), Ok(values));
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
        assert!(!c[0].matches());
        assert_eq!(
            c[0].explain(&log),
            "the first 2 of the log's 3 events on this pcr give the expected value; the first divergent \
             event is event 3 (offset 0xaa, EV_EFI_BOOT_SERVICES_APPLICATION: \"b\")"
        );

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
