//! Our TLS 1.3 record layer (`records.rs`) against rustls' client: data both ways in every
//! suite, KeyUpdate both ways (whole and split across records), close_notify, tampering,
//! what stays with rustls (TLS 1.2), and the memory it saves.

use rustls::crypto::cipher::{
    AeadKey, InboundOpaqueMessage, Iv, MessageDecrypter, MessageEncrypter, OutboundChunks,
    OutboundPlainMessage,
};
use rustls::version::{TLS12, TLS13};
use rustls::{
    AlertDescription, CipherSuite, ConnectionTrafficSecrets, ContentType, ProtocolVersion,
};

use crate::tls::testbed::{ClientAuth, Pair, client_config, pattern, pki, server_config};
use crate::tls::{SentAlert, TlsErrorKind};

const TLS13_SUITES: [CipherSuite; 3] = [
    CipherSuite::TLS13_AES_128_GCM_SHA256,
    CipherSuite::TLS13_AES_256_GCM_SHA384,
    CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
];

/// A handshaken pair whose server runs on our record layer.
fn own_pair(suite: CipherSuite) -> Pair {
    let mut pair = Pair::new(
        client_config(&[&TLS13], Some(suite), None),
        server_config(&pki().server_ecdsa, ClientAuth::Off),
    );
    pair.handshake().unwrap();
    pair.server.prefer_own_records().unwrap();
    assert!(pair.server.has_own_records(), "{suite:?}");
    assert_eq!(pair.server.negotiated_suite().map(|s| s.1), Some(suite));
    pair
}

/// Feeds `wire` to the server in pieces of `step` bytes, as reads would arrive.
fn server_read_in_steps(pair: &mut Pair, wire: &[u8], step: usize) {
    for piece in wire.chunks(step) {
        pair.server_read(piece).unwrap();
    }
}

#[test]
fn data_both_ways_in_every_suite_byte_exact() {
    for suite in TLS13_SUITES {
        let mut pair = own_pair(suite);
        let up = pattern(100_000);
        let wire = pair.client_send(&up);
        // Whole, then cut at odd places (records split across reads).
        server_read_in_steps(&mut pair, &wire[..wire.len() / 2], wire.len());
        server_read_in_steps(&mut pair, &wire[wire.len() / 2..], 997);
        assert!(pair.received == up, "{suite:?}: upstream bytes differ");
        assert!(pair.held.is_empty());

        let down = pattern(70_000);
        assert!(
            pair.server_send(&down) == down,
            "{suite:?}: downstream bytes differ"
        );
        // Small records too (one MQTT PUBLISH each).
        for i in 0..50u8 {
            let msg = [i; 64];
            let wire = pair.client_send(&msg);
            pair.received.clear();
            pair.server_read(&wire).unwrap();
            assert_eq!(pair.received, msg);
            assert_eq!(pair.server_send(&msg), msg);
        }
    }
}

#[test]
fn tls12_stays_with_rustls() {
    let mut pair = Pair::new(
        client_config(&[&TLS12], None, None),
        server_config(&pki().server_ecdsa, ClientAuth::Off),
    );
    pair.handshake().unwrap();
    pair.server.prefer_own_records().unwrap();
    assert!(!pair.server.has_own_records());
    let wire = pair.client_send(b"still works");
    pair.server_read(&wire).unwrap();
    assert_eq!(pair.received, b"still works");
    assert_eq!(pair.server_send(b"back"), b"back");
}

#[test]
fn a_session_asked_early_moves_once_the_handshake_is_done() {
    let mut pair = Pair::new(
        client_config(&[&TLS13], None, None),
        server_config(&pki().server_ecdsa, ClientAuth::Off),
    );
    pair.server.prefer_own_records().unwrap();
    assert!(!pair.server.has_own_records());
    pair.handshake().unwrap();
    assert!(pair.server.has_own_records());
    let wire = pair.client_send(b"hello");
    pair.server_read(&wire).unwrap();
    assert_eq!(pair.received, b"hello");
}

