//! PROXY protocol v1: one text line, `PROXY TCP4|TCP6 src dst sport dport\r\n`
//! or `PROXY UNKNOWN[ anything]\r\n`, at most [`V1_MAX_LEN`] bytes.

use core::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use super::wire::Writer;
use super::{
    Addresses, Command, EncodeError, ParseError, Parsed, ProxyHeader, Tlvs, V1_MAX_LEN, V1_MIN_LEN,
    Version,
};

const PREFIX: &[u8] = b"PROXY ";

/// Writes the line HAProxy's `make_proxy_line_v1()` writes for `send-proxy`
/// (src/connection.c): `TCP4` when both sides are IPv4, `TCP6` otherwise
/// (build `addresses` with [`Addresses::from_pair`] to map a lone IPv4 side),
/// `UNKNOWN` when the addresses are not known. IPv6 text follows glibc's
/// `inet_ntop()`, which HAProxy calls. Returns the length written.
pub fn encode_v1(out: &mut [u8], addresses: &Addresses) -> Result<usize, EncodeError> {
    let mut w = Writer::new(out);
    match addresses {
        Addresses::Unspec => w.put(b"PROXY UNKNOWN\r\n")?,
        Addresses::Tcp4 {
            source,
            destination,
        } => {
            w.put(b"PROXY TCP4 ")?;
            write!(
                w,
                "{} {} {} {}\r\n",
                source.ip(),
                destination.ip(),
                source.port(),
                destination.port()
            )?;
        }
        Addresses::Tcp6 {
            source,
            destination,
        } => {
            w.put(b"PROXY TCP6 ")?;
            write_ipv6_like_inet_ntop(&mut w, source.ip())?;
            w.put(b" ")?;
            write_ipv6_like_inet_ntop(&mut w, destination.ip())?;
            write!(w, " {} {}\r\n", source.port(), destination.port())?;
        }
    }
    Ok(w.len())
}

impl core::fmt::Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.put(s.as_bytes()).map_err(|_| core::fmt::Error)
    }
}

impl From<core::fmt::Error> for EncodeError {
    fn from(_: core::fmt::Error) -> Self {
        // Our only fmt::Write sink fails solely for lack of room.
        EncodeError::BufferTooSmall
    }
}

/// glibc's `inet_ntop6()`: the longest run of two or more zero groups (the
/// first on a tie) becomes `::`, and an address whose first 96 bits are zero
/// or `::ffff` ends in dotted IPv4. Rust's `Display` agrees except for the
/// deprecated IPv4-compatible form (`::a.b.c.d`, printed `::xxxx:xxxx`), so we
/// format it ourselves to stay byte-identical to HAProxy.
fn write_ipv6_like_inet_ntop(w: &mut Writer<'_>, ip: &Ipv6Addr) -> Result<(), EncodeError> {
    let words = ip.segments();
    let (mut best_base, mut best_len) = (None::<usize>, 0usize);
    let mut run: Option<(usize, usize)> = None;
    for (i, &word) in words.iter().enumerate() {
        if word == 0 {
            let (base, len) = run.map_or((i, 1), |(b, l)| (b, l + 1));
            run = Some((base, len));
            if len > best_len {
                (best_base, best_len) = (Some(base), len);
            }
        } else {
            run = None;
        }
    }
    if best_len < 2 {
        best_base = None;
    }
    let in_best = |i: usize| best_base.is_some_and(|b| i >= b && i < b + best_len);
    for (i, &word) in words.iter().enumerate() {
        if in_best(i) {
            if best_base == Some(i) {
                w.put(b":")?;
            }
            continue;
        }
        if i != 0 {
            w.put(b":")?;
        }
        let embeds_v4 =
            best_base == Some(0) && (best_len == 6 || (best_len == 5 && words[5] == 0xffff));
        if i == 6 && embeds_v4 {
            let o = ip.octets();
            write!(w, "{}", Ipv4Addr::new(o[12], o[13], o[14], o[15]))?;
            return Ok(());
        }
        write!(w, "{word:x}")?;
    }
    if best_base.is_some_and(|b| b + best_len == 8) {
        w.put(b":")?;
    }
    Ok(())
}

