//! Content digests as OCI writes them (`sha256:<hex>`), and a reader that
//! checks one while the bytes stream past.

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

use rvkit_pcr::{Digest, HashAlg, Hasher};
use serde::{Serialize, Serializer};

/// A content digest in the OCI `algorithm:encoded` form.
///
/// Only the algorithms the OCI image specification registers are accepted
/// (`sha256`, `sha512`), and the encoded part must be lowercase hex of exactly
/// the algorithm's length, as the specification requires. A `BlobDigest` is
/// therefore always in canonical form and compares byte-wise.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlobDigest(Digest);

/// Why a string is not a [`BlobDigest`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid digest {input:?}: {reason}")]
pub struct DigestParseError {
    /// The string as given.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl BlobDigest {
    /// The SHA-256 digest of `data`.
    pub fn sha256_of(data: &[u8]) -> BlobDigest {
        BlobDigest(HashAlg::Sha256.hash(data))
    }

    /// Wraps a finished digest; `None` unless its algorithm is SHA-256 or SHA-512.
    pub fn from_digest(d: Digest) -> Option<BlobDigest> {
        matches!(d.alg(), HashAlg::Sha256 | HashAlg::Sha512).then_some(BlobDigest(d))
    }

    /// The algorithm.
    pub fn alg(&self) -> HashAlg {
        self.0.alg()
    }

    /// The raw digest bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The encoded part: lowercase hex without the algorithm prefix.
    pub fn hex(&self) -> String {
        self.0.to_hex()
    }

    /// The underlying [`Digest`].
    pub fn digest(&self) -> Digest {
        self.0
    }

    /// The tag under which cosign stores this image's signatures:
    /// `sha256-<hex>.sig`.
    pub fn cosign_signature_tag(&self) -> String {
        format!("{}-{}.sig", self.alg(), self.hex())
    }

    /// The tag of the referrers index of this manifest in the OCI
    /// distribution specification's referrers tag schema: `sha256-<hex>`.
    pub fn referrers_tag(&self) -> String {
        format!("{}-{}", self.alg(), self.hex())
    }
}

impl FromStr for BlobDigest {
    type Err = DigestParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| DigestParseError { input: s.to_owned(), reason };
        let (alg, hex) = s.split_once(':').ok_or_else(|| err("expected ALGORITHM:HEX"))?;
        let alg = match alg {
            "sha256" => HashAlg::Sha256,
            "sha512" => HashAlg::Sha512,
            _ => return Err(err("algorithm must be sha256 or sha512")),
        };
        if hex.len() != alg.digest_len() * 2 {
            return Err(err("wrong length for the algorithm"));
        }
        // The OCI specification requires lowercase hex; accepting uppercase
        // would let two spellings name the same blob.
        if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(err("encoded part must be lowercase hex"));
        }
        let d = Digest::parse_hex(alg, hex).map_err(|_| err("invalid hex"))?;
        Ok(BlobDigest(d))
    }
}

impl fmt::Display for BlobDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.alg(), self.0)
    }
}

impl fmt::Debug for BlobDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for BlobDigest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// How a [`VerifyingReader`] ended when the digest or size did not match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mismatch {
    /// More or fewer bytes than the descriptor promised.
    Size { expected: u64, actual: u64 },
    /// The right number of bytes, but a different digest.
    Digest { expected: BlobDigest, actual: BlobDigest },
}

/// Wraps a blob's byte stream, hashes every byte that passes, and refuses to
/// yield more bytes than the descriptor's size.
///
/// Nothing read through it is trustworthy until [`VerifyingReader::finish`]
/// has read the rest of the stream and compared size and digest: callers keep
/// what they extracted private until then.
pub(crate) struct VerifyingReader<R> {
    inner: R,
    hasher: Option<Hasher>,
    expected: BlobDigest,
    expected_size: u64,
    read: u64,
    /// Set when the stream went past the expected size; the stream is then
    /// treated as ended, so memory and time stay bounded.
    oversized: bool,
    progress: Option<Box<dyn FnMut(u64) + Send>>,
}

