//! `client_hello::peek` on real hellos from a rustls client, and on what is not one.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rustls::AlertDescription;
use rustls::pki_types::ServerName;
use rustls::version::{TLS12, TLS13};

use crate::tls::client_hello::{
    HelloError, HelloInfo, MAX_CLIENT_HELLO_BYTES, Peek, alert_record, peek,
};
use crate::tls::testbed::client_config;

/// The first flight of a rustls client configured with `configure`.
fn hello_from(server_name: &str, configure: impl FnOnce(&mut rustls::ClientConfig)) -> Vec<u8> {
    let mut config = client_config(&[&TLS13, &TLS12], None, None);
    configure(&mut config);
    let name = ServerName::try_from(server_name.to_owned()).unwrap();
    let mut client = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut wire = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut wire).unwrap();
    }
    wire
}

fn mqtt_hello() -> Vec<u8> {
    hello_from("mqtt.example.com", |_| {})
}

fn expect_hello(bytes: &[u8]) -> HelloInfo {
    match peek(bytes) {
        Ok(Peek::Hello(info)) => info,
        other => panic!("expected a hello, got {other:?}"),
    }
}

#[test]
fn hello_with_sni() {
    let info = expect_hello(&mqtt_hello());
    assert_eq!(info.sni.as_deref(), Some("mqtt.example.com"));
}

#[test]
fn hello_without_sni() {
    // rustls sends no SNI for an IP address (RFC 6066 §3).
    let info = expect_hello(&hello_from("192.0.2.1", |c| c.alpn_protocols.clear()));
    assert_eq!(info.sni, None);
}

#[test]
fn sni_is_lowercased() {
    let info = expect_hello(&hello_from("MQTT.Example.COM", |_| {}));
    assert_eq!(info.sni.as_deref(), Some("mqtt.example.com"));
}

#[test]
fn every_prefix_of_a_hello_is_incomplete_and_trailing_bytes_are_ignored() {
    let mut hello = mqtt_hello();
    for len in 0..hello.len() {
        assert_eq!(peek(&hello[..len]), Ok(Peek::Incomplete), "prefix of {len}");
    }
    hello.extend_from_slice(&[0x17, 3, 3, 0, 10]);
    expect_hello(&hello);
}

#[test]
fn hello_split_across_small_records_is_found() {
    // A client that cuts records at 64 bytes spreads its hello over ~30 records.
    let hello = hello_from("mqtt.example.com", |c| c.max_fragment_size = Some(64));
    assert!(hello.len() > 64 * 4);
    for len in 0..hello.len() {
        assert_eq!(peek(&hello[..len]), Ok(Peek::Incomplete), "prefix of {len}");
    }
    assert_eq!(
        expect_hello(&hello).sni.as_deref(),
        Some("mqtt.example.com")
    );
}

#[test]
fn plain_text_is_not_tls() {
    let mqtt_connect = [0x10, 0x10, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 60];
    assert_eq!(peek(&mqtt_connect), Err(HelloError::NotTls));
    assert_eq!(peek(b"GET / HTTP/1.1\r\n"), Err(HelloError::NotTls));
    assert_eq!(peek(&[0x17, 3, 3, 0, 1, 0]), Err(HelloError::NotTls));
    assert_eq!(HelloError::NotTls.keyword(), "tls_not_tls");
    assert_eq!(HelloError::NotTls.alert(), None);
}

#[test]
fn sslv2_format_hello_is_unsupported_version() {
    // Length 0x2e with the high bit, CLIENT-HELLO (1), version 3.0, then lengths.
    let sslv2 = [
        0x80, 0x2e, 0x01, 0x03, 0x00, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10,
    ];
    assert_eq!(peek(&sslv2), Err(HelloError::UnsupportedVersion));
}

/// Rewrites the hello's `legacy_version` (and the record's) to `version`.
fn with_versions(mut hello: Vec<u8>, record: u16, legacy: u16) -> Vec<u8> {
    hello[1..3].copy_from_slice(&record.to_be_bytes());
    hello[9..11].copy_from_slice(&legacy.to_be_bytes());
    hello
}

#[test]
fn hello_below_tls12_is_unsupported_version() {
    let tls12_hello = hello_from("mqtt.example.com", |_| {});
    for legacy in [0x0300, 0x0301, 0x0302] {
        let old = with_versions(tls12_hello.clone(), 0x0301, legacy);
        assert_eq!(
            peek(&old),
            Err(HelloError::UnsupportedVersion),
            "{legacy:#06x}"
        );
    }
    // Real clients write 0x0301 in the record header: that alone is fine.
    expect_hello(&with_versions(tls12_hello.clone(), 0x0301, 0x0303));
    // What rustls makes of an SSLv3 record header: it rejects it as a record.
    let sslv3_record = with_versions(tls12_hello, 0x0300, 0x0300);
    assert!(peek(&sslv3_record).is_err());
}

#[test]
fn oversized_hello_is_too_large() {
    // A handshake header announcing a 20000-byte ClientHello, spread over full records.
    let mut bytes = Vec::new();
    let mut body = vec![1, 0, 0x4e, 0x20];
    body.resize(20_004, 0);
    for chunk in body.chunks(16 * 1024) {
        bytes.extend_from_slice(&[0x16, 3, 3]);
        bytes.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
        bytes.extend_from_slice(chunk);
    }
    assert!(bytes.len() > MAX_CLIENT_HELLO_BYTES);
    assert_eq!(peek(&bytes), Err(HelloError::TooLarge));
    assert_eq!(peek(&bytes[..1000]), Ok(Peek::Incomplete));
}

#[test]
fn other_handshake_messages_are_invalid() {
    // A ServerHello (type 2) where a ClientHello belongs.
    let server_hello = [0x16, 3, 3, 0, 6, 2, 0, 0, 2, 3, 3];
    assert_eq!(peek(&server_hello), Err(HelloError::Invalid));
    let mut truncated_inside = mqtt_hello();
    truncated_inside[8] = truncated_inside[8].wrapping_sub(10); // hello shorter than its fields
    assert!(peek(&truncated_inside).is_err());
}

#[test]
fn alert_record_is_a_fatal_alert_in_the_clear() {
    assert_eq!(
        alert_record(AlertDescription::UnrecognisedName),
        [21, 3, 3, 0, 2, 2, 112]
    );
    assert_eq!(alert_record(AlertDescription::ProtocolVersion)[6], 70);
    assert_eq!(alert_record(AlertDescription::HandshakeFailure)[6], 40);
}

/// Property: `peek` never panics, whatever the bytes, and a result is stable under more bytes
/// only in the sense that it never reports a hello for random input.
#[test]
fn random_and_mutated_input_never_panics() {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let hello = mqtt_hello();
    for i in 0..3000 {
        let mut bytes = match i % 3 {
            0 => {
                let mut b = vec![0u8; rng.random_range(0..600)];
                rng.fill(&mut b[..]);
                b
            }
            1 => {
                let mut b = vec![0x16, 3, 1];
                let mut tail = vec![0u8; rng.random_range(0..600)];
                rng.fill(&mut tail[..]);
                b.extend(tail);
                b
            }
            _ => hello.clone(),
        };
        for _ in 0..rng.random_range(1..8) {
            let at = rng.random_range(0..bytes.len().max(1));
            if let Some(b) = bytes.get_mut(at) {
                *b = rng.random();
            }
        }
        let cut = rng.random_range(0..=bytes.len());
        let _ = peek(&bytes[..cut]);
        let _ = peek(&bytes);
    }
}
