//! Offline verification of the Rekor bundle cosign attaches to a signature
//! (annotation `dev.sigstore.cosign/bundle`).
//!
//! A bundle is `{"SignedEntryTimestamp": b64, "Payload": {"body": b64,
//! "integratedTime": n, "logIndex": n, "logID": hex}}`. It proves inclusion
//! only if (1) the signed entry timestamp is the Rekor key's signature over
//! the canonical JSON of `Payload` (keys sorted, no whitespace, as RFC 8785
//! prints these four fields), (2) `logID` is that key's ID, and (3) the logged
//! entry (`body`, a `hashedrekord` or `rekord` v0.0.1 entry) names this very
//! signature, this payload's SHA-256 and the signing key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rvkit_pcr::HashAlg;
use serde::{Deserialize, Serialize};

use crate::keys::PublicKey;

/// The bundle as cosign writes it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Bundle {
    pub signed_entry_timestamp: String,
    pub payload: BundlePayload,
}

/// The part of a bundle the signed entry timestamp covers.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BundlePayload {
    pub body: String,
    pub integrated_time: i64,
    pub log_index: i64,
    #[serde(rename = "logID")]
    pub log_id: String,
}

impl BundlePayload {
    /// The canonical JSON the signed entry timestamp is computed over.
    ///
    /// RFC 8785 orders keys by UTF-16 code units (`body`, `integratedTime`,
    /// `logID`, `logIndex`), prints integers plainly and strings with
    /// minimal escaping, which `serde_json` does for these ASCII fields.
    pub(crate) fn canonical_json(&self) -> String {
        let s = |v: &str| serde_json::Value::String(v.to_owned()).to_string();
        format!(
            "{{\"body\":{},\"integratedTime\":{},\"logID\":{},\"logIndex\":{}}}",
            s(&self.body),
            self.integrated_time,
            s(&self.log_id),
            self.log_index
        )
    }
}

/// The result of each bundle check; `Err` holds the reason for a failure.
pub(crate) struct BundleChecks {
    pub set: Result<(), String>,
    pub log_id: Result<(), String>,
    pub entry: Result<(), String>,
    pub integrated_time: i64,
    pub log_index: i64,
}

/// Runs the three checks on `bundle` for a signature `sig` over `payload`
/// made with `signing_key`.
pub(crate) fn check_bundle(
    bundle: &Bundle,
    rekor_key: &PublicKey,
    signing_key: &PublicKey,
    sig: &[u8],
    payload: &[u8],
) -> BundleChecks {
    let p = &bundle.payload;
    let set = STANDARD
        .decode(bundle.signed_entry_timestamp.trim())
        .map_err(|e| format!("signed entry timestamp is not base64: {e}"))
        .and_then(|set| {
            rekor_key
                .verify(p.canonical_json().as_bytes(), &set)
                .map_err(|e| format!("signed entry timestamp: {e}"))
        });
    let want = rekor_key.log_id();
    let log_id = if p.log_id == want {
        Ok(())
    } else {
        Err(format!("log ID {} is not the rekor key's {want}", p.log_id))
    };
    let entry = check_entry(&p.body, signing_key, sig, payload);
    BundleChecks { set, log_id, entry, integrated_time: p.integrated_time, log_index: p.log_index }
}

