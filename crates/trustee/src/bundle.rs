//! Rendering a bundle: every object of the walkthrough, in its own file,
//! plus the kustomization that lists them and the steps still to run.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rvkit_initdata::annotation::{self, ANNOTATION_KEY};
use rvkit_initdata::render::RenderParams;
use rvkit_initdata::{InitData, Severity, ValidateOptions};
use rvkit_names::tls::Host;
use rvkit_pcr::Digest;
use rvkit_rvps::{ConfigMapOptions, EmitInput, Expiration, Measurements};

use crate::config::{Config, KeyMode};
use crate::keys::{KbsCert, LocalKeys, TlsPair, check_public_key};
use crate::layout;
use crate::names::{DataKey, ObjectName};
use crate::yaml::{header, item, kv, open};
use crate::{
    DEPLOYMENT_NAME, Error, KBSCONFIG_NAME, RV_CONFIGMAP_NAME, SERVICE_NAME, SERVICE_PORT, TRUSTEECONFIG_NAME,
};

/// The entries of an `Opaque` Secret: key and bytes.
type SecretData<'a> = Vec<(&'a DataKey, &'a [u8])>;

/// Everything [`render`] reads besides the configuration.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The current time (Unix seconds): certificate validity, default and
    /// checked expirations.
    pub now_unix: i64,
    /// The contents of [`Config::referenced_files`], keyed by the path as the
    /// configuration gives it.
    pub files: BTreeMap<PathBuf, Vec<u8>>,
    /// `measurements.json` of podvm images the caller fetched and verified,
    /// each with a label for messages (the pinned image reference).
    pub image_measurements: Vec<(String, Vec<u8>)>,
    /// The KBS HTTPS certificate in `cert-manager` mode, with where it came
    /// from; without it only the objects that do not depend on it are
    /// rendered (the first of two phases).
    pub kbs_cert: Option<(String, KbsCert)>,
    /// The keys `local` mode writes ([`LocalKeys::generate`]).
    pub local_keys: Option<LocalKeys>,
}

impl Inputs {
    /// Inputs with nothing but the time.
    pub fn new(now_unix: i64) -> Inputs {
        Inputs {
            now_unix,
            files: BTreeMap::new(),
            image_measurements: Vec::new(),
            kbs_cert: None,
            local_keys: None,
        }
    }

    pub(crate) fn file(&self, field: &str, path: &Path) -> Result<&[u8], Error> {
        self.files
            .get(path)
            .map(Vec::as_slice)
            .ok_or_else(|| Error::MissingInput { field: field.to_owned(), path: path.to_owned() })
    }

    fn text(&self, field: &str, path: &Path) -> Result<String, Error> {
        String::from_utf8(self.file(field, path)?.to_vec()).map_err(|_| Error::Invalid {
            field: field.to_owned(),
            reason: format!("{} is not UTF-8 text", path.display()),
        })
    }
}

/// One file of a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleFile {
    /// The file name (no directories).
    pub name: String,
    /// The contents.
    pub contents: Vec<u8>,
    /// Whether it holds a private key: such files must be created with mode
    /// 0600 and never printed.
    pub private: bool,
}

impl BundleFile {
    fn public(name: impl Into<String>, contents: impl Into<Vec<u8>>) -> BundleFile {
        BundleFile { name: name.into(), contents: contents.into(), private: false }
    }

    /// The Unix permission bits to create the file with.
    pub fn mode(&self) -> u32 {
        if self.private { 0o600 } else { 0o644 }
    }
}

/// A rendered bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The files, in the order the kustomization lists the objects, then
    /// the rest; [`MANIFEST`](layout::MANIFEST) last.
    pub files: Vec<BundleFile>,
    /// The KBS URL the guest is configured with.
    pub kbs_url: String,
    /// False in `cert-manager` mode before the certificate exists: initdata
    /// and reference values are still missing.
    pub complete: bool,
    /// The PCR8 of each initdata document, by file name.
    pub pcr8: Vec<(String, Digest)>,
    /// Things worth telling the user that do not stop rendering.
    pub warnings: Vec<String>,
}

/// What a render wrote: `rvkit bundle --json`.
///
/// JSON: `{"dir", "kbs_url", "complete", "files", "pcr8": {file: hex}}`. A
/// stable interface: fields may be added, existing ones keep their name and
/// meaning.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RenderReport {
    /// The bundle directory.
    pub dir: String,
    /// The KBS URL the guest is configured with.
    pub kbs_url: String,
    /// Whether initdata and reference values are there (see [`Bundle::complete`]).
    pub complete: bool,
    /// The files written, in bundle order.
    pub files: Vec<String>,
    /// The PCR8 of each initdata document, by file name.
    pub pcr8: BTreeMap<String, String>,
}

impl Bundle {
    /// The report of writing this bundle to `dir`.
    pub fn report(&self, dir: &str) -> RenderReport {
        RenderReport {
            dir: dir.to_owned(),
            kbs_url: self.kbs_url.clone(),
            complete: self.complete,
            files: self.files.iter().map(|f| f.name.clone()).collect(),
            pcr8: self.pcr8.iter().map(|(f, d)| (f.clone(), d.to_hex())).collect(),
        }
    }
}

