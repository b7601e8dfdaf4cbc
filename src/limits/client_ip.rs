//! The client of a request: the TCP peer, or, when the peer is a trusted proxy
//! (`TRUSTED_PROXIES`), the right-most address of `X-Forwarded-For` that is not itself a trusted
//! proxy. Addresses left of it were written by the client and prove nothing.
//!
//! The server sets the client of each request once ([`scope`]); the limits read it with
//! [`current`], as error bodies read the request id.

use std::net::IpAddr;

use ipnet::IpNet;

tokio::task_local! {
    static CLIENT_IP: Option<IpAddr>;
}

/// Runs `fut` (the handling of one request) with `ip` as its client.
pub async fn scope<F: Future>(ip: Option<IpAddr>, fut: F) -> F::Output {
    CLIENT_IP.scope(ip, fut).await
}

/// The client of the request being handled, if known.
pub fn current() -> Option<IpAddr> {
    CLIENT_IP.try_with(|ip| *ip).ok().flatten()
}

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self(nets)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request from `peer` carrying these `X-Forwarded-For` header values
    /// (several headers count as one list, in order).
    pub fn client<'a>(
        &self,
        peer: Option<IpAddr>,
        forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    ) -> Option<IpAddr> {
        let mut client = canonical(peer?);
        if !self.trusts(client) {
            return Some(client);
        }
        let hops = forwarded_for.rev().flat_map(|value| value.rsplit(','));
        for hop in hops {
            // A hop that is not an address ends the walk: the proxy before it is the client.
            let Some(ip) = parse_hop(hop) else { break };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        Some(client)
    }
}

/// An address of `X-Forwarded-For`: `1.2.3.4`, `1.2.3.4:5678`, `::1` or `[::1]:5678`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(addr) = hop.parse::<std::net::SocketAddr>() {
        return Some(canonical(addr.ip()));
    }
    None
}

/// IPv4-mapped IPv6 addresses as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The part of an address a limit counts: an IPv4 address, or an IPv6 /64 (one customer's
/// network usually holds a whole /64, and may pick any address in it).
pub fn limit_key(ip: Option<IpAddr>) -> String {
    match ip.map(canonical) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        None => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    fn proxies(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| n.parse().expect("a block")).collect())
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let none = proxies(&[]);
        assert_eq!(
            none.client(Some(ip("10.0.0.1")), ["6.6.6.6"].into_iter()),
            Some(ip("10.0.0.1"))
        );

        let trusted = proxies(&["10.0.0.0/8"]);
        // The peer is not a proxy: its header is ignored.
        assert_eq!(
            trusted.client(Some(ip("8.8.8.8")), ["6.6.6.6"].into_iter()),
            Some(ip("8.8.8.8"))
        );
        // Right to left, skipping trusted hops; the client's own claims (left) are ignored.
        assert_eq!(
            trusted.client(Some(ip("10.0.0.1")), ["6.6.6.6, 7.7.7.7, 10.0.0.2"].into_iter()),
            Some(ip("7.7.7.7"))
        );
        // Several headers are one list.
        assert_eq!(
            trusted.client(Some(ip("10.0.0.1")), ["6.6.6.6", "7.7.7.7:443"].into_iter()),
            Some(ip("7.7.7.7"))
        );
        // Garbage ends the walk at the last proxy.
        assert_eq!(
            trusted.client(Some(ip("10.0.0.1")), ["6.6.6.6, bogus"].into_iter()),
            Some(ip("10.0.0.1"))
        );
        // No header: the proxy itself.
        assert_eq!(trusted.client(Some(ip("10.0.0.1")), std::iter::empty()), Some(ip("10.0.0.1")));
        assert_eq!(
            trusted.client(Some(ip("::ffff:10.0.0.1")), ["[2001:db8::1]:80"].into_iter()),
            Some(ip("2001:db8::1"))
        );
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        assert_eq!(limit_key(Some(ip("2001:db8:1:2:3:4:5:6"))), "2001:db8:1:2::/64");
        assert_eq!(limit_key(Some(ip("::ffff:1.2.3.4"))), "1.2.3.4");
        assert_eq!(limit_key(None), "unknown");
    }
}
