//! The reports `rvkit pcr replay` prints: one type per report, serialised
//! as its `--json` output and rendered as its text output by `Display`, so
//! the two never disagree.
//!
//! The JSON field names and shapes are a stable interface: new fields may
//! be added, existing ones keep their name and meaning.

use std::fmt;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use super::{EventLog, PcrComparison, Replay, RtmrReplay};
use crate::{HashAlg, Rtmr};

/// Serialises pairs as a JSON object, keeping their order.
fn ordered_map<S: Serializer, V: Serialize>(pairs: &[(&str, V)], s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(pairs.len()))?;
    for (k, v) in pairs {
        map.serialize_entry(k, v)?;
    }
    map.end()
}

fn ordered_map_opt<S: Serializer, V: Serialize>(
    pairs: &Option<Vec<(&str, V)>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match pairs {
        Some(p) => ordered_map(p, s),
        None => s.serialize_none(),
    }
}

/// One event of a [`ReplayReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventReport {
    /// The event's number (0 is the Spec ID header).
    pub number: usize,
    /// Its byte offset in the log.
    pub offset: usize,
    /// The PCR index field.
    pub pcr: u32,
    /// The event type's name (or hex id).
    #[serde(rename = "type")]
    pub event_type: String,
    /// The event type's id.
    pub type_id: u32,
    /// A one-line account of the event data.
    pub summary: String,
    /// The digests of the shown banks (the header event: all of its
    /// digests), algorithm to hex, in log order.
    #[serde(serialize_with = "ordered_map")]
    pub digests: Vec<(&'static str, String)>,
    /// The PCR's value in each shown bank after this event; `null` for events
    /// that extend nothing.
    #[serde(serialize_with = "ordered_map_opt")]
    pub values: Option<Vec<(&'static str, String)>>,
}

/// The replay of an event log into PCR banks: `rvkit pcr replay`.
///
/// JSON: `{"algorithms", "startup_locality", "events", "pcrs", "notes"}`,
/// where `pcrs` maps each shown bank to `{index: hex}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    /// How the log is named in the text header.
    #[serde(skip)]
    pub label: String,
    /// How many events the log has (shown or not).
    #[serde(skip)]
    pub event_count: usize,
    /// The shown banks, in the order shown.
    #[serde(skip)]
    pub banks: Vec<HashAlg>,
    /// The log's banks, in header order.
    pub algorithms: Vec<&'static str>,
    /// The locality of a StartupLocality event that set PCR0's start.
    pub startup_locality: Option<u8>,
    /// The shown events.
    pub events: Vec<EventReport>,
    /// The final values of the shown PCRs, per shown bank.
    #[serde(serialize_with = "ordered_map")]
    pub pcrs: Vec<(&'static str, PcrValueMap)>,
    /// Things a reader should know about the log.
    pub notes: Vec<String>,
}

/// PCR index to hex value, in index order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PcrValueMap(pub std::collections::BTreeMap<u8, String>);

impl ReplayReport {
    /// Reports `replay` of `log` (named `label`) for `banks`, showing only
    /// the events and PCRs whose index `show` accepts.
    pub fn new(
        label: &str,
        log: &EventLog,
        replay: &Replay,
        banks: &[HashAlg],
        show: impl Fn(u32) -> bool,
    ) -> Self {
        let touched: Vec<_> = replay.touched().filter(|p| show(u32::from(p.get()))).collect();
        let events = log
            .events()
            .iter()
            .filter(|e| show(e.pcr))
            .map(|e| EventReport {
                number: e.number,
                offset: e.offset,
                pcr: e.pcr,
                event_type: e.event_type.to_string(),
                type_id: e.event_type.0,
                summary: e.summary(),
                digests: e
                    .digests
                    .iter()
                    .filter(|d| e.number == 0 || banks.contains(&d.alg()))
                    .map(|d| (d.alg().name(), d.to_hex()))
                    .collect(),
                values: (e.extends() && e.number > 0).then(|| {
                    banks
                        .iter()
                        .filter_map(|alg| {
                            replay.value_after(e.number, *alg).map(|v| (alg.name(), v.to_hex()))
                        })
                        .collect()
                }),
            })
            .collect();
        let pcrs = banks
            .iter()
            .filter_map(|alg| replay.bank(*alg))
            .map(|bank| {
                let values = touched.iter().map(|p| (p.get(), bank.get(*p).to_hex())).collect();
                (bank.alg().name(), PcrValueMap(values))
            })
            .collect();
        ReplayReport {
            label: label.to_owned(),
            event_count: log.events().len(),
            banks: banks.to_vec(),
            algorithms: log.algorithms().iter().map(|a| a.name()).collect(),
            startup_locality: replay.startup_locality(),
            events,
            pcrs,
            notes: replay.notes().to_vec(),
        }
    }
}

fn lookup<'a>(pairs: &'a [(&str, String)], alg: HashAlg) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| *k == alg.name()).map(|(_, v)| v.as_str())
}