impl fmt::Display for RenderReport {
    /// How many files were written where, and for an incomplete bundle
    /// what comes next.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "wrote {} files to {}", self.files.len(), self.dir)?;
        if !self.complete {
            writeln!(
                f,
                "note: cert-manager issues the KBS certificate only once these objects are applied; \
                 initdata and reference values follow in a second run (see {}/{})",
                self.dir,
                layout::NEXT_STEPS
            )?;
        }
        Ok(())
    }
}

/// Renders the bundle for `config`.
///
/// In `local` mode `inputs.local_keys` must be set; in `cert-manager` mode
/// `inputs.kbs_cert`, when set, completes the bundle. The result is checked
/// with [`crate::check()`] before it is returned, so a bundle that would
/// fail the check (say, a variant document pointing at another KBS) is an
/// error, not a file.
pub fn render(config: &Config, inputs: &Inputs) -> Result<Bundle, Error> {
    config.validate()?;
    let host = config.host()?;
    let kbs_url = config.kbs_url()?;
    let now = inputs.now_unix;
    let ns = config.namespace.as_str();
    let mut warnings = config.warnings();
    // Checked in both phases: a first cert-manager run writes no reference
    // values yet, but its configuration must not fail the second.
    if let Some(expiration) = config.reference_values.expiration {
        let field = "reference_values.expiration";
        let what = crate::flag_of(field).map_or(field.to_owned(), |flag| format!("{field} ({flag})"));
        expiration.require_future(&what, now).map_err(Error::ReferenceValues)?;
    }

    // Which certificate the guest will trust, and where the key Secrets come from.
    let (kbs_cert, local) = match (config.keys, &inputs.local_keys, &inputs.kbs_cert) {
        (KeyMode::Local, Some(keys), None) => {
            let cert =
                KbsCert::from_pem("the generated kbs-https certificate", keys.https.cert_pem.as_bytes())?;
            (Some(cert), Some(keys))
        }
        (KeyMode::Local, None, _) => {
            return Err(Error::Invalid {
                field: "keys".to_owned(),
                reason: "local mode needs generated keys".to_owned(),
            });
        }
        (KeyMode::Local, Some(_), Some(_)) => {
            return Err(Error::Invalid {
                field: "keys".to_owned(),
                reason: "a kbs certificate is given only in cert-manager mode; local mode makes its own"
                    .to_owned(),
            });
        }
        (KeyMode::CertManager, _, Some((origin, cert))) => {
            cert.check_serves(origin, host.as_str(), now)?;
            (Some(cert.clone()), None)
        }
        (KeyMode::CertManager, _, None) => (None, None),
    };

    let mut resources: Vec<BundleFile> = Vec::new();
    let mut others: Vec<BundleFile> = Vec::new();

    match local {
        None => {
            resources.push(BundleFile::public(layout::ISSUER, issuer(config)));
            resources.push(BundleFile::public(
                layout::HTTPS_CERTIFICATE,
                https_certificate(config, host.as_str()),
            ));
            resources.push(BundleFile::public(layout::TOKEN_CERTIFICATE, token_certificate(config)));
        }
        Some(keys) => {
            let c = &config.certificate;
            resources.push(tls_secret(&c.tls_secret, ns, &keys.https));
            resources.push(tls_secret(&c.token_secret, ns, &keys.token));
        }
    }
    resources.push(BundleFile::public(layout::TRUSTEECONFIG, trusteeconfig(config)));
    resources.push(BundleFile::public(layout::ROUTE, route(config, host.as_str())));

    // The image policy and the public keys of signed images, grouped into
    // their Secrets. Nothing reads them before an initdata document points
    // the guest at them, so the first cert-manager phase leaves them, and
    // the key files, to the second: a template renders at once, and the
    // policy it will enforce is the same.
    let mut key_secrets: Vec<(&ObjectName, SecretData)> = Vec::new();
    if kbs_cert.is_some() {
        for rule in &config.image_policy.signed {
            let bytes = inputs.file("image_policy.signed.key", &rule.key)?;
            check_public_key(&rule.key, bytes)?;
            match key_secrets.iter_mut().find(|(name, _)| *name == &rule.secret) {
                Some((_, keys)) => {
                    if !keys.iter().any(|(k, _)| *k == &rule.secret_key) {
                        keys.push((&rule.secret_key, bytes));
                    }
                }
                None => key_secrets.push((&rule.secret, vec![(&rule.secret_key, bytes)])),
            }
        }
        for (name, keys) in &key_secrets {
            resources.push(BundleFile::public(
                layout::secret(name.as_str()),
                opaque_secret(name.as_str(), ns, keys),
            ));
        }
        let policy = verification_policy(config);
        let p = &config.image_policy;
        resources.push(BundleFile::public(
            layout::secret(p.policy_secret.as_str()),
            opaque_secret(p.policy_secret.as_str(), ns, &[(&p.policy_key, policy.as_bytes())]),
        ));
        others.push(BundleFile::public(layout::VERIFICATION_POLICY, policy));
        let secret_resources: Vec<&str> = key_secrets
            .iter()
            .map(|(name, _)| name.as_str())
            .chain(std::iter::once(p.policy_secret.as_str()))
            .collect();
        others.push(BundleFile::public(layout::KBSCONFIG_PATCH, kbsconfig_patch(&secret_resources)));
    }

    let mut pcr8 = Vec::new();
    if let Some(cert) = &kbs_cert {
        others.push(BundleFile::public(layout::KBS_CERT, cert.pem.clone()));
        let docs = initdata_documents(config, inputs, &kbs_url, &cert.pem, &mut warnings)?;
        for (stem, text) in &docs {
            let doc = InitData::parse(text)
                .map_err(|source| Error::Initdata { label: layout::initdata_document(stem), source })?;
            pcr8.push((layout::initdata_document(stem), doc.pcr8()));
            let encoded = annotation::encode(text);
            if stem == layout::INITDATA_STEM {
                others.push(BundleFile::public(layout::PEER_PODS_SNIPPET, peer_pods_snippet(&encoded)));
            }
            others.push(BundleFile::public(layout::initdata_document(stem), text.clone()));
            others.push(BundleFile::public(layout::initdata_annotation(stem), format!("{encoded}\n")));
        }
        let pcr8_text: String = pcr8.iter().map(|(file, d)| format!("{}  {file}\n", d.to_hex())).collect();
        others.push(BundleFile::public(layout::PCR8, pcr8_text));
        resources.push(BundleFile::public(
            layout::RVPS_CONFIGMAP,
            reference_values(config, inputs, &docs, &mut warnings)?,
        ));
    }

    let complete = kbs_cert.is_some();
    let names: Vec<&str> = resources.iter().map(|f| f.name.as_str()).collect();
    let kustomization = kustomization(&names);
    let next = next_steps(
        config,
        host.as_str(),
        complete,
        &key_secrets.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        &pcr8,
    );
    let mut files = vec![BundleFile::public(layout::KUSTOMIZATION, kustomization)];
    files.append(&mut resources);
    files.append(&mut others);
    files.push(BundleFile::public(layout::NEXT_STEPS, next));
    let manifest = layout::manifest(files.iter().map(|f| f.name.as_str()));
    files.push(BundleFile::public(layout::MANIFEST, manifest));

    // Never hand out a bundle that its own check would reject.
    let map: BTreeMap<String, Vec<u8>> = files.iter().map(|f| (f.name.clone(), f.contents.clone())).collect();
    let report = crate::check::check(&map, now);
    if !report.findings.is_empty() {
        let lines: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
        return Err(Error::Invalid { field: "bundle".to_owned(), reason: lines.join("; ") });
    }
    Ok(Bundle { files, kbs_url, complete, pcr8, warnings })
}

