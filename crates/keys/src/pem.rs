//! The first PEM block of a file, with the checks every reader of key
//! material wants: text, one of the expected labels, and never a private
//! key where a public one (or a certificate) belongs.

use std::fmt;

use x509_parser::pem::Pem;

/// A decoded PEM block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The label, e.g. `PUBLIC KEY` or `CERTIFICATE`.
    pub label: String,
    /// The decoded bytes (DER).
    pub contents: Vec<u8>,
}

/// Why [`first_block`] refused a file. The `Display` text is a phrase that
/// follows the file's name: `cosign.pub holds a private key (EC PRIVATE KEY)`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The bytes are not UTF-8 text.
    NotText,
    /// A private key block appears anywhere in the text; callers never want
    /// one copied into a Secret or a policy by mistake.
    PrivateKey {
        /// Its label.
        label: String,
    },
    /// There is no `-----BEGIN` line.
    NoBlock {
        /// The first expected label.
        expected: &'static str,
    },
    /// The first block is not valid PEM (bad base64, no END line).
    Invalid {
        /// The decoder's message.
        reason: String,
    },
    /// The first block has another label.
    WrongLabel {
        /// The label found.
        found: String,
        /// The labels accepted.
        expected: &'static [&'static str],
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NotText => f.write_str("is not PEM text"),
            Problem::PrivateKey { label } => write!(f, "holds a private key ({label})"),
            Problem::NoBlock { expected } => write!(f, "has no -----BEGIN {expected}----- block"),
            Problem::Invalid { reason } => write!(f, "is not valid PEM: {reason}"),
            Problem::WrongLabel { found, expected } => {
                write!(f, "holds a {found:?} PEM block, not a {}", expected.join(" or "))
            }
        }
    }
}

/// The first PEM block of `bytes`, whose label must be one of `expected`
/// (at least one). Text around the blocks is ignored. A private key block
/// anywhere is refused unless its label is expected.
pub fn first_block(bytes: &[u8], expected: &'static [&'static str]) -> Result<Block, Problem> {
    let text = std::str::from_utf8(bytes).map_err(|_| Problem::NotText)?;
    if let Some(label) = private_key_label(text).filter(|l| !expected.contains(l)) {
        return Err(Problem::PrivateKey { label: label.to_owned() });
    }
    let first = expected.first().copied().unwrap_or("PEM");
    let block = Pem::iter_from_buffer(bytes)
        .next()
        .ok_or(Problem::NoBlock { expected: first })?
        .map_err(|e| Problem::Invalid { reason: e.to_string() })?;
    if !expected.contains(&block.label.as_str()) {
        return Err(Problem::WrongLabel { found: block.label, expected });
    }
    Ok(Block { label: block.label, contents: block.contents })
}

/// The label of the first `-----BEGIN ... PRIVATE KEY-----` line, if any.
fn private_key_label(text: &str) -> Option<&str> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("-----BEGIN ")?.strip_suffix("-----"))
        .find(|label| label.ends_with("PRIVATE KEY"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLIC: &[&str] = &["PUBLIC KEY"];

    #[test]
    fn blocks_and_problems() {
        let ok = b"a key:\n-----BEGIN PUBLIC KEY-----\nAAEC\n-----END PUBLIC KEY-----\ntrailer\n";
        assert_eq!(
            first_block(ok, PUBLIC),
            Ok(Block { label: "PUBLIC KEY".into(), contents: vec![0, 1, 2] })
        );
        for (bytes, problem) in [
            (&b"\xff\xfe"[..], "is not PEM text"),
            (b"nothing here", "has no -----BEGIN PUBLIC KEY----- block"),
            (b"-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----\n", "is not valid PEM"),
            (b"-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n", "holds a \"CERTIFICATE\" PEM block, not a PUBLIC KEY"),
            (
                b"-----BEGIN PUBLIC KEY-----\nAAEC\n-----END PUBLIC KEY-----\n-----BEGIN EC PRIVATE KEY-----\nAAEC\n-----END EC PRIVATE KEY-----\n",
                "holds a private key (EC PRIVATE KEY)",
            ),
        ] {
            let e = first_block(bytes, PUBLIC).unwrap_err().to_string();
            assert!(e.starts_with(problem), "{e}");
        }
        let two: &[&str] = &["CERTIFICATE", "PUBLIC KEY"];
        let e = first_block(b"-----BEGIN X-----\nAAEC\n-----END X-----\n", two).unwrap_err();
        assert_eq!(e.to_string(), "holds a \"X\" PEM block, not a CERTIFICATE or PUBLIC KEY");
    }
}
