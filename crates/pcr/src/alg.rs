use std::io::{self, Read};

use sha2::Digest as _;

use crate::{Digest, Error};

rvkit_names::spelled_enum! {
    /// A hash algorithm of a TPM bank or an initdata document. Its name is
    /// the lowercase one used in initdata documents and measurement files;
    /// parsing also accepts the `sha-256` spelling, in any case.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum HashAlg {
        /// SHA-1 (TPM_ALG_SHA1, 0x0004); only for legacy event logs.
        Sha1 = "sha1" | "sha-1",
        /// SHA-256 (TPM_ALG_SHA256, 0x000B).
        Sha256 = "sha256" | "sha-256",
        /// SHA-384 (TPM_ALG_SHA384, 0x000C).
        Sha384 = "sha384" | "sha-384",
        /// SHA-512 (TPM_ALG_SHA512, 0x000D).
        Sha512 = "sha512" | "sha-512",
    }
    error: Error = |s| Error::UnknownAlgorithm { name: s.to_owned() };
}

impl HashAlg {
    /// The digest length in bytes.
    pub const fn digest_len(self) -> usize {
        match self {
            HashAlg::Sha1 => 20,
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    /// The TCG algorithm identifier (TCG Algorithm Registry, table 3).
    pub const fn tpm_alg_id(self) -> u16 {
        match self {
            HashAlg::Sha1 => 0x0004,
            HashAlg::Sha256 => 0x000B,
            HashAlg::Sha384 => 0x000C,
            HashAlg::Sha512 => 0x000D,
        }
    }

    /// The algorithm with the given TCG identifier, if this crate knows it.
    pub const fn from_tpm_alg_id(id: u16) -> Option<HashAlg> {
        match id {
            0x0004 => Some(HashAlg::Sha1),
            0x000B => Some(HashAlg::Sha256),
            0x000C => Some(HashAlg::Sha384),
            0x000D => Some(HashAlg::Sha512),
            _ => None,
        }
    }

    /// A fresh incremental hasher.
    pub fn hasher(self) -> Hasher {
        Hasher::new(self)
    }

    /// Hashes `data` in one call.
    pub fn hash(self, data: &[u8]) -> Digest {
        let mut h = self.hasher();
        h.update(data);
        h.finish()
    }

    /// Hashes the concatenation of `parts` without copying them together.
    pub fn hash_parts(self, parts: &[&[u8]]) -> Digest {
        let mut h = self.hasher();
        for part in parts {
            h.update(part);
        }
        h.finish()
    }
}

/// An incremental hasher for any [`HashAlg`].
///
/// SHA-1 and SHA-256 use the `sha1`/`sha2` crates, which pick the SHA-NI
/// instructions at run time. With the default `libcrypto` feature, SHA-384 and
/// SHA-512 use the system libcrypto, whose AVX2 code is markedly faster than the
/// portable Rust code on x86-64; without it they use `sha2` as well.
pub struct Hasher(Inner);

enum Inner {
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    #[cfg(feature = "libcrypto")]
    Sha384(openssl::sha::Sha384),
    #[cfg(feature = "libcrypto")]
    Sha512(openssl::sha::Sha512),
    #[cfg(not(feature = "libcrypto"))]
    Sha384(sha2::Sha384),
    #[cfg(not(feature = "libcrypto"))]
    Sha512(sha2::Sha512),
}

impl Hasher {
    /// A fresh hasher for `alg`.
    pub fn new(alg: HashAlg) -> Hasher {
        Hasher(match alg {
            HashAlg::Sha1 => Inner::Sha1(sha1::Sha1::new()),
            HashAlg::Sha256 => Inner::Sha256(sha2::Sha256::new()),
            #[cfg(feature = "libcrypto")]
            HashAlg::Sha384 => Inner::Sha384(openssl::sha::Sha384::new()),
            #[cfg(feature = "libcrypto")]
            HashAlg::Sha512 => Inner::Sha512(openssl::sha::Sha512::new()),
            #[cfg(not(feature = "libcrypto"))]
            HashAlg::Sha384 => Inner::Sha384(sha2::Sha384::new()),
            #[cfg(not(feature = "libcrypto"))]
            HashAlg::Sha512 => Inner::Sha512(sha2::Sha512::new()),
        })
    }

    /// The algorithm this hasher computes.
    pub fn alg(&self) -> HashAlg {
        match self.0 {
            Inner::Sha1(_) => HashAlg::Sha1,
            Inner::Sha256(_) => HashAlg::Sha256,
            Inner::Sha384(_) => HashAlg::Sha384,
            Inner::Sha512(_) => HashAlg::Sha512,
        }
    }

    /// Feeds `data` into the hash.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.0 {
            Inner::Sha1(h) => h.update(data),
            Inner::Sha256(h) => h.update(data),
            Inner::Sha384(h) => h.update(data),
            Inner::Sha512(h) => h.update(data),
        }
    }

