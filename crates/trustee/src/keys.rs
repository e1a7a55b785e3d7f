//! Keys and certificates: the ones `local` mode generates, the KBS
//! certificate handed in for initdata, and the public keys of signed images.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose,
    PublicKeyData as _,
};
use rvkit_keys::pem;
use rvkit_keys::secret::Secret;
use rvkit_names::tls::{self, Host, SubjectAltName};
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::config::Config;
use crate::{Error, SERVICE_NAME};

/// A certificate and its private key, both PEM. `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsPair {
    /// The certificate (`tls.crt`).
    pub cert_pem: String,
    key_pem: String,
}

impl TlsPair {
    /// Pairs a certificate with its key. The pair is not checked here:
    /// `bundle check` compares the key's public half with the certificate.
    pub fn new(cert_pem: String, key_pem: String) -> TlsPair {
        TlsPair { cert_pem, key_pem }
    }

    /// The private key (`tls.key`). Callers must not print it.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }
}

impl fmt::Debug for TlsPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsPair").field("cert_pem", &self.cert_pem).field("key_pem", &"<redacted>").finish()
    }
}

/// The two key pairs `local` mode makes, the same kinds the walkthrough's
/// cert-manager Certificates request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalKeys {
    /// `kbs-https`: RSA 2048 (PKCS#1 key), subject CN and O from the
    /// configuration, the KBS host as its DNS name, self-signed.
    pub https: TlsPair,
    /// `kbs-token`: ECDSA P-256 (PKCS#8 key), DNS name `kbs-service`,
    /// self-signed.
    pub token: TlsPair,
}

impl LocalKeys {
    /// Generates both key pairs and self-signed certificates valid from
    /// `now_unix` for the configured duration.
    pub fn generate(config: &Config, now_unix: i64) -> Result<LocalKeys, Error> {
        let host = config.host()?;
        let c = &config.certificate;
        let gen_err =
            |what: &'static str| move |e: rcgen::Error| Error::KeyGeneration { what, reason: e.to_string() };

        let rsa = KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
            .map_err(gen_err("kbs-https key"))?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, c.common_name.as_str());
        dn.push(DnType::OrganizationName, c.organization.as_str());
        let params = leaf_params(vec![host.to_string()], dn, now_unix, c.duration.seconds())
            .map_err(gen_err("kbs-https certificate"))?;
        let cert = params.self_signed(&rsa).map_err(gen_err("kbs-https certificate"))?;
        let https = TlsPair::new(cert.pem(), pkcs1_pem(rsa.serialized_der())?);

