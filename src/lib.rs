//! ringress: a thread-per-core io_uring ingress proxy for MQTT.
//!
//! # Layout
//!
//! Three packages. `ringress-core` (crates/core) is everything a connection decides, sans-IO
//! and `#![forbid(unsafe_code)]`; this package, `ringress`, is the driver around it (the
//! rings, sockets, config, metrics) and the only place with `unsafe` (`sys`);
//! `ringress-bench` (crates/bench) holds the benchmark tools, so tokio stays out of the
//! proxy's dependency tree. The core is re-exported here under the paths the driver uses.
//!
//! Along the data path of one connection (C: in the core, P: in this package):
//!
//! | step | where | what happens there |
//! |---|---|---|
//! | start-up | P [`config`], [`runtime`], `tls::server_config` | validate the config (certificates, route tables) and build the rustls server configs, probe io_uring, bind one SO_REUSEPORT socket per listener per worker, spawn workers, wait for signals |
//! | worker | P [`worker`] | one thread, one io_uring ring, one connection slab (C `slab`); the event loop |
//! | connection | C [`conn`] (`Connection`), P `worker::submit` | all of one connection's state in one core type: the stage (forward only), the client transport (plain, passthrough, userspace TLS, kernel TLS), sockets, times, the facts for the access log and the PROXY header, what a closing connection keeps; every ring operation of a connection submitted and counted in one place, sent buffers owned by the ring until their completion |
//! | accept | P `worker::accept`, C [`rate_limit`] | multishot accept, `max_connections`, per-source connection rate, EMFILE back-off |
//! | stages | C [`conn`] | a connection's life as stages that only move forward (`Ingress → Ready → Connecting → Relaying/Splicing → Closing`); each stage's deadline and health-mark rule; [`conn::Termination`], typed, with one keyword each |
//! | ingress | C [`ingress`], P `worker::ingress` | PROXY-in → ClientHello and route → TLS handshake → CONNECT as one sans-IO state machine: client-socket events in, recv/send/done/close out; the worker answers its lookups (routes, backend health, rate limits) and carries out its actions |
//! | PROXY-in | C [`proxy_protocol`] | the load balancer's v1/v2 header |
//! | TLS/ClientHello | C [`tls`] | ClientHello peek, rustls unbuffered handshake, our TLS 1.3 record layer, the post-handshake rules shared with kTLS, wire constants once |
//! | route | C [`route`] | SNI → route table (exact, then one-label wildcard), no allocation per lookup |
//! | CONNECT | C [`mqtt`] | `mqtt = true`: the first packet checked by the CONNECT parser, refused with a CONNACK, client id/version/keep-alive kept; `mqtt::frames` is the one encoder of packets we send (health checks, benchmark tools) |
//! | upstream + PROXY-out | C [`upstream`], P `worker::upstream`, C [`balance`], [`proxy_out`] | choose a server (round-robin, least-connections, client id, source; weights, health), connect with a linked timeout, fail over; HAProxy-compatible header |
//! | health checks | P `worker::checks`, C [`health`] | worker 0 checks servers on its ring (tcp or MQTT CONNECT/CONNACK), rise/fall, a shared up/down board; shutdown-sessions |
//! | relay | C [`relay`], P `worker::relaying` | per-direction state machine: recv → send → recv, half-close; userspace TLS records |
//! | relay (splice) | C `relay::splice`, P `worker::splicing`, `sys::pipe` | `relay = "splice"`: readiness poll → splice(2) socket → pipe → socket, pipes lent per burst |
//! | kTLS | P `worker::kernel_tls`, `sys::ktls` | hand established sessions to the kernel; control records on the kTLS socket, by the core's post-handshake rules |
//! | timers | C [`timer`] | a lazy timer wheel for handshake and idle timeouts |
//! | close | P `worker::close`, C [`access_log`] | cancel, wait for completions, close; one line per connection |
//! | metrics | P [`metrics`] | per-worker counters bumped where events happen; Prometheus text on the admin listener's own thread |
//! | unsafe | P [`sys`] | the only place with `unsafe`: ring submissions, the provided-buffer ring, pipes and splice(2), raw fds, kTLS setsockopt/cmsg, getrusage for the tools |
//!
//! Unit tests: a module's child `tests`, in `module/tests.rs` or `module/tests/{topic}.rs`;
//! `tests/` runs the real binary against real peers.
#![deny(unsafe_code)]
// Everything here is `pub(crate)` except what the binary, the benchmark tools, the benches and
// the fuzzers use; the module docs are for the driver's readers and link to its private items
// (read them with `cargo doc --document-private-items`).
#![allow(rustdoc::private_intra_doc_links)]

// The sans-IO core, under the paths the driver has always used.
pub use ringress_core::{
    access_log, balance, conn, health, ingress, mqtt, proxy_out, proxy_protocol, rate_limit, relay,
    route, slab, timer, upstream,
};

pub mod config;
pub mod metrics;
pub mod runtime;
pub mod sys;
pub mod tls;
pub mod worker;
