//! CONNECT parser tests, byte for byte. Good packets are written out in full; rule
//! violations are the smallest packet that breaks exactly one rule.

use crate::mqtt::connect::ConnectErrorKind as K;
use crate::mqtt::wire::encode_vbi;
use crate::mqtt::*;

const LIMITS: ConnectLimits = ConnectLimits {
    max_packet_bytes: DEFAULT_MAX_CONNECT_BYTES,
    max_client_id_bytes: DEFAULT_MAX_CLIENT_ID_BYTES,
};

/// MQTT 3.1.1, Clean Session, Keep Alive 60, client "c1".
const V311_MINIMAL: &[u8] = &[
    0x10, 0x0e, // CONNECT, Remaining Length 14
    0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, // "MQTT", level 4
    0x02, // Clean Session
    0x00, 0x3c, // Keep Alive 60
    0x00, 0x02, b'c', b'1', // Client Identifier
];

/// MQTT 3.1.1 with every payload field: will (QoS 1, retained), user name, password.
const V311_FULL: &[u8] = &[
    0x10, 0x34, // CONNECT, Remaining Length 52
    0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, //
    0xee, // User Name, Password, Will Retain, Will QoS 1, Will, Clean Session
    0x00, 0x0a, // Keep Alive 10
    0x00, 0x05, b'd', b'e', b'v', b'-', b'7', // Client Identifier
    0x00, 0x0c, b's', b't', b'a', b't', b'u', b's', b'/', b'd', b'e', b'v', b'-', b'7', 0x00, 0x07,
    b'o', b'f', b'f', b'l', b'i', b'n', b'e', // Will Payload
    0x00, 0x05, b'a', b'l', b'i', b'c', b'e', // User Name
    0x00, 0x03, 0x00, 0xff, 0x10, // Password (binary)
];

/// MQTT 3.1: "MQIsdp" level 3, Clean Session, Keep Alive 10, client "old".
const V31: &[u8] = &[
    0x10, 0x11, // CONNECT, Remaining Length 17
    0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', 0x03, //
    0x02, 0x00, 0x0a, //
    0x00, 0x03, b'o', b'l', b'd',
];

/// MQTT 5 with CONNECT properties, a will with will properties, and a user name.
const V5_FULL: &[u8] = &[
    0x10, 0x4b, // CONNECT, Remaining Length 75
    0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, //
    0x86, // User Name, Will (QoS 0), Clean Start
    0x00, 0x1e, // Keep Alive 30
    0x17, // Property Length 23
    0x11, 0x00, 0x00, 0x0e, 0x10, // Session Expiry Interval 3600
    0x21, 0x00, 0x14, // Receive Maximum 20
    0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // User Property k=v
    0x27, 0x00, 0x00, 0x40, 0x00, // Maximum Packet Size 16384
    0x22, 0x00, 0x0a, // Topic Alias Maximum 10
    0x00, 0x09, b'v', b'5', b'-', b'c', b'l', b'i', b'e', b'n', b't', // Client Identifier
    0x0e, // Will Property Length 14
    0x18, 0x00, 0x00, 0x00, 0x1e, // Will Delay Interval 30
    0x01, 0x01, // Payload Format Indicator: UTF-8
    0x03, 0x00, 0x04, b't', b'e', b'x', b't', // Content Type "text"
    0x00, 0x03, b'l', b'w', b't', // Will Topic
    0x00, 0x03, b'b', b'y', b'e', // Will Payload
    0x00, 0x03, b'b', b'o', b'b', // User Name
];

fn complete(bytes: &[u8]) -> (Connect<'_>, usize) {
    match parse_connect(bytes, &LIMITS) {
        Ok(ConnectOutcome::Complete { connect, consumed }) => (connect, consumed),
        other => panic!("expected Complete for {bytes:02x?}, got {other:?}"),
    }
}

fn error(bytes: &[u8]) -> ConnectError {
    match parse_connect(bytes, &LIMITS) {
        Err(e) => e,
        other => panic!("expected an error for {bytes:02x?}, got {other:?}"),
    }
}

fn connack(e: ConnectError) -> Option<Vec<u8>> {
    e.connack().map(|c| {
        let (buf, len) = c.bytes();
        buf[..len].to_vec()
    })
}

