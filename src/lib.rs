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
//! | upstream + PROXY-out | `worker::upstream`, [`proxy_out`] | choose a server, connect with a linked timeout, fail over; HAProxy-compatible header |
//! | relay | [`relay`], `worker::relaying` | sans-IO per-direction state machine: recv → send → recv, half-close; userspace TLS records |
//! | timers | [`timer`] | a lazy timer wheel for handshake and idle timeouts |
//! | close | `worker::close`, [`access_log`] | cancel, wait for completions, close; one line per connection |
//! | kTLS | `worker::kernel_tls`, `sys::ktls` | hand established sessions to the kernel; control records on the kTLS socket |
//! | unsafe | [`sys`] | the only place with `unsafe`: ring submissions, the provided-buffer ring, raw fds, kTLS setsockopt/cmsg |
//!
//! Not yet on the data path (issue 6 building blocks, sans-IO and tested): [`balance`]
//! (weighted round-robin, least-connections, rendezvous hashing), [`health`] (rise/fall,
//! MQTT check packets). Benchmark tools: [`loadgen`]
//! (`ringress-load`, `ringress-sink`).
#![deny(unsafe_code)]

pub mod access_log;
pub mod balance;
pub mod config;
pub mod conn;
pub mod health;
pub mod loadgen;
pub mod mqtt;
pub mod proxy_out;
pub mod proxy_protocol;
pub mod rate_limit;
pub mod relay;
pub mod route;
pub mod runtime;
mod slab;
pub mod sys;
pub mod timer;
pub mod tls;
pub mod worker;
