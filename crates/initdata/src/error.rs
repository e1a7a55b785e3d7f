/// Everything that can go wrong in this crate.
///
/// The crate never sees file names, so messages name the kind of input
/// ("initdata document", "annotation", "certificate"); callers add the path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The document is not valid UTF-8, which TOML requires.
    #[error("initdata document is not valid utf-8 at byte offset {offset}")]
    NotUtf8 {
        /// The byte offset of the first invalid sequence.
        offset: usize,
    },
    /// The document is not valid TOML.
    #[error("initdata document is not valid toml at line {line}, column {column}: {message}")]
    Toml {
        /// The one-based line of the error.
        line: usize,
        /// The one-based column (in characters) of the error.
        column: usize,
        /// The parser's description, on one line.
        message: String,
    },
    /// A required top-level key is absent.
    #[error("initdata document has no top-level `{key}` key")]
    MissingKey {
        /// The key: `version`, `algorithm` or `data`.
        key: &'static str,
    },
    /// A top-level key has the wrong TOML type.
    #[error("initdata `{key}` must be a {expected}, found a {found}")]
    WrongType {
        /// The key: `version`, `algorithm` or `data`.
        key: &'static str,
        /// The type the specification requires.
        expected: &'static str,
        /// The TOML type found.
        found: &'static str,
    },
    /// A `version` other than the only one defined, `0.1.0`.
    #[error("initdata version {found:?} is not supported (expected \"0.1.0\")")]
    UnsupportedVersion {
        /// The version as written.
        found: String,
    },
    /// An `algorithm` other than sha256, sha384 or sha512.
    #[error("initdata algorithm {found:?} is not supported (expected sha256, sha384 or sha512)")]
    UnknownAlgorithm {
        /// The algorithm as written.
        found: String,
    },
    /// A `[data]` entry whose value is not a string (for example a nested table).
    #[error("initdata [data] entry {key:?} must be a string, found a {found}")]
    NonStringData {
        /// The entry's key.
        key: String,
        /// The TOML type found.
        found: &'static str,
    },
    /// A platform name that is not one of vtpm, tdx, snp, cca.
    #[error("unknown platform {name:?} (expected vtpm, tdx, snp or cca)")]
    UnknownPlatform {
        /// The name as given.
        name: String,
    },
    /// The annotation text is longer than any annotation within the cap could be.
    #[error("annotation is {len} bytes long, more than the {max} bytes allowed")]
    AnnotationTooLong {
        /// The length of the text in bytes.
        len: usize,
        /// The largest length accepted.
        max: usize,
    },
    /// The annotation text is not standard base64 with padding.
    #[error("annotation is not valid base64: {reason}")]
    InvalidBase64 {
        /// What is wrong, with the offset into the text without whitespace.
        reason: String,
    },
    /// The annotation decodes to nothing.
    #[error("annotation is empty")]
    EmptyAnnotation,
    /// The decompressed document would exceed the size cap (a gzip bomb or a
    /// document too large for a pod annotation).
    #[error("annotation decompresses to more than {max} bytes")]
    DecodedTooLarge {
        /// The cap in bytes.
        max: usize,
    },
    /// The base64 payload is not a valid gzip stream.
    #[error("annotation is not valid gzip (member {member}): {reason}")]
    Gzip {
        /// The one-based gzip member in which the error occurred.
        member: usize,
        /// What the decompressor reported.
        reason: String,
    },
    /// Bytes after the last complete gzip member that do not start another member.
    #[error("annotation has {len} bytes of trailing garbage after gzip member {member}")]
    TrailingGarbage {
        /// The number of the last good member (one-based).
        member: usize,
        /// How many bytes follow it.
        len: usize,
    },
    /// A render input would break the TOML document or is not what it should be.
    #[error("cannot render initdata: {param} {problem}")]
    RenderInput {
        /// The parameter at fault, e.g. `kbs cert`.
        param: &'static str,
        /// What is wrong with it.
        problem: String,
    },
}
