//! ringress: a thread-per-core io_uring ingress proxy for MQTT.
//!
//! # Layout
//!
//! The modules follow the data path of one connection:
//!
//! | step | module | what happens there |
//! |---|---|---|
//! | start-up | [`config`], [`runtime`] | validate the config (certificates, route tables), probe io_uring, bind one SO_REUSEPORT socket per listener per worker, spawn workers, wait for signals |
//! | worker | [`worker`] | one thread, one io_uring ring, one connection slab; the event loop |
//! | accept | `worker::accept`, [`rate_limit`] | multishot accept, `max_connections`, per-source connection rate, EMFILE back-off |
//! | stages | [`conn`] | a connection's life as stages that only move forward |
//! | PROXY-in | `worker::ingress`, [`proxy_protocol`] | the load balancer's v1/v2 header (sans-IO codec) |
//! | TLS/ClientHello | `worker::ingress`, [`tls`] | ClientHello peek, rustls unbuffered handshake (sans-IO), per-route server configs |
//! | route | [`route`] | SNI → route table (exact, then one-label wildcard), no allocation per lookup |
//! | CONNECT | `worker::mqtt_connect`, [`mqtt`] | `mqtt = true`: read the first packet (decrypted, before the kTLS hand-off), check it with the sans-IO CONNECT parser, refuse with a CONNACK, keep client id/version/keep-alive; keep-alive → idle timeout |
//! | upstream + PROXY-out | `worker::upstream`, [`balance`], [`proxy_out`] | choose a server (balance: round-robin, least-connections, client id, source; weights, health), connect with a linked timeout, fail over; HAProxy-compatible header |
//! | health checks | `worker::checks`, [`health`] | worker 0 checks servers on its ring (tcp or MQTT CONNECT/CONNACK), rise/fall, a shared up/down board every worker reads; shutdown-sessions |
//! | relay | [`relay`], `worker::relaying` | sans-IO per-direction state machine: recv → send → recv, half-close; userspace TLS records |
//! | relay (splice) | `relay::splice`, `worker::splicing`, `sys::pipe` | `relay = "splice"`: readiness poll → splice(2) socket → pipe → socket, pipes lent per burst from a per-worker pool |
//! | timers | [`timer`] | a lazy timer wheel for handshake and idle timeouts |
//! | close | `worker::close`, [`access_log`] | cancel, wait for completions, close; one line per connection |
//! | kTLS | `worker::kernel_tls`, `sys::ktls` | hand established sessions to the kernel; control records on the kTLS socket |
//! | metrics | [`metrics`] | per-worker counters bumped where events happen; Prometheus text on the admin listener's own thread |
//! | unsafe | [`sys`] | the only place with `unsafe`: ring submissions, the provided-buffer ring, pipes and splice(2), raw fds, kTLS setsockopt/cmsg |
//!
//! Benchmark tools: [`loadgen`] (`ringress-load`, `ringress-sink`).
#![deny(unsafe_code)]

// The sans-IO core, under the paths the driver has always used.
pub use ringress_core::{
    access_log, balance, conn, health, mqtt, proxy_out, proxy_protocol, rate_limit, relay, route,
    slab, timer,
};

pub mod config;
pub mod metrics;
pub mod runtime;
pub mod sys;
pub mod tls;
pub mod worker;
