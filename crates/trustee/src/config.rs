//! The bundle configuration (`trustee.toml`): every value the walkthrough
//! sets by hand, with the walkthrough's values as defaults.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rvkit_image_access::ImageAccess;
use rvkit_launch::request::{SnpRequest, TdxRequest};
use rvkit_pcr::HashAlg;
use rvkit_rvps::{Expiration, Format, PcrPrefix};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;
use crate::names::{DataKey, DnsLabel, Hostname, ImageScope, ObjectName};

/// Defines a configuration enum with the project's spelled-enum rule
/// ([`rvkit_names::spelled_enum!`]: case-insensitive parsing, one canonical
/// spelling), an [`Error::Invalid`] naming the field, and serde through the
/// spellings.
macro_rules! config_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        rvkit_names::spelled_enum! {
            $(#[$doc])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            pub enum $name {
                $($(#[$vdoc])* $variant = $text),+
            }
            error: Error = |s| Error::Invalid {
                field: $what.to_owned(),
                reason: format!("{s:?} is not one of {}", $name::names()),
            };
        }
        rvkit_names::spelled_serde!($name);
    };
}

config_enum!(
    /// The TrusteeConfig `profileType`.
    Profile, "profile" {
        /// Every security flag on (HTTPS, authenticated admin API, signed tokens).
        Restricted = "Restricted",
        /// The operator's relaxed defaults (debug logging, sample resources).
        Permissive = "Permissive",
    }
);

config_enum!(
    /// The KBS Service type (`kbsServiceType`).
    ServiceType, "service_type" {
        /// Reachable inside the cluster; the Route exposes it.
        ClusterIp = "ClusterIP",
        /// Also on a port of every node.
        NodePort = "NodePort",
        /// Also through a cloud load balancer.
        LoadBalancer = "LoadBalancer",
    }
);

config_enum!(
    /// How the KBS HTTPS and attestation-token keys are made.
    KeyMode, "keys" {
        /// cert-manager issues them from a self-signed Issuer in the cluster;
        /// initdata needs a second run once the certificate exists.
        CertManager = "cert-manager",
        /// rvkit generates them now and writes `kubernetes.io/tls` Secrets.
        Local = "local",
    }
);

config_enum!(
    /// The image policy for images no rule names.
    DefaultPolicy, "default_policy" {
        /// Refuse them.
        Reject = "reject",
        /// Run them without a signature check.
        InsecureAcceptAnything = "insecureAcceptAnything",
    }
);

/// A whole number of hours, written `8760h` as cert-manager writes durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Hours(pub u32);

impl Hours {
    /// The duration in seconds.
    pub fn seconds(self) -> i64 {
        i64::from(self.0) * 3600
    }
}

impl FromStr for Hours {
    type Err = Error;
    fn from_str(s: &str) -> Result<Hours, Error> {
        s.strip_suffix('h')
            .filter(|n| !n.is_empty() && n.len() <= 6 && n.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|&n| n > 0)
            .map(Hours)
            .ok_or_else(|| Error::Invalid {
                field: "duration".to_owned(),
                reason: format!("{s:?} is not a whole number of hours such as \"8760h\""),
            })
    }
}

impl fmt::Display for Hours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}h", self.0)
    }
}

impl Serialize for Hours {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Hours {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Hours, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// Serde through `FromStr`/`Display` for types of other crates.
mod via_str {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<T: Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }

    pub mod option {
        use super::*;

        pub fn serialize<T: Display, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
            match v {
                Some(v) => s.collect_str(v),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
        where
            T: FromStr,
            T::Err: Display,
            D: Deserializer<'de>,
        {
            match Option::<String>::deserialize(d)? {
                Some(s) => s.parse().map(Some).map_err(serde::de::Error::custom),
                None => Ok(None),
            }
        }
    }

    pub mod vec {
        use serde::ser::SerializeSeq;

        use super::*;

        pub fn serialize<T: Display, S: Serializer>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(v.len()))?;
            for item in v {
                seq.serialize_element(&item.to_string())?;
            }
            seq.end()
        }

        pub fn deserialize<'de, T, D>(d: D) -> Result<Vec<T>, D::Error>
        where
            T: FromStr,
            T::Err: Display,
            D: Deserializer<'de>,
        {
            Vec::<String>::deserialize(d)?
                .iter()
                .map(|s| s.parse().map_err(serde::de::Error::custom))
                .collect()
        }
    }
}

/// The whole configuration. Every field has the walkthrough's value as its
/// default except the cluster's domain, which only the cluster knows.
/// Paths are relative to the directory of the configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The Trustee namespace.
    pub namespace: DnsLabel,
    /// The cluster's ingress domain (`oc get ingress.config/cluster -o
    /// jsonpath='{.spec.domain}'`); the KBS host is then
    /// `<route_name>-<namespace>.<domain>`, as OpenShift names Routes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<Hostname>,
    /// An explicit KBS host instead of one derived from `domain`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kbs_host: Option<Hostname>,
    /// The Route's name.
    pub route_name: DnsLabel,
    /// The TrusteeConfig profile.
    pub profile: Profile,
    /// The KBS Service type.
    pub service_type: ServiceType,
    /// How keys are made.
    pub keys: KeyMode,
    /// The KBS certificates.
    pub certificate: CertificateConfig,
    /// Container image signature verification.
    pub image_policy: ImagePolicyConfig,
    /// The initdata documents.
    pub initdata: InitdataConfig,
    /// The reference-value ConfigMap.
    pub reference_values: ReferenceValuesConfig,
    /// Where the podvm measurements come from.
    pub podvm: PodvmConfig,
    /// Bare-metal launch values computed from the artifacts QEMU is given.
    pub launch: LaunchConfig,
}

