//! `trusted_proxies` entries: `10.0.0.0/8`, `2001:db8::/32`, or a bare address (one host).
//!
//! A dual-stack listener sees IPv4 peers as IPv4-mapped IPv6 addresses (`::ffff:10.1.2.3`),
//! so both sides are brought to IPv4 where they can be: a mapped peer is compared as IPv4,
//! and a CIDR written inside `::ffff:0:0/96` is stored as the IPv4 CIDR it denotes.

use std::fmt;
use std::net::IpAddr;

/// An address block: the network address (host bits zero) and the prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `ip/prefix` or a bare `ip`. Host bits must be zero (`10.0.0.1/8` is refused:
    /// it is usually a typo for a /32 or for `10.0.0.0/8`).
    pub fn parse(text: &str) -> Result<Cidr, String> {
        const EXPECTED: &str =
            "expected \"ip/prefix\" like \"10.0.0.0/8\" or \"2001:db8::/32\", or a single address";
        let (ip_text, prefix_text) = match text.split_once('/') {
            Some((ip, prefix)) => (ip, Some(prefix)),
            None => (text, None),
        };
        let ip: IpAddr = ip_text
            .parse()
            .map_err(|_| format!("{text:?}: {ip_text:?} is not an IP address ({EXPECTED})"))?;
        let max = max_prefix(ip);
        let prefix = match prefix_text {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max && !p.starts_with('+') => n,
                _ => {
                    return Err(format!(
                        "{text:?}: prefix {p:?} out of range ({EXPECTED}, prefix 0..={max})"
                    ));
                }
            },
        };
        let cidr = Cidr::mapped_to_v4(ip, prefix);
        if cidr.network != mask(cidr.network, cidr.prefix) {
            let fixed = Cidr {
                network: mask(cidr.network, cidr.prefix),
                prefix: cidr.prefix,
            };
            return Err(format!(
                "{text:?} has host bits set ({EXPECTED}; did you mean \"{fixed}\" or \"{ip_text}\"?)"
            ));
        }
        Ok(cidr)
    }

    /// Whether `ip` is in this block. An IPv4-mapped IPv6 `ip` matches IPv4 blocks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.network, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask(ip, self.prefix) == self.network
            }
            _ => false,
        }
    }

    /// `::ffff:a.b.c.d/96+n` is `a.b.c.d/n`.
    fn mapped_to_v4(ip: IpAddr, prefix: u8) -> Cidr {
        if let IpAddr::V6(v6) = ip
            && let Some(v4) = v6.to_ipv4_mapped()
            && prefix >= 96
        {
            return Cidr {
                network: IpAddr::V4(v4),
                prefix: prefix - 96,
            };
        }
        Cidr {
            network: ip,
            prefix,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn max_prefix(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// `ip` with all but the first `prefix` bits cleared.
fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            // A shift by the full width (prefix 0) is `None`: nothing is kept.
            let kept = bits & u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(kept.into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let kept = bits & u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(kept.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn v4_blocks() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains(ip("10.0.0.1")));
        assert!(c.contains(ip("10.255.255.255")));
        assert!(!c.contains(ip("11.0.0.0")));
        assert!(!c.contains(ip("9.255.255.255")));
        assert!(!c.contains(ip("::1")));
        assert_eq!(c.to_string(), "10.0.0.0/8");
        let c = Cidr::parse("192.168.1.0/24").unwrap();
        assert!(c.contains(ip("192.168.1.77")));
        assert!(!c.contains(ip("192.168.2.1")));
    }

    #[test]
    fn single_hosts_and_everything() {
        let c = Cidr::parse("10.1.2.3").unwrap();
        assert_eq!(c.to_string(), "10.1.2.3/32");
        assert!(c.contains(ip("10.1.2.3")));
        assert!(!c.contains(ip("10.1.2.4")));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("255.255.255.255")));
        assert!(all.contains(ip("::ffff:1.2.3.4")));
        assert!(!all.contains(ip("2001:db8::1")));
        let all6 = Cidr::parse("::/0").unwrap();
        assert!(all6.contains(ip("2001:db8::1")));
        assert_eq!(Cidr::parse("::1").unwrap().to_string(), "::1/128");
    }

    #[test]
    fn v6_blocks() {
        let c = Cidr::parse("2001:db8::/32").unwrap();
        assert!(c.contains(ip("2001:db8:ffff::1")));
        assert!(!c.contains(ip("2001:db9::1")));
        assert!(!c.contains(ip("32.1.13.184")));
        let c = Cidr::parse("fd00::/7").unwrap_err();
        assert!(c.contains("host bits set"), "{c}");
        assert!(Cidr::parse("fc00::/7").unwrap().contains(ip("fdab::1")));
    }

    #[test]
    fn mapped_clients_match_v4_blocks() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains(ip("::ffff:10.9.8.7")));
        assert!(!c.contains(ip("::ffff:11.0.0.1")));
        // A block written in mapped form is the IPv4 block it denotes.
        let m = Cidr::parse("::ffff:10.0.0.0/104").unwrap();
        assert_eq!(m, c);
        assert!(m.contains(ip("10.1.1.1")));
        assert!(m.contains(ip("::ffff:10.1.1.1")));
    }

    #[test]
    fn malformed_blocks_are_rejected() {
        for (bad, what) in [
            ("10.0.0.0/33", "prefix \"33\" out of range"),
            ("::/129", "prefix 0..=128"),
            ("10.0.0.0/", "prefix \"\" out of range"),
            ("10.0.0.0/+8", "out of range"),
            ("10.0.0/8", "is not an IP address"),
            ("localhost", "is not an IP address"),
            ("", "is not an IP address"),
            ("10.0.0.1/8", "has host bits set"),
        ] {
            let err = Cidr::parse(bad).unwrap_err();
            assert!(err.contains(what), "{bad:?}: {err}");
            assert!(err.contains("expected \"ip/prefix\""), "{err}");
        }
        let err = Cidr::parse("10.0.0.1/8").unwrap_err();
        assert!(err.contains("did you mean \"10.0.0.0/8\""), "{err}");
    }
}
