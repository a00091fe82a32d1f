//! The CONNECT packet (MQTT 3.1, 3.1.1 §3.1, 5.0 §3.1): a strict parser that borrows from
//! the client's bytes. The proxy forwards those bytes unchanged; it parses only to route,
//! to refuse early, and to log.
//!
//! ```text
//! 0x10 | Remaining Length (VBI)                               fixed header
//! Protocol Name | Level | Connect Flags | Keep Alive          variable header
//! [v5: Properties]
//! Client Identifier | [v5: Will Properties] [Will Topic      payload, in this order,
//!   Will Payload] [User Name] [Password]                       each present per its flag
//! ```

use super::connack::{Connack, reason_code, return_code};
use super::properties::{self, ConnectProperties};
use super::wire::{ReadError, Reader, Vbi, decode_vbi};
use super::{ConnectLimits, Protocol};

/// The only valid first byte of a CONNECT: packet type 1, reserved flags 0 [MQTT-2.2.2-1].
pub const CONNECT_FIRST_BYTE: u8 = 0x10;

/// A parsed CONNECT. Strings borrow from the input buffer; the password is never exposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Connect<'a> {
    pub protocol: Protocol,
    /// The Protocol Level had its top bit set: the mosquitto/RSMB bridge convention
    /// (`try_private`, on by default in mosquitto bridges). Accepted because the brokers
    /// behind us accept it; the level without that bit picked `protocol`.
    pub bridge: bool,
    /// Clean Session (3.x) / Clean Start (5).
    pub clean_start: bool,
    /// Keep Alive, seconds; 0 turns keep-alive off.
    pub keepalive_secs: u16,
    /// Well-formed UTF-8 without U+0000, at most `max_client_id_bytes`. Empty only where the
    /// protocol lets the server assign one (3.1.1 with Clean Session, or 5).
    pub client_id: &'a str,
    pub will: Option<WillInfo<'a>>,
    pub username_present: bool,
    pub password_present: bool,
    /// MQTT 5 CONNECT properties; all `None` for 3.x.
    pub properties: ConnectProperties<'a>,
}

/// The will message, without its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WillInfo<'a> {
    /// 0, 1 or 2.
    pub qos: u8,
    pub retain: bool,
    /// A valid Topic Name: not empty, no wildcards.
    pub topic: &'a str,
    /// Length of the will payload, bytes.
    pub payload_len: u16,
}

/// What [`parse_connect`] made of the bytes so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectOutcome<'a> {
    /// Valid so far: call again once the buffer holds at least `needed_at_least` bytes
    /// (exact once the Remaining Length has arrived).
    Incomplete { needed_at_least: usize },
    /// A whole, valid CONNECT: the first `consumed` bytes of the buffer. Bytes after it are
    /// the client's next packets.
    Complete {
        connect: Connect<'a>,
        consumed: usize,
    },
}

/// Why a CONNECT was refused: what went wrong, the protocol (when known) that decides the
/// CONNACK, and which rule was broken. `Copy` and allocation-free (STYLE.md habit 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} ({detail})")]
pub struct ConnectError {
    pub kind: ConnectErrorKind,
    /// The protocol the client asked for, if the bytes got that far and it is one we speak.
    pub protocol: Option<Protocol>,
    /// The rule broken, with its spec reference; for debug logs and tests.
    pub detail: &'static str,
}