/// The default document (`initdata`) and the variants (`initdata-<name>`),
/// as `(file stem, bytes)`.
fn initdata_documents(
    config: &Config,
    inputs: &Inputs,
    kbs_url: &str,
    cert_pem: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let opts = ValidateOptions { now_unix: inputs.now_unix };
    let render_with = |label: &str, policy: Option<&PathBuf>, field: &str| -> Result<Vec<u8>, Error> {
        let agent_policy = policy.map(|p| inputs.text(field, p)).transpose()?;
        let params = RenderParams {
            kbs_url: kbs_url.to_owned(),
            kbs_cert_pem: cert_pem.to_owned(),
            image_policy_uri: config.image_policy_uri(),
            agent_policy,
            algorithm: config.initdata.algorithm,
        };
        rvkit_initdata::render::render(&params)
            .map(String::into_bytes)
            .map_err(|source| Error::Initdata { label: label.to_owned(), source })
    };
    let mut docs = vec![(
        layout::INITDATA_STEM.to_owned(),
        render_with(
            &layout::initdata_document(layout::INITDATA_STEM),
            config.initdata.agent_policy.as_ref(),
            "initdata.agent_policy",
        )?,
    )];
    for v in &config.initdata.variants {
        let stem = layout::variant_stem(v.name.as_str());
        let label = layout::initdata_document(&stem);
        let bytes = match (&v.agent_policy, &v.document) {
            (Some(policy), _) => render_with(&label, Some(policy), "initdata.variants.agent_policy")?,
            (None, Some(doc)) => inputs.file("initdata.variants.document", doc)?.to_vec(),
            (None, None) => unreachable!("Config::validate requires one of them"),
        };
        docs.push((stem, bytes));
    }
    for (stem, bytes) in &docs {
        let label = format!("{stem}.toml");
        let doc =
            InitData::parse(bytes).map_err(|source| Error::Initdata { label: label.clone(), source })?;
        let report = doc.validate(&opts);
        let errors: Vec<String> = report.errors().map(ToString::to_string).collect();
        if !errors.is_empty() {
            return Err(Error::InitdataInvalid { label, findings: errors.join("; ") });
        }
        warnings.extend(
            report
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Warning)
                .map(|f| format!("{label}: {f}")),
        );
    }
    Ok(docs)
}

