//! MQTT 5 property blocks (5.0 §2.2.2) of a CONNECT (§3.1.2.11) and of its will
//! (§3.1.3.2): walked in place, never collected, so a peer's thousand User Properties cost
//! time bounded by the packet size and no memory.

use super::Protocol;
use super::connect::{ConnectError, ConnectErrorKind};
use super::wire::{ReadError, Reader};

/// The CONNECT properties the proxy reports. All `None` for MQTT 3.x.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectProperties<'a> {
    /// Session Expiry Interval (0x11), seconds; absent means 0 (end with the connection).
    pub session_expiry_secs: Option<u32>,
    /// Receive Maximum (0x21): in-flight QoS 1/2 publishes the client accepts.
    pub receive_maximum: Option<u16>,
    /// Maximum Packet Size (0x27) the client accepts, bytes.
    pub maximum_packet_size: Option<u32>,
    /// Topic Alias Maximum (0x22).
    pub topic_alias_maximum: Option<u16>,
    /// Authentication Method (0x15): enhanced authentication follows (AUTH packets may
    /// precede CONNACK). The proxy relays them like any other bytes.
    pub auth_method: Option<&'a str>,
}

/// Property identifiers (5.0 §2.2.2.2, Table 2-4) that CONNECT or its will may carry.
mod id {
    pub const PAYLOAD_FORMAT_INDICATOR: u32 = 0x01;
    pub const MESSAGE_EXPIRY_INTERVAL: u32 = 0x02;
    pub const CONTENT_TYPE: u32 = 0x03;
    pub const RESPONSE_TOPIC: u32 = 0x08;
    pub const CORRELATION_DATA: u32 = 0x09;
    pub const SESSION_EXPIRY_INTERVAL: u32 = 0x11;
    pub const AUTHENTICATION_METHOD: u32 = 0x15;
    pub const AUTHENTICATION_DATA: u32 = 0x16;
    pub const REQUEST_PROBLEM_INFORMATION: u32 = 0x17;
    pub const WILL_DELAY_INTERVAL: u32 = 0x18;
    pub const REQUEST_RESPONSE_INFORMATION: u32 = 0x19;
    pub const RECEIVE_MAXIMUM: u32 = 0x21;
    pub const TOPIC_ALIAS_MAXIMUM: u32 = 0x22;
    pub const USER_PROPERTY: u32 = 0x26;
    pub const MAXIMUM_PACKET_SIZE: u32 = 0x27;
}

/// One decoded property value.
enum Value<'a> {
    Byte(u8),
    U16(u16),
    U32(u32),
    Text(&'a str),
    Binary,
    Pair,
}

/// Reads one value of the type Table 2-4 gives `id`.
fn read_value<'a>(id: u32, r: &mut Reader<'a>) -> Result<Value<'a>, ReadError> {
    Ok(match id {
        id::PAYLOAD_FORMAT_INDICATOR
        | id::REQUEST_PROBLEM_INFORMATION
        | id::REQUEST_RESPONSE_INFORMATION => Value::Byte(r.u8()?),
        id::RECEIVE_MAXIMUM | id::TOPIC_ALIAS_MAXIMUM => Value::U16(r.u16()?),
        id::MESSAGE_EXPIRY_INTERVAL
        | id::SESSION_EXPIRY_INTERVAL
        | id::WILL_DELAY_INTERVAL
        | id::MAXIMUM_PACKET_SIZE => Value::U32(r.u32()?),
        id::CONTENT_TYPE | id::RESPONSE_TOPIC | id::AUTHENTICATION_METHOD => Value::Text(r.utf8()?),
        id::CORRELATION_DATA | id::AUTHENTICATION_DATA => {
            r.binary()?;
            Value::Binary
        }
        id::USER_PROPERTY => {
            r.utf8()?;
            r.utf8()?;
            Value::Pair
        }
        // Callers only pass identifiers from their allowed set.
        _ => return Err(ReadError::Short),
    })
}

fn malformed(detail: &'static str) -> ConnectError {
    ConnectError::new(ConnectErrorKind::Malformed, Some(Protocol::V5), detail)
}

fn protocol_error(detail: &'static str) -> ConnectError {
    ConnectError::new(ConnectErrorKind::ProtocolError, Some(Protocol::V5), detail)
}

fn read_error(e: ReadError, detail: &'static str) -> ConnectError {
    match e {
        ReadError::BadUtf8 => {
            ConnectError::new(ConnectErrorKind::BadUtf8, Some(Protocol::V5), detail)
        }
        ReadError::Short | ReadError::BadVbi => malformed(detail),
    }
}