/// What went wrong, coarse enough to be a log keyword.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConnectErrorKind {
    /// The first byte is no MQTT client packet (a TLS record 0x16, HTTP `G`, a PROXY v2
    /// signature 0x0D, ...).
    #[error("not MQTT")]
    NotMqtt,
    /// The first byte is a valid fixed header of another client packet: the first packet
    /// must be CONNECT [MQTT-3.1.0-1]. A text `P` (`PROXY `, `POST`, `PUT`) is 0x50, a
    /// valid PUBREC header, and lands here too.
    #[error("first MQTT packet is not CONNECT")]
    NotConnect,
    /// A Protocol Name other than `MQTT` and `MQIsdp` [MQTT-3.1.2-1].
    #[error("unknown MQTT protocol name")]
    BadProtocol,
    /// A known name with a level we do not speak [MQTT-3.1.2-2].
    #[error("unsupported MQTT protocol level")]
    UnsupportedVersion,
    /// Lengths that disagree, bad flags, a bad Variable Byte Integer, an unknown property.
    #[error("malformed CONNECT")]
    Malformed,
    /// A UTF-8 Encoded String that is not well-formed or contains U+0000 [MQTT-1.5.3-1/2].
    #[error("invalid UTF-8 in CONNECT")]
    BadUtf8,
    /// MQTT 5 Protocol Error: a repeated property or a forbidden property value.
    #[error("MQTT protocol error in CONNECT")]
    ProtocolError,
    /// The packet is larger than `max_packet_bytes`.
    #[error("CONNECT too large")]
    TooLarge,
    /// Empty where the protocol forbids it, or longer than `max_client_id_bytes`.
    #[error("client identifier rejected")]
    BadClientId,
    /// The will topic is empty or has a wildcard [MQTT-3.1.3-11, MQTT-4.7.3-1].
    #[error("invalid will topic")]
    BadWillTopic,
}

impl ConnectErrorKind {
    /// A stable keyword for the access log. Operators grep these: never rename one.
    pub const fn keyword(self) -> &'static str {
        match self {
            ConnectErrorKind::NotMqtt => "mqtt_not_mqtt",
            ConnectErrorKind::NotConnect => "mqtt_not_connect",
            ConnectErrorKind::BadProtocol => "mqtt_bad_protocol",
            ConnectErrorKind::UnsupportedVersion => "mqtt_unsupported_version",
            ConnectErrorKind::Malformed => "mqtt_malformed",
            ConnectErrorKind::BadUtf8 => "mqtt_bad_utf8",
            ConnectErrorKind::ProtocolError => "mqtt_protocol_error",
            ConnectErrorKind::TooLarge => "mqtt_connect_too_large",
            ConnectErrorKind::BadClientId => "mqtt_bad_client_id",
            ConnectErrorKind::BadWillTopic => "mqtt_bad_will_topic",
        }
    }
}

impl ConnectError {
    pub(crate) const fn new(
        kind: ConnectErrorKind,
        protocol: Option<Protocol>,
        detail: &'static str,
    ) -> Self {
        Self {
            kind,
            protocol,
            detail,
        }
    }

    /// The stable keyword for the access log's termination cause.
    pub const fn keyword(&self) -> &'static str {
        self.kind.keyword()
    }

    /// The CONNACK to send before closing, where the protocol defines one for this error.
    ///
    /// 3.1/3.1.1 have return codes only for an unacceptable protocol level and a rejected
    /// identifier; everything else closes without CONNACK [MQTT-4.8.0-1]. MQTT 5 may send a
    /// reason code for each (§4.13). An unsupported level gets the 3.1.1 encoding, as
    /// mosquitto does: a client probing with a newer level falls back on 0x01.
    pub fn connack(&self) -> Option<Connack> {
        use ConnectErrorKind as K;
        let (protocol, code) = match (self.kind, self.protocol) {
            (K::UnsupportedVersion, _) => {
                (Protocol::V311, return_code::UNACCEPTABLE_PROTOCOL_VERSION)
            }
            (K::BadClientId, Some(p @ (Protocol::V31 | Protocol::V311))) => {
                (p, return_code::IDENTIFIER_REJECTED)
            }
            (K::BadClientId, Some(Protocol::V5)) => {
                (Protocol::V5, reason_code::CLIENT_IDENTIFIER_NOT_VALID)
            }
            (K::Malformed | K::BadUtf8, Some(Protocol::V5)) => {
                (Protocol::V5, reason_code::MALFORMED_PACKET)
            }
            (K::ProtocolError, Some(Protocol::V5)) => (Protocol::V5, reason_code::PROTOCOL_ERROR),
            (K::TooLarge, Some(Protocol::V5)) => (Protocol::V5, reason_code::PACKET_TOO_LARGE),
            (K::BadWillTopic, Some(Protocol::V5)) => {
                (Protocol::V5, reason_code::TOPIC_NAME_INVALID)
            }
            _ => return None,
        };
        Some(Connack { protocol, code })
    }
}