/// A CONNECT with the given variable header and payload (fixed header computed).
fn packet(body: &[u8]) -> Vec<u8> {
    let mut out = vec![0x10];
    encode_vbi(u32::try_from(body.len()).unwrap(), &mut out).unwrap();
    out.extend_from_slice(body);
    out
}

/// A 3.1.1 (level 4) or 5 (level 5) body: header with `flags`, then `rest` (for level 5,
/// `rest` starts with the property block).
fn body(level: u8, flags: u8, rest: &[u8]) -> Vec<u8> {
    let mut out = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', level, flags, 0x00, 0x3c];
    out.extend_from_slice(rest);
    out
}

// ---- good packets ----

#[test]
fn v311_minimal() {
    let (c, consumed) = complete(V311_MINIMAL);
    assert_eq!(consumed, V311_MINIMAL.len());
    assert_eq!(
        c,
        Connect {
            protocol: Protocol::V311,
            bridge: false,
            clean_start: true,
            keepalive_secs: 60,
            client_id: "c1",
            will: None,
            username_present: false,
            password_present: false,
            properties: ConnectProperties::default(),
        }
    );
}

#[test]
fn v311_with_will_username_password() {
    let (c, consumed) = complete(V311_FULL);
    assert_eq!(consumed, V311_FULL.len());
    assert_eq!(c.protocol, Protocol::V311);
    assert_eq!(c.keepalive_secs, 10);
    assert_eq!(c.client_id, "dev-7");
    assert_eq!(
        c.will,
        Some(WillInfo {
            qos: 1,
            retain: true,
            topic: "status/dev-7",
            payload_len: 7,
        })
    );
    assert!(c.username_present && c.password_present && c.clean_start);
}

#[test]
fn v311_username_only() {
    let p = packet(&body(4, 0x82, &[0x00, 0x01, b'x', 0x00, 0x01, b'u']));
    let (c, _) = complete(&p);
    assert!(c.username_present && !c.password_present);
}

#[test]
fn v31_mqisdp() {
    let (c, consumed) = complete(V31);
    assert_eq!(consumed, V31.len());
    assert_eq!(c.protocol, Protocol::V31);
    assert_eq!(c.client_id, "old");
    assert_eq!(c.keepalive_secs, 10);
}

#[test]
fn v5_with_properties_and_will_properties() {
    let (c, consumed) = complete(V5_FULL);
    assert_eq!(consumed, V5_FULL.len());
    assert_eq!(
        c,
        Connect {
            protocol: Protocol::V5,
            bridge: false,
            clean_start: true,
            keepalive_secs: 30,
            client_id: "v5-client",
            will: Some(WillInfo {
                qos: 0,
                retain: false,
                topic: "lwt",
                payload_len: 3,
            }),
            username_present: true,
            password_present: false,
            properties: ConnectProperties {
                session_expiry_secs: Some(3600),
                receive_maximum: Some(20),
                maximum_packet_size: Some(16384),
                topic_alias_maximum: Some(10),
                auth_method: None,
            },
        }
    );
}

#[test]
fn v5_password_without_username_is_allowed() {
    let p = packet(&body(
        5,
        0x42,
        &[0x00, 0x00, 0x01, b'x', 0x00, 0x02, 0xde, 0xad],
    ));
    let (c, _) = complete(&p);
    assert!(c.password_present && !c.username_present);
}

#[test]
fn v5_auth_method_and_data() {
    let props = [
        0x0b, 0x15, 0x00, 0x04, b'S', b'C', b'R', b'M', 0x16, 0x00, 0x01, 0x2a,
    ];
    let mut rest = props.to_vec();
    rest.extend_from_slice(&[0x00, 0x01, b'x']);
    // The length byte counts 11 bytes: method (7) + data (4).
    rest[0] = 11;
    let p = packet(&body(5, 0x02, &rest));
    let (c, _) = complete(&p);
    assert_eq!(c.properties.auth_method, Some("SCRM"));
}

#[test]
fn bridge_bit_on_the_level_is_accepted() {
    let p = packet(&body(0x84, 0x02, &[0x00, 0x01, b'b']));
    let (c, _) = complete(&p);
    assert_eq!((c.protocol, c.bridge), (Protocol::V311, true));
}

#[test]
fn next_packets_after_connect_are_not_consumed() {
    let mut bytes = V311_MINIMAL.to_vec();
    bytes.extend_from_slice(&[0xc0, 0x00]); // PINGREQ pipelined behind CONNECT
    let (_, consumed) = complete(&bytes);
    assert_eq!(consumed, V311_MINIMAL.len());
}

