//! What `rvkit podvm predict` prints: the predicted PCR values, and the
//! comparison with a published measurements.json.

use std::fmt;

use rvkit_pcr::{Digest, HashAlg, PcrIndex};
use serde::Serialize;

use crate::{PredictedEvent, Prediction};

/// One predicted register value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PcrValue {
    /// The bank.
    pub bank: &'static str,
    /// The PCR index.
    pub pcr: u32,
    /// The value after every predicted event, lowercase hex.
    pub value: String,
}

/// The predicted values of the chosen PCRs and the events behind them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PredictionReport {
    /// The systemd-stub version read from the UKI.
    pub stub_version: String,
    /// Values, bank by bank, PCR by PCR.
    pub values: Vec<PcrValue>,
    /// The events of the chosen PCRs, in boot order.
    pub events: Vec<PredictedEvent>,
}

impl Prediction {
    /// The values of `pcrs` in `banks` after replaying every event, starting
    /// from the registers' reset values (zero for PCRs 0–16).
    pub fn values(&self, banks: &[HashAlg], pcrs: &[u32]) -> Vec<(HashAlg, u32, Digest)> {
        let replay = self.event_log().replay().expect("a predicted log replays");
        let mut out = Vec::new();
        for &alg in banks {
            let Some(bank) = replay.bank(alg) else { continue };
            for &pcr in pcrs {
                if let Ok(index) = PcrIndex::new(pcr) {
                    out.push((alg, pcr, bank.get(index)));
                }
            }
        }
        out
    }

    /// The report for `pcrs` in `banks`.
    pub fn report(&self, banks: &[HashAlg], pcrs: &[u32]) -> PredictionReport {
        PredictionReport {
            stub_version: self.stub_version.clone(),
            values: self
                .values(banks, pcrs)
                .into_iter()
                .map(|(alg, pcr, d)| PcrValue { bank: alg.name(), pcr, value: d.to_hex() })
                .collect(),
            events: self
                .events
                .iter()
                .filter(|e| pcrs.contains(&e.pcr))
                .map(|e| only_banks(e, banks))
                .collect(),
        }
    }
}

fn only_banks(e: &PredictedEvent, banks: &[HashAlg]) -> PredictedEvent {
    PredictedEvent {
        digests: e.digests.iter().filter(|d| banks.contains(&d.alg())).cloned().collect(),
        ..e.clone()
    }
}

impl fmt::Display for PredictionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "systemd-stub {}", self.stub_version)?;
        for v in &self.values {
            writeln!(f, "{}:pcr{:02} {}", v.bank, v.pcr, v.value)?;
        }
        Ok(())
    }
}

/// The check of one published PCR value against the prediction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PcrCheck {
    /// The bank.
    pub bank: &'static str,
    /// The PCR index.
    pub pcr: u32,
    /// The value the file publishes.
    pub published: String,
    /// The predicted value.
    pub predicted: String,
    /// Whether they are equal.
    pub matches: bool,
    /// The predicted events behind the value (for a PCR that differs).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// With a booted VM's event log: the first of its events on this PCR
    /// that differs from the prediction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_difference: Option<String>,
}

/// Every published value checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// One entry per published PCR of the banks checked, in file order.
    pub pcrs: Vec<PcrCheck>,
}

impl CheckReport {
    /// Whether every published value equals the prediction.
    pub fn ok(&self) -> bool {
        self.pcrs.iter().all(|c| c.matches)
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.pcrs {
            if c.matches {
                writeln!(f, "{}:pcr{:02}: matches {}", c.bank, c.pcr, c.predicted)?;
                continue;
            }
            writeln!(f, "{}:pcr{:02}: differs", c.bank, c.pcr)?;
            writeln!(f, "  published {}", c.published)?;
            writeln!(f, "  predicted {}", c.predicted)?;
            for e in &c.events {
                writeln!(f, "  event {e}")?;
            }
            if let Some(d) = &c.first_difference {
                writeln!(f, "  {d}")?;
            }
        }
        Ok(())
    }
}

/// A booted event's (PCR, digest) as the check compares them.
#[derive(Debug, Clone)]
pub struct BootedEvent {
    /// Its number in the booted log.
    pub number: usize,
    /// The PCR it extends.
    pub pcr: u32,
    /// Its digest in the bank checked.
    pub digest: Option<Digest>,
    /// A one-line summary.
    pub summary: String,
}

/// Compares published `(bank, pcr, value)` triples with the prediction; with
/// `booted` (a booted VM's extending events), names the first event on each
/// differing PCR whose digest is not the predicted one.
pub fn check(
    prediction: &Prediction,
    published: &[(HashAlg, u32, Digest)],
    booted: Option<&dyn Fn(HashAlg) -> Vec<BootedEvent>>,
) -> CheckReport {
    let banks: Vec<HashAlg> = published.iter().map(|p| p.0).collect();
    let pcrs: Vec<u32> = published.iter().map(|p| p.1).collect();
    let values = prediction.values(&banks, &pcrs);
    let mut out = Vec::new();
    for (alg, pcr, value) in published {
        let predicted =
            values.iter().find(|v| v.0 == *alg && v.1 == *pcr).map(|v| v.2).expect("computed above");
        let matches = &predicted == value;
        let predicted_events: Vec<&PredictedEvent> =
            prediction.events.iter().filter(|e| e.pcr == *pcr).collect();
        let digest_of = |e: &PredictedEvent| e.digests.iter().find(|d| d.alg() == *alg).copied();
        let events = if matches {
            Vec::new()
        } else {
            predicted_events
                .iter()
                .map(|e| {
                    format!("{} {}", digest_of(e).map(|d| d.to_hex()).unwrap_or_default(), e.description)
                })
                .collect()
        };
        let first_difference = (!matches).then_some(booted).flatten().map(|booted| {
            let booted: Vec<BootedEvent> = booted(*alg).into_iter().filter(|b| b.pcr == *pcr).collect();
            let n = booted.len().max(predicted_events.len());
            (0..n)
                .find_map(|i| {
                    let b = booted.get(i);
                    let p = predicted_events.get(i);
                    let same = match (b, p) {
                        (Some(b), Some(p)) => b.digest.is_some() && b.digest == digest_of(p),
                        _ => false,
                    };
                    (!same).then(|| match (b, p) {
                        (Some(b), Some(p)) => format!(
                            "first difference: booted event {} ({}) has {}, the prediction has {} ({})",
                            b.number,
                            b.summary,
                            b.digest.as_ref().map(|d| d.to_hex()).unwrap_or_else(|| "no digest".into()),
                            digest_of(p).map(|d| d.to_hex()).unwrap_or_default(),
                            p.description
                        ),
                        (Some(b), None) => {
                            format!(
                                "first difference: booted event {} ({}) is not predicted",
                                b.number, b.summary
                            )
                        }
                        (None, Some(p)) => format!(
                            "first difference: predicted {} did not happen in the boot",
                            p.description
                        ),
                        (None, None) => unreachable!("i < n"),
                    })
                })
                .unwrap_or_else(|| "the booted log's events on this pcr equal the prediction".into())
        });
        out.push(PcrCheck {
            bank: alg.name(),
            pcr: *pcr,
            published: value.to_hex(),
            predicted: predicted.to_hex(),
            matches,
            events,
            first_difference,
        });
    }
    CheckReport { pcrs: out }
}
