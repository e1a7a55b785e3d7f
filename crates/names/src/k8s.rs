//! The Kubernetes name rules the rendered objects must follow
//! (k8s.io/apimachinery `validation`: `IsDNS1123Label`,
//! `IsDNS1123Subdomain`, `IsConfigMapKey`).

/// An RFC 1123 label (namespaces, most names): at most 63 lowercase letters,
/// digits or `-`, starting and ending with a letter or digit.
pub fn is_dns_label(s: &str) -> bool {
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|&c| alnum(c) || c == b'-')
        && alnum(b[0])
        && alnum(b[b.len() - 1])
}

/// An RFC 1123 subdomain (object names): dot-separated labels, at most 253
/// characters in all.
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// A ConfigMap or Secret data key: `[-._a-zA-Z0-9]+`, at most 253
/// characters, not `.` or `..`.
pub fn is_configmap_key(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s != "."
        && s != ".."
        && s.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(is_dns_label("trustee-operator-system"));
        assert!(
            !is_dns_label("-a")
                && !is_dns_label("a-")
                && !is_dns_label("A")
                && !is_dns_label(&"a".repeat(64))
        );
        assert!(is_dns_subdomain("trusteeconfig-rvps-reference-values") && is_dns_subdomain("a.b-c.d"));
        assert!(!is_dns_subdomain("a..b") && !is_dns_subdomain("") && !is_dns_subdomain(&"a.".repeat(127)));
        assert!(is_configmap_key("reference-values.json") && is_configmap_key("reference_value"));
        assert!(!is_configmap_key("..") && !is_configmap_key("a/b") && !is_configmap_key(""));
    }
}
