//! ringress's sans-IO core: everything a connection decides, with no sockets, no ring and no
//! `unsafe`. The proxy package (`ringress`) drives it from its io_uring workers.
//!
//! | step | module | what happens there |
//! |---|---|---|
//! | connection, stages | [`conn`] | all of a connection's state ([`conn::Connection`]); its life as stages that only move forward, each with its deadline; termination keywords |
//! | accept | [`rate_limit`] | per-source connection rate |
//! | ingress | [`ingress`] | PROXY-in → ClientHello and route → TLS handshake → CONNECT, as one sans-IO state machine |
//! | PROXY-in | [`proxy_protocol`] | the load balancer's v1/v2 header (parse and encode) |
//! | TLS/ClientHello | [`tls`] | ClientHello peek, rustls unbuffered handshake, our TLS 1.3 record layer, the post-handshake rules |
//! | route | [`route`] | SNI → route table (exact, then one-label wildcard), no allocation per lookup |
//! | CONNECT | [`mqtt`] | the CONNECT parser, CONNACK refusals, keep-alive |
//! | upstream + PROXY-out | [`upstream`], [`balance`], [`proxy_out`] | the server tried and the fail-over after a failed connect; choose a server; the header toward the broker |
//! | health checks | [`health`] | rise/fall, the shared up/down board, the MQTT check's CONNECT/CONNACK |
//! | relay | [`relay`] | per-direction state machines: copy (recv → send) and splice |
//! | timers | [`timer`] | a lazy timer wheel |
//! | close | [`access_log`] | one line per connection |
//! | storage | `slab` | the connection slab with generation-checked keys |
#![forbid(unsafe_code)]

pub mod access_log;
pub mod balance;
pub mod conn;
pub mod health;
pub mod ingress;
pub mod mqtt;
pub mod proxy_out;
pub mod proxy_protocol;
pub mod rate_limit;
pub mod relay;
pub mod route;
pub mod slab;
pub mod timer;
pub mod tls;
pub mod upstream;
