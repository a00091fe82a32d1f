//! The CONNACK the proxy sends when it refuses a CONNECT itself, before any broker is
//! involved. Only refusals: a successful CONNACK always comes from the broker.

use super::Protocol;

/// Longest CONNACK [`connack_bytes`] writes, in bytes: MQTT 5's fixed header (2),
/// acknowledge flags (1), reason code (1) and an empty property block (1).
pub const CONNACK_MAX_LEN: usize = 5;

/// MQTT 3.1 / 3.1.1 CONNACK return codes (3.1.1 §3.2.2.3).
pub mod return_code {
    /// The server does not support the requested protocol level.
    pub const UNACCEPTABLE_PROTOCOL_VERSION: u8 = 0x01;
    /// The client identifier is correct UTF-8 but not allowed by the server.
    pub const IDENTIFIER_REJECTED: u8 = 0x02;
}

/// MQTT 5 CONNACK reason codes (5.0 §3.2.2.2), the ones the proxy sends.
pub mod reason_code {
    pub const MALFORMED_PACKET: u8 = 0x81;
    pub const PROTOCOL_ERROR: u8 = 0x82;
    pub const UNSUPPORTED_PROTOCOL_VERSION: u8 = 0x84;
    pub const CLIENT_IDENTIFIER_NOT_VALID: u8 = 0x85;
    pub const TOPIC_NAME_INVALID: u8 = 0x90;
    pub const PACKET_TOO_LARGE: u8 = 0x95;
}

/// A refusing CONNACK: which encoding, and the return/reason code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Connack {
    /// The encoding to use: 3.1 and 3.1.1 share one, MQTT 5 adds a property block.
    pub protocol: Protocol,
    /// A 3.1.1 return code or an MQTT 5 reason code, per `protocol`.
    pub code: u8,
}

impl Connack {
    /// The packet; send `bytes[..len]`, then close the connection.
    pub fn bytes(self) -> ([u8; CONNACK_MAX_LEN], usize) {
        connack_bytes(self.protocol, self.code)
    }
}

/// Encodes a CONNACK with Session Present 0 (a refusal must not claim a session:
/// [MQTT-3.2.2-4] in 3.1.1, [MQTT-3.2.2-6] in 5.0) and `code`. Returns the buffer and
/// how many of its bytes to send.
pub fn connack_bytes(protocol: Protocol, code: u8) -> ([u8; CONNACK_MAX_LEN], usize) {
    match protocol {
        // Fixed header 0x20, Remaining Length 2, acknowledge flags, return code.
        Protocol::V31 | Protocol::V311 => ([0x20, 0x02, 0x00, code, 0x00], 4),
        // ... Remaining Length 3, and a Property Length of 0.
        Protocol::V5 => ([0x20, 0x03, 0x00, code, 0x00], 5),
    }
}

#[cfg(test)]
mod tests;