/// Walks the property block at the reader: a Property Length, then properties. Rejects an
/// identifier outside `allowed` (Malformed, §2.2.2.2) and a repeat of any property but User
/// Property (Protocol Error, §3.1.2.11 and §3.1.3.2), and hands each value to `on`.
fn walk<'a>(
    r: &mut Reader<'a>,
    allowed: &[u32],
    what: &'static str,
    mut on: impl FnMut(u32, Value<'a>) -> Result<(), ConnectError>,
) -> Result<(), ConnectError> {
    let len = r.vbi().map_err(|e| read_error(e, what))?;
    let len = usize::try_from(len).map_err(|_| malformed(what))?;
    let mut block = r.sub(len).map_err(|e| read_error(e, what))?;
    // Identifiers are all below 64 in MQTT 5, so one bit each.
    let mut seen: u64 = 0;
    while !block.is_empty() {
        let id = block.vbi().map_err(|e| read_error(e, what))?;
        if !allowed.contains(&id) {
            return Err(malformed(
                "property identifier not valid here [MQTT 5 §2.2.2.2]",
            ));
        }
        if id != id::USER_PROPERTY {
            let bit = 1u64 << id;
            if seen & bit != 0 {
                return Err(protocol_error("property repeated [MQTT 5 §3.1.2.11]"));
            }
            seen |= bit;
        }
        let value = read_value(id, &mut block).map_err(|e| read_error(e, what))?;
        on(id, value)?;
    }
    Ok(())
}

/// The CONNECT Properties (5.0 §3.1.2.11).
pub(super) fn connect_properties<'a>(
    r: &mut Reader<'a>,
) -> Result<ConnectProperties<'a>, ConnectError> {
    const ALLOWED: [u32; 9] = [
        id::SESSION_EXPIRY_INTERVAL,
        id::RECEIVE_MAXIMUM,
        id::MAXIMUM_PACKET_SIZE,
        id::TOPIC_ALIAS_MAXIMUM,
        id::REQUEST_RESPONSE_INFORMATION,
        id::REQUEST_PROBLEM_INFORMATION,
        id::USER_PROPERTY,
        id::AUTHENTICATION_METHOD,
        id::AUTHENTICATION_DATA,
    ];
    let mut props = ConnectProperties::default();
    let mut auth_data = false;
    walk(
        r,
        &ALLOWED,
        "CONNECT properties overrun the packet",
        |id, value| {
            match (id, value) {
                (id::SESSION_EXPIRY_INTERVAL, Value::U32(v)) => props.session_expiry_secs = Some(v),
                (id::RECEIVE_MAXIMUM, Value::U16(0)) => {
                    return Err(protocol_error("Receive Maximum 0 [MQTT 5 §3.1.2.11.3]"));
                }
                (id::RECEIVE_MAXIMUM, Value::U16(v)) => props.receive_maximum = Some(v),
                (id::MAXIMUM_PACKET_SIZE, Value::U32(0)) => {
                    return Err(protocol_error("Maximum Packet Size 0 [MQTT 5 §3.1.2.11.4]"));
                }
                (id::MAXIMUM_PACKET_SIZE, Value::U32(v)) => props.maximum_packet_size = Some(v),
                (id::TOPIC_ALIAS_MAXIMUM, Value::U16(v)) => props.topic_alias_maximum = Some(v),
                (
                    id::REQUEST_RESPONSE_INFORMATION | id::REQUEST_PROBLEM_INFORMATION,
                    Value::Byte(b),
                ) if b > 1 => {
                    return Err(protocol_error(
                        "Request Response/Problem Information not 0 or 1 [MQTT 5 §3.1.2.11.6-7]",
                    ));
                }
                (id::AUTHENTICATION_METHOD, Value::Text(m)) => props.auth_method = Some(m),
                (id::AUTHENTICATION_DATA, _) => auth_data = true,
                _ => {}
            }
            Ok(())
        },
    )?;
    if auth_data && props.auth_method.is_none() {
        return Err(protocol_error(
            "Authentication Data without Authentication Method [MQTT 5 §3.1.2.11.10]",
        ));
    }
    Ok(props)
}

/// The Will Properties (5.0 §3.1.3.2): validated, not reported.
pub(super) fn will_properties(r: &mut Reader<'_>) -> Result<(), ConnectError> {
    const ALLOWED: [u32; 7] = [
        id::WILL_DELAY_INTERVAL,
        id::PAYLOAD_FORMAT_INDICATOR,
        id::MESSAGE_EXPIRY_INTERVAL,
        id::CONTENT_TYPE,
        id::RESPONSE_TOPIC,
        id::CORRELATION_DATA,
        id::USER_PROPERTY,
    ];
    walk(
        r,
        &ALLOWED,
        "will properties overrun the packet",
        |id, value| match (id, value) {
            (id::PAYLOAD_FORMAT_INDICATOR, Value::Byte(b)) if b > 1 => Err(protocol_error(
                "Payload Format Indicator not 0 or 1 [MQTT 5 §3.1.3.2.3]",
            )),
            _ => Ok(()),
        },
    )
}
