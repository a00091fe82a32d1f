//! Fuzzes `ringress::mqtt::parse_connect`, the parser that sees a client's first MQTT
//! bytes (after TLS), and `ringress::health::check_connack`, which reads a broker's reply
//! to a health check.
//!
//! Property, for every input and both the default limits and tight ones (so `TooLarge`
//! and `BadClientId` are reached):
//! 1. `parse_connect` returns (never panics, never allocates by a peer-given size).
//! 2. `Incomplete { needed_at_least }` asks for more than the input holds.
//! 3. `Complete { consumed }` has `consumed <= input.len()`, and parsing exactly
//!    `input[..consumed]` gives the same `Connect` and `consumed`: the packet's extent is
//!    decided by its own bytes, never by what follows it.
//! 4. An error's CONNACK, if any, encodes to a 4- or 5-byte packet starting `0x20`.
//! 5. `check_connack` returns (never panics).
//! 6. Round trip through the one CONNECT encoder ringress has, the health check's
//!    (`mqtt_check_connect`): the input, read as text, split at the first two `\n` into
//!    client id, user name and password, encodes to a packet that `parse_connect` takes
//!    whole (`consumed` = its length) with those fields, MQTT 3.1.1, Clean Session and
//!    keep-alive `CHECK_KEEPALIVE_SECS`, whenever the fields are within the limits (no
//!    U+0000 in the id or user name, the id at most `max_client_id_bytes`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringress::health::{CHECK_KEEPALIVE_SECS, check_connack, mqtt_check_connect};
use ringress::mqtt::{ConnectLimits, ConnectOutcome, Protocol, parse_connect};

fn check(data: &[u8], limits: &ConnectLimits) {
    match parse_connect(data, limits) {
        Ok(ConnectOutcome::Incomplete { needed_at_least }) => {
            assert!(needed_at_least > data.len());
        }
        Ok(ConnectOutcome::Complete { connect, consumed }) => {
            assert!(consumed <= data.len());
            let again = parse_connect(&data[..consumed], limits);
            assert_eq!(again, Ok(ConnectOutcome::Complete { connect, consumed }));
        }
        Err(e) => {
            if let Some(ack) = e.connack() {
                let (buf, len) = ack.bytes();
                assert!(len == 4 || len == 5);
                assert_eq!(buf[0], 0x20);
            }
        }
    }
}

fn check_encoder_round_trip(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut fields = text.splitn(3, '\n');
    let client_id = fields.next().unwrap_or_default();
    let username = fields.next();
    let password = fields.next().map(str::as_bytes);
    let Ok(packet) = mqtt_check_connect(client_id, username, password) else {
        return;
    };
    let limits = ConnectLimits::default();
    let within_limits = !client_id.contains('\0')
        && !username.unwrap_or_default().contains('\0')
        && client_id.len() <= usize::from(limits.max_client_id_bytes)
        && packet.len() <= limits.max_packet_bytes as usize;
    match parse_connect(&packet, &limits) {
        Ok(ConnectOutcome::Complete { connect, consumed }) => {
            assert_eq!(consumed, packet.len());
            assert_eq!(connect.protocol, Protocol::V311);
            assert!(connect.clean_start);
            assert_eq!(connect.keepalive_secs, CHECK_KEEPALIVE_SECS);
            assert_eq!(connect.client_id, client_id);
            assert_eq!(connect.username_present, username.is_some());
            assert_eq!(connect.password_present, password.is_some());
            assert_eq!(connect.will, None);
        }
        other => assert!(!within_limits, "our own CONNECT gives {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    check(data, &ConnectLimits::default());
    check(
        data,
        &ConnectLimits {
            max_packet_bytes: 64,
            max_client_id_bytes: 8,
        },
    );
    let _ = check_connack(data);
    check_encoder_round_trip(data);
});
