//! The address a request comes from, for the login throttle: the TCP peer, unless the peer is
//! a proxy the operator trusts (`TRUSTED_PROXIES`), whose `X-Forwarded-For` then says who it
//! forwards for. Behind a load balancer every connection comes from the balancer; without
//! this, all clients would share one address and a few wrong passwords from anyone would lock
//! out everyone (DRF's throttles have `NUM_PROXIES` for the same reason).
//!
//! `X-Forwarded-For` is read from the right: each trusted proxy appends the address it got the
//! request from, so the first address from the right that is not a trusted proxy is the
//! client. Anything to its left was written by the client and is never believed. A peer that
//! is not trusted is the client whatever the headers say; a malformed entry stops the walk at
//! the last address known good.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use actix_web::HttpRequest;

/// Address ranges whose connections are proxies: `TRUSTED_PROXIES`, comma-separated addresses
/// or CIDR ranges (`127.0.0.1,10.0.0.0/8,::1`). Empty: no proxy is trusted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Range>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    network: IpAddr,
    prefix: u8,
}

impl Range {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_match(u32::from(net).into(), u32::from(ip).into(), self.prefix, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_match(u128::from(net), u128::from(ip), self.prefix, 128)
            }
            _ => false,
        }
    }
}

fn prefix_match(net: u128, ip: u128, prefix: u8, bits: u8) -> bool {
    if prefix == 0 {
        return true;
    }
    let shift = u32::from(bits - prefix);
    (net >> shift) == (ip >> shift)
}

/// An IPv4 address written as IPv6 (`::ffff:10.0.0.1`, as a dual-stack socket reports it) is
/// that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl FromStr for TrustedProxies {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut ranges = Vec::new();
        for item in s.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            let (address, prefix) = match item.split_once('/') {
                Some((address, prefix)) => (address, Some(prefix)),
                None => (item, None),
            };
            let network = canonical(
                address
                    .parse::<IpAddr>()
                    .map_err(|_| format!("{item:?} is not an IP address or CIDR range"))?,
            );
            let bits = if network.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                None => bits,
                Some(p) => p
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p <= bits)
                    .ok_or_else(|| format!("{item:?}: the prefix must be 0 to {bits}"))?,
            };
            ranges.push(Range { network, prefix });
        }
        Ok(TrustedProxies(ranges))
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self
            .0
            .iter()
            .map(|r| format!("{}/{}", r.network, r.prefix))
            .collect();
        f.write_str(&items.join(","))
    }
}

impl TrustedProxies {
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|range| range.contains(ip))
    }

    /// The client's address (see the module docs); `None` when the peer is unknown (a test
    /// request without one).
    pub fn client(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = canonical(req.peer_addr()?.ip());
        if !self.contains(peer) {
            return Some(peer);
        }
        let forwarded: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for entry in forwarded.iter().rev() {
            let Ok(ip) = entry.parse::<IpAddr>().map(canonical) else {
                break;
            };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        Some(client)
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn request(peer: &str, forwarded: &[&str]) -> HttpRequest {
        let mut req = TestRequest::default()
            .peer_addr(format!("{peer}:40000").parse().expect("a socket address"));
        for value in forwarded {
            req = req.append_header(("X-Forwarded-For", *value));
        }
        req.to_http_request()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("an address"))
    }

    #[test]
    fn ranges_parse_and_bad_ones_are_named() {
        let trusted: TrustedProxies = "127.0.0.1, 10.0.0.0/8,::1".parse().expect("ranges");
        assert_eq!(trusted.to_string(), "127.0.0.1/32,10.0.0.0/8,::1/128");
        let contains = |s: &str| trusted.contains(s.parse().expect("an address"));
        assert!(contains("10.200.3.4"));
        assert!(contains("::ffff:10.1.1.1"));
        assert!(!contains("11.0.0.1"));
        assert_eq!("".parse::<TrustedProxies>(), Ok(TrustedProxies::default()));
        for bad in ["10.0.0.0/33", "::/129", "proxy.local", "10.0.0.0/x"] {
            let error = bad.parse::<TrustedProxies>().expect_err("refused");
            assert!(error.contains(bad), "{error}");
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted: TrustedProxies = "127.0.0.1".parse().expect("a range");
        let req = request("203.0.113.9", &["198.51.100.1"]);
        assert_eq!(trusted.client(&req), ip("203.0.113.9"));
        // No proxy trusted: the peer, always.
        let req = request("127.0.0.1", &["198.51.100.1"]);
        assert_eq!(TrustedProxies::default().client(&req), ip("127.0.0.1"));
    }

    #[test]
    fn behind_trusted_proxies_the_first_untrusted_address_from_the_right_is_the_client() {
        let trusted: TrustedProxies = "127.0.0.1,10.0.0.0/8".parse().expect("ranges");
        // The client forged a left-hand entry; the balancer appended the real address.
        let req = request("127.0.0.1", &["6.6.6.6, 203.0.113.9"]);
        assert_eq!(trusted.client(&req), ip("203.0.113.9"));
        // Two proxies, the entries split over two headers.
        let req = request("127.0.0.1", &["6.6.6.6, 203.0.113.9", "10.1.2.3"]);
        assert_eq!(trusted.client(&req), ip("203.0.113.9"));
        // A malformed entry stops the walk at the last good address.
        let req = request("127.0.0.1", &["203.0.113.9, not-an-ip"]);
        assert_eq!(trusted.client(&req), ip("127.0.0.1"));
        // No header: the proxy itself.
        assert_eq!(trusted.client(&request("10.9.9.9", &[])), ip("10.9.9.9"));
        // Only trusted addresses: the leftmost.
        let req = request("127.0.0.1", &["10.0.0.7"]);
        assert_eq!(trusted.client(&req), ip("10.0.0.7"));
    }
}
