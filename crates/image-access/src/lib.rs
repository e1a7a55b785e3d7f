//! How to reach and verify a signed podvm image: the options users give on
//! the command line (`rvkit podvm`, `rvkit rvps emit --image`, `rvkit
//! bundle`) and in the `[podvm]` table of `trustee.toml`, declared once with
//! their defaults.
//!
//! [`ImageAccess`] is plain data: every field is optional, so that one set of
//! options can be laid over another ([`ImageAccess::overlay`]: flags over a
//! configuration file), and the defaults are applied when a value is read
//! (`ImageAccess::retries()` and the like). `rvkit-podvm` turns it into
//! its pull and verification options; `rvkit-trustee` embeds it in its
//! configuration; the CLI flattens it into its commands (feature `clap`).
//!
//! ```
//! use rvkit_image_access::{DEFAULT_RETRIES, ImageAccess};
//!
//! let file = ImageAccess { retries: Some(5), insecure_registries: vec!["localhost:5000".into()], ..ImageAccess::default() };
//! let mut options = ImageAccess::default();
//! assert_eq!(options.retries(), DEFAULT_RETRIES);
//! options.overlay(file);
//! assert_eq!(options.retries(), 5);
//! assert_eq!(options.image_platform(), "linux/amd64");
//! ```
#![warn(missing_docs)]

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The platform an image index resolves to unless told otherwise: that of
/// peer-pod virtual machines.
pub const DEFAULT_PLATFORM: &str = "linux/amd64";

/// How often a failed registry request is retried unless told otherwise.
pub const DEFAULT_RETRIES: u32 = 3;

/// The time, in seconds, all registry requests for one image may take
/// together unless told otherwise (retries and blob downloads included).
pub const DEFAULT_TIMEOUT_SECS: u64 = 600;

rvkit_names::spelled_enum! {
    /// Where the measurements of a podvm image are read from, once its
    /// signature is verified: the image manifest's measurement annotations
    /// (`io.github.confidential-containers.measurements.<bank>.pcrNN`), which
    /// needs no layer download, or `/image/measurements.json` in its layers.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub enum MeasurementsFrom {
        /// The annotations when the manifest has any, else the layers.
        #[default]
        Auto = "auto",
        /// Only the annotations; an image without them is an error.
        Annotations = "annotations",
        /// Only the layers; annotations are not read.
        Layers = "layers",
    }
    error: UnknownMeasurementsFrom = |s| UnknownMeasurementsFrom(s.to_owned());
}
rvkit_names::spelled_serde!(MeasurementsFrom);

/// A word that is not one of [`MeasurementsFrom`]'s spellings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownMeasurementsFrom(pub String);

impl std::fmt::Display for UnknownMeasurementsFrom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown measurements source {:?} (expected {})", self.0, MeasurementsFrom::names())
    }
}

impl std::error::Error for UnknownMeasurementsFrom {}

