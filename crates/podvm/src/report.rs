//! The text form of `rvkit podvm verify`'s report; its `--json` form is
//! [`VerifiedImage`]'s serialisation, a stable interface: fields may be
//! added, existing ones keep their name and meaning. [`ImageMeasurements`]
//! adds where the measurements were read.

use std::fmt;

use crate::cosign::Outcome;
use crate::{DEFAULT_PATH, ImageMeasurements, MeasurementsSource, VerifiedImage};

impl fmt::Display for VerifiedImage {
    /// `verified PINNED`, then one line per signature with its status and
    /// Rekor log index, and a line per check that was skipped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "verified {}", self.pinned)?;
        for (i, s) in self.signatures.iter().enumerate() {
            write!(f, "  signature {} (payload {}): ", i + 1, s.payload_digest)?;
            match s.first_failure() {
                None => write!(f, "ok")?,
                Some(why) => write!(f, "rejected ({why})")?,
            }
            if let Some(index) = s.log_index {
                write!(f, ", rekor log index {index}")?;
            }
            writeln!(f)?;
            for c in &s.checks {
                if let Outcome::Skipped(why) = &c.outcome {
                    writeln!(f, "    skipped {}: {why}", c.check)?;
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for MeasurementsSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MeasurementsSource::Annotations => write!(f, "the manifest annotations (no layer downloaded)"),
            MeasurementsSource::Layers => write!(f, "{DEFAULT_PATH} in the layers"),
        }
    }
}

impl fmt::Display for ImageMeasurements {
    /// The verified image's report, then a line saying where the
    /// measurements were read.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.image)?;
        writeln!(f, "  measurements from {}", self.measurements_source)
    }
}