/// Parses a v1 line; `buf` starts with `P`.
pub(super) fn parse(buf: &[u8]) -> Result<Parsed<'_>, ParseError> {
    let head = buf.get(..PREFIX.len()).unwrap_or(buf);
    if !PREFIX.starts_with(head) {
        return Err(ParseError::NotProxyProtocol);
    }
    let window = buf.get(..V1_MAX_LEN).unwrap_or(buf);
    let Some(lf) = window.iter().position(|&b| b == b'\n') else {
        if buf.len() >= V1_MAX_LEN {
            return Err(ParseError::TooLong);
        }
        reject_impossible_prefix(window.get(PREFIX.len()..).unwrap_or_default())?;
        return Ok(Parsed::Incomplete {
            at_least: (buf.len() + 1).max(V1_MIN_LEN),
        });
    };
    let line = window.get(..lf).unwrap_or_default();
    let Some(body) = line.strip_suffix(b"\r") else {
        return Err(ParseError::Invalid("v1 line ends in LF without CR"));
    };
    let Some(body) = body.strip_prefix(PREFIX) else {
        return Err(ParseError::Invalid("v1 line too short"));
    };
    if body.contains(&b'\r') {
        return Err(ParseError::Invalid("v1 line has a stray CR"));
    }
    let addresses = parse_body(body)?;
    let header = ProxyHeader {
        version: Version::V1,
        command: Command::Proxy,
        addresses,
        tlvs: Tlvs::EMPTY,
    };
    Ok(Parsed::Complete {
        header,
        consumed: lf + 1,
    })
}

/// Fails early on a partial line that no more bytes could make valid, so a
/// peer sending garbage is refused at once rather than after 107 bytes.
fn reject_impossible_prefix(partial: &[u8]) -> Result<(), ParseError> {
    let could_be = |proto: &[u8]| {
        let n = partial.len().min(proto.len());
        partial.get(..n) == proto.get(..n)
    };
    if could_be(b"UNKNOWN") {
        return Ok(());
    }
    if !could_be(b"TCP4 ") && !could_be(b"TCP6 ") {
        return Err(ParseError::Invalid(
            "v1 protocol is not TCP4, TCP6 or UNKNOWN",
        ));
    }
    let fields_ok = partial
        .iter()
        .skip(5)
        .all(|&b| b.is_ascii_hexdigit() || matches!(b, b'.' | b':' | b' ' | b'\r'));
    if fields_ok {
        Ok(())
    } else {
        Err(ParseError::Invalid("v1 line has a bad character"))
    }
}

fn parse_body(body: &[u8]) -> Result<Addresses, ParseError> {
    if let Some(rest) = body.strip_prefix(b"UNKNOWN") {
        // The spec: after UNKNOWN the receiver ignores everything up to CRLF.
        return if rest.is_empty() || rest.starts_with(b" ") {
            Ok(Addresses::Unspec)
        } else {
            Err(ParseError::Invalid(
                "v1 protocol is not TCP4, TCP6 or UNKNOWN",
            ))
        };
    }
    let (is_v6, fields) = if let Some(rest) = body.strip_prefix(b"TCP4 ") {
        (false, rest)
    } else if let Some(rest) = body.strip_prefix(b"TCP6 ") {
        (true, rest)
    } else {
        return Err(ParseError::Invalid(
            "v1 protocol is not TCP4, TCP6 or UNKNOWN",
        ));
    };
    // Exactly one space between fields: an empty field from a double space fails below.
    let mut parts = fields.split(|&b| b == b' ');
    let (Some(src), Some(dst), Some(sport), Some(dport), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(ParseError::Invalid(
            "v1 line does not have four address fields",
        ));
    };
    let (sport, dport) = (parse_port(sport)?, parse_port(dport)?);
    if is_v6 {
        let source = SocketAddrV6::new(parse_ip::<Ipv6Addr>(src)?, sport, 0, 0);
        let destination = SocketAddrV6::new(parse_ip::<Ipv6Addr>(dst)?, dport, 0, 0);
        Ok(Addresses::Tcp6 {
            source,
            destination,
        })
    } else {
        let source = SocketAddrV4::new(parse_ip::<Ipv4Addr>(src)?, sport);
        let destination = SocketAddrV4::new(parse_ip::<Ipv4Addr>(dst)?, dport);
        Ok(Addresses::Tcp4 {
            source,
            destination,
        })
    }
}

/// An address in its family's text form; std's parsers are strict (no
/// leading zeros in IPv4 octets, no zone ids, no brackets).
fn parse_ip<T: core::str::FromStr>(field: &[u8]) -> Result<T, ParseError> {
    core::str::from_utf8(field)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(ParseError::Invalid(
            "v1 address is not valid for its family",
        ))
}

/// A port: decimal 0..=65535, no sign, no leading zero (stricter than HAProxy,
/// which no sender we know of trips).
fn parse_port(field: &[u8]) -> Result<u16, ParseError> {
    const BAD: ParseError = ParseError::Invalid("v1 port is not a decimal in 0..=65535");
    let ok_shape = !field.is_empty()
        && field.len() <= 5
        && field.iter().all(u8::is_ascii_digit)
        && (field.len() == 1 || field[0] != b'0');
    if !ok_shape {
        return Err(BAD);
    }
    let value = field
        .iter()
        .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'));
    u16::try_from(value).map_err(|_| BAD)
}
