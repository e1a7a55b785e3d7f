use rvkit_pcr::HashAlg;

/// Everything that can go wrong in this crate.
///
/// Measurement-file errors name the key inside the file; the caller adds the
/// file name, which this crate never sees.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The measurements file is not valid JSON (including trailing garbage
    /// after the document).
    #[error("measurements file is not valid JSON: {message} at line {line}, column {column}")]
    MeasurementsJson {
        /// The JSON parser's description of the problem.
        message: String,
        /// One-based line of the problem.
        line: usize,
        /// One-based column of the problem.
        column: usize,
    },
    /// A place in the measurements file that must hold an object holds
    /// something else.
    #[error("{path} of the measurements file must be a JSON object, found {found}")]
    NotAnObject {
        /// Where: `top level`, `measurements` or `measurements.<bank>`.
        path: String,
        /// What was found instead (`an array`, `a string`, ...).
        found: &'static str,
    },
    /// The measurements file has no `measurements` key.
    #[error("measurements file has no \"measurements\" key")]
    MissingMeasurements,
    /// A key the measurements format does not define.
    #[error("unknown key {key:?} in {path} of the measurements file (expected only \"measurements\")")]
    UnknownKey {
        /// The object holding the key.
        path: String,
        /// The key as written.
        key: String,
    },
    /// A bank name other than sha1, sha256, sha384 or sha512.
    #[error("unknown bank {bank:?} in measurements (expected sha1, sha256, sha384 or sha512)")]
    UnknownBank {
        /// The bank name as written.
        bank: String,
    },
    /// The same key written twice in one JSON object. JSON parsers disagree
    /// on which copy wins, so this is refused rather than guessed.
    #[error("duplicate key {key:?} in {path} of the measurements file")]
    DuplicateKey {
        /// The object holding the key.
        path: String,
        /// The key as written.
        key: String,
    },
    /// A PCR key that is not `pcr` followed by decimal digits.
    #[error(
        "bad pcr key {key:?} in measurements.{bank}: expected \"pcr\" and a decimal number such as \"pcr03\""
    )]
    BadPcrKey {
        /// The bank holding the key.
        bank: HashAlg,
        /// The key as written.
        key: String,
    },
    /// A PCR key whose number is above 23.
    #[error("pcr key {key:?} in measurements.{bank} is out of range (pcr00 to pcr23)")]
    PcrOutOfRange {
        /// The bank holding the key.
        bank: HashAlg,
        /// The key as written.
        key: String,
    },
    /// Two keys that name the same PCR, such as `pcr3` and `pcr03`.
    #[error("keys {first:?} and {second:?} in measurements.{bank} both name pcr{pcr:02}")]
    DuplicatePcr {
        /// The bank holding the keys.
        bank: HashAlg,
        /// The PCR number.
        pcr: u8,
        /// The first key as written.
        first: String,
        /// The second key as written.
        second: String,
    },
    /// A PCR value that is not a JSON string.
    #[error("value of {key:?} in measurements.{bank} must be a hex string, found {found}")]
    NotAString {
        /// The bank holding the key.
        bank: HashAlg,
        /// The key as written.
        key: String,
        /// What was found instead.
        found: &'static str,
    },
    /// A PCR value that is not hex of the bank's digest length.
    #[error("bad value for {key:?} in measurements.{bank}")]
    BadDigest {
        /// The bank holding the key.
        bank: HashAlg,
        /// The key as written.
        key: String,
        /// What is wrong with the hex.
        #[source]
        source: rvkit_pcr::Error,
    },
    /// An image manifest annotation under
    /// [`MEASUREMENTS_ANNOTATION_PREFIX`](crate::MEASUREMENTS_ANNOTATION_PREFIX)
    /// whose key is not `<bank>.pcrNN` (bank `sha1`, `sha256`, `sha384` or
    /// `sha512`; `NN` two digits from 00 to 23).
    #[error(
        "manifest annotation {key:?} is not {}<bank>.pcrNN (bank sha1, sha256, sha384 or sha512; NN from 00 to 23)",
        crate::MEASUREMENTS_ANNOTATION_PREFIX
    )]
    BadAnnotationKey {
        /// The annotation key as written.
        key: String,
    },
    /// An image manifest annotation for a PCR whose value is not hex of the
    /// bank's digest length.
    #[error("bad value for manifest annotation {key:?}")]
    BadAnnotationValue {
        /// The annotation key as written.
        key: String,
        /// What is wrong with the hex.
        #[source]
        source: rvkit_pcr::Error,
    },
    /// An expiration that is not exactly `YYYY-MM-DDTHH:MM:SSZ` or not a real
    /// date and time.
    #[error("bad expiration {input:?}: {reason}")]
    BadExpiration {
        /// The text as given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An expiration that is not after the current time: values published
    /// with it could never attest.
    #[error("{what} is {at}, which is not in the future")]
    Expired {
        /// What gave it (`--expiration`, a configuration field, a value's name).
        what: String,
        /// The expiration.
        at: crate::Expiration,
    },
    /// A reference-value name outside `[A-Za-z0-9_.-]{1,255}`.
    #[error("bad reference value name {name:?}: {reason}")]
    BadName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A vTPM PCR name prefix other than `snp` or `tdx`.
    #[error("unknown pcr name prefix {name:?} (expected snp or tdx)")]
    UnknownPcrPrefix {
        /// The name as given.
        name: String,
    },
    /// An empty list of vTPM PCR name prefixes.
    #[error("no pcr name prefix given (expected snp, tdx or both)")]
    NoPcrPrefixes,
    /// An output format other than `array`, `kv` or `sample`.
    #[error("unknown reference value format {name:?} (expected array, kv or sample)")]
    UnknownFormat {
        /// The name as given.
        name: String,
    },
    /// A measurements source without the bank that was asked for.
    #[error("measurements {source_label} has no {bank} bank")]
    MissingBank {
        /// The source's label (usually its file name).
        source_label: String,
        /// The bank that was asked for.
        bank: HashAlg,
    },
    /// An initdata document that does not parse or validate.
    #[error("initdata {label}")]
    Initdata {
        /// The document's label (usually its file name).
        label: String,
        /// What is wrong with it.
        #[source]
        source: rvkit_initdata::Error,
    },
    /// PCR8 values were asked for in a bank other than SHA-256. The vTPM
    /// measures initdata into the SHA-256 bank only.
    #[error("initdata PCR8 values exist only in the sha256 bank, but the {bank} bank was chosen")]
    InitdataNeedsSha256 {
        /// The bank that was chosen.
        bank: HashAlg,
    },
    /// A measurements file carries a `pcr08` that none of the given initdata
    /// documents produces.
    #[error(
        "pcr08 {measured} in measurements {source_label} matches none of the initdata PCR8 values ({})",
        initdata.iter().map(|(label, value)| format!("{label}: {value}")).collect::<Vec<_>>().join(", ")
    )]
    Pcr08Conflict {
        /// The measurements source's label.
        source_label: String,
        /// The `pcr08` value in that file, lowercase hex.
        measured: String,
        /// Each initdata label with its PCR8, lowercase hex.
        initdata: Vec<(String, String)>,
    },
    /// Nothing to emit: no PCR in the chosen bank and no initdata.
    #[error("no reference values to emit: the {bank} bank has no PCRs and no initdata was given")]
    NothingToEmit {
        /// The chosen bank.
        bank: HashAlg,
    },
    /// The sample format is a message for the RVPS API, not a ConfigMap
    /// payload.
    #[error(
        "the sample format is an RVPS register message and cannot be put in a ConfigMap (use array or kv)"
    )]
    SampleInConfigMap,
    /// A ConfigMap name, namespace or data key Kubernetes would refuse.
    #[error("bad ConfigMap {field} {value:?}: {reason}")]
    BadConfigMapField {
        /// `name`, `namespace` or `data key`.
        field: &'static str,
        /// The value as given.
        value: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// The same reference-value name twice in one set.
    #[error("reference value name {name:?} appears twice")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// Published reference values (array or kv) that do not parse.
    #[error("published reference values: {message}")]
    Published {
        /// What is wrong.
        message: String,
    },
    /// A ConfigMap that cannot be read, or holds no reference values.
    #[error("ConfigMap: {message}")]
    ConfigMap {
        /// What is wrong.
        message: String,
    },
    /// A name whose values are of different kinds in two merged sets.
    #[error("cannot merge {name:?}: {first} but {second}")]
    MergeKindConflict {
        /// The name.
        name: String,
        /// The first kind and where it came from.
        first: String,
        /// The other kind and where it came from.
        second: String,
    },
    /// A name whose (non-array) values differ in two merged sets.
    #[error("cannot merge {name:?}: its value is {first} but {second} (only array values are merged)")]
    MergeValueConflict {
        /// The name.
        name: String,
        /// The first value and where it came from.
        first: String,
        /// The other value and where it came from.
        second: String,
    },
}