fn reference_values(
    config: &Config,
    inputs: &Inputs,
    docs: &[(String, Vec<u8>)],
    warnings: &mut Vec<String>,
) -> Result<String, Error> {
    let rv = &config.reference_values;
    let expiration = rv.expiration.unwrap_or_else(|| Expiration::default_at(inputs.now_unix));
    let mut measurements = Vec::new();
    for path in &config.podvm.measurements {
        let label = path.display().to_string();
        let bytes = inputs.file("podvm.measurements", path)?;
        let (m, w) = Measurements::parse_labeled(bytes, &label)
            .map_err(|source| Error::Rvps { label: label.clone(), source })?;
        warnings.extend(w.iter().map(ToString::to_string));
        measurements.push((label, m));
    }
    for (label, bytes) in &inputs.image_measurements {
        let (m, w) = Measurements::parse_labeled(bytes, label)
            .map_err(|source| Error::Rvps { label: label.clone(), source })?;
        warnings.extend(w.iter().map(ToString::to_string));
        measurements.push((label.clone(), m));
    }
    let input = EmitInput {
        measurements,
        initdata: docs.iter().map(|(stem, bytes)| (format!("{stem}.toml"), bytes.as_slice())).collect(),
        include_dummy_initdata: rv.dummy_initdata,
        pcr_prefixes: rv.pcr_prefixes.clone(),
        bank: rvkit_pcr::HashAlg::Sha256,
        expiration,
    };
    let label = || "reference values".to_owned();
    let (set, w) = rvkit_rvps::build(&input).map_err(|source| Error::Rvps { label: label(), source })?;
    warnings.extend(w.iter().map(ToString::to_string));
    let set = crate::launch::merge_extra(config, inputs, set, expiration)?;
    let opts = ConfigMapOptions {
        name: RV_CONFIGMAP_NAME.to_owned(),
        namespace: config.namespace.to_string(),
        data_key: None,
    };
    rvkit_rvps::render_configmap(&set, rv.format, &opts)
        .map_err(|source| Error::Rvps { label: label(), source })
}

fn issuer(config: &Config) -> String {
    let mut y = String::new();
    header(
        &mut y,
        "cert-manager.io/v1",
        "Issuer",
        config.certificate.issuer.as_str(),
        config.namespace.as_str(),
    );
    open(&mut y, 0, "spec");
    y.push_str("  selfSigned: {}\n");
    y
}

/// The walkthrough's `kbs-https` Certificate: RSA 2048 PKCS#1, the KBS host
/// as DNS name, one year, renewed 15 days before it expires.
fn https_certificate(config: &Config, host: &str) -> String {
    let c = &config.certificate;
    let mut y = String::new();
    header(&mut y, "cert-manager.io/v1", "Certificate", "kbs-https", config.namespace.as_str());
    open(&mut y, 0, "spec");
    kv(&mut y, 2, "commonName", &c.common_name);
    open(&mut y, 2, "subject");
    open(&mut y, 4, "organizations");
    item(&mut y, 4, &c.organization);
    // An address host goes in the certificate's iPAddress entries: TLS
    // clients never match an address against a dNSName (rvkit_names::tls).
    let sans = match Host::parse(host) {
        Host::Ip(_) => "ipAddresses",
        Host::Dns(_) => "dnsNames",
    };
    open(&mut y, 2, sans);
    item(&mut y, 2, host);
    open(&mut y, 2, "privateKey");
    kv(&mut y, 4, "algorithm", "RSA");
    kv(&mut y, 4, "encoding", "PKCS1");
    y.push_str("    size: 2048\n");
    kv(&mut y, 2, "duration", &c.duration.to_string());
    kv(&mut y, 2, "renewBefore", &c.renew_before.to_string());
    kv(&mut y, 2, "secretName", c.tls_secret.as_str());
    open(&mut y, 2, "issuerRef");
    kv(&mut y, 4, "name", c.issuer.as_str());
    kv(&mut y, 4, "kind", "Issuer");
    y
}

/// The walkthrough's `kbs-token` Certificate: ECDSA P-256 PKCS#8.
fn token_certificate(config: &Config) -> String {
    let c = &config.certificate;
    let mut y = String::new();
    header(&mut y, "cert-manager.io/v1", "Certificate", "kbs-token", config.namespace.as_str());
    open(&mut y, 0, "spec");
    open(&mut y, 2, "dnsNames");
    item(&mut y, 2, SERVICE_NAME);
    kv(&mut y, 2, "secretName", c.token_secret.as_str());
    open(&mut y, 2, "issuerRef");
    kv(&mut y, 4, "name", c.issuer.as_str());
    open(&mut y, 2, "privateKey");
    kv(&mut y, 4, "algorithm", "ECDSA");
    kv(&mut y, 4, "encoding", "PKCS8");
    y.push_str("    size: 256\n");
    y
}

/// A `kubernetes.io/tls` Secret, as `oc create secret tls` writes it.
fn tls_secret(name: &ObjectName, ns: &str, pair: &TlsPair) -> BundleFile {
    let mut y = String::new();
    header(&mut y, "v1", "Secret", name.as_str(), ns);
    kv(&mut y, 0, "type", "kubernetes.io/tls");
    open(&mut y, 0, "data");
    kv(&mut y, 2, "tls.crt", &STANDARD.encode(&pair.cert_pem));
    kv(&mut y, 2, "tls.key", &STANDARD.encode(pair.key_pem()));
    BundleFile { name: layout::secret(name.as_str()), contents: y.into_bytes(), private: true }
}

/// An `Opaque` Secret, as `oc create secret generic --from-file=KEY=FILE`
/// writes it: the file's bytes, base64-encoded.
fn opaque_secret(name: &str, ns: &str, entries: &[(&DataKey, &[u8])]) -> String {
    let mut y = String::new();
    header(&mut y, "v1", "Secret", name, ns);
    kv(&mut y, 0, "type", "Opaque");
    open(&mut y, 0, "data");
    for (key, bytes) in entries {
        kv(&mut y, 2, key.as_str(), &STANDARD.encode(bytes));
    }
    y
}