/// Bare-metal launch values (kata-qemu-snp, kata-qemu-tdx), computed as
/// `rvkit launch snp|tdx` computes them, with the same fields as its flags;
/// every table adds its values to the reference values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LaunchConfig {
    /// SEV-SNP launches (`snp_launch_measurement`).
    pub snp: Vec<SnpRequest>,
    /// TDX launches (`mr_td`, and for direct kernel boot `rtmr_1`, `rtmr_2`,
    /// `tdvfkernel`, `tdvfkernelparams`).
    pub tdx: Vec<TdxRequest>,
    /// Write the launch values in base64, as Trustee up to v0.17 compared
    /// them, instead of hex (v0.18 and later).
    pub base64: bool,
}

impl LaunchConfig {
    /// Whether no launch is configured.
    pub fn is_empty(&self) -> bool {
        self.snp.is_empty() && self.tdx.is_empty()
    }

    /// The files the launches read, each with its field.
    pub fn files(&self) -> Vec<(&'static str, &Path)> {
        let field = |tee: &str, f: &str| -> &'static str {
            match (tee, f) {
                ("snp", "ovmf") => "launch.snp.ovmf",
                ("snp", "kernel") => "launch.snp.kernel",
                ("snp", _) => "launch.snp.initrd",
                (_, "ovmf") => "launch.tdx.ovmf",
                (_, "kernel") => "launch.tdx.kernel",
                (_, "fw_cfg") => "launch.tdx.fw_cfg",
                (_, "td_hob") => "launch.tdx.td_hob",
                _ => "launch.tdx.initrd",
            }
        };
        let snp = self.snp.iter().flat_map(|r| r.files()).map(|(f, p)| (field("snp", f), p));
        let tdx = self.tdx.iter().flat_map(|r| r.files()).map(|(f, p)| (field("tdx", f), p));
        snp.chain(tdx).collect()
    }

    fn paths_mut(&mut self) -> impl Iterator<Item = &mut PathBuf> {
        let snp = self.snp.iter_mut().flat_map(|r| [Some(&mut r.ovmf), r.kernel.as_mut(), r.initrd.as_mut()]);
        snp.flatten().chain(self.tdx.iter_mut().flat_map(TdxRequest::paths_mut))
    }
}

/// The KBS HTTPS certificate (`kbs-https`) and the attestation-token key
/// (`kbs-token`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CertificateConfig {
    /// The HTTPS certificate's subject CN.
    pub common_name: String,
    /// The HTTPS certificate's subject O.
    pub organization: String,
    /// How long certificates are valid.
    pub duration: Hours,
    /// When cert-manager renews the HTTPS certificate, before it expires.
    pub renew_before: Hours,
    /// The cert-manager Issuer's name.
    pub issuer: ObjectName,
    /// The Secret with the HTTPS key and certificate.
    pub tls_secret: ObjectName,
    /// The Secret with the attestation-token key and certificate.
    pub token_secret: ObjectName,
}

/// The image-signature policy and its Secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImagePolicyConfig {
    /// What happens to images no rule names.
    pub default_policy: DefaultPolicy,
    /// The Secret holding the policy.
    pub policy_secret: ObjectName,
    /// The policy's key in that Secret.
    pub policy_key: DataKey,
    /// Images that must be signed, each with its public key.
    pub signed: Vec<SignedImage>,
}

/// One `sigstoreSigned` rule: images under `scope` must be signed by `key`,
/// which the guest fetches from the KBS as `kbs:///default/<secret>/<secret_key>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedImage {
    /// Registry, repository or image the rule covers.
    pub scope: ImageScope,
    /// The public key file (PEM).
    pub key: PathBuf,
    /// The Secret the key is stored in.
    pub secret: ObjectName,
    /// The key's name in that Secret.
    #[serde(default = "default_pub_key")]
    pub secret_key: DataKey,
}

/// The initdata documents: the default one (for the peer-pods ConfigMap) and
/// per-pod variants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InitdataConfig {
    /// The document's digest algorithm.
    #[serde(with = "via_str")]
    pub algorithm: HashAlg,
    /// A Kata agent policy (Rego) instead of the walkthrough's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_policy: Option<PathBuf>,
    /// Per-pod variants, each used through a pod annotation.
    pub variants: Vec<Variant>,
}

/// A per-pod initdata document: the default one with another agent policy,
/// or a document of its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Names its files (`initdata-<name>.toml`).
    pub name: DnsLabel,
    /// The variant's Kata agent policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_policy: Option<PathBuf>,
    /// A complete initdata document, used byte for byte.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<PathBuf>,
}

/// The reference values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReferenceValuesConfig {
    /// The ConfigMap format: `array` or `kv` (`sample` is not a ConfigMap).
    #[serde(with = "via_str")]
    pub format: Format,
    /// When the values expire [default: 12 months from today, midnight UTC].
    #[serde(with = "via_str::option", skip_serializing_if = "Option::is_none")]
    pub expiration: Option<Expiration>,
    /// Also allow the PCR8 of the built-in dummy initdata (pods without any).
    pub dummy_initdata: bool,
    /// The vTPM PCR name prefixes (`snp`, `tdx`); `tees` is the old name of
    /// the key, read for one release.
    #[serde(with = "via_str::vec", alias = "tees")]
    pub pcr_prefixes: Vec<PcrPrefix>,
    /// Reference-value files (any format rvkit reads, ConfigMaps included)
    /// merged with the computed values as `rvkit rvps merge` merges them.
    pub merge: Vec<PathBuf>,
}