        let ec = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(gen_err("kbs-token key"))?;
        let params = leaf_params(
            vec![SERVICE_NAME.to_owned()],
            DistinguishedName::new(),
            now_unix,
            c.duration.seconds(),
        )
        .map_err(gen_err("kbs-token certificate"))?;
        let cert = params.self_signed(&ec).map_err(gen_err("kbs-token certificate"))?;
        let token = TlsPair::new(cert.pem(), ec.serialize_pem());
        Ok(LocalKeys { https, token })
    }

    /// The keys of a previous `local` bundle, read back from its two TLS
    /// Secrets (`secret-<name>.yaml` as [`render`](crate::render) writes
    /// them), when they are still what [`generate`](LocalKeys::generate)
    /// would make for `config`: the same subject, DNS name, key type and
    /// lifetime, the key belonging to the certificate, and more than the
    /// configured `renew_before` left before expiry (when cert-manager
    /// would renew). Keeping them keeps the KBS certificate, and so
    /// initdata and PCR8, stable across renders. `Err` says why not.
    pub fn reuse(
        config: &Config,
        now_unix: i64,
        https_secret: &[u8],
        token_secret: &[u8],
    ) -> Result<LocalKeys, String> {
        let c = &config.certificate;
        let host = config.host().map_err(|e| e.to_string())?;
        let lifetime = c.duration.seconds();
        let renew_at = now_unix.saturating_add(c.renew_before.seconds());
        let expect = |what: &str, pair: &TlsPair, want: &Wanted<'_>| -> Result<(), String> {
            let der = Pem::iter_from_buffer(pair.cert_pem.as_bytes())
                .next()
                .and_then(Result::ok)
                .filter(|b| b.label == "CERTIFICATE")
                .ok_or_else(|| format!("the {what} certificate is not PEM"))?
                .contents;
            let info = CertInfo::parse(&der).map_err(|e| format!("the {what} certificate {e}"))?;
            if private_key_spki(pair.key_pem())? != info.spki_der {
                return Err(format!("the {what} key does not belong to its certificate"));
            }
            let label = Pem::iter_from_buffer(pair.key_pem().as_bytes()).next().and_then(Result::ok);
            if label.as_ref().map(|b| b.label.as_str()) != Some(want.key_label) {
                return Err(format!("the {what} key is not a {} PEM", want.key_label));
            }
            if info.key != want.key {
                return Err(format!("the {what} key is {}, not {}", info.key, want.key));
            }
            let wanted = SubjectAltName::from(Host::parse(want.dns_name));
            if info.names != [wanted.clone()] {
                return Err(format!("the {what} certificate names {}, not {wanted}", san_list(&info.names)));
            }
            if (info.common_name.as_deref(), info.organization.as_deref()) != (want.cn, want.org) {
                return Err(format!("the {what} certificate's subject is not the configured one"));
            }
            if info.not_after - info.not_before != lifetime {
                return Err(format!("the {what} certificate's lifetime is not {}", c.duration));
            }
            if info.not_after <= renew_at {
                return Err(format!(
                    "the {what} certificate expires at {}, within renew_before {}",
                    crate::rfc3339(info.not_after),
                    c.renew_before
                ));
            }
            Ok(())
        };
        let https = tls_pair_from_secret(https_secret).map_err(|e| format!("the kbs-https Secret {e}"))?;
        expect(
            "kbs-https",
            &https,
            &Wanted {
                key: "RSA 2048".to_owned(),
                key_label: "RSA PRIVATE KEY",
                dns_name: host.as_str(),
                cn: Some(c.common_name.as_str()),
                org: Some(c.organization.as_str()),
            },
        )?;
        let token = tls_pair_from_secret(token_secret).map_err(|e| format!("the kbs-token Secret {e}"))?;
        expect(
            "kbs-token",
            &token,
            &Wanted {
                key: "ECDSA P-256".to_owned(),
                key_label: "PRIVATE KEY",
                dns_name: SERVICE_NAME,
                cn: None,
                org: None,
            },
        )?;
        Ok(LocalKeys { https, token })
    }
}

/// What a reusable certificate must be.
struct Wanted<'a> {
    key: String,
    key_label: &'a str,
    dns_name: &'a str,
    cn: Option<&'a str>,
    org: Option<&'a str>,
}

/// `tls.crt` and `tls.key` of a `kubernetes.io/tls` Secret in YAML.
fn tls_pair_from_secret(bytes: &[u8]) -> Result<TlsPair, String> {
    let secret = Secret::parse(bytes)?;
    if secret.type_.as_deref() != Some("kubernetes.io/tls") {
        return Err("is not a kubernetes.io/tls Secret".to_owned());
    }
    let field = |key: &str| {
        String::from_utf8(secret.entry(key)?.to_vec()).map_err(|_| format!("data.{key} is not text"))
    };
    Ok(TlsPair::new(field("tls.crt")?, field("tls.key")?))
}

/// A leaf certificate's parameters as cert-manager's self-signed issuer
/// makes them: not a CA (a self-signed CA certificate would be refused as
/// a server certificate by webpki-based clients), key usages digital
/// signature and key encipherment, server authentication.
fn leaf_params(
    dns_names: Vec<String>,
    dn: DistinguishedName,
    now_unix: i64,
    seconds: i64,
) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(dns_names)?;
    params.distinguished_name = dn;
    params.not_before =
        time::OffsetDateTime::from_unix_timestamp(now_unix).map_err(|_| rcgen::Error::Time)?;
    params.not_after = time::OffsetDateTime::from_unix_timestamp(now_unix.saturating_add(seconds))
        .map_err(|_| rcgen::Error::Time)?;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.is_ca = rcgen::IsCa::NoCa;
    Ok(params)
}

/// The PKCS#1 `RSAPrivateKey` inside a PKCS#8 `PrivateKeyInfo`, as PEM
/// (`RSA PRIVATE KEY`): the encoding the walkthrough's Certificate asks
/// cert-manager for.
fn pkcs1_pem(pkcs8_der: &[u8]) -> Result<String, Error> {
    let info = pkcs8::PrivateKeyInfoRef::try_from(pkcs8_der)
        .map_err(|e| Error::KeyGeneration { what: "kbs-https key", reason: e.to_string() })?;
    Ok(pem_encode("RSA PRIVATE KEY", info.private_key.as_bytes()))
}