fn trusteeconfig(config: &Config) -> String {
    let c = &config.certificate;
    let mut y = String::new();
    kv(&mut y, 0, "apiVersion", "confidentialcontainers.org/v1alpha1");
    kv(&mut y, 0, "kind", "TrusteeConfig");
    open(&mut y, 0, "metadata");
    open(&mut y, 2, "labels");
    kv(&mut y, 4, "app.kubernetes.io/name", "trusteeconfig");
    kv(&mut y, 4, "app.kubernetes.io/instance", "trusteeconfig");
    kv(&mut y, 4, "app.kubernetes.io/part-of", "trustee-operator");
    kv(&mut y, 4, "app.kubernetes.io/managed-by", "kustomize");
    kv(&mut y, 4, "app.kubernetes.io/created-by", "trustee-operator");
    kv(&mut y, 2, "name", TRUSTEECONFIG_NAME);
    kv(&mut y, 2, "namespace", config.namespace.as_str());
    open(&mut y, 0, "spec");
    kv(&mut y, 2, "profileType", config.profile.name());
    kv(&mut y, 2, "kbsServiceType", config.service_type.name());
    open(&mut y, 2, "httpsSpec");
    kv(&mut y, 4, "tlsSecretName", c.tls_secret.as_str());
    open(&mut y, 2, "attestationTokenVerificationSpec");
    kv(&mut y, 4, "tlsSecretName", c.token_secret.as_str());
    y
}

/// What `oc create route passthrough NAME --service=kbs-service
/// --port=kbs-port` creates, with the host written out so that it is known
/// before the router assigns one.
fn route(config: &Config, host: &str) -> String {
    let mut y = String::new();
    header(&mut y, "route.openshift.io/v1", "Route", config.route_name.as_str(), config.namespace.as_str());
    open(&mut y, 0, "spec");
    kv(&mut y, 2, "host", host);
    open(&mut y, 2, "port");
    kv(&mut y, 4, "targetPort", SERVICE_PORT);
    open(&mut y, 2, "tls");
    kv(&mut y, 4, "termination", "passthrough");
    open(&mut y, 2, "to");
    kv(&mut y, 4, "kind", "Service");
    kv(&mut y, 4, "name", SERVICE_NAME);
    y.push_str("    weight: 100\n");
    kv(&mut y, 2, "wildcardPolicy", "None");
    y
}

/// `verification-policy.json` exactly as the walkthrough's heredoc writes
/// it (no indentation), one `sigstoreSigned` scope after the other.
fn verification_policy(config: &Config) -> String {
    let p = &config.image_policy;
    let mut out = String::new();
    out.push_str("{\n\"default\": [\n{\n\"type\": \"");
    out.push_str(p.default_policy.name());
    out.push_str("\"\n}\n],\n\"transports\": {\n\"docker\": {\n");
    for (i, rule) in p.signed.iter().enumerate() {
        if i > 0 {
            out.push_str(",\n");
        }
        // Scopes, secret names and keys are checked to need no JSON escaping.
        out.push_str(&format!(
            "\"{}\":\n[\n{{\n\"type\": \"sigstoreSigned\",\n\"keyPath\": \"kbs:///default/{}/{}\"\n}}\n]",
            rule.scope, rule.secret, rule.secret_key
        ));
    }
    if !p.signed.is_empty() {
        out.push('\n');
    }
    out.push_str("}\n}\n}\n");
    out
}

/// The walkthrough's `oc patch --type=json` operations, as a JSON 6902
/// patch in YAML (read by `oc patch --patch-file` and by kustomize).
fn kbsconfig_patch(secrets: &[&str]) -> String {
    let mut y = format!(
        "# JSON patch (RFC 6902) for the KbsConfig {KBSCONFIG_NAME} that the TrusteeConfig creates:\n\
         # it adds the image-signature Secrets to the resources the KBS serves. See NEXT-STEPS.md.\n"
    );
    for s in secrets {
        y.push_str("- op: add\n  path: /spec/kbsSecretResources/-\n");
        kv(&mut y, 2, "value", s);
    }
    y
}

fn peer_pods_snippet(encoded: &str) -> String {
    let mut y = String::from(
        "# Merge patch for the peer-pods-cm ConfigMap (openshift-sandboxed-containers-operator):\n\
         # the default initdata of every peer pod without its own annotation. See NEXT-STEPS.md.\n",
    );
    open(&mut y, 0, "data");
    kv(&mut y, 2, "INITDATA", encoded);
    y
}

fn kustomization(resources: &[&str]) -> String {
    let mut y = String::from("# Apply with: oc apply -k <this directory>\n");
    kv(&mut y, 0, "apiVersion", "kustomize.config.k8s.io/v1beta1");
    kv(&mut y, 0, "kind", "Kustomization");
    open(&mut y, 0, "resources");
    for r in resources {
        item(&mut y, 0, r);
    }
    y.push_str(&format!(
        "# kbsconfig-patch.yaml is not listed under patches: the KbsConfig {KBSCONFIG_NAME} is created by\n\
         # the operator, not by this kustomization, and kustomize silently skips a patch whose target\n\
         # is not among its resources. A pipeline that manages that KbsConfig itself can add:\n\
         # patches:\n\
         # - path: kbsconfig-patch.yaml\n\
         #   target:\n\
         #     group: confidentialcontainers.org\n\
         #     version: v1alpha1\n\
         #     kind: KbsConfig\n\
         #     name: {KBSCONFIG_NAME}\n"
    ));
    y
}

