//! Checks beyond what [`InitData::parse`] enforces.
//!
//! Severity follows one rule: an **error** means the guest would refuse the
//! document or could not reach the key broker with it (a component fails to
//! read its configuration, TLS to the KBS cannot succeed, a resource URI the
//! CDH cannot use); a **warning** means it works but is probably not what was
//! meant, or is weaker than it should be.

use std::fmt;

use toml_edit::{Document, Item, TableLike};
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;

use rvkit_names::tls::{HttpUrl, SubjectAltName};

use crate::InitData;

/// Warn about certificates that expire within this many seconds (30 days).
const EXPIRY_WARNING_SECS: i64 = 30 * 24 * 60 * 60;

/// What [`InitData::validate`] needs from the outside world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidateOptions {
    /// The current time in seconds since the Unix epoch, for certificate
    /// validity. Passed in so the crate stays pure and tests are repeatable.
    pub now_unix: i64,
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The document is unusable as it stands.
    Error,
    /// The document is usable, but something looks wrong or weak.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem found by [`InitData::validate`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// How serious it is.
    pub severity: Severity,
    /// The `[data]` key it concerns (e.g. `"aa.toml"`), or `None` for the
    /// document as a whole.
    pub key: Option<String>,
    /// What is wrong, lowercase, without a trailing period.
    pub message: String,
}

impl fmt::Display for Finding {
    /// `error: aa.toml: message`, or `warning: message` without a key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(f, "{}: {key}: {}", self.severity, self.message),
            None => write!(f, "{}: {}", self.severity, self.message),
        }
    }
}

/// All findings of one validation, in the order they were found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Errors and warnings.
    pub findings: Vec<Finding>,
}

impl Report {
    /// The findings of severity [`Severity::Error`].
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.severity == Severity::Error)
    }

    /// The findings of severity [`Severity::Warning`].
    pub fn warnings(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.severity == Severity::Warning)
    }

    /// True when there are no errors (warnings are allowed).
    pub fn is_ok(&self) -> bool {
        self.errors().next().is_none()
    }

    fn push(&mut self, severity: Severity, key: Option<&str>, message: impl Into<String>) {
        self.findings.push(Finding { severity, key: key.map(str::to_owned), message: message.into() });
    }

    fn error(&mut self, key: &str, message: impl Into<String>) {
        self.push(Severity::Error, Some(key), message);
    }

    fn warn(&mut self, key: &str, message: impl Into<String>) {
        self.push(Severity::Warning, Some(key), message);
    }
}

impl fmt::Display for Report {
    /// One finding per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.findings {
            writeln!(f, "{finding}")?;
        }
        Ok(())
    }
}

const AA: &str = "aa.toml";
const CDH: &str = "cdh.toml";
const POLICY: &str = "policy.rego";

/// A URL found in an embedded config, with where it came from.
struct UrlAt {
    text: String,
    url: Option<HttpUrl>,
    key: &'static str,
    field: &'static str,
}

