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
mod tests;
