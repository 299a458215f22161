//! The SSRF guard: which addresses a webhook may reach. Loopback, private, link-local,
//! multicast, unspecified and cloud-metadata addresses are refused unless an operator allowed
//! their range (`PARTNERFEED_WEBHOOK_ALLOW`); plain `http` is accepted only for allowed ranges.
//! The check runs when a subscription is made and again on the addresses a connection will
//! actually use (see `client`), so DNS rebinding does not get through.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One CIDR block, e.g. `127.0.0.0/8` or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// `127.0.0.0/8`.
impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The ranges an operator allowed, parsed from a comma-separated list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList(pub Vec<Cidr>);

/// The list as it is written: `127.0.0.0/8,10.0.0.0/8`.
impl std::fmt::Display for AllowList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cidrs: Vec<String> = self.0.iter().map(Cidr::to_string).collect();
        f.write_str(&cidrs.join(","))
    }
}

impl AllowList {
    pub fn parse(s: &str) -> Result<AllowList, String> {
        s.split(',')
            .filter(|p| !p.trim().is_empty())
            .map(Cidr::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(AllowList)
    }

    pub fn allows(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error("the URL is not valid: {0}")]
    Malformed(String),
    #[error("only https URLs are accepted (http only for addresses the operator allowed)")]
    Scheme,
    #[error("the URL must not carry a user name or password")]
    Credentials,
    #[error("{0} is not a public address (loopback, private, link-local, multicast or metadata)")]
    Forbidden(IpAddr),
    /// A host name whose addresses include a non-public one; the address is not told, so the
    /// guard cannot be used to map an internal network's names.
    #[error("the host {0} resolves to a non-public address")]
    NameForbidden(String),
    #[error("the URL must not contain control characters (CR, LF, tab or others)")]
    ControlCharacter,
    #[error("the host {0} does not resolve")]
    Unresolved(String),
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) are judged as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Whether `ip` is a public unicast address a webhook may reach without an explicit allowance.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip) && embedded_v4(ip).into_iter().all(is_public_v4),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16, where cloud metadata (169.254.169.254) lives
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

/// Checked against the IANA IPv6 Special-Purpose Address Registry: only global unicast
/// (`2000::/3`) is public, which leaves out `::/128`, `::1/128`, IPv4-compatible forms, the
/// discard-only `100::/64` (RFC 6666) and dummy `100:0:0:1::/64` (RFC 9780) prefixes, SRv6 SIDs
/// `5f00::/16`, unique local `fc00::/7`, link-local, site-local, multicast and the rest the
/// IETF reserves; inside it, the blocks below are refused too. NAT64 (`64:ff9b::/96`,
/// `64:ff9b:1::/48`), 6to4 and Teredo are judged by the IPv4 they carry ([`embedded_v4`]).
fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if s[0] == 0x0064 && s[1] == 0xff9b {
        // NAT64: only the well-known /96 and the local-use /48, whose IPv4 is judged apart.
        return s[2..6] == [0, 0, 0, 0] || s[2] == 1;
    }
    let global_unicast = (s[0] & 0xe000) == 0x2000;
    global_unicast
        && !(
            // IETF protocol assignments 2001::/23 (benchmarking 2001:2::/48, ORCHID 2001:10::/28,
            // ORCHIDv2 2001:20::/28, DRIP 2001:30::/28, AMT, AS112, anycast), except Teredo
            // 2001::/32
            (s[0] == 0x2001 && s[1] != 0 && s[1] < 0x0200)
            || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation 2001:db8::/32
            || (s[0] == 0x3fff && s[1] < 0x1000) // documentation 3fff::/20
            || s[..3] == [0x2620, 0x004f, 0x8000]
            // AS112 direct delegation 2620:4f:8000::/48
        )
}

/// The IPv4 addresses an IPv6 address carries to a translator or tunnel, which the packets
/// may end up at: 6to4 (`2002:AABB:CCDD::/48`), Teredo (`2001:0::/32`: its server, and its
/// client XOR 0xffffffff in the last 32 bits), NAT64 (`64:ff9b::/96`, and `64:ff9b:1::/48` in
/// both the RFC 6052 /48 layout and the /96 one), IPv4-compatible (`::a.b.c.d`) and
/// IPv4-mapped (`::ffff:a.b.c.d`) forms.
pub fn embedded_v4(ip: Ipv6Addr) -> Vec<Ipv4Addr> {
    let s = ip.segments();
    let o = ip.octets();
    let last = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    match s {
        [0x2002, ..] => vec![Ipv4Addr::new(o[2], o[3], o[4], o[5])],
        [0x2001, 0, ..] => vec![
            Ipv4Addr::new(o[4], o[5], o[6], o[7]),
            Ipv4Addr::from(!u32::from(last)),
        ],
        [0x0064, 0xff9b, 0, 0, 0, 0, ..] => vec![last],
        [0x0064, 0xff9b, 1, ..] => vec![Ipv4Addr::new(o[6], o[7], o[9], o[10]), last],
        [0, 0, 0, 0, 0, 0xffff, ..] | [0, 0, 0, 0, 0, 0, ..] => vec![last],
        _ => Vec::new(),
    }
}