/// PEM with 64-character lines and a final newline (RFC 7468).
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The KBS HTTPS certificate, as the guest will see it in initdata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KbsCert {
    /// The PEM text, as handed in.
    pub pem: String,
    /// The DER of the first certificate.
    pub der: Vec<u8>,
    /// Its subject alternative names (DNS and IP).
    pub names: Vec<SubjectAltName>,
    /// The end of its validity, in Unix seconds.
    pub not_after: i64,
}

impl KbsCert {
    /// Reads a PEM certificate (chain). `origin` names it in errors.
    pub fn from_pem(origin: &str, bytes: &[u8]) -> Result<KbsCert, Error> {
        let bad = |reason: String| Error::KbsCert { origin: origin.to_owned(), reason };
        let block = pem::first_block(bytes, &["CERTIFICATE"]).map_err(|e| bad(e.to_string()))?;
        let pem = String::from_utf8_lossy(bytes);
        let info = CertInfo::parse(&block.contents).map_err(bad)?;
        Ok(KbsCert {
            pem: pem.into_owned(),
            der: block.contents,
            names: info.names,
            not_after: info.not_after,
        })
    }

    /// Reads the certificate out of a `kubernetes.io/tls` Secret in YAML or
    /// JSON (`oc get secret trustee-tls-cert -o yaml`): `data."tls.crt"`,
    /// base64-decoded, as the walkthrough does with jq and base64.
    pub fn from_secret_yaml(origin: &str, bytes: &[u8]) -> Result<KbsCert, Error> {
        let bad = |reason: String| Error::KbsCert { origin: origin.to_owned(), reason };
        let secret = Secret::parse(bytes).map_err(bad)?;
        KbsCert::from_pem(origin, secret.entry("tls.crt").map_err(bad)?)
    }

    /// Checks that the certificate can serve `host` at `now_unix`, by the
    /// rule `initdata check` applies ([`rvkit_names::tls`]).
    pub fn check_serves(&self, origin: &str, host: &str, now_unix: i64) -> Result<(), Error> {
        if !tls::covers(&self.names, &Host::parse(host)) {
            return Err(Error::KbsCertHost {
                origin: origin.to_owned(),
                host: host.to_owned(),
                names: san_list(&self.names),
            });
        }
        if self.not_after <= now_unix {
            return Err(Error::Expired {
                what: format!("the kbs certificate from {origin}"),
                at: crate::rfc3339(self.not_after),
            });
        }
        Ok(())
    }
}

/// `DNS:a, IP:b`, or `none`.
fn san_list(names: &[SubjectAltName]) -> String {
    if names.is_empty() {
        return "none".to_owned();
    }
    names.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// What the bundle needs to know about a certificate.
pub(crate) struct CertInfo {
    pub names: Vec<SubjectAltName>,
    pub not_before: i64,
    pub not_after: i64,
    pub spki_der: Vec<u8>,
    /// The subject's first CN and O.
    pub common_name: Option<String>,
    pub organization: Option<String>,
    /// The key's type and size, e.g. `RSA 2048`, `ECDSA P-256`.
    pub key: String,
}

impl CertInfo {
    pub fn parse(der: &[u8]) -> Result<CertInfo, String> {
        let (rest, cert) =
            X509Certificate::from_der(der).map_err(|e| format!("is not an X.509 certificate: {e}"))?;
        if !rest.is_empty() {
            return Err("has trailing bytes after the certificate".to_owned());
        }
        let names = match cert.subject_alternative_name() {
            Ok(Some(san)) => san
                .value
                .general_names
                .iter()
                .filter_map(|g| match g {
                    GeneralName::DNSName(n) => Some(SubjectAltName::Dns((*n).to_owned())),
                    GeneralName::IPAddress(octets) => SubjectAltName::ip_from_octets(octets),
                    _ => None,
                })
                .collect(),
            Ok(None) => Vec::new(),
            Err(e) => return Err(format!("has an invalid subject alternative name: {e}")),
        };
        let subject = cert.subject();
        fn first<'a>(
            mut it: impl Iterator<Item = &'a x509_parser::x509::AttributeTypeAndValue<'a>>,
        ) -> Option<String> {
            it.next().and_then(|a| a.as_str().ok()).map(str::to_owned)
        }
        let spki = cert.public_key();
        let key = match key_type(spki) {
            Ok(PublicKeyType::Rsa) => format!("RSA {}", spki.parsed().map(|k| k.key_size()).unwrap_or(0)),
            Ok(PublicKeyType::EcdsaP256) => "ECDSA P-256".to_owned(),
            Ok(PublicKeyType::EcdsaP384) => "ECDSA P-384".to_owned(),
            Ok(PublicKeyType::EcdsaP521) => "ECDSA P-521".to_owned(),
            Ok(PublicKeyType::Ed25519) => "Ed25519".to_owned(),
            Err(other) => other,
        };
        Ok(CertInfo {
            names,
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            spki_der: spki.raw.to_vec(),
            common_name: first(subject.iter_common_name()),
            organization: first(subject.iter_organization()),
            key,
        })
    }
}