fn next_steps(
    config: &Config,
    host: &str,
    complete: bool,
    key_secrets: &[&str],
    pcr8: &[(String, Digest)],
) -> String {
    let ns = config.namespace.as_str();
    let c = &config.certificate;
    let mut m = String::new();
    m.push_str("# Next steps\n\n");
    m.push_str(&format!(
        "This bundle configures Trustee in namespace `{ns}` for the KBS at `https://{host}`.\n\
         Run the commands from this directory. `rvkit bundle check .` checks that its objects\n\
         still refer to each other correctly after any edit.\n\n"
    ));
    let mut step = 0;
    let mut next = |title: &str| {
        step += 1;
        format!("## {step}. {title}\n\n")
    };
    if config.keys == KeyMode::CertManager && !complete {
        m.push_str(&next("Create the objects and let cert-manager issue the certificates"));
        m.push_str(&format!(
            "    oc apply -k .\n    oc wait certificate/kbs-https certificate/kbs-token -n {ns} --for=condition=Ready --timeout=5m\n\n"
        ));
        m.push_str(&next("Complete the bundle with the issued certificate"));
        m.push_str(&format!(
            "The initdata documents embed the KBS certificate, and the reference values their PCR8,\n\
             so they are rendered once cert-manager has issued it. Save the Secret outside this\n\
             directory and render again with the same configuration:\n\n\
             \x20   oc get secret {tls} -n {ns} -o yaml > ../{tls}.yaml\n\
             \x20   rvkit bundle --config <your trustee.toml> -o . --kbs-cert-from-secret ../{tls}.yaml\n\n\
             (or `--kbs-cert FILE` with the certificate in PEM). That run adds the image policy and\n\
             its key Secrets, `initdata.toml`, its annotation, `pcr8.txt` and `rvps-configmap.yaml`\n\
             (so it reads the image-signing keys and podvm inputs too), and a NEXT-STEPS.md with the\n\
             remaining steps (apply again, add the image-policy Secrets to the KbsConfig, restart\n\
             Trustee, give peer pods the initdata). When cert-manager renews the certificate, it\n\
             changes, and so do the initdata and its PCR8: render and apply again.\n",
            tls = c.tls_secret
        ));
        return m;
    }
    m.push_str(&next("Create the objects"));
    m.push_str("    oc apply -k .\n\n");
    if config.keys == KeyMode::Local {
        m.push_str(&format!(
            "`secret-{}.yaml` and `secret-{}.yaml` hold private keys (mode 0600). Keep them out of\n\
             version control, or seal them, before committing this directory. `rvkit bundle` run again\n\
             into this directory keeps these keys while they fit the configuration, so the KBS\n\
             certificate, initdata and PCR8 stay the same; `--new-keys` rotates them.\n\n",
            c.tls_secret, c.token_secret
        ));
    }
    m.push_str(&format!(
        "Some trustee-operator versions reset the reference-value ConfigMap `{RV_CONFIGMAP_NAME}`\n\
         when they reconcile the TrusteeConfig. If `oc get configmap {RV_CONFIGMAP_NAME} -n {ns} -o yaml`\n\
         does not show this bundle's values, apply them again:\n\n\
         \x20   oc apply -f rvps-configmap.yaml\n\n"
    ));
    m.push_str(&next("Let the KBS serve the image-signature Secrets"));
    let names: Vec<String> = key_secrets
        .iter()
        .map(|s| format!("`{s}`"))
        .chain(std::iter::once(format!("`{}`", config.image_policy.policy_secret)))
        .collect();
    m.push_str(&format!(
        "The TrusteeConfig creates the KbsConfig `{KBSCONFIG_NAME}`; add {} to its\n\
         `kbsSecretResources` (once: every run appends):\n\n\
         \x20   oc patch kbsconfig {KBSCONFIG_NAME} -n {ns} --type=json --patch-file kbsconfig-patch.yaml\n\
         \x20   oc get kbsconfig {KBSCONFIG_NAME} -n {ns} -o jsonpath='{{.spec.kbsSecretResources}}'\n\n",
        names.join(" and ")
    ));
    m.push_str(&next("Restart Trustee"));
    m.push_str(&format!("    oc rollout restart deployment/{DEPLOYMENT_NAME} -n {ns}\n\n"));
    m.push_str(&next("Give peer pods the initdata"));
    m.push_str(&format!(
        "Every peer pod without its own annotation uses the default initdata of the peer-pods ConfigMap:\n\n\
         \x20   oc patch configmap peer-pods-cm -n openshift-sandboxed-containers-operator --type merge \\\n\
         \x20     --patch-file peer-pods-cm-initdata.yaml\n\n\
         A pod that needs another document carries it in the annotation `{ANNOTATION_KEY}`\n\
         (for a Deployment, under `spec.template.metadata.annotations`), for example:\n\n\
         \x20   {ANNOTATION_KEY}: <contents of initdata.annotation>\n\n"
    ));
    m.push_str("The PCR8 each document gives (all are in the reference values):\n\n");
    for (file, d) in pcr8 {
        m.push_str(&format!("    {}  {file}\n", d.to_hex()));
    }
    m.push('\n');
    m.push_str(&next("Verify"));
    m.push_str(&format!(
        "    oc get pods -n {ns}\n\
         \x20   POD_NAME=$(oc get pods -n {ns} -l app=kbs -o jsonpath='{{.items[0].metadata.name}}')\n\
         \x20   oc logs -n {ns} \"$POD_NAME\"\n\n\
         Both pods (`{DEPLOYMENT_NAME}-…` and `trustee-operator-controller-manager-…`) are\n\
         Running, and the KBS log ends with `Starting HTTPS server at [0.0.0.0:8080]`. The Route\n\
         presents the certificate the guests trust:\n\n\
         \x20   openssl s_client -connect {host}:443 -servername {host} </dev/null 2>/dev/null \\\n\
         \x20     | openssl x509 | diff - kbs-https.crt && echo same certificate\n"
    ));
    m
}

