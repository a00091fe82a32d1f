//! What `GET /metrics` shows: every family, the workers' counters summed. Runs on the admin
//! thread and allocates freely; the workers never wait for it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use super::text::{Exposition, Kind};
use super::{CounterSet, Fixed, WorkerCounters};
use crate::config::TlsMode;
use crate::worker::Shared;

/// The whole exposition, in the Prometheus text format.
pub fn render(shared: &Shared) -> String {
    let config = &shared.config;
    let metrics = &shared.metrics;
    let workers = metrics.workers();
    let listeners: Vec<&str> = config.listeners.iter().map(|l| l.name.as_str()).collect();
    let mut e = Exposition::new();

    e.family(
        "ringress_build_info",
        Kind::Gauge,
        "Always 1; the version of ringress running is its label.",
    );
    e.sample(
        "ringress_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1,
    );
    e.family(
        "ringress_workers",
        Kind::Gauge,
        "Worker threads, one io_uring ring each.",
    );
    e.sample("ringress_workers", &[], workers.len() as u64);
    e.family(
        "ringress_ktls_available",
        Kind::Gauge,
        "1 if the kernel takes TLS sessions (kTLS, probed at start-up when a listener terminates TLS), else 0.",
    );
    e.sample("ringress_ktls_available", &[], shared.ktls.is_ok() as u64);

    e.family(
        "ringress_connections_open",
        Kind::Gauge,
        "Connections open now, per listener.",
    );
    for (l, name) in listeners.iter().enumerate() {
        let open = shared.active[l].0.load(Ordering::Relaxed);
        e.sample(
            "ringress_connections_open",
            &[("listener", name)],
            open.into(),
        );
    }
    e.family(
        "ringress_connections_max",
        Kind::Gauge,
        "The listener's max_connections: past it, new connections are closed at once (limit_reached).",
    );
    for (l, name) in listeners.iter().enumerate() {
        let max = config.listeners[l].max_connections;
        e.sample(
            "ringress_connections_max",
            &[("listener", name)],
            max.into(),
        );
    }

    let all: Vec<usize> = (0..listeners.len()).collect();
    let terminating: Vec<usize> = all
        .iter()
        .copied()
        .filter(|&l| config.listeners[l].tls == TlsMode::Terminate)
        .collect();
    per_listener(
        &mut e,
        "ringress_connections_accepted_total",
        "Connections accepted, including those then refused.",
        (workers, &listeners, &all),
        Fixed::Accepted,
    );
    keyed(
        &mut e,
        "ringress_connections_refused_total",
        "Connections closed at accept without being served, by reason (limit_reached, proxy_untrusted); also counted as closed.",
        ("reason", workers, &listeners),
        |w| &w.refused,
    );
    keyed(
        &mut e,
        "ringress_connections_closed_total",
        "Connections closed, by the access log's termination keyword.",
        ("termination", workers, &listeners),
        |w| &w.closed,
    );
    keyed(
        &mut e,
        "ringress_accept_errors_total",
        "Failed accepts, by errno; the listener pauses 100 ms after each.",
        ("reason", workers, &listeners),
        |w| &w.accept_errors,
    );
    per_listener(
        &mut e,
        "ringress_bytes_in_total",
        "Payload bytes from clients to servers (plaintext; no TLS records, no PROXY header).",
        (workers, &listeners, &all),
        Fixed::BytesIn,
    );
    per_listener(
        &mut e,
        "ringress_bytes_out_total",
        "Payload bytes from servers to clients (plaintext; no TLS records).",
        (workers, &listeners, &all),
        Fixed::BytesOut,
    );
    per_listener(
        &mut e,
        "ringress_tls_handshakes_total",
        "TLS handshakes completed (terminate listeners).",
        (workers, &listeners, &terminating),
        Fixed::Handshakes,
    );
    keyed(
        &mut e,
        "ringress_tls_handshake_failures_total",
        "TLS connections closed before the handshake completed, by termination keyword.",
        ("cause", workers, &listeners),
        |w| &w.handshake_failures,
    );
    e.family(
        "ringress_tls_offload_total",
        Kind::Counter,
        "Completed handshakes by who does the record crypto after it: kernel (kTLS) or userspace (rustls).",
    );
    for &l in &terminating {
        for (mode, which) in [
            ("kernel", Fixed::OffloadKernel),
            ("userspace", Fixed::OffloadUserspace),
        ] {
            let n = sum(workers, |w| w.fixed_value(l, which));
            let labels = [("listener", listeners[l]), ("mode", mode)];
            e.sample("ringress_tls_offload_total", &labels, n);
        }
    }
    keyed(
        &mut e,
        "ringress_tls_offload_fallback_total",
        "Sessions tls_offload = \"auto\" kept in userspace, by reason (the access log's offload_fallback).",
        ("reason", workers, &listeners),
        |w| &w.offload_fallbacks,
    );

    backend_families(&mut e, shared);

    e.family(
        "ringress_metrics_dropped_total",
        Kind::Counter,
        "Increments lost because a worker's table of label values was full (expected 0).",
    );
    e.sample(
        "ringress_metrics_dropped_total",
        &[],
        sum(workers, WorkerCounters::dropped),
    );
    e.finish()
}

