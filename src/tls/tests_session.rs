//! `TlsSession` against a rustls client, in memory.

use std::sync::Arc;

use rustls::version::{TLS12, TLS13};
use rustls::{AlertDescription, CipherSuite, ServerConfig};

use super::testbed::{ClientAuth, Pair, client_config, pattern, pki, server_config};
use super::{ClientCert, MAX_HELD_BYTES, SentAlert, TlsSession};

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

#[test]
fn optional_client_auth_without_a_certificate_reports_none() {
    let mut pair = Pair::new(
        client_config(&[&TLS13], None, None),
        server_config(&pki().server_ecdsa, ClientAuth::Optional),
    );
    exchange(&mut pair);
    assert_eq!(pair.server.info().unwrap().client_cert, ClientCert::None);
}

/// Runs a handshake expected to fail on the server; returns its error and checks the client
/// gets the alert from `outgoing`.
fn failed_handshake(mut pair: Pair) -> super::TlsError {
    for _ in 0..10 {
        let wire = pair.client_wire();
        match pair.server_read(&wire) {
            Ok(out) => {
                pair.client_receive(&out).unwrap();
            }
            Err((err, out)) => {
                if let SentAlert::Known(desc) = err.alert {
                    let got = pair.client_receive(&out).unwrap_err();
                    assert_eq!(got, rustls::Error::AlertReceived(desc));
                }
                // A failed session keeps failing, without touching rustls again.
                let mut again = Vec::new();
                assert_eq!(
                    pair.server.read(&mut [0x17; 9], &mut again),
                    Err(super::TlsError::local(err.kind))
                );
                assert!(again.is_empty());
                return err;
            }
        }
    }
    panic!("handshake did not fail");
}

#[test]
fn required_client_auth_without_certificate_fails_with_alert() {
    for version in both_versions() {
        let err = failed_handshake(Pair::new(
            client_config(&[version], None, None),
            server_config(&pki().server_ecdsa, ClientAuth::Required),
        ));
        assert_eq!(err.keyword(), "tls_no_client_cert");
        assert_eq!(
            err.alert,
            SentAlert::Known(AlertDescription::CertificateRequired)
        );
    }
}

#[test]
fn client_certificate_from_another_ca_fails_with_unknown_ca() {
    for version in both_versions() {
        let err = failed_handshake(Pair::new(
            client_config(&[version], None, Some(&pki().stranger)),
            server_config(&pki().server_ecdsa, ClientAuth::Required),
        ));
        assert_eq!(err.keyword(), "tls_bad_client_cert");
        assert_eq!(err.alert, SentAlert::Known(AlertDescription::UnknownCA));
    }
}

#[test]
fn tls12_only_client_against_tls13_only_server_is_unsupported_version() {
    let server = ServerConfig::builder_with_protocol_versions(&[&TLS13])
        .with_no_client_auth()
        .with_single_cert(pki().server_ecdsa.chain.clone(), pki().server_ecdsa.key())
        .unwrap();
    let err = failed_handshake(Pair::new(client_config(&[&TLS12], None, None), server));
    assert_eq!(err.keyword(), "tls_unsupported_version");
    assert_eq!(
        err.alert,
        SentAlert::Known(AlertDescription::ProtocolVersion)
    );
}

#[test]
fn no_common_cipher_is_reported_with_handshake_failure() {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider
        .cipher_suites
        .retain(|s| s.suite() == CipherSuite::TLS13_AES_256_GCM_SHA384);
    let server = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(pki().server_ecdsa.chain.clone(), pki().server_ecdsa.key())
        .unwrap();
    let client = client_config(&[&TLS13], Some(CipherSuite::TLS13_AES_128_GCM_SHA256), None);
    let err = failed_handshake(Pair::new(client, server));
    assert_eq!(err.keyword(), "tls_no_common_cipher");
    assert_eq!(
        err.alert,
        SentAlert::Known(AlertDescription::HandshakeFailure)
    );
}

