//! Network address classes and the one webhook-target check, shared by the API (which refuses a
//! webhook URL naming an internal address at submission) and the worker (which checks again,
//! after resolving the host, at delivery). Both call [`webhook_target`], so a URL gets one answer.
//!
//! URLs are parsed the WHATWG way (the `url` crate, as browsers and reqwest do): the host of
//! `http://2130706433/`, `http://0x7f.1/` or `http://0177.0.0.1/` *is* 127.0.0.1, so checking the
//! parsed host instead of the text catches every numeric spelling of an address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `ip` belongs to a network a public webhook has no business reaching: loopback,
/// private, shared (CGNAT), link-local (cloud metadata), unspecified, multicast, broadcast,
/// benchmarking, documentation and reserved ranges, and IPv6's equivalents. IPv6 forms that
/// carry an IPv4 address (mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are
/// judged by that address; IPv4-compatible `::a.b.c.d`, site-local `fec0::/10`, local-use NAT64
/// `64:ff9b:1::/48` and Teredo `2001::/32` (whose IPv4 end is hidden) are internal.
pub fn is_internal_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    }
}

fn is_internal_v6(v6: Ipv6Addr) -> bool {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return is_internal_v4(v4);
    }
    let s = v6.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        // NAT64 well-known prefix: the IPv4 address is the last 32 bits.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => return is_internal_v4(embedded(hi, lo)),
        // 6to4: the IPv4 address follows the prefix.
        [0x2002, hi, lo, ..] => return is_internal_v4(embedded(hi, lo)),
        _ => {}
    }
    v6.is_loopback()
        || v6.is_unspecified()
        || v6.is_multicast()
        || s[..6] == [0; 6] // IPv4-compatible ::a.b.c.d (deprecated), :: and ::1 included
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated, still routed inside sites)
        || (s[0] == 0x64 && s[1] == 0xff9b) // local-use NAT64 64:ff9b:1::/48 and the rest of /32
        || (s[0] == 0x2001 && s[1] == 0) // Teredo 2001::/32
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
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

/// Where a webhook URL points, once parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    /// The URL as parsed and normalized (what is stored and called).
    pub url: String,
    /// The host: an IP literal's canonical text, or a lower-case DNS name.
    pub host: String,
    pub port: u16,
    /// Set when the host is an IP literal; a name is resolved (and each address judged with
    /// [`is_internal_ip`]) at delivery.
    pub ip: Option<IpAddr>,
}

/// Parses and judges a webhook URL: `http` or `https`, at most 2048 characters, no whitespace
/// or control characters, a host, and, unless `allow_private`, a host that is not internal on
/// its face (an internal IP in any spelling, or `localhost`). The error is a sentence naming
/// the field, for the API to answer with.
pub fn webhook_target(raw: &str, allow_private: bool) -> Result<WebhookTarget, String> {
    let odd_char = raw.chars().any(|c| c.is_whitespace() || c.is_control());
    if raw.len() > 2048 || odd_char {
        return Err(
            "webhook_url must be an http:// or https:// URL of at most 2048 characters, \
             without spaces or control characters"
                .into(),
        );
    }
    let parsed = url::Url::parse(raw).map_err(|e| format!("webhook_url is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "webhook_url must be an http:// or https:// URL, not {}://",
            parsed.scheme()
        ));
    }
    let (host, ip) = match parsed.host() {
        Some(url::Host::Ipv4(v4)) => (v4.to_string(), Some(IpAddr::V4(v4))),
        Some(url::Host::Ipv6(v6)) => (v6.to_string(), Some(IpAddr::V6(v6))),
        Some(url::Host::Domain(name)) => (name.trim_end_matches('.').to_ascii_lowercase(), None),
        None => return Err("webhook_url has no host".into()),
    };
    let port = parsed
        .port_or_known_default()
        .ok_or("webhook_url has no port")?;
    if !allow_private {
        let internal = match ip {
            Some(ip) => is_internal_ip(ip),
            None => host == "localhost" || host.ends_with(".localhost"),
        };
        if internal {
            return Err(format!(
                "webhook_url names the internal host {host}; webhooks go only to public \
                 addresses unless the server runs with --webhook-allow-private"
            ));
        }
    }
    Ok(WebhookTarget {
        url: parsed.to_string(),
        host,
        port,
        ip,
    })
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
            "fec0::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "::8.8.8.8",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::808:808",
            "2002:7f00:1::1",
            "2002:a00:1::",
            "2001:0:4136:e378::1",
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
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(!is_internal_ip(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn every_spelling_of_an_internal_address_is_refused() {
        for url in [
            "http://127.0.0.1/h",
            "http://2130706433/h",
            "http://0x7f000001/h",
            "http://0x7f.1/h",
            "http://0177.0.0.1/h",
            "http://127.1/h",
            "http://017700000001/h",
            "http://[::ffff:7f00:1]/h",
            "http://[::ffff:169.254.169.254]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://LOCALHOST./h",
            "http://api.localhost/h",
            "https://u:p@10.0.0.1:8443/h",
        ] {
            let err = webhook_target(url, false).unwrap_err();
            assert!(err.contains("internal host"), "{url}: {err}");
            assert!(
                webhook_target(url, true).is_ok(),
                "{url} with allow_private"
            );
        }
    }

    #[test]
    fn public_targets_pass_and_bad_urls_name_the_field() {
        let t = webhook_target("https://Hooks.Example.com:8443/h?x=1", false).unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.ip),
            ("hooks.example.com", 8443, None)
        );
        let t = webhook_target("http://8.8.8.8/h", false).unwrap();
        assert_eq!(t.ip, Some("8.8.8.8".parse().unwrap()));
        assert_eq!(t.port, 80);
        for bad in [
            "ftp://a.example/x",
            "not a url",
            "http://a.example/x y",
            "http://",
            "mailto:a@b.example",
        ] {
            let err = webhook_target(bad, false).unwrap_err();
            assert!(err.contains("webhook_url"), "{bad}: {err}");
        }
        let long = format!("https://a.example/{}", "x".repeat(2048));
        assert!(webhook_target(&long, false).unwrap_err().contains("2048"));
    }
}
