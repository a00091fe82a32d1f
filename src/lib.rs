//! ringress: a thread-per-core io_uring ingress proxy for MQTT.
//!
//! # Layout
//!
//! The modules follow the data path of one connection:
//!
//! | step | module | what happens there |
//! |---|---|---|
//! | start-up | [`config`], [`runtime`] | validate the config, probe io_uring, bind one SO_REUSEPORT socket per listener per worker, spawn workers, wait for signals |
//! | worker | [`worker`] | one thread, one io_uring ring, one connection slab; the event loop |
//! | accept | [`worker`] (accept handling) | multishot accept, `max_connections`, EMFILE back-off |
//! | stages | [`conn`] | a connection's life as stages that only move forward |
//! | tls | [`tls`] | per-route `rustls::ServerConfig` built at load: certificate, client CA/CRLs, versions, ALPN |
//! | route | [`route`] | SNI → route table (exact, then one-label wildcard), no allocation per lookup |
//! | upstream | [`upstream`] | choose a server, connect with a linked timeout, fail over |
//! | relay | [`relay`] | sans-IO per-direction state machine: recv → send → recv, half-close |
//! | timers | [`timer`] | a lazy timer wheel for idle timeouts |
//! | close | [`access_log`] | one line per connection with the termination cause |
//! | unsafe | [`sys`] | the only place with `unsafe`: ring submissions, the provided-buffer ring, raw fds |
#![deny(unsafe_code)]

pub mod access_log;
pub mod config;
pub mod conn;
pub mod loadgen;
pub mod proxy_out;
pub mod proxy_protocol;
pub mod relay;
pub mod route;
pub mod runtime;
mod slab;
pub mod sys;
pub mod timer;
pub mod tls;
pub mod worker;
