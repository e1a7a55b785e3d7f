//! EAR token signatures. Trustee's attestation service signs every EAR
//! token as a JWS with ES256 (ECDSA on P-256 with SHA-256) and puts the
//! signer's public key in the header's `jwk` (trustee
//! `attestation-service/src/token/ear_broker.rs`); the key is the token
//! signer configured for the attestation service, or an ephemeral one. The
//! KBS trusts a token when that key verifies it. [`verify_ear`] does the
//! same with a key the caller trusts: the certificate of the token signer
//! (the `trustee-token-cert` Secret of the walkthrough), or its public key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey as _;
use serde_json::{Map, Value};
use x509_parser::prelude::{FromDer as _, X509Certificate};

use rvkit_keys::pem;
use rvkit_keys::secret::Secret;

use crate::Error;

/// The public key a token must verify with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenKey(VerifyingKey);

impl TokenKey {
    /// Reads the key from PEM text holding a `CERTIFICATE` (its public key)
    /// or a `PUBLIC KEY`, or from a `kubernetes.io/tls` Secret (YAML or
    /// JSON) whose `data."tls.crt"` holds the certificate. The key must be
    /// ECDSA P-256, as Trustee's token signer is.
    pub fn parse(bytes: &[u8]) -> Result<TokenKey, Error> {
        let bad = |message: String| Error::TokenKey { message };
        let text = std::str::from_utf8(bytes).map_err(|_| bad("is not text".to_owned()))?;
        if !text.contains("-----BEGIN") {
            return TokenKey::from_secret(bytes);
        }
        let block = match pem::first_block(bytes, &["CERTIFICATE", "PUBLIC KEY"]) {
            Ok(block) => block,
            Err(e @ pem::Problem::PrivateKey { .. }) => {
                return Err(bad(format!("{e}; give the token signer's certificate or public key")));
            }
            Err(e) => return Err(bad(e.to_string())),
        };
        let spki = if block.label == "CERTIFICATE" {
            let (_, cert) = X509Certificate::from_der(&block.contents)
                .map_err(|e| bad(format!("is not an X.509 certificate: {e}")))?;
            cert.public_key().raw.to_vec()
        } else {
            block.contents
        };
        VerifyingKey::from_public_key_der(&spki)
            .map(TokenKey)
            .map_err(|_| bad("is not an ECDSA P-256 key (Trustee signs EAR tokens with ES256)".to_owned()))
    }

    fn from_secret(bytes: &[u8]) -> Result<TokenKey, Error> {
        let bad = |message: String| Error::TokenKey { message };
        let secret = Secret::parse(bytes)
            .map_err(|e| bad(format!("is not PEM, and as a Kubernetes Secret it {e}")))?;
        let pem = secret.entry("tls.crt").map_err(bad)?;
        if !pem.starts_with(b"-----BEGIN") {
            return Err(bad("data.tls.crt is not a PEM certificate".to_owned()));
        }
        TokenKey::parse(pem)
    }

    fn jwk_coordinates(&self) -> (String, String) {
        // Uncompressed SEC1: 0x04, then x and y, 32 bytes each.
        let point = self.0.to_sec1_point(false);
        let bytes = point.as_bytes();
        (URL_SAFE_NO_PAD.encode(&bytes[1..33]), URL_SAFE_NO_PAD.encode(&bytes[33..65]))
    }
}

/// What a verified token says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// `iat`, Unix seconds.
    pub issued_at: Option<i64>,
    /// `exp`, Unix seconds.
    pub expires_at: Option<i64>,
}

/// Verifies an EAR token's ES256 signature with `key`. Fails closed: any
/// other algorithm, a malformed token, a header `jwk` naming another key or
/// a signature that does not verify is [`Error::TokenSignature`]. Expiry is
/// not checked here (a token is diagnosed after the fact); the caller gets
/// `exp` to report it.
pub fn verify_ear(token: &str, key: &TokenKey) -> Result<TokenInfo, Error> {
    let bad = |message: String| Error::TokenSignature { message };
    let token = token.trim();
    let parts: Vec<&str> = token.split('.').collect();
    let [header_b64, payload_b64, signature_b64] = parts[..] else {
        return Err(bad("is not a JWS in compact form (header.payload.signature)".to_owned()));
    };
    let json = |part: &str, what: &str| -> Result<Map<String, Value>, Error> {
        let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|e| bad(format!("{what} is not base64url: {e}")))?;
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("{what} is not a JSON object: {e}")))
    };
    let header = json(header_b64, "header")?;
    match header.get("alg").and_then(Value::as_str) {
        Some("ES256") => {}
        Some(other) => {
            return Err(bad(format!("is signed with {other}, not ES256 as Trustee signs EAR tokens")));
        }
        None => return Err(bad("header has no alg".to_owned())),
    }
    if let Some(jwk) = header.get("jwk") {
        let (x, y) = key.jwk_coordinates();
        let named = (jwk.get("x").and_then(Value::as_str), jwk.get("y").and_then(Value::as_str));
        if named != (Some(x.as_str()), Some(y.as_str())) {
            return Err(bad("header jwk names another signing key than the one given".to_owned()));
        }
    }
    let signature =
        URL_SAFE_NO_PAD.decode(signature_b64).map_err(|e| bad(format!("signature is not base64url: {e}")))?;
    let signature = Signature::from_slice(&signature)
        .map_err(|_| bad(format!("signature is {} bytes, not the 64 of ES256", signature.len())))?;
    let signed = &token[..header_b64.len() + 1 + payload_b64.len()];
    key.0
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| bad("signature does not verify with the given key".to_owned()))?;
    let payload = json(payload_b64, "payload")?;
    Ok(TokenInfo {
        issued_at: payload.get("iat").and_then(Value::as_i64),
        expires_at: payload.get("exp").and_then(Value::as_i64),
    })
}
