//! `TlsSession` against a rustls client, in memory.

use std::sync::Arc;

use rustls::CipherSuite;
use rustls::version::{TLS12, TLS13};

use crate::tls::testbed::{ClientAuth, Pair, client_config, pattern, pki, server_config};
use crate::tls::{ClientCert, MAX_HELD_BYTES};

fn both_versions() -> [&'static rustls::SupportedProtocolVersion; 2] {
    [&TLS12, &TLS13]
}

/// Handshake, then application data both ways, byte-exact.
fn exchange(pair: &mut Pair) {
    pair.handshake().unwrap();
    let wire = pair.client_send(b"CONNECT mqtt");
    pair.server_read(&wire).unwrap();
    assert_eq!(pair.received, b"CONNECT mqtt");
    assert_eq!(pair.server_send(b"CONNACK"), b"CONNACK");
}

#[test]
fn every_version_key_and_cipher_handshakes_and_reports_names() {
    use CipherSuite as S;
    let pki = pki();
    let cases = [
        (
            &TLS13,
            &pki.server_ecdsa,
            S::TLS13_AES_128_GCM_SHA256,
            "TLS_AES_128_GCM_SHA256",
        ),
        (
            &TLS13,
            &pki.server_ecdsa,
            S::TLS13_AES_256_GCM_SHA384,
            "TLS_AES_256_GCM_SHA384",
        ),
        (
            &TLS13,
            &pki.server_rsa,
            S::TLS13_CHACHA20_POLY1305_SHA256,
            "TLS_CHACHA20_POLY1305_SHA256",
        ),
        (
            &TLS13,
            &pki.server_rsa,
            S::TLS13_AES_128_GCM_SHA256,
            "TLS_AES_128_GCM_SHA256",
        ),
        (
            &TLS12,
            &pki.server_ecdsa,
            S::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            "ECDHE-ECDSA-AES128-GCM-SHA256",
        ),
        (
            &TLS12,
            &pki.server_ecdsa,
            S::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            "ECDHE-ECDSA-AES256-GCM-SHA384",
        ),
        (
            &TLS12,
            &pki.server_ecdsa,
            S::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            "ECDHE-ECDSA-CHACHA20-POLY1305",
        ),
        (
            &TLS12,
            &pki.server_rsa,
            S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            "ECDHE-RSA-AES128-GCM-SHA256",
        ),
        (
            &TLS12,
            &pki.server_rsa,
            S::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            "ECDHE-RSA-AES256-GCM-SHA384",
        ),
        (
            &TLS12,
            &pki.server_rsa,
            S::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            "ECDHE-RSA-CHACHA20-POLY1305",
        ),
    ];
    for (version, identity, suite, openssl_name) in cases {
        let mut pair = Pair::new(
            client_config(&[version], Some(suite), None),
            server_config(identity, ClientAuth::Off),
        );
        exchange(&mut pair);
        let info = pair.server.info().unwrap();
        let expected_version = if version == &TLS13 {
            "TLSv1.3"
        } else {
            "TLSv1.2"
        };
        assert_eq!(info.version, expected_version, "{suite:?}");
        assert_eq!(info.cipher, openssl_name);
        assert!(info.cipher_iana.starts_with("TLS_"), "{}", info.cipher_iana);
        assert_eq!(info.client_cert, ClientCert::None);
    }
}

#[test]
fn alpn_and_sni_are_reported_once_the_handshake_completes() {
    for version in both_versions() {
        let mut pair = Pair::new(
            client_config(&[version], None, None),
            server_config(&pki().server_ecdsa, ClientAuth::Off),
        );
        assert!(pair.server.info().is_none());
        pair.handshake().unwrap();
        let info = pair.server.info().unwrap();
        assert_eq!(info.alpn.as_deref(), Some(&b"mqtt"[..]));
        assert_eq!(info.sni.as_deref(), Some("mqtt.example.com"));
    }
}

#[test]
fn handshake_complete_is_reported_by_exactly_one_read() {
    let mut pair = Pair::new(
        client_config(&[&TLS13], None, None),
        server_config(&pki().server_ecdsa, ClientAuth::Off),
    );
    let mut completions = 0;
    for _ in 0..4 {
        let wire = pair.client_wire();
        let out = pair.server_read(&wire).unwrap();
        completions += usize::from(pair.last.handshake_complete);
        pair.client_receive(&out).unwrap();
    }
    assert_eq!(completions, 1);
    assert!(!pair.server.is_handshaking());
}

#[test]
fn tls13_tickets_go_out_with_the_read_that_completes_the_handshake() {
    let mut pair = Pair::new(
        client_config(&[&TLS13], None, None),
        server_config(&pki().server_ecdsa, ClientAuth::Off),
    );
    let hello = pair.client_wire();
    let flight = pair.server_read(&hello).unwrap();
    pair.client_receive(&flight).unwrap();
    let finished = pair.client_wire();
    let tickets = pair.server_read(&finished).unwrap();
    assert!(pair.last.handshake_complete);
    assert!(
        !tickets.is_empty(),
        "rustls sends 2 session tickets by default"
    );
    pair.client_receive(&tickets).unwrap();
}

