//! Which server a URL names, and whether a certificate's subjectAltName
//! covers it: the one rule `initdata check` and `bundle --kbs-cert` (and
//! `bundle check`) share, so a certificate one accepts the other cannot
//! refuse.
//!
//! The rule is RFC 6125 section 6 (service identity) applied to RFC 5280
//! subjectAltName entries, as TLS clients such as rustls/webpki and OpenSSL's
//! `X509_check_host` apply it:
//!
//! - **Case**: DNS names compare ASCII case-insensitively (RFC 6125 6.4.1,
//!   RFC 4343).
//! - **Trailing dot**: the reference host (from the URL) may be written as an
//!   absolute name, `kbs.example.com.`; that is the same host, so the dot is
//!   dropped, as webpki does. A *presented* dNSName must be in RFC 1034
//!   "preferred name syntax" (RFC 5280 4.2.1.6), which has no trailing dot,
//!   so a SAN `kbs.example.com.` is malformed and matches nothing (webpki
//!   refuses it; OpenSSL's `X509_check_host`, which compares the text
//!   without normalising either side, matches it only to a URL host that
//!   also ends in a dot, which no KBS URL in practice does).
//! - **Wildcard**: only as the whole leftmost label of a dNSName (`*.apps.example.com`),
//!   matching exactly one non-empty label (RFC 6125 6.4.3); partial-label
//!   wildcards (`f*.example.com`) and wildcards elsewhere match nothing, as
//!   common TLS stacks do not accept them.
//! - **IP addresses**: a host that is an IP address is matched only against
//!   iPAddress entries, by address (RFC 6125 3.1.3.2 / RFC 5280 4.2.1.6: an
//!   IP reference identity is never compared with dNSName text), and a DNS
//!   host never matches an iPAddress entry.
//!
//! ```
//! use rvkit_names::tls::{Host, SubjectAltName, covers};
//!
//! let sans = [SubjectAltName::Dns("*.apps.example.com".into()), SubjectAltName::Ip([192, 0, 2, 7].into())];
//! assert!(covers(&sans, &Host::parse("KBS.apps.example.com.")));
//! assert!(covers(&sans, &Host::parse("192.0.2.7")));
//! assert!(!covers(&sans, &Host::parse("a.kbs.apps.example.com")));
//! assert!(!covers(&[SubjectAltName::Dns("kbs.example.com.".into())], &Host::parse("kbs.example.com")));
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// The host a client connects to (the reference identity).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A DNS name, lowercase, without a trailing dot.
    Dns(String),
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
}

impl Host {
    /// Reads a host as written in a URL or configuration: an IP address
    /// literal (IPv6 without brackets) is [`Host::Ip`]; anything else is a
    /// DNS name, normalised to lowercase without a trailing dot. The text is
    /// not checked for DNS syntax here; [`HttpUrl::parse`] and the callers'
    /// own name types do that.
    pub fn parse(s: &str) -> Host {
        match s.parse::<IpAddr>() {
            Ok(ip) => Host::Ip(ip),
            Err(_) => Host::Dns(s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase()),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Dns(name) => f.write_str(name),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// A subjectAltName entry a TLS server certificate can be matched by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SubjectAltName {
    /// A dNSName, as written in the certificate.
    Dns(String),
    /// An iPAddress.
    Ip(IpAddr),
}

impl SubjectAltName {
    /// An iPAddress entry from its raw octets (4 for IPv4, 16 for IPv6);
    /// `None` for any other length, which RFC 5280 does not allow.
    pub fn ip_from_octets(octets: &[u8]) -> Option<SubjectAltName> {
        match octets.len() {
            4 => <[u8; 4]>::try_from(octets).ok().map(|a| SubjectAltName::Ip(a.into())),
            16 => <[u8; 16]>::try_from(octets).ok().map(|a| SubjectAltName::Ip(a.into())),
            _ => None,
        }
    }

    /// Whether this entry covers `host` (the rules are in the module docs).
    pub fn covers(&self, host: &Host) -> bool {
        match (self, host) {
            (SubjectAltName::Dns(pattern), Host::Dns(host)) => dns_name_matches(pattern, host),
            (SubjectAltName::Ip(ip), Host::Ip(host)) => ip == host,
            _ => false,
        }
    }
}

impl From<Host> for SubjectAltName {
    /// The entry a certificate for `host` carries: a dNSName for a name, an
    /// iPAddress for an address (as cert-manager and rcgen write them).
    fn from(host: Host) -> SubjectAltName {
        match host {
            Host::Dns(name) => SubjectAltName::Dns(name),
            Host::Ip(ip) => SubjectAltName::Ip(ip),
        }
    }
}

impl fmt::Display for SubjectAltName {
    /// `DNS:name` or `IP:address`, as openssl prints them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubjectAltName::Dns(name) => write!(f, "DNS:{name}"),
            SubjectAltName::Ip(ip) => write!(f, "IP:{ip}"),
        }
    }
}

