//! `TlsSession` failures: each has its keyword, and the alert in `outgoing` reaches the client.

use std::sync::Arc;

use rustls::version::{TLS12, TLS13};
use rustls::{AlertDescription, CipherSuite, ServerConfig};

use crate::tls::testbed::{ClientAuth, Pair, client_config, pki, server_config};
use crate::tls::{MAX_HELD_BYTES, RecordLayer, SentAlert, TlsError, TlsSession};

fn both_versions() -> [&'static rustls::SupportedProtocolVersion; 2] {
    [&TLS12, &TLS13]
}

/// Runs a handshake expected to fail on the server; returns its error and checks the client
/// gets the alert from `outgoing`.
fn failed_handshake(mut pair: Pair) -> TlsError {
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
                    Err(TlsError::local(err.kind))
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

/// Pins the rustls message that [`crate::tls::error::NO_SERVER_CERT_MESSAGE`] matches.
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
fn garbage_instead_of_a_hello_fails_with_a_plaintext_alert() {
    let config = Arc::new(server_config(&pki().server_ecdsa, ClientAuth::Off));
    // A ClientHello record whose 4-byte body is not a ClientHello.
    let mut garbage = *b"\x16\x03\x01\x00\x08\x01\x00\x00\x04\xde\xad\xbe\xef";
    let mut out = Vec::new();
    let err = TlsSession::new(config.clone(), RecordLayer::Own)
        .unwrap()
        .read(&mut garbage, &mut out)
        .unwrap_err();
    assert_eq!(err.keyword(), "tls_bad_record");
    assert_eq!(err.alert, SentAlert::Known(AlertDescription::DecodeError));
    assert_eq!(
        out,
        crate::tls::client_hello::alert_record(AlertDescription::DecodeError)
    );

    // A handshake header announcing a message over rustls' 64 KiB limit: rustls fails it
    // while joining records, before any message exists, and sends no alert.
    let mut garbage = *b"\x16\x03\x01\x00\x05hello";
    let mut out = Vec::new();
    let err = TlsSession::new(config, RecordLayer::Own)
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
    let mut session = TlsSession::new(config, RecordLayer::Own).unwrap();
    let mut incoming = vec![0x16, 3, 1, 0, 4, 1, 0, 0xfd, 0xe8];
    for _ in 0..MAX_HELD_BYTES / 6 + 1 {
        incoming.extend_from_slice(&[0x16, 3, 3, 0, 1, 3]);
    }
    let mut out = Vec::new();
    let err = session.read(&mut incoming, &mut out).unwrap_err();
    assert_eq!(err.keyword(), "tls_too_much_held");
}