#[test]
fn every_truncation_is_incomplete() {
    for good in [V311_MINIMAL, V311_FULL, V31, V5_FULL] {
        for cut in 0..good.len() {
            match parse_connect(&good[..cut], &LIMITS) {
                Ok(ConnectOutcome::Incomplete { needed_at_least }) => {
                    assert!(needed_at_least > cut, "cut {cut}: needs {needed_at_least}");
                    assert!(needed_at_least <= good.len(), "cut {cut} overshoots");
                }
                other => panic!("cut {cut} of {good:02x?}: {other:?}"),
            }
        }
        // Once the fixed header is in, the need is exact.
        assert_eq!(
            parse_connect(&good[..2], &LIMITS),
            Ok(ConnectOutcome::Incomplete {
                needed_at_least: good.len()
            })
        );
    }
}

// ---- not MQTT, not CONNECT ----

#[test]
fn non_mqtt_first_bytes() {
    let tls_hello: &[u8] = &[0x16, 0x03, 0x01, 0x00, 0xa5, 0x01];
    let proxy_v2: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";
    for bytes in [
        tls_hello,
        b"GET / HTTP/1.1\r\n",
        proxy_v2,
        &[0x00],
        &[0x11, 0x00],
        &[0x20, 0x02],
    ] {
        let e = error(bytes);
        assert_eq!(e.kind, K::NotMqtt, "{bytes:02x?}");
        assert_eq!(e.keyword(), "mqtt_not_mqtt");
        assert_eq!(e.connack(), None);
    }
}

#[test]
fn other_client_packets_first() {
    // PINGREQ, PUBLISH QoS 1, SUBSCRIBE, DISCONNECT, PUBREL.
    for first in [0xc0, 0x32, 0x82, 0xe0, 0x62] {
        let e = error(&[first, 0x00]);
        assert_eq!(e.kind, K::NotConnect, "{first:#04x}");
        assert_eq!(e.keyword(), "mqtt_not_connect");
        assert_eq!(e.connack(), None);
    }
    // PUBLISH with QoS 3 and SUBSCRIBE with wrong flags are not valid headers at all.
    assert_eq!(error(&[0x36]).kind, K::NotMqtt);
    assert_eq!(error(&[0x80]).kind, K::NotMqtt);
}

// ---- fixed header ----

#[test]
fn bad_remaining_length() {
    let e = error(&[0x10, 0xff, 0xff, 0xff, 0xff]);
    assert_eq!((e.kind, e.protocol), (K::Malformed, None));
    assert_eq!(error(&[0x10, 0x80, 0x00]).kind, K::Malformed);
    assert_eq!(connack(error(&[0x10, 0x80, 0x00])), None);
    assert_eq!(
        parse_connect(&[0x10, 0x80, 0x80], &LIMITS),
        Ok(ConnectOutcome::Incomplete { needed_at_least: 4 })
    );
}

#[test]
fn too_large_before_the_bytes_arrive() {
    // 268,435,455 announced, and a Protocol Name length no MQTT version has.
    assert_eq!(
        parse_connect(&[0x10, 0xff, 0xff, 0xff, 0x7f], &LIMITS),
        Ok(ConnectOutcome::Incomplete { needed_at_least: 6 })
    );
    let e = error(&[0x10, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x09]);
    assert_eq!((e.kind, e.protocol), (K::TooLarge, None));
    assert_eq!(e.keyword(), "mqtt_connect_too_large");
    assert_eq!(e.connack(), None);

    // MQTT 5 that says so in its first segment: refused with 0x95.
    let mut v5 = vec![0x10, 0xf0, 0xa2, 0x04]; // Remaining Length 70,000
    v5.extend_from_slice(&[0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05]);
    let e = error(&v5);
    assert_eq!((e.kind, e.protocol), (K::TooLarge, Some(Protocol::V5)));
    assert_eq!(connack(e), Some(vec![0x20, 0x03, 0x00, 0x95, 0x00]));

    // Announced too large in the first bytes, with the protocol still on its way: wait
    // for it (at most 9 bytes), then refuse with the code that protocol has.
    for cut in 4..v5.len() {
        assert_eq!(
            parse_connect(&v5[..cut], &LIMITS),
            Ok(ConnectOutcome::Incomplete {
                needed_at_least: cut + 1
            }),
            "{cut} bytes"
        );
    }
    // Not a protocol name we know: refused at once, without CONNACK.
    let e = error(&[0x10, 0xf0, 0xa2, 0x04, 0x00, 0x05]);
    assert_eq!((e.kind, e.protocol), (K::TooLarge, None));
    let e = error(&[0x10, 0xf0, 0xa2, 0x04, 0x00, 0x04, b'H', b'T']);
    assert_eq!((e.kind, e.protocol), (K::TooLarge, None));

    // 3.1.1 has no code for it: close without CONNACK.
    let mut v4 = vec![0x10, 0xf0, 0xa2, 0x04];
    v4.extend_from_slice(&[0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04]);
    assert_eq!(connack(error(&v4)), None);
}

