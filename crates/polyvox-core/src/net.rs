//! Network address classes, shared by the API (which refuses webhook URLs naming an internal
//! address) and the worker (which refuses to deliver to one after resolving the host).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `ip` belongs to a network a public webhook has no business reaching: loopback,
/// private, shared (CGNAT), link-local (cloud metadata), unspecified, multicast, broadcast,
/// benchmarking, documentation and reserved ranges, and IPv6's equivalents (IPv4-mapped
/// addresses are judged as IPv4).
pub fn is_internal_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal_v4(v4);
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
                || v6 == Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0) // NAT64 prefix itself
        }
    }
}

fn is_internal_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space 100.64.0.0/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking 198.18.0.0/15
        || a >= 240 // reserved
}

/// The host of an `http://` or `https://` URL (userinfo and port removed, IPv6 brackets kept
/// off), or `None` when there is none.
pub fn url_host(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split_once(']')?.0
    } else {
        host_port.split(':').next()?
    };
    (!host.is_empty()).then_some(host)
}

/// Whether a URL's host is, on its face, internal: an internal IP literal or a `localhost` name.
/// Names are not resolved here (the worker checks what they resolve to when it delivers).
pub fn names_internal_host(url: &str) -> Option<String> {
    let host = url_host(url)?.trim_end_matches('.').to_ascii_lowercase();
    let internal = match host.parse::<IpAddr>() {
        Ok(ip) => is_internal_ip(ip),
        Err(_) => host == "localhost" || host.ends_with(".localhost"),
    };
    internal.then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
        ] {
            assert!(is_internal_ip(internal.parse().unwrap()), "{internal}");
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_internal_ip(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn url_hosts_are_found_past_userinfo_ports_and_brackets() {
        assert_eq!(url_host("http://a.example/x"), Some("a.example"));
        assert_eq!(
            url_host("https://u:p@a.example:8443/x?y#z"),
            Some("a.example")
        );
        assert_eq!(url_host("http://[::1]:80/"), Some("::1"));
        assert_eq!(url_host("http://10.0.0.1"), Some("10.0.0.1"));
        assert_eq!(url_host("ftp://a"), None);
        assert_eq!(url_host("http:///x"), None);
        assert_eq!(
            names_internal_host("http://LOCALHOST./h").as_deref(),
            Some("localhost")
        );
        assert_eq!(
            names_internal_host("http://api.localhost/h").as_deref(),
            Some("api.localhost")
        );
        assert_eq!(
            names_internal_host("http://[::ffff:169.254.169.254]/").as_deref(),
            Some("::ffff:169.254.169.254")
        );
        assert_eq!(names_internal_host("https://hooks.example.com/h"), None);
        assert_eq!(names_internal_host("https://8.8.8.8/h"), None);
    }
}