#[test]
fn client_certificate_cn_is_reported_when_verified() {
    for version in both_versions() {
        for auth in [ClientAuth::Optional, ClientAuth::Required] {
            let mut pair = Pair::new(
                client_config(&[version], None, Some(&pki().device1)),
                server_config(&pki().server_ecdsa, auth),
            );
            exchange(&mut pair);
            let cert = &pair.server.info().unwrap().client_cert;
            assert_eq!(
                cert,
                &ClientCert::Verified {
                    cn: Some("device1".into())
                }
            );
        }
    }
}

/// Finding 10 of issue 11: the PROXY header must tell a resumed handshake, which exchanges no
/// certificate, from a full one; the session's certificate is still reported.
#[test]
fn a_resumed_session_says_so_and_keeps_the_session_certificate() {
    for version in both_versions() {
        for identity in [Some(&pki().device1), None] {
            let client = Arc::new(client_config(&[version], None, identity));
            let server = Arc::new(server_config(&pki().server_ecdsa, ClientAuth::Optional));
            let expected = match identity {
                Some(_) => ClientCert::Verified {
                    cn: Some("device1".into()),
                },
                None => ClientCert::None,
            };
            for resumed in [false, true] {
                let mut pair = Pair::sharing(Arc::clone(&client), Arc::clone(&server));
                exchange(&mut pair);
                let info = pair.server.info().unwrap();
                let case = format!("{version:?} cert={} resumed={resumed}", identity.is_some());
                assert_eq!(info.resumed, resumed, "{case}");
                assert_eq!(info.client_cert, expected, "{case}");
            }
        }
    }
}

#[test]
fn optional_client_auth_without_a_certificate_reports_none() {
    let mut pair = Pair::new(
        client_config(&[&TLS13], None, None),
        server_config(&pki().server_ecdsa, ClientAuth::Optional),
    );
    exchange(&mut pair);
    assert_eq!(pair.server.info().unwrap().client_cert, ClientCert::None);
}

#[test]
fn handshake_fed_one_byte_at_a_time_completes() {
    for version in both_versions() {
        let mut client = client_config(&[version], None, Some(&pki().device1));
        // Small records too, so handshake messages span records and rustls joins them in
        // the held bytes.
        client.max_fragment_size = Some(64);
        let mut pair = Pair::new(
            client,
            server_config(&pki().server_ecdsa, ClientAuth::Required),
        );
        for _ in 0..6 {
            let wire = pair.client_wire();
            let mut out = Vec::new();
            for byte in &wire {
                out.extend(pair.server_read(std::slice::from_ref(byte)).unwrap());
            }
            pair.client_receive(&out).unwrap();
        }
        assert!(!pair.server.is_handshaking());
        assert!(pair.held.is_empty());
        let wire = pair.client_send(b"hello");
        pair.server_read(&wire).unwrap();
        assert_eq!(pair.received, b"hello");
    }
}

/// Two records' worth of wire bytes from the client.
fn two_records(pair: &mut Pair, message: &[u8]) -> Vec<u8> {
    let (first, second) = message.split_at(message.len() / 2);
    let mut wire = pair.client_send(first);
    wire.extend(pair.client_send(second));
    wire
}

#[test]
fn records_split_at_every_byte_boundary_decrypt_exactly() {
    for version in both_versions() {
        let mut pair = Pair::new(
            client_config(&[version], None, None),
            server_config(&pki().server_ecdsa, ClientAuth::Off),
        );
        pair.handshake().unwrap();
        let message = pattern(300);
        let first = two_records(&mut pair, &message);
        pair.server_read(&first).unwrap();
        pair.received.clear();
        let wire_len = first.len();
        for split in 0..=wire_len {
            let wire = two_records(&mut pair, &message);
            assert_eq!(wire.len(), wire_len);
            pair.server_read(&wire[..split]).unwrap();
            pair.server_read(&wire[split..]).unwrap();
            assert_eq!(pair.received, message, "split at {split}");
            assert!(pair.held.is_empty());
            pair.received.clear();
        }
    }
}

#[test]
fn many_records_in_one_read_decrypt_in_order() {
    let mut pair = Pair::new(
        client_config(&[&TLS13], None, None),
        server_config(&pki().server_ecdsa, ClientAuth::Off),
    );
    pair.handshake().unwrap();
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    for i in 0..100u8 {
        let msg = vec![i; usize::from(i) + 1];
        wire.extend(pair.client_send(&msg));
        expected.extend(msg);
    }
    pair.server_read(&wire).unwrap();
    assert_eq!(pair.received, expected);
    assert_eq!(pair.last.consumed, wire.len());
}