impl fmt::Display for ReplayReport {
    /// A header line, each event with its digest and the PCR's value after
    /// it in every shown bank, then the final values as `tpm2_pcrread`
    /// prints them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "# {}: {} events, banks {}", self.label, self.event_count, self.algorithms.join(", "))?;
        if let Some(l) = self.startup_locality {
            write!(f, ", StartupLocality {l}")?;
        }
        writeln!(f)?;
        for e in &self.events {
            writeln!(
                f,
                "event {} (offset {:#x}): pcr {} {}: {}",
                e.number, e.offset, e.pcr, e.event_type, e.summary
            )?;
            for alg in &self.banks {
                let digest = lookup(&e.digests, *alg);
                match e.values.as_deref().and_then(|v| lookup(v, *alg)) {
                    Some(v) => writeln!(
                        f,
                        "  {:<6} {}\n         pcr{:02} = {v}",
                        alg.name(),
                        digest.unwrap_or("-"),
                        e.pcr
                    )?,
                    None if digest.is_some() => {
                        writeln!(f, "  {:<6} {} (not extended)", alg.name(), digest.unwrap_or("-"))?
                    }
                    None => {}
                }
            }
        }
        writeln!(f, "pcrs:")?;
        for (alg, values) in &self.pcrs {
            writeln!(f, "  {alg}:")?;
            for (pcr, value) in &values.0 {
                writeln!(f, "    {pcr:<2} : 0x{value}")?;
            }
        }
        Ok(())
    }
}

/// Whether an expected value is reproduced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The replay gives the expected value.
    Match,
    /// It does not.
    Differs,
}

/// One expected PCR value compared with the replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PcrCheck {
    /// The PCR.
    pub pcr: u8,
    /// The bank.
    pub bank: &'static str,
    /// Whether it matches.
    pub status: Status,
    /// The expected value, hex.
    pub expected: String,
    /// The replayed value, hex; `null` if the log lacks the bank.
    pub replayed: Option<String>,
    /// The first event past the prefix that gives the expected value, when
    /// there is one.
    pub first_divergent_event: Option<usize>,
    /// What the difference means ([`PcrComparison::explain`]); empty for a
    /// match.
    pub detail: String,
}

/// Expected PCR values compared with a replay: `rvkit pcr replay --expect`.
///
/// JSON: an array of [`PcrCheck`], in bank then PCR order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ExpectReport {
    /// Every comparison.
    pub checks: Vec<PcrCheck>,
}

impl ExpectReport {
    /// Reports `comparisons` made with `log`.
    pub fn new(log: &EventLog, comparisons: &[PcrComparison]) -> ExpectReport {
        let checks = comparisons
            .iter()
            .map(|c| PcrCheck {
                pcr: c.pcr.get(),
                bank: c.alg.name(),
                status: if c.matches() { Status::Match } else { Status::Differs },
                expected: c.expected.to_hex(),
                replayed: c.replayed.map(|d| d.to_hex()),
                first_divergent_event: match c.outcome {
                    super::Outcome::ExtraEvents { first_divergent, .. } => Some(first_divergent),
                    _ => None,
                },
                detail: c.explain(log),
            })
            .collect();
        ExpectReport { checks }
    }