/// `hashedrekord` and `rekord` v0.0.1 bodies share the fields checked here.
///
/// Rekor stores entry bodies as canonical JSON; the fields are declared in
/// sorted order so that serialising an entry (as the `publish` feature does)
/// gives that form.
#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Entry {
    pub api_version: String,
    pub kind: String,
    pub spec: Spec,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Spec {
    pub data: EntryData,
    pub signature: EntrySignature,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EntrySignature {
    pub content: String,
    pub public_key: EntryKey,
}

#[derive(Deserialize, Serialize)]
pub(crate) struct EntryKey {
    pub content: String,
}

#[derive(Deserialize, Serialize)]
pub(crate) struct EntryData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<EntryHash>,
    /// `rekord` entries may carry the data itself instead of its hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

#[derive(Deserialize, Serialize)]
pub(crate) struct EntryHash {
    pub algorithm: String,
    pub value: String,
}

fn check_entry(body_b64: &str, signing_key: &PublicKey, sig: &[u8], payload: &[u8]) -> Result<(), String> {
    let body = STANDARD.decode(body_b64).map_err(|e| format!("entry body is not base64: {e}"))?;
    let entry: Entry =
        serde_json::from_slice(&body).map_err(|e| format!("entry body is not an entry: {e}"))?;
    if entry.api_version != "0.0.1" || !matches!(entry.kind.as_str(), "hashedrekord" | "rekord") {
        return Err(format!(
            "entry is {} {}, expected hashedrekord or rekord 0.0.1",
            entry.kind, entry.api_version
        ));
    }
    let logged_sig = STANDARD
        .decode(&entry.spec.signature.content)
        .map_err(|e| format!("logged signature is not base64: {e}"))?;
    if logged_sig != sig {
        return Err("the logged entry is for a different signature".into());
    }
    let payload_hash = HashAlg::Sha256.hash(payload).to_hex();
    let logged_hash = match (&entry.spec.data.hash, &entry.spec.data.content) {
        (Some(h), _) if h.algorithm == "sha256" => h.value.to_ascii_lowercase(),
        (Some(h), _) => return Err(format!("logged hash algorithm {:?}", h.algorithm)),
        (None, Some(c)) => {
            let data = STANDARD.decode(c).map_err(|e| format!("logged data is not base64: {e}"))?;
            HashAlg::Sha256.hash(&data).to_hex()
        }
        (None, None) => return Err("the logged entry names no data hash".into()),
    };
    if logged_hash != payload_hash {
        return Err("the logged entry is for a different payload".into());
    }
    let key_pem = STANDARD
        .decode(&entry.spec.signature.public_key.content)
        .map_err(|e| format!("logged public key is not base64: {e}"))?;
    match PublicKey::from_pem_or_der(&key_pem, "logged public key") {
        Ok(k) if &k == signing_key => Ok(()),
        Ok(_) => Err("the logged entry names a different public key".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::REKOR_PUBLIC_GOOD;

    /// A bundle from the public-good Rekor log (logIndex 783606), as used in
    /// sigstore-rs's `src/cosign/bundle.rs` tests (`build_correct_bundle`).
    const BUNDLE: &str = r#"{
      "SignedEntryTimestamp": "MEUCIDx9M+yRpD0O47/Mzm8NAPCbtqy4uiTkLWWexW0bo4jZAiEA1wwueIW8XzJWNkut5y9snYj7UOfbMmUXp7fH3CzJmWg=",
      "Payload": {
        "body": "eyJhcGlWZXJzaW9uIjoiMC4wLjEiLCJraW5kIjoicmVrb3JkIiwic3BlYyI6eyJkYXRhIjp7Imhhc2giOnsiYWxnb3JpdGhtIjoic2hhMjU2IiwidmFsdWUiOiIzYWY0NDE0ZDIwYzllMWNiNzZjY2M3MmFhZThiMjQyMTY2ZGFiZTZhZjUzMWE0YTc5MGRiOGUyZjBlNWVlN2M5In19LCJzaWduYXR1cmUiOnsiY29udGVudCI6Ik1FWUNJUURXV3hQUWEzWEZVc1BieVRZK24rYlp1LzZQd2hnNVd3eVlEUXRFZlFobzl3SWhBUGtLVzdldWI4YjdCWCtZYmJSYWM4VHd3SXJLNUt4dmR0UTZOdW9EK2l2VyIsImZvcm1hdCI6Ing1MDkiLCJwdWJsaWNLZXkiOnsiY29udGVudCI6IkxTMHRMUzFDUlVkSlRpQlFWVUpNU1VNZ1MwVlpMUzB0TFMwS1RVWnJkMFYzV1VoTGIxcEplbW93UTBGUldVbExiMXBKZW1vd1JFRlJZMFJSWjBGRlRFdG9SRGRHTlU5TGVUYzNXalU0TWxrMmFEQjFNVW96UjA1Qkt3cHJkbFZ6YURSbFMzQmtNV3gzYTBSQmVtWkdSSE0zZVZoRlJYaHpSV3RRVUhWcFVVcENaV3hFVkRZNGJqZFFSRWxYUWk5UlJWazNiWEpCUFQwS0xTMHRMUzFGVGtRZ1VGVkNURWxESUV0RldTMHRMUzB0Q2c9PSJ9fX19",
        "integratedTime": 1634714179,
        "logIndex": 783606,
        "logID": "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d"
      }
    }"#;

    fn rekor() -> PublicKey {
        PublicKey::from_pem_or_der(REKOR_PUBLIC_GOOD.as_bytes(), "rekor key").unwrap()
    }

    #[test]
    fn public_good_set_verifies() {
        let b: Bundle = serde_json::from_str(BUNDLE).unwrap();
        let set = STANDARD.decode(&b.signed_entry_timestamp).unwrap();
        rekor().verify(b.payload.canonical_json().as_bytes(), &set).unwrap();
        // Any change to the signed fields breaks it.
        let mut changed = b.payload.clone();
        changed.log_index += 1;
        assert!(rekor().verify(changed.canonical_json().as_bytes(), &set).is_err());
    }

    #[test]
    fn public_good_entry_names_its_signature_and_key() {
        let b: Bundle = serde_json::from_str(BUNDLE).unwrap();
        let body = STANDARD.decode(&b.payload.body).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let sig = STANDARD.decode(v["spec"]["signature"]["content"].as_str().unwrap()).unwrap();
        let key_pem =
            STANDARD.decode(v["spec"]["signature"]["publicKey"]["content"].as_str().unwrap()).unwrap();
        let key = PublicKey::from_pem_or_der(&key_pem, "signer").unwrap();
        // The logged artifact itself is not public, so the payload check must
        // fail while the signature and key match.
        let err = check_entry(&b.payload.body, &key, &sig, b"some payload").unwrap_err();
        assert!(err.contains("different payload"), "{err}");
        let err = check_entry(&b.payload.body, &key, b"other", b"").unwrap_err();
        assert!(err.contains("different signature"), "{err}");
        let checks = check_bundle(&b, &rekor(), &key, &sig, b"x");
        assert!(checks.set.is_ok() && checks.log_id.is_ok() && checks.entry.is_err());
        assert_eq!((checks.log_index, checks.integrated_time), (783606, 1634714179));
    }
}
