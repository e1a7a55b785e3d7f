//! TCG PC Client event logs: parsing and replay.
//!
//! The format is the crypto-agile log of the *TCG PC Client Platform Firmware
//! Profile* (version 1.06, section 10.2): a first event in the SHA-1 format
//! (`TCG_PCR_EVENT`) whose data is the `TCG_EfiSpecIdEvent` ("Spec ID
//! Event03") listing the hash algorithms and their digest sizes, followed by
//! `TCG_PCR_EVENT2` records that carry one digest per algorithm. Linux exposes
//! it as `/sys/kernel/security/tpm0/binary_bios_measurements`; TDX firmware
//! writes the same format into the ACPI CCEL table, with measurement-register
//! indices in place of PCR indices (see [`MrNumbering`]).
//!
//! Every length and count read from the log is checked against the bytes that
//! remain before anything is allocated or sliced, so a corrupt log yields an
//! [`Error`] naming the byte offset and the field, never a panic
//! or a huge allocation.

mod expect;
mod replay;
mod report;
mod summary;
mod types;

use crate::{Digest, Error, HashAlg};

pub use expect::{Outcome, PcrComparison, PcrValues};
pub use replay::{MrNumbering, Replay, RtmrReplay, RtmrStep};
pub use report::{
    EventReport, ExpectReport, PcrCheck, PcrValueMap, ReplayReport, RtmrEventReport, RtmrReport, Status,
};
pub use summary::{guid_to_string, summarize};
pub use types::EventType;

/// The signature at the start of the Spec ID event of a crypto-agile log.
const SPEC_ID_SIGNATURE: &[u8; 16] = b"Spec ID Event03\0";

/// The header of a crypto-agile log: the `TCG_EfiSpecIdEvent` of the first
/// event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecId {
    /// `platformClass`: 0 client, 1 server.
    pub platform_class: u32,
    /// `specVersionMajor`, `specVersionMinor`, `specErrata`.
    pub spec_version: (u8, u8, u8),
    /// `uintnSize`: 1 for 32-bit UINTN, 2 for 64-bit.
    pub uintn_size: u8,
    /// The banks the log carries, in header order.
    pub algorithms: Vec<HashAlg>,
    /// `vendorInfo`, usually empty.
    pub vendor_info: Vec<u8>,
}

/// One event of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event's number: 0 for the Spec ID header event, then 1, 2, ...
    /// (as `tpm2_eventlog` numbers them).
    pub number: usize,
    /// The byte offset of the event in the log.
    pub offset: usize,
    /// The PCR index field (a measurement-register index in a CCEL log).
    pub pcr: u32,
    /// The event type.
    pub event_type: EventType,
    /// The digests, in log order (the header event has one SHA-1 digest).
    pub digests: Vec<Digest>,
    /// The event data.
    pub data: Vec<u8>,
}

impl Event {
    /// The digest for `alg`, if the event carries one.
    pub fn digest(&self, alg: HashAlg) -> Option<&Digest> {
        self.digests.iter().find(|d| d.alg() == alg)
    }

    /// Whether replay extends this event into its register: every event
    /// except EV_NO_ACTION (PC Client Platform Firmware Profile, section
    /// 10.4.1: "not extended into any PCR").
    pub fn extends(&self) -> bool {
        self.event_type != EventType::NO_ACTION
    }

    /// A one-line human-readable account of the event data (see
    /// [`summarize`]).
    pub fn summary(&self) -> String {
        summarize(self.event_type, &self.data)
    }

    /// The locality of a StartupLocality event (an EV_NO_ACTION event whose
    /// data is `"StartupLocality\0"` and one byte), if this is one.
    pub fn startup_locality(&self) -> Option<u8> {
        const SIG: &[u8; 16] = b"StartupLocality\0";
        if self.event_type == EventType::NO_ACTION && self.data.len() == 17 && self.data.starts_with(SIG) {
            Some(self.data[16])
        } else {
            None
        }
    }
}

/// A parsed crypto-agile event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLog {
    spec_id: SpecId,
    events: Vec<Event>,
    padding: usize,
}