#[test]
fn client_key_update_is_answered_and_both_directions_rekey() {
    for suite in TLS13_SUITES {
        let mut pair = own_pair(suite);
        for round in 0..3 {
            // rustls sends KeyUpdate(update_requested) ahead of the next data.
            pair.client.refresh_traffic_keys().unwrap();
            let msg = format!("after update {round}");
            let wire = pair.client_send(msg.as_bytes());
            pair.received.clear();
            let answer = pair.server_read(&wire).unwrap();
            assert_eq!(pair.received, msg.as_bytes(), "{suite:?}");
            assert!(
                !answer.is_empty(),
                "our KeyUpdate goes out in front of the next data"
            );
            let mut down = answer;
            pair.server
                .write(&mut pair.held, b"under the new key", &mut down)
                .unwrap();
            assert_eq!(
                pair.client_receive(&down).unwrap(),
                b"under the new key",
                "{suite:?}"
            );
        }
    }
}

fn aes128(secrets: ConnectionTrafficSecrets) -> (AeadKey, Iv) {
    match secrets {
        ConnectionTrafficSecrets::Aes128Gcm { key, iv } => (key, iv),
        _ => panic!("negotiated AES-128-GCM"),
    }
}

/// The client's record protection in our hands, to send what a rustls client never would.
struct RawClient {
    to_server: Box<dyn MessageEncrypter>,
    from_server: Box<dyn MessageDecrypter>,
    tx_seq: u64,
    rx_seq: u64,
}

impl RawClient {
    fn take(pair: Pair) -> (RawClient, crate::tls::TlsSession) {
        let Pair { client, server, .. } = pair;
        let secrets = client.dangerous_extract_secrets().unwrap();
        let suite = match rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256 {
            rustls::SupportedCipherSuite::Tls13(s) => s,
            _ => unreachable!(),
        };
        let (key, iv) = aes128(secrets.tx.1);
        let to_server = suite.aead_alg.encrypter(key, iv);
        let (key, iv) = aes128(secrets.rx.1);
        let from_server = suite.aead_alg.decrypter(key, iv);
        let raw = RawClient {
            to_server,
            from_server,
            tx_seq: secrets.tx.0,
            rx_seq: secrets.rx.0,
        };
        (raw, server)
    }

    fn seal(&mut self, typ: ContentType, payload: &[u8]) -> Vec<u8> {
        let plain = OutboundPlainMessage {
            typ,
            version: ProtocolVersion::TLSv1_2,
            payload: OutboundChunks::Single(payload),
        };
        let sealed = self.to_server.encrypt(plain, self.tx_seq).unwrap().encode();
        self.tx_seq += 1;
        sealed
    }

    /// Decrypts the first record of `wire`: its type and payload.
    fn open(&mut self, wire: &mut [u8]) -> (ContentType, Vec<u8>) {
        let len = usize::from(u16::from_be_bytes([wire[3], wire[4]]));
        let msg = InboundOpaqueMessage::new(
            ContentType::ApplicationData,
            ProtocolVersion::TLSv1_2,
            &mut wire[5..5 + len],
        );
        let plain = self.from_server.decrypt(msg, self.rx_seq).unwrap();
        self.rx_seq += 1;
        (plain.typ, plain.payload.to_vec())
    }
}

fn aes128_own_pair() -> Pair {
    let mut client = client_config(&[&TLS13], Some(CipherSuite::TLS13_AES_128_GCM_SHA256), None);
    client.enable_secret_extraction = true;
    let mut pair = Pair::new(client, server_config(&pki().server_ecdsa, ClientAuth::Off));
    pair.handshake().unwrap();
    pair.server.prefer_own_records().unwrap();
    assert!(pair.server.has_own_records());
    pair
}