/// How to reach and verify a signed image. `None` (or an empty list) means
/// "not given": the accessor of the same name gives the default.
///
/// The field names are those of `trustee.toml`'s `[podvm]` table; the flags
/// are the field names in kebab case, except `--insecure-registry`
/// (repeatable).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[cfg_attr(feature = "clap", command(next_help_heading = "Image verification and access"))]
pub struct ImageAccess {
    /// The public key (PEM or DER: ECDSA P-256/P-384, RSA, Ed25519) images must be signed with.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "clap", arg(long, value_name = "PEM"))]
    pub key: Option<PathBuf>,
    /// The Rekor log's public key, to verify each signature's bundle offline.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "clap", arg(long, value_name = "PEM", conflicts_with = "insecure_ignore_tlog"))]
    pub rekor_key: Option<PathBuf>,
    /// Accept signatures without a transparency-log check (the signature is still checked).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "clap",
        arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")
    )]
    pub insecure_ignore_tlog: Option<bool>,
    /// Do not check signatures at all (digests are still checked). Never use for production values.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            value_name = "BOOL",
            num_args = 0..=1,
            require_equals = true,
            default_missing_value = "true",
            conflicts_with_all = ["key", "rekor_key", "insecure_ignore_tlog", "identity"]
        )
    )]
    pub insecure_skip_verify: Option<bool>,
    /// The docker-reference the signature payload must name (e.g. registry.example/podvm).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "clap", arg(long, value_name = "REPO"))]
    pub identity: Option<String>,
    /// Registry credentials (docker config JSON, such as the cluster pull secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "clap", arg(long, value_name = "FILE"))]
    pub authfile: Option<PathBuf>,
    /// Registries (HOST:PORT) reached without certificate checks: over TLS
    /// when they speak it, plain HTTP otherwise (repeatable; `--insecure-registry=` empties the list).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "clap", arg(long = "insecure-registry", value_name = "HOST:PORT"))]
    pub insecure_registries: Vec<String>,
    /// The platform an image index resolves to (`platform` is read as an
    /// alias, the key's earlier name).
    #[serde(skip_serializing_if = "Option::is_none", alias = "platform")]
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            value_name = "OS/ARCH",
            help = format!("The platform an image index resolves to [default: {DEFAULT_PLATFORM}]")
        )
    )]
    pub image_platform: Option<String>,
    /// Retries after a 5xx, 429 or connection error.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            value_name = "N",
            help = format!("Retries after a 5xx, 429 or connection error [default: {DEFAULT_RETRIES}]")
        )
    )]
    pub retries: Option<u32>,
    /// The time in seconds all registry requests for one image may take
    /// together, retries and downloads included.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            value_name = "SECONDS",
            help = format!(
                "The time all registry requests for one image may take together, retries and downloads included [default: {DEFAULT_TIMEOUT_SECS}]"
            )
        )
    )]
    pub timeout: Option<u64>,
    /// Where podvm measurements are read from.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            value_name = "SOURCE",
            help = "Where podvm measurements are read from: auto (the signed manifest's annotations when it has them, else the layers), annotations or layers [default: auto]"
        )
    )]
    pub measurements_from: Option<MeasurementsFrom>,
}

impl ImageAccess {
    /// Lays `over` on `self`: every value `over` gives replaces this one.
    /// A list given as one empty string (`--insecure-registry=`) empties it.
    pub fn overlay(&mut self, over: ImageAccess) {
        fn set<T>(slot: &mut Option<T>, v: Option<T>) {
            if v.is_some() {
                *slot = v;
            }
        }
        let ImageAccess {
            key,
            rekor_key,
            insecure_ignore_tlog,
            insecure_skip_verify,
            identity,
            authfile,
            insecure_registries,
            image_platform,
            retries,
            timeout,
            measurements_from,
        } = over;
        set(&mut self.key, key);
        set(&mut self.rekor_key, rekor_key);
        set(&mut self.insecure_ignore_tlog, insecure_ignore_tlog);
        set(&mut self.insecure_skip_verify, insecure_skip_verify);
        set(&mut self.identity, identity);
        set(&mut self.authfile, authfile);
        match insecure_registries.as_slice() {
            [] => {}
            [only] if only.is_empty() => self.insecure_registries.clear(),
            _ => self.insecure_registries = insecure_registries,
        }
        set(&mut self.image_platform, image_platform);
        set(&mut self.retries, retries);
        set(&mut self.timeout, timeout);
        set(&mut self.measurements_from, measurements_from);
    }

    /// Where podvm measurements are read from.
    pub fn measurements_from(&self) -> MeasurementsFrom {
        self.measurements_from.unwrap_or_default()
    }

    /// Whether signatures are accepted without a transparency-log check.
    pub fn insecure_ignore_tlog(&self) -> bool {
        self.insecure_ignore_tlog.unwrap_or(false)
    }

    /// Whether signatures are not checked at all.
    pub fn insecure_skip_verify(&self) -> bool {
        self.insecure_skip_verify.unwrap_or(false)
    }

    /// The platform an image index resolves to (`OS/ARCH[/VARIANT]`).
    pub fn image_platform(&self) -> &str {
        self.image_platform.as_deref().unwrap_or(DEFAULT_PLATFORM)
    }

    /// How often a failed request is retried.
    pub fn retries(&self) -> u32 {
        self.retries.unwrap_or(DEFAULT_RETRIES)
    }

