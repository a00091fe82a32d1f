//! MQTT awareness, sans-IO: the proxy reads a client's CONNECT (to route by client
//! identifier, to refuse what the broker would refuse anyway, and to size the idle timeout
//! from the keep-alive) and then forwards the bytes unchanged.
//!
//! Specifications: MQTT 3.1 (IBM, "MQIsdp"), MQTT 3.1.1 (OASIS Standard, 2014) and
//! MQTT 5.0 (OASIS Standard, 2019). Normative statements are cited as `[MQTT-x.y.z-n]`;
//! 3.1.1 and 5.0 number some of them differently, and the 3.1.1 number is given where both
//! say the same.
//!
//! # Layout
//! - [`connect`]: [`parse_connect`], the first (and only) client packet the proxy parses.
//! - `properties`: MQTT 5 property blocks of CONNECT and of its will.
//! - [`connack`]: the CONNACK the proxy sends when it refuses a CONNECT itself.
//! - `keepalive`: keep-alive → idle timeout.
//! - `wire`: bounds-checked reader, Variable Byte Integers, UTF-8 strings; no panics on
//!   peer input and no allocation sized by the peer.

pub mod connack;
pub mod connect;
pub mod frames;
mod keepalive;
mod properties;
pub mod wire;

#[cfg(test)]
mod tests;

pub use connack::{CONNACK_MAX_LEN, Connack, connack_bytes};
pub use connect::{
    Connect, ConnectError, ConnectErrorKind, ConnectOutcome, WillInfo, parse_connect,
};
pub use keepalive::idle_timeout_for_keepalive;
pub use properties::ConnectProperties;

/// Largest CONNECT packet (fixed header included) the proxy buffers, in bytes.
///
/// The proxy holds the whole CONNECT before it picks a server (client-identifier hashing
/// needs the identifier), so this bounds per-connection memory in that stage. A CONNECT is
/// a client identifier, credentials, and an optional will; only the will payload can be
/// large. 64 KiB holds any realistic will (device "offline" notices are tens of bytes) and
/// a client certificate-sized token as password; a deployment with bigger wills raises it.
pub const DEFAULT_MAX_CONNECT_BYTES: u32 = 64 * 1024;

/// Longest client identifier accepted, in bytes of UTF-8.
///
/// The spec lets servers accept more than 23 bytes and brokers do (mosquitto: up to 65535).
/// Identifiers are routing keys and appear in the access log, so we bound them; 1024 bytes
/// is eight times AWS IoT Core's 128-byte limit and fits any UUID/URN/device-path scheme.
pub const DEFAULT_MAX_CLIENT_ID_BYTES: u16 = 1024;

/// Limits applied while parsing a CONNECT; see the constants for the defaults' reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectLimits {
    /// Largest whole packet (fixed header + Remaining Length), in bytes. Checked as soon as
    /// the Remaining Length is known, before the rest of the packet arrives.
    pub max_packet_bytes: u32,
    /// Longest client identifier, in bytes.
    pub max_client_id_bytes: u16,
}

impl Default for ConnectLimits {
    fn default() -> Self {
        Self {
            max_packet_bytes: DEFAULT_MAX_CONNECT_BYTES,
            max_client_id_bytes: DEFAULT_MAX_CLIENT_ID_BYTES,
        }
    }
}

/// The protocol a CONNECT asked for: the (Protocol Name, Protocol Level) pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// MQTT 3.1: `"MQIsdp"`, level 3.
    V31,
    /// MQTT 3.1.1: `"MQTT"`, level 4.
    V311,
    /// MQTT 5.0: `"MQTT"`, level 5.
    V5,
}

impl Protocol {
    /// The Protocol Level byte.
    pub const fn level(self) -> u8 {
        match self {
            Protocol::V31 => 3,
            Protocol::V311 => 4,
            Protocol::V5 => 5,
        }
    }

    /// The Protocol Name string.
    pub const fn name(self) -> &'static str {
        match self {
            Protocol::V31 => "MQIsdp",
            Protocol::V311 | Protocol::V5 => "MQTT",
        }
    }

    /// A stable label for logs: `3.1`, `3.1.1` or `5`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Protocol::V31 => "3.1",
            Protocol::V311 => "3.1.1",
            Protocol::V5 => "5",
        }
    }
}

/// What the proxy keeps of a client's CONNECT for the rest of the connection: the access
/// log's fields and the routing key (client-identifier balancing). Owned, so the bytes it was
/// parsed from can go to the broker; boxed on the connection, which most often has none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MqttInfo {
    /// As sent: well-formed UTF-8 without U+0000, at most `max_client_id_bytes` (1024)
    /// bytes; empty when the client asked the broker to assign one. Peer-controlled: escape
    /// it before printing.
    pub client_id: Box<str>,
    pub protocol: Protocol,
    /// Keep Alive, seconds; 0 means off.
    pub keepalive_secs: u16,
    pub username_present: bool,
}

impl MqttInfo {
    pub fn from_connect(connect: &Connect<'_>) -> MqttInfo {
        MqttInfo {
            client_id: connect.client_id.into(),
            protocol: connect.protocol,
            keepalive_secs: connect.keepalive_secs,
            username_present: connect.username_present,
        }
    }
}

impl core::fmt::Display for Protocol {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "MQTT {}", self.as_str())
    }
}
