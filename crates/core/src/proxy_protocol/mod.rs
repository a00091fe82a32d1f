//! PROXY protocol v1 and v2, sans-IO: bytes in, headers out, and headers into
//! a caller's buffer.
//!
//! Two directions on the data path:
//! - **PROXY-in**: an upstream L4 load balancer prefixes each connection with a
//!   v1 or v2 header. [`parse`] auto-detects the version, borrows from the input
//!   (no allocation), and says [`Parsed::Incomplete`] until the whole header is there.
//! - **PROXY-out**: before relaying to Mosquitto we send the header HAProxy 3.2
//!   would send for `send-proxy` ([`encode_v1`]) or `send-proxy-v2`,
//!   `send-proxy-v2-ssl`, `send-proxy-v2-ssl-cn` and `proxy-v2-options`
//!   ([`encode_v2`]), byte for byte. Mosquitto refuses a header that arrives
//!   across two reads, so the encoders fill one contiguous buffer and the driver
//!   sends it in one go.
//!
//! The specification is `doc/proxy-protocol.txt` in HAProxy's tree
//! (<https://www.haproxy.org/download/3.2/doc/proxy-protocol.txt>).
//!
//! # Layout
//! - [`v1`]: the text line, encode and strict parse.
//! - [`v2`]: the binary header, strict parse, TLV access, and [`V2Writer`] (raw TLVs).
//! - `receive`: the PROXY-in stage on top of [`parse`]: one read at a time, the header capped
//!   and what follows it handed on under the next stage's limit.
//! - `send`: HAProxy's server-line modes on top of [`V2Writer`], in HAProxy's TLV order.
//! - `crc32c`: the checksum for `PP2_TYPE_CRC32C`.
//! - `wire`: bounds-checked reader and writer; no panics on peer input.

mod crc32c;
mod receive;
mod send;
pub mod v1;
pub mod v2;
mod wire;

#[cfg(test)]
mod tests;

use core::fmt;
use std::net::{IpAddr, SocketAddr, SocketAddrV4, SocketAddrV6};

pub use crc32c::crc32c;
pub use receive::{MAX_HEADER_BYTES, ReceiveError, Received, receive};
pub use send::{ClientCert, SendInfo, TlsInfo, V2Options, encode_v2};
pub use v1::encode_v1;
pub use v2::{SslTlv, Tlv, TlvIter, Tlvs, V2Writer, client_flags, tlv_type};

/// Longest v1 line, CRLF included, in bytes. The spec fixes it ("a receiver
/// ... must not try to read more than 107 characters"): `PROXY TCP6` with two
/// full-length IPv6 addresses and two 5-digit ports is 104 bytes.
pub const V1_MAX_LEN: usize = 107;

/// Shortest v1 line in bytes: `PROXY UNKNOWN\r\n`.
pub const V1_MIN_LEN: usize = 15;

/// The 12-byte v2 signature; it cannot occur at the start of a v1 line, a TLS
/// record or an MQTT packet.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// Signature, version/command, family/transport and length: the part of a v2
/// header that is always there, in bytes.
pub const V2_FIXED_LEN: usize = 16;

/// Largest v2 header we parse or emit, fixed part included, in bytes. HAProxy's
/// own TLVs at their largest (ALPN 255, authority 255, unique-id 128, a CN of
/// up to 256 UTF-8 bytes, cipher/signature/key names of a few dozen) come to
/// about 1.1 KiB over an IPv6 address block; 2 KiB also leaves room for an L4
/// balancer's vendor TLVs (AWS 0xEA, Azure 0xEE, GCP 0xE0, all under 64 bytes)
/// and bounds the per-connection buffer while we wait for the header.
pub const V2_MAX_LEN: usize = 2048;

/// Longest `PP2_TYPE_AUTHORITY` value in bytes: HAProxy's `PP2_AUTHORITY_MAX`,
/// which is also the DNS name limit (RFC 1035 §2.3.4). HAProxy rejects a longer one.
pub const AUTHORITY_MAX_LEN: usize = 255;

/// Longest `PP2_TYPE_UNIQUE_ID` value in bytes, from the spec ("up to 128 bytes");
/// HAProxy's `UNIQUEID_LEN` and rejects a longer one.
pub const UNIQUE_ID_MAX_LEN: usize = 128;

/// Which PROXY protocol version a header used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// The v2 command. v1 has only `PROXY`; its `UNKNOWN` is [`Command::Proxy`]
/// with [`Addresses::Unspec`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// The sender's own connection (HAProxy health checks): use the real
    /// socket addresses. Its address block is always ignored.
    Local,
    /// Relayed for a client: the addresses, if any, are the client's.
    Proxy,
}

/// The original connection's endpoints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Addresses {
    /// Unknown or not IP (v1 `UNKNOWN`, v2 `AF_UNSPEC`, and every `LOCAL` header).
    #[default]
    Unspec,
    Tcp4 {
        source: SocketAddrV4,
        destination: SocketAddrV4,
    },
    Tcp6 {
        source: SocketAddrV6,
        destination: SocketAddrV6,
    },
}

