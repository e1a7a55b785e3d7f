//! `bundle check`: read a bundle back and report every reference between
//! its objects that does not hold.
//!
//! The check needs no configuration: it takes the bundle's own objects as
//! the truth and reports where they disagree. The Route's host is the KBS
//! host; the TrusteeConfig's Secret names are the key Secrets; the policy
//! URI in `cdh.toml` names the policy Secret; and so on.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use rvkit_initdata::annotation::{self, DecodeOptions};
use rvkit_initdata::{InitData, Severity, ValidateOptions};
use rvkit_rvps::Format;
use serde::Deserialize as _;
use serde_yaml_ng::Value;
use x509_parser::pem::Pem;

use rvkit_names::tls::{self, Host, HttpUrl, SubjectAltName};

use crate::config::{Profile, ServiceType};
use crate::keys::{CertInfo, check_public_key, private_key_spki};
use crate::layout;
use crate::names::{DnsLabel, ObjectName};
use crate::{SERVICE_NAME, SERVICE_PORT, rfc3339};

/// One inconsistency, in one file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Finding {
    /// The file it concerns.
    pub file: String,
    /// What is wrong, lowercase, naming the objects involved.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

/// The outcome of [`check`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Every inconsistency found, sorted by file. Empty means the bundle is
    /// consistent.
    pub findings: Vec<Finding>,
    /// What was not checked, and why.
    pub notes: Vec<String>,
}

/// The check of a bundle directory: `rvkit bundle check`.
///
/// JSON: `{"dir", "consistent", "findings": [{"file", "message"}],
/// "notes"}`. A stable interface: fields may be added, existing ones keep
/// their name and meaning.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckReport {
    /// The bundle directory.
    pub dir: String,
    /// Whether nothing is inconsistent.
    pub consistent: bool,
    /// Every inconsistency, sorted by file.
    pub findings: Vec<Finding>,
    /// What was not checked, and why.
    pub notes: Vec<String>,
    /// How many files the directory holds.
    #[serde(skip)]
    pub files: usize,
}

impl CheckReport {
    /// Reports `report` of the `files` files in `dir`.
    pub fn new(dir: &str, files: usize, report: Report) -> CheckReport {
        CheckReport {
            dir: dir.to_owned(),
            consistent: report.findings.is_empty(),
            findings: report.findings,
            notes: report.notes,
            files,
        }
    }

    /// `note: …`, one line per note.
    pub fn notes_text(&self) -> String {
        self.notes.iter().map(|n| format!("note: {n}\n")).collect()
    }

    /// `error: FILE: MESSAGE`, one line per finding.
    pub fn errors_text(&self) -> String {
        self.findings.iter().map(|f| format!("error: {f}\n")).collect()
    }

    /// The one-line failure, `DIR: N inconsistencies`, if there are any.
    pub fn failure(&self) -> Option<String> {
        let n = self.findings.len();
        (n > 0).then(|| format!("{}: {n} inconsistenc{}", self.dir, if n == 1 { "y" } else { "ies" }))
    }
}

impl fmt::Display for CheckReport {
    /// The [notes](CheckReport::notes_text) and
    /// [errors](CheckReport::errors_text), then `DIR: consistent (N files)`
    /// for a consistent bundle.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.notes_text())?;
        f.write_str(&self.errors_text())?;
        if self.consistent {
            writeln!(f, "{}: consistent ({} files)", self.dir, self.files)?;
        }
        Ok(())
    }
}

/// Checks the bundle whose files (name to contents) are `files`, at
/// `now_unix`.
pub fn check(files: &BTreeMap<String, Vec<u8>>, now_unix: i64) -> Report {
    let mut c = Checker { files, now: now_unix, report: Report::default() };
    c.run();
    c.report.findings.sort();
    c.report.findings.dedup();
    c.report
}

/// A Kubernetes object read from a resource file.
struct Object {
    file: String,
    api_version: String,
    kind: String,
    name: String,
    namespace: Option<String>,
    value: Value,
}

struct Secret {
    file: String,
    type_: String,
    data: BTreeMap<String, Vec<u8>>,
}

struct Checker<'a> {
    files: &'a BTreeMap<String, Vec<u8>>,
    now: i64,
    report: Report,
}

/// The string at `path` in a YAML value.
fn get<'v>(v: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn get_str<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    get(v, path).and_then(Value::as_str)
}

/// The DER of the first PEM certificate in `pem`.
fn first_cert_der(pem: &[u8]) -> Option<Vec<u8>> {
    let block = Pem::iter_from_buffer(pem).next()?.ok()?;
    (block.label == "CERTIFICATE").then_some(block.contents)
}

/// The secret and key of a `kbs:///default/<secret>/<key>` resource URI.
fn parse_resource_uri(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("kbs:///default/")?;
    let (secret, key) = rest.split_once('/')?;
    (!secret.is_empty() && !key.is_empty() && !key.contains('/')).then_some((secret, key))
}

