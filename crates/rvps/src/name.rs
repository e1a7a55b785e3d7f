use std::fmt;
use std::str::FromStr;

use rvkit_pcr::PcrIndex;

use crate::Error;

/// A reference-value name such as `snp_pcr03`: 1 to 255 characters from
/// `[A-Za-z0-9_.-]`.
///
/// Trustee's key-value storage refuses keys outside ASCII letters, digits,
/// `-`, `_`, `.` and `/` (`is_valid_key` in its key-value-storage crate), and
/// its LocalFs backend uses the name as a file name; leaving out `/` and
/// capping the length at 255 keeps every name valid for every backend.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RvName(String);

impl RvName {
    /// The longest name accepted (a file-name component on Linux).
    pub const MAX_LEN: usize = 255;

    /// Validates `name`.
    pub fn new(name: impl Into<String>) -> Result<RvName, Error> {
        let name = name.into();
        let reason = if name.is_empty() {
            Some("must not be empty")
        } else if name.len() > Self::MAX_LEN {
            Some("must be at most 255 characters")
        } else if !name.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-')) {
            Some("may contain only ASCII letters, digits, '_', '.' and '-'")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(Error::BadName { name, reason }),
            None => Ok(RvName(name)),
        }
    }

    /// The name Trustee's policies use for a PCR of a platform's vTPM:
    /// `snp_pcr03`, `tdx_pcr11`.
    pub fn for_pcr(prefix: PcrPrefix, pcr: PcrIndex) -> RvName {
        RvName(format!("{}pcr{:02}", prefix.prefix(), pcr.get()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RvName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for RvName {
    type Err = Error;
    fn from_str(s: &str) -> Result<RvName, Error> {
        RvName::new(s)
    }
}

impl AsRef<str> for RvName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for RvName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for RvName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RvName, D::Error> {
        RvName::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

rvkit_names::spelled_enum! {
    /// The prefix of a vTPM PCR's reference-value name (`snp_pcrNN`,
    /// `tdx_pcrNN`), written `snp` or `tdx`.
    ///
    /// Peer pods on Azure run on AMD SEV-SNP or Intel TDX; Trustee's verifiers
    /// report the vTPM's PCRs under `az-snp-vtpm` and `az-tdx-vtpm`, and the
    /// operator's default policy looks them up as `snp_pcrNN` and `tdx_pcrNN`.
    /// These are names for the *vTPM* PCRs only: the launch measurements of
    /// bare-metal SNP and TDX are other reference values with other names.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum PcrPrefix {
        /// The SEV-SNP vTPM's PCRs (reference values `snp_pcrNN`).
        Snp = "snp",
        /// The TDX vTPM's PCRs (reference values `tdx_pcrNN`).
        Tdx = "tdx",
    }
    error: Error = |s| Error::UnknownPcrPrefix { name: s.to_owned() };
}

impl PcrPrefix {
    /// The reference-value name prefix: `snp_` or `tdx_`.
    pub const fn prefix(self) -> &'static str {
        match self {
            PcrPrefix::Snp => "snp_",
            PcrPrefix::Tdx => "tdx_",
        }
    }

    /// Parses a comma-separated list such as `snp,tdx`. Blanks around items
    /// are ignored, repeats are dropped (first occurrence kept), and an
    /// empty list or an empty item is an error.
    pub fn parse_list(s: &str) -> Result<Vec<PcrPrefix>, Error> {
        let mut out = Vec::new();
        if s.trim().is_empty() {
            return Err(Error::NoPcrPrefixes);
        }
        for item in s.split(',') {
            let tee: PcrPrefix = item.trim().parse()?;
            if !out.contains(&tee) {
                out.push(tee);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(RvName::new("snp_pcr03").unwrap().as_str(), "snp_pcr03");
        assert_eq!(RvName::new("a.b-C_9").unwrap().to_string(), "a.b-C_9");
        for bad in ["", "a b", "a/b", "é", "snp_pcr03\n", &"x".repeat(256)] {
            assert!(
                matches!(RvName::new(bad), Err(Error::BadName { ref name, .. }) if name == bad),
                "{bad:?}"
            );
        }
        assert!(RvName::new("x".repeat(255)).is_ok());
        assert_eq!(RvName::for_pcr(PcrPrefix::Tdx, PcrIndex::new(8).unwrap()).as_str(), "tdx_pcr08");
        assert_eq!(RvName::for_pcr(PcrPrefix::Snp, PcrIndex::new(23).unwrap()).as_str(), "snp_pcr23");
        let n: RvName = serde_json::from_str("\"snp_pcr11\"").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"snp_pcr11\"");
        assert!(serde_json::from_str::<RvName>("\"a b\"").is_err());
    }

    #[test]
    fn tees() {
        assert_eq!("snp".parse::<PcrPrefix>().unwrap(), PcrPrefix::Snp);
        assert_eq!("TDX".parse::<PcrPrefix>().unwrap(), PcrPrefix::Tdx);
        assert!(matches!("sev".parse::<PcrPrefix>(), Err(Error::UnknownPcrPrefix { name }) if name == "sev"));
        assert_eq!(PcrPrefix::parse_list("snp,tdx").unwrap(), vec![PcrPrefix::Snp, PcrPrefix::Tdx]);
        assert_eq!(PcrPrefix::parse_list(" tdx , snp ").unwrap(), vec![PcrPrefix::Tdx, PcrPrefix::Snp]);
        assert_eq!(PcrPrefix::parse_list("tdx,tdx").unwrap(), vec![PcrPrefix::Tdx]);
        assert!(matches!(PcrPrefix::parse_list(""), Err(Error::NoPcrPrefixes)));
        assert!(matches!(PcrPrefix::parse_list(" "), Err(Error::NoPcrPrefixes)));
        assert!(
            matches!(PcrPrefix::parse_list("snp,"), Err(Error::UnknownPcrPrefix { name }) if name.is_empty())
        );
        assert!(matches!(PcrPrefix::parse_list("snp,cca"), Err(Error::UnknownPcrPrefix { .. })));
        assert_eq!(PcrPrefix::Snp.prefix(), "snp_");
        assert_eq!(PcrPrefix::Tdx.to_string(), "tdx");
    }
}