/// A commented starting `trustee.toml` with the walkthrough's values
/// (`rvkit bundle --init`). Its domain is a placeholder under the reserved
/// `.example` domain, which [`Config::warnings`] names until it is replaced;
/// the expiration is left to its default, 12 months from the render.
pub fn init_template() -> &'static str {
    INIT_TEMPLATE
}

const INIT_TEMPLATE: &str = r#"# rvkit bundle configuration: the Trustee setup of the walkthrough, in one place.
# Render with:  rvkit bundle --config trustee.toml -o trustee-bundle
# Every field can also be given (or overridden) as a command-line flag: see rvkit bundle --help.
# Relative paths are relative to this file's directory.

# The cluster's ingress domain: oc get ingress.config/cluster -o jsonpath='{.spec.domain}'
# The KBS host is then <route_name>-<namespace>.<domain>, as OpenShift names the Route.
# This one is a placeholder (.example is reserved and never resolves): rvkit bundle warns
# until you replace it.
domain = "apps.my-cluster.example"
# Or name the KBS host directly (instead of domain):
# kbs_host = "kbs.example.com"
namespace = "trustee-operator-system"
route_name = "kbs-service"
# Restricted (every security flag on) or Permissive.
profile = "Restricted"
# ClusterIP, NodePort or LoadBalancer.
service_type = "ClusterIP"
# cert-manager: a self-signed Issuer and two Certificates (needs the cert-manager operator;
#   the initdata is rendered in a second run, once the certificate exists: see NEXT-STEPS.md).
# local: rvkit generates the keys now and writes kubernetes.io/tls Secrets.
keys = "cert-manager"

[certificate]
common_name = "kbs-trustee-operator-system"
organization = "my_org"
duration = "8760h"
renew_before = "360h"
issuer = "kbs-issuer"
tls_secret = "trustee-tls-cert"
token_secret = "trustee-token-cert"

[image_policy]
# For images no rule below names: reject, or insecureAcceptAnything.
default_policy = "reject"
policy_secret = "trustee-image-policy"
policy_key = "policy"

# Images under scope must be signed by key; the guest fetches the key from the KBS as
# kbs:///default/<secret>/<secret_key>. The keys are read by the run that renders the
# initdata (with cert-manager, the second one). The walkthrough's signing key for this scope:
#   curl -L https://raw.githubusercontent.com/confidential-devhub/workshop-on-ARO-showroom/refs/heads/showroom/helpers/cosign.pub -o cosign.pub
[[image_policy.signed]]
scope = "quay.io/confidential-devhub/signed"
key = "cosign.pub"
secret = "conf-devhub-signature"
secret_key = "pub-key"

[initdata]
# sha256 (peer pods measure initdata into PCR8 with SHA-256), sha384 or sha512.
algorithm = "sha256"
# A Kata agent policy (Rego) instead of the walkthrough's (which allows logs, forbids exec):
# agent_policy = "policy.rego"

# Per-pod variants, each with its own agent policy or a whole document of its own:
# [[initdata.variants]]
# name = "debug"
# agent_policy = "debug-policy.rego"
# [[initdata.variants]]
# name = "custom"
# document = "custom-initdata.toml"

[reference_values]
# array (ConfigMap key reference-values.json, Trustee up to v0.18) or kv (v0.19 and later).
format = "array"
# When the values expire [default: 12 months from today, 00:00:00Z]:
# expiration = "2027-12-31T00:00:00Z"
# Also accept pods that run without any initdata.
dummy_initdata = false
pcr_prefixes = ["snp", "tdx"]
# Reference-value files merged in, as rvkit rvps merge merges them (any format rvkit reads):
# merge = ["launch-values.yaml"]

[podvm]
# Signed podvm images to read measurements from (the manifest's measurement annotations when it
# has them, else /image/measurements.json; see measurements_from); pin them by digest. The first
# cert-manager run does not read them (nor the files below): only the second one does.
images = ["registry.redhat.io/openshift-sandboxed-containers/osc-dm-verity-image@sha256:e633bc27853f811d919e64461d0c917e659f5430458abe2304a4c85b0d871c80"]
# Red Hat's image-signing key and Rekor public key, and the cluster pull secret:
#   curl -L https://security.access.redhat.com/data/63405576.txt -o cosign-pub-key.pem
#   curl -L https://tuf-default.apps.rosa.rekor-prod.2jng.p3.openshiftapps.com/targets/rekor.pub -o rekor.pub
#   oc get -n openshift-config secret/pull-secret -o json | jq -r '.data.".dockerconfigjson"' | base64 -d > cluster-pull-secret.json
key = "cosign-pub-key.pem"
rekor_key = "rekor.pub"
authfile = "cluster-pull-secret.json"
# Or measurements.json files you already have (instead of, or besides, images):
# measurements = ["podvm/measurements.json"]
image_platform = "linux/amd64"
retries = 3
# Where measurements are read from: auto, annotations or layers [default: auto].
# measurements_from = "auto"