    /// Consumes the hasher and returns the digest.
    pub fn finish(self) -> Digest {
        let alg = self.alg();
        match self.0 {
            Inner::Sha1(h) => Digest::from_slice(alg, &h.finalize()),
            Inner::Sha256(h) => Digest::from_slice(alg, &h.finalize()),
            #[cfg(feature = "libcrypto")]
            Inner::Sha384(h) => Digest::from_slice(alg, &h.finish()),
            #[cfg(feature = "libcrypto")]
            Inner::Sha512(h) => Digest::from_slice(alg, &h.finish()),
            #[cfg(not(feature = "libcrypto"))]
            Inner::Sha384(h) => Digest::from_slice(alg, &h.finalize()),
            #[cfg(not(feature = "libcrypto"))]
            Inner::Sha512(h) => Digest::from_slice(alg, &h.finalize()),
        }
        .expect("hash output length matches its algorithm")
    }
}

impl io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Hashes everything `reader` yields, in 64 KiB chunks, without holding more
/// than one chunk in memory.
pub fn hash_reader(alg: HashAlg, mut reader: impl Read) -> io::Result<Digest> {
    // 64 KiB, the size coreutils reads with: each chunk is still in L2
    // cache when it is hashed after the copy out of the page cache.
    // `cargo xtask bench` compares the whole process with `openssl dgst`.
    let mut buf = vec![0u8; 64 * 1024];
    let mut h = alg.hasher();
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(h.finish()),
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // FIPS 180-4 example "abc" digests (NIST CSRC, "Example Values").
    const ABC: [(HashAlg, &str); 4] = [
        (HashAlg::Sha1, "a9993e364706816aba3e25717850c26c9cd0d89d"),
        (HashAlg::Sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            HashAlg::Sha384,
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
        ),
        (
            HashAlg::Sha512,
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        ),
    ];

    #[test]
    fn fips_180_4_abc_vectors() {
        for (alg, want) in ABC {
            assert_eq!(alg.hash(b"abc").to_hex(), want, "{alg}");
            assert_eq!(alg.hash_parts(&[b"a", b"", b"bc"]).to_hex(), want, "{alg}");
            assert_eq!(hash_reader(alg, &b"abc"[..]).unwrap().to_hex(), want, "{alg}");
        }
    }

    #[test]
    fn names_round_trip() {
        for alg in HashAlg::ALL {
            assert_eq!(alg.name().parse::<HashAlg>().unwrap(), alg);
            assert_eq!(HashAlg::from_tpm_alg_id(alg.tpm_alg_id()), Some(alg));
        }
        assert_eq!("SHA-384".parse::<HashAlg>().unwrap(), HashAlg::Sha384);
        assert_eq!("md5".parse::<HashAlg>(), Err(Error::UnknownAlgorithm { name: "md5".into() }));
    }
}
