//! Writing YAML by hand, so that every object reads like the walkthrough's
//! (same key order, two spaces per level, block sequences at the parent's
//! indentation) and the same inputs always give the same bytes.

/// A string as a YAML scalar: plain when no YAML 1.1 or 1.2 reader could
/// take it for anything but that string, double-quoted otherwise. A JSON
/// string is a valid YAML double-quoted scalar with the same value.
pub fn scalar(s: &str) -> String {
    const RESERVED: [&str; 12] =
        ["true", "false", "yes", "no", "on", "off", "y", "n", "null", "nan", "inf", "~"];
    let safe_chars =
        s.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b'/' | b'+' | b'='));
    let starts_ok = s.bytes().next().is_some_and(|c| c.is_ascii_alphanumeric());
    // A letter that cannot be part of a number (not a hex digit, and not
    // the o or x of 0o17 and 0x1f) rules out every numeric reading.
    let has_letter = s.bytes().any(|c| {
        matches!(c.to_ascii_lowercase(), b'g'..=b'z') && !matches!(c.to_ascii_lowercase(), b'o' | b'x')
    });
    let reserved = RESERVED.iter().any(|r| r.eq_ignore_ascii_case(s));
    if safe_chars && starts_ok && has_letter && !reserved {
        s.to_owned()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

/// `key: value` at `indent` spaces, with the value as a scalar.
pub fn kv(out: &mut String, indent: usize, key: &str, value: &str) {
    out.push_str(&" ".repeat(indent));
    out.push_str(key);
    out.push_str(": ");
    out.push_str(&scalar(value));
    out.push('\n');
}

/// `key:` opening a nested mapping or sequence at `indent` spaces.
pub fn open(out: &mut String, indent: usize, key: &str) {
    out.push_str(&" ".repeat(indent));
    out.push_str(key);
    out.push_str(":\n");
}

/// `- value` at `indent` spaces.
pub fn item(out: &mut String, indent: usize, value: &str) {
    out.push_str(&" ".repeat(indent));
    out.push_str("- ");
    out.push_str(&scalar(value));
    out.push('\n');
}

/// The `apiVersion`, `kind` and `metadata` (name, namespace) every object
/// starts with.
pub fn header(out: &mut String, api_version: &str, kind: &str, name: &str, namespace: &str) {
    kv(out, 0, "apiVersion", api_version);
    kv(out, 0, "kind", kind);
    open(out, 0, "metadata");
    kv(out, 2, "name", name);
    kv(out, 2, "namespace", namespace);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn plain_when_unambiguous() {
        for plain in [
            "kbs-issuer",
            "my_org",
            "8760h",
            "quay.io/x",
            "RSA",
            "PKCS1",
            "v1",
            "cert-manager.io/v1",
            "H4sI+/w==",
        ] {
            assert_eq!(scalar(plain), plain);
        }
        for quoted in [
            "", "true", "No", "null", "~", "2048", "1e3", "0x1f", "0b1", "1.5", "a b", "a: b", "#x", "-x",
            ".inf", "é",
        ] {
            assert!(scalar(quoted).starts_with('"'), "{quoted}");
        }
    }

    proptest! {
        #[test]
        fn every_string_reads_back_as_itself(s in "\\PC{0,30}") {
            let doc = format!("k: {}\n", scalar(&s));
            let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&doc).unwrap();
            prop_assert_eq!(v["k"].as_str(), Some(s.as_str()));
        }

        #[test]
        fn names_read_back(s in "[a-z0-9]([a-z0-9.-]{0,20}[a-z0-9])?") {
            let doc = format!("k: {}\n", scalar(&s));
            let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&doc).unwrap();
            prop_assert_eq!(v["k"].as_str(), Some(s.as_str()));
        }
    }
}