#[test]
fn a_key_update_split_across_records_is_joined() {
    let (mut raw, mut server) = RawClient::take(aes128_own_pair());
    // KeyUpdate(update_requested) = [24, 0, 0, 1, 1], cut inside its header.
    let mut wire = raw.seal(ContentType::Handshake, &[24, 0]);
    wire.extend(raw.seal(ContentType::Handshake, &[0, 1, 1]));
    let mut out = Vec::new();
    let outcome = server.read(&mut wire, &mut out).unwrap();
    assert_eq!(outcome.consumed, wire.len());
    assert_eq!(outcome.plaintext, 0);
    // The answer: KeyUpdate(update_not_requested) under the old key.
    let (typ, payload) = raw.open(&mut out);
    assert_eq!(typ, ContentType::Handshake);
    assert_eq!(payload, [24, 0, 0, 1, 0]);
    // Data under the client's old key no longer decrypts.
    let mut stale = raw.seal(ContentType::ApplicationData, b"old key");
    let err = server.read(&mut stale, &mut Vec::new()).unwrap_err();
    assert_eq!(err.kind, TlsErrorKind::DecryptError);
}

#[test]
fn a_tampered_record_fails_with_bad_record_mac() {
    let mut pair = aes128_own_pair();
    let mut wire = pair.client_send(b"payload");
    let last = wire.len() - 1;
    wire[last] ^= 1;
    let (err, alert) = pair.server_read(&wire).unwrap_err();
    assert_eq!(err.kind, TlsErrorKind::DecryptError);
    assert_eq!(err.alert, SentAlert::Known(AlertDescription::BadRecordMac));
    assert_eq!(
        pair.client_receive(&alert).unwrap_err(),
        rustls::Error::AlertReceived(AlertDescription::BadRecordMac)
    );
    // The session stays failed.
    assert!(pair.server_read(b"").is_err());
}

#[test]
fn records_that_are_not_ours_to_accept_are_refused() {
    let cases: [(&[u8], TlsErrorKind, AlertDescription); 5] = [
        // A plaintext handshake record after the handshake.
        (
            &[22, 3, 3, 0, 1, 0],
            TlsErrorKind::UnexpectedMessage,
            AlertDescription::UnexpectedMessage,
        ),
        // Too long to be a TLS 1.3 record.
        (
            &[23, 3, 3, 0x41, 0x01],
            TlsErrorKind::BadRecord,
            AlertDescription::RecordOverflow,
        ),
        // ChangeCipherSpec in the clear.
        (
            &[20, 3, 3, 0, 1, 1],
            TlsErrorKind::UnexpectedMessage,
            AlertDescription::UnexpectedMessage,
        ),
        // A content type TLS does not have; a version that is not 3.x.
        (
            &[0x99, 3, 3, 0, 1, 1],
            TlsErrorKind::BadRecord,
            AlertDescription::DecodeError,
        ),
        (
            &[23, 2, 0, 0, 1, 1],
            TlsErrorKind::BadRecord,
            AlertDescription::DecodeError,
        ),
    ];
    for (bytes, kind, desc) in cases {
        let mut pair = aes128_own_pair();
        let (err, alert) = pair.server_read(bytes).unwrap_err();
        assert_eq!(err.kind, kind, "{bytes:?}");
        assert_eq!(err.alert, SentAlert::Known(desc), "{bytes:?}");
        assert_eq!(
            pair.client_receive(&alert).unwrap_err(),
            rustls::Error::AlertReceived(desc)
        );
    }
    // Inner content types a client must not send now.
    for (typ, payload) in [
        (ContentType::Handshake, &[20u8, 0, 0, 0][..]), // Finished again
        (ContentType::ChangeCipherSpec, &[1u8][..]),
    ] {
        let (mut raw, mut server) = RawClient::take(aes128_own_pair());
        let mut wire = raw.seal(typ, payload);
        let err = server.read(&mut wire, &mut Vec::new()).unwrap_err();
        assert_eq!(err.kind, TlsErrorKind::UnexpectedMessage, "{typ:?}");
    }
}