/// Parses the CONNECT at the start of `buf`.
///
/// Returns `Incomplete` until the whole packet is there, except that a Remaining Length
/// over `limits.max_packet_bytes` is `TooLarge` at once, and a wrong first byte is
/// `NotMqtt`/`NotConnect` at once. Nothing here panics or allocates.
pub fn parse_connect<'a>(
    buf: &'a [u8],
    limits: &ConnectLimits,
) -> Result<ConnectOutcome<'a>, ConnectError> {
    let Some((&first, after_first)) = buf.split_first() else {
        // The type byte and at least one Remaining Length byte.
        return Ok(ConnectOutcome::Incomplete { needed_at_least: 2 });
    };
    if first != CONNECT_FIRST_BYTE {
        let kind = if is_other_client_packet(first) {
            ConnectErrorKind::NotConnect
        } else {
            ConnectErrorKind::NotMqtt
        };
        return Err(ConnectError::new(
            kind,
            None,
            "first byte is not 0x10 [MQTT-3.1.0-1]",
        ));
    }
    let (remaining, vbi_len) = match decode_vbi(after_first) {
        Vbi::Complete { value, len } => (value, len),
        Vbi::Incomplete => {
            return Ok(ConnectOutcome::Incomplete {
                needed_at_least: buf.len() + 1,
            });
        }
        Vbi::TooLong => {
            return Err(malformed(
                None,
                "Remaining Length over 4 bytes [MQTT-1.5.5]",
            ));
        }
        Vbi::NotMinimal => {
            return Err(malformed(
                None,
                "Remaining Length not minimal [MQTT-1.5.5-1]",
            ));
        }
    };
    let header_len = 1 + vbi_len;
    let total = u64::from(remaining) + header_len as u64;
    if total > u64::from(limits.max_packet_bytes) {
        // Refuse before the rest arrives, but wait for the few bytes that name the protocol
        // (at most 9: "MQIsdp" and its level) so an MQTT 5 client gets its 0x95 CONNACK.
        let protocol = match peek_protocol(buf.get(header_len..).unwrap_or_default()) {
            ProtocolPeek::NeedMore => {
                return Ok(ConnectOutcome::Incomplete {
                    needed_at_least: buf.len() + 1,
                });
            }
            ProtocolPeek::Known(p) => Some(p),
            ProtocolPeek::Unknown => None,
        };
        return Err(ConnectError::new(
            ConnectErrorKind::TooLarge,
            protocol,
            "over max_packet_bytes",
        ));
    }
    // `total` is at most `max_packet_bytes`, a u32: it fits a usize on every target we build.
    let total = total as usize;
    let Some(body) = buf.get(header_len..total) else {
        return Ok(ConnectOutcome::Incomplete {
            needed_at_least: total,
        });
    };
    let connect = parse_body(body, limits)?;
    Ok(ConnectOutcome::Complete {
        connect,
        consumed: total,
    })
}

/// A fixed-header byte another client→server packet may start with (3.1.1 Table 2.2,
/// 5.0 Table 2-2): the type and its required flags. Server→client types don't count.
fn is_other_client_packet(byte: u8) -> bool {
    let flags = byte & 0x0f;
    match byte >> 4 {
        3 => (flags >> 1) & 0b11 != 0b11, // PUBLISH, any flags but QoS 3
        4 | 5 | 7 | 12 | 14 | 15 => flags == 0, // PUBACK PUBREC PUBCOMP PINGREQ DISCONNECT AUTH
        6 | 8 | 10 => flags == 0b0010,    // PUBREL SUBSCRIBE UNSUBSCRIBE
        _ => false,
    }
}

fn malformed(protocol: Option<Protocol>, detail: &'static str) -> ConnectError {
    ConnectError::new(ConnectErrorKind::Malformed, protocol, detail)
}

