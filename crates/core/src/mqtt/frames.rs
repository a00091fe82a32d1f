//! Sans-IO MQTT 3.1.1 / 5 packets we send ourselves: the one set of encoders, used by the
//! health check (its CONNECT), the load generator and the sink. They write into caller
//! buffers (built once per connection, patched in place per message); a streaming frame
//! scanner never buffers a packet larger than the caller's buffer.
//!
//! What a client sends us is parsed elsewhere, with limits ([`super::parse_connect`]); this is
//! only what the proxy's own peers need: CONNECT/CONNACK, PUBLISH (QoS 0/1), PUBACK,
//! SUBSCRIBE/SUBACK, PINGREQ/PINGRESP, DISCONNECT.

use super::wire::encode_vbi;

/// MQTT protocol level on the wire (CONNECT byte 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// MQTT 3.1.1, protocol level 4.
    V311,
    /// MQTT 5.0, protocol level 5.
    V5,
}

impl Version {
    pub fn level(self) -> u8 {
        match self {
            Version::V311 => 4,
            Version::V5 => 5,
        }
    }

    pub fn from_level(level: u8) -> Option<Version> {
        match level {
            4 => Some(Version::V311),
            5 => Some(Version::V5),
            _ => None,
        }
    }
}

/// Control packet types (MQTT 3.1.1 §2.2.1), the high nibble of the first byte.
pub mod kind {
    pub const CONNECT: u8 = 1;
    pub const CONNACK: u8 = 2;
    pub const PUBLISH: u8 = 3;
    pub const PUBACK: u8 = 4;
    pub const SUBSCRIBE: u8 = 8;
    pub const SUBACK: u8 = 9;
    pub const PINGREQ: u8 = 12;
    pub const PINGRESP: u8 = 13;
    pub const DISCONNECT: u8 = 14;
}

/// Largest Remaining Length MQTT can express (four varint bytes), 256 MiB - 1.
pub const MAX_REMAINING_LEN: usize = 268_435_455;

/// Appends a Remaining Length. Callers keep `len` within [`MAX_REMAINING_LEN`].
fn put_varint(out: &mut Vec<u8>, len: usize) {
    // encode_vbi refuses what exceeds MAX_REMAINING_LEN (its VBI_MAX).
    u32::try_from(len)
        .ok()
        .and_then(|len| encode_vbi(len, out))
        .expect("a Remaining Length within MAX_REMAINING_LEN");
}

/// Appends a two-byte length and the bytes. Callers keep `s` within 65,535 bytes.
fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    let len = u16::try_from(s.len()).expect("an MQTT string within 65535 bytes");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s);
}

/// A client id, user name or password longer than the 65,535 bytes a two-byte length says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldTooLong;

/// The fields of a CONNECT we send: clean session / clean start, no will, no properties.
#[derive(Clone, Copy, Debug)]
pub struct ConnectFields<'a> {
    pub version: Version,
    pub client_id: &'a [u8],
    pub keepalive_s: u16,
    pub username: Option<&'a [u8]>,
    pub password: Option<&'a [u8]>,
}

/// Appends a CONNECT with a clean session, no will, no credentials.
pub fn encode_connect(out: &mut Vec<u8>, version: Version, client_id: &[u8], keepalive_s: u16) {
    let fields = ConnectFields {
        version,
        client_id,
        keepalive_s,
        username: None,
        password: None,
    };
    encode_connect_fields(out, &fields).expect("a client id within 65535 bytes");
}

/// Appends a CONNECT with `fields`. Flags as given: a password without a user name is
/// written as asked (MQTT 3.1.1 forbids it [MQTT-3.1.2-22]; the caller decides).
pub fn encode_connect_fields(
    out: &mut Vec<u8>,
    fields: &ConnectFields,
) -> Result<(), FieldTooLong> {
    let strings = [Some(fields.client_id), fields.username, fields.password];
    if strings
        .iter()
        .flatten()
        .any(|s| s.len() > usize::from(u16::MAX))
    {
        return Err(FieldTooLong);
    }
    let props = usize::from(fields.version == Version::V5);
    let remaining =
        2 + 4 + 1 + 1 + 2 + props + strings.iter().flatten().map(|s| 2 + s.len()).sum::<usize>();
    let mut flags = 0x02; // clean session / clean start
    if fields.username.is_some() {
        flags |= 0x80;
    }
    if fields.password.is_some() {
        flags |= 0x40;
    }
    out.push(kind::CONNECT << 4);
    put_varint(out, remaining);
    put_str(out, b"MQTT");
    out.push(fields.version.level());
    out.push(flags);
    out.extend_from_slice(&fields.keepalive_s.to_be_bytes());
    if fields.version == Version::V5 {
        out.push(0); // no properties
    }
    for s in strings.into_iter().flatten() {
        put_str(out, s);
    }
    Ok(())
}

