use std::fmt;

use crate::{Error, HashAlg};

/// The longest digest any [`HashAlg`] produces (SHA-512).
pub const MAX_DIGEST_LEN: usize = 64;

/// A digest: an algorithm and exactly as many bytes as that algorithm produces.
///
/// The bytes live inline, so digests are cheap to copy and never allocate.
/// The length invariant is checked at construction, so a `Digest` cannot hold
/// 31 bytes labelled SHA-256.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest {
    alg: HashAlg,
    bytes: [u8; MAX_DIGEST_LEN],
}

/// Removes one leading `0x` or `0X`, if present.
///
/// This is a prefix strip, not a character-set strip: `0x0a3d` becomes `0a3d`,
/// keeping the leading zero that `str.strip("0x")` in Python or `tr -d 0x`
/// would remove.
pub fn strip_hex_prefix(s: &str) -> &str {
    s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s)
}

impl Digest {
    /// A digest from raw bytes, checking the length against `alg`.
    pub fn from_slice(alg: HashAlg, bytes: &[u8]) -> Result<Digest, Error> {
        if bytes.len() != alg.digest_len() {
            return Err(Error::WrongDigestLength { alg, expected: alg.digest_len(), got: bytes.len() });
        }
        let mut d = Digest::filled(alg, 0);
        d.bytes[..bytes.len()].copy_from_slice(bytes);
        Ok(d)
    }

    /// The all-zero value of `alg`'s length (the reset value of PCRs 0–16, 23).
    pub fn zero(alg: HashAlg) -> Digest {
        Digest::filled(alg, 0)
    }

    /// The all-ones value of `alg`'s length (the reset value of PCRs 17–22).
    pub fn ones(alg: HashAlg) -> Digest {
        Digest::filled(alg, 0xff)
    }

    fn filled(alg: HashAlg, byte: u8) -> Digest {
        let mut bytes = [0u8; MAX_DIGEST_LEN];
        bytes[..alg.digest_len()].fill(byte);
        Digest { alg, bytes }
    }

    /// Parses hex strictly: an optional `0x`/`0X` prefix is removed (as a
    /// prefix only), upper and lower case digits are accepted, and the length
    /// must match `alg` exactly.
    pub fn parse_hex(alg: HashAlg, s: &str) -> Result<Digest, Error> {
        let mut d = Digest::zero(alg);
        let n = decode_hex_into(strip_hex_prefix(s), &mut d.bytes)?;
        if n != alg.digest_len() {
            return Err(Error::WrongDigestLength { alg, expected: alg.digest_len(), got: n });
        }
        Ok(d)
    }

    /// The algorithm.
    pub fn alg(&self) -> HashAlg {
        self.alg
    }

    /// The digest bytes (exactly `alg().digest_len()` of them).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.alg.digest_len()]
    }

    /// Lowercase hex without a prefix.
    pub fn to_hex(&self) -> String {
        hex::encode(self.as_bytes())
    }
}

/// Decodes hex into `out`, returning the number of bytes written; fails on a
/// bad digit, an odd length, or more bytes than `out` holds (reported as a
/// length error by the caller through the returned count).
fn decode_hex_into(s: &str, out: &mut [u8; MAX_DIGEST_LEN]) -> Result<usize, Error> {
    let digit = |pos: usize, c: char| {
        c.to_digit(16).map(|v| v as u8).ok_or_else(|| Error::InvalidHex {
            input: s.to_owned(),
            found: c,
            position: pos,
        })
    };
    // Validate every character first so a bad digit is reported as such even
    // when the string is also too long.
    for (pos, c) in s.chars().enumerate() {
        digit(pos, c)?;
    }
    if !s.len().is_multiple_of(2) {
        return Err(Error::OddHexLength { input: s.to_owned() });
    }
    let n = s.len() / 2;
    if n > MAX_DIGEST_LEN {
        // Too long for any algorithm; report the real length.
        return Ok(n);
    }
    let b = s.as_bytes();
    for (i, slot) in out.iter_mut().enumerate().take(n) {
        *slot = (digit(2 * i, b[2 * i] as char)? << 4) | digit(2 * i + 1, b[2 * i + 1] as char)?;
    }
    Ok(n)
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.alg, self)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn prefix_is_stripped_as_prefix_only() {
        let s = format!("0x0a3d{}", "00".repeat(30));
        let d = Digest::parse_hex(HashAlg::Sha256, &s).unwrap();
        assert!(d.to_hex().starts_with("0a3d"));
        assert_eq!(strip_hex_prefix("0x0x00"), "0x00");
        assert_eq!(strip_hex_prefix("x0"), "x0");
    }

    #[test]
    fn uppercase_in_lowercase_out() {
        let d = Digest::parse_hex(HashAlg::Sha1, &format!("0X{}", "AB".repeat(20))).unwrap();
        assert_eq!(d.to_hex(), "ab".repeat(20));
    }

    #[test]
    fn strict_errors() {
        assert_eq!(
            Digest::parse_hex(HashAlg::Sha256, "abcd"),
            Err(Error::WrongDigestLength { alg: HashAlg::Sha256, expected: 32, got: 2 })
        );
        assert_eq!(
            Digest::parse_hex(HashAlg::Sha256, &"0".repeat(63)),
            Err(Error::OddHexLength { input: "0".repeat(63) })
        );
        assert!(matches!(
            Digest::parse_hex(HashAlg::Sha256, &format!("{}g", "0".repeat(63))),
            Err(Error::InvalidHex { found: 'g', position: 63, .. })
        ));
        assert!(matches!(
            Digest::parse_hex(HashAlg::Sha256, " 00"),
            Err(Error::InvalidHex { found: ' ', position: 0, .. })
        ));
        assert!(matches!(
            Digest::parse_hex(HashAlg::Sha512, &"00".repeat(65)),
            Err(Error::WrongDigestLength { got: 65, .. })
        ));
        assert!(Digest::parse_hex(HashAlg::Sha256, "").is_err());
        assert!(Digest::parse_hex(HashAlg::Sha256, "0x").is_err());
        // Non-ASCII must be rejected, not sliced through.
        assert!(Digest::parse_hex(HashAlg::Sha1, &format!("é{}", "0".repeat(38))).is_err());
    }

    proptest! {
        #[test]
        fn hex_round_trip(bytes in proptest::collection::vec(any::<u8>(), 48), upper: bool, prefix: bool) {
            let d = Digest::from_slice(HashAlg::Sha384, &bytes).unwrap();
            let mut s = d.to_hex();
            prop_assert_eq!(&s, &hex::encode(&bytes));
            if upper { s = s.to_uppercase(); }
            if prefix { s.insert_str(0, "0x"); }
            prop_assert_eq!(Digest::parse_hex(HashAlg::Sha384, &s).unwrap(), d);
        }

        #[test]
        fn parse_hex_never_panics(s in ".{0,140}") {
            let _ = Digest::parse_hex(HashAlg::Sha256, &s);
        }
    }
}

/// One line of a checksum list as `sha256sum` prints it: the hex digest, two
/// spaces, the name, a newline. `rvkit pcr hash`, `rvkit initdata digest`
/// and `rvkit pcr initdata` print their values this way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChecksumLine<'a> {
    /// The value, lowercase hex.
    pub hex: &'a str,
    /// What it is the value of, usually a file name.
    pub name: &'a str,
}

impl fmt::Display for ChecksumLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}  {}", self.hex, self.name)
    }
}