/// Maps a failed read of a field to the error that names the field.
fn field<T>(
    read: Result<T, ReadError>,
    protocol: Option<Protocol>,
    detail: &'static str,
) -> Result<T, ConnectError> {
    read.map_err(|e| match e {
        ReadError::BadUtf8 => ConnectError::new(ConnectErrorKind::BadUtf8, protocol, detail),
        ReadError::Short | ReadError::BadVbi => malformed(protocol, detail),
    })
}

/// The protocol from the Protocol Name and Level at the start of the variable header.
fn protocol_of(r: &mut Reader<'_>) -> Result<(Protocol, bool), ConnectError> {
    let name = field(r.binary(), None, "Protocol Name overruns the packet")?;
    let level = field(r.u8(), None, "Protocol Level overruns the packet")?;
    let bridge = level & 0x80 != 0;
    let protocol = match (name, level & 0x7f) {
        (b"MQTT", 4) => Protocol::V311,
        (b"MQTT", 5) => Protocol::V5,
        (b"MQIsdp", 3) => Protocol::V31,
        (b"MQTT" | b"MQIsdp", _) => {
            return Err(ConnectError::new(
                ConnectErrorKind::UnsupportedVersion,
                None,
                "Protocol Level not 3 (MQIsdp), 4 or 5 (MQTT) [MQTT-3.1.2-2]",
            ));
        }
        _ => {
            return Err(ConnectError::new(
                ConnectErrorKind::BadProtocol,
                None,
                "Protocol Name not MQTT or MQIsdp [MQTT-3.1.2-1]",
            ));
        }
    };
    Ok((protocol, bridge))
}

/// What the start of a variable header says about the protocol.
enum ProtocolPeek {
    Known(Protocol),
    /// Not a name and level we speak (or not MQTT at all).
    Unknown,
    /// Too few bytes to tell yet.
    NeedMore,
}

/// The protocol, if the bytes so far say which: lets a too-large MQTT 5 CONNECT get its
/// 0x95 CONNACK before the rest of it arrives. Asks for more bytes only while they could
/// still spell `MQTT` or `MQIsdp` and a level: at most 9.
fn peek_protocol(variable_header: &[u8]) -> ProtocolPeek {
    let Some(&[hi, lo]) = variable_header.get(..2) else {
        return ProtocolPeek::NeedMore;
    };
    let name_len = usize::from(u16::from_be_bytes([hi, lo]));
    if name_len != 4 && name_len != 6 {
        return ProtocolPeek::Unknown;
    }
    if variable_header.len() < 2 + name_len + 1 {
        let name: &[u8] = if name_len == 4 { b"MQTT" } else { b"MQIsdp" };
        // Shorter than `name` plus the level, so at most `name_len` bytes of it.
        let so_far = &variable_header[2..];
        return if name.starts_with(so_far) {
            ProtocolPeek::NeedMore
        } else {
            ProtocolPeek::Unknown
        };
    }
    match protocol_of(&mut Reader::new(variable_header)) {
        Ok((p, _)) => ProtocolPeek::Known(p),
        Err(_) => ProtocolPeek::Unknown,
    }
}

/// Connect Flags (3.1.1 §3.1.2.3, 5.0 §3.1.2.3).
mod flag {
    pub const RESERVED: u8 = 0x01;
    pub const CLEAN_START: u8 = 0x02;
    pub const WILL: u8 = 0x04;
    pub const WILL_QOS_SHIFT: u8 = 3;
    pub const WILL_RETAIN: u8 = 0x20;
    pub const PASSWORD: u8 = 0x40;
    pub const USERNAME: u8 = 0x80;
}