/// Whether any of `names` covers `host`.
pub fn covers(names: &[SubjectAltName], host: &Host) -> bool {
    names.iter().any(|n| n.covers(host))
}

/// Whether the presented dNSName `pattern` matches the DNS host `host` (see
/// the module docs for the rules). `host` may carry a trailing dot and any
/// case; an IP address literal as `host` matches nothing.
pub fn dns_name_matches(pattern: &str, host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let pattern = pattern.to_ascii_lowercase();
    if host.is_empty() || host.parse::<IpAddr>().is_ok() || pattern.ends_with('.') {
        return false;
    }
    match pattern.strip_prefix("*.") {
        Some(suffix) => {
            !suffix.is_empty()
                && !suffix.contains('*')
                && host.split_once('.').is_some_and(|(first, rest)| !first.is_empty() && rest == suffix)
        }
        None => !pattern.contains('*') && pattern == host,
    }
}

/// An http or https URL, normalised so equal servers compare equal: scheme
/// lowercase, host as [`Host::parse`] gives it, the default port filled in,
/// query and fragment dropped, trailing slashes removed from the path. Just
/// enough URL parsing to compare KBS URLs and find the host a TLS
/// certificate must name; a full URL crate would be one more dependency for
/// four fields.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HttpUrl {
    /// `http` or `https`.
    pub scheme: String,
    /// The server.
    pub host: Host,
    /// The port, explicit or the scheme's default.
    pub port: u16,
    /// The path without trailing slashes; empty for the root.
    pub path: String,
}