/// Where podvm measurements come from: signed podvm images, verified the way
/// `rvkit podvm verify` does, or measurements files.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PodvmConfig {
    /// Podvm images to read measurements from (their manifest annotations or
    /// `/image/measurements.json`, as `measurements_from` says).
    pub images: Vec<String>,
    /// `measurements.json` files.
    pub measurements: Vec<PathBuf>,
    /// How the images are reached and verified (keys, registries, retries,
    /// ...): fields of the same table.
    #[serde(flatten)]
    pub access: ImageAccess,
}

fn default_pub_key() -> DataKey {
    DataKey::new("pub-key").expect("a valid key")
}

fn name<T: FromStr<Err = Error>>(s: &str) -> T {
    s.parse().unwrap_or_else(|e| panic!("built-in default {s:?}: {e}"))
}

impl Default for Config {
    fn default() -> Config {
        Config {
            namespace: name(rvkit_rvps::DEFAULT_NAMESPACE),
            domain: None,
            kbs_host: None,
            route_name: name("kbs-service"),
            profile: Profile::Restricted,
            service_type: ServiceType::ClusterIp,
            keys: KeyMode::CertManager,
            certificate: CertificateConfig::default(),
            image_policy: ImagePolicyConfig::default(),
            initdata: InitdataConfig::default(),
            reference_values: ReferenceValuesConfig::default(),
            podvm: PodvmConfig::default(),
            launch: LaunchConfig::default(),
        }
    }
}

impl Default for CertificateConfig {
    fn default() -> CertificateConfig {
        CertificateConfig {
            common_name: "kbs-trustee-operator-system".to_owned(),
            organization: "my_org".to_owned(),
            duration: Hours(8760),
            renew_before: Hours(360),
            issuer: name("kbs-issuer"),
            tls_secret: name("trustee-tls-cert"),
            token_secret: name("trustee-token-cert"),
        }
    }
}

impl Default for ImagePolicyConfig {
    fn default() -> ImagePolicyConfig {
        ImagePolicyConfig {
            default_policy: DefaultPolicy::Reject,
            policy_secret: name("trustee-image-policy"),
            policy_key: name("policy"),
            signed: Vec::new(),
        }
    }
}

impl Default for InitdataConfig {
    fn default() -> InitdataConfig {
        InitdataConfig { algorithm: HashAlg::Sha256, agent_policy: None, variants: Vec::new() }
    }
}

impl Default for ReferenceValuesConfig {
    fn default() -> ReferenceValuesConfig {
        ReferenceValuesConfig {
            format: Format::Array,
            expiration: None,
            dummy_initdata: false,
            pcr_prefixes: PcrPrefix::ALL.to_vec(),
            merge: Vec::new(),
        }
    }
}

/// Every configuration field, as `(path in the TOML file, command-line flag)`.
/// Fields of arrays of tables (`image_policy.signed`, `initdata.variants`)
/// are given on the command line as one repeatable flag whose value is the
/// table's fields as `field=value,...` (see [`parse_flag_table`]).
pub const FIELDS: &[(&str, &str)] = &[
    ("namespace", "--namespace"),
    ("domain", "--domain"),
    ("kbs_host", "--kbs-host"),
    ("route_name", "--route-name"),
    ("profile", "--profile"),
    ("service_type", "--service-type"),
    ("keys", "--keys"),
    ("certificate.common_name", "--common-name"),
    ("certificate.organization", "--organization"),
    ("certificate.duration", "--duration"),
    ("certificate.renew_before", "--renew-before"),
    ("certificate.issuer", "--issuer"),
    ("certificate.tls_secret", "--tls-secret"),
    ("certificate.token_secret", "--token-secret"),
    ("image_policy.default_policy", "--default-policy"),
    ("image_policy.policy_secret", "--policy-secret"),
    ("image_policy.policy_key", "--policy-key"),
    ("image_policy.signed", "--signed-image"),
    ("initdata.algorithm", "--algorithm"),
    ("initdata.agent_policy", "--agent-policy"),
    ("initdata.variants", "--variant"),
    ("reference_values.format", "--format"),
    ("reference_values.expiration", "--expiration"),
    ("reference_values.dummy_initdata", "--dummy-initdata"),
    ("reference_values.pcr_prefixes", "--pcr-prefixes"),
    ("reference_values.merge", "--merge-values"),
    ("launch.snp", "--launch-snp"),
    ("launch.tdx", "--launch-tdx"),
    ("launch.base64", "--launch-base64"),
    ("podvm.images", "--image"),
    ("podvm.measurements", "--measurements"),
    ("podvm.key", "--key"),
    ("podvm.rekor_key", "--rekor-key"),
    ("podvm.insecure_ignore_tlog", "--insecure-ignore-tlog"),
    ("podvm.insecure_skip_verify", "--insecure-skip-verify"),
    ("podvm.identity", "--identity"),
    ("podvm.authfile", "--authfile"),
    ("podvm.insecure_registries", "--insecure-registry"),
    ("podvm.image_platform", "--image-platform"),
    ("podvm.retries", "--retries"),
    ("podvm.timeout", "--timeout"),
    ("podvm.measurements_from", "--measurements-from"),
];

/// The command-line flag of a configuration field, or of the field a nested
/// path belongs to (`image_policy.signed.key` is given with
/// `--signed-image`).
pub fn flag_of(field: &str) -> Option<&'static str> {
    FIELDS
        .iter()
        .filter(|(path, _)| {
            field == *path || field.strip_prefix(path).is_some_and(|rest| rest.starts_with('.'))
        })
        .max_by_key(|(path, _)| path.len())
        .map(|(_, flag)| *flag)
}