impl InitData {
    /// Validates the document's contents; see [`Severity`] for what counts
    /// as an error.
    ///
    /// Checks, each documented at its finding:
    /// unknown top-level and `[data]` keys (warnings: upstream ignores them);
    /// `aa.toml` and `cdh.toml` parse as TOML with the fields the attestation
    /// agent and confidential data hub require (errors); `policy.rego` starts
    /// with `package agent_policy` (error); KBS URLs are http(s) URLs (error)
    /// over https (warning); the `aa.toml` and `cdh.toml` KBS URLs, the
    /// `coco_as` URL and the two certificates agree (warnings); embedded
    /// certificates are PEM X.509 (error), valid at `opts.now_unix` (expired:
    /// error; not yet valid or expiring within 30 days: warning) and name the
    /// KBS host in their subjectAltName (error); `image_security_policy_uri` is
    /// a `kbs:///repository/type/tag` URI (error).
    pub fn validate(&self, opts: &ValidateOptions) -> Report {
        let mut report = Report::default();
        for key in self.unknown_keys() {
            report.push(
                Severity::Warning,
                None,
                format!(
                    "unknown top-level key {key:?} is ignored by the kata runtime and the \
                     attestation agent"
                ),
            );
        }
        for (key, _) in self.entries() {
            if ![AA, CDH, POLICY].contains(&key) {
                report.warn(
                    key,
                    "unknown [data] key is ignored by the kata agent (it reads aa.toml, \
                     cdh.toml and policy.rego)",
                );
            }
        }

        let mut urls: Vec<UrlAt> = Vec::new();
        let mut certs: Vec<(&'static str, &'static str, String)> = Vec::new();

        if let Some(doc) = self.embedded_toml(AA, &mut report) {
            let token_configs = optional_table(doc.as_table(), AA, "token_configs", &mut report);
            if let Some(tc) = token_configs {
                if let Some(kbs) = optional_table(tc, AA, "token_configs.kbs", &mut report) {
                    let path = "token_configs.kbs";
                    if let Some(url) = string_field(kbs, AA, path, "url", true, &mut report) {
                        urls.push(kbs_url(url, AA, "token_configs.kbs.url", &mut report));
                    }
                    if let Some(cert) = string_field(kbs, AA, path, "cert", false, &mut report) {
                        certs.push((AA, "token_configs.kbs.cert", cert.to_owned()));
                    }
                }
                if let Some(coco) = optional_table(tc, AA, "token_configs.coco_as", &mut report)
                    && let Some(url) =
                        string_field(coco, AA, "token_configs.coco_as", "url", true, &mut report)
                {
                    urls.push(kbs_url(url, AA, "token_configs.coco_as.url", &mut report));
                }
            }
        }

        if let Some(doc) = self.embedded_toml(CDH, &mut report) {
            let table = doc.as_table();
            match optional_table(table, CDH, "kbc", &mut report) {
                None => report.error(CDH, "has no [kbc] table, which the confidential data hub requires"),
                Some(kbc) => {
                    string_field(kbc, CDH, "kbc", "name", true, &mut report);
                    if let Some(url) = string_field(kbc, CDH, "kbc", "url", true, &mut report) {
                        urls.push(kbs_url(url, CDH, "kbc.url", &mut report));
                    }
                    if let Some(cert) = string_field(kbc, CDH, "kbc", "kbs_cert", false, &mut report) {
                        certs.push((CDH, "kbc.kbs_cert", cert.to_owned()));
                    }
                }
            }
            let field = "image_security_policy_uri";
            if let Some(image) = optional_table(table, CDH, "image", &mut report)
                && let Some(uri) = string_field(image, CDH, "image", field, false, &mut report)
            {
                check_resource_uri(uri, CDH, "image.image_security_policy_uri", &mut report);
            }
        }

        if let Some(policy) = self.get(POLICY) {
            check_policy(policy, &mut report);
        }

        check_url_agreement(&urls, &mut report);
        for (key, field, pem) in &certs {
            // A certificate secures the connection to the KBS URL of the same
            // file; the coco_as URL is a token endpoint on the same server.
            let url = urls
                .iter()
                .find(|u| u.key == *key && u.field != "token_configs.coco_as.url")
                .and_then(|u| u.url.as_ref());
            check_cert(pem, key, field, url, opts.now_unix, &mut report);
        }
        if let [(_, a_field, a), (_, c_field, c)] = certs.as_slice()
            && a.trim() != c.trim()
        {
            report.push(
                Severity::Warning,
                None,
                format!("aa.toml {a_field} and cdh.toml {c_field} are different certificates"),
            );
        }
        report
    }