impl HttpUrl {
    /// Parses `scheme://[userinfo@]host[:port][/path][?query][#fragment]`
    /// with scheme http or https; the error describes the problem in a
    /// lowercase phrase meant to follow "is not an http(s) url: ".
    pub fn parse(s: &str) -> Result<HttpUrl, String> {
        let (scheme, rest) =
            s.split_once("://").ok_or_else(|| "it has no scheme (expected https://host)".to_owned())?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            _ => return Err(format!("scheme {scheme:?} is not http or https")),
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
            let (addr, after) =
                v6.split_once(']').ok_or_else(|| "an ipv6 address is missing its closing ]".to_owned())?;
            let ip: Ipv6Addr = addr.parse().map_err(|_| format!("{addr:?} is not an ipv6 address"))?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(|| format!("unexpected {p:?} after the host"))?),
            };
            (Host::Ip(IpAddr::V6(ip)), port)
        } else {
            let (host, port) = match host_port.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (host_port, None),
            };
            if host.is_empty() {
                return Err("it has no host".to_owned());
            }
            if let Some(c) =
                host.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
            {
                return Err(format!("host {host:?} contains {c:?}"));
            }
            (Host::parse(host), port)
        };
        let port = match port {
            None => default_port,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| format!("port {p:?} is not a number from 1 to 65535"))?,
        };
        let path = path.split(['?', '#']).next().unwrap_or("").trim_end_matches('/').to_owned();
        Ok(HttpUrl { scheme, host, port, path })
    }

    /// `https://host` on the default port with an empty path: the URL a
    /// guest must be given for a KBS served at `host`.
    pub fn https_root(host: Host) -> HttpUrl {
        HttpUrl { scheme: "https".to_owned(), host, port: 443, path: String::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dns(s: &str) -> SubjectAltName {
        SubjectAltName::Dns(s.to_owned())
    }

    fn ip(s: &str) -> SubjectAltName {
        SubjectAltName::Ip(s.parse().unwrap())
    }

    /// Both callers' cases: initdata's validation (URL hosts, wildcard and
    /// IP certificates) and the bundle's (`--kbs-cert` against the KBS host).
    #[test]
    fn san_matching() {
        let wildcard_ip =
            [dns("*.apps.example.com"), dns("exact.example.com"), ip("192.0.2.7"), ip("2001:db8::1")];
        for (host, expected) in [
            ("kbs.apps.example.com", true),
            ("KBS.Apps.Example.com", true),
            ("kbs.apps.example.com.", true),
            ("exact.example.com", true),
            ("apps.example.com", false),
            ("a.kbs.apps.example.com", false),
            (".apps.example.com", false),
            ("192.0.2.7", true),
            ("192.0.2.8", false),
            ("2001:db8::1", true),
            ("2001:db8:0::1", true),
            ("2001:db8::2", false),
        ] {
            assert_eq!(covers(&wildcard_ip, &Host::parse(host)), expected, "{host}");
        }
        // A trailing dot on the presented name is malformed (RFC 5280).
        assert!(!covers(&[dns("kbs.example.com.")], &Host::parse("kbs.example.com")));
        assert!(!covers(&[dns("kbs.example.com.")], &Host::parse("kbs.example.com.")));
        // An IP host never matches a dNSName spelling it, nor the reverse.
        assert!(!covers(&[dns("192.0.2.7")], &Host::parse("192.0.2.7")));
        assert!(!covers(&[ip("192.0.2.7")], &Host::Dns("192.0.2.7.nip.io".into())));
        // Wildcards: only a whole leftmost label.
        for pattern in ["f*.example.com", "*.*.example.com", "kbs.*.example.com", "*.", "*", "*example.com"] {
            assert!(!dns_name_matches(pattern, "foo.example.com"), "{pattern}");
            assert!(!dns_name_matches(pattern, "foo.bar.example.com"), "{pattern}");
        }
        assert!(!dns_name_matches("kbs.example.com", ""));
        assert!(dns_name_matches("kbs.example.com", "KBS.example.com."));
        assert!(!dns_name_matches("*.example.com", "example.com"));
        assert!(!dns_name_matches("*.0.0.1", "127.0.0.1"));
        assert!(!dns_name_matches("127.0.0.1", "127.0.0.1"));
        assert!(!covers(&[], &Host::parse("kbs.example.com")));
    }

    #[test]
    fn san_display_is_openssls() {
        assert_eq!(dns("kbs.example.com").to_string(), "DNS:kbs.example.com");
        assert_eq!(ip("2001:db8::1").to_string(), "IP:2001:db8::1");
        assert_eq!(SubjectAltName::ip_from_octets(&[192, 0, 2, 7]), Some(ip("192.0.2.7")));
        assert_eq!(SubjectAltName::ip_from_octets(&[1, 2, 3]), None);
    }

    #[test]
    fn urls_normalise() {
        let a = HttpUrl::parse("HTTPS://KBS.Example.com.:443/").unwrap();
        let b = HttpUrl::parse("https://kbs.example.com").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, HttpUrl::https_root(Host::parse("kbs.example.com")));
        assert_eq!(a.host, Host::Dns("kbs.example.com".into()));
        let c = HttpUrl::parse("http://user@10.0.0.1:8080/kbs?x#y").unwrap();
        assert_eq!(c.host, Host::Ip("10.0.0.1".parse().unwrap()));
        assert_eq!((c.port, c.path.as_str()), (8080, "/kbs"));
        let d = HttpUrl::parse("https://[2001:db8::1]:8443").unwrap();
        assert_eq!(d.host.to_string(), "2001:db8::1");
        assert_eq!(d.port, 8443);
        // The bundle's comparison with the Route host: only https on 443 at
        // the root is the KBS URL.
        let root = HttpUrl::https_root(Host::parse("kbs.example.com"));
        for (url, same) in [
            ("https://kbs.example.com", true),
            ("https://kbs.example.com:443/", true),
            ("http://kbs.example.com", false),
            ("https://kbs.example.com:8443", false),
            ("https://kbs.example.com/kbs", false),
            ("https://other.example.com", false),
        ] {
            assert_eq!(HttpUrl::parse(url).unwrap() == root, same, "{url}");
        }
    }

    #[test]
    fn urls_rejected() {
        for bad in [
            "kbs.example.com",
            "ftp://kbs",
            "https://",
            "https://:443",
            "https://kbs:0",
            "https://kbs:99999",
            "https://kbs:x",
            "https://[::1",
            "https://[zz]:1",
            "https://kbs host",
            "https://${TRUSTEE_HOST}",
        ] {
            assert!(HttpUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