#[test]
fn one_mebibyte_each_way_in_64k_reads() {
    for version in both_versions() {
        let mut pair = Pair::new(
            client_config(&[version], None, None),
            server_config(&pki().server_rsa, ClientAuth::Off),
        );
        pair.handshake().unwrap();
        let data = pattern(1 << 20);
        let wire = pair.client_send(&data);
        for chunk in wire.chunks(64 * 1024) {
            pair.server_read(chunk).unwrap();
            assert!(pair.held.len() <= MAX_HELD_BYTES);
        }
        assert_eq!(pair.received, data);
        assert_eq!(pair.server_send(&data), data);
    }
}

#[test]
fn write_works_while_a_partial_record_is_held() {
    let mut pair = Pair::new(
        client_config(&[&TLS13], None, None),
        server_config(&pki().server_ecdsa, ClientAuth::Off),
    );
    pair.handshake().unwrap();
    let wire = pair.client_send(b"partial");
    pair.server_read(&wire[..wire.len() - 3]).unwrap();
    assert_eq!(pair.held.len(), wire.len() - 3);
    assert_eq!(pair.server_send(b"reply"), b"reply");
    pair.server_read(&wire[wire.len() - 3..]).unwrap();
    assert_eq!(pair.received, b"partial");
}

#[test]
fn close_notify_both_directions() {
    for version in both_versions() {
        let mut pair = Pair::new(
            client_config(&[version], None, None),
            server_config(&pki().server_ecdsa, ClientAuth::Off),
        );
        pair.handshake().unwrap();
        let mut wire = pair.client_send(b"last words");
        pair.client.send_close_notify();
        wire.extend(pair.client_wire());
        wire.extend_from_slice(b"ignored after close_notify");
        pair.server_read(&wire).unwrap();
        assert!(pair.last.peer_closed);
        assert_eq!(pair.last.consumed, wire.len());
        assert_eq!(pair.received, b"last words");

        // We may still write after the peer closed, then close too.
        assert_eq!(pair.server_send(b"bye"), b"bye");
        let mut out = Vec::new();
        pair.server.close_notify(&mut pair.held, &mut out).unwrap();
        assert!(!out.is_empty());
        pair.client_receive(&out).unwrap();
        assert!(pair.client.process_new_packets().unwrap().peer_has_closed());
        let err = pair
            .server
            .write(&mut pair.held, b"more", &mut out)
            .unwrap_err();
        assert_eq!(err.keyword(), "tls_closed");
    }
}

#[test]
fn into_kernel_needs_secret_extraction_and_a_finished_handshake() {
    let mut config = server_config(&pki().server_ecdsa, ClientAuth::Off);
    config.enable_secret_extraction = false;
    let client = client_config(&[&TLS13], None, None);
    let mut pair = Pair::new(client.clone(), config.clone());
    pair.handshake().unwrap();
    assert_eq!(
        pair.server.into_kernel().err().unwrap().keyword(),
        "tls_kernel_handoff"
    );

    config.enable_secret_extraction = true;
    let pair = Pair::new(client.clone(), config.clone());
    assert_eq!(
        pair.server.into_kernel().err().unwrap().keyword(),
        "tls_not_ready"
    );

    let mut pair = Pair::new(client, config);
    exchange(&mut pair);
    let handoff = pair.server.into_kernel().unwrap();
    assert_eq!(handoff.info.version, "TLSv1.3");
    assert_eq!(
        handoff.connection.protocol_version(),
        rustls::ProtocolVersion::TLSv1_3
    );
    // One record each way after the handshake, plus one record holding both tickets.
    assert_eq!(handoff.secrets.rx.0, 1);
    assert_eq!(handoff.secrets.tx.0, 2);
}

#[test]
fn client_key_update_is_handled() {
    let mut pair = Pair::new(
        client_config(&[&TLS13], None, None),
        server_config(&pki().server_ecdsa, ClientAuth::Off),
    );
    pair.handshake().unwrap();
    pair.client.refresh_traffic_keys().unwrap();
    let wire = pair.client_send(b"after update");
    pair.server_read(&wire).unwrap();
    assert_eq!(pair.received, b"after update");
    assert_eq!(pair.server_send(b"still fine"), b"still fine");
}

/// MQTT clients send CONNECT right behind their TLS 1.3 Finished, often in one segment.
#[test]
fn data_behind_the_client_finished_comes_out_of_the_completing_read() {
    let mut pair = Pair::new(
        client_config(&[&TLS13], None, Some(&pki().device1)),
        server_config(&pki().server_ecdsa, ClientAuth::Required),
    );
    let hello = pair.client_wire();
    let flight = pair.server_read(&hello).unwrap();
    pair.client_receive(&flight).unwrap();
    let finished_and_connect = pair.client_send(b"CONNECT");
    pair.server_read(&finished_and_connect).unwrap();
    assert!(pair.last.handshake_complete);
    assert_eq!(pair.received, b"CONNECT");
    assert_eq!(pair.last.consumed, finished_and_connect.len());
}