/// The SubjectPublicKeyInfo DER of a PEM private key (PKCS#1, SEC1 or
/// PKCS#8), to compare with a certificate's.
pub(crate) fn private_key_spki(pem: &str) -> Result<Vec<u8>, String> {
    KeyPair::from_pem(pem)
        .map(|k| k.subject_public_key_info())
        .map_err(|e| format!("is not a private key: {e}"))
}

/// The kinds of public keys image signatures can be checked with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicKeyType {
    /// ECDSA on P-256 (cosign's default).
    EcdsaP256,
    /// ECDSA on P-384.
    EcdsaP384,
    /// ECDSA on P-521.
    EcdsaP521,
    /// RSA of at least 2048 bits.
    Rsa,
    /// Ed25519.
    Ed25519,
}

/// Checks that `bytes` is one PEM `PUBLIC KEY` of a supported type. `path`
/// names the file in errors.
pub fn check_public_key(path: &Path, bytes: &[u8]) -> Result<PublicKeyType, Error> {
    let bad = |reason: String| Error::BadPublicKey { path: path.to_owned(), reason };
    let block = match pem::first_block(bytes, &["PUBLIC KEY"]) {
        Ok(block) => block,
        Err(pem::Problem::PrivateKey { label }) => {
            return Err(bad(format!("holds a PRIVATE key ({label}); give the public key (cosign.pub)")));
        }
        Err(pem::Problem::WrongLabel { found, .. }) => {
            return Err(Error::UnsupportedKeyType {
                path: path.to_owned(),
                key_type: format!("PEM block {found:?}"),
            });
        }
        Err(other) => return Err(bad(other.to_string())),
    };
    let (rest, spki) = SubjectPublicKeyInfo::from_der(&block.contents)
        .map_err(|e| bad(format!("is not a SubjectPublicKeyInfo: {e}")))?;
    if !rest.is_empty() {
        return Err(bad("has trailing bytes after the key".to_owned()));
    }
    key_type(&spki).map_err(|key_type| Error::UnsupportedKeyType { path: path.to_owned(), key_type })
}

