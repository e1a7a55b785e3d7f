use crate::HashAlg;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A hash algorithm name that is not one of sha1, sha256, sha384, sha512.
    #[error("unknown hash algorithm {name:?} (expected sha1, sha256, sha384 or sha512)")]
    UnknownAlgorithm {
        /// The name as given.
        name: String,
    },
    /// A measurement-register numbering that is not `ccel` or `pcr`.
    #[error("unknown measurement-register numbering {name:?} (expected ccel or pcr)")]
    UnknownNumbering {
        /// The name as given.
        name: String,
    },
    /// A hex string with a character outside `0-9a-fA-F`.
    #[error("invalid hex digit {found:?} at position {position} in {input:?}")]
    InvalidHex {
        /// The input, after an optional `0x` prefix was removed.
        input: String,
        /// The offending character.
        found: char,
        /// Its zero-based character position.
        position: usize,
    },
    /// A digest whose length does not match its algorithm.
    #[error("{alg} digest must be {expected} bytes ({} hex digits), got {got} bytes", expected * 2)]
    WrongDigestLength {
        /// The algorithm the digest was meant for.
        alg: HashAlg,
        /// The length the algorithm requires.
        expected: usize,
        /// The length that was found.
        got: usize,
    },
    /// A hex string with an odd number of digits.
    #[error("hex string {input:?} has an odd number of digits")]
    OddHexLength {
        /// The input, after an optional `0x` prefix was removed.
        input: String,
    },
    /// A PCR index outside 0..=23.
    #[error("pcr index {index} is out of range (0 to 23)")]
    PcrOutOfRange {
        /// The index as given.
        index: u32,
    },
    /// A digest extended into a bank of another algorithm.
    #[error("cannot extend a {digest} digest into the {bank} bank")]
    BankMismatch {
        /// The bank's algorithm.
        bank: HashAlg,
        /// The digest's algorithm.
        digest: HashAlg,
    },
    /// An event-log field that needs more bytes than the log has left.
    #[error("event log truncated: {field} at offset {offset} needs {needed} bytes, {available} left")]
    EventLogTruncated {
        /// The byte offset of the field.
        offset: usize,
        /// The field, as the TCG structures name it.
        field: &'static str,
        /// The bytes the field needs.
        needed: usize,
        /// The bytes left.
        available: usize,
    },
    /// A length or count in an event log larger than the rest of the log.
    #[error("event log: {field} at offset {offset} declares {size} bytes, but only {available} remain")]
    EventLogTooLarge {
        /// The byte offset of the length or count.
        offset: usize,
        /// The field it sizes.
        field: &'static str,
        /// The bytes it declares.
        size: u64,
        /// The bytes that remain.
        available: usize,
    },
    /// A first event that is not the Spec ID event of a crypto-agile log.
    #[error("not a crypto-agile TCG event log: {reason} (offset {offset})")]
    EventLogBadHeader {
        /// The byte offset of the problem.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// A hash algorithm id this crate does not know, or one an event uses
    /// but the log's header does not list.
    #[error("event log: unknown algorithm id {id:#06x} in {field} at offset {offset}")]
    EventLogUnknownAlgorithm {
        /// The byte offset of the id.
        offset: usize,
        /// The field holding it.
        field: &'static str,
        /// The id.
        id: u16,
    },
    /// An event with two digests of the same algorithm.
    #[error("event log: event {event} has a second {alg} digest at offset {offset}")]
    EventLogDuplicateDigest {
        /// The byte offset of the second digest.
        offset: usize,
        /// The event's number.
        event: usize,
        /// The algorithm.
        alg: HashAlg,
    },
    /// An extending event whose PCR index is above 23.
    #[error("event log: event {event} at offset {offset} extends pcr {pcr}, which does not exist (0 to 23)")]
    EventLogPcrOutOfRange {
        /// The event's number.
        event: usize,
        /// The event's byte offset.
        offset: usize,
        /// The index as logged.
        pcr: u32,
    },
    /// A CCEL event whose measurement-register index is not an RTMR.
    #[error(
        "event log: event {event} at offset {offset} has register index {index}, not an RTMR (1 to 4 in a CCEL log)"
    )]
    EventLogNoRtmr {
        /// The event's number.
        event: usize,
        /// The event's byte offset.
        offset: usize,
        /// The index as logged.
        index: u32,
    },
    /// An extending event without a digest the replay needs.
    #[error("event log: event {event} at offset {offset} has no {alg} digest")]
    EventLogMissingDigest {
        /// The event's number.
        event: usize,
        /// The event's byte offset.
        offset: usize,
        /// The missing algorithm.
        alg: HashAlg,
    },
    /// PCR values given as JSON that do not parse.
    #[error("pcr values: {reason}")]
    PcrValuesJson {
        /// What is wrong, naming the key.
        reason: String,
    },
    /// PCR values (`tpm2_pcrread` output) that do not parse.
    #[error("pcr values, line {line}: {reason}")]
    PcrValuesSyntax {
        /// One-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}