/// The reserved top-level domain (RFC 2606) of the `--init` template's
/// placeholder domain: no guest can ever reach a host under it.
pub const PLACEHOLDER_TLD: &str = "example";

/// A file the configuration names, with the field and flag that name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputFile<'a> {
    /// The configuration field (`image_policy.signed.key`).
    pub field: &'static str,
    /// The command-line flag giving that field (`--signed-image`).
    pub flag: &'static str,
    /// The path, as the configuration gives it (resolved by
    /// [`Config::resolve_paths`]).
    pub path: &'a Path,
}

/// Reads a table given on the command line as `field=value,field=value`
/// (for `--signed-image` and `--variant`), with the same field names, checks
/// and defaults as in the configuration file. A field holding a comma is
/// quoted as in CSV (and `docker --mount`): `"key=my,key.pub"`, with `""`
/// for a quote inside. An entry of a map field is `field.KEY=value`
/// (`fw_cfg.etc/table-loader=loader.bin`), KEY any text without `=`.
pub fn parse_flag_table<T: DeserializeOwned>(flag: &str, text: &str) -> Result<T, Error> {
    let bad = |message: String| Error::Config { source_name: flag.to_owned(), message };
    let mut toml = String::new();
    for pair in csv_fields(text).map_err(bad)? {
        let (key, value) = pair.split_once('=').ok_or_else(|| bad(format!("{pair:?} is not field=value")))?;
        let (key, entry) = match key.trim().split_once('.') {
            Some((field, entry)) => (field, Some(entry)),
            None => (key.trim(), None),
        };
        if key.is_empty() || !key.bytes().all(|c| c.is_ascii_lowercase() || c == b'_') {
            return Err(bad(format!("bad field name {key:?}")));
        }
        toml.push_str(key);
        if let Some(entry) = entry {
            if entry.is_empty() {
                return Err(bad(format!("{pair:?} names no entry of {key}")));
            }
            toml.push('.');
            toml.push_str(&serde_json::to_string(entry).unwrap_or_default());
        }
        toml.push_str(" = ");
        // A JSON string is a valid TOML basic string.
        toml.push_str(&serde_json::to_string(value).unwrap_or_default());
        toml.push('\n');
    }
    toml_edit::de::from_str(&toml).map_err(|e| bad(one_line(&e.to_string())))
}

/// The comma-separated fields of one CSV record (RFC 4180): a field that
/// starts with `"` runs to the next lone `"`, and `""` inside it is a quote.
fn csv_fields(text: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err(format!("a quoted field in {text:?} has no closing quote")),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(c) => return Err(format!("{c:?} follows a closing quote in {text:?}; expected ','")),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some(c) => field.push(c),
                }
            }
            fields.push(field);
        }
    }
}

/// The TOML reader's messages span several lines (location, the line, a
/// caret); a flag's message reads better on one.
fn one_line(message: &str) -> String {
    message.lines().last().unwrap_or(message).trim().to_owned()
}

impl Config {
    /// Reads a configuration file's text. `source_name` names it in errors.
    /// Unknown fields are errors; missing ones take their defaults.
    pub fn from_toml(source_name: &str, text: &str) -> Result<Config, Error> {
        toml_edit::de::from_str(text)
            .map_err(|e| Error::Config { source_name: source_name.to_owned(), message: e.to_string() })
    }

    /// The KBS host: `kbs_host`, or `<route_name>-<namespace>.<domain>`.
    pub fn host(&self) -> Result<Hostname, Error> {
        match (&self.kbs_host, &self.domain) {
            (Some(host), None) => Ok(host.clone()),
            (None, Some(domain)) => {
                let label = format!("{}-{}", self.route_name, self.namespace);
                if label.len() > 63 {
                    return Err(Error::Invalid {
                        field: "domain".to_owned(),
                        reason: format!(
                            "the route host label {label:?} is longer than 63 characters; \
                             shorten route_name or set kbs_host"
                        ),
                    });
                }
                Hostname::new(format!("{label}.{domain}"))
            }
            (Some(_), Some(_)) => Err(Error::Invalid {
                field: "kbs_host".to_owned(),
                reason: "give either domain or kbs_host, not both".to_owned(),
            }),
            (None, None) => Err(Error::Invalid {
                field: "domain".to_owned(),
                reason: "the KBS host is unknown: give domain (the cluster's ingress domain) or kbs_host"
                    .to_owned(),
            }),
        }
    }

    /// The KBS URL the guest uses.
    pub fn kbs_url(&self) -> Result<String, Error> {
        Ok(format!("https://{}", self.host()?))
    }

    /// The image-policy resource the guest fetches.
    pub fn image_policy_uri(&self) -> String {
        format!("kbs:///default/{}/{}", self.image_policy.policy_secret, self.image_policy.policy_key)
    }

