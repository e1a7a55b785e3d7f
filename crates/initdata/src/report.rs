//! The reports `rvkit initdata check`, `rvkit initdata digest` and `rvkit
//! pcr initdata` print: one type per report, serialised as its `--json`
//! output and rendered as its text output by `Display`.
//!
//! The JSON field names and shapes are a stable interface: new fields may
//! be added, existing ones keep their name and meaning.

use std::fmt;

use rvkit_pcr::ChecksumLine;
use serde::Serialize;

use crate::{Finding, InitData, Platform, Report, Severity};

/// The validation of one document: `rvkit initdata check`.
///
/// JSON: `{"input", "valid", "algorithm", "digest", "findings": [{"severity",
/// "key", "message"}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// How the input is named.
    pub input: String,
    /// Whether the document has no errors (warnings are allowed).
    pub valid: bool,
    /// The document's digest algorithm.
    pub algorithm: &'static str,
    /// The digest of the document's bytes, hex.
    pub digest: String,
    /// Every finding, in the order found.
    pub findings: Vec<Finding>,
}

impl CheckReport {
    /// Reports the validation `report` of `doc`, read from `input`.
    pub fn new(input: &str, doc: &InitData, report: &Report) -> CheckReport {
        CheckReport {
            input: input.to_owned(),
            valid: report.is_ok(),
            algorithm: doc.algorithm().name(),
            digest: doc.digest().to_hex(),
            findings: report.findings.clone(),
        }
    }

    /// How many findings are errors.
    pub fn errors(&self) -> usize {
        self.findings.iter().filter(|f| f.severity == Severity::Error).count()
    }

    /// One line per finding, `error: INPUT [KEY]: MESSAGE` or `warning: …`.
    pub fn findings_text(&self) -> String {
        self.findings
            .iter()
            .map(|f| {
                let key = f.key.as_deref().map(|k| format!(" [{k}]")).unwrap_or_default();
                format!("{}: {}{key}: {}\n", f.severity, self.input, f.message)
            })
            .collect()
    }
}

impl fmt::Display for CheckReport {
    /// The findings, then `INPUT: ok (N warning(s))` for a valid document.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.findings_text())?;
        if self.valid {
            let warnings = self.findings.len() - self.errors();
            writeln!(f, "{}: ok ({warnings} warning(s))", self.input)?;
        }
        Ok(())
    }
}

/// The value one platform binds, in a [`DigestReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BindingValue {
    /// The evidence field, e.g. `MRCONFIGID`.
    pub field: &'static str,
    /// Its expected value, hex.
    pub value: String,
}

/// The bindings of a [`DigestReport`], one field per platform; a platform
/// not asked for is left out of the JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Bindings {
    /// vTPM PCR8 (SHA-256 bank).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vtpm: Option<BindingValue>,
    /// TDX MRCONFIGID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tdx: Option<BindingValue>,
    /// SNP HOST_DATA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snp: Option<BindingValue>,
    /// Arm CCA personalization value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cca: Option<BindingValue>,
}

/// A document's digest and the values it binds: `rvkit initdata digest`.
///
/// JSON: `{"file", "algorithm", "digest", "bindings": {"vtpm": {"field",
/// "value"}, "tdx": …, "snp": …, "cca": …}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DigestReport {
    /// How the document is named.
    pub file: String,
    /// Its digest algorithm.
    pub algorithm: &'static str,
    /// The digest of its bytes, hex.
    pub digest: String,
    /// The bindings computed.
    pub bindings: Bindings,
    /// The one platform asked for, if any: the text output is then its
    /// value alone.
    #[serde(skip)]
    pub platform: Option<Platform>,
}

impl DigestReport {
    /// Reports `doc` (named `file`) with the binding of `platform`, or of
    /// every platform when `None`.
    pub fn new(file: &str, doc: &InitData, platform: Option<Platform>) -> DigestReport {
        let mut bindings = Bindings::default();
        let all = [Platform::Vtpm, Platform::Tdx, Platform::Snp, Platform::Cca];
        let chosen = platform.map(|p| [p]);
        for p in chosen.as_ref().map_or(&all[..], |c| &c[..]) {
            let b = doc.binding(*p);
            let value = Some(BindingValue { field: b.field, value: b.to_hex() });
            match p {
                Platform::Vtpm => bindings.vtpm = value,
                Platform::Tdx => bindings.tdx = value,
                Platform::Snp => bindings.snp = value,
                Platform::Cca => bindings.cca = value,
            }
        }
        DigestReport {
            file: file.to_owned(),
            algorithm: doc.algorithm().name(),
            digest: doc.digest().to_hex(),
            bindings,
            platform,
        }
    }
}

impl fmt::Display for DigestReport {
    /// `DIGEST  FILE` as `sha256sum` prints it, or the one platform's value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.bindings;
        let one = match self.platform {
            None => None,
            Some(Platform::Vtpm) => b.vtpm.as_ref(),
            Some(Platform::Tdx) => b.tdx.as_ref(),
            Some(Platform::Snp) => b.snp.as_ref(),
            Some(Platform::Cca) => b.cca.as_ref(),
        };
        match one {
            Some(v) => writeln!(f, "{}", v.value),
            None => ChecksumLine { hex: &self.digest, name: &self.file }.fmt(f),
        }
    }
}

/// The PCR8 a document gives a peer pod: one entry of `rvkit pcr initdata`.
///
/// JSON: `{"file", "algorithm", "digest", "pcr8"}`; the command prints an
/// array of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pcr8Report {
    /// How the document is named.
    pub file: String,
    /// Its digest algorithm.
    pub algorithm: &'static str,
    /// The digest of its bytes, hex.
    pub digest: String,
    /// PCR8 of the SHA-256 bank, hex.
    pub pcr8: String,
}

impl Pcr8Report {
    /// Reports `doc`, named `file`.
    pub fn new(file: &str, doc: &InitData) -> Pcr8Report {
        Pcr8Report {
            file: file.to_owned(),
            algorithm: doc.algorithm().name(),
            digest: doc.digest().to_hex(),
            pcr8: doc.pcr8().to_hex(),
        }
    }
}

impl fmt::Display for Pcr8Report {
    /// `PCR8  FILE`, as `sha256sum` lays out its lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        ChecksumLine { hex: &self.pcr8, name: &self.file }.fmt(f)
    }
}
