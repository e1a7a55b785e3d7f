use std::path::PathBuf;

/// Everything that can go wrong while reading a configuration or rendering a
/// bundle. Checking a bundle does not fail: it returns findings
/// ([`crate::check::Finding`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is not valid TOML, has an unknown field, or a field
    /// with a value of the wrong type or shape. The message carries the
    /// parser's location (line, column and the offending line).
    #[error("{source_name}: {message}")]
    Config {
        /// Where the configuration came from (a file name or `--flag`).
        source_name: String,
        /// What is wrong, as the TOML reader reports it.
        message: String,
    },
    /// A name that Kubernetes, DNS or the container policy would reject.
    #[error("{kind} {value:?} is invalid: {reason}")]
    BadName {
        /// What the name is (`DNS-1123 label`, `host name`, `secret key`, ...).
        kind: &'static str,
        /// The name as given.
        value: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// Two settings that cannot hold together, or one that is missing.
    #[error("{field}: {reason}")]
    Invalid {
        /// The configuration field (`kbs_host`, `image_policy.signed`, ...).
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A file the configuration names was not handed in with the inputs.
    #[error("{field}: {} was not read", path.display())]
    MissingInput {
        /// The configuration field naming the file.
        field: String,
        /// The path as the configuration gives it.
        path: PathBuf,
    },
    /// A public key that is not PEM or DER SubjectPublicKeyInfo.
    #[error("{}: not a public key: {reason}", path.display())]
    BadPublicKey {
        /// The key file.
        path: PathBuf,
        /// Why it could not be read.
        reason: String,
    },
    /// A public key of a type container image signature verification does
    /// not support.
    #[error("{}: unsupported key type: {key_type} (use ECDSA P-256/P-384/P-521, RSA of at least 2048 bits, or Ed25519)", path.display())]
    UnsupportedKeyType {
        /// The key file.
        path: PathBuf,
        /// The key's type as found.
        key_type: String,
    },
    /// The KBS certificate handed in cannot be used.
    #[error("kbs certificate from {origin}: {reason}")]
    KbsCert {
        /// Where it came from (a file name).
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The KBS certificate handed in does not name the KBS host: the guest
    /// would refuse the TLS connection.
    #[error(
        "kbs certificate from {origin}: does not name the KBS host {host} (its subject alternative names: {names})"
    )]
    KbsCertHost {
        /// Where it came from (a file name).
        origin: String,
        /// The KBS host of the configuration.
        host: String,
        /// Its subject alternative names, `DNS:name` or `IP:address`,
        /// comma-separated (`none` if it has none).
        names: String,
    },
    /// Generating a key or self-signed certificate failed.
    #[error("cannot generate the {what}: {reason}")]
    KeyGeneration {
        /// Which key (`kbs-https key`, ...).
        what: &'static str,
        /// The library's message.
        reason: String,
    },
    /// An initdata document could not be rendered or read.
    #[error("{label}")]
    Initdata {
        /// The document (`initdata.toml`, a variant's file, ...).
        label: String,
        /// The initdata error.
        #[source]
        source: rvkit_initdata::Error,
    },
    /// A rendered initdata document has validation errors.
    #[error("{label}: {findings}")]
    InitdataInvalid {
        /// The document.
        label: String,
        /// The validation errors, joined with `; `.
        findings: String,
    },
    /// A launch value of `[[launch.snp]]` or `[[launch.tdx]]` could not be computed.
    #[error("{label}")]
    Launch {
        /// The launch table and its firmware.
        label: String,
        /// The launch error.
        #[source]
        source: rvkit_launch::Error,
    },
    /// Measurements could not be read or reference values not built.
    #[error("{label}")]
    Rvps {
        /// The input (a measurements file or image) or `reference values`.
        label: String,
        /// The RVPS error.
        #[source]
        source: rvkit_rvps::Error,
    },
    /// Reference values that cannot be published as configured.
    #[error(transparent)]
    ReferenceValues(rvkit_rvps::Error),
    /// A date that must lie in the future does not.
    #[error("{what} expires at {at}, which is not in the future")]
    Expired {
        /// What expires.
        what: String,
        /// When, as `YYYY-MM-DDTHH:MM:SSZ`.
        at: String,
    },
}

impl Error {
    /// Whether the inputs were read and fail a check against each other:
    /// a KBS certificate for another host or past its validity, a rendered
    /// initdata document that does not validate. The CLI exits 1 for these,
    /// as `rvkit initdata render` does for the same certificate; every other
    /// error is an input that cannot be read or used as given (exit 2).
    pub fn is_check_failure(&self) -> bool {
        matches!(self, Error::KbsCertHost { .. } | Error::Expired { .. } | Error::InitdataInvalid { .. })
    }
}
