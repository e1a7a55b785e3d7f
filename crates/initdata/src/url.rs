//! Just enough URL parsing to compare KBS URLs and find the host a TLS
//! certificate must name. A full URL crate would be one more dependency for
//! four fields.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// The host part of a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Host {
    /// A DNS name, lowercase, without a trailing dot.
    Dns(String),
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Dns(name) => f.write_str(name),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// An http or https URL, normalised so equal servers compare equal: scheme
/// and host lowercase, the default port filled in, trailing slashes removed
/// from the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KbsUrl {
    pub scheme: String,
    pub host: Host,
    pub port: u16,
    pub path: String,
}

impl KbsUrl {
    /// Parses `scheme://[userinfo@]host[:port][/path][?query][#fragment]`
    /// with scheme http or https; the problem is described in the error.
    pub(crate) fn parse(s: &str) -> Result<KbsUrl, String> {
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
            let host = match host.parse::<IpAddr>() {
                Ok(ip) => Host::Ip(ip),
                Err(_) => Host::Dns(host.trim_end_matches('.').to_ascii_lowercase()),
            };
            (host, port)
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
        Ok(KbsUrl { scheme, host, port, path })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises() {
        let a = KbsUrl::parse("HTTPS://KBS.Example.com.:443/").unwrap();
        let b = KbsUrl::parse("https://kbs.example.com").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.host, Host::Dns("kbs.example.com".into()));
        let c = KbsUrl::parse("http://user@10.0.0.1:8080/kbs?x#y").unwrap();
        assert_eq!(c.host, Host::Ip("10.0.0.1".parse().unwrap()));
        assert_eq!((c.port, c.path.as_str()), (8080, "/kbs"));
        let d = KbsUrl::parse("https://[2001:db8::1]:8443").unwrap();
        assert_eq!(d.host.to_string(), "2001:db8::1");
        assert_eq!(d.port, 8443);
        assert_ne!(b, KbsUrl::parse("https://kbs.example.com:8443").unwrap());
    }

    #[test]
    fn rejects() {
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
            assert!(KbsUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
