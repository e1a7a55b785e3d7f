//! Names checked once, when they are read, so that nothing rendered can be
//! rejected by Kubernetes, DNS, a certificate or the container policy.

use std::fmt;
use std::str::FromStr;

use crate::Error;
use rvkit_names::image::{is_host_name, is_path_component, is_port, is_tag};
use rvkit_names::k8s::{is_configmap_key, is_dns_label as is_label};

/// Defines a string newtype that is valid by construction: `FromStr`,
/// `TryFrom<String>` (for serde) and `Display` all go through `check`.
macro_rules! checked_name {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $check:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// What this kind of name is called in messages.
            pub const KIND: &'static str = $kind;

            /// Checks `s` and wraps it.
            pub fn new(s: impl Into<String>) -> Result<$name, Error> {
                let s = s.into();
                match $check(&s) {
                    Ok(()) => Ok($name(s)),
                    Err(reason) => Err(Error::BadName { kind: $kind, value: s, reason }),
                }
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<$name, Error> {
                $name::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(s: String) -> Result<$name, Error> {
                $name::new(s)
            }
        }

        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

checked_name!(
    /// An RFC 1123 label as Kubernetes checks it (`IsDNS1123Label`): at most
    /// 63 lowercase letters, digits or `-`, starting and ending with a letter
    /// or digit. Namespaces, Route names and bundle variant names.
    DnsLabel,
    "DNS-1123 label",
    check_label
);

checked_name!(
    /// An RFC 1123 subdomain as Kubernetes checks object names
    /// (`IsDNS1123Subdomain`): at most 253 characters of dot-separated
    /// labels. Secret, Issuer and Certificate names.
    ObjectName,
    "object name",
    check_subdomain
);

checked_name!(
    /// A DNS host name in lowercase (the KBS host, the cluster's ingress
    /// domain): dot-separated RFC 1123 labels, at most 253 characters.
    Hostname,
    "host name",
    check_hostname
);

checked_name!(
    /// A key of a Secret's or ConfigMap's data (`IsConfigMapKey`): at most 253
    /// letters, digits, `-`, `.` or `_`, and not `.` or `..`.
    DataKey,
    "secret key",
    check_data_key
);

checked_name!(
    /// A `docker` transport scope of containers-policy.json(5): a registry
    /// host (optionally `*.`-wildcarded, optionally with a port), then
    /// optional repository path components, optionally ending in a tag or
    /// digest. Quotes, spaces and backslashes can never appear, so the scope
    /// is written into JSON as it is.
    ImageScope,
    "image scope",
    check_scope
);

const LABEL_RULE: &str =
    "must be at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit";

fn check_label(s: &str) -> Result<(), String> {
    if is_label(s) { Ok(()) } else { Err(LABEL_RULE.to_owned()) }
}

fn check_subdomain(s: &str) -> Result<(), String> {
    if s.len() > 253 {
        return Err(format!("is {} characters long; at most 253 are allowed", s.len()));
    }
    match s.split('.').find(|l| !is_label(l)) {
        None => Ok(()),
        Some(l) => Err(format!(
            "must be dot-separated lowercase labels: {l:?} is not one (each {})",
            LABEL_RULE.trim_start_matches("must be ")
        )),
    }
}

fn check_hostname(s: &str) -> Result<(), String> {
    if s.bytes().any(|c| c.is_ascii_uppercase()) {
        return Err("must be lowercase".to_owned());
    }
    if s.contains("://") || s.contains('/') || s.contains(':') {
        return Err("must be a bare host name, without scheme, port or path".to_owned());
    }
    check_subdomain(s)
}

fn check_data_key(s: &str) -> Result<(), String> {
    if is_configmap_key(s) {
        Ok(())
    } else {
        Err("must be at most 253 letters, digits, '-', '.' or '_', and not '.' or '..'".to_owned())
    }
}

fn check_scope(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 512 {
        return Err("must be 1 to 512 characters".to_owned());
    }
    let (host, path) = s.split_once('/').unwrap_or((s, ""));
    let (host, port) = match host.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (host, None),
    };
    if !is_host_name(host.strip_prefix("*.").unwrap_or(host)) {
        return Err(format!("registry host {host:?} must be a host name, optionally starting with '*.'"));
    }
    if let Some(p) = port
        && !is_port(p)
    {
        return Err(format!("registry port {p:?} must be a number from 0 to 65535"));
    }
    if host.starts_with("*.") && !path.is_empty() {
        return Err("a wildcard scope cannot have a repository path".to_owned());
    }
    if s.contains('/') && path.is_empty() {
        return Err("must not end with '/'".to_owned());
    }
    if path.is_empty() {
        return Ok(());
    }
    let components: Vec<&str> = path.split('/').collect();
    let last = components.len() - 1;
    for (i, c) in components.iter().enumerate() {
        let mut name = *c;
        if i == last {
            if let Some((n, digest)) = name.split_once('@') {
                check_digest(digest)?;
                name = n;
            } else if let Some((n, tag)) = name.split_once(':') {
                check_tag(tag)?;
                name = n;
            }
        }
        if !is_path_component(name) {
            return Err(format!(
                "repository path component {name:?} must be lowercase letters and digits, \
                 separated by '.', '_', '__' or dashes"
            ));
        }
    }
    Ok(())
}

fn check_tag(tag: &str) -> Result<(), String> {
    if is_tag(tag) { Ok(()) } else { Err(format!("tag {tag:?} is not a valid image tag")) }
}

fn check_digest(digest: &str) -> Result<(), String> {
    let ok = match digest.split_once(':') {
        Some(("sha256", hex)) => hex.len() == 64,
        Some(("sha512", hex)) => hex.len() == 128,
        _ => false,
    } && digest
        .split_once(':')
        .is_some_and(|(_, h)| h.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));
    if ok {
        Ok(())
    } else {
        Err(format!("digest {digest:?} must be sha256:<64 hex digits> or sha512:<128 hex digits>"))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn labels() {
        for ok in ["a", "trustee-operator-system", "kbs-service", "0", "a-1", &"a".repeat(63)] {
            assert!(DnsLabel::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "A", "-a", "a-", "a.b", "a_b", &"a".repeat(64), "ü"] {
            let e = DnsLabel::new(bad).unwrap_err();
            assert!(
                matches!(&e, Error::BadName { kind: "DNS-1123 label", value, .. } if value == bad),
                "{e}"
            );
        }
    }

    #[test]
    fn object_names_and_hosts() {
        for ok in ["trustee-tls-cert", "a.b.c", "kbs-service-trustee-operator-system.apps.example.com"] {
            assert!(ObjectName::new(ok).is_ok(), "{ok}");
            assert!(Hostname::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "a..b", "a.", "Trustee", "my_secret", &format!("{}.b", "a".repeat(64))] {
            assert!(ObjectName::new(bad).is_err(), "{bad}");
            assert!(Hostname::new(bad).is_err(), "{bad}");
        }
        assert!(ObjectName::new(vec!["a"; 127].join(".")).is_ok());
        assert!(ObjectName::new(vec!["a"; 128].join(".")).is_err());
        let e = Hostname::new("https://kbs.example.com").unwrap_err();
        assert!(e.to_string().contains("without scheme"), "{e}");
        let e = Hostname::new("KBS.example.com").unwrap_err();
        assert!(e.to_string().contains("lowercase"), "{e}");
        assert!(Hostname::new("kbs.example.com:8443").is_err());
    }

    #[test]
    fn data_keys() {
        for ok in ["policy", "pub-key", "tls.crt", "reference_value", "A.b-C_d", "..."] {
            assert!(DataKey::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", &"a".repeat(254)] {
            assert!(DataKey::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scopes() {
        for ok in [
            "quay.io/confidential-devhub/signed",
            "quay.io",
            "localhost:5000/repo",
            "*.example.com",
            "registry.example.com/a/b__c/d-e:v1.2",
            "registry.example.com/a@sha256:e633bc27853f811d919e64461d0c917e659f5430458abe2304a4c85b0d871c80",
            "Registry.Example.com/x",
        ] {
            assert!(ImageScope::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "quay.io/",
            "quay.io/Upper",
            "quay.io/a b",
            "quay.io/\"x",
            "quay.io/a\\b",
            "*.example.com/repo",
            "*",
            "quay.io:port/x",
            "quay.io/a//b",
            "quay.io/a:bad tag",
            "quay.io/a@sha256:abc",
            "-quay.io/x",
        ] {
            assert!(ImageScope::new(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn valid_labels_round_trip_through_serde(s in "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?") {
            let n = DnsLabel::new(s.clone()).unwrap();
            let json = serde_json::to_string(&n).unwrap();
            let back: DnsLabel = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back.as_str(), s.as_str());
            let host = Hostname::new(format!("{s}.example.com")).unwrap();
            prop_assert_eq!(host.to_string(), format!("{s}.example.com"));
        }

        #[test]
        fn scopes_never_need_json_escaping(s in "\\PC{0,40}") {
            if let Ok(scope) = ImageScope::new(s.clone()) {
                prop_assert_eq!(serde_json::to_string(scope.as_str()).unwrap(), format!("\"{s}\""));
            }
        }
    }
}
