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
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringress::health::check_connack;
use ringress::mqtt::{ConnectLimits, ConnectOutcome, parse_connect};

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
});