    /// How many values differ.
    pub fn differing(&self) -> usize {
        self.checks.iter().filter(|c| c.status == Status::Differs).count()
    }
}

impl fmt::Display for ExpectReport {
    /// One line per matching value; for each differing one, the expected and
    /// replayed values and the explanation.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.checks {
            let head = format!("pcr{:02} {}", c.pcr, c.bank);
            match c.status {
                Status::Match => writeln!(f, "{head}: matches {}", c.expected)?,
                Status::Differs => writeln!(
                    f,
                    "{head}: differs\n  expected {}\n  replayed {}\n  {}",
                    c.expected,
                    c.replayed.as_deref().unwrap_or("-"),
                    c.detail
                )?,
            }
        }
        Ok(())
    }
}

/// One RTMR extend of an [`RtmrReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RtmrEventReport {
    /// The event's number.
    pub number: usize,
    /// Its byte offset in the log.
    pub offset: usize,
    /// The log's index field.
    pub index: u32,
    /// The RTMR extended, 0 to 3.
    pub rtmr: u8,
    /// The event type's name (or hex id).
    #[serde(rename = "type")]
    pub event_type: String,
    /// A one-line account of the event data.
    pub summary: String,
    /// The SHA-384 digest extended, hex.
    pub digest: String,
    /// The RTMR's value after the extend, hex.
    pub value: String,
}

/// The replay of a log into TDX RTMR0-3: `rvkit pcr replay --tdx`.
///
/// JSON: `{"events", "rtmrs": {"rtmr0": hex, …}, "skipped_events"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RtmrReport {
    /// The shown extends.
    pub events: Vec<RtmrEventReport>,
    /// The final values, `rtmr0` to `rtmr3`.
    #[serde(serialize_with = "ordered_map")]
    pub rtmrs: Vec<(&'static str, String)>,
    /// Numbers of extending events that map to no RTMR.
    pub skipped_events: Vec<usize>,
}

impl RtmrReport {
    /// Reports `replay` of `log`, showing the extends of events whose index
    /// `show` accepts.
    pub fn new(log: &EventLog, replay: &RtmrReplay, show: impl Fn(u32) -> bool) -> RtmrReport {
        let events = replay
            .steps()
            .iter()
            .filter(|s| show(log.events()[s.event].pcr))
            .map(|s| {
                let e = &log.events()[s.event];
                RtmrEventReport {
                    number: e.number,
                    offset: e.offset,
                    index: e.pcr,
                    rtmr: s.rtmr.index(),
                    event_type: e.event_type.to_string(),
                    summary: e.summary(),
                    digest: s.digest.to_hex(),
                    value: s.value.to_hex(),
                }
            })
            .collect();
        const NAMES: [(&str, Rtmr); 4] =
            [("rtmr0", Rtmr::Rtmr0), ("rtmr1", Rtmr::Rtmr1), ("rtmr2", Rtmr::Rtmr2), ("rtmr3", Rtmr::Rtmr3)];
        RtmrReport {
            events,
            rtmrs: NAMES.iter().map(|(n, m)| (*n, replay.value(*m).to_hex())).collect(),
            skipped_events: replay.skipped().to_vec(),
        }
    }
}

impl fmt::Display for RtmrReport {
    /// Each extend with its digest and the register's new value, then the
    /// final values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.events {
            writeln!(
                f,
                "event {} (offset {:#x}): index {} -> rtmr{} {}: {}\n  sha384 {}\n         rtmr{} = {}",
                e.number, e.offset, e.index, e.rtmr, e.event_type, e.summary, e.digest, e.rtmr, e.value
            )?;
        }
        writeln!(f, "rtmrs:")?;
        for (name, value) in &self.rtmrs {
            writeln!(f, "  {name} : 0x{value}")?;
        }
        Ok(())
    }
}