impl EventLog {
    /// Parses a crypto-agile TCG event log.
    ///
    /// Eight or more trailing bytes that are all `0x00` or all `0xFF` are taken as the
    /// unused rest of a fixed-size log area (a CCEL table is reserved whole
    /// and pre-filled) and counted in [`EventLog::padding`].
    pub fn parse(bytes: &[u8]) -> Result<EventLog, Error> {
        let mut r = Reader { bytes, pos: 0 };
        let (spec_id, header) = parse_header(&mut r)?;
        let mut events = vec![header];
        let mut padding = 0;
        while r.remaining() > 0 {
            // Eight bytes at least: a shorter all-zero rest is the start of
            // a truncated record on PCR0, not padding.
            let rest = &bytes[r.pos..];
            if rest.len() >= 8 && (rest.iter().all(|&b| b == 0) || rest.iter().all(|&b| b == 0xff)) {
                padding = rest.len();
                break;
            }
            let number = events.len();
            events.push(parse_event2(&mut r, &spec_id, number)?);
        }
        Ok(EventLog { spec_id, events, padding })
    }

    /// The Spec ID header.
    pub fn spec_id(&self) -> &SpecId {
        &self.spec_id
    }

    /// The banks the log carries, in header order.
    pub fn algorithms(&self) -> &[HashAlg] {
        &self.spec_id.algorithms
    }

    /// All events, the header event first.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The number of padding bytes after the last event.
    pub fn padding(&self) -> usize {
        self.padding
    }
}

