//! One line per connection at close, like HAProxy's: who, where, how much, how long, and why
//! it ended as a stable keyword. Emitted on the `access` tracing target so operators can route
//! or filter it (`RINGRESS_LOG=access=info,warn`).

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::conn::Termination;
use crate::tls::{ClientCert, TlsInfo};

/// Everything the line says about one connection.
pub struct CloseRecord<'a> {
    pub worker: usize,
    pub client: SocketAddr,
    /// The load balancer that relayed the client (`accept_proxy`), if any.
    pub proxied_by: Option<SocketAddr>,
    pub listener: &'a str,
    pub route: Option<&'a str>,
    pub sni: Option<&'a str>,
    pub backend: Option<&'a str>,
    /// The server the connection was relayed to (or last tried).
    pub server: Option<SocketAddr>,
    pub tls: Option<&'a TlsInfo>,
    /// `kernel` or `userspace` for terminated TLS.
    pub tls_offload: Option<&'static str>,
    /// Why `tls_offload = "auto"` stayed in userspace.
    pub offload_fallback: Option<&'static str>,
    /// PROXY header sent to the server: `none`, `v1`, `v2`, `v2-ssl`, `v2-ssl-cn`.
    pub proxy: &'static str,
    /// `splice` or `copy`: how bytes were relayed (absent if the connection never relayed).
    pub relay: Option<&'static str>,
    /// Client → server bytes delivered.
    pub bytes_in: u64,
    /// Server → client bytes delivered.
    pub bytes_out: u64,
    pub duration: Duration,
    pub termination: Termination,
}

impl Default for CloseRecord<'_> {
    fn default() -> Self {
        CloseRecord {
            worker: 0,
            client: SocketAddr::from(([0, 0, 0, 0], 0)),
            proxied_by: None,
            listener: "-",
            route: None,
            sni: None,
            backend: None,
            server: None,
            tls: None,
            tls_offload: None,
            offload_fallback: None,
            proxy: "none",
            relay: None,
            bytes_in: 0,
            bytes_out: 0,
            duration: Duration::ZERO,
            termination: Termination::Internal,
        }
    }
}

/// Renders an optional value as `-` when absent, without allocating.
struct Opt<T>(Option<T>);

impl<T: fmt::Display> fmt::Display for Opt<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str("-"),
        }
    }
}

/// ALPN protocol ids are bytes; print them as text when they are (`mqtt`), else `-`.
struct Alpn<'a>(Option<&'a [u8]>);

impl fmt::Display for Alpn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.and_then(|a| std::str::from_utf8(a).ok()) {
            Some(s) => f.write_str(s),
            None => f.write_str("-"),
        }
    }
}

pub fn log_close(record: &CloseRecord<'_>) {
    let tls = record.tls;
    let (cn, verify) = match tls.map(|t| &t.client_cert) {
        Some(ClientCert::Verified { cn }) => (cn.as_deref(), "ok"),
        Some(ClientCert::None) => (None, "none"),
        None => (None, "-"),
    };
    tracing::info!(
        target: "access",
        worker = record.worker,
        client = %record.client,
        proxied_by = %Opt(record.proxied_by),
        listener = %record.listener,
        sni = %Opt(record.sni),
        route = %Opt(record.route),
        backend = %Opt(record.backend),
        server = %Opt(record.server),
        tls_version = %Opt(tls.map(|t| t.version)),
        cipher = %Opt(tls.map(|t| t.cipher)),
        alpn = %Alpn(tls.and_then(|t| t.alpn.as_deref())),
        client_cn = %Opt(cn),
        client_verify = %verify,
        tls_offload = %Opt(record.tls_offload),
        offload_fallback = %Opt(record.offload_fallback),
        proxy = %record.proxy,
        relay = %Opt(record.relay),
        bytes_in = record.bytes_in,
        bytes_out = record.bytes_out,
        duration_ms = record.duration.as_millis() as u64,
        termination = %record.termination,
        "close"
    );
}
