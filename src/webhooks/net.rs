//! Where a webhook may go: endpoint URLs, and the addresses they may reach (SSRF guard).
//!
//! A URL is checked when an endpoint is created or changed, and again at every delivery, since
//! DNS can change in between. At delivery the check is the HTTP client's own resolver
//! ([`GuardedResolver`]): the addresses checked are the addresses connected to, so a name that
//! resolves to a public address for the check and a private one for the connection (DNS
//! rebinding) gets nowhere. IP-literal hosts never reach a resolver and are checked directly.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::error::AppError;

/// Longest endpoint URL accepted.
pub const MAX_URL_CHARS: usize = 2048;
/// How long a create or update waits for DNS.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Parses an endpoint URL: absolute, http or https, with a host, at most [`MAX_URL_CHARS`].
pub fn parse_url(field: &str, raw: &str) -> Result<Url, AppError> {
    let raw = raw.trim();
    if raw.chars().count() > MAX_URL_CHARS {
        return Err(AppError::validation(
            field,
            format!("must be at most {MAX_URL_CHARS} characters"),
        ));
    }
    let url = Url::parse(raw)
        .map_err(|_| AppError::validation(field, "must be an absolute http:// or https:// URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(AppError::validation(field, "must be an http:// or https:// URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(AppError::validation(field, "must name a host"));
    }
    Ok(url)
}

/// Whether connecting to `ip` is refused when private networks are not allowed: private,
/// loopback, link-local, unspecified, CGNAT, multicast, broadcast, reserved, unique-local and
/// the IPv6 forms that embed such an IPv4 address.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => is_forbidden_v6(v6),
    }
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || a == 0 // "this network"
        || (a == 100 && (64..=127).contains(&b)) // CGNAT, 100.64.0.0/10
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments, 192.0.0.0/24
        || (a == 198 && (b == 18 || b == 19)) // benchmarking, 198.18.0.0/15
        || a >= 240 // reserved, 240.0.0.0/4
}

fn is_forbidden_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_forbidden_v4(v4);
    }
    let segments = ip.segments();
    // NAT64 (64:ff9b::/96) reaches the embedded IPv4 address.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., hi, lo] = segments;
        return is_forbidden_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local, fc00::/7
        || (segments[0] & 0xffc0) == 0xfe80 // link-local, fe80::/10
        || (segments[0] & 0xffc0) == 0xfec0 // site-local (deprecated), fec0::/10
        || segments[..6] == [0, 0, 0, 0, 0, 0] // IPv4-compatible (deprecated), ::a.b.c.d
}

/// Why a URL's host may not be delivered to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("the host {0} resolves to a private, loopback or otherwise non-public address")]
    NotAllowed(String),
    #[error("the host {0} does not resolve")]
    Unresolvable(String),
}

impl From<TargetError> for AppError {
    fn from(err: TargetError) -> Self {
        match err {
            TargetError::NotAllowed(_) => {
                AppError::unprocessable("webhook_url_not_allowed", format!("url: {err}"))
            }
            TargetError::Unresolvable(_) => {
                AppError::unprocessable("webhook_url_unresolvable", format!("url: {err}"))
            }
        }
    }
}

/// The IP of a URL whose host is an address literal.
fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

/// Checks an IP-literal host without DNS; `Ok` for names (the resolver checks those).
pub fn check_literal(url: &Url, allow_private: bool) -> Result<(), TargetError> {
    match literal_ip(url) {
        Some(ip) if !allow_private && is_forbidden(ip) => {
            Err(TargetError::NotAllowed(ip.to_string()))
        }
        _ => Ok(()),
    }
}

/// Resolves the URL's host (DNS for names) and refuses it if any address is forbidden.
pub async fn check_target(url: &Url, allow_private: bool) -> Result<(), TargetError> {
    if allow_private {
        return Ok(());
    }
    check_literal(url, allow_private)?;
    let Some(url::Host::Domain(host)) = url.host() else { return Ok(()) };
    let host = host.to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let lookup =
        tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((host.clone(), port))).await;
    let addrs: Vec<SocketAddr> = match lookup {
        Ok(Ok(addrs)) => addrs.collect(),
        _ => return Err(TargetError::Unresolvable(host)),
    };
    if addrs.is_empty() {
        return Err(TargetError::Unresolvable(host));
    }
    if addrs.iter().any(|addr| is_forbidden(addr.ip())) {
        return Err(TargetError::NotAllowed(host));
    }
    Ok(())
}

/// The delivery client's DNS resolver: the system resolver, refusing names with a forbidden
/// address unless private networks are allowed.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow_private && addrs.iter().any(|addr| is_forbidden(addr.ip())) {
                return Err(Box::new(TargetError::NotAllowed(host))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forbidden(ip: &str) -> bool {
        is_forbidden(ip.parse().unwrap())
    }

    #[test]
    fn non_public_addresses_are_forbidden() {
        for ip in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "127.0.0.1",
            "127.8.8.8",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "239.1.1.1",
            "255.255.255.255",
            "240.0.0.1",
            "198.18.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "::127.0.0.1",
            "fec0::1",
        ] {
            assert!(forbidden(ip), "{ip} must be forbidden");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "93.184.216.34",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(!forbidden(ip), "{ip} must be allowed");
        }
    }

    #[test]
    fn urls_must_be_absolute_http_with_a_host_and_not_too_long() {
        assert!(parse_url("url", "https://hooks.example.com/shopfleet?x=1").is_ok());
        assert!(parse_url("url", "http://203.0.113.5:8080/").is_ok());
        for bad in [
            "",
            "hooks.example.com/x",
            "/relative",
            "ftp://example.com/",
            "javascript:alert(1)",
            "http://",
            "mailto:a@b.c",
        ] {
            assert!(parse_url("url", bad).is_err(), "{bad:?} must be refused");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_CHARS));
        assert!(parse_url("url", &long).is_err());
    }

    #[test]
    fn literal_hosts_are_checked_without_dns() {
        let url = |s: &str| Url::parse(s).unwrap();
        assert_eq!(
            check_literal(&url("http://127.0.0.1:9/"), false),
            Err(TargetError::NotAllowed("127.0.0.1".into()))
        );
        assert!(check_literal(&url("http://[::1]/"), false).is_err());
        assert!(check_literal(&url("http://[::ffff:a9fe:a9fe]/"), false).is_err());
        assert!(check_literal(&url("http://127.0.0.1:9/"), true).is_ok());
        assert!(check_literal(&url("http://8.8.8.8/"), false).is_ok());
        assert!(check_literal(&url("http://example.com/"), false).is_ok());
    }
}