/// A bounds-checked little-endian reader that reports offsets and fields.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], Error> {
        if n > self.remaining() {
            return Err(Error::EventLogTruncated {
                offset: self.pos,
                field,
                needed: n,
                available: self.remaining(),
            });
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, Error> {
        Ok(self.take(1, field)?[0])
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, Error> {
        let b = self.take(2, field)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, Error> {
        let b = self.take(4, field)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A length-prefixed field whose length must fit in what remains.
    fn sized(&mut self, len: u32, len_offset: usize, field: &'static str) -> Result<&'a [u8], Error> {
        let len = len as usize;
        if len > self.remaining() {
            return Err(Error::EventLogTooLarge {
                offset: len_offset,
                field,
                size: len as u64,
                available: self.remaining(),
            });
        }
        self.take(len, field)
    }

    /// A `u32` count of entries that take at least `entry_size` bytes each,
    /// refused when what remains cannot hold them, so that a corrupt count
    /// neither reserves memory nor drives a loop for long.
    fn count(&mut self, entry_size: usize, field: &'static str) -> Result<u32, Error> {
        let at = self.pos;
        let count = self.u32(field)?;
        if count as usize > self.remaining() / entry_size {
            return Err(Error::EventLogTooLarge {
                offset: at,
                field,
                size: u64::from(count) * entry_size as u64,
                available: self.remaining(),
            });
        }
        Ok(count)
    }
}

fn bad_header(offset: usize, reason: impl Into<String>) -> Error {
    Error::EventLogBadHeader { offset, reason: reason.into() }
}

/// Parses the SHA-1-format first event and its Spec ID data.
fn parse_header(r: &mut Reader<'_>) -> Result<(SpecId, Event), Error> {
    let offset = r.pos;
    let pcr = r.u32("header event PCRIndex")?;
    let event_type = EventType(r.u32("header event EventType")?);
    let sha1 = r.take(20, "header event SHA-1 digest")?;
    let size_at = r.pos;
    let size = r.u32("header event EventSize")?;
    let data_at = r.pos;
    let data = r.sized(size, size_at, "header event data")?;
    if event_type != EventType::NO_ACTION {
        return Err(bad_header(
            offset + 4,
            format!(
                "the first event is {event_type}, not EV_NO_ACTION (a SHA-1-only log without a Spec ID \
                 event is not supported)"
            ),
        ));
    }
    let mut d = Reader { bytes: data, pos: 0 };
    let sig = d.take(16, "Spec ID signature").map_err(|e| shift(e, data_at))?;
    if sig != SPEC_ID_SIGNATURE {
        let shown = String::from_utf8_lossy(sig.split(|&b| b == 0).next().unwrap_or_default()).into_owned();
        return Err(bad_header(
            data_at,
            format!("the Spec ID signature is {shown:?}, expected \"Spec ID Event03\" (a crypto-agile log)"),
        ));
    }
    let fields = (|| -> Result<_, Error> {
        let platform_class = d.u32("Spec ID platformClass")?;
        let minor = d.u8("Spec ID specVersionMinor")?;
        let major = d.u8("Spec ID specVersionMajor")?;
        let errata = d.u8("Spec ID specErrata")?;
        let uintn_size = d.u8("Spec ID uintnSize")?;
        let count_at = d.pos;
        // Each entry takes four bytes (algorithm id and digest size).
        let count = d.count(4, "Spec ID numberOfAlgorithms")?;
        if count == 0 {
            return Err(bad_header(count_at, "the Spec ID event lists no algorithms"));
        }
        let mut algorithms = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let at = d.pos;
            let id = d.u16("Spec ID digestSizes algorithmId")?;
            let size = d.u16("Spec ID digestSizes digestSize")?;
            let alg = HashAlg::from_tpm_alg_id(id).ok_or(Error::EventLogUnknownAlgorithm {
                offset: at,
                field: "Spec ID digestSizes algorithmId",
                id,
            })?;
            if usize::from(size) != alg.digest_len() {
                return Err(bad_header(
                    at + 2,
                    format!(
                        "the Spec ID event gives {alg} a digest size of {size}, not {}",
                        alg.digest_len()
                    ),
                ));
            }
            if algorithms.contains(&alg) {
                return Err(bad_header(at, format!("the Spec ID event lists {alg} twice")));
            }
            algorithms.push(alg);
        }
        let vendor_at = d.pos;
        let vendor_size = d.u8("Spec ID vendorInfoSize")?;
        let vendor_info = d.sized(u32::from(vendor_size), vendor_at, "Spec ID vendorInfo")?.to_vec();
        Ok(SpecId {
            platform_class,
            spec_version: (major, minor, errata),
            uintn_size,
            algorithms,
            vendor_info,
        })
    })();
    let spec_id = fields.map_err(|e| shift(e, data_at))?;
    let digest = Digest::from_slice(HashAlg::Sha1, sha1)?;
    let event = Event { number: 0, offset, pcr, event_type, digests: vec![digest], data: data.to_vec() };
    Ok((spec_id, event))
}

/// Turns an offset relative to the event data into one relative to the log.
fn shift(e: Error, base: usize) -> Error {
    match e {
        Error::EventLogTruncated { offset, field, needed, available } => {
            Error::EventLogTruncated { offset: offset + base, field, needed, available }
        }
        Error::EventLogTooLarge { offset, field, size, available } => {
            Error::EventLogTooLarge { offset: offset + base, field, size, available }
        }
        Error::EventLogUnknownAlgorithm { offset, field, id } => {
            Error::EventLogUnknownAlgorithm { offset: offset + base, field, id }
        }
        Error::EventLogBadHeader { offset, reason } => {
            Error::EventLogBadHeader { offset: offset + base, reason }
        }
        other => other,
    }
}

/// Parses one `TCG_PCR_EVENT2`.
fn parse_event2(r: &mut Reader<'_>, spec: &SpecId, number: usize) -> Result<Event, Error> {
    let offset = r.pos;
    let pcr = r.u32("PCRIndex")?;
    let event_type = EventType(r.u32("EventType")?);
    // A digest takes at least two bytes (its algorithm id).
    let count = r.count(2, "digest count")?;
    let mut digests: Vec<Digest> = Vec::new();
    for _ in 0..count {
        let at = r.pos;
        let id = r.u16("digest algorithmId")?;
        let alg = HashAlg::from_tpm_alg_id(id)
            .filter(|a| spec.algorithms.contains(a))
            .ok_or(Error::EventLogUnknownAlgorithm { offset: at, field: "digest algorithmId", id })?;
        let bytes = r.take(alg.digest_len(), "digest")?;
        if digests.iter().any(|d| d.alg() == alg) {
            return Err(Error::EventLogDuplicateDigest { offset: at, event: number, alg });
        }
        digests.push(Digest::from_slice(alg, bytes)?);
    }
    let size_at = r.pos;
    let size = r.u32("EventSize")?;
    let data = r.sized(size, size_at, "event data")?.to_vec();
    Ok(Event { number, offset, pcr, event_type, digests, data })
}

#[cfg(test)]
pub(crate) mod testlog;

#[cfg(test)]
mod tests {
    use super::testlog::*;
    use super::*;

    #[test]
    fn parses_header_and_events() {
        let log = LogBuilder::new(&[HashAlg::Sha1, HashAlg::Sha256])
            .event(0, 8, b"version")
            .event(7, 4, &[0, 0, 0, 0])
            .build();
        let parsed = EventLog::parse(&log).unwrap();
        assert_eq!(parsed.algorithms(), [HashAlg::Sha1, HashAlg::Sha256]);
        assert_eq!(parsed.spec_id().spec_version, (2, 0, 0));
        assert_eq!(parsed.events().len(), 3);
        let e = &parsed.events()[2];
        assert_eq!((e.number, e.pcr, e.event_type), (2, 7, EventType::SEPARATOR));
        assert_eq!(e.digest(HashAlg::Sha256), Some(&HashAlg::Sha256.hash(&[0, 0, 0, 0])));
        assert_eq!(parsed.padding(), 0);
    }

    #[test]
    fn trailing_padding_is_accepted() {
        let mut log = LogBuilder::new(&[HashAlg::Sha384]).event(1, 4, &[0; 4]).build();
        log.extend_from_slice(&[0xff; 100]);
        let parsed = EventLog::parse(&log).unwrap();
        assert_eq!(parsed.padding(), 100);
        assert_eq!(parsed.events().len(), 2);
    }

    #[test]
    fn every_truncation_is_an_error_naming_an_offset() {
        let log = LogBuilder::new(&[HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha384])
            .event(0, 8, b"version")
            .event(4, 0x8000_0003, &[1; 40])
            .build();
        let boundaries: Vec<usize> =
            EventLog::parse(&log).unwrap().events().iter().skip(1).map(|e| e.offset).collect();
        for len in 0..log.len() {
            if boundaries.contains(&len) {
                // A cut between two events leaves a shorter valid log.
                assert!(EventLog::parse(&log[..len]).is_ok());
                continue;
            }
            let err = EventLog::parse(&log[..len]).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("offset"), "{len}: {msg}");
            assert!(
                matches!(err, Error::EventLogTruncated { .. } | Error::EventLogTooLarge { .. }),
                "{len}: {err:?}"
            );
        }
    }

    #[test]
    fn bad_headers_and_algorithms() {
        let good = LogBuilder::new(&[HashAlg::Sha256]).event(0, 1, b"x").build();
        // The header event's data starts at 32; its first algorithm id sits
        // 28 bytes into it, the digest size right after.
        let mut unknown = good.clone();
        unknown[60..62].copy_from_slice(&0x0012u16.to_le_bytes());
        assert_eq!(
            EventLog::parse(&unknown),
            Err(Error::EventLogUnknownAlgorithm {
                offset: 60,
                field: "Spec ID digestSizes algorithmId",
                id: 0x12
            })
        );
        let mut wrong_size = good.clone();
        wrong_size[62] = 20;
        assert!(matches!(EventLog::parse(&wrong_size), Err(Error::EventLogBadHeader { offset: 62, .. })));
        let mut not_no_action = good.clone();
        not_no_action[4] = 4;
        assert!(matches!(EventLog::parse(&not_no_action), Err(Error::EventLogBadHeader { offset: 4, .. })));
        let mut sig = good.clone();
        sig[32 + 14] = b'2';
        assert!(matches!(EventLog::parse(&sig), Err(Error::EventLogBadHeader { .. })));

        // An event digest of an algorithm the header does not list.
        let mut log = LogBuilder::new(&[HashAlg::Sha256]).build();
        let at = log.len();
        log.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]);
        log.extend_from_slice(&HashAlg::Sha1.tpm_alg_id().to_le_bytes());
        log.extend_from_slice(&[0; 20]);
        log.extend_from_slice(&[0; 4]);
        assert_eq!(
            EventLog::parse(&log),
            Err(Error::EventLogUnknownAlgorithm { offset: at + 12, field: "digest algorithmId", id: 4 })
        );
    }

    #[test]
    fn oversized_fields_are_refused_before_allocation() {
        let mut log = LogBuilder::new(&[HashAlg::Sha256]).build();
        let at = log.len();
        // PCR 0, EV_POST_CODE, 0 digests, event size 4 GiB - 1.
        log.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1]);
        assert_eq!(
            EventLog::parse(&log),
            Err(Error::EventLogTooLarge {
                offset: at + 12,
                field: "event data",
                size: u64::from(u32::MAX),
                available: 1
            })
        );
        let mut log = LogBuilder::new(&[HashAlg::Sha256]).build();
        log.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0, 0]);
        assert!(matches!(EventLog::parse(&log), Err(Error::EventLogTooLarge { field: "digest count", .. })));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            if let Ok(log) = EventLog::parse(&bytes) {
                for e in log.events() {
                    let _ = e.summary();
                }
                let _ = log.replay();
            }
        }

        #[test]
        fn corrupting_a_valid_log_never_panics(pos in 0usize..200, byte in proptest::prelude::any::<u8>()) {
            let mut log = LogBuilder::new(&[HashAlg::Sha1, HashAlg::Sha256])
                .event(0, 8, b"v")
                .event(5, 0x8000_0001, &uefi_variable(GLOBAL, "SecureBoot", &[1]))
                .build();
            let pos = pos % log.len();
            log[pos] = byte;
            if let Ok(parsed) = EventLog::parse(&log) {
                for e in parsed.events() {
                    let _ = e.summary();
                }
                let _ = parsed.replay();
            }
        }
    }
}
