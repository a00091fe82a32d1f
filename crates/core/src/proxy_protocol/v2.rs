//! PROXY protocol v2: the 16-byte fixed part, an address block, then TLVs.
//!
//! ```text
//! signature(12) | ver_cmd(1) | fam(1) | len(2, BE) | addresses | TLV*
//! TLV = type(1) | length(2, BE) | value(length)
//! ```

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use super::crc32c::Crc32c;
use super::wire::{Reader, Writer};
use super::{
    AUTHORITY_MAX_LEN, Addresses, Command, EncodeError, ParseError, Parsed, ProxyHeader,
    UNIQUE_ID_MAX_LEN, V2_FIXED_LEN, V2_MAX_LEN, V2_SIGNATURE, Version,
};

/// TLV type codes from the spec (section 2.2).
pub mod tlv_type {
    pub const ALPN: u8 = 0x01;
    pub const AUTHORITY: u8 = 0x02;
    pub const CRC32C: u8 = 0x03;
    pub const NOOP: u8 = 0x04;
    pub const UNIQUE_ID: u8 = 0x05;
    pub const SSL: u8 = 0x20;
    pub const SSL_VERSION: u8 = 0x21;
    pub const SSL_CN: u8 = 0x22;
    pub const SSL_CIPHER: u8 = 0x23;
    pub const SSL_SIG_ALG: u8 = 0x24;
    pub const SSL_KEY_ALG: u8 = 0x25;
    pub const NETNS: u8 = 0x30;
}

/// Bits of the SSL TLV's `client` byte.
pub mod client_flags {
    /// The client connected over TLS.
    pub const SSL: u8 = 0x01;
    /// The client presented a certificate on this connection.
    pub const CERT_CONN: u8 = 0x02;
    /// The client presented a certificate at least once in this TLS session
    /// (also set on resumption).
    pub const CERT_SESS: u8 = 0x04;
}

/// Version 2 in the high nibble of `ver_cmd`.
const VERSION_2: u8 = 0x20;
const CMD_LOCAL: u8 = 0x00;
const CMD_PROXY: u8 = 0x01;
/// `fam` bytes we accept with `PROXY`: family in the high nibble, transport in the low.
const FAM_UNSPEC: u8 = 0x00;
const FAM_TCP4: u8 = 0x11;
const FAM_TCP6: u8 = 0x21;
/// Address block sizes in bytes: two addresses then two ports.
const ADDR_LEN_INET: usize = 12;
const ADDR_LEN_INET6: usize = 36;
const ADDR_LEN_UNIX: usize = 216;
/// A TLV's type and length, in bytes.
const TLV_HEADER_LEN: usize = 3;
/// The SSL TLV's value starts with `client`(1) and `verify`(4), then sub-TLVs.
const SSL_FIXED_LEN: usize = 5;