/// Where a PUBLISH built by [`encode_publish`] keeps the fields patched per message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublishLayout {
    /// Whole packet length.
    pub len: usize,
    /// Offset of the 2-byte packet identifier (QoS 1 only).
    pub packet_id_at: Option<usize>,
    /// Offset of the payload.
    pub payload_at: usize,
}

/// Appends a PUBLISH with `payload_len` payload bytes (filled with `b'x'`), returns where the
/// patchable fields are.
pub fn encode_publish(
    out: &mut Vec<u8>,
    version: Version,
    topic: &[u8],
    qos: u8,
    payload_len: usize,
) -> PublishLayout {
    let start = out.len();
    let id = if qos > 0 { 2 } else { 0 };
    let props = usize::from(version == Version::V5);
    let remaining = 2 + topic.len() + id + props + payload_len;
    out.push((kind::PUBLISH << 4) | ((qos & 3) << 1));
    put_varint(out, remaining);
    put_str(out, topic);
    let packet_id_at = (qos > 0).then(|| {
        out.extend_from_slice(&1u16.to_be_bytes());
        out.len() - 2 - start
    });
    if version == Version::V5 {
        out.push(0);
    }
    let payload_at = out.len() - start;
    out.resize(out.len() + payload_len, b'x');
    PublishLayout {
        len: out.len() - start,
        packet_id_at,
        payload_at,
    }
}

/// Appends a SUBSCRIBE for one topic filter at QoS `qos`.
pub fn encode_subscribe(
    out: &mut Vec<u8>,
    version: Version,
    packet_id: u16,
    filter: &[u8],
    qos: u8,
) {
    let props = usize::from(version == Version::V5);
    let remaining = 2 + props + 2 + filter.len() + 1;
    out.push((kind::SUBSCRIBE << 4) | 0x02);
    put_varint(out, remaining);
    out.extend_from_slice(&packet_id.to_be_bytes());
    if version == Version::V5 {
        out.push(0);
    }
    put_str(out, filter);
    out.push(qos & 3);
}

pub const PINGREQ: [u8; 2] = [kind::PINGREQ << 4, 0];
pub const PINGRESP: [u8; 2] = [kind::PINGRESP << 4, 0];
pub const DISCONNECT: [u8; 2] = [kind::DISCONNECT << 4, 0];

/// A CONNACK accepting the session (return / reason code 0).
pub fn connack(version: Version) -> &'static [u8] {
    match version {
        Version::V311 => &[kind::CONNACK << 4, 2, 0, 0],
        Version::V5 => &[kind::CONNACK << 4, 3, 0, 0, 0],
    }
}

/// A PUBACK for `packet_id` (success; MQTT 5 allows omitting the reason code).
pub fn puback(packet_id: u16) -> [u8; 4] {
    let id = packet_id.to_be_bytes();
    [kind::PUBACK << 4, 2, id[0], id[1]]
}

/// Appends a SUBACK granting `qos` for one filter.
pub fn encode_suback(out: &mut Vec<u8>, version: Version, packet_id: u16, qos: u8) {
    out.push(kind::SUBACK << 4);
    out.push(if version == Version::V5 { 4 } else { 3 });
    out.extend_from_slice(&packet_id.to_be_bytes());
    if version == Version::V5 {
        out.push(0);
    }
    out.push(qos);
}

/// What is wrong with the bytes of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// A Remaining Length with more than four bytes (MQTT 3.1.1 §2.2.3).
    BadRemainingLength,
    /// A CONNECT whose variable header is not MQTT 3.1.1 or 5.
    BadConnect,
}

/// One frame found by [`Scanner::next`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A whole packet: first byte and body (everything after the Remaining Length).
    Whole { first: u8, body: &'a [u8] },
    /// The start of a packet larger than the caller's buffer: its first byte, its body length
    /// and the body bytes available now; the rest is skipped as it arrives.
    Large {
        first: u8,
        body_len: usize,
        body_prefix: &'a [u8],
    },
}

