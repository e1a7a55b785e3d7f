//! Public keys for cosign signatures and Rekor signed entry timestamps.
//!
//! Signature schemes follow what cosign does with `--key`: ECDSA with the
//! curve's own hash (SHA-256 for P-256, SHA-384 for P-384; older cosign
//! releases hashed with SHA-256 for every curve, so that is accepted for P-384
//! too), RSA PKCS#1 v1.5 with SHA-256, and pure Ed25519 over the payload.

use std::fmt;

use p256::pkcs8::DecodePublicKey as _;
use rsa::pkcs1::DecodeRsaPublicKey as _;
use rsa::pkcs8::EncodePublicKey as _;
use rsa::traits::PublicKeyParts as _;
use rvkit_keys::pem::Problem;
use rvkit_pcr::HashAlg;
use serde::Serialize;

use crate::error::Error;

/// RSA keys shorter than this are refused (NIST SP 800-131A).
const MIN_RSA_BITS: usize = 2048;

/// A public key that can verify cosign signatures or Rekor timestamps.
#[derive(Clone)]
pub struct PublicKey {
    spki_der: Vec<u8>,
    key: Key,
}

#[derive(Clone)]
enum Key {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Rsa(rsa::PublicKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

/// The algorithm of a [`PublicKey`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256.
    EcdsaP256,
    /// ECDSA on NIST P-384.
    EcdsaP384,
    /// RSA (PKCS#1 v1.5 signatures with SHA-256).
    Rsa {
        /// The modulus size in bits.
        bits: usize,
    },
    /// Ed25519.
    Ed25519,
}

impl PublicKey {
    /// Reads a public key from PEM (`PUBLIC KEY`, or `RSA PUBLIC KEY`) or
    /// from DER (SubjectPublicKeyInfo). Text around the PEM block is
    /// ignored, as in key files that carry a description.
    ///
    /// `what` names the key in error messages (`signing key`, a file name).
    pub fn from_pem_or_der(data: &[u8], what: &str) -> Result<PublicKey, Error> {
        let invalid = |reason: String| Error::InvalidKey { what: what.to_owned(), reason };
        // The PEM front-end every rvkit command reads keys with; bytes that
        // are not text or hold no PEM block are taken for DER.
        let (label, der) = match rvkit_keys::pem::first_block(data, &["PUBLIC KEY", "RSA PUBLIC KEY"]) {
            Ok(block) => (Some(block.label), block.contents),
            Err(Problem::NotText | Problem::NoBlock { .. }) => (None, data.to_vec()),
            Err(e) => return Err(invalid(format!("it {e}"))),
        };
        if label.as_deref() == Some("RSA PUBLIC KEY") {
            let k = rsa::PublicKey::from_pkcs1_der(&der)
                .map_err(|e| invalid(format!("invalid PKCS#1 RSA key: {e}")))?;
            let spki = k.to_public_key_der().map_err(|e| invalid(e.to_string()))?.into_vec();
            return Self::from_spki(&spki).map_err(invalid);
        }
        Self::from_spki(&der).map_err(invalid)
    }

    fn from_spki(der: &[u8]) -> Result<PublicKey, String> {
        let key = if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_der(der) {
            Key::P256(k)
        } else if let Ok(k) = p384::ecdsa::VerifyingKey::from_public_key_der(der) {
            Key::P384(k)
        } else if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_der(der) {
            Key::Ed25519(k)
        } else if let Ok(k) = rsa::PublicKey::from_public_key_der(der) {
            let bits = k.n().bit_width() as usize;
            if bits < MIN_RSA_BITS {
                return Err(format!("RSA key of {bits} bits (at least {MIN_RSA_BITS} required)"));
            }
            Key::Rsa(k)
        } else {
            return Err("not an ECDSA P-256/P-384, RSA or Ed25519 SubjectPublicKeyInfo".to_owned());
        };
        Ok(PublicKey { spki_der: der.to_vec(), key })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        match &self.key {
            Key::P256(_) => KeyAlgorithm::EcdsaP256,
            Key::P384(_) => KeyAlgorithm::EcdsaP384,
            Key::Rsa(k) => KeyAlgorithm::Rsa { bits: k.n().bit_width() as usize },
            Key::Ed25519(_) => KeyAlgorithm::Ed25519,
        }
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// Rekor's log ID for this key: lowercase hex SHA-256 of the DER
    /// SubjectPublicKeyInfo.
    pub fn log_id(&self) -> String {
        HashAlg::Sha256.hash(&self.spki_der).to_hex()
    }

    /// Verifies `sig` (ASN.1 DER for ECDSA, raw for RSA and Ed25519) over `msg`.
    pub(crate) fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), String> {
        use p256::ecdsa::signature::Verifier as _;
        match &self.key {
            Key::P256(k) => {
                let s = p256::ecdsa::Signature::from_der(sig)
                    .map_err(|_| "not a DER ECDSA P-256 signature".to_owned())?;
                k.verify(msg, &s).map_err(|_| "signature does not verify".into())
            }
            Key::P384(k) => {
                use p384::ecdsa::signature::hazmat::PrehashVerifier as _;
                let s = p384::ecdsa::Signature::from_der(sig)
                    .map_err(|_| "not a DER ECDSA P-384 signature".to_owned())?;
                if k.verify(msg, &s).is_ok() {
                    return Ok(());
                }
                // cosign before its default-hash change signed P-384 keys
                // over SHA-256.
                let h = HashAlg::Sha256.hash(msg);
                k.verify_prehash(h.as_bytes(), &s).map_err(|_| "signature does not verify".into())
            }
            Key::Rsa(k) => {
                let vk = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(k.clone());
                let s =
                    rsa::pkcs1v15::Signature::try_from(sig).map_err(|_| "not an RSA signature".to_owned())?;
                vk.verify(msg, &s).map_err(|_| "signature does not verify".into())
            }
            Key::Ed25519(k) => {
                let s = ed25519_dalek::Signature::from_slice(sig)
                    .map_err(|_| "not a 64-byte Ed25519 signature".to_owned())?;
                k.verify_strict(msg, &s).map_err(|_| "signature does not verify".into())
            }
        }
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("algorithm", &self.algorithm())
            .field("log_id", &self.log_id())
            .finish()
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki_der == other.spki_der
    }
}

impl Eq for PublicKey {}

#[cfg(test)]
pub(crate) mod tests {
    use std::process::Command;