/// Parses a v2 header; `buf` starts with `\r`.
pub(super) fn parse(buf: &[u8]) -> Result<Parsed<'_>, ParseError> {
    let sig_seen = buf.get(..V2_SIGNATURE.len()).unwrap_or(buf);
    if !V2_SIGNATURE.starts_with(sig_seen) {
        return Err(ParseError::NotProxyProtocol);
    }
    // Check each fixed byte as soon as it arrives, to refuse garbage early.
    let command = match buf.get(12) {
        None => {
            return Ok(Parsed::Incomplete {
                at_least: V2_FIXED_LEN,
            });
        }
        Some(&ver_cmd) => command_of(ver_cmd)?,
    };
    let fam = match buf.get(13) {
        None => {
            return Ok(Parsed::Incomplete {
                at_least: V2_FIXED_LEN,
            });
        }
        Some(&fam) => fam,
    };
    if command == Command::Proxy && !matches!(fam, FAM_UNSPEC | FAM_TCP4 | FAM_TCP6) {
        return Err(ParseError::Invalid(
            "v2 family/transport is not TCP over IPv4/IPv6 or UNSPEC",
        ));
    }
    let mut r = Reader::new(buf);
    let fixed = r.take(V2_FIXED_LEN);
    let Some(len_bytes) = fixed.and_then(|f| f.get(14..16)) else {
        return Ok(Parsed::Incomplete {
            at_least: V2_FIXED_LEN,
        });
    };
    let body_len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
    let total = V2_FIXED_LEN + body_len;
    if total > V2_MAX_LEN {
        return Err(ParseError::TooLong);
    }
    let Some(mut body) = r.sub(body_len) else {
        return Ok(Parsed::Incomplete { at_least: total });
    };
    let header_bytes = buf.get(..total).unwrap_or_default();

    let addresses = match command {
        Command::Proxy => read_addresses(fam, &mut body)?,
        Command::Local => {
            // The spec: for LOCAL the receiver discards the address block.
            // TLVs follow it only if we know its size.
            let skip = match fam >> 4 {
                0x0 => Some(0),
                0x1 => Some(ADDR_LEN_INET),
                0x2 => Some(ADDR_LEN_INET6),
                0x3 => Some(ADDR_LEN_UNIX),
                _ => None,
            };
            if skip.and_then(|n| body.take(n)).is_none() {
                body.all();
            }
            Addresses::Unspec
        }
    };
    let tlv_offset = total - body_remaining(&body);
    let tlvs = Tlvs::validate(body.all(), header_bytes, tlv_offset)?;
    let header = ProxyHeader {
        version: Version::V2,
        command,
        addresses,
        tlvs,
    };
    Ok(Parsed::Complete {
        header,
        consumed: total,
    })
}

fn body_remaining(body: &Reader<'_>) -> usize {
    body.clone().all().len()
}

fn command_of(ver_cmd: u8) -> Result<Command, ParseError> {
    if ver_cmd & 0xF0 != VERSION_2 {
        return Err(ParseError::Invalid("v2 version nibble is not 2"));
    }
    match ver_cmd & 0x0F {
        CMD_LOCAL => Ok(Command::Local),
        CMD_PROXY => Ok(Command::Proxy),
        _ => Err(ParseError::Invalid("v2 command is neither LOCAL nor PROXY")),
    }
}

fn read_addresses(fam: u8, body: &mut Reader<'_>) -> Result<Addresses, ParseError> {
    const SHORT: ParseError = ParseError::Invalid("v2 length is shorter than its address block");
    match fam {
        FAM_TCP4 => {
            let mut a = body.sub(ADDR_LEN_INET).ok_or(SHORT)?;
            let (src, dst) = (a.array::<4>(), a.array::<4>());
            let (sport, dport) = (a.u16(), a.u16());
            let (Some(src), Some(dst), Some(sport), Some(dport)) = (src, dst, sport, dport) else {
                return Err(SHORT);
            };
            Ok(Addresses::Tcp4 {
                source: SocketAddrV4::new(Ipv4Addr::from(src), sport),
                destination: SocketAddrV4::new(Ipv4Addr::from(dst), dport),
            })
        }
        FAM_TCP6 => {
            let mut a = body.sub(ADDR_LEN_INET6).ok_or(SHORT)?;
            let (src, dst) = (a.array::<16>(), a.array::<16>());
            let (sport, dport) = (a.u16(), a.u16());
            let (Some(src), Some(dst), Some(sport), Some(dport)) = (src, dst, sport, dport) else {
                return Err(SHORT);
            };
            Ok(Addresses::Tcp6 {
                source: SocketAddrV6::new(Ipv6Addr::from(src), sport, 0, 0),
                destination: SocketAddrV6::new(Ipv6Addr::from(dst), dport, 0, 0),
            })
        }
        // UNSPEC with PROXY: no address block, the rest is TLVs.
        _ => Ok(Addresses::Unspec),
    }
}

/// One TLV: its type code (see [`tlv_type`]) and value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub kind: u8,
    pub value: &'a [u8],
}

/// A run of TLVs borrowed from a header, checked by the parser: framing
/// exact, CRC32C matching, authority and unique-id within limits, the SSL TLV
/// and its sub-TLVs well formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tlvs<'a>(&'a [u8]);

impl<'a> Tlvs<'a> {
    pub const EMPTY: Tlvs<'static> = Tlvs(&[]);