impl<R: Read> VerifyingReader<R> {
    pub(crate) fn new(inner: R, expected: BlobDigest, expected_size: u64) -> Self {
        VerifyingReader {
            inner,
            hasher: Some(expected.alg().hasher()),
            expected,
            expected_size,
            read: 0,
            oversized: false,
            progress: None,
        }
    }

    /// Reports every chunk's length to `f` (for progress bars).
    pub(crate) fn with_progress(mut self, f: Box<dyn FnMut(u64) + Send>) -> Self {
        self.progress = Some(f);
        self
    }

    /// Reads whatever the consumer left unread, then compares size and digest.
    pub(crate) fn finish(mut self) -> io::Result<Result<(), Mismatch>> {
        let mut sink = vec![0u8; 64 * 1024];
        loop {
            match self.read(&mut sink) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if self.oversized => {
                    // The size error is the meaningful one; `e` only says so.
                    drop(e);
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if self.oversized || self.read != self.expected_size {
            return Ok(Err(Mismatch::Size { expected: self.expected_size, actual: self.read }));
        }
        let actual = self
            .hasher
            .take()
            .map(Hasher::finish)
            .and_then(BlobDigest::from_digest)
            .ok_or_else(|| io::Error::other("digest already finished"))?;
        if actual != self.expected {
            return Ok(Err(Mismatch::Digest { expected: self.expected, actual }));
        }
        Ok(Ok(()))
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.oversized {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "blob is larger than its descriptor says",
            ));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        // Ask for one byte more than the remaining size at most, so an
        // oversized stream is noticed without reading far past the limit.
        let remaining = self.expected_size.saturating_sub(self.read);
        let want = buf.len().min(usize::try_from(remaining.saturating_add(1)).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.read += n as u64;
        if self.read > self.expected_size {
            self.oversized = true;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "blob is larger than its descriptor says",
            ));
        }
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        if let Some(p) = self.progress.as_mut() {
            p(n as u64);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // sha256("") from FIPS 180-4 examples, also printed by `sha256sum /dev/null`.
    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parse_and_display_round_trip() {
        let d: BlobDigest = EMPTY.parse().unwrap();
        assert_eq!(d.to_string(), EMPTY);
        assert_eq!(d, BlobDigest::sha256_of(b""));
        assert_eq!(d.cosign_signature_tag(), format!("sha256-{}.sig", &EMPTY[7..]));
        assert_eq!(d.referrers_tag(), format!("sha256-{}", &EMPTY[7..]));
    }

    #[test]
    fn rejects_non_canonical_digests() {
        for bad in [
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0",
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            "sha256:0xb0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            assert!(bad.parse::<BlobDigest>().is_err(), "{bad}");
        }
    }

    #[test]
    fn verifying_reader_accepts_exact_blob() {
        let data = b"hello";
        let mut r = VerifyingReader::new(&data[..], BlobDigest::sha256_of(data), 5);
        let mut first = [0u8; 2];
        r.read_exact(&mut first).unwrap();
        // The unread rest is drained by finish().
        assert_eq!(r.finish().unwrap(), Ok(()));
    }

    #[test]
    fn verifying_reader_reports_size_and_digest_mismatch() {
        let d = BlobDigest::sha256_of(b"hello");
        let r = VerifyingReader::new(&b"hellO"[..], d, 5);
        assert!(matches!(r.finish().unwrap(), Err(Mismatch::Digest { .. })));
        let r = VerifyingReader::new(&b"hell"[..], d, 5);
        assert_eq!(r.finish().unwrap(), Err(Mismatch::Size { expected: 5, actual: 4 }));
        // A stream longer than promised stops one byte past the size.
        let long = vec![0u8; 1 << 20];
        let r = VerifyingReader::new(&long[..], d, 5);
        assert_eq!(r.finish().unwrap(), Err(Mismatch::Size { expected: 5, actual: 6 }));
    }
}
