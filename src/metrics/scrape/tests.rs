use super::*;
use crate::config::{Config, ConfigSource};
use crate::conn::{Side, Termination};

const CONFIG: &str = r#"[runtime]
workers = 2

[[listener]]
name = "mqtt"
bind = "127.0.0.1:1884"
backend = "broker"
max_connections = 10

[[backend]]
name = "broker"
servers = ["127.0.0.1:1883", "127.0.0.1:1885"]
"#;

#[test]
fn a_small_registry_renders_byte_for_byte() {
    let config = Config::from_toml(CONFIG, ConfigSource::File("t.toml".into())).unwrap();
    let shared = Shared::new(config, Err("no listener terminates TLS".into()));
    shared.active[0].0.store(1, Ordering::Relaxed);
    let (w0, w1) = (shared.metrics.worker(0), shared.metrics.worker(1));
    let (s0, s1) = (
        "127.0.0.1:1883".parse().unwrap(),
        "127.0.0.1:1885".parse().unwrap(),
    );
    w0.accepted(0);
    w0.accepted(0);
    w1.accepted(0);
    w0.refused(0, Termination::LimitReached);
    w0.closed(0, Termination::LimitReached);
    w0.closed(0, Termination::ServerClosed);
    w1.closed(0, Termination::ServerClosed);
    w1.closed(0, Termination::ClientClosed);
    w0.payload(0, Side::Client, 10);
    w1.payload(0, Side::Client, 5);
    w1.payload(0, Side::Server, 4);
    w1.backend_connect_failed(0, s1, Termination::ConnectRefused);
    w1.backend_connected(0, s0);
    w0.backend_connected(0, s0);
    shared.metrics.backends.server(0, 1).unwrap().mark_down();
    let v = env!("CARGO_PKG_VERSION");
    let want = format!(
            "# HELP ringress_build_info Always 1; the version of ringress running is its label.
# TYPE ringress_build_info gauge
ringress_build_info{{version=\"{v}\"}} 1
# HELP ringress_workers Worker threads, one io_uring ring each.
# TYPE ringress_workers gauge
ringress_workers 2
# HELP ringress_ktls_available 1 if the kernel takes TLS sessions (kTLS, probed at start-up when a listener terminates TLS), else 0.
# TYPE ringress_ktls_available gauge
ringress_ktls_available 0
# HELP ringress_connections_open Connections open now, per listener.
# TYPE ringress_connections_open gauge
ringress_connections_open{{listener=\"mqtt\"}} 1
# HELP ringress_connections_max The listener's max_connections: past it, new connections are closed at once (limit_reached).
# TYPE ringress_connections_max gauge
ringress_connections_max{{listener=\"mqtt\"}} 10
# HELP ringress_connections_accepted_total Connections accepted, including those then refused.
# TYPE ringress_connections_accepted_total counter
ringress_connections_accepted_total{{listener=\"mqtt\"}} 3
# HELP ringress_connections_refused_total Connections closed at accept without being served, by reason (limit_reached, proxy_untrusted); also counted as closed.
# TYPE ringress_connections_refused_total counter
ringress_connections_refused_total{{listener=\"mqtt\",reason=\"limit_reached\"}} 1
# HELP ringress_connections_closed_total Connections closed, by the access log's termination keyword.
# TYPE ringress_connections_closed_total counter
ringress_connections_closed_total{{listener=\"mqtt\",termination=\"client_closed\"}} 1
ringress_connections_closed_total{{listener=\"mqtt\",termination=\"limit_reached\"}} 1
ringress_connections_closed_total{{listener=\"mqtt\",termination=\"server_closed\"}} 2
# HELP ringress_accept_errors_total Failed accepts, by errno; the listener pauses 100 ms after each.
# TYPE ringress_accept_errors_total counter
# HELP ringress_bytes_in_total Payload bytes from clients to servers (plaintext; no TLS records, no PROXY header).
# TYPE ringress_bytes_in_total counter
ringress_bytes_in_total{{listener=\"mqtt\"}} 15
# HELP ringress_bytes_out_total Payload bytes from servers to clients (plaintext; no TLS records).
# TYPE ringress_bytes_out_total counter
ringress_bytes_out_total{{listener=\"mqtt\"}} 4
# HELP ringress_tls_handshakes_total TLS handshakes completed (terminate listeners).
# TYPE ringress_tls_handshakes_total counter
# HELP ringress_tls_handshake_failures_total TLS connections closed before the handshake completed, by termination keyword.
# TYPE ringress_tls_handshake_failures_total counter
# HELP ringress_tls_offload_total Completed handshakes by who does the record crypto after it: kernel (kTLS) or userspace (rustls).
# TYPE ringress_tls_offload_total counter
# HELP ringress_tls_offload_fallback_total Sessions tls_offload = \"auto\" kept in userspace, by reason (the access log's offload_fallback).
# TYPE ringress_tls_offload_fallback_total counter
# HELP ringress_backend_connects_total Connects to a backend server that succeeded.
# TYPE ringress_backend_connects_total counter
ringress_backend_connects_total{{backend=\"broker\",server=\"127.0.0.1:1883\"}} 2
# HELP ringress_backend_connect_failures_total Connect attempts to a backend server that failed, by cause (connect_timeout, connect_refused, error:connect); the next server is tried.
# TYPE ringress_backend_connect_failures_total counter
ringress_backend_connect_failures_total{{backend=\"broker\",server=\"127.0.0.1:1885\",cause=\"connect_refused\"}} 1
# HELP ringress_server_up 1 if health checks consider the backend server up, 0 if down; absent until checked.
# TYPE ringress_server_up gauge
ringress_server_up{{backend=\"broker\",server=\"127.0.0.1:1885\"}} 0
# HELP ringress_server_marked_up_total Times health checks marked the backend server up again after it was down.
# TYPE ringress_server_marked_up_total counter
ringress_server_marked_up_total{{backend=\"broker\",server=\"127.0.0.1:1885\"}} 0
# HELP ringress_server_marked_down_total Times health checks marked the backend server down.
# TYPE ringress_server_marked_down_total counter
ringress_server_marked_down_total{{backend=\"broker\",server=\"127.0.0.1:1885\"}} 1
# HELP ringress_metrics_dropped_total Increments lost because a worker's table of label values was full (expected 0).
# TYPE ringress_metrics_dropped_total counter
ringress_metrics_dropped_total 0
"
        );
    let got = render(&shared);
    assert_eq!(got, want, "\n--- got ---\n{got}");
}
