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
mod tests;