impl Frame<'_> {
    pub fn kind(&self) -> u8 {
        match self {
            Frame::Whole { first, .. } | Frame::Large { first, .. } => first >> 4,
        }
    }
}

/// Streaming frame scanner: feed it the unread bytes of a buffer of fixed `capacity`; it
/// says how many bytes it consumed. Packets that fit the buffer come out whole; larger ones
/// as [`Frame::Large`], after which their remaining bytes are dropped without buffering.
#[derive(Debug, Default)]
pub struct Scanner {
    skip: usize,
}

impl Scanner {
    /// Returns `(consumed, frame)`. `frame` is `None` when more bytes are needed: the caller
    /// keeps `data[consumed..]`, reads more behind it, and calls again.
    pub fn next<'a>(
        &mut self,
        data: &'a [u8],
        capacity: usize,
    ) -> Result<(usize, Option<Frame<'a>>), FrameError> {
        if self.skip > 0 {
            let n = self.skip.min(data.len());
            self.skip -= n;
            return Ok((n, None));
        }
        let Some((&first, rest)) = data.split_first() else {
            return Ok((0, None));
        };
        let mut body_len = 0usize;
        let mut header_len = 1;
        for (i, &b) in rest.iter().enumerate().take(4) {
            body_len |= usize::from(b & 0x7f) << (7 * i);
            header_len += 1;
            if b & 0x80 == 0 {
                let total = header_len + body_len;
                if data.len() >= total {
                    let body = &data[header_len..total];
                    return Ok((total, Some(Frame::Whole { first, body })));
                }
                if total > capacity {
                    let body_prefix = &data[header_len..];
                    self.skip = total - data.len();
                    let frame = Frame::Large {
                        first,
                        body_len,
                        body_prefix,
                    };
                    return Ok((data.len(), Some(frame)));
                }
                return Ok((0, None));
            }
            if i == 3 {
                return Err(FrameError::BadRemainingLength);
            }
        }
        Ok((0, None))
    }
}

/// The protocol version of a CONNECT body.
pub fn connect_version(body: &[u8]) -> Result<Version, FrameError> {
    match body {
        [0, 4, b'M', b'Q', b'T', b'T', level, ..] => {
            Version::from_level(*level).ok_or(FrameError::BadConnect)
        }
        _ => Err(FrameError::BadConnect),
    }
}

/// The client identifier of a CONNECT body (for benchmarks of CONNECT parsing).
pub fn connect_client_id(body: &[u8]) -> Result<&[u8], FrameError> {
    let version = connect_version(body)?;
    let mut at = 10; // name (6), level, flags, keepalive (2)
    if version == Version::V5 {
        let (props, n) = read_varint(body.get(at..).ok_or(FrameError::BadConnect)?)?;
        at += n + props;
    }
    let len = body.get(at..at + 2).ok_or(FrameError::BadConnect)?;
    let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
    body.get(at + 2..at + 2 + len).ok_or(FrameError::BadConnect)
}

fn read_varint(data: &[u8]) -> Result<(usize, usize), FrameError> {
    let mut value = 0usize;
    for (i, &b) in data.iter().enumerate().take(4) {
        value |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    Err(FrameError::BadRemainingLength)
}

/// The packet identifier of a QoS > 0 PUBLISH body, or of a PUBACK/SUBACK body.
pub fn publish_packet_id(first: u8, body: &[u8]) -> Option<u16> {
    if (first >> 1) & 3 == 0 {
        return None;
    }
    let topic_len = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
    let id = body.get(2 + topic_len..4 + topic_len)?;
    Some(u16::from_be_bytes([id[0], id[1]]))
}

/// The payload of a PUBLISH body (`body` may be a prefix of a large one).
pub fn publish_payload(version: Version, first: u8, body: &[u8]) -> Option<&[u8]> {
    let topic_len = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
    let mut at = 2 + topic_len + if (first >> 1) & 3 > 0 { 2 } else { 0 };
    if version == Version::V5 {
        let (props, n) = read_varint(body.get(at..)?).ok()?;
        at += n + props;
    }
    body.get(at..)
}

#[cfg(test)]
mod tests;