/// Pins the rustls message that [`super::error::NO_SERVER_CERT_MESSAGE`] matches.
#[test]
fn resolver_without_certificate_is_no_server_cert() {
    #[derive(Debug)]
    struct NoCert;
    impl rustls::server::ResolvesServerCert for NoCert {
        fn resolve(
            &self,
            _: rustls::server::ClientHello<'_>,
        ) -> Option<Arc<rustls::sign::CertifiedKey>> {
            None
        }
    }
    let server = ServerConfig::builder()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(NoCert));
    let err = failed_handshake(Pair::new(client_config(&[&TLS13], None, None), server));
    assert_eq!(err.keyword(), "tls_no_server_cert");
    assert_eq!(err.alert, SentAlert::Known(AlertDescription::AccessDenied));
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
fn write_refuses_wrong_held_bytes_and_early_calls() {
    let mut pair = Pair::new(
        client_config(&[&TLS13], None, None),
        server_config(&pki().server_ecdsa, ClientAuth::Off),
    );
    let mut out = Vec::new();
    let err = pair.server.write(&mut [], b"x", &mut out).unwrap_err();
    assert_eq!(err.keyword(), "tls_not_ready");
    pair.handshake().unwrap();
    let wire = pair.client_send(b"partial");
    pair.server_read(&wire[..4]).unwrap();
    let err = pair.server.write(&mut [], b"x", &mut out).unwrap_err();
    assert_eq!(err.keyword(), "tls_held_bytes_mismatch");
    let err = pair.server.read(&mut [0; 2], &mut out).unwrap_err();
    assert_eq!(err.keyword(), "tls_held_bytes_mismatch");
    assert!(out.is_empty());
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
fn garbage_instead_of_a_hello_fails_with_a_plaintext_alert() {
    let config = Arc::new(server_config(&pki().server_ecdsa, ClientAuth::Off));
    // A ClientHello record whose 4-byte body is not a ClientHello.
    let mut garbage = *b"\x16\x03\x01\x00\x08\x01\x00\x00\x04\xde\xad\xbe\xef";
    let mut out = Vec::new();
    let err = TlsSession::new(config.clone())
        .unwrap()
        .read(&mut garbage, &mut out)
        .unwrap_err();
    assert_eq!(err.keyword(), "tls_bad_record");
    assert_eq!(err.alert, SentAlert::Known(AlertDescription::DecodeError));
    assert_eq!(
        out,
        super::client_hello::alert_record(AlertDescription::DecodeError)
    );

    // A handshake header announcing a message over rustls' 64 KiB limit: rustls fails it
    // while joining records, before any message exists, and sends no alert.
    let mut garbage = *b"\x16\x03\x01\x00\x05hello";
    let mut out = Vec::new();
    let err = TlsSession::new(config)
        .unwrap()
        .read(&mut garbage, &mut out)
        .unwrap_err();
    assert_eq!(err.keyword(), "tls_bad_record");
    assert_eq!(err.alert, SentAlert::None);
    assert!(out.is_empty());
}

#[test]
fn forged_record_after_handshake_is_a_decrypt_error_and_the_client_is_told() {
    for version in both_versions() {
        let mut pair = Pair::new(
            client_config(&[version], None, None),
            server_config(&pki().server_ecdsa, ClientAuth::Off),
        );
        pair.handshake().unwrap();
        let mut wire = pair.client_send(b"genuine");
        let last = wire.len() - 1;
        wire[last] ^= 1;
        let (err, out) = pair.server_read(&wire).unwrap_err();
        assert_eq!(err.keyword(), "tls_decrypt_error");
        assert_eq!(err.alert, SentAlert::Encrypted);
        let got = pair.client_receive(&out).unwrap_err();
        assert_eq!(
            got,
            rustls::Error::AlertReceived(AlertDescription::BadRecordMac)
        );
    }
}

#[test]
fn too_many_held_bytes_is_refused() {
    // A plaintext ClientHello header claiming 65000 bytes, then its body in 1-byte records:
    // rustls keeps joining them in place, so the held bytes grow 6 per byte of body.
    let config = Arc::new(server_config(&pki().server_ecdsa, ClientAuth::Off));
    let mut session = TlsSession::new(config).unwrap();
    let mut incoming = vec![0x16, 3, 1, 0, 4, 1, 0, 0xfd, 0xe8];
    for _ in 0..MAX_HELD_BYTES / 6 + 1 {
        incoming.extend_from_slice(&[0x16, 3, 3, 0, 1, 3]);
    }
    let mut out = Vec::new();
    let err = session.read(&mut incoming, &mut out).unwrap_err();
    assert_eq!(err.keyword(), "tls_too_much_held");
}

#[test]
fn into_kernel_needs_secret_extraction_and_a_finished_handshake() {
    let mut config = server_config(&pki().server_ecdsa, ClientAuth::Off);
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
