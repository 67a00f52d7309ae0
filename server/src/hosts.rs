//! The host allow-list for URLs we redirect buyers to or send notifications to (SPEC §7).
//! These URLs are not covered by `hash_data`, so a forged request could otherwise point
//! a buyer or a notification anywhere.

use std::net::IpAddr;

use url::{Host, Url};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostPattern {
    /// `shop.example.com` or an IP address: that host only.
    Exact(String),
    /// `*.cafe24.com`: any subdomain (not the bare domain).
    Subdomains(String),
    /// `*`: any public host name or public address.
    AnyPublic,
}

impl HostPattern {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let p = raw.trim().to_ascii_lowercase();
        if p == "*" {
            return Ok(HostPattern::AnyPublic);
        }
        if let Some(rest) = p.strip_prefix("*.") {
            return if is_domain(rest) && rest.contains('.') {
                Ok(HostPattern::Subdomains(format!(".{rest}")))
            } else {
                Err(format!("{raw:?} is not a host pattern like *.example.com"))
            };
        }
        let bare = p.trim_start_matches('[').trim_end_matches(']');
        if bare.parse::<IpAddr>().is_ok() {
            return Ok(HostPattern::Exact(bare.to_owned()));
        }
        if is_domain(&p) {
            Ok(HostPattern::Exact(p))
        } else {
            Err(format!("{raw:?} is not a host name, an IP address or a pattern like *.example.com"))
        }
    }

    fn matches_domain(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(h) => h == host,
            HostPattern::Subdomains(suffix) => host.ends_with(suffix.as_str()) && host.len() > suffix.len(),
            HostPattern::AnyPublic => !is_local_name(host),
        }
    }

    fn matches_ip(&self, ip: &IpAddr) -> bool {
        match self {
            HostPattern::Exact(h) => h.parse::<IpAddr>().is_ok_and(|listed| listed == *ip),
            HostPattern::Subdomains(_) => false,
            HostPattern::AnyPublic => is_public(ip),
        }
    }
}

fn is_domain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn is_local_name(host: &str) -> bool {
    host == "localhost"
        || [".localhost", ".local", ".internal", ".localdomain"].iter().any(|suffix| host.ends_with(suffix))
        || !host.contains('.')
}

/// Addresses a notification or redirect must never reach unless listed exactly.
pub fn is_public(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.octets()[0] == 0
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(&IpAddr::V4(v4));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                || v6.is_multicast())
        }
    }
}

#[derive(Clone, Debug)]
pub struct HostPolicy {
    patterns: Vec<HostPattern>,
    https_only: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HostRefusal {
    #[error("{0} is not a valid absolute URL")]
    NotAUrl(String),
    #[error("{0} must use https")]
    NotHttps(String),
    #[error("{0} must not carry a user name or password")]
    HasCredentials(String),
    #[error("the host of {0} is not in NOTY_ALLOWED_HOSTS")]
    NotAllowed(String),
}

impl HostPolicy {
    pub fn new(patterns: Vec<HostPattern>, https_only: bool) -> Self {
        Self { patterns, https_only }
    }

    pub fn allow(&mut self, pattern: HostPattern) {
        if !self.patterns.contains(&pattern) {
            self.patterns.push(pattern);
        }
    }

    /// Host names (not addresses) the allow-list names exactly.
    pub fn exact_names(&self) -> Vec<String> {
        self.patterns
            .iter()
            .filter_map(|p| match p {
                HostPattern::Exact(h) if h.parse::<IpAddr>().is_err() => Some(h.clone()),
                _ => None,
            })
            .collect()
    }

    /// Parses `raw` and checks it against the allow-list; `field` names the input in errors.
    pub fn check(&self, field: &str, raw: &str) -> Result<Url, HostRefusal> {
        self.check_with(field, raw, &[])
    }

    /// Like [`HostPolicy::check`], also allowing `mall_domains` exactly (a mall's own
    /// domains, from Cafe24's shops list).
    pub fn check_with(&self, field: &str, raw: &str, mall_domains: &[String]) -> Result<Url, HostRefusal> {
        let url = Url::parse(raw).map_err(|_| HostRefusal::NotAUrl(field.to_owned()))?;
        match url.scheme() {
            "https" => {}
            "http" if !self.https_only => {}
            "http" => return Err(HostRefusal::NotHttps(field.to_owned())),
            _ => return Err(HostRefusal::NotAUrl(field.to_owned())),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(HostRefusal::HasCredentials(field.to_owned()));
        }
        let allowed = match url.host() {
            Some(Host::Domain(domain)) => {
                let domain = domain.trim_end_matches('.');
                self.patterns.iter().any(|p| p.matches_domain(domain))
                    || mall_domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
            }
            Some(Host::Ipv4(v4)) => self.patterns.iter().any(|p| p.matches_ip(&IpAddr::V4(v4))),
            Some(Host::Ipv6(v6)) => self.patterns.iter().any(|p| p.matches_ip(&IpAddr::V6(v6))),
            None => return Err(HostRefusal::NotAUrl(field.to_owned())),
        };
        if allowed {
            Ok(url)
        } else {
            Err(HostRefusal::NotAllowed(field.to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(patterns: &[&str], https_only: bool) -> HostPolicy {
        HostPolicy::new(patterns.iter().map(|p| HostPattern::parse(p).unwrap()).collect(), https_only)
    }

    #[test]
    fn cafe24_subdomains_pass_and_lookalikes_do_not() {
        let p = policy(&["*.cafe24.com", "*.cafe24shop.com"], true);
        assert!(p.check("return_url", "https://demomall.cafe24shop.com/Pay/Recv").is_ok());
        assert!(p.check("return_url", "https://a.b.cafe24.com/x").is_ok());
        for bad in [
            "https://cafe24.com/x",
            "https://evilcafe24.com/x",
            "https://cafe24.com.evil.example/x",
            "https://user:pw@demomall.cafe24shop.com/",
            "http://demomall.cafe24shop.com/",
            "javascript:alert(1)",
            "/relative",
        ] {
            assert!(p.check("return_url", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn private_and_loopback_addresses_need_an_exact_entry() {
        let p = policy(&["*"], false);
        assert!(p.check("u", "https://shop.example.com/").is_ok());
        assert!(p.check("u", "http://8.8.8.8/").is_ok());
        for bad in [
            "http://127.0.0.1/",
            "http://10.1.2.3/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://localhost/",
            "http://intranet/",
            "http://100.64.0.1/",
        ] {
            assert_eq!(p.check("u", bad), Err(HostRefusal::NotAllowed("u".into())), "{bad}");
        }
        let mall = ["shop.example.kr".to_owned()];
        assert!(p.check_with("u", "http://127.0.0.1/", &mall).is_err());
        let cafe24_only = policy(&["*.cafe24.com"], false);
        assert!(cafe24_only.check("u", "https://shop.example.kr/noty").is_err());
        assert!(cafe24_only.check_with("u", "https://shop.example.kr/noty", &mall).is_ok());
        let listed = policy(&["127.0.0.1", "localhost"], false);
        assert!(listed.check("u", "http://127.0.0.1:3000/demo-mall/return").is_ok());
        assert!(listed.check("u", "http://localhost:3000/").is_ok());
        assert!(listed.check("u", "http://127.0.0.2/").is_err());
    }
}