    /// `bytes` are the TLVs of `header`, starting at byte `offset` of it.
    fn validate(bytes: &'a [u8], header: &[u8], offset: usize) -> Result<Self, ParseError> {
        let mut r = Reader::new(bytes);
        let mut crc_seen = false;
        while !r.is_empty() {
            let tlv = read_tlv(&mut r)?;
            match tlv.kind {
                tlv_type::CRC32C => {
                    if crc_seen {
                        return Err(ParseError::Invalid("v2 has two CRC32C TLVs"));
                    }
                    crc_seen = true;
                    let value_at = offset + bytes.len() - body_remaining(&r) - tlv.value.len();
                    check_crc32c(tlv.value, header, value_at)?;
                }
                tlv_type::AUTHORITY if tlv.value.len() > AUTHORITY_MAX_LEN => {
                    return Err(ParseError::Invalid("v2 AUTHORITY TLV too long"));
                }
                tlv_type::UNIQUE_ID if tlv.value.len() > UNIQUE_ID_MAX_LEN => {
                    return Err(ParseError::Invalid("v2 UNIQUE_ID TLV too long"));
                }
                tlv_type::SSL => {
                    SslTlv::parse(tlv.value)?;
                }
                _ => {}
            }
        }
        Ok(Self(bytes))
    }

    pub fn iter(&self) -> TlvIter<'a> {
        TlvIter(Reader::new(self.0))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The raw bytes, as they were on the wire.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// The value of the first TLV of type `kind`.
    pub fn find(&self, kind: u8) -> Option<&'a [u8]> {
        self.iter().find(|t| t.kind == kind).map(|t| t.value)
    }

    pub fn alpn(&self) -> Option<&'a [u8]> {
        self.find(tlv_type::ALPN)
    }

    /// The client's SNI (or an upstream's authority), not checked for UTF-8.
    pub fn authority(&self) -> Option<&'a [u8]> {
        self.find(tlv_type::AUTHORITY)
    }

    pub fn unique_id(&self) -> Option<&'a [u8]> {
        self.find(tlv_type::UNIQUE_ID)
    }

    /// The checksum, already verified by the parser.
    pub fn crc32c(&self) -> Option<u32> {
        let v = self.find(tlv_type::CRC32C)?;
        Some(u32::from_be_bytes(v.try_into().ok()?))
    }

    pub fn ssl(&self) -> Option<SslTlv<'a>> {
        SslTlv::parse(self.find(tlv_type::SSL)?).ok()
    }
}

/// Iterates over TLVs; stops (rather than panicking) at anything malformed,
/// which a parsed header never holds.
#[derive(Clone, Debug)]
pub struct TlvIter<'a>(Reader<'a>);

impl<'a> Iterator for TlvIter<'a> {
    type Item = Tlv<'a>;

    fn next(&mut self) -> Option<Tlv<'a>> {
        if self.0.is_empty() {
            return None;
        }
        match read_tlv(&mut self.0) {
            Ok(tlv) => Some(tlv),
            Err(_) => {
                self.0.all();
                None
            }
        }
    }
}

fn read_tlv<'a>(r: &mut Reader<'a>) -> Result<Tlv<'a>, ParseError> {
    let (Some(kind), Some(len)) = (r.u8(), r.u16()) else {
        return Err(ParseError::Invalid("v2 TLV header cut by the header end"));
    };
    let value = r
        .take(usize::from(len))
        .ok_or(ParseError::Invalid("v2 TLV length overflows the header"))?;
    Ok(Tlv { kind, value })
}

/// The spec: the checksum covers the whole header with the checksum field
/// read as zeroes. We feed the zeroes in rather than mutate the input.
fn check_crc32c(value: &[u8], header: &[u8], value_at: usize) -> Result<(), ParseError> {
    let stored: [u8; 4] = value
        .try_into()
        .map_err(|_| ParseError::Invalid("v2 CRC32C TLV is not 4 bytes"))?;
    let (Some(before), Some(after)) = (header.get(..value_at), header.get(value_at + 4..)) else {
        return Err(ParseError::Invalid("v2 CRC32C TLV outside the header"));
    };
    let mut crc = Crc32c::new();
    crc.update(before);
    crc.update(&[0; 4]);
    crc.update(after);
    if crc.finish() == u32::from_be_bytes(stored) {
        Ok(())
    } else {
        Err(ParseError::Invalid("v2 CRC32C mismatch"))
    }
}