fn sum(workers: &[WorkerCounters], f: impl Fn(&WorkerCounters) -> u64) -> u64 {
    workers.iter().map(f).fold(0, u64::wrapping_add)
}

/// A counter family with one sample per listener in `which`.
fn per_listener(
    e: &mut Exposition,
    name: &str,
    help: &str,
    (workers, listeners, which): (&[WorkerCounters], &[&str], &[usize]),
    counter: Fixed,
) {
    e.family(name, Kind::Counter, help);
    for &l in which {
        let n = sum(workers, |w| w.fixed_value(l, counter));
        e.sample(name, &[("listener", listeners[l])], n);
    }
}

/// A counter family labelled by listener and a keyword, summed across workers, in listener
/// then keyword order.
fn keyed(
    e: &mut Exposition,
    name: &str,
    help: &str,
    (label, workers, listeners): (&str, &[WorkerCounters], &[&str]),
    set: impl Fn(&WorkerCounters) -> &CounterSet<(u16, &'static str)>,
) {
    let mut totals: BTreeMap<(u16, &str), u64> = BTreeMap::new();
    for w in workers {
        set(w).for_each(|key, n| {
            let total = totals.entry(key).or_default();
            *total = total.wrapping_add(n);
        });
    }
    e.family(name, Kind::Counter, help);
    for ((l, keyword), n) in totals {
        if let Some(listener) = listeners.get(l as usize) {
            e.sample(name, &[("listener", listener), (label, keyword)], n);
        }
    }
}

/// Per backend server: connects, connect failures, and health as published by checks.
fn backend_families(e: &mut Exposition, shared: &Shared) {
    let config = &shared.config;
    let workers = shared.metrics.workers();
    let backend_name = |b: u16| config.backends.get(b as usize).map(|b| b.name.as_str());

    let mut connects: BTreeMap<(u16, SocketAddr), u64> = BTreeMap::new();
    let mut failures: BTreeMap<(u16, SocketAddr, &str), u64> = BTreeMap::new();
    for w in workers {
        w.backend_connects.for_each(|key, n| {
            let total = connects.entry(key).or_default();
            *total = total.wrapping_add(n);
        });
        w.backend_connect_failures.for_each(|key, n| {
            let total = failures.entry(key).or_default();
            *total = total.wrapping_add(n);
        });
    }
    let name = "ringress_backend_connects_total";
    e.family(
        name,
        Kind::Counter,
        "Connects to a backend server that succeeded.",
    );
    for ((b, server), n) in connects {
        if let Some(backend) = backend_name(b) {
            let server = server.to_string();
            e.sample(name, &[("backend", backend), ("server", &server)], n);
        }
    }
    let name = "ringress_backend_connect_failures_total";
    e.family(
        name,
        Kind::Counter,
        "Connect attempts to a backend server that failed, by cause (connect_timeout, connect_refused, error:connect); the next server is tried.",
    );
    for ((b, server, cause), n) in failures {
        if let Some(backend) = backend_name(b) {
            let server = server.to_string();
            let labels = [("backend", backend), ("server", &server), ("cause", cause)];
            e.sample(name, &labels, n);
        }
    }

    let mut judged = Vec::new();
    for (b, backend) in config.backends.iter().enumerate() {
        for (s, server) in backend.servers.iter().enumerate() {
            if let Some(health) = shared.metrics.backends.server(b, s)
                && let Some(up) = health.is_up()
            {
                judged.push((
                    backend.name.as_str(),
                    server.to_string(),
                    up,
                    health.marks(),
                ));
            }
        }
    }
    e.family(
        "ringress_server_up",
        Kind::Gauge,
        "1 if health checks consider the backend server up, 0 if down; absent until checked.",
    );
    for (backend, server, up, _) in &judged {
        let labels = [("backend", *backend), ("server", server.as_str())];
        e.sample("ringress_server_up", &labels, *up as u64);
    }
    let name = "ringress_server_marked_up_total";
    e.family(
        name,
        Kind::Counter,
        "Times health checks marked the backend server up again after it was down.",
    );
    for (backend, server, _, (up, _)) in &judged {
        e.sample(name, &[("backend", backend), ("server", server)], *up);
    }
    let name = "ringress_server_marked_down_total";
    e.family(
        name,
        Kind::Counter,
        "Times health checks marked the backend server down.",
    );
    for (backend, server, _, (_, down)) in &judged {
        e.sample(name, &[("backend", backend), ("server", server)], *down);
    }
}

#[cfg(test)]
mod tests {
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
}