    /// The bound on the time all requests for one image take together.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS))
    }

    /// The relative paths among the options (keys, authfile), for resolving
    /// them against the directory of the file that named them.
    pub fn paths_mut(&mut self) -> impl Iterator<Item = &mut PathBuf> {
        [&mut self.key, &mut self.rekor_key, &mut self.authfile].into_iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> ImageAccess {
        ImageAccess {
            key: Some("k.pub".into()),
            rekor_key: Some("rekor.pub".into()),
            insecure_ignore_tlog: Some(true),
            insecure_skip_verify: Some(false),
            identity: Some("registry.example/podvm".into()),
            authfile: Some("auth.json".into()),
            insecure_registries: vec!["localhost:5000".into()],
            image_platform: Some("linux/arm64".into()),
            retries: Some(5),
            timeout: Some(30),
            measurements_from: Some(MeasurementsFrom::Layers),
        }
    }

    #[test]
    fn overlay_replaces_what_is_given_and_keeps_the_rest() {
        let mut a = full();
        a.overlay(ImageAccess::default());
        assert_eq!(a, full());
        let mut b = ImageAccess::default();
        b.overlay(full());
        assert_eq!(b, full());
        a.overlay(ImageAccess {
            insecure_registries: vec![String::new()],
            retries: Some(0),
            ..Default::default()
        });
        assert!(a.insecure_registries.is_empty());
        assert_eq!(a.retries(), 0);
        assert_eq!(a.key, full().key);
    }

    #[test]
    fn defaults_apply_when_nothing_is_given() {
        let a = ImageAccess::default();
        assert_eq!(
            (
                a.image_platform(),
                a.retries(),
                a.timeout(),
                a.insecure_ignore_tlog(),
                a.insecure_skip_verify(),
                a.measurements_from(),
            ),
            ("linux/amd64", 3, Duration::from_secs(600), false, false, MeasurementsFrom::Auto)
        );
    }

    #[test]
    fn toml_round_trip_and_unknown_fields() {
        let text = toml_edit::ser::to_string(&full()).unwrap();
        assert_eq!(toml_edit::de::from_str::<ImageAccess>(&text).unwrap(), full());
        assert_eq!(toml_edit::de::from_str::<ImageAccess>("").unwrap(), ImageAccess::default());
        let e = toml_edit::de::from_str::<ImageAccess>("retry = 3\n").unwrap_err();
        assert!(e.to_string().contains("unknown field `retry`"), "{e}");
        // `image_platform` is written; its earlier name `platform` is still read.
        assert!(text.contains("image_platform = \"linux/arm64\""), "{text}");
        let old = toml_edit::de::from_str::<ImageAccess>("platform = \"linux/arm64\"\n").unwrap();
        assert_eq!(old.image_platform(), "linux/arm64");
        assert!(text.contains("measurements_from = \"layers\""), "{text}");
        let e = toml_edit::de::from_str::<ImageAccess>("measurements_from = \"manifest\"\n").unwrap_err();
        assert!(
            e.to_string()
                .contains("unknown measurements source \"manifest\" (expected auto, annotations, layers)"),
            "{e}"
        );
    }

    // Runs whenever the CLI is in the build (it turns the feature on).
    #[cfg(feature = "clap")]
    #[test]
    fn help_states_the_defaults_and_flags_keep_their_spellings() {
        use clap::{Args as _, Parser};
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            access: ImageAccess,
        }
        let mut cmd = ImageAccess::augment_args(clap::Command::new("t"));
        let help = cmd.render_help().to_string();
        for default in [
            format!("[default: {DEFAULT_PLATFORM}]"),
            format!("[default: {DEFAULT_RETRIES}]"),
            format!("[default: {DEFAULT_TIMEOUT_SECS}]"),
        ] {
            assert!(help.contains(&default), "{help}");
        }
        let cli = Cli::try_parse_from([
            "t",
            "--key",
            "k.pub",
            "--rekor-key",
            "rekor.pub",
            "--identity",
            "registry.example/podvm",
            "--authfile",
            "auth.json",
            "--insecure-registry",
            "localhost:5000",
            "--image-platform",
            "linux/arm64",
            "--retries",
            "5",
            "--timeout",
            "30",
            "--measurements-from",
            "Layers",
        ])
        .unwrap();
        assert_eq!(
            cli.access,
            ImageAccess { insecure_ignore_tlog: None, insecure_skip_verify: None, ..full() }
        );
        let cli = Cli::try_parse_from(["t", "--insecure-ignore-tlog"]).unwrap();
        assert_eq!(cli.access.insecure_ignore_tlog, Some(true));
        let cli = Cli::try_parse_from(["t", "--insecure-skip-verify=false"]).unwrap();
        assert_eq!(cli.access.insecure_skip_verify, Some(false));
    }
}
