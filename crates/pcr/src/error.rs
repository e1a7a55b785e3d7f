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
}
