//! Benchmark tools: the `ringress-load` MQTT load generator and the `ringress-sink` MQTT
//! sink (issue 5). Not part of the proxy's data path; `perf/README.md` says how they are used.
//!
//! # Layout
//!
//! | file | what it does |
//! |---|---|
//! | [`options`] | `ringress-load` command line → a resolved [`options::Plan`] |
//! | [`run`] | one single-threaded tokio runtime per thread; phases, progress, JSON summary |
//! | [`client`] | one connection: bind, connect, TLS, CONNECT/CONNACK, publish/idle/subscribe/churn |
//! | [`coalesce`] | holds TLS records until a flush (`--records-per-write`) |
//! | [`tls`] | the rustls client config (suite, X25519, no resumption, `--insecure`) |
//! | `ringress_core::mqtt::frames` | the MQTT encoders and frame scanner (shared with the health check) |
//! | [`histogram`] | latency histograms (`hdrhistogram`, 1 % resolution) |
//! | [`stats`] | per-thread counters and failure causes |
//! | [`sink`] | `ringress-sink`: CONNACK/PUBACK/PINGRESP, discard or echo, counts |
//! | `ringress::sys::rusage` | `getrusage` (the workspace keeps `unsafe` in the proxy package's `sys`) |

pub mod client;
pub mod coalesce;
pub mod histogram;
pub mod options;
pub mod run;
pub mod sink;
pub mod stats;
pub mod tls;