#[test]
fn limit_counts_the_whole_packet() {
    let exact = ConnectLimits {
        max_packet_bytes: V311_MINIMAL.len() as u32,
        ..LIMITS
    };
    assert!(matches!(
        parse_connect(V311_MINIMAL, &exact),
        Ok(ConnectOutcome::Complete { .. })
    ));
    let one_less = ConnectLimits {
        max_packet_bytes: V311_MINIMAL.len() as u32 - 1,
        ..LIMITS
    };
    assert_eq!(
        parse_connect(&V311_MINIMAL[..9], &one_less).map_err(|e| e.kind),
        Err(K::TooLarge)
    );
}

// ---- protocol name and level ----

#[test]
fn unknown_protocol_name() {
    let p = packet(&[
        0x00, 0x04, b'M', b'Q', b'T', b'X', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00,
    ]);
    let e = error(&p);
    assert_eq!(e.kind, K::BadProtocol);
    assert_eq!(e.keyword(), "mqtt_bad_protocol");
    assert_eq!(e.connack(), None);
}

#[test]
fn unsupported_levels_get_0x01_in_the_3_1_1_encoding() {
    let mqisdp4 = packet(&[
        0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x01, b'x',
    ]);
    for p in [
        packet(&body(3, 0x02, &[0x00, 0x01, b'x'])),
        packet(&body(6, 0x02, &[0x00, 0x01, b'x'])),
        mqisdp4,
    ] {
        let e = error(&p);
        assert_eq!(e.kind, K::UnsupportedVersion);
        assert_eq!(e.keyword(), "mqtt_unsupported_version");
        assert_eq!(connack(e), Some(vec![0x20, 0x02, 0x00, 0x01]));
    }
}

// ---- connect flags ----

#[test]
fn reserved_flag() {
    let v4 = packet(&body(4, 0x03, &[0x00, 0x01, b'x']));
    let e = error(&v4);
    assert_eq!(e.kind, K::Malformed);
    assert_eq!(e.detail, "reserved Connect Flag set [MQTT-3.1.2-3]");
    assert_eq!(connack(e), None);

    let v5 = packet(&body(5, 0x03, &[0x00, 0x00, 0x01, b'x']));
    assert_eq!(
        connack(error(&v5)),
        Some(vec![0x20, 0x03, 0x00, 0x81, 0x00])
    );

    // MQTT 3.1 has no such rule.
    let mut v31 = V31.to_vec();
    v31[11] |= 0x01;
    complete(&v31);
}

#[test]
fn will_flag_rules() {
    let will = [0x00, 0x01, b'x', 0x00, 0x01, b't', 0x00, 0x00];
    // Will QoS 3 with the will flag.
    let e = error(&packet(&body(4, 0x1e, &will)));
    assert_eq!(e.detail, "Will QoS 3 [MQTT-3.1.2-14]");
    // Will QoS 1 / Will Retain without the will flag.
    for flags in [0x0a, 0x22] {
        let e = error(&packet(&body(4, flags, &[0x00, 0x01, b'x'])));
        assert_eq!(e.kind, K::Malformed);
        assert!(
            e.detail
                .starts_with("Will QoS or Will Retain without Will Flag")
        );
    }
    // QoS 2 with the flag is fine.
    let p = packet(&body(4, 0x16, &will));
    let (c, _) = complete(&p);
    assert_eq!(
        c.will.map(|w| (w.qos, w.topic, w.payload_len)),
        Some((2, "t", 0))
    );
}