impl Checker<'_> {
    fn finding(&mut self, file: &str, message: impl Into<String>) {
        self.report.findings.push(Finding { file: file.to_owned(), message: message.into() });
    }

    fn run(&mut self) {
        let Some(resources) = self.kustomization() else { return };
        let objects = self.objects(&resources);
        self.unlisted_objects(&resources);
        self.namespaces(&objects);
        let secrets = self.secrets(&objects);

        let host = self.route(&objects);
        let tc = self.trusteeconfig(&objects);
        let tls_secret = tc.as_ref().map(|(_, tls, _)| tls.clone());
        if let Some((_, tls, token)) = &tc {
            self.key_source("httpsSpec.tlsSecretName", tls, true, host.as_deref(), &objects, &secrets);
            self.key_source(
                "attestationTokenVerificationSpec.tlsSecretName",
                token,
                false,
                None,
                &objects,
                &secrets,
            );
        }
        self.issuers(&objects);
        let kbs_cert = self.kbs_cert(tls_secret.as_deref(), &secrets, host.as_deref());

        let docs = self.initdata(host.as_deref(), kbs_cert.as_ref());
        let mut policy_refs: BTreeSet<(String, String, String)> =
            docs.iter().flat_map(|d| d.policy_uri.clone()).collect();
        if docs.is_empty() {
            self.report.notes.push(
                "the bundle has no initdata yet (cert-manager mode before the certificate exists): \
                 initdata, its certificate and the reference values were not checked"
                    .to_owned(),
            );
            if let Some(found) = self.policy_from_file(&secrets) {
                policy_refs.insert(found);
            }
        }
        let referenced = self.image_policy(&policy_refs, &secrets);
        self.kbsconfig_patch(&referenced, &secrets);
        let rv_name = tc.as_ref().map(|(name, _, _)| format!("{name}-rvps-reference-values"));
        self.reference_values(rv_name.as_deref(), &objects, &docs);
    }

    fn kustomization(&mut self) -> Option<Vec<String>> {
        const FILE: &str = layout::KUSTOMIZATION;
        let Some(bytes) = self.files.get(FILE) else {
            self.finding(FILE, "is missing");
            return None;
        };
        let v: Value = match serde_yaml_ng::from_slice(bytes) {
            Ok(v) => v,
            Err(e) => {
                self.finding(FILE, format!("is not valid YAML: {e}"));
                return None;
            }
        };
        if get_str(&v, &["apiVersion"]) != Some("kustomize.config.k8s.io/v1beta1")
            || get_str(&v, &["kind"]) != Some("Kustomization")
        {
            self.finding(FILE, "is not a kustomize.config.k8s.io/v1beta1 Kustomization");
        }
        let Some(list) = get(&v, &["resources"]).and_then(Value::as_sequence) else {
            self.finding(FILE, "has no resources list");
            return None;
        };
        let mut out = Vec::new();
        for r in list {
            match r.as_str() {
                Some(name) if self.files.contains_key(name) => out.push(name.to_owned()),
                Some(name) => self.finding(FILE, format!("lists {name}, which is not in the bundle")),
                None => self.finding(FILE, "has a resource that is not a file name"),
            }
        }
        Some(out)
    }

    fn objects(&mut self, resources: &[String]) -> Vec<Object> {
        let mut out = Vec::new();
        for file in resources {
            let bytes = &self.files[file];
            for (i, doc) in serde_yaml_ng::Deserializer::from_slice(bytes).enumerate() {
                let value = match Value::deserialize(doc) {
                    Ok(Value::Null) => continue,
                    Ok(v) => v,
                    Err(e) => {
                        self.finding(file, format!("document {} is not valid YAML: {e}", i + 1));
                        break;
                    }
                };
                if let Some(o) = self.object(file, value) {
                    out.push(o);
                }
            }
        }
        let mut seen = BTreeSet::new();
        for o in &out {
            if !seen.insert((o.kind.clone(), o.name.clone())) {
                self.report.findings.push(Finding {
                    file: o.file.clone(),
                    message: format!("{} {} is defined more than once", o.kind, o.name),
                });
            }
        }
        out
    }

    /// Checks what the API server requires of every object.
    fn object(&mut self, file: &str, value: Value) -> Option<Object> {
        let api_version = get_str(&value, &["apiVersion"]).filter(|s| !s.is_empty());
        let kind = get_str(&value, &["kind"]).filter(|s| !s.is_empty());
        let name = get_str(&value, &["metadata", "name"]);
        let (Some(api_version), Some(kind), Some(name)) = (api_version, kind, name) else {
            self.finding(file, "is not a Kubernetes object: it needs apiVersion, kind and metadata.name");
            return None;
        };
        if let Err(e) = ObjectName::new(name) {
            self.finding(file, format!("{kind} name: {e}"));
        }
        let namespace = get_str(&value, &["metadata", "namespace"]).map(str::to_owned);
        match &namespace {
            None => self.finding(file, format!("{kind} {name} has no metadata.namespace")),
            Some(ns) => {
                if let Err(e) = DnsLabel::new(ns.as_str()) {
                    self.finding(file, format!("{kind} {name} namespace: {e}"));
                }
            }
        }
        Some(Object {
            file: file.to_owned(),
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            name: name.to_owned(),
            namespace,
            value,
        })
    }

    /// Object files the kustomization does not list would not be applied.
    fn unlisted_objects(&mut self, resources: &[String]) {
        for (file, bytes) in self.files {
            if !file.ends_with(".yaml") || file == layout::KUSTOMIZATION || resources.contains(file) {
                continue;
            }
            let is_object = serde_yaml_ng::from_slice::<Value>(bytes)
                .ok()
                .is_some_and(|v| get_str(&v, &["apiVersion"]).is_some() && get_str(&v, &["kind"]).is_some());
            if is_object {
                self.finding(file, "is a Kubernetes object that kustomization.yaml does not list");
            }
        }
    }

    fn namespaces(&mut self, objects: &[Object]) {
        let expected = objects
            .iter()
            .find(|o| o.kind == "TrusteeConfig")
            .or_else(|| objects.first())
            .and_then(|o| o.namespace.clone());
        let Some(expected) = expected else { return };
        for o in objects {
            if let Some(ns) = &o.namespace
                && *ns != expected
            {
                self.report.findings.push(Finding {
                    file: o.file.clone(),
                    message: format!(
                        "{} {} is in namespace {ns}, the TrusteeConfig in {expected}",
                        o.kind, o.name
                    ),
                });
            }
        }
    }

    fn secrets(&mut self, objects: &[Object]) -> BTreeMap<String, Secret> {
        let mut out = BTreeMap::new();
        for o in objects.iter().filter(|o| o.kind == "Secret") {
            if o.api_version != "v1" {
                self.finding(&o.file, format!("Secret {} has apiVersion {}, not v1", o.name, o.api_version));
            }
            let data = match rvkit_keys::secret::data(&o.value) {
                Ok(data) => data,
                Err(problem) => {
                    self.finding(&o.file, format!("Secret {} {problem}", o.name));
                    BTreeMap::new()
                }
            };
            let type_ = get_str(&o.value, &["type"]).unwrap_or("Opaque").to_owned();
            out.insert(o.name.clone(), Secret { file: o.file.clone(), type_, data });
        }
        out
    }

    /// The bundle's only object of `kind`, after checking its apiVersion;
    /// none or several is a finding.
    fn the_one<'o>(&mut self, objects: &'o [Object], kind: &str, api_version: &str) -> Option<&'o Object> {
        let found: Vec<&Object> = objects.iter().filter(|o| o.kind == kind).collect();
        let [o] = found.as_slice() else {
            let file = found.first().map_or(layout::KUSTOMIZATION, |o| o.file.as_str()).to_owned();
            self.finding(&file, format!("the bundle needs exactly one {kind}, it has {}", found.len()));
            return None;
        };
        if o.api_version != api_version {
            self.finding(
                &o.file,
                format!("{kind} {} has apiVersion {}, not {api_version}", o.name, o.api_version),
            );
        }
        Some(o)
    }

    /// The Route's host, after checking it is the passthrough Route to the KBS.
    fn route(&mut self, objects: &[Object]) -> Option<String> {
        let r = self.the_one(objects, "Route", "route.openshift.io/v1")?;
        let file = r.file.clone();
        let v = &r.value;
        if get_str(v, &["spec", "tls", "termination"]) != Some("passthrough") {
            self.finding(
                &file,
                format!("Route {} is not a passthrough route (spec.tls.termination)", r.name),
            );
        }
        if get_str(v, &["spec", "to", "kind"]) != Some("Service")
            || get_str(v, &["spec", "to", "name"]) != Some(SERVICE_NAME)
        {
            self.finding(&file, format!("Route {} does not lead to the Service {SERVICE_NAME}", r.name));
        }
        if get_str(v, &["spec", "port", "targetPort"]) != Some(SERVICE_PORT) {
            self.finding(&file, format!("Route {} does not target the port {SERVICE_PORT}", r.name));
        }
        match get_str(v, &["spec", "host"]) {
            Some(h) if crate::names::Hostname::new(h).is_ok() => Some(h.to_owned()),
            Some(h) => {
                self.finding(&file, format!("Route {} host {h:?} is not a lowercase DNS name", r.name));
                None
            }
            None => {
                self.finding(&file, format!("Route {} has no spec.host, so the KBS URL is unknown", r.name));
                None
            }
        }
    }

    /// The TrusteeConfig's name and its HTTPS and token Secret names.
    fn trusteeconfig(&mut self, objects: &[Object]) -> Option<(String, String, String)> {
        let tc = self.the_one(objects, "TrusteeConfig", "confidentialcontainers.org/v1alpha1")?;
        let file = tc.file.clone();
        let v = &tc.value;
        // The operator's CRD takes these exactly as spelled, so the canonical
        // spelling is required here, not any case.
        match get_str(v, &["spec", "profileType"]) {
            Some(p) if Profile::ALL.iter().any(|k| k.name() == p) => {}
            Some(other) => self.finding(
                &file,
                format!("TrusteeConfig profileType {other:?} is not one of {}", Profile::names()),
            ),
            None => self.finding(&file, "TrusteeConfig has no spec.profileType"),
        }
        if let Some(t) = get_str(v, &["spec", "kbsServiceType"])
            && !ServiceType::ALL.iter().any(|k| k.name() == t)
        {
            self.finding(
                &file,
                format!("TrusteeConfig kbsServiceType {t:?} is not one of {}", ServiceType::names()),
            );
        }
        let tls = get_str(v, &["spec", "httpsSpec", "tlsSecretName"]);
        let token = get_str(v, &["spec", "attestationTokenVerificationSpec", "tlsSecretName"]);
        let (Some(tls), Some(token)) = (tls, token) else {
            self.finding(&file, "TrusteeConfig must name httpsSpec.tlsSecretName and attestationTokenVerificationSpec.tlsSecretName");
            return None;
        };
        Some((tc.name.clone(), tls.to_owned(), token.to_owned()))
    }

    /// Checks that a Secret the TrusteeConfig names is in the bundle, as a
    /// TLS Secret or as a cert-manager Certificate's `secretName`.
    fn key_source(
        &mut self,
        field: &str,
        name: &str,
        https: bool,
        host: Option<&str>,
        objects: &[Object],
        secrets: &BTreeMap<String, Secret>,
    ) {
        if let Some(s) = secrets.get(name) {
            let file = s.file.clone();
            if s.type_ != "kubernetes.io/tls" {
                self.finding(&file, format!("Secret {name} has type {}, not kubernetes.io/tls", s.type_));
            }
            let (Some(crt), Some(key)) = (s.data.get("tls.crt"), s.data.get("tls.key")) else {
                self.finding(&file, format!("Secret {name} needs both tls.crt and tls.key"));
                return;
            };
            let Some(info) = first_cert_der(crt).and_then(|der| CertInfo::parse(&der).ok()) else {
                self.finding(&file, format!("Secret {name} tls.crt is not a PEM X.509 certificate"));
                return;
            };
            match std::str::from_utf8(key).map_err(|_| "is not text".to_owned()).and_then(private_key_spki) {
                Ok(spki) if spki == info.spki_der => {}
                Ok(_) => self.finding(&file, format!("Secret {name} tls.key does not belong to its tls.crt")),
                Err(e) => self.finding(&file, format!("Secret {name} tls.key {e}")),
            }
            if info.not_after <= self.now {
                self.finding(
                    &file,
                    format!("Secret {name} certificate expired at {}", rfc3339(info.not_after)),
                );
            }
            if https
                && let Some(host) = host
                && !tls::covers(&info.names, &Host::parse(host))
            {
                self.finding(&file, format!("Secret {name} certificate does not name the Route host {host}"));
            }
            return;
        }
        let certs: Vec<&Object> = objects
            .iter()
            .filter(|o| o.kind == "Certificate" && get_str(&o.value, &["spec", "secretName"]) == Some(name))
            .collect();
        let Some(cert) = certs.first() else {
            let file = objects
                .iter()
                .find(|o| o.kind == "TrusteeConfig")
                .map_or(layout::TRUSTEECONFIG, |o| o.file.as_str())
                .to_owned();
            self.finding(
                &file,
                format!("TrusteeConfig {field} names {name}, but no Secret or cert-manager Certificate in the bundle provides it"),
            );
            return;
        };
        let (file, v) = (cert.file.clone(), &cert.value);
        if https && let Some(host) = host {
            // cert-manager puts spec.dnsNames and spec.ipAddresses in the
            // certificate's subjectAltName.
            let list = |key: &str| -> Vec<String> {
                get(v, &["spec", key])
                    .and_then(Value::as_sequence)
                    .map(|s| s.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                    .unwrap_or_default()
            };
            let names: Vec<SubjectAltName> = list("dnsNames")
                .into_iter()
                .map(SubjectAltName::Dns)
                .chain(list("ipAddresses").iter().filter_map(|ip| ip.parse().ok()).map(SubjectAltName::Ip))
                .collect();
            if !tls::covers(&names, &Host::parse(host)) {
                self.finding(
                    &file,
                    format!("Certificate {} dnsNames do not name the Route host {host}", cert.name),
                );
            }
        }
        let hours = |key: &str| get_str(v, &["spec", key]).and_then(|d| d.parse::<crate::Hours>().ok());
        if let (Some(d), Some(r)) = (hours("duration"), hours("renewBefore"))
            && r >= d
        {
            self.finding(
                &file,
                format!("Certificate {} renewBefore {r} is not shorter than its duration {d}", cert.name),
            );
        }
    }

    fn issuers(&mut self, objects: &[Object]) {
        let issuers: BTreeSet<&str> =
            objects.iter().filter(|o| o.kind == "Issuer").map(|o| o.name.as_str()).collect();
        let mut missing = Vec::new();
        for o in objects.iter().filter(|o| o.kind == "Certificate") {
            let kind = get_str(&o.value, &["spec", "issuerRef", "kind"]).unwrap_or("Issuer");
            match get_str(&o.value, &["spec", "issuerRef", "name"]) {
                Some(name) if kind == "Issuer" && !issuers.contains(name) => {
                    missing.push((
                        o.file.clone(),
                        format!("Certificate {} names the Issuer {name}, which is not in the bundle", o.name),
                    ));
                }
                Some(_) => {}
                None => {
                    missing.push((o.file.clone(), format!("Certificate {} has no issuerRef.name", o.name)))
                }
            }
        }
        for (file, message) in missing {
            self.finding(&file, message);
        }
    }

    /// The certificate the guest must trust: the HTTPS Secret's, or
    /// `kbs-https.crt` when cert-manager makes the Secret. Both, when both
    /// are there, must be the same.
    fn kbs_cert(
        &mut self,
        tls_secret: Option<&str>,
        secrets: &BTreeMap<String, Secret>,
        host: Option<&str>,
    ) -> Option<(String, Vec<u8>)> {
        let from_secret = tls_secret.and_then(|n| secrets.get(n).map(|s| (n, s))).and_then(|(n, s)| {
            s.data.get("tls.crt").and_then(|c| first_cert_der(c)).map(|der| (format!("Secret {n}"), der))
        });
        const FILE: &str = layout::KBS_CERT;
        let from_file = match self.files.get(FILE) {
            None => None,
            Some(bytes) => {
                match first_cert_der(bytes).and_then(|der| CertInfo::parse(&der).ok().map(|i| (der, i))) {
                    None => {
                        self.finding(FILE, "is not a PEM X.509 certificate");
                        None
                    }
                    Some((der, info)) => {
                        if info.not_after <= self.now {
                            self.finding(FILE, format!("expired at {}", rfc3339(info.not_after)));
                        }
                        if let Some(host) = host
                            && !tls::covers(&info.names, &Host::parse(host))
                        {
                            self.finding(FILE, format!("does not name the Route host {host}"));
                        }
                        Some(der)
                    }
                }
            }
        };
        match (from_secret, from_file) {
            (Some((label, a)), Some(b)) => {
                if a != b {
                    self.finding(FILE, format!("is not the certificate of {label}"));
                }
                Some((label, a))
            }
            (Some(s), None) => Some(s),
            (None, Some(der)) => Some((FILE.to_owned(), der)),
            (None, None) => None,
        }
    }

    fn initdata(&mut self, host: Option<&str>, kbs_cert: Option<&(String, Vec<u8>)>) -> Vec<Doc> {
        let names: Vec<String> =
            self.files.keys().filter(|f| layout::initdata_stem(f).is_some()).cloned().collect();
        let mut docs = Vec::new();
        for file in &names {
            if let Some(d) = self.initdata_doc(file, host, kbs_cert) {
                docs.push(d);
            }
        }
        for (file, _) in self.files.iter().filter(|(f, _)| f.ends_with(".annotation")) {
            let toml = layout::initdata_document(file.trim_end_matches(".annotation"));
            if !names.contains(&toml) {
                self.report
                    .findings
                    .push(Finding { file: file.clone(), message: format!("has no {toml} beside it") });
            }
        }
        if !docs.is_empty() && kbs_cert.is_none() {
            self.finding(layout::KBS_CERT, "is missing, and no TLS Secret in the bundle holds the KBS certificate the initdata must trust");
        }
        self.peer_pods_snippet();
        self.pcr8_file(&docs);
        docs
    }

    fn initdata_doc(
        &mut self,
        file: &str,
        host: Option<&str>,
        kbs_cert: Option<&(String, Vec<u8>)>,
    ) -> Option<Doc> {
        let raw = &self.files[file];
        let doc = match InitData::parse(raw) {
            Ok(d) => d,
            Err(e) => {
                self.finding(file, format!("is not a valid initdata document: {e}"));
                return None;
            }
        };
        for f in doc.validate(&ValidateOptions { now_unix: self.now }).findings {
            if f.severity == Severity::Error {
                let key = f.key.as_deref().map(|k| format!("{k}: ")).unwrap_or_default();
                self.finding(file, format!("{key}{}", f.message));
            }
        }
        let aa = doc.get("aa.toml").and_then(|t| t.parse::<toml_edit::DocumentMut>().ok());
        let cdh = doc.get("cdh.toml").and_then(|t| t.parse::<toml_edit::DocumentMut>().ok());
        let mut urls = Vec::new();
        let mut certs = Vec::new();
        if let Some(aa) = &aa {
            let kbs = aa.get("token_configs").and_then(|t| t.get("kbs"));
            let coco = aa.get("token_configs").and_then(|t| t.get("coco_as"));
            urls.push((
                "aa.toml token_configs.kbs.url",
                kbs.and_then(|k| k.get("url")).and_then(|u| u.as_str()),
            ));
            urls.push((
                "aa.toml token_configs.coco_as.url",
                coco.and_then(|k| k.get("url")).and_then(|u| u.as_str()),
            ));
            certs.push((
                "aa.toml token_configs.kbs.cert",
                kbs.and_then(|k| k.get("cert")).and_then(|u| u.as_str()),
            ));
        } else {
            self.finding(file, "has no readable aa.toml");
        }
        let mut policy_uri = None;
        if let Some(cdh) = &cdh {
            let kbc = cdh.get("kbc");
            urls.push(("cdh.toml kbc.url", kbc.and_then(|k| k.get("url")).and_then(|u| u.as_str())));
            certs.push((
                "cdh.toml kbc.kbs_cert",
                kbc.and_then(|k| k.get("kbs_cert")).and_then(|u| u.as_str()),
            ));
            match cdh.get("image").and_then(|i| i.get("image_security_policy_uri")).and_then(|u| u.as_str()) {
                None => self.finding(
                    file,
                    "cdh.toml has no image.image_security_policy_uri: image signatures would not be checked",
                ),
                Some(uri) => match parse_resource_uri(uri) {
                    Some((s, k)) => policy_uri = Some((s.to_owned(), k.to_owned(), file.to_owned())),
                    None => self.finding(
                        file,
                        format!(
                            "cdh.toml image_security_policy_uri {uri:?} is not kbs:///default/<secret>/<key>"
                        ),
                    ),
                },
            }
        } else {
            self.finding(file, "has no readable cdh.toml");
        }
        for (what, url) in urls {
            match (url, host) {
                (None, _) => self.finding(file, format!("{what} is missing")),
                (Some(url), Some(host)) if !url_is_host(url, host) => {
                    self.finding(file, format!("{what} is {url}, but the Route host is {host}"));
                }
                _ => {}
            }
        }
        if let Some((label, expected)) = kbs_cert {
            for (what, pem) in certs {
                match pem.and_then(|p| first_cert_der(p.as_bytes())) {
                    None => self.finding(file, format!("{what} holds no certificate")),
                    Some(der) if der != *expected => {
                        self.finding(file, format!("{what} is not the certificate of {label}"))
                    }
                    Some(_) => {}
                }
            }
        }

        let ann = layout::initdata_annotation(file.trim_end_matches(".toml"));
        match self.files.get(&ann) {
            None => self.finding(&ann, format!("is missing: {file} has no annotation")),
            Some(text) => match annotation::decode(text, &DecodeOptions::default()) {
                Ok(d) if d.bytes == *raw => {}
                Ok(_) => self.finding(&ann, format!("does not decode to {file}")),
                Err(e) => self.finding(&ann, format!("is not a valid annotation: {e}")),
            },
        }
        Some(Doc { file: file.to_owned(), pcr8: doc.pcr8().to_hex(), policy_uri })
    }

    fn peer_pods_snippet(&mut self) {
        const FILE: &str = layout::PEER_PODS_SNIPPET;
        let Some(bytes) = self.files.get(FILE) else {
            if self.files.contains_key(&layout::initdata_document(layout::INITDATA_STEM)) {
                self.finding(FILE, "is missing: the default initdata has no peer-pods ConfigMap snippet");
            }
            return;
        };
        let value = serde_yaml_ng::from_slice::<Value>(bytes).ok();
        let snippet = value.as_ref().and_then(|v| get_str(v, &["data", "INITDATA"]));
        let annotation = self
            .files
            .get(&layout::initdata_annotation(layout::INITDATA_STEM))
            .and_then(|a| std::str::from_utf8(a).ok());
        match (snippet, annotation) {
            (None, _) => self.finding(FILE, "has no data.INITDATA"),
            (Some(s), Some(a)) if s != a.trim_end() => {
                self.finding(FILE, "INITDATA is not initdata.annotation")
            }
            (Some(_), None) => self.finding(FILE, "has no initdata.annotation to compare with"),
            _ => {}
        }
    }

    fn pcr8_file(&mut self, docs: &[Doc]) {
        const FILE: &str = layout::PCR8;
        let Some(bytes) = self.files.get(FILE) else {
            if !docs.is_empty() {
                self.finding(FILE, "is missing");
            }
            return;
        };
        let text = String::from_utf8_lossy(bytes).into_owned();
        let mut listed = BTreeSet::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let Some((hex, file)) = line.split_once("  ") else {
                self.finding(FILE, format!("line {line:?} is not \"<pcr8>  <file>\""));
                continue;
            };
            listed.insert(file.to_owned());
            match docs.iter().find(|d| d.file == file) {
                None => self
                    .finding(FILE, format!("lists {file}, which is not an initdata document of the bundle")),
                Some(d) if d.pcr8 != hex => {
                    self.finding(FILE, format!("gives {hex} for {file}, whose PCR8 is {}", d.pcr8))
                }
                Some(_) => {}
            }
        }
        for d in docs {
            if !listed.contains(&d.file) {
                self.finding(FILE, format!("does not list {}", d.file));
            }
        }
    }

    /// In a bundle without initdata, the policy Secret is the one holding
    /// `verification-policy.json`.
    fn policy_from_file(&mut self, secrets: &BTreeMap<String, Secret>) -> Option<(String, String, String)> {
        let policy = self.files.get(layout::VERIFICATION_POLICY)?;
        let found = secrets.iter().find_map(|(name, s)| {
            s.data.iter().find(|(_, v)| *v == policy).map(|(k, _)| (name.clone(), k.clone()))
        });
        match found {
            Some((s, k)) => Some((s, k, layout::VERIFICATION_POLICY.to_owned())),
            None => {
                self.finding(layout::VERIFICATION_POLICY, "is held by no Secret of the bundle");
                None
            }
        }
    }

    /// Checks the policy Secret(s) and every `keyPath`; returns the Secrets
    /// the KBS must serve, each with why.
    fn image_policy(
        &mut self,
        refs: &BTreeSet<(String, String, String)>,
        secrets: &BTreeMap<String, Secret>,
    ) -> BTreeMap<String, String> {
        let mut referenced = BTreeMap::new();
        for (secret, key, from) in refs {
            referenced.insert(secret.clone(), format!("the image policy of {from}"));
            let Some(s) = secrets.get(secret) else {
                self.finding(
                    from,
                    format!("the image policy URI names the Secret {secret}, which is not in the bundle"),
                );
                continue;
            };
            let Some(bytes) = s.data.get(key) else {
                self.finding(
                    &s.file.clone(),
                    format!("Secret {secret} has no key {key}, which {from} names as its image policy"),
                );
                continue;
            };
            let file = s.file.clone();
            if let Some(f) = self.files.get(layout::VERIFICATION_POLICY)
                && f != bytes
            {
                self.finding(
                    layout::VERIFICATION_POLICY,
                    format!("differs from the policy in Secret {secret} ({key})"),
                );
            }
            let policy: serde_json::Value = match serde_json::from_slice(bytes) {
                Ok(v) => v,
                Err(e) => {
                    self.finding(&file, format!("Secret {secret} {key} is not JSON: {e}"));
                    continue;
                }
            };
            if policy.get("default").and_then(|d| d.as_array()).is_none_or(|d| d.is_empty()) {
                self.finding(&file, format!("Secret {secret} {key} has no default requirement"));
            }
            let transports =
                policy.get("transports").and_then(|t| t.as_object()).cloned().unwrap_or_default();
            for (transport, scopes) in &transports {
                for (scope, reqs) in scopes.as_object().into_iter().flatten() {
                    for req in reqs.as_array().into_iter().flatten() {
                        if req.get("type").and_then(|t| t.as_str()) != Some("sigstoreSigned") {
                            continue;
                        }
                        let path = req.get("keyPath").and_then(|p| p.as_str()).unwrap_or("");
                        let Some((ks, kk)) = parse_resource_uri(path) else {
                            self.finding(&file, format!("Secret {secret}: {transport} {scope} keyPath {path:?} is not kbs:///default/<secret>/<key>"));
                            continue;
                        };
                        referenced.insert(ks.to_owned(), format!("the keyPath of {scope}"));
                        match secrets.get(ks).map(|s| (s, s.data.get(kk))) {
                            None => self.finding(&file, format!("Secret {secret}: the keyPath of {scope} names the Secret {ks}, which is not in the bundle")),
                            Some((_, None)) => self.finding(&file, format!("Secret {secret}: the keyPath of {scope} names {ks}/{kk}, but Secret {ks} has no key {kk}")),
                            Some((s, Some(pem))) => {
                                if let Err(e) = check_public_key(Path::new(&format!("{ks}/{kk}")), pem) {
                                    let f = s.file.clone();
                                    self.finding(&f, format!("Secret {ks}: {e}"));
                                }
                            }
                        }
                    }
                }
            }
        }
        referenced
    }

    fn kbsconfig_patch(&mut self, referenced: &BTreeMap<String, String>, secrets: &BTreeMap<String, Secret>) {
        const FILE: &str = layout::KBSCONFIG_PATCH;
        let Some(bytes) = self.files.get(FILE) else {
            if !referenced.is_empty() {
                self.finding(FILE, "is missing: the KBS would not serve the image-policy Secrets");
            }
            return;
        };
        let ops = match serde_yaml_ng::from_slice::<Value>(bytes) {
            Ok(Value::Sequence(ops)) => ops,
            Ok(_) => {
                self.finding(FILE, "is not a list of JSON patch operations");
                return;
            }
            Err(e) => {
                self.finding(FILE, format!("is not valid YAML: {e}"));
                return;
            }
        };
        let mut added = BTreeSet::new();
        for (i, op) in ops.iter().enumerate() {
            let n = i + 1;
            if get_str(op, &["op"]) != Some("add")
                || get_str(op, &["path"]) != Some("/spec/kbsSecretResources/-")
            {
                self.finding(FILE, format!("operation {n} is not an add to /spec/kbsSecretResources/-"));
                continue;
            }
            match get_str(op, &["value"]) {
                Some(name) if secrets.contains_key(name) => {
                    added.insert(name.to_owned());
                }
                Some(name) => self.finding(
                    FILE,
                    format!("operation {n} adds the Secret {name}, which is not in the bundle"),
                ),
                None => self.finding(FILE, format!("operation {n} has no Secret name as its value")),
            }
        }
        for (name, why) in referenced {
            if !added.contains(name) {
                self.finding(FILE, format!("does not add the Secret {name} ({why}) to kbsSecretResources"));
            }
        }
    }

    fn reference_values(&mut self, name: Option<&str>, objects: &[Object], docs: &[Doc]) {
        let Some(name) = name else { return };
        let Some(cm) = objects.iter().find(|o| o.kind == "ConfigMap" && o.name == name) else {
            if !docs.is_empty() {
                self.finding(
                    layout::KUSTOMIZATION,
                    format!("the bundle has initdata but no ConfigMap {name} with its reference values"),
                );
            }
            return;
        };
        let file = cm.file.clone();
        let data = get(&cm.value, &["data"]);
        let found: Vec<(Format, &str)> = [Format::Array, Format::Kv]
            .into_iter()
            .filter_map(|f| {
                f.default_data_key().and_then(|k| data.and_then(|d| get_str(d, &[k])).map(|text| (f, text)))
            })
            .collect();
        let [(format, text)] = found.as_slice() else {
            self.finding(
                &file,
                format!(
                    "ConfigMap {name} needs exactly one of the keys reference-values.json or reference_value"
                ),
            );
            return;
        };
        let values = match rvkit_rvps::parse_published(text.as_bytes(), *format) {
            Ok(v) => v,
            Err(e) => {
                self.finding(&file, format!("ConfigMap {name}: {e}"));
                return;
            }
        };
        for rv in &values {
            if rv.expiration.to_unix() <= self.now {
                self.finding(&file, format!("reference value {} expired at {}", rv.name, rv.expiration));
            }
        }
        let pcr8: Vec<_> = values.iter().filter(|rv| rv.name.as_str().ends_with("_pcr08")).collect();
        if !docs.is_empty() {
            // Every TEE the values are for needs its PCR8 value, or no guest
            // of that TEE with initdata passes attestation.
            let tees: BTreeSet<&str> = values
                .iter()
                .filter_map(|rv| rv.name.as_str().split_once("_pcr").map(|(tee, _)| tee))
                .collect();
            for tee in tees {
                if !pcr8.iter().any(|rv| rv.name.as_str() == format!("{tee}_pcr08")) {
                    self.finding(
                        &file,
                        format!(
                            "has no {tee}_pcr08 reference value: no {tee} guest with initdata would pass"
                        ),
                    );
                }
            }
            if pcr8.is_empty() && values.is_empty() {
                self.finding(&file, "holds no reference values");
            }
        }
        for rv in &pcr8 {
            let allowed: Vec<&str> =
                rv.value.as_array().into_iter().flatten().filter_map(|v| v.as_str()).collect();
            for d in docs {
                if !allowed.contains(&d.pcr8.as_str()) {
                    self.finding(&file, format!("{} does not allow {} (PCR8 {})", rv.name, d.file, d.pcr8));
                }
            }
        }
    }
}

/// An initdata document of the bundle, as far as other checks need it.
struct Doc {
    file: String,
    pcr8: String,
    /// The policy Secret, key, and this document's file name.
    policy_uri: Option<(String, String, String)>,
}

/// Whether `url` is `https://<host>`, compared as initdata's validation
/// compares KBS URLs ([`HttpUrl`]: an explicit port 443, a bare `/` path,
/// host case and a trailing dot make no difference).
fn url_is_host(url: &str, host: &str) -> bool {
    HttpUrl::parse(url).is_ok_and(|u| u == HttpUrl::https_root(Host::parse(host)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_uris() {
        assert_eq!(
            parse_resource_uri("kbs:///default/trustee-image-policy/policy"),
            Some(("trustee-image-policy", "policy"))
        );
        assert_eq!(parse_resource_uri("kbs:///default/a/b/c"), None);
        assert_eq!(parse_resource_uri("kbs://host/default/a/b"), None);
        assert_eq!(parse_resource_uri("kbs:///default//b"), None);
    }

    #[test]
    fn an_empty_bundle_is_reported() {
        let r = check(&BTreeMap::new(), 0);
        assert_eq!(r.findings, [Finding { file: "kustomization.yaml".into(), message: "is missing".into() }]);
    }
}