/// Checks one address a webhook would connect to. `https` says whether the URL is https:
/// plain http is only for allowed ranges.
pub fn check_addr(ip: IpAddr, https: bool, allow: &AllowList) -> Result<(), GuardError> {
    if allow.allows(ip) {
        return Ok(());
    }
    if !is_public(ip) {
        return Err(GuardError::Forbidden(ip));
    }
    if !https {
        return Err(GuardError::Scheme);
    }
    Ok(())
}

/// The URL as it will be stored and used: refused when it holds a control character (C0, which
/// includes CR, LF and tab, or DEL; the URL parser would silently drop some of them), otherwise
/// parsed and serialised again, so what is stored is what a client sends to.
pub fn normalize(url: &str) -> Result<String, GuardError> {
    if url.chars().any(|c| c.is_ascii_control()) {
        return Err(GuardError::ControlCharacter);
    }
    let parsed = url::Url::parse(url).map_err(|e| GuardError::Malformed(e.to_string()))?;
    Ok(parsed.to_string())
}

/// What can be said about a URL before resolving it: scheme, no credentials, a host.
/// Returns the host (an IP literal without brackets, or a name) and the port.
pub fn check_url(url: &str) -> Result<(bool, String, u16), GuardError> {
    if url.chars().any(|c| c.is_ascii_control()) {
        return Err(GuardError::ControlCharacter);
    }
    let parsed = url::Url::parse(url).map_err(|e| GuardError::Malformed(e.to_string()))?;
    let https = match parsed.scheme() {
        "https" => true,
        "http" => false,
        _ => return Err(GuardError::Scheme),
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(GuardError::Credentials);
    }
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| GuardError::Malformed("the URL has no host".into()))?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .to_string();
    let port = parsed
        .port_or_known_default()
        .ok_or_else(|| GuardError::Malformed("the URL has no port".into()))?;
    Ok((https, host, port))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_and_special_addresses_are_refused() {
        let none = AllowList::default();
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "100.100.100.200",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "ff02::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            // The IANA IPv6 special-purpose registry, outside 2000::/3 ...
            "100::1", // discard-only 100::/64 (RFC 6666)
            "100::ffff:ffff:ffff:ffff",
            "100:0:0:1::1", // dummy prefix 100:0:0:1::/64 (RFC 9780)
            "5f00::1",      // SRv6 SIDs 5f00::/16
            "fec0::1",      // site-local (deprecated)
            "4000::1",      // IETF reserved
            "e000::1",      // IETF reserved
            // ... and inside it.
            "2001:db8::1", // documentation 2001:db8::/32
            "3fff::1",     // documentation 3fff::/20
            "3fff:fff:ffff::1",
            "2001:2::1",  // benchmarking 2001:2::/48
            "2001:10::1", // ORCHID (deprecated) 2001:10::/28
            "2001:20::1", // ORCHIDv2 2001:20::/28
            "2001:2f:ffff::1",
            "2001:30::1", // DRIP 2001:30::/28
            "2001:1::1",  // PCP anycast, in IETF protocol assignments 2001::/23
            "2001:1ff::1",
            "2620:4f:8000::1", // AS112 direct delegation 2620:4f:8000::/48
        ] {
            assert_eq!(
                check_addr(ip(bad), true, &none),
                Err(GuardError::Forbidden(ip(bad))),
                "{bad}"
            );
        }
        for good in [
            "93.184.216.34",
            "2606:2800:220:1:248:1893:25c8:1946",
            "2001:200::1", // just past 2001::/23
            "2001:4860:4860::8888",
            "3ffe::1",                         // just below 3fff::/20
            "3fff:1000::1",                    // just past it
            "2620:4f:8001::1",                 // just past AS112's /48
            "2001:0:5db8:4e:0:f7ff:f7f7:f7f7", // Teredo of public addresses
        ] {
            assert_eq!(check_addr(ip(good), true, &none), Ok(()), "{good}");
            assert_eq!(check_addr(ip(good), false, &none), Err(GuardError::Scheme));
        }
    }

    #[test]
    fn ipv4_carried_in_ipv6_is_judged_as_ipv4() {
        let none = AllowList::default();
        for bad in [
            "2002:7f00:1::",                        // 6to4 of 127.0.0.1
            "2002:a00:1:1::1",                      // 6to4 of 10.0.0.1
            "2002:a9fe:a9fe::",                     // 6to4 of 169.254.169.254
            "2001:0:5db8:4e:0:f7ff:80ff:fffe",      // Teredo, client 127.0.0.1
            "2001:0:4136:e378:8000:63bf:f5ff:fffe", // Teredo, client 10.0.0.1
            "2001:0:a00:1:0:0:5db8:b7d1",           // Teredo, server 10.0.0.1
            "64:ff9b::a00:1",                       // NAT64 of 10.0.0.1
            "64:ff9b::7f00:1",                      // NAT64 of 127.0.0.1
            "64:ff9b::a9fe:a9fe",                   // NAT64 of 169.254.169.254
            "64:ff9b:1:a00:0:100::",                // local-use NAT64 /48 layout of 10.0.0.1
            "64:ff9b:1::c0a8:101",                  // local-use NAT64 /96 layout of 192.168.1.1
            "64:ff9b:0:1::808:808",                 // 64:ff9b::/32 outside the well-known /96
            "::10.0.0.1",                           // IPv4-compatible
            "::8.8.8.8", // IPv4-compatible (deprecated: refused whatever it holds)
            "::ffff:169.254.169.254", // IPv4-mapped
        ] {
            assert!(!is_public(ip(bad)), "{bad}");
            assert!(check_addr(ip(bad), true, &none).is_err(), "{bad}");
        }
        for good in [
            "2002:5db8:d822::1",                    // 6to4 of 93.184.216.34
            "2001:0:4136:e378:8000:63bf:a247:27dd", // Teredo, client 93.184.216.34 (XOR)
            "64:ff9b::5db8:d822",                   // NAT64 of 93.184.216.34
        ] {
            assert!(is_public(ip(good)), "{good}");
        }
        assert_eq!(
            embedded_v4("2001:0:4136:e378:8000:63bf:f5ff:fffe".parse().unwrap()),
            vec![ip4("65.54.227.120"), ip4("10.0.0.1")]
        );
    }

    fn ip4(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn urls_with_control_characters_are_refused_and_others_re_serialised() {
        for bad in [
            "https://x.example/a\r\nX-Injected: 1",
            "https://x.example/\n",
            "https://x.example/a\tb",
            "https://x.example/\u{0}",
            "https://x.example/\u{7f}",
            "https://x.example/\u{1b}[31m",
        ] {
            assert_eq!(normalize(bad), Err(GuardError::ControlCharacter), "{bad:?}");
            assert_eq!(check_url(bad), Err(GuardError::ControlCharacter), "{bad:?}");
        }
        assert_eq!(
            normalize("HTTPS://Hooks.Example.COM:443/a b?x=1#f").unwrap(),
            "https://hooks.example.com/a%20b?x=1#f"
        );
    }

    #[test]
    fn allowed_ranges_pass_even_over_http() {
        let allow = AllowList::parse("127.0.0.0/8, fd12::/16").unwrap();
        assert_eq!(check_addr(ip("127.0.0.1"), false, &allow), Ok(()));
        assert_eq!(check_addr(ip("127.255.0.9"), false, &allow), Ok(()));
        assert_eq!(check_addr(ip("::ffff:127.0.0.1"), false, &allow), Ok(()));
        assert_eq!(check_addr(ip("fd12:1::1"), false, &allow), Ok(()));
        assert!(check_addr(ip("10.0.0.1"), false, &allow).is_err());
        assert!(check_addr(ip("::1"), false, &allow).is_err());
    }

    #[test]
    fn cidrs_parse_and_match() {
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("nonsense").is_err());
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("10.1.2.3").unwrap().contains(ip("10.1.2.3")));
        assert!(!Cidr::parse("10.1.2.3").unwrap().contains(ip("10.1.2.4")));
    }

    #[test]
    fn urls_need_a_scheme_and_host_and_no_credentials() {
        assert_eq!(
            check_url("https://hooks.example.com/x").unwrap(),
            (true, "hooks.example.com".into(), 443)
        );
        assert_eq!(
            check_url("http://[::1]:8080/").unwrap(),
            (false, "::1".into(), 8080)
        );
        assert_eq!(check_url("ftp://x.example/"), Err(GuardError::Scheme));
        assert_eq!(
            check_url("https://u:p@x.example/"),
            Err(GuardError::Credentials)
        );
        assert!(check_url("not a url").is_err());
    }
}