    /// Checks what the types alone cannot: a host, settings that agree with
    /// each other, names that do not collide.
    pub fn validate(&self) -> Result<(), Error> {
        self.host()?;
        let invalid = |field: &str, reason: String| Error::Invalid { field: field.to_owned(), reason };
        let c = &self.certificate;
        for (field, value) in
            [("certificate.common_name", &c.common_name), ("certificate.organization", &c.organization)]
        {
            // X.509's upper bound for both attributes (RFC 5280, ub-common-name
            // and ub-organization-name).
            if value.is_empty() || value.chars().count() > 64 || value.chars().any(char::is_control) {
                return Err(invalid(
                    field,
                    format!("{value:?} must be 1 to 64 characters without control characters"),
                ));
            }
        }
        if c.renew_before >= c.duration {
            return Err(invalid(
                "certificate.renew_before",
                format!("{} is not shorter than the duration {}", c.renew_before, c.duration),
            ));
        }
        if c.tls_secret == c.token_secret {
            return Err(invalid("certificate.token_secret", "must differ from tls_secret".to_owned()));
        }

        let p = &self.image_policy;
        let reserved = [&c.tls_secret, &c.token_secret];
        if reserved.contains(&&p.policy_secret) {
            return Err(invalid(
                "image_policy.policy_secret",
                format!("{} is already the name of a key Secret", p.policy_secret),
            ));
        }
        let mut scopes = BTreeSet::new();
        let mut keys: BTreeMap<(&ObjectName, &DataKey), &Path> = BTreeMap::new();
        for rule in &p.signed {
            if !scopes.insert(rule.scope.as_str()) {
                return Err(invalid("image_policy.signed", format!("scope {} appears twice", rule.scope)));
            }
            if reserved.contains(&&rule.secret) || rule.secret == p.policy_secret {
                return Err(invalid(
                    "image_policy.signed",
                    format!(
                        "secret {} of scope {} is already used for another purpose",
                        rule.secret, rule.scope
                    ),
                ));
            }
            if let Some(other) = keys.insert((&rule.secret, &rule.secret_key), &rule.key)
                && other != rule.key
            {
                return Err(invalid(
                    "image_policy.signed",
                    format!(
                        "{}/{} would hold both {} and {}",
                        rule.secret,
                        rule.secret_key,
                        other.display(),
                        rule.key.display()
                    ),
                ));
            }
        }
        if p.signed.is_empty() && p.default_policy == DefaultPolicy::Reject {
            return Err(invalid(
                "image_policy.signed",
                "no signed-image rule and default_policy reject: no container could run".to_owned(),
            ));
        }

        if matches!(self.initdata.algorithm, HashAlg::Sha1) {
            return Err(invalid(
                "initdata.algorithm",
                "sha1 is not allowed (use sha256, sha384 or sha512)".to_owned(),
            ));
        }
        let mut variant_names = BTreeSet::new();
        for v in &self.initdata.variants {
            if !variant_names.insert(v.name.as_str()) {
                return Err(invalid("initdata.variants", format!("variant {} appears twice", v.name)));
            }
            if v.agent_policy.is_some() == v.document.is_some() {
                return Err(invalid(
                    "initdata.variants",
                    format!("variant {} needs exactly one of agent_policy or document", v.name),
                ));
            }
        }

        if self.reference_values.format == Format::Sample {
            return Err(invalid(
                "reference_values.format",
                "sample is an RVPS register message, not a ConfigMap; use array or kv".to_owned(),
            ));
        }
        if self.reference_values.pcr_prefixes.is_empty() {
            return Err(invalid(
                "reference_values.pcr_prefixes",
                "must name at least one of snp, tdx".to_owned(),
            ));
        }
        let pv = &self.podvm;
        if pv.images.is_empty()
            && pv.measurements.is_empty()
            && self.launch.is_empty()
            && self.reference_values.merge.is_empty()
        {
            return Err(invalid(
                "podvm",
                "no podvm measurements: give podvm.images (signed podvm images) or podvm.measurements \
                 (measurements.json files), or for bare metal launch.snp or launch.tdx (launch values) \
                 or reference_values.merge (reference-value files)"
                    .to_owned(),
            ));
        }
        for r in &self.launch.snp {
            r.params().map_err(|e| invalid("launch.snp", e.to_string()))?;
        }
        for r in &self.launch.tdx {
            r.check().map_err(|e| invalid("launch.tdx", e.to_string()))?;
        }
        if !pv.images.is_empty() && pv.access.key.is_none() && !pv.access.insecure_skip_verify() {
            return Err(invalid(
                "podvm.key",
                "podvm images need the public key they are signed with (or insecure_skip_verify)".to_owned(),
            ));
        }
        Ok(())
    }