#[test]
fn password_without_username_in_3_x() {
    let e = error(&packet(&body(4, 0x42, &[0x00, 0x01, b'x', 0x00, 0x00])));
    assert_eq!(e.kind, K::Malformed);
    assert_eq!(
        e.detail,
        "Password Flag without User Name Flag [MQTT-3.1.2-22]"
    );
}

#[test]
fn flags_promise_fields_that_are_missing() {
    // User Name flag, no user name.
    let e = error(&packet(&body(4, 0x82, &[0x00, 0x01, b'x'])));
    assert_eq!(e.detail, "User Name overruns the packet");
    // Will flag, will topic cut short by the Remaining Length.
    let e = error(&packet(&body(
        4,
        0x06,
        &[0x00, 0x01, b'x', 0x00, 0x05, b't'],
    )));
    assert_eq!(e.detail, "Will Topic overruns the packet");
}

// ---- lengths ----

#[test]
fn remaining_length_must_cover_the_fields_exactly() {
    // One byte too many: a stray byte after the client id.
    let e = error(&packet(&body(4, 0x02, &[0x00, 0x01, b'x', 0x00])));
    assert_eq!(
        (e.kind, e.detail),
        (K::Malformed, "bytes after the last field")
    );
    // One byte too few: the client id runs past the Remaining Length.
    let mut short = V311_MINIMAL.to_vec();
    short[1] -= 1;
    short.pop();
    assert_eq!(
        error(&short).detail,
        "Client Identifier overruns the packet"
    );
    // A string length past the end of the packet.
    let e = error(&packet(&body(4, 0x02, &[0xff, 0xff, b'x'])));
    assert_eq!(e.kind, K::Malformed);
    // Too short for the variable header.
    assert_eq!(error(&[0x10, 0x02, 0x00, 0x04]).kind, K::Malformed);
    assert_eq!(error(&[0x10, 0x00]).kind, K::Malformed);
}

// ---- UTF-8 ----

#[test]
fn client_id_utf8_rules() {
    for bad in [
        &[0x00, 0x02, b'a', 0x00][..],
        &[0x00, 0x02, 0xc3, 0x28],
        &[0x00, 0x01, 0xff],
    ] {
        let e = error(&packet(&body(4, 0x02, bad)));
        assert_eq!(e.kind, K::BadUtf8, "{bad:02x?}");
        assert_eq!(e.keyword(), "mqtt_bad_utf8");
        assert_eq!(e.connack(), None);
        let e = error(&packet(&body(5, 0x02, &[&[0x00][..], bad].concat())));
        assert_eq!(connack(e), Some(vec![0x20, 0x03, 0x00, 0x81, 0x00]));
    }
    // Multi-byte characters are fine.
    let p = packet(&body(4, 0x02, &[0x00, 0x03, 0xc3, 0xa9, b'1']));
    let (c, _) = complete(&p);
    assert_eq!(c.client_id, "é1");
}

#[test]
fn username_and_will_topic_utf8() {
    let e = error(&packet(&body(
        4,
        0x82,
        &[0x00, 0x01, b'x', 0x00, 0x01, 0x80],
    )));
    assert_eq!(
        (e.kind, e.detail),
        (K::BadUtf8, "User Name overruns the packet")
    );
    let e = error(&packet(&body(
        4,
        0x06,
        &[0x00, 0x01, b'x', 0x00, 0x01, 0x00, 0x00, 0x00],
    )));
    assert_eq!(e.kind, K::BadUtf8);
}

// ---- client identifier ----

#[test]
fn empty_client_id() {
    // 3.1.1 with Clean Session: the server assigns one.
    let p = packet(&body(4, 0x02, &[0x00, 0x00]));
    let (c, _) = complete(&p);
    assert_eq!(c.client_id, "");
    // 3.1.1 without: identifier rejected, 0x02.
    let e = error(&packet(&body(4, 0x00, &[0x00, 0x00])));
    assert_eq!(e.kind, K::BadClientId);
    assert_eq!(e.keyword(), "mqtt_bad_client_id");
    assert_eq!(connack(e), Some(vec![0x20, 0x02, 0x00, 0x02]));
    // 5 without Clean Start: allowed (§3.1.3.1).
    complete(&packet(&body(5, 0x00, &[0x00, 0x00, 0x00])));
    // 3.1: 1 to 23 characters.
    let p = packet(&[
        0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', 0x03, 0x02, 0x00, 0x3c, 0x00, 0x00,
    ]);
    assert_eq!(connack(error(&p)), Some(vec![0x20, 0x02, 0x00, 0x02]));
}

