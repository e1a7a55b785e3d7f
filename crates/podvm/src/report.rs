//! The text form of `rvkit podvm verify`'s report; its `--json` form is
//! [`VerifiedImage`]'s serialisation, a stable interface: fields may be
//! added, existing ones keep their name and meaning.

use std::fmt;

use crate::VerifiedImage;
use crate::cosign::Outcome;

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