    use super::*;

    /// The public-good Rekor instance's key, as published by sigstore and
    /// used in sigstore-rs's cosign tests (`src/cosign/mod.rs`, REKOR_PUB_KEY).
    pub(crate) const REKOR_PUBLIC_GOOD: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2G2Y+2tabdTV5BcGiBIx0a9fAFwr
kBbmLSGtks4L3qX6yYY0zufBnhC8Ur/iy55GhWP/9A/bY2LhC30M9+RYtw==
-----END PUBLIC KEY-----
";

    #[test]
    fn log_id_of_public_good_rekor_key() {
        // The log ID sigstore-rs's tests pair with that key (REKOR_PUB_KEY_ID).
        let k = PublicKey::from_pem_or_der(REKOR_PUBLIC_GOOD.as_bytes(), "rekor key").unwrap();
        assert_eq!(k.algorithm(), KeyAlgorithm::EcdsaP256);
        assert_eq!(k.log_id(), "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d");
        // DER input gives the same key.
        let der = PublicKey::from_pem_or_der(k.spki_der(), "rekor key").unwrap();
        assert_eq!(der, k);
        // Text around the block is ignored.
        let wrapped = format!("Rekor key\n{REKOR_PUBLIC_GOOD}\ntrailer\n");
        assert_eq!(PublicKey::from_pem_or_der(wrapped.as_bytes(), "rekor key").unwrap(), k);
    }

    #[test]
    fn refuses_non_keys() {
        for bad in [
            &b"hello"[..],
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            b"-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----\n",
        ] {
            assert!(matches!(PublicKey::from_pem_or_der(bad, "k"), Err(Error::InvalidKey { .. })));
        }
    }

    fn openssl(args: &[&str], dir: &std::path::Path) {
        let st = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl is installed");
        assert!(st.success(), "openssl {args:?}");
    }

    /// Signatures made by OpenSSL, an independent signer, for every key type
    /// cosign supports; a flipped payload byte must fail.
    #[test]
    fn verifies_openssl_signatures() {
        if !rvkit_test_support::require("openssl") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("msg"), b"{\"critical\":{}}").unwrap();
        let cases: &[(&str, &[&str], &[&str])] = &[
            (
                "p256",
                &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "p256.key"],
                &["-sha256"],
            ),
            (
                "p384",
                &["ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", "p384.key"],
                &["-sha384"],
            ),
            ("p384", &[], &["-sha256"]),
            (
                "rsa",
                &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "rsa.key"],
                &["-sha256"],
            ),
        ];
        for (name, gen_args, dgst) in cases {
            if !gen_args.is_empty() {
                openssl(gen_args, d);
            }
            openssl(&["pkey", "-in", &format!("{name}.key"), "-pubout", "-out", &format!("{name}.pub")], d);
            let mut args = vec!["dgst"];
            args.extend_from_slice(dgst);
            let key = format!("{name}.key");
            args.extend_from_slice(&["-sign", &key, "-out", "sig", "msg"]);
            openssl(&args, d);
            let k = PublicKey::from_pem_or_der(&std::fs::read(d.join(format!("{name}.pub"))).unwrap(), name)
                .unwrap();
            let sig = std::fs::read(d.join("sig")).unwrap();
            k.verify(b"{\"critical\":{}}", &sig).unwrap();
            assert!(k.verify(b"{\"critical\":{ }", &sig).is_err(), "{name}");
        }
        openssl(&["genpkey", "-algorithm", "ed25519", "-out", "ed.key"], d);
        openssl(&["pkey", "-in", "ed.key", "-pubout", "-out", "ed.pub"], d);
        openssl(&["pkeyutl", "-sign", "-inkey", "ed.key", "-rawin", "-in", "msg", "-out", "sig"], d);
        let k = PublicKey::from_pem_or_der(&std::fs::read(d.join("ed.pub")).unwrap(), "ed").unwrap();
        assert_eq!(k.algorithm(), KeyAlgorithm::Ed25519);
        let sig = std::fs::read(d.join("sig")).unwrap();
        k.verify(b"{\"critical\":{}}", &sig).unwrap();
        assert!(k.verify(b"other", &sig).is_err());
        // An RSA key in PKCS#1 form is the same key.
        openssl(&["rsa", "-in", "rsa.key", "-RSAPublicKey_out", "-out", "rsa1.pub"], d);
        let a = PublicKey::from_pem_or_der(&std::fs::read(d.join("rsa.pub")).unwrap(), "a").unwrap();
        let b = PublicKey::from_pem_or_der(&std::fs::read(d.join("rsa1.pub")).unwrap(), "b").unwrap();
        assert_eq!(a, b);
    }
}
