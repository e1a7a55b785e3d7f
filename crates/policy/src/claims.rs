use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rvkit_pcr::eventlog::PcrValues;
use rvkit_pcr::{HashAlg, PcrIndex};
use serde_json::{Map, Value};

use crate::{Error, KNOWN_TEES, Tee};

/// The keys Trustee's token broker puts next to the TEE's claims in the
/// policy input (`transform_claims` in `attestation-service/src/ear_token/broker.rs`).
const EXTRA_KEYS: [&str; 4] = ["init_data", "init_data_claims", "report_data", "runtime_data_claims"];

/// What the claims were read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClaimsSource {
    /// JSON already shaped as the policy input (`{"az-snp-vtpm": {…}}`).
    Input,
    /// A TEE's claims as its verifier returns them, wrapped for the given TEE.
    TeeClaims,
    /// The annotated evidence of an EAR token's submodule.
    EarToken,
    /// PCR values as `tpm2_pcrread` prints them.
    PcrRead,
}

/// The policy input, as Trustee's attestation service builds it from a
/// verifier's claims.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    input: Value,
    tee: String,
    source: ClaimsSource,
}

impl Claims {
    /// Reads claims in any of the forms of [`ClaimsSource`]:
    ///
    /// - an EAR token (`header.payload.signature`, base64url): the
    ///   `ear.veraison.annotated-evidence` of submodule `cpu0` (or the only
    ///   one) is the policy input Trustee evaluated. The signature is not
    ///   checked: this is a diagnosis of a token's claims, not a verification.
    /// - JSON whose top-level keys are TEE names and the broker's extra keys
    ///   (`init_data`, `init_data_claims`, `report_data`,
    ///   `runtime_data_claims`): used as is.
    /// - other JSON: one TEE's claims, which needs `tee`; `init_data` and
    ///   `report_data` move to the top level as the broker moves them.
    /// - `tpm2_pcrread` output: its SHA-256 bank becomes `tpm.pcrNN` claims of
    ///   `tee` (default `az-snp-vtpm`), with `init_data` set to PCR8 as the
    ///   Azure vTPM verifiers set it.
    pub fn parse(bytes: &[u8], tee: Option<&str>) -> Result<Claims, Error> {
        let bad = |message: String| Error::Claims { message };
        let tee = tee.map(check_tee).transpose()?;
        let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8 text".to_owned()))?;
        let trimmed = text.trim();
        if is_jwt(trimmed) {
            return ear_token(trimmed);
        }
        if trimmed.starts_with('{') {
            let doc: Map<String, Value> =
                serde_json::from_str(trimmed).map_err(|e| bad(format!("not a JSON object: {e}")))?;
            let tees: Vec<&String> = doc.keys().filter(|k| !EXTRA_KEYS.contains(&k.as_str())).collect();
            let all_known = !tees.is_empty() && tees.iter().all(|k| KNOWN_TEES.contains(&k.as_str()));
            match tee {
                // Input-shaped: the TEE's claims sit under its name.
                Some(t) if doc.contains_key(t) => {
                    return Ok(Claims {
                        input: Value::Object(doc),
                        tee: t.to_owned(),
                        source: ClaimsSource::Input,
                    });
                }
                None if all_known => {
                    let first = tees[0].clone();
                    return Ok(Claims { input: Value::Object(doc), tee: first, source: ClaimsSource::Input });
                }
                None => {
                    // One object under one unknown key is an input for a
                    // TEE Trustee does not know; anything else is one TEE's
                    // claims without the TEE named.
                    if let [only] = tees.as_slice()
                        && doc[*only].is_object()
                        && !KNOWN_TEES.contains(&only.as_str())
                    {
                        return Err(Error::UnknownTee { name: (*only).clone() });
                    }
                    let keys: Vec<&str> = tees.iter().map(|k| k.as_str()).collect();
                    return Err(bad(format!(
                        "the top-level keys ({}) are not all TEE names; for one TEE's claims give the TEE \
                         (such as az-snp-vtpm)",
                        keys.join(", ")
                    )));
                }
                Some(_) => {}
            }
            let t = tee.unwrap_or_default();
            return Ok(Claims { input: wrap(t, doc), tee: t.to_owned(), source: ClaimsSource::TeeClaims });
        }
        let pcrs = PcrValues::parse_pcrread(text)
            .map_err(|e| bad(format!("not JSON, an EAR token or tpm2_pcrread output: {e}")))?;
        let mut tpm = Map::new();
        for (pcr, d) in pcrs.iter().filter(|(_, d)| d.alg() == HashAlg::Sha256) {
            tpm.insert(format!("pcr{:02}", pcr.get()), d.to_hex().into());
        }
        if tpm.is_empty() {
            return Err(bad("the tpm2_pcrread output has no sha256 values".to_owned()));
        }
        let t = tee.unwrap_or("az-snp-vtpm");
        let mut claims = Map::new();
        let pcr8 = PcrIndex::new(8).ok().and_then(|p| pcrs.get(HashAlg::Sha256, p)).map(|d| d.to_hex());
        claims.insert("tpm".to_owned(), Value::Object(tpm));
        if let Some(p8) = pcr8 {
            claims.insert("init_data".to_owned(), p8.into());
        }
        Ok(Claims { input: wrap(t, claims), tee: t.to_owned(), source: ClaimsSource::PcrRead })
    }

