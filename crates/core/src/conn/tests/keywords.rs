use super::*;

#[test]
fn termination_keywords_are_stable() {
    let cases = [
        (Termination::ClientClosed, "client_closed"),
        (Termination::ServerClosed, "server_closed"),
        (Termination::ClientIdleTimeout, "client_idle_timeout"),
        (Termination::ServerIdleTimeout, "server_idle_timeout"),
        (Termination::ConnectTimeout, "connect_timeout"),
        (Termination::ConnectRefused, "connect_refused"),
        (Termination::ConnectError, "error:connect"),
        (Termination::Shutdown, "shutdown"),
        (Termination::LimitReached, "limit_reached"),
        (Termination::Reset(Side::Client), "error:client_reset"),
        (
            Termination::Unreachable(Side::Server),
            "error:server_unreachable",
        ),
        (Termination::Io(Side::Server), "error:server_io"),
        (Termination::Reset(Side::Server), "error:server_reset"),
        (
            Termination::Unreachable(Side::Client),
            "error:client_unreachable",
        ),
        (Termination::Io(Side::Client), "error:client_io"),
        (Termination::Internal, "error:internal"),
        (Termination::ClientAborted, "client_aborted"),
        (Termination::HandshakeTimeout, "handshake_timeout"),
        (Termination::ProxyUntrusted, "proxy_untrusted"),
        (Termination::ProxyInvalid, "proxy_invalid"),
        (Termination::NoRoute, "no_route"),
        (Termination::NoServerAvailable, "no_server_available"),
        (Termination::ServerMarkedDown, "server_marked_down"),
        (
            Termination::Mqtt(ConnectErrorKind::Malformed),
            "mqtt_malformed",
        ),
        (Termination::RateLimited, "rate_limited"),
        (
            Termination::Tls(TlsErrorKind::BadClientCert),
            "tls_bad_client_cert",
        ),
    ];
    for (t, keyword) in cases {
        assert_eq!(t.to_string(), keyword);
        assert_eq!(t.keyword(), keyword);
    }
}

/// Every TLS termination keyword, as operators grep for it: a renamed or merged variant
/// changes a metric label, so each is pinned here, and none repeats except where two
/// failures are one to the operator (a ClientHello or a handshake with no common version).
#[test]
fn tls_termination_keywords_are_stable_and_distinct() {
    use crate::tls::KernelTlsFailure as K;
    use crate::tls::client_hello::HelloError;
    use TlsErrorKind as T;
    use rustls::AlertDescription;
    let cases = [
        (T::BadRecord, "tls_bad_record"),
        (T::UnexpectedMessage, "tls_unexpected_message"),
        (T::DecryptError, "tls_decrypt_error"),
        (T::UnsupportedVersion, "tls_unsupported_version"),
        (T::NoCommonCipher, "tls_no_common_cipher"),
        (T::NoCommonGroup, "tls_no_common_group"),
        (T::NoCommonSignatureScheme, "tls_no_common_sigalg"),
        (T::NoCommonAlpn, "tls_no_common_alpn"),
        (T::NoServerCert, "tls_no_server_cert"),
        (T::NoClientCert, "tls_no_client_cert"),
        (T::BadClientCert, "tls_bad_client_cert"),
        (
            T::PeerAlert(AlertDescription::DecodeError),
            "tls_peer_alert",
        ),
        (T::PeerMisbehaved, "tls_peer_misbehaved"),
        (T::PeerIncompatible, "tls_peer_incompatible"),
        (T::TooManyKeyUpdates, "tls_too_many_key_updates"),
        (T::TooManyWarningAlerts, "tls_too_many_warning_alerts"),
        (T::TooManyEmptyRecords, "tls_too_many_empty_records"),
        (T::RenegotiationRefused, "tls_renegotiation_refused"),
        (T::TooMuchHeld, "tls_too_much_held"),
        (T::HandshakeFailed, "tls_handshake_failed"),
        (T::ProtocolError, "tls_protocol_error"),
        (T::NotTls, "tls_not_tls"),
        (T::HelloTooLarge, "tls_hello_too_large"),
        (T::BadHello, "tls_bad_hello"),
        (T::HandshakeTooLarge, "tls_handshake_too_large"),
        (T::KeyLimit, "tls_key_limit"),
        (T::Config, "tls_config"),
        (T::NotReady, "tls_not_ready"),
        (T::Closed, "tls_closed"),
        (T::HeldBytesMismatch, "tls_held_bytes_mismatch"),
        (T::KernelHandoff, "tls_kernel_handoff"),
        (T::Internal, "tls_internal"),
        (T::Kernel(K::UnsupportedVersion), "ktls_unsupported_version"),
        (T::Kernel(K::UnsupportedCipher), "ktls_unsupported_cipher"),
        (T::Kernel(K::Ulp), "ktls_ulp_failed"),
        (T::Kernel(K::Tx), "ktls_tx_failed"),
        (T::Kernel(K::Rx), "ktls_rx_failed"),
        (T::Kernel(K::RekeyUnsupported), "ktls_rekey_unsupported"),
    ];
    let mut seen = std::collections::HashSet::new();
    for (kind, keyword) in cases {
        assert_eq!(Termination::Tls(kind).keyword(), keyword);
        assert!(seen.insert(keyword), "{keyword} twice");
    }
    let hello = [
        (HelloError::NotTls, "tls_not_tls"),
        (HelloError::TooLarge, "tls_hello_too_large"),
        (HelloError::Invalid, "tls_bad_hello"),
        (HelloError::UnsupportedVersion, "tls_unsupported_version"),
    ];
    for (error, keyword) in hello {
        assert_eq!(Termination::Tls(error.kind()).keyword(), keyword);
        assert_eq!(error.keyword(), keyword);
    }
}