    /// Parses an embedded TOML config, reporting a syntax error with its
    /// line in the config and, where known, in the document.
    fn embedded_toml(&self, key: &'static str, report: &mut Report) -> Option<Document<&str>> {
        let text = self.get(key)?;
        match Document::parse(text) {
            Ok(doc) => Some(doc),
            Err(e) => {
                let crate::Error::Toml { line, column, message } = crate::document::toml_error(text, &e)
                else {
                    return None;
                };
                let outer = self
                    .value_line(key)
                    .map(|first| format!(" (document line {})", first + line - 1))
                    .unwrap_or_default();
                report.error(
                    key,
                    format!("is not valid toml at line {line}, column {column}{outer}: {message}"),
                );
                None
            }
        }
    }
}

fn optional_table<'t>(
    parent: &'t dyn TableLike,
    key: &str,
    path: &str,
    report: &mut Report,
) -> Option<&'t dyn TableLike> {
    let name = path.rsplit('.').next().unwrap_or(path);
    typed(parent.get(name)?, Item::as_table_like, key, path, "table", report)
}

/// `item` read as `read` reads it, or an error saying `path` must be a `kind`.
fn typed<'t, T: ?Sized>(
    item: &'t Item,
    read: fn(&'t Item) -> Option<&'t T>,
    key: &str,
    path: &str,
    kind: &str,
    report: &mut Report,
) -> Option<&'t T> {
    let value = read(item);
    if value.is_none() {
        report.error(key, format!("{path} must be a {kind}, found a {}", item.type_name()));
    }
    value
}

/// `field` of `table` as a string; its absence is an error when `required`.
fn string_field<'t>(
    table: &'t dyn TableLike,
    key: &str,
    path: &str,
    field: &str,
    required: bool,
    report: &mut Report,
) -> Option<&'t str> {
    let Some(item) = table.get(field) else {
        if required {
            report.error(key, format!("[{path}] has no {field}, which is required"));
        }
        return None;
    };
    typed(item, Item::as_str, key, &format!("{path}.{field}"), "string", report)
}

fn kbs_url(text: &str, key: &'static str, field: &'static str, report: &mut Report) -> UrlAt {
    let url = match HttpUrl::parse(text) {
        Ok(url) => {
            if url.scheme == "http" {
                report.warn(
                    key,
                    format!(
                        "{field} {text:?} uses plain http: the host can read and change the \
                         traffic to the key broker; use https"
                    ),
                );
            }
            Some(url)
        }
        Err(problem) => {
            report.error(key, format!("{field} {text:?} is not an http(s) url: {problem}"));
            None
        }
    };
    UrlAt { text: text.to_owned(), url, key, field }
}

fn check_url_agreement(urls: &[UrlAt], report: &mut Report) {
    let Some(first) = urls.iter().find(|u| u.url.is_some()) else {
        return;
    };
    for other in urls.iter().filter(|u| u.url.is_some()) {
        if other.url != first.url {
            report.push(
                Severity::Warning,
                None,
                format!(
                    "{} {} {:?} and {} {} {:?} name different servers; attestation and \
                     resource requests would go to different places",
                    first.key, first.field, first.text, other.key, other.field, other.text
                ),
            );
        }
    }
}

fn check_resource_uri(uri: &str, key: &str, field: &str, report: &mut Report) {
    let Some(path) = uri.strip_prefix("kbs:///") else {
        report.error(
            key,
            format!("{field} {uri:?} is not a kbs:/// resource uri (kbs:///repository/type/tag)"),
        );
        return;
    };
    let segments: Vec<&str> = path.split('/').collect();
    if segments.len() != 3 || segments.iter().any(|s| s.is_empty()) {
        report.error(
            key,
            format!(
                "{field} {uri:?} must name a resource as kbs:///repository/type/tag \
                 (three non-empty path segments)"
            ),
        );
    }
}

/// The kata agent evaluates the policy as `data.agent_policy`, so the first
/// statement must be `package agent_policy`; with any other package every
/// request is denied.
fn check_policy(policy: &str, report: &mut Report) {
    let first = policy.lines().map(|l| l.split('#').next().unwrap_or("").trim()).find(|l| !l.is_empty());
    let mut words = first.unwrap_or("").split_whitespace();
    let ok =
        words.next() == Some("package") && words.next() == Some("agent_policy") && words.next().is_none();
    if !ok {
        report.error(
            POLICY,
            match first {
                Some(first) => format!(
                    "must start with `package agent_policy`, found {first:?}; the kata agent \
                     would deny every request"
                ),
                None => "is empty; it must start with `package agent_policy`".to_owned(),
            },
        );
    }
}

