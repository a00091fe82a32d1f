//! SNI → route: the table a terminate or passthrough listener consults once per connection,
//! after the ClientHello and before choosing a backend.
//!
//! Names are normalised twice in the same way: once at load ([`normalise_server_name`],
//! which also validates them) and once per connection in [`RouteTable::lookup`], into a
//! stack buffer so the hot path does not allocate.
//!
//! Matching follows RFC 6125 §6.4.3 (wildcards in presented identifiers), reduced to the
//! rule browsers apply: a wildcard is the whole leftmost label (`*.tenant.example.com`) and
//! stands for exactly one label. `x.tenant.example.com` matches, `a.b.tenant.example.com` and
//! `tenant.example.com` do not. An exact name wins over a wildcard covering it.

use std::net::IpAddr;

use hashbrown::HashMap;

/// Longest DNS name in presentation form without the trailing dot, in bytes: 255 octets on
/// the wire (RFC 1035 §2.3.4) minus the length octets of the labels and the root.
pub const MAX_NAME_LEN: usize = 253;

/// Longest DNS label, in bytes (RFC 1035 §2.3.4).
const MAX_LABEL_LEN: usize = 63;

/// SNI host names to route indices for one listener. Built once at load, read by every
/// worker; lookups do not allocate.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    /// Normalised exact names.
    exact: HashMap<Box<str>, usize>,
    /// `*.tenant.example.com` is stored as `tenant.example.com`.
    wildcard: HashMap<Box<str>, usize>,
}

impl RouteTable {
    pub fn new() -> RouteTable {
        RouteTable::default()
    }

    /// Adds a name already normalised by [`normalise_server_name`]. If another route has it,
    /// keeps that route and returns its index.
    pub fn insert(&mut self, normalised: &str, route: usize) -> Result<(), usize> {
        let (map, key) = match normalised.strip_prefix("*.") {
            Some(base) => (&mut self.wildcard, base),
            None => (&mut self.exact, normalised),
        };
        match map.get(key) {
            Some(&other) => Err(other),
            None => {
                map.insert(key.into(), route);
                Ok(())
            }
        }
    }

    /// Names in the table, wildcards included.
    pub fn len(&self) -> usize {
        self.exact.len() + self.wildcard.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The route for the SNI `server_name`, or `None` (the listener's `default_route`
    /// applies then). No allocation.
    ///
    /// RFC 6066 §3: the HostName is ASCII (IDNs arrive as A-labels), carries no trailing dot
    /// and is never an IP literal. Clients still send a trailing dot or capitals now and
    /// then, so both are forgiven; anything else that breaks the rules simply matches nothing.
    pub fn lookup(&self, server_name: &str) -> Option<usize> {
        let bytes = server_name.as_bytes();
        let bytes = bytes.strip_suffix(b".").unwrap_or(bytes);
        if bytes.is_empty() || bytes.len() > MAX_NAME_LEN || !bytes.is_ascii() {
            return None;
        }
        let mut buffer = [0u8; MAX_NAME_LEN];
        let name = &mut buffer[..bytes.len()];
        name.copy_from_slice(bytes);
        name.make_ascii_lowercase();
        // ASCII was checked above, so this cannot fail.
        let name = std::str::from_utf8(name).ok()?;
        if name.parse::<IpAddr>().is_ok() {
            return None;
        }
        if let Some(&route) = self.exact.get(name) {
            return Some(route);
        }
        // RFC 6125 §6.4.3: the wildcard replaces exactly the leftmost label.
        let (first, parent) = name.split_once('.')?;
        if first.is_empty() {
            return None;
        }
        self.wildcard.get(parent).copied()
    }
}

/// Validates a configured server name and returns it normalised: ASCII-lowercased, one
/// trailing dot removed. Accepted: a DNS name of LDH labels (RFC 1035 §2.3.1 with RFC 1123
/// §2.1's leading digits), at most 253 bytes, not an IP literal; or `*.` followed by such a
/// name of at least two labels. The error says what is wrong and what was expected.
pub fn normalise_server_name(name: &str) -> Result<String, String> {
    const EXPECTED: &str = "expected a DNS name like \"broker.example.com\" or one leading wildcard label like \"*.tenant.example.com\"";
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() {
        return Err(format!("empty server name ({EXPECTED})"));
    }
    if trimmed.len() > MAX_NAME_LEN {
        return Err(format!(
            "server name of {} bytes is longer than {MAX_NAME_LEN} ({EXPECTED})",
            trimmed.len()
        ));
    }
    if trimmed.parse::<IpAddr>().is_ok() {
        return Err(format!(
            "{name:?} is an IP address; SNI carries only host names (RFC 6066 §3) ({EXPECTED}; use default_route for clients that connect by address)"
        ));
    }
    let lower = trimmed.to_ascii_lowercase();
    let (wildcard, base) = match lower.strip_prefix("*.") {
        Some(base) => (true, base),
        None => (false, lower.as_str()),
    };
    if let Err(what) = check_dns_name(base) {
        return Err(format!("{name:?}: {what} ({EXPECTED})"));
    }
    if wildcard && !base.contains('.') {
        return Err(format!(
            "{name:?}: a wildcard needs at least two labels after \"*.\" ({EXPECTED})"
        ));
    }
    Ok(lower)
}

/// LDH labels separated by dots; the last label not all digits (RFC 1123 §2.1: that would
/// read as a dotted-decimal address).
fn check_dns_name(name: &str) -> Result<(), String> {
    for label in name.split('.') {
        if label.is_empty() {
            return Err("empty label".into());
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(format!(
                "label of {} bytes is longer than {MAX_LABEL_LEN}",
                label.len()
            ));
        }
        if let Some(bad) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            let hint = if bad == '*' {
                " (a wildcard must be the whole first label)"
            } else {
                ""
            };
            return Err(format!("character {bad:?} not allowed{hint}"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label {label:?} starts or ends with '-'"));
        }
    }
    let last = name.rsplit('.').next().unwrap_or(name);
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err("all-numeric last label looks like an IP address".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