#[test]
fn client_id_over_the_limit() {
    let limits = ConnectLimits {
        max_client_id_bytes: 4,
        ..LIMITS
    };
    let at = packet(&body(5, 0x02, &[0x00, 0x00, 0x04, b'a', b'b', b'c', b'd']));
    assert!(matches!(
        parse_connect(&at, &limits),
        Ok(ConnectOutcome::Complete { .. })
    ));
    let over = packet(&body(
        5,
        0x02,
        &[0x00, 0x00, 0x05, b'a', b'b', b'c', b'd', b'e'],
    ));
    let e = parse_connect(&over, &limits).unwrap_err();
    assert_eq!(e.kind, K::BadClientId);
    assert_eq!(connack(e), Some(vec![0x20, 0x03, 0x00, 0x85, 0x00]));
}

// ---- will topic ----

#[test]
fn will_topic_must_be_a_topic_name() {
    for topic in [&b""[..], b"a/+", b"#"] {
        let mut rest = vec![0x00, 0x01, b'x', 0x00, topic.len() as u8];
        rest.extend_from_slice(topic);
        rest.extend_from_slice(&[0x00, 0x00]);
        let e = error(&packet(&body(4, 0x06, &rest)));
        assert_eq!(e.kind, K::BadWillTopic, "{topic:?}");
        assert_eq!(e.connack(), None);
        // MQTT 5: same, with an empty will property block, gets 0x90.
        let mut rest5 = vec![0x00, 0x00, 0x01, b'x', 0x00, 0x00, topic.len() as u8];
        rest5.extend_from_slice(topic);
        rest5.extend_from_slice(&[0x00, 0x00]);
        let e = error(&packet(&body(5, 0x06, &rest5)));
        assert_eq!(connack(e), Some(vec![0x20, 0x03, 0x00, 0x90, 0x00]));
    }
}

// ---- MQTT 5 properties ----

/// A level-5 CONNECT, Clean Start, client "x", with this CONNECT property block content.
fn v5_with_props(props: &[u8]) -> Vec<u8> {
    let mut rest = vec![props.len() as u8];
    rest.extend_from_slice(props);
    rest.extend_from_slice(&[0x00, 0x01, b'x']);
    packet(&body(5, 0x02, &rest))
}

#[test]
fn v5_property_rules() {
    let cases: [(&[u8], K, u8); 9] = [
        // Session Expiry Interval twice.
        (
            &[0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2],
            K::ProtocolError,
            0x82,
        ),
        // Receive Maximum 0, Maximum Packet Size 0.
        (&[0x21, 0, 0], K::ProtocolError, 0x82),
        (&[0x27, 0, 0, 0, 0], K::ProtocolError, 0x82),
        // Request Problem Information 2.
        (&[0x17, 2], K::ProtocolError, 0x82),
        // Authentication Data without Authentication Method.
        (&[0x16, 0, 1, 0xaa], K::ProtocolError, 0x82),
        // Payload Format Indicator belongs to PUBLISH/will, not CONNECT.
        (&[0x01, 1], K::Malformed, 0x81),
        // An identifier nobody defined, and a non-minimal identifier.
        (&[0x7f, 0], K::Malformed, 0x81),
        (&[0x91, 0x00, 0, 0, 0, 1], K::Malformed, 0x81),
        // A value cut short by the Property Length.
        (&[0x11, 0, 0], K::Malformed, 0x81),
    ];
    for (props, kind, code) in cases {
        let e = error(&v5_with_props(props));
        assert_eq!(e.kind, kind, "{props:02x?}: {e}");
        assert_eq!(connack(e), Some(vec![0x20, 0x03, 0x00, code, 0x00]));
    }
}

#[test]
fn v5_user_property_may_repeat() {
    let p = v5_with_props(&[0x26, 0, 1, b'a', 0, 0, 0x26, 0, 1, b'a', 0, 0]);
    complete(&p);
}

#[test]
fn v5_property_length_past_the_packet() {
    let mut rest = vec![0x7f];
    rest.extend_from_slice(&[0x00, 0x01, b'x']);
    let e = error(&packet(&body(5, 0x02, &rest)));
    assert_eq!(
        (e.kind, e.detail),
        (K::Malformed, "CONNECT properties overrun the packet")
    );
}