    /// The policy input (`input` in Rego).
    pub fn input(&self) -> &Value {
        &self.input
    }

    /// The TEE whose claims these are.
    pub fn tee(&self) -> &str {
        &self.tee
    }

    /// What the claims were read from.
    pub fn source(&self) -> ClaimsSource {
        self.source
    }
}

/// The TEE named `t` (in any ASCII case; see [`Tee`]), as the policy
/// input spells it.
pub fn check_tee(t: &str) -> Result<&'static str, Error> {
    t.parse::<Tee>().map(Tee::name)
}

/// Builds the broker's input from one TEE's claims: `init_data` and
/// `report_data` move to the top level, with `init_data_claims` and
/// `runtime_data_claims` next to them (null here: they come from the
/// attestation request, which this crate does not see).
fn wrap(tee: &str, mut claims: Map<String, Value>) -> Value {
    let mut input = Map::new();
    if let Some(init) = claims.remove("init_data") {
        input.insert("init_data".to_owned(), init);
        input.insert("init_data_claims".to_owned(), Value::Null);
    }
    if let Some(report) = claims.remove("report_data") {
        input.insert("report_data".to_owned(), report);
        input.insert("runtime_data_claims".to_owned(), Value::Null);
    }
    input.insert(tee.to_owned(), Value::Object(claims));
    Value::Object(input)
}