impl Addresses {
    /// Both endpoints as HAProxy puts them on the wire: `Tcp4` if both are IPv4,
    /// otherwise `Tcp6` with any IPv4 side as an IPv4-mapped address
    /// (`::ffff:a.b.c.d`, HAProxy's `v4tov6()`). Flow info and scope id are
    /// dropped: the protocol cannot carry them.
    pub fn from_pair(source: SocketAddr, destination: SocketAddr) -> Self {
        match (source, destination) {
            (SocketAddr::V4(s), SocketAddr::V4(d)) => Self::Tcp4 {
                source: s,
                destination: d,
            },
            (s, d) => Self::Tcp6 {
                source: mapped_v6(s),
                destination: mapped_v6(d),
            },
        }
    }

    pub fn source(&self) -> Option<SocketAddr> {
        match *self {
            Self::Unspec => None,
            Self::Tcp4 { source, .. } => Some(source.into()),
            Self::Tcp6 { source, .. } => Some(source.into()),
        }
    }

    pub fn destination(&self) -> Option<SocketAddr> {
        match *self {
            Self::Unspec => None,
            Self::Tcp4 { destination, .. } => Some(destination.into()),
            Self::Tcp6 { destination, .. } => Some(destination.into()),
        }
    }
}

fn mapped_v6(addr: SocketAddr) -> SocketAddrV6 {
    let ip = match addr.ip() {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    SocketAddrV6::new(ip, addr.port(), 0, 0)
}

/// A parsed header. TLV values borrow from the input buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxyHeader<'a> {
    pub version: Version,
    pub command: Command,
    pub addresses: Addresses,
    /// v2 TLVs, already checked for framing, limits and checksum. Empty for v1.
    pub tlvs: Tlvs<'a>,
}

/// What [`parse`] made of the bytes so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// A whole header: the first `consumed` bytes of the input; the rest is
    /// the client's protocol (TLS or MQTT).
    Complete {
        header: ProxyHeader<'a>,
        consumed: usize,
    },
    /// Valid so far but cut short: call again once the buffer holds at least
    /// `at_least` bytes (a lower bound for v1, exact for v2 once the length is known).
    Incomplete { at_least: usize },
}

/// Why the bytes are not an acceptable PROXY header. Small and `Copy`: the
/// hot path does not allocate to report a bad peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Neither `PROXY ` nor the v2 signature: the peer did not send a header.
    NotProxyProtocol,
    /// Longer than [`V1_MAX_LEN`] without a CRLF, or a v2 length past [`V2_MAX_LEN`].
    TooLong,
    /// A header, but malformed; the text says which rule it broke.
    Invalid(&'static str),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotProxyProtocol => f.write_str("not a PROXY protocol header"),
            Self::TooLong => f.write_str("PROXY protocol header too long"),
            Self::Invalid(why) => write!(f, "invalid PROXY protocol header: {why}"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Why a header could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The caller's buffer is shorter than the header; nothing usable was written.
    BufferTooSmall,
    /// The header would pass [`V2_MAX_LEN`], which our own parser (and a peer
    /// with the same limit) would refuse.
    HeaderTooLong,
    /// One value is over its limit; the text names it.
    ValueTooLong(&'static str),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall => f.write_str("buffer too small for PROXY header"),
            Self::HeaderTooLong => f.write_str("PROXY v2 header would exceed its size limit"),
            Self::ValueTooLong(what) => write!(f, "PROXY v2 {what} value too long"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// Writes a parsed header back in its own version: for v2 the same command,
/// addresses and TLVs in the same order (a CRC32C recomputed), for v1 the
/// canonical line. `parse(encode_header(parse(x)))` gives the same header
/// except for the CRC32C value, which changes if a `LOCAL` address block was
/// dropped. Use it to forward a received header unchanged.
pub fn encode_header(out: &mut [u8], header: &ProxyHeader<'_>) -> Result<usize, EncodeError> {
    match header.version {
        Version::V1 => encode_v1(out, &header.addresses),
        Version::V2 => {
            let mut w = V2Writer::new(out, header.command, &header.addresses)?;
            for tlv in header.tlvs.iter() {
                if tlv.kind == tlv_type::CRC32C {
                    w.crc32c()?;
                } else {
                    w.tlv(tlv.kind, tlv.value)?;
                }
            }
            w.finish()
        }
    }
}

/// Parses a PROXY header at the start of `buf`, v1 or v2 by its first bytes.
///
/// Never panics and never allocates. Once the bytes cannot start a valid
/// header it fails at once rather than waiting for more.
pub fn parse(buf: &[u8]) -> Result<Parsed<'_>, ParseError> {
    match buf.first() {
        None => Ok(Parsed::Incomplete {
            at_least: V1_MIN_LEN,
        }),
        Some(b'P') => v1::parse(buf),
        Some(b'\r') => v2::parse(buf),
        Some(_) => Err(ParseError::NotProxyProtocol),
    }
}