# Bare metal (kata-qemu-snp, kata-qemu-tdx): launch values computed from what QEMU is given,
# as rvkit launch snp|tdx computes them (the fields are its flags). Each table adds its values
# (snp_launch_measurement; mr_td, rtmr_0, rtmr_1, rtmr_2, tdvfkernel, tdvfkernelparams). With launch
# tables or merge files, [podvm] may be left out.
# [launch]
# base64 = false         # true for Trustee v0.17 and earlier, which compare base64
# [[launch.snp]]
# ovmf = "/usr/share/ovmf/OVMF.fd"
# kernel = "vmlinuz"
# initrd = "initrd.img"
# append = "console=hvc0 nr_cpus=1 agent.launch_process_timeout=60"
# vcpus = "1-8"
# kata = true            # nr_cpus= follows each vCPU count; vcpu_type defaults to EPYC-v4
# vcpu_type = "EPYC-v4"
# vmm = "qemu"
# guest_features = "0x1" # 0x21 for host kernels 6.6 and 6.7
# [[launch.tdx]]
# ovmf = "/usr/share/ovmf/OVMF.inteltdx.fd"
# kernel = "vmlinuz"
# initrd = "initrd.img"
# append = "console=hvc0"
# qemu_kernel_patch = false  # true for older QEMU (Ubuntu 25.04's, RHEL's QEMU 9.1)
# memory = 2048              # MiB, where that patch places the initrd and QEMU's TD HOB
# # rtmr_0: QEMU's fw_cfg ACPI files, from /sys/firmware/qemu_fw_cfg/by_name/NAME/raw in a guest
# fw_cfg = { "etc/table-loader" = "table-loader", "etc/acpi/tables" = "tables", "etc/acpi/rsdp" = "rsdp" }
# secure_boot_variable = "absent"  # "0" for firmware built with Secure Boot and no keys (OVMF.fd)
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_init_template_reads_as_the_walkthrough_configuration() {
        let c = Config::from_toml("init", init_template()).unwrap();
        c.validate().unwrap();
        assert_eq!(c.host().unwrap().as_str(), "kbs-service-trustee-operator-system.apps.my-cluster.example");
        assert_eq!(c.warnings().len(), 1, "the placeholder domain is named");
        let defaults = Config { domain: c.domain.clone(), ..Config::default() };
        assert_eq!(c.namespace, defaults.namespace);
        assert_eq!(c.certificate, defaults.certificate);
        assert_eq!(c.image_policy.policy_secret, defaults.image_policy.policy_secret);
        assert_eq!(c.image_policy.signed[0].secret.as_str(), "conf-devhub-signature");
        assert_eq!(c.reference_values.expiration, None, "the default, 12 months from the render");
        assert_eq!(c.podvm.images.len(), 1);
    }

    #[test]
    fn the_init_templates_launch_section_reads_once_uncommented() {
        let t = init_template();
        let at = t.find("# [[launch.snp]]").unwrap();
        let uncommented: String =
            t[at..].lines().map(|l| format!("{}\n", l.strip_prefix("# ").unwrap_or(l))).collect();
        let merge = t.replace("# merge = [", "merge = [");
        let c = Config::from_toml(
            "init",
            &format!("{}{uncommented}", &merge[..merge.find("# [[launch.snp]]").unwrap()]),
        )
        .unwrap();
        c.validate().unwrap();
        let snp = &c.launch.snp[0];
        assert_eq!((snp.vcpus.counts(), snp.kata, snp.guest_features), (1..=8, true, 1));
        assert_eq!(c.launch.tdx[0].append.as_deref(), Some("console=hvc0"));
        assert_eq!(c.reference_values.merge, [std::path::PathBuf::from("launch-values.yaml")]);
    }

    #[test]
    fn verification_policy_shapes() {
        let mut c = Config::from_toml("init", init_template()).unwrap();
        let one = verification_policy(&c);
        let v: serde_json::Value = serde_json::from_str(&one).unwrap();
        assert_eq!(
            v["transports"]["docker"]["quay.io/confidential-devhub/signed"][0]["keyPath"],
            "kbs:///default/conf-devhub-signature/pub-key"
        );
        let mut second = c.image_policy.signed[0].clone();
        second.scope = "registry.example.com".parse().unwrap();
        c.image_policy.signed.push(second);
        let v: serde_json::Value = serde_json::from_str(&verification_policy(&c)).unwrap();
        assert_eq!(v["transports"]["docker"].as_object().unwrap().len(), 2);
        c.image_policy.signed.clear();
        c.image_policy.default_policy = crate::DefaultPolicy::InsecureAcceptAnything;
        let text = verification_policy(&c);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["default"][0]["type"], "insecureAcceptAnything");
        assert!(v["transports"]["docker"].as_object().unwrap().is_empty());
    }
}