fn key_type(spki: &SubjectPublicKeyInfo<'_>) -> Result<PublicKeyType, String> {
    let alg = spki.algorithm.algorithm.to_id_string();
    match alg.as_str() {
        "1.2.840.113549.1.1.1" => {
            let bits = spki.parsed().map(|k| k.key_size()).unwrap_or(0);
            if bits >= 2048 { Ok(PublicKeyType::Rsa) } else { Err(format!("RSA with {bits} bits")) }
        }
        "1.2.840.10045.2.1" => {
            let curve =
                spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok()).map(|o| o.to_id_string());
            match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => Ok(PublicKeyType::EcdsaP256),
                Some("1.3.132.0.34") => Ok(PublicKeyType::EcdsaP384),
                Some("1.3.132.0.35") => Ok(PublicKeyType::EcdsaP521),
                Some(other) => Err(format!("ECDSA on curve {other}")),
                None => Err("ECDSA without a named curve".to_owned()),
            }
        }
        "1.3.101.112" => Ok(PublicKeyType::Ed25519),
        "1.2.840.10040.4.1" => Err("DSA".to_owned()),
        other => Err(format!("algorithm {other}")),
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    const NOW: i64 = 1_780_000_000;

    fn config() -> Config {
        Config { domain: Some("apps.example.com".parse().unwrap()), ..Config::default() }
    }

    fn openssl(args: &[&str], input: &[u8]) -> String {
        String::from_utf8(rvkit_test_support::pipe("openssl", args, input)).unwrap()
    }

    #[test]
    fn local_keys_are_what_the_walkthrough_certificates_request() {
        if !rvkit_test_support::require("openssl") {
            return;
        }
        let keys = LocalKeys::generate(&config(), NOW).unwrap();
        assert!(!format!("{keys:?}").contains("PRIVATE KEY"));

        // openssl, an independent reader, sees the walkthrough's parameters.
        let text = openssl(&["x509", "-noout", "-text"], keys.https.cert_pem.as_bytes());
        assert!(text.contains("Public-Key: (2048 bit)"), "{text}");
        assert!(
            text.contains("CN=kbs-trustee-operator-system")
                || text.contains("CN = kbs-trustee-operator-system"),
            "{text}"
        );
        assert!(text.contains("O=my_org") || text.contains("O = my_org"), "{text}");
        assert!(text.contains("DNS:kbs-service-trustee-operator-system.apps.example.com"), "{text}");
        let dates = openssl(&["x509", "-noout", "-startdate", "-enddate"], keys.https.cert_pem.as_bytes());
        // NOW is 2026-05-28T20:26:40Z; 8760 hours later is 2027-05-28.
        assert!(
            dates.contains("May 28 20:26:40 2026 GMT") && dates.contains("May 28 20:26:40 2027 GMT"),
            "{dates}"
        );
        assert!(keys.https.key_pem().starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        let rsa = openssl(&["rsa", "-noout", "-check"], keys.https.key_pem().as_bytes());
        assert!(rsa.contains("RSA key ok"), "{rsa}");
        let cert_pub = openssl(&["x509", "-noout", "-pubkey"], keys.https.cert_pem.as_bytes());
        let key_pub = openssl(&["pkey", "-pubout"], keys.https.key_pem().as_bytes());
        assert_eq!(cert_pub, key_pub);

        let text = openssl(&["x509", "-noout", "-text"], keys.token.cert_pem.as_bytes());
        assert!(text.contains("prime256v1") && text.contains("DNS:kbs-service"), "{text}");
        assert!(keys.token.key_pem().starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let cert_pub = openssl(&["x509", "-noout", "-pubkey"], keys.token.cert_pem.as_bytes());
        let key_pub = openssl(&["pkey", "-pubout"], keys.token.key_pem().as_bytes());
        assert_eq!(cert_pub, key_pub);

        // And our own reader agrees with the key.
        let info =
            CertInfo::parse(&KbsCert::from_pem("t", keys.https.cert_pem.as_bytes()).unwrap().der).unwrap();
        assert_eq!(private_key_spki(keys.https.key_pem()).unwrap(), info.spki_der);
        assert_ne!(private_key_spki(keys.token.key_pem()).unwrap(), info.spki_der);
    }

    #[test]
    fn local_keys_are_kept_until_renew_before() {
        let config = config();
        let keys = LocalKeys::generate(&config, NOW).unwrap();
        let secret = |p: &TlsPair| {
            format!(
                "apiVersion: v1\nkind: Secret\ntype: kubernetes.io/tls\ndata:\n  tls.crt: {}\n  tls.key: {}\n",
                STANDARD.encode(&p.cert_pem),
                STANDARD.encode(p.key_pem())
            )
        };
        let (https, token) = (secret(&keys.https), secret(&keys.token));
        let reuse = |now: i64| LocalKeys::reuse(&config, now, https.as_bytes(), token.as_bytes());
        assert_eq!(reuse(NOW).unwrap(), keys);
        // 8760h lifetime, renewed 360h before the end.
        let renew = NOW + (8760 - 360) * 3600;
        assert_eq!(reuse(renew - 1).unwrap(), keys);
        let err = reuse(renew).unwrap_err();
        assert!(
            err.contains("kbs-https certificate expires at") && err.contains("within renew_before 360h"),
            "{err}"
        );
        // The two Secrets swapped.
        let err = LocalKeys::reuse(&config, NOW, token.as_bytes(), https.as_bytes()).unwrap_err();
        assert!(err.contains("the kbs-https key is not a RSA PRIVATE KEY PEM"), "{err}");
        let err =
            LocalKeys::reuse(&config, NOW, b"kind: Secret\ntype: Opaque\n", token.as_bytes()).unwrap_err();
        assert_eq!(err, "the kbs-https Secret is not a kubernetes.io/tls Secret");
    }

    #[test]
    fn kbs_cert_from_pem_and_from_a_secret() {
        let keys = LocalKeys::generate(&config(), NOW).unwrap();
        let cert = KbsCert::from_pem("tls.crt", keys.https.cert_pem.as_bytes()).unwrap();
        assert_eq!(
            cert.names,
            [SubjectAltName::Dns("kbs-service-trustee-operator-system.apps.example.com".into())]
        );
        assert_eq!(cert.not_after, NOW + 8760 * 3600);
        cert.check_serves("tls.crt", "kbs-service-trustee-operator-system.apps.example.com", NOW).unwrap();
        let e = cert.check_serves("tls.crt", "other.example.com", NOW).unwrap_err();
        assert!(e.to_string().contains("does not name the KBS host other.example.com"), "{e}");
        let e = cert
            .check_serves(
                "tls.crt",
                "kbs-service-trustee-operator-system.apps.example.com",
                NOW + 8760 * 3600,
            )
            .unwrap_err();
        assert!(matches!(e, Error::Expired { .. }), "{e}");

        let secret = format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: trustee-tls-cert\ntype: kubernetes.io/tls\ndata:\n  tls.crt: {}\n  tls.key: AAAA\n",
            STANDARD.encode(&keys.https.cert_pem)
        );
        let from_secret = KbsCert::from_secret_yaml("s.yaml", secret.as_bytes()).unwrap();
        assert_eq!(from_secret, cert);
        for (bad, why) in [
            ("kind: ConfigMap\ndata: {}\n", "not a Kubernetes Secret"),
            ("kind: Secret\ndata: {}\n", "tls.crt"),
            ("kind: Secret\ndata:\n  tls.crt: '!!!'\n", "not base64"),
            ("kind: Secret\ndata:\n  tls.crt: QUFBQQ==\n", "no -----BEGIN CERTIFICATE"),
            (": : :", "not YAML"),
        ] {
            let e = KbsCert::from_secret_yaml("s.yaml", bad.as_bytes()).unwrap_err();
            assert!(matches!(&e, Error::KbsCert { origin, .. } if origin == "s.yaml"), "{e}");
            assert!(e.to_string().contains(why), "{e}");
        }
        let e = KbsCert::from_pem("k.pem", keys.https.key_pem().as_bytes()).unwrap_err();
        assert!(e.to_string().contains("RSA PRIVATE KEY"), "{e}");
    }

    fn openssl_pubkey(genpkey: &[&str]) -> Vec<u8> {
        let dir = std::env::temp_dir().join(format!(
            "rvkit-trustee-key-{}-{}",
            std::process::id(),
            genpkey.join("_").replace([':', '/'], "")
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("k.pem");
        let out =
            Command::new("openssl").args(["genpkey"]).args(genpkey).arg("-out").arg(&key).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let out = Command::new("openssl").args(["pkey", "-pubout", "-in"]).arg(&key).output().unwrap();
        assert!(out.status.success());
        let _ = std::fs::remove_dir_all(&dir);
        out.stdout
    }

    #[test]
    fn public_key_types() {
        if !rvkit_test_support::require("openssl") {
            return;
        }
        let p = Path::new("cosign.pub");
        let cases: [(&[&str], Result<PublicKeyType, &str>); 6] = [
            (&["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], Ok(PublicKeyType::EcdsaP256)),
            (&["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"], Ok(PublicKeyType::EcdsaP384)),
            (&["-algorithm", "ED25519"], Ok(PublicKeyType::Ed25519)),
            (&["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], Ok(PublicKeyType::Rsa)),
            (&["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"], Err("RSA with 1024 bits")),
            (
                &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1"],
                Err("ECDSA on curve 1.3.132.0.10"),
            ),
        ];
        for (args, want) in cases {
            let pem = openssl_pubkey(args);
            match (check_public_key(p, &pem), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want),
                (Err(Error::UnsupportedKeyType { key_type, .. }), Err(want)) => assert_eq!(key_type, want),
                (got, want) => panic!("{args:?}: got {got:?}, want {want:?}"),
            }
        }
        let keys = LocalKeys::generate(&config(), NOW).unwrap();
        let e = check_public_key(p, keys.token.key_pem().as_bytes()).unwrap_err();
        assert!(e.to_string().contains("PRIVATE key"), "{e}");
        let e = check_public_key(p, keys.token.cert_pem.as_bytes()).unwrap_err();
        assert!(matches!(e, Error::UnsupportedKeyType { .. }), "{e}");
        let e = check_public_key(p, b"ssh-ed25519 AAAA").unwrap_err();
        assert!(matches!(e, Error::BadPublicKey { .. }), "{e}");
    }
}