#[test]
fn v5_will_property_rules() {
    // A will with these will properties: topic "t", empty payload.
    let with = |props: &[u8]| {
        let mut rest = vec![0x00, 0x00, 0x01, b'x', props.len() as u8];
        rest.extend_from_slice(props);
        rest.extend_from_slice(&[0x00, 0x01, b't', 0x00, 0x00]);
        packet(&body(5, 0x06, &rest))
    };
    complete(&with(&[0x02, 0, 0, 0, 9, 0x08, 0, 1, b'r', 0x09, 0, 1, 7]));
    // Session Expiry Interval is a CONNECT property, not a will property.
    assert_eq!(error(&with(&[0x11, 0, 0, 0, 1])).kind, K::Malformed);
    assert_eq!(
        error(&with(&[0x18, 0, 0, 0, 1, 0x18, 0, 0, 0, 1])).kind,
        K::ProtocolError
    );
    assert_eq!(error(&with(&[0x01, 2])).kind, K::ProtocolError);
    assert_eq!(error(&with(&[0x03, 0, 1, 0x00])).kind, K::BadUtf8);
}

// ---- errors ----

#[test]
fn keywords_are_distinct_and_prefixed() {
    let kinds = [
        K::NotMqtt,
        K::NotConnect,
        K::BadProtocol,
        K::UnsupportedVersion,
        K::Malformed,
        K::BadUtf8,
        K::ProtocolError,
        K::TooLarge,
        K::BadClientId,
        K::BadWillTopic,
    ];
    let mut seen = std::collections::HashSet::new();
    for k in kinds {
        assert!(k.keyword().starts_with("mqtt_"));
        assert!(seen.insert(k.keyword()), "{} twice", k.keyword());
    }
}

#[test]
fn malformed_3_1_1_gets_no_connack() {
    let e = error(&packet(&body(4, 0x02, &[0x00, 0x01, b'x', 0x00])));
    assert_eq!(e.connack(), None);
    assert_eq!(
        e.to_string(),
        "malformed CONNECT (bytes after the last field)"
    );
}

// ---- the fuzz target's property, seeded ----

/// The `mqtt_connect_parse` fuzz target's property over mutations of the good packets, so
/// `cargo test` checks it without nightly: never panics, `Incomplete` asks for more than it
/// has, and a `Complete` packet parses the same from exactly its own bytes.
#[test]
fn mutated_packets_keep_the_fuzz_property() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    let mut rng = StdRng::seed_from_u64(0x6d71_7474);
    let tight = ConnectLimits {
        max_packet_bytes: 48,
        max_client_id_bytes: 4,
    };
    for _ in 0..20_000 {
        let base = [V311_MINIMAL, V311_FULL, V31, V5_FULL][rng.random_range(0..4)];
        let mut bytes = base.to_vec();
        for _ in 0..rng.random_range(1..4) {
            let at = rng.random_range(0..bytes.len());
            match rng.random_range(0..3) {
                0 => bytes[at] = rng.random(),
                1 => bytes[at] ^= 1 << rng.random_range(0..8),
                _ => bytes.truncate(at.max(1)),
            }
        }
        for limits in [&LIMITS, &tight] {
            match parse_connect(&bytes, limits) {
                Ok(ConnectOutcome::Incomplete { needed_at_least }) => {
                    assert!(needed_at_least > bytes.len())
                }
                Ok(ConnectOutcome::Complete { connect, consumed }) => {
                    assert!(consumed <= bytes.len());
                    assert_eq!(
                        parse_connect(&bytes[..consumed], limits),
                        Ok(ConnectOutcome::Complete { connect, consumed })
                    );
                }
                Err(e) => assert!(e.keyword().starts_with("mqtt_")),
            }
        }
    }
}

// ---- what the connection keeps ----

#[test]
fn mqtt_info_keeps_the_routing_and_log_facts_and_no_password() {
    let (connect, _) = complete(V311_FULL);
    let info = crate::mqtt::MqttInfo::from_connect(&connect);
    assert_eq!(&*info.client_id, connect.client_id);
    assert_eq!(info.protocol, Protocol::V311);
    assert_eq!(info.keepalive_secs, connect.keepalive_secs);
    assert!(info.username_present);
    let (connect, _) = complete(V5_FULL);
    let info = crate::mqtt::MqttInfo::from_connect(&connect);
    assert_eq!(info.protocol, Protocol::V5);
    assert_eq!(&*info.client_id, connect.client_id);
}