fn check_cert(pem_text: &str, key: &str, field: &str, url: Option<&HttpUrl>, now: i64, report: &mut Report) {
    let mut n = 0;
    let mut covered = false;
    let mut names_seen = Vec::new();
    let mut only_ca_without_san = true;
    for block in Pem::iter_from_buffer(pem_text.as_bytes()) {
        n += 1;
        let pem = match block {
            Ok(pem) => pem,
            Err(e) => {
                report.error(key, format!("{field} block {n} is not valid pem: {e}"));
                return;
            }
        };
        if pem.label != "CERTIFICATE" {
            report.error(key, format!("{field} block {n} is a {:?} pem block, not a CERTIFICATE", pem.label));
            return;
        }
        let cert = match pem.parse_x509() {
            Ok(cert) => cert,
            Err(e) => {
                report.error(key, format!("{field} certificate {n} is not a valid x.509 certificate: {e}"));
                return;
            }
        };
        let subject = cert.subject().to_string();
        let not_before = cert.validity().not_before.timestamp();
        let not_after = cert.validity().not_after.timestamp();
        if now > not_after {
            report.error(
                key,
                format!("{field} certificate {n} ({subject}) expired at {}", cert.validity().not_after),
            );
        } else if now < not_before {
            report.warn(
                key,
                format!(
                    "{field} certificate {n} ({subject}) is not valid before {}",
                    cert.validity().not_before
                ),
            );
        } else if not_after - now < EXPIRY_WARNING_SECS {
            report.warn(
                key,
                format!("{field} certificate {n} ({subject}) expires soon, at {}", cert.validity().not_after),
            );
        }
        let san = cert.subject_alternative_name().ok().flatten();
        if san.is_some() || !cert.is_ca() {
            only_ca_without_san = false;
        }
        if let (Some(url), Some(san)) = (url, san) {
            for name in &san.value.general_names {
                let name = match name {
                    GeneralName::DNSName(dns) => SubjectAltName::Dns((*dns).to_owned()),
                    GeneralName::IPAddress(bytes) => match SubjectAltName::ip_from_octets(bytes) {
                        Some(ip) => ip,
                        None => {
                            names_seen.push("IP:<malformed>".to_owned());
                            continue;
                        }
                    },
                    _ => continue,
                };
                covered |= name.covers(&url.host);
                names_seen.push(name.to_string());
            }
        }
    }
    if n == 0 {
        report.error(key, format!("{field} holds no pem certificate (-----BEGIN CERTIFICATE-----)"));
        return;
    }
    let Some(url) = url else {
        return;
    };
    if url.scheme == "http" {
        report.warn(key, format!("{field} is unused because the kbs url uses plain http"));
        return;
    }
    if covered {
        return;
    }
    let host = url.host.to_string();
    if only_ca_without_san {
        // A CA certificate without subjectAltName is a trust anchor for the
        // server's own certificate, which this document does not contain.
        report.warn(
            key,
            format!(
                "{field} is a ca certificate without subjectAltName; the kbs at {host} must \
                 present a certificate it issued that names {host}"
            ),
        );
    } else {
        let seen = if names_seen.is_empty() { "no subjectAltName".to_owned() } else { names_seen.join(", ") };
        report.error(
            key,
            format!("{field} does not cover the kbs host {host} ({seen}); tls to the kbs would fail"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{RenderParams, render};

    const HOST: &str = "https://kbs-service-trustee-operator-system.apps.rs01nyk5.eastus.aroapp.io";
    const WALKTHROUGH_PEM: &str = include_str!("../testdata/kbs-walkthrough.pem");
    const WILDCARD_PEM: &str = include_str!("../testdata/wildcard-ip.pem");
    const CA_PEM: &str = include_str!("../testdata/ca-no-san.pem");
    /// The fixtures' validity (see testdata/README.md): 2026-11-29T04:44:15Z
    /// to 2036-11-26T04:44:15Z.
    const NOT_BEFORE: i64 = 1_795_927_455;
    const NOT_AFTER: i64 = 2_111_287_455;
    const NOW: ValidateOptions = ValidateOptions { now_unix: NOT_BEFORE + 86_400 };

    fn doc_with(url: &str, pem: &str) -> String {
        render(&RenderParams::new(url, pem)).unwrap()
    }

    fn report(doc: &str, opts: &ValidateOptions) -> Report {
        InitData::parse(doc.as_bytes()).unwrap().validate(opts)
    }

    fn messages(r: &Report, severity: Severity) -> Vec<String> {
        r.findings.iter().filter(|f| f.severity == severity).map(ToString::to_string).collect()
    }

    #[test]
    fn the_walkthrough_document_is_clean() {
        let r = report(&doc_with(HOST, WALKTHROUGH_PEM), &NOW);
        assert!(r.findings.is_empty(), "{r}");
        assert!(r.is_ok());
    }

    #[test]
    fn the_dummy_document_is_clean() {
        let r = report(crate::DUMMY_INITDATA, &NOW);
        assert!(r.findings.is_empty(), "{r}");
    }

    #[test]
    fn certificate_validity() {
        let doc = doc_with(HOST, WALKTHROUGH_PEM);
        let r = report(&doc, &ValidateOptions { now_unix: NOT_AFTER + 1 });
        let errors = messages(&r, Severity::Error);
        // Both embedded copies are reported, each under its own key.
        assert_eq!(errors.len(), 2, "{r}");
        assert!(errors[0].starts_with("error: aa.toml: token_configs.kbs.cert certificate 1"));
        assert!(errors[0].contains("expired"));
        assert!(errors[1].starts_with("error: cdh.toml: kbc.kbs_cert"));

        let r = report(&doc, &ValidateOptions { now_unix: NOT_BEFORE - 1 });
        assert!(r.is_ok(), "{r}");
        assert_eq!(r.warnings().count(), 2, "{r}");
        assert!(r.warnings().all(|w| w.message.contains("not valid before")));

        let r = report(&doc, &ValidateOptions { now_unix: NOT_AFTER - 86_400 });
        assert!(r.is_ok(), "{r}");
        assert!(r.warnings().all(|w| w.message.contains("expires soon")), "{r}");
        assert_eq!(r.warnings().count(), 2);
    }

    #[test]
    fn san_must_cover_the_kbs_host() {
        let r = report(&doc_with("https://kbs.example.com", WALKTHROUGH_PEM), &NOW);
        let errors = messages(&r, Severity::Error);
        assert_eq!(errors.len(), 2, "{r}");
        assert!(errors[0].contains("does not cover the kbs host kbs.example.com"), "{r}");
        assert!(errors[0].contains("DNS:kbs-service-trustee-operator-system"), "{r}");

        for (url, ok) in [
            ("https://kbs.apps.example.com", true),
            ("https://KBS.Apps.Example.com:8443/path", true),
            ("https://apps.example.com", false),
            ("https://a.kbs.apps.example.com", false),
            ("https://192.0.2.7", true),
            ("https://192.0.2.8", false),
            ("https://[2001:db8::1]:8080", true),
            ("https://[2001:db8::2]", false),
        ] {
            let r = report(&doc_with(url, WILDCARD_PEM), &NOW);
            assert_eq!(r.is_ok(), ok, "{url}: {r}");
        }
    }

    #[test]
    fn a_ca_without_san_is_only_a_warning() {
        let r = report(&doc_with(HOST, CA_PEM), &NOW);
        assert!(r.is_ok(), "{r}");
        assert_eq!(r.warnings().count(), 2, "{r}");
        assert!(r.warnings().all(|w| w.message.contains("ca certificate without subjectAltName")));
    }

    #[test]
    fn http_urls_are_warned_about() {
        let doc = doc_with("http://kbs.example.com:8080", WALKTHROUGH_PEM);
        let r = report(&doc, &NOW);
        assert!(r.is_ok(), "{r}");
        let warnings = messages(&r, Severity::Warning);
        assert!(warnings.iter().any(|w| w.contains("plain http")), "{r}");
        assert!(warnings.iter().any(|w| w.contains("is unused")), "{r}");
    }

    #[test]
    fn urls_must_agree() {
        let doc = doc_with(HOST, WALKTHROUGH_PEM);
        let url_line = format!("url = \"{HOST}\"");
        assert_eq!(doc.matches(&url_line).count(), 3);
        // Equal after normalisation: no finding.
        let same = doc.replacen(&url_line, &format!("url = \"{HOST}:443/\""), 1);
        assert!(report(&same, &NOW).findings.is_empty());
        // The coco_as url is the first one in the document.
        let other = doc.replacen(&url_line, "url = \"https://as.example.com\"", 1);
        let r = report(&other, &NOW);
        assert!(r.is_ok(), "{r}");
        let warnings = messages(&r, Severity::Warning);
        assert_eq!(warnings.len(), 1, "{r}");
        assert!(warnings[0].contains("token_configs.coco_as.url"), "{r}");
        // A cdh.toml url that differs from aa.toml's.
        let cdh_other = doc.replace(
            &format!("name = \"cc_kbc\"\n{url_line}"),
            "name = \"cc_kbc\"\nurl = \"https://kbs2.example.com\"",
        );
        let r = report(&cdh_other, &NOW);
        assert!(messages(&r, Severity::Warning).iter().any(|w| w.contains("kbc.url")), "{r}");
        // An unparsable url is an error.
        let bad = doc.replace(HOST, "kbs.example.com");
        let r = report(&bad, &NOW);
        assert!(messages(&r, Severity::Error).iter().any(|e| e.contains("not an http(s) url")), "{r}");
    }

    #[test]
    fn differing_certificates_are_warned_about() {
        let doc = doc_with(HOST, WALKTHROUGH_PEM);
        let cdh_start = doc.find("\"cdh.toml\"").unwrap();
        let (aa, cdh) = doc.split_at(cdh_start);
        let cdh = cdh.replace(WALKTHROUGH_PEM.trim_end_matches('\n'), WILDCARD_PEM.trim_end_matches('\n'));
        let r = report(&format!("{aa}{cdh}"), &NOW);
        assert!(messages(&r, Severity::Warning).iter().any(|w| w.contains("different certificates")), "{r}");
    }

    #[test]
    fn embedded_toml_errors_name_key_and_lines() {
        let doc = doc_with(HOST, WALKTHROUGH_PEM).replace("[token_configs.kbs]", "[token_configs.kbs");
        let r = report(&doc, &NOW);
        let errors: Vec<&Finding> = r.errors().collect();
        assert_eq!(errors.len(), 1, "{r}");
        assert_eq!(errors[0].key.as_deref(), Some("aa.toml"));
        // Line 4 of aa.toml, which starts on line 5 of the document.
        assert!(errors[0].message.starts_with("is not valid toml at line 4, column"), "{r}");
        assert!(errors[0].message.contains("(document line 8)"), "{r}");
        let lines: Vec<&str> = doc.lines().collect();
        assert_eq!(lines[7], "[token_configs.kbs");
    }

    #[test]
    fn embedded_config_shapes() {
        let base = doc_with(HOST, WALKTHROUGH_PEM);
        let cases = [
            ("[kbc]\nname = \"cc_kbc\"\n", "[other]\nname = \"cc_kbc\"\n", "has no [kbc] table"),
            ("name = \"cc_kbc\"\n", "", "[kbc] has no name"),
            ("name = \"cc_kbc\"\n", "name = 1\n", "kbc.name must be a string, found a integer"),
            (
                "image_security_policy_uri = 'kbs:///default/trustee-image-policy/policy'",
                "image_security_policy_uri = 'https://example.com/p'",
                "is not a kbs:/// resource uri",
            ),
        ];
        for (from, to, expected) in cases {
            assert!(base.contains(from), "{from}");
            let doc = base.replacen(from, to, 1);
            let r = report(&doc, &NOW);
            assert!(messages(&r, Severity::Error).iter().any(|e| e.contains(expected)), "{expected}: {r}");
        }
        let doc = base.replacen("[image]\n", "[other]\n", 1).replacen(
            "credentials = []\n",
            "credentials = []\nimage = 5\n",
            1,
        );
        let r = report(&doc, &NOW);
        assert_eq!(
            messages(&r, Severity::Error),
            ["error: cdh.toml: image must be a table, found a integer"]
        );
        // Inline tables deserialise like tables upstream, so they are
        // checked too.
        let inline = "version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n\"aa.toml\" = '''\n\
                      token_configs = { kbs = { url = \"ftp://x\" } }\n'''\n";
        let r = report(inline, &NOW);
        assert!(messages(&r, Severity::Error).iter().any(|e| e.contains("ftp")), "{r}");
    }

    #[test]
    fn policy_and_key_findings() {
        let base = doc_with(HOST, WALKTHROUGH_PEM);
        let doc = base.replace("package agent_policy", "package other");
        let r = report(&doc, &NOW);
        let errors: Vec<&Finding> = r.errors().collect();
        assert_eq!(errors.len(), 1, "{r}");
        assert_eq!(errors[0].key.as_deref(), Some("policy.rego"));

        let doc = format!("extra = \"x\"\n{base}\"notes.txt\" = \"hi\"\n");
        let r = report(&doc, &NOW);
        assert!(r.is_ok(), "{r}");
        let warnings = messages(&r, Severity::Warning);
        assert_eq!(warnings.len(), 2, "{r}");
        assert!(warnings[0].starts_with("warning: unknown top-level key \"extra\""));
        assert!(warnings[1].starts_with("warning: notes.txt: unknown [data] key"));
    }

    #[test]
    fn non_pem_certificates_are_errors() {
        let base = doc_with(HOST, WALKTHROUGH_PEM);
        let pem = WALKTHROUGH_PEM.trim_end_matches('\n');
        for (replacement, expected) in [
            ("not a certificate", "holds no pem certificate"),
            ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", "not a valid x.509"),
            ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "not a CERTIFICATE"),
        ] {
            let r = report(&base.replace(pem, replacement), &NOW);
            let errors = messages(&r, Severity::Error);
            assert_eq!(errors.len(), 2, "{r}");
            assert!(errors.iter().all(|e| e.contains(expected)), "{expected}: {r}");
        }
    }

    #[test]
    fn policy_package() {
        let mut r = Report::default();
        check_policy("# comment\n\n  package agent_policy # why\nallow := true\n", &mut r);
        assert!(r.findings.is_empty(), "{r}");
        for bad in [
            "package other\n",
            "import future.keywords.in\npackage agent_policy\n",
            "package agent_policy.sub\n",
            "",
            "# only a comment\n",
        ] {
            let mut r = Report::default();
            check_policy(bad, &mut r);
            assert_eq!(r.errors().count(), 1, "{bad:?}");
        }
    }

    #[test]
    fn resource_uris() {
        for (uri, ok) in [
            ("kbs:///default/trustee-image-policy/policy", true),
            ("kbs:///default/policy", false),
            ("kbs:///default//policy", false),
            ("kbs://host/default/a/b", false),
            ("https://example.com/policy", false),
            ("file:///etc/policy.json", false),
        ] {
            let mut r = Report::default();
            check_resource_uri(uri, CDH, "image.image_security_policy_uri", &mut r);
            assert_eq!(r.is_ok(), ok, "{uri}: {r}");
        }
    }
}
