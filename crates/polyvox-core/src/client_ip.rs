//! Which address a request comes from, for limits kept per client (failed authentications).
//!
//! Design: the TCP peer is the client unless it is a proxy the operator trusts
//! (`--trusted-proxies`). Behind such a proxy the client is read from `X-Forwarded-For`, walked
//! from the right: each trusted hop appended the address it received the request from, so the
//! rightmost address that is *not* a trusted proxy is the first one no trusted party vouches
//! for. Everything left of it was written by the client and may be forged, so it is never read.
//! With no trusted proxies the header is ignored altogether: a client cannot name itself.
//!
//! Limits are kept per IPv4 address and per IPv6 /64 ([`ClientIp::bucket`]): one subscriber
//! usually holds a whole /64, so counting single IPv6 addresses would let one client rotate
//! through 2^64 of them.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// An address range in CIDR notation (`10.0.0.0/8`, `fd00::/8`) or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    base: IpAddr,
    prefix: u8,
}

impl IpRange {
    /// Parses `addr` or `addr/prefix`; the error names the entry and what is wrong with it.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let base: IpAddr = addr.parse().map_err(|_| {
            format!("'{s}' is not an IP address or CIDR range (10.0.0.0/8, fd00::/8)")
        })?;
        let max = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("'{s}': the prefix length must be 0 to {max}"))?,
        };
        Ok(Self { base, prefix })
    }

    /// Whether `ip` is inside the range. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, as a
    /// dual-stack socket reports IPv4 peers) is judged as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.base, unmap(ip)) {
            (IpAddr::V4(base), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(base) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(base), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(base) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpRange>);

impl TrustedProxies {
    /// Parses every entry (comma-separated lists are split by the caller); empty = trust none.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        entries
            .iter()
            .map(|e| e.as_ref().trim())
            .filter(|e| !e.is_empty())
            .map(IpRange::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|r| r.contains(ip))
    }

    /// The client of a request that arrived from `peer` with these `X-Forwarded-For` values (in
    /// header order). See the module note.
    pub fn client<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> ClientIp {
        if !self.trusts(peer) {
            return ClientIp(unmap(peer));
        }
        let hops: Vec<&str> = forwarded_for
            .into_iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                // Garbage where a trusted proxy should have written an address: stop at the last
                // address a trusted party gave us.
                break;
            };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        ClientIp(unmap(client))
    }
}

/// An `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5678`, `[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    let (addr, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    addr.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// The address a request is attributed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// The unit per-client limits count in: the IPv4 address, or the IPv6 /64.
    pub fn bucket(&self) -> String {
        match self.0 {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => {
                let net = u128::from(v6) & (u128::MAX << 64);
                format!("{}/64", Ipv6Addr::from(net))
            }
        }
    }
}

impl fmt::Display for ClientIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_parse_and_match() {
        let r = IpRange::parse("10.0.0.0/8").unwrap();
        assert!(r.contains(ip("10.200.3.4")));
        assert!(r.contains(ip("::ffff:10.1.1.1")), "mapped IPv4 peers");
        assert!(!r.contains(ip("11.0.0.1")));
        assert!(!r.contains(ip("fd00::1")));
        let one = IpRange::parse(" 127.0.0.1 ").unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        let v6 = IpRange::parse("fd00::/8").unwrap();
        assert!(v6.contains(ip("fdab::1")) && !v6.contains(ip("fe80::1")));
        assert!(IpRange::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(IpRange::parse("::/0").unwrap().contains(ip("2001:db8::1")));
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "nginx",
            "10.0.0.0/x",
            "10.0.0/8",
        ] {
            assert!(IpRange::parse(bad).is_err(), "{bad}");
        }
        assert!(
            IpRange::parse("10.0.0.0/33")
                .unwrap_err()
                .contains("0 to 32")
        );
    }

    #[test]
    fn the_peer_is_the_client_unless_it_is_a_trusted_proxy() {
        let none = TrustedProxies::default();
        // Without trusted proxies the header is never read: a client cannot name itself.
        assert_eq!(
            none.client(ip("203.0.113.9"), ["1.2.3.4"]).0,
            ip("203.0.113.9")
        );
        let nginx = TrustedProxies::parse(&["127.0.0.1", "10.0.0.0/8"]).unwrap();
        assert_eq!(
            nginx.client(ip("198.51.100.7"), ["1.2.3.4"]).0,
            ip("198.51.100.7")
        );
        // Behind nginx: the address nginx appended.
        assert_eq!(
            nginx.client(ip("127.0.0.1"), ["203.0.113.9"]).0,
            ip("203.0.113.9")
        );
        // A forged left part is skipped: the rightmost untrusted hop wins.
        assert_eq!(
            nginx.client(ip("127.0.0.1"), ["6.6.6.6, 203.0.113.9"]).0,
            ip("203.0.113.9")
        );
        // Several trusted hops (a load balancer in 10/8 in front of nginx), split headers.
        assert_eq!(
            nginx
                .client(ip("127.0.0.1"), ["6.6.6.6, 203.0.113.9", "10.1.2.3"])
                .0,
            ip("203.0.113.9")
        );
        // Ports and brackets as some proxies write them.
        assert_eq!(
            nginx.client(ip("127.0.0.1"), ["203.0.113.9:4711"]).0,
            ip("203.0.113.9")
        );
        assert_eq!(
            nginx.client(ip("127.0.0.1"), ["[2001:db8::5]:443"]).0,
            ip("2001:db8::5")
        );
        // No header, or garbage where the proxy's entry should be: the last trusted hop.
        assert_eq!(nginx.client(ip("127.0.0.1"), []).0, ip("127.0.0.1"));
        assert_eq!(
            nginx
                .client(ip("127.0.0.1"), ["1.2.3.4, unknown, 10.0.0.2"])
                .0,
            ip("10.0.0.2")
        );
        // Only trusted addresses: the leftmost of them.
        assert_eq!(
            nginx.client(ip("127.0.0.1"), ["10.0.0.9"]).0,
            ip("10.0.0.9")
        );
    }

    #[test]
    fn limits_count_ipv4_addresses_and_ipv6_subnets() {
        assert_eq!(ClientIp(ip("203.0.113.9")).bucket(), "203.0.113.9");
        assert_eq!(
            ClientIp(ip("2001:db8:1:2:aaaa::1")).bucket(),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            ClientIp(ip("2001:db8:1:2:ffff::9")).bucket(),
            ClientIp(ip("2001:db8:1:2::1")).bucket()
        );
        let proxies = TrustedProxies::default();
        assert_eq!(
            proxies.client(ip("::ffff:192.0.2.1"), []).0,
            ip("192.0.2.1")
        );
    }
}