#[test]
fn close_notify_both_ways() {
    let mut pair = aes128_own_pair();
    let mut wire = pair.client_send(b"last words");
    pair.client.send_close_notify();
    wire.extend(pair.client_wire());
    // Whatever follows the close_notify is ignored.
    wire.extend_from_slice(b"trailing garbage");
    pair.server_read(&wire).unwrap();
    assert!(pair.last.peer_closed);
    assert_eq!(pair.received, b"last words");

    let mut out = Vec::new();
    pair.server.close_notify(&mut pair.held, &mut out).unwrap();
    pair.client_receive(&out).unwrap();
    let state = pair.client.process_new_packets().unwrap();
    assert!(state.peer_has_closed());
    let err = pair
        .server
        .write(&mut pair.held, b"late", &mut Vec::new())
        .unwrap_err();
    assert_eq!(err.kind, TlsErrorKind::Closed);
}

#[test]
fn garbage_after_the_handshake_never_panics() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..300 {
        let mut pair = aes128_own_pair();
        let len = (next() % 300) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        // Mostly well-framed application-data records with garbage inside.
        if next() % 2 == 0 && bytes.len() >= 5 {
            bytes[0] = 23;
            bytes[1..3].copy_from_slice(&[3, 3]);
            let body = (bytes.len() - 5) as u16;
            bytes[3..5].copy_from_slice(&body.to_be_bytes());
        }
        let _ = pair.server_read(&bytes);
    }
}

// ---- conformance and bounds (security review of 61ac1b8, findings 2-3) ----

use crate::tls::post_handshake::{
    MAX_EMPTY_RECORDS, MAX_KEY_UPDATES_WITHOUT_DATA, MAX_WARNING_ALERTS, RECORD_BUDGET,
};

/// Reads `wire` on `server`; on failure, checks the kind and that the client gets `desc`
/// (encrypted, under the current key), and returns nothing more.
fn expect_refusal(
    raw: &mut RawClient,
    server: &mut crate::tls::TlsSession,
    mut wire: Vec<u8>,
    kind: TlsErrorKind,
    desc: AlertDescription,
) {
    let mut out = Vec::new();
    let err = server.read(&mut wire, &mut out).unwrap_err();
    assert_eq!(err.kind, kind);
    assert_eq!(err.alert, SentAlert::Known(desc));
    let (typ, payload) = raw.open(&mut out);
    assert_eq!(typ, ContentType::Alert);
    assert_eq!(payload, [2, u8::from(desc)], "a fatal alert");
}

/// A TLSInnerPlaintext of exactly `len` bytes: `content`, its type, at least one zero of
/// padding.
fn inner(raw: &mut RawClient, typ: u8, content: &[u8], len: usize) -> Vec<u8> {
    assert!(len >= content.len() + 2);
    let mut payload = content.to_vec();
    payload.push(typ);
    payload.resize(len - 1, 0);
    // rustls appends the type byte we name: 0, the last byte of the padding.
    raw.seal(ContentType::Unknown(0), &payload)
}

#[test]
fn inner_plaintext_over_2_14_plus_1_with_padding_is_record_overflow() {
    // Exactly 2^14 bytes of data and the type byte: the largest allowed.
    let (mut raw, mut server) = RawClient::take(aes128_own_pair());
    let data = vec![0x5a; 1 << 14];
    let mut wire = raw.seal(ContentType::ApplicationData, &data);
    let outcome = server.read(&mut wire, &mut Vec::new()).unwrap();
    assert_eq!(outcome.plaintext, 1 << 14);
    // 2^14 + 2 bytes, whether the excess is data or padding.
    for padded in [false, true] {
        let (mut raw, mut server) = RawClient::take(aes128_own_pair());
        let wire = if padded {
            inner(&mut raw, 23, &[0x5a; 100], (1 << 14) + 2)
        } else {
            raw.seal(ContentType::ApplicationData, &vec![0x5a; (1 << 14) + 1])
        };
        let (k, d) = (TlsErrorKind::BadRecord, AlertDescription::RecordOverflow);
        expect_refusal(&mut raw, &mut server, wire, k, d);
    }
}