/// The `PP2_TYPE_SSL` TLV: how the client reached the sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SslTlv<'a> {
    /// [`client_flags`] bits.
    pub client: u8,
    /// The client certificate's verification result; 0 means verified. Only
    /// meaningful with [`client_flags::CERT_SESS`] (HAProxy leaves it 0 otherwise).
    pub verify: u32,
    /// Sub-TLVs: SSL_VERSION, SSL_CN, SSL_CIPHER, SSL_SIG_ALG, SSL_KEY_ALG.
    pub sub_tlvs: Tlvs<'a>,
}

impl<'a> SslTlv<'a> {
    fn parse(value: &'a [u8]) -> Result<Self, ParseError> {
        let mut r = Reader::new(value);
        let (Some(client), Some(verify)) = (r.u8(), r.u32()) else {
            return Err(ParseError::Invalid("v2 SSL TLV shorter than 5 bytes"));
        };
        let subs = r.all();
        let mut s = Reader::new(subs);
        while !s.is_empty() {
            read_tlv(&mut s)?;
        }
        Ok(Self {
            client,
            verify,
            sub_tlvs: Tlvs(subs),
        })
    }

    pub fn version(&self) -> Option<&'a [u8]> {
        self.sub_tlvs.find(tlv_type::SSL_VERSION)
    }

    /// The client certificate's Common Name (Mosquitto's `use_identity_as_username`).
    pub fn common_name(&self) -> Option<&'a [u8]> {
        self.sub_tlvs.find(tlv_type::SSL_CN)
    }

    pub fn cipher(&self) -> Option<&'a [u8]> {
        self.sub_tlvs.find(tlv_type::SSL_CIPHER)
    }

    pub fn sig_alg(&self) -> Option<&'a [u8]> {
        self.sub_tlvs.find(tlv_type::SSL_SIG_ALG)
    }

    pub fn key_alg(&self) -> Option<&'a [u8]> {
        self.sub_tlvs.find(tlv_type::SSL_KEY_ALG)
    }

    /// Mosquitto's test for `require_certificate` behind a proxy: TLS, a
    /// client certificate in the session, and a zero verify result.
    pub fn has_verified_client_cert(&self) -> bool {
        let need = client_flags::SSL | client_flags::CERT_SESS;
        self.client & need == need && self.verify == 0
    }
}

/// Writes a v2 header with TLVs in the order the caller adds them, into the
/// caller's buffer. [`super::encode_v2`] drives it in HAProxy's order; use this
/// directly only for headers HAProxy would not send (tests, fuzzing).
#[derive(Debug)]
pub struct V2Writer<'a> {
    w: Writer<'a>,
    /// `out` was longer than [`V2_MAX_LEN`]: running out of room means the header is too long.
    capped: bool,
    crc_value_at: Option<usize>,
    ssl_start: Option<usize>,
}

impl<'a> V2Writer<'a> {
    /// Starts a header. `Local` or `Unspec` addresses give an `AF_UNSPEC`
    /// family and no address block, as HAProxy does (`PP2_HDR_LEN_UNSPEC`).
    pub fn new(
        out: &'a mut [u8],
        command: Command,
        addresses: &Addresses,
    ) -> Result<Self, EncodeError> {
        let capped = out.len() > V2_MAX_LEN;
        let limit = out.len().min(V2_MAX_LEN);
        let out = out.get_mut(..limit).unwrap_or_default();
        let mut this = Self {
            w: Writer::new(out),
            capped,
            crc_value_at: None,
            ssl_start: None,
        };
        let cmd = match command {
            Command::Local => CMD_LOCAL,
            Command::Proxy => CMD_PROXY,
        };
        let result = this.start(VERSION_2 | cmd, command, addresses);
        result.map_err(|e| this.map_err(e))?;
        Ok(this)
    }