fn is_jwt(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts[..2].iter().all(|p| !p.is_empty())
        && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

fn ear_token(token: &str) -> Result<Claims, Error> {
    let bad = |message: String| Error::Claims { message };
    let payload = token.split('.').nth(1).unwrap_or_default();
    let json = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|e| bad(format!("EAR token payload is not base64url: {e}")))?;
    let doc: Map<String, Value> = serde_json::from_slice(&json)
        .map_err(|e| bad(format!("EAR token payload is not a JSON object: {e}")))?;
    let submods = doc
        .get("submods")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("EAR token has no submods".to_owned()))?;
    let (name, sub) = submods
        .get_key_value("cpu0")
        .or_else(|| submods.iter().next())
        .ok_or_else(|| bad("EAR token has no submodule".to_owned()))?;
    let evidence = sub
        .get("ear.veraison.annotated-evidence")
        .and_then(Value::as_object)
        .ok_or_else(|| bad(format!("EAR submodule {name} has no ear.veraison.annotated-evidence")))?;
    let tee = evidence
        .keys()
        .find(|k| !EXTRA_KEYS.contains(&k.as_str()))
        .ok_or_else(|| bad(format!("EAR submodule {name} has no TEE claims")))?;
    if !KNOWN_TEES.contains(&tee.as_str()) {
        return Err(Error::UnknownTee { name: tee.clone() });
    }
    Ok(Claims { input: Value::Object(evidence.clone()), tee: tee.clone(), source: ClaimsSource::EarToken })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tee_names_parse_in_any_case_to_the_input_spelling() {
        assert_eq!(check_tee("AZ-SNP-VTPM").unwrap(), "az-snp-vtpm");
        assert_eq!(check_tee("Tdx").unwrap(), "tdx");
        assert_eq!(crate::KNOWN_TEES.len(), Tee::ALL.len());
        assert!(crate::KNOWN_TEES.iter().all(|t| check_tee(t).ok() == Some(*t)));
        assert!(matches!(check_tee("tdx-vtpm"), Err(Error::UnknownTee { name }) if name == "tdx-vtpm"));
    }

    #[test]
    fn input_shaped_json_is_used_as_is() {
        let c = Claims::parse(br#"{"az-snp-vtpm":{"tpm":{"pcr03":"aa"}},"init_data":"bb"}"#, None).unwrap();
        assert_eq!(c.tee(), "az-snp-vtpm");
        assert_eq!(c.source(), ClaimsSource::Input);
        assert_eq!(c.input()["init_data"], "bb");
    }

    #[test]
    fn tee_claims_are_wrapped_like_the_broker_does() {
        let c = Claims::parse(
            br#"{"tpm":{"pcr08":"aa"},"init_data":"aa","report_data":"cc"}"#,
            Some("az-tdx-vtpm"),
        )
        .unwrap();
        assert_eq!(
            c.input(),
            &serde_json::json!({"init_data":"aa","init_data_claims":null,"report_data":"cc","runtime_data_claims":null,"az-tdx-vtpm":{"tpm":{"pcr08":"aa"}}})
        );
    }

    #[test]
    fn unknown_tees_are_refused() {
        assert!(
            matches!(Claims::parse(br#"{"az-sev-vtpm":{}}"#, None), Err(Error::UnknownTee { name }) if name == "az-sev-vtpm")
        );
        assert!(matches!(Claims::parse(b"{}", Some("vtpm")), Err(Error::UnknownTee { .. })));
        // With a TEE given, an object that lacks it is that TEE's claims.
        assert_eq!(
            Claims::parse(br#"{"snp":{}}"#, Some("tdx")).unwrap().input()["tdx"]["snp"],
            serde_json::json!({})
        );
        assert!(matches!(
            Claims::parse(br#"{"tpm":{},"measurement":"aa"}"#, None),
            Err(Error::Claims { .. })
        ));
        assert!(matches!(Claims::parse(b"not claims", None), Err(Error::Claims { .. })));
    }

    #[test]
    fn ear_tokens_yield_their_annotated_evidence() {
        let payload = serde_json::json!({
            "eat_profile": "tag:github.com,2023:veraison/ear",
            "submods": {"cpu0": {"ear.status": "affirming", "ear.veraison.annotated-evidence": {"az-snp-vtpm": {"tpm": {"pcr03": "aa"}}, "init_data": "bb"}}}
        });
        let token = format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256"}"#),
            URL_SAFE_NO_PAD.encode(payload.to_string())
        );
        let c = Claims::parse(token.as_bytes(), None).unwrap();
        assert_eq!(c.source(), ClaimsSource::EarToken);
        assert_eq!(c.input()["az-snp-vtpm"]["tpm"]["pcr03"], "aa");
    }

    #[test]
    fn pcrread_output_becomes_vtpm_claims() {
        let text = format!("  sha256:\n    3 : 0x{}\n    8 : 0x{}\n", "AB".repeat(32), "CD".repeat(32));
        let c = Claims::parse(text.as_bytes(), None).unwrap();
        assert_eq!(c.tee(), "az-snp-vtpm");
        assert_eq!(c.input()["az-snp-vtpm"]["tpm"]["pcr03"], "ab".repeat(32));
        assert_eq!(c.input()["init_data"], "cd".repeat(32));
    }
}