#[test]
fn request_update_other_than_0_or_1_is_illegal_parameter() {
    let (mut raw, mut server) = RawClient::take(aes128_own_pair());
    let wire = raw.seal(ContentType::Handshake, &[24, 0, 0, 1, 2]);
    let (k, d) = (TlsErrorKind::BadRecord, AlertDescription::IllegalParameter);
    expect_refusal(&mut raw, &mut server, wire, k, d);
}

/// Regression (KeyUpdate flood): 20,000 requests against a broker that never writes used to
/// queue 540,000 bytes of answers. Now the first request is answered once, later ones are
/// covered by that answer, and the 33rd without data in between is refused with an alert.
#[test]
fn key_update_flood_is_answered_once_and_refused_past_the_bound() {
    let mut pair = own_pair(CipherSuite::TLS13_AES_128_GCM_SHA256);
    let mut control = Vec::new();
    let mut requests = 0;
    let (err, alert) = loop {
        // rustls' client sends KeyUpdate(update_requested) and switches its key.
        pair.client.refresh_traffic_keys().unwrap();
        let wire = pair.client_wire();
        requests += 1;
        match pair.server_read(&wire) {
            Ok(answer) => control.extend(answer),
            Err(failed) => break failed,
        }
        assert!(requests <= 20_000, "never refused");
    };
    assert_eq!(requests, usize::from(MAX_KEY_UPDATES_WITHOUT_DATA) + 1);
    assert_eq!(err.kind, TlsErrorKind::TooManyKeyUpdates);
    assert_eq!(
        err.alert,
        SentAlert::Known(AlertDescription::UnexpectedMessage)
    );
    // One answer of 27 bytes for 32 requests.
    assert_eq!(control.len(), 27, "{} bytes queued", control.len());
    control.extend(alert);
    assert_eq!(
        pair.client_receive(&control).unwrap_err(),
        rustls::Error::AlertReceived(AlertDescription::UnexpectedMessage)
    );
}

#[test]
fn key_updates_with_data_between_stay_bounded_while_the_broker_is_quiet() {
    let mut pair = own_pair(CipherSuite::TLS13_AES_128_GCM_SHA256);
    let mut control = Vec::new();
    for i in 0..20_000 {
        let wire = if i % 16 == 15 {
            pair.client_send(b"publish")
        } else {
            pair.client.refresh_traffic_keys().unwrap();
            pair.client_wire()
        };
        control.extend(pair.server_read(&wire).unwrap());
    }
    // We sent no data, so one answer covers every request (RFC 8446 §4.6.3).
    assert_eq!(control.len(), 27);
    // And data we send afterwards reaches the client under our new key.
    pair.server
        .write(&mut pair.held, b"connack", &mut control)
        .unwrap();
    assert_eq!(pair.client_receive(&control).unwrap(), b"connack");
}

#[test]
fn at_most_four_user_canceled_alerts() {
    let (mut raw, mut server) = RawClient::take(aes128_own_pair());
    for _ in 0..MAX_WARNING_ALERTS {
        let mut wire = raw.seal(ContentType::Alert, &[1, 90]);
        server.read(&mut wire, &mut Vec::new()).unwrap();
    }
    let wire = raw.seal(ContentType::Alert, &[1, 90]);
    let (k, d) = (
        TlsErrorKind::TooManyWarningAlerts,
        AlertDescription::UnexpectedMessage,
    );
    expect_refusal(&mut raw, &mut server, wire, k, d);
}

#[test]
fn at_most_32_empty_application_data_records_in_a_row() {
    let (mut raw, mut server) = RawClient::take(aes128_own_pair());
    let mut wire = Vec::new();
    for _ in 0..MAX_EMPTY_RECORDS {
        wire.extend(raw.seal(ContentType::ApplicationData, b""));
    }
    assert_eq!(
        server.read(&mut wire, &mut Vec::new()).unwrap().plaintext,
        0
    );
    let wire = raw.seal(ContentType::ApplicationData, b"");
    let (k, d) = (
        TlsErrorKind::TooManyEmptyRecords,
        AlertDescription::UnexpectedMessage,
    );
    expect_refusal(&mut raw, &mut server, wire, k, d);
}