/// The variable header and payload: exactly the Remaining Length's bytes.
fn parse_body<'a>(body: &'a [u8], limits: &ConnectLimits) -> Result<Connect<'a>, ConnectError> {
    let mut r = Reader::new(body);
    let (protocol, bridge) = protocol_of(&mut r)?;
    let p = Some(protocol);
    let flags = field(r.u8(), p, "Connect Flags overrun the packet")?;
    let keepalive_secs = field(r.u16(), p, "Keep Alive overruns the packet")?;
    check_flags(flags, protocol)?;

    let properties = match protocol {
        Protocol::V5 => properties::connect_properties(&mut r)?,
        Protocol::V31 | Protocol::V311 => ConnectProperties::default(),
    };

    let clean_start = flags & flag::CLEAN_START != 0;
    let client_id = field(r.utf8(), p, "Client Identifier overruns the packet")?;
    check_client_id(client_id, clean_start, protocol, limits)?;

    let will = if flags & flag::WILL != 0 {
        if protocol == Protocol::V5 {
            properties::will_properties(&mut r)?;
        }
        let topic = field(r.utf8(), p, "Will Topic overruns the packet")?;
        if topic.is_empty() || topic.contains(['+', '#']) {
            return Err(ConnectError::new(
                ConnectErrorKind::BadWillTopic,
                p,
                "Will Topic empty or with a wildcard [MQTT-3.1.3-11, MQTT-4.7.3-1]",
            ));
        }
        let payload = field(r.binary(), p, "Will Payload overruns the packet")?;
        Some(WillInfo {
            qos: (flags >> flag::WILL_QOS_SHIFT) & 0b11,
            retain: flags & flag::WILL_RETAIN != 0,
            topic,
            // binary() read a u16 length, so this cannot saturate.
            payload_len: u16::try_from(payload.len()).unwrap_or(u16::MAX),
        })
    } else {
        None
    };

    let username_present = flags & flag::USERNAME != 0;
    if username_present {
        field(r.utf8(), p, "User Name overruns the packet")?;
    }
    let password_present = flags & flag::PASSWORD != 0;
    if password_present {
        field(r.binary(), p, "Password overruns the packet")?;
    }
    if !r.is_empty() {
        return Err(malformed(p, "bytes after the last field"));
    }

    Ok(Connect {
        protocol,
        bridge,
        clean_start,
        keepalive_secs,
        client_id,
        will,
        username_present,
        password_present,
        properties,
    })
}

fn check_flags(flags: u8, protocol: Protocol) -> Result<(), ConnectError> {
    let p = Some(protocol);
    // MQTT 3.1 has no such rule and mosquitto does not check it for 3.1 clients.
    if flags & flag::RESERVED != 0 && protocol != Protocol::V31 {
        return Err(malformed(p, "reserved Connect Flag set [MQTT-3.1.2-3]"));
    }
    let will_qos = (flags >> flag::WILL_QOS_SHIFT) & 0b11;
    if will_qos == 3 {
        return Err(malformed(p, "Will QoS 3 [MQTT-3.1.2-14]"));
    }
    if flags & flag::WILL == 0 && (will_qos != 0 || flags & flag::WILL_RETAIN != 0) {
        return Err(malformed(
            p,
            "Will QoS or Will Retain without Will Flag [MQTT-3.1.2-13, MQTT-3.1.2-15]",
        ));
    }
    // MQTT 5 allows a password without a user name (§3.1.2.9).
    if flags & flag::PASSWORD != 0 && flags & flag::USERNAME == 0 && protocol != Protocol::V5 {
        return Err(malformed(
            p,
            "Password Flag without User Name Flag [MQTT-3.1.2-22]",
        ));
    }
    Ok(())
}

fn check_client_id(
    client_id: &str,
    clean_start: bool,
    protocol: Protocol,
    limits: &ConnectLimits,
) -> Result<(), ConnectError> {
    let reject = |detail| {
        Err(ConnectError::new(
            ConnectErrorKind::BadClientId,
            Some(protocol),
            detail,
        ))
    };
    if client_id.len() > usize::from(limits.max_client_id_bytes) {
        return reject("Client Identifier over max_client_id_bytes");
    }
    if client_id.is_empty() {
        match protocol {
            // 3.1 requires 1 to 23 characters; mosquitto refuses an empty one with 0x02.
            Protocol::V31 => return reject("empty Client Identifier in MQTT 3.1"),
            Protocol::V311 if !clean_start => {
                return reject("empty Client Identifier without Clean Session [MQTT-3.1.3-8]");
            }
            // 3.1.1 with Clean Session, and 5: the server assigns one [MQTT-3.1.3-6].
            _ => {}
        }
    }
    Ok(())
}