    /// The files the configuration names, each with the field naming it, for
    /// the caller to read and hand to [`crate::render`] in
    /// [`crate::Inputs::files`]. Podvm access files (keys, authfile) are not
    /// listed: the caller uses them to fetch measurements itself.
    pub fn referenced_files(&self) -> Vec<(&'static str, &Path)> {
        let mut out: Vec<(&'static str, &Path)> = Vec::new();
        for rule in &self.image_policy.signed {
            out.push(("image_policy.signed.key", &rule.key));
        }
        if let Some(p) = &self.initdata.agent_policy {
            out.push(("initdata.agent_policy", p));
        }
        for v in &self.initdata.variants {
            if let Some(p) = &v.agent_policy {
                out.push(("initdata.variants.agent_policy", p));
            }
            if let Some(p) = &v.document {
                out.push(("initdata.variants.document", p));
            }
        }
        for m in &self.podvm.measurements {
            out.push(("podvm.measurements", m));
        }
        for m in &self.reference_values.merge {
            out.push(("reference_values.merge", m));
        }
        out.extend(self.launch.files());
        out
    }

    /// Whether a render is cert-manager's first phase: no KBS certificate
    /// yet, so no initdata, no reference values and no image policy, and no
    /// file needed.
    pub fn is_first_phase(&self, kbs_cert_given: bool) -> bool {
        self.keys == KeyMode::CertManager && !kbs_cert_given
    }

    /// Every file a render reads, in the order the configuration names
    /// them: the first phase ([`Config::is_first_phase`]) reads none; a
    /// complete render reads the image-signing keys, the agent policies,
    /// variant documents and measurements files, and the podvm access files
    /// (keys, credentials) when it fetches podvm images. The caller reads
    /// them all before rendering, so that every unreadable one is reported
    /// at once.
    pub fn input_files(&self, kbs_cert_given: bool) -> Vec<InputFile<'_>> {
        let file = |field: &'static str, path| InputFile {
            field,
            flag: flag_of(field).expect("every field has its flag"),
            path,
        };
        if self.is_first_phase(kbs_cert_given) {
            return Vec::new();
        }
        let mut out: Vec<InputFile<'_>> =
            self.referenced_files().into_iter().map(|(field, path)| file(field, path)).collect();
        if !self.podvm.images.is_empty() {
            let pv = &self.podvm;
            for (field, path) in [
                ("podvm.key", &pv.access.key),
                ("podvm.rekor_key", &pv.access.rekor_key),
                ("podvm.authfile", &pv.access.authfile),
            ] {
                if let Some(path) = path {
                    out.push(file(field, path));
                }
            }
        }
        out
    }

    /// What is legal but almost certainly not meant: a KBS host under the
    /// reserved `.example` domain of the `--init` template's placeholder.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let (field, host) = match (&self.domain, &self.kbs_host) {
            (Some(domain), _) => ("domain", domain),
            (None, Some(host)) => ("kbs_host", host),
            (None, None) => return out,
        };
        let tld = host.as_str().rsplit('.').next().unwrap_or_default();
        if tld.eq_ignore_ascii_case(PLACEHOLDER_TLD) {
            out.push(format!(
                "{field} {host} is under the reserved .{PLACEHOLDER_TLD} domain, a placeholder no guest can \
                 reach; set domain (--domain) to your cluster's ingress domain \
                 (oc get ingress.config/cluster -o jsonpath='{{.spec.domain}}') or kbs_host (--kbs-host) \
                 to the KBS host"
            ));
        }
        out
    }

    /// Resolves every relative path against `base` (the directory of the
    /// configuration file), so that paths in a file mean the same wherever
    /// rvkit runs.
    pub fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        for rule in &mut self.image_policy.signed {
            fix(&mut rule.key);
        }
        if let Some(p) = &mut self.initdata.agent_policy {
            fix(p);
        }
        for v in &mut self.initdata.variants {
            if let Some(p) = &mut v.agent_policy {
                fix(p);
            }
            if let Some(p) = &mut v.document {
                fix(p);
            }
        }
        for m in &mut self.podvm.measurements {
            fix(m);
        }
        for m in &mut self.reference_values.merge {
            fix(m);
        }
        for p in self.launch.paths_mut() {
            fix(p);
        }
        for p in self.podvm.access.paths_mut() {
            fix(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(item: &toml_edit::Item, prefix: &str, out: &mut BTreeSet<String>) {
        match item {
            toml_edit::Item::Table(t) => {
                for (k, v) in t.iter() {
                    let path = if prefix.is_empty() { k.to_owned() } else { format!("{prefix}.{k}") };
                    leaves(v, &path, out);
                }
            }
            toml_edit::Item::Value(toml_edit::Value::InlineTable(t)) => {
                for (k, v) in t.iter() {
                    let path = if prefix.is_empty() { k.to_owned() } else { format!("{prefix}.{k}") };
                    leaves(&toml_edit::Item::Value(v.clone()), &path, out);
                }
            }
            // An array of tables is one field (one repeatable flag).
            _ => {
                out.insert(prefix.to_owned());
            }
        }
    }

    /// A configuration with every optional field set.
    pub(crate) fn full() -> Config {
        let mut c = Config {
            domain: Some(name("apps.example.com")),
            kbs_host: Some(name("kbs.example.com")),
            ..Config::default()
        };
        c.image_policy.signed.push(SignedImage {
            scope: name("quay.io/a"),
            key: "a.pub".into(),
            secret: name("a"),
            secret_key: name("pub-key"),
        });
        c.initdata.agent_policy = Some("p.rego".into());
        c.initdata.variants.push(Variant {
            name: name("v"),
            agent_policy: Some("v.rego".into()),
            document: None,
        });
        c.reference_values.expiration = Some("2027-12-12T00:00:00Z".parse().unwrap());
        c.podvm.images.push("registry.example/podvm:1".into());
        c.podvm.measurements.push("m.json".into());
        c.reference_values.merge.push("launch.json".into());
        let mut snp = SnpRequest::new("OVMF.fd".into());
        snp.kernel = Some("vmlinuz".into());
        snp.append = Some("quiet nr_cpus=1".into());
        snp.vcpus = "1-4".parse().unwrap();
        snp.kata = true;
        c.launch.snp.push(snp);
        c.launch.tdx.push(TdxRequest::new("OVMF.tdx.fd".into()));
        c.podvm.access = ImageAccess {
            key: Some("k.pub".into()),
            rekor_key: Some("rekor.pub".into()),
            insecure_ignore_tlog: Some(false),
            insecure_skip_verify: Some(false),
            identity: Some("registry.example/podvm".into()),
            authfile: Some("auth.json".into()),
            insecure_registries: vec!["localhost:5000".into()],
            image_platform: Some("linux/amd64".into()),
            retries: Some(3),
            timeout: Some(600),
            measurements_from: Some(rvkit_image_access::MeasurementsFrom::Layers),
        };
        c
    }

    #[test]
    fn every_field_is_listed_with_a_flag() {
        let doc = toml_edit::ser::to_document(&full()).unwrap();
        let mut found = BTreeSet::new();
        leaves(doc.as_item(), "", &mut found);
        let listed: BTreeSet<String> = FIELDS.iter().map(|(p, _)| (*p).to_owned()).collect();
        assert_eq!(found, listed);
        let flags: BTreeSet<&str> = FIELDS.iter().map(|(_, f)| *f).collect();
        assert_eq!(flags.len(), FIELDS.len(), "flags are unique");
    }

    #[test]
    fn serialized_config_reads_back() {
        let c = full();
        let text = toml_edit::ser::to_string_pretty(&c).unwrap();
        assert_eq!(Config::from_toml("t", &text).unwrap(), c);
        assert_eq!(Config::from_toml("t", "").unwrap(), Config::default());
    }

    #[test]
    fn unknown_fields_are_refused_with_their_location() {
        for text in [
            "namespaces = \"x\"\n",
            "[certificate]\ncn = \"x\"\n",
            "[[image_policy.signed]]\nscope = \"quay.io\"\nkey = \"k\"\nsecret = \"s\"\nextra = 1\n",
            "[podvm]\nretries = 2\nretry = 3\n",
        ] {
            let e = Config::from_toml("trustee.toml", text).unwrap_err();
            assert!(
                matches!(&e, Error::Config { source_name, message } if source_name == "trustee.toml" && message.contains("unknown field")),
                "{e}"
            );
        }
        let e = Config::from_toml("trustee.toml", "\nnamespace = \"Trustee\"\n").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("line 2") && msg.contains("DNS-1123 label"), "{msg}");
        // Spelled values are read in any case and written canonically.
        let c = Config::from_toml(
            "trustee.toml",
            "profile = \"permissive\"\n[reference_values]\nformat = \"KV\"\n",
        )
        .unwrap();
        assert_eq!((c.profile, c.reference_values.format), (Profile::Permissive, Format::Kv));
        let e = Config::from_toml("trustee.toml", "profile = \"strict\"\n").unwrap_err();
        assert!(e.to_string().contains("\"strict\" is not one of Restricted, Permissive"), "{e}");
    }

    #[test]
    fn the_host_is_derived_like_openshift_routes() {
        let mut c = Config { domain: Some(name("apps.rs01nyk5.eastus.aroapp.io")), ..Config::default() };
        assert_eq!(
            c.host().unwrap().as_str(),
            "kbs-service-trustee-operator-system.apps.rs01nyk5.eastus.aroapp.io"
        );
        c.kbs_host = Some(name("kbs.example.com"));
        assert!(matches!(c.host(), Err(Error::Invalid { field, .. }) if field == "kbs_host"));
        c.domain = None;
        assert_eq!(c.kbs_url().unwrap(), "https://kbs.example.com");
        c.kbs_host = None;
        assert!(matches!(c.host(), Err(Error::Invalid { field, .. }) if field == "domain"));
        let c = Config {
            domain: Some(name("example.com")),
            route_name: name(&"r".repeat(40)),
            ..Config::default()
        };
        assert!(c.host().unwrap_err().to_string().contains("longer than 63"));
    }

    #[test]
    fn flag_tables() {
        let r: SignedImage =
            parse_flag_table("--signed-image", "scope=quay.io/x,key=k.pub,secret=sig").unwrap();
        assert_eq!(r.secret_key.as_str(), "pub-key");
        assert_eq!(r.key, PathBuf::from("k.pub"));
        for bad in [
            "scope=quay.io/x,key=k.pub",
            "scope=quay.io/x,key=k,secret=s,colour=red",
            "scope",
            "scope=\"x\",key=k,secret=s",
            "Scope=x",
        ] {
            let e = parse_flag_table::<SignedImage>("--signed-image", bad).unwrap_err();
            assert!(
                matches!(&e, Error::Config { source_name, .. } if source_name == "--signed-image"),
                "{bad}: {e}"
            );
            assert!(!e.to_string().contains('\n'), "{e}");
        }
        let v: Variant = parse_flag_table("--variant", "name=debug,agent_policy=debug.rego").unwrap();
        assert_eq!(v.name.as_str(), "debug");
        // Entries of a map field.
        let t: TdxRequest = parse_flag_table(
            "--launch-tdx",
            "ovmf=f,kernel=k,fw_cfg.etc/table-loader=l,fw_cfg.etc/acpi/rsdp=r",
        )
        .unwrap();
        assert_eq!(
            t.fw_cfg,
            BTreeMap::from([("etc/table-loader".into(), "l".into()), ("etc/acpi/rsdp".into(), "r".into())])
        );
        let e = parse_flag_table::<TdxRequest>("--launch-tdx", "ovmf=f,fw_cfg.=l").unwrap_err();
        assert!(e.to_string().contains("names no entry of fw_cfg"), "{e}");
        // Commas and quotes in values, quoted as in CSV.
        let r: SignedImage =
            parse_flag_table("--signed-image", r#"scope=quay.io/x,"key=keys/a,b ""c"".pub",secret=sig"#)
                .unwrap();
        assert_eq!(r.key, PathBuf::from(r#"keys/a,b "c".pub"#));
        for (bad, why) in [
            (r#"scope=x,"key=k,secret=s"#, "no closing quote"),
            (r#"scope=x,"key=k"x,secret=s"#, "follows a closing quote"),
        ] {
            let e = parse_flag_table::<SignedImage>("--signed-image", bad).unwrap_err();
            assert!(e.to_string().contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn csv_fields_split_like_rfc_4180() {
        let f = |s: &str| csv_fields(s).unwrap();
        assert_eq!(f("a=1,b=2"), ["a=1", "b=2"]);
        assert_eq!(f(""), [""]);
        assert_eq!(f("a=1,"), ["a=1", ""]);
        assert_eq!(f(r#""a=1,2",b"#), ["a=1,2", "b"]);
        assert_eq!(f(r#""a=""q""""#), [r#"a="q""#]);
        // A quote that does not open the field is an ordinary character.
        assert_eq!(f(r#"a="1",b"#), [r#"a="1""#, "b"]);
    }

    fn valid() -> Config {
        let mut c = full();
        c.kbs_host = None;
        c
    }

    fn reason(c: &Config) -> String {
        match c.validate() {
            Err(Error::Invalid { field, reason }) => format!("{field}: {reason}"),
            other => panic!("expected an invalid config, got {other:?}"),
        }
    }

    #[test]
    fn validation() {
        valid().validate().unwrap();
        let mut c = valid();
        c.certificate.renew_before = Hours(8760);
        assert!(reason(&c).contains("renew_before"));
        let mut c = valid();
        c.certificate.organization = String::new();
        assert!(reason(&c).contains("organization"));
        let mut c = valid();
        c.image_policy.policy_secret = name("trustee-tls-cert");
        assert!(reason(&c).contains("policy_secret"));
        let mut c = valid();
        let dup = c.image_policy.signed[0].clone();
        c.image_policy.signed.push(dup);
        assert!(reason(&c).contains("appears twice"));
        let mut c = valid();
        let mut other = c.image_policy.signed[0].clone();
        other.scope = name("quay.io/b");
        other.key = "b.pub".into();
        c.image_policy.signed.push(other);
        assert!(reason(&c).contains("would hold both"));
        let mut c = valid();
        c.image_policy.signed.clear();
        assert!(reason(&c).contains("no container could run"));
        c.image_policy.default_policy = DefaultPolicy::InsecureAcceptAnything;
        c.validate().unwrap();
        let mut c = valid();
        c.initdata.variants[0].document = Some("d.toml".into());
        assert!(reason(&c).contains("exactly one"));
        let mut c = valid();
        c.podvm = PodvmConfig::default();
        c.validate().unwrap();
        c.launch = LaunchConfig::default();
        c.reference_values.merge.clear();
        assert!(reason(&c).contains("no podvm measurements"));
        let mut c = valid();
        c.launch.snp[0].append = None;
        assert_eq!(
            reason(&c),
            "launch.snp: kata: the command line (append) has no nr_cpus= parameter to follow the vCPU count"
        );
        let mut c = valid();
        c.launch.tdx[0].initrd = Some("initrd.img".into());
        assert_eq!(reason(&c), "launch.tdx: initrd is given without a kernel");
        let mut c = valid();
        c.podvm.access.key = None;
        assert!(reason(&c).contains("podvm.key"));
        let mut c = valid();
        c.reference_values.pcr_prefixes.clear();
        assert!(reason(&c).contains("pcr_prefixes"));
    }

    #[test]
    fn nested_fields_have_the_flag_of_their_table() {
        assert_eq!(flag_of("domain"), Some("--domain"));
        assert_eq!(flag_of("image_policy.signed.key"), Some("--signed-image"));
        assert_eq!(flag_of("initdata.variants.document"), Some("--variant"));
        assert_eq!(flag_of("podvm.key"), Some("--key"));
        assert_eq!(flag_of("podvm.keys"), None);
        assert_eq!(flag_of("podvm"), None);
    }

    #[test]
    fn the_first_cert_manager_phase_reads_no_file() {
        let c = valid();
        let fields = |v: Vec<InputFile<'_>>| v.iter().map(|f| (f.field, f.flag)).collect::<Vec<_>>();
        assert_eq!(fields(c.input_files(false)), []);
        assert_eq!(
            fields(c.input_files(true)),
            [
                ("image_policy.signed.key", "--signed-image"),
                ("initdata.agent_policy", "--agent-policy"),
                ("initdata.variants.agent_policy", "--variant"),
                ("podvm.measurements", "--measurements"),
                ("reference_values.merge", "--merge-values"),
                ("launch.snp.ovmf", "--launch-snp"),
                ("launch.snp.kernel", "--launch-snp"),
                ("launch.tdx.ovmf", "--launch-tdx"),
                ("podvm.key", "--key"),
                ("podvm.rekor_key", "--rekor-key"),
                ("podvm.authfile", "--authfile"),
            ]
        );
        let local = Config { keys: KeyMode::Local, ..valid() };
        assert_eq!(local.input_files(false).len(), 11);
    }

    #[test]
    fn a_host_under_the_placeholder_domain_is_warned_about() {
        let mut c = valid();
        assert!(c.warnings().is_empty());
        c.domain = Some(name("apps.lab.example"));
        assert_eq!(c.warnings().len(), 1);
        c.domain = None;
        c.kbs_host = Some(name("kbs.example"));
        assert!(c.warnings()[0].starts_with("kbs_host kbs.example is under the reserved .example domain"));
        c.kbs_host = Some(name("kbs.example.com"));
        assert!(c.warnings().is_empty());
    }

    #[test]
    fn hours() {
        assert_eq!("8760h".parse::<Hours>().unwrap(), Hours(8760));
        assert_eq!(Hours(360).to_string(), "360h");
        for bad in ["", "h", "0h", "8760", "1.5h", "-1h", "8760h0m", "9999999h"] {
            assert!(bad.parse::<Hours>().is_err(), "{bad}");
        }
    }

    #[test]
    fn relative_paths_resolve_against_the_config_directory() {
        let mut c = full();
        c.podvm.access.key = Some("/abs/k.pub".into());
        c.resolve_paths(Path::new("conf"));
        assert_eq!(c.image_policy.signed[0].key, PathBuf::from("conf/a.pub"));
        assert_eq!(c.podvm.access.key, Some(PathBuf::from("/abs/k.pub")));
        assert_eq!(c.podvm.access.authfile, Some(PathBuf::from("conf/auth.json")));
        assert!(c.referenced_files().iter().all(|(_, p)| p.starts_with("conf")));
    }
}