#[test]
fn alert_level_and_length_are_checked() {
    let cases: [(&[u8], TlsErrorKind, AlertDescription); 4] = [
        (
            &[3, 0],
            TlsErrorKind::BadRecord,
            AlertDescription::IllegalParameter,
        ),
        (
            &[0, 90],
            TlsErrorKind::BadRecord,
            AlertDescription::IllegalParameter,
        ),
        // Trailing bytes after level and description.
        (
            &[1, 0, 0],
            TlsErrorKind::BadRecord,
            AlertDescription::DecodeError,
        ),
        // A warning other than user_canceled is not allowed in TLS 1.3.
        (
            &[1, 42],
            TlsErrorKind::PeerAlert(AlertDescription::BadCertificate),
            AlertDescription::DecodeError,
        ),
    ];
    for (payload, kind, desc) in cases {
        let (mut raw, mut server) = RawClient::take(aes128_own_pair());
        let wire = raw.seal(ContentType::Alert, payload);
        expect_refusal(&mut raw, &mut server, wire, kind, desc);
    }
    // A fatal alert from the client: nothing to answer.
    let (mut raw, mut server) = RawClient::take(aes128_own_pair());
    let mut wire = raw.seal(ContentType::Alert, &[2, 40]);
    let mut out = Vec::new();
    let err = server.read(&mut wire, &mut out).unwrap_err();
    assert_eq!(
        err.kind,
        TlsErrorKind::PeerAlert(AlertDescription::HandshakeFailure)
    );
    assert!(out.is_empty());
}

#[test]
fn heartbeat_and_ccs_inside_encryption_are_unexpected() {
    for typ in [ContentType::Heartbeat, ContentType::ChangeCipherSpec] {
        let (mut raw, mut server) = RawClient::take(aes128_own_pair());
        let wire = raw.seal(typ, &[1, 0, 0]);
        let (k, d) = (
            TlsErrorKind::UnexpectedMessage,
            AlertDescription::UnexpectedMessage,
        );
        expect_refusal(&mut raw, &mut server, wire, k, d);
    }
}

#[test]
fn two_key_updates_in_one_record_are_unexpected() {
    let (mut raw, mut server) = RawClient::take(aes128_own_pair());
    let wire = raw.seal(ContentType::Handshake, &[24, 0, 0, 1, 0, 24, 0, 0, 1, 0]);
    let (k, d) = (
        TlsErrorKind::UnexpectedMessage,
        AlertDescription::UnexpectedMessage,
    );
    expect_refusal(&mut raw, &mut server, wire, k, d);
}

/// At the AES-GCM record budget we send KeyUpdate(update_not_requested) under the old key,
/// then the data under the new one.
#[test]
fn we_rekey_at_the_record_budget() {
    let (mut raw, mut server) = RawClient::take(aes128_own_pair());
    server
        .own_records_mut()
        .unwrap()
        .set_tx_seq(RECORD_BUDGET - 1);
    raw.rx_seq = RECORD_BUDGET - 1;
    let mut out = Vec::new();
    server
        .write(&mut Vec::new(), b"last under key 0", &mut out)
        .unwrap();
    let (typ, payload) = raw.open(&mut out);
    assert_eq!(
        (typ, payload),
        (ContentType::ApplicationData, b"last under key 0".to_vec())
    );
    let mut out = Vec::new();
    server
        .write(&mut Vec::new(), b"first under key 1", &mut out)
        .unwrap();
    let (typ, payload) = raw.open(&mut out);
    assert_eq!(
        (typ, payload),
        (ContentType::Handshake, vec![24, 0, 0, 1, 0])
    );
    // Then one more record, under the next key (not `raw`'s).
    let first = 5 + usize::from(u16::from_be_bytes([out[3], out[4]]));
    assert_eq!(out.len(), first + 5 + b"first under key 1".len() + 1 + 16);
}
