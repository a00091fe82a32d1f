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
        (Termination::Mqtt("mqtt_malformed"), "mqtt_malformed"),
        (Termination::RateLimited, "rate_limited"),
        (
            Termination::Tls("tls_bad_client_cert"),
            "tls_bad_client_cert",
        ),
    ];
    for (t, keyword) in cases {
        assert_eq!(t.to_string(), keyword);
        assert_eq!(t.keyword(), keyword);
    }
}