    fn start(
        &mut self,
        ver_cmd: u8,
        command: Command,
        addresses: &Addresses,
    ) -> Result<(), EncodeError> {
        self.w.put(&V2_SIGNATURE)?;
        self.w.put_u8(ver_cmd)?;
        let addresses = if command == Command::Local {
            &Addresses::Unspec
        } else {
            addresses
        };
        match addresses {
            Addresses::Unspec => {
                self.w.put_u8(FAM_UNSPEC)?;
                self.w.put_u16(0)?;
            }
            Addresses::Tcp4 {
                source,
                destination,
            } => {
                self.w.put_u8(FAM_TCP4)?;
                self.w.put_u16(0)?;
                self.w.put(&source.ip().octets())?;
                self.w.put(&destination.ip().octets())?;
                self.w.put_u16(source.port())?;
                self.w.put_u16(destination.port())?;
            }
            Addresses::Tcp6 {
                source,
                destination,
            } => {
                self.w.put_u8(FAM_TCP6)?;
                self.w.put_u16(0)?;
                self.w.put(&source.ip().octets())?;
                self.w.put(&destination.ip().octets())?;
                self.w.put_u16(source.port())?;
                self.w.put_u16(destination.port())?;
            }
        }
        Ok(())
    }

    fn map_err(&self, e: EncodeError) -> EncodeError {
        match e {
            EncodeError::BufferTooSmall if self.capped => EncodeError::HeaderTooLong,
            other => other,
        }
    }

    /// Appends one TLV; inside [`Self::ssl_begin`]..[`Self::ssl_end`] it is a sub-TLV.
    pub fn tlv(&mut self, kind: u8, value: &[u8]) -> Result<(), EncodeError> {
        let len = u16::try_from(value.len()).map_err(|_| EncodeError::ValueTooLong("TLV"))?;
        let result = self
            .w
            .put_u8(kind)
            .and_then(|()| self.w.put_u16(len))
            .and_then(|()| self.w.put(value));
        result.map_err(|e| self.map_err(e))
    }

    /// Appends a CRC32C TLV; its value is computed by [`Self::finish`].
    pub fn crc32c(&mut self) -> Result<(), EncodeError> {
        self.tlv(tlv_type::CRC32C, &[0; 4])?;
        self.crc_value_at = Some(self.w.len() - 4);
        Ok(())
    }

    /// Opens the SSL TLV; TLVs added until [`Self::ssl_end`] are its sub-TLVs.
    pub fn ssl_begin(&mut self, client: u8, verify: u32) -> Result<(), EncodeError> {
        self.ssl_start = Some(self.w.len());
        let result = self
            .w
            .put_u8(tlv_type::SSL)
            .and_then(|()| self.w.put_u16(0))
            .and_then(|()| self.w.put_u8(client))
            .and_then(|()| self.w.put_u32(verify));
        result.map_err(|e| self.map_err(e))
    }

    /// Closes the SSL TLV by writing its length.
    pub fn ssl_end(&mut self) -> Result<(), EncodeError> {
        if let Some(start) = self.ssl_start.take() {
            let value_len = self.w.len() - start - TLV_HEADER_LEN;
            debug_assert!(value_len >= SSL_FIXED_LEN);
            let len = u16::try_from(value_len).map_err(|_| EncodeError::ValueTooLong("SSL TLV"))?;
            self.w.patch(start + 1, &len.to_be_bytes())?;
        }
        Ok(())
    }

    /// Writes the length and checksum; returns the header's size in bytes.
    pub fn finish(mut self) -> Result<usize, EncodeError> {
        self.ssl_end()?;
        let total = self.w.len();
        let body_len =
            u16::try_from(total - V2_FIXED_LEN).map_err(|_| EncodeError::HeaderTooLong)?;
        self.w.patch(14, &body_len.to_be_bytes())?;
        if let Some(at) = self.crc_value_at {
            let crc = super::crc32c(self.w.written());
            self.w.patch(at, &crc.to_be_bytes())?;
        }
        Ok(total)
    }
}
