//! One line per connection at close, like HAProxy's: who, where, how much, how long, and why
//! it ended as a stable keyword. Emitted on the `access` tracing target so operators can route
//! or filter it (`RINGRESS_LOG=access=info,warn`).

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::conn::Termination;

/// Everything the line says about one connection.
pub struct CloseRecord<'a> {
    pub worker: usize,
    pub client: SocketAddr,
    pub listener: &'a str,
    pub backend: &'a str,
    /// The server the connection was relayed to (or last tried).
    pub server: Option<SocketAddr>,
    /// Client → server bytes delivered.
    pub bytes_in: u64,
    /// Server → client bytes delivered.
    pub bytes_out: u64,
    pub duration: Duration,
    pub termination: Termination,
}

/// Renders an optional address as `-` when absent, without allocating.
struct OrDash(Option<SocketAddr>);

impl fmt::Display for OrDash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(addr) => addr.fmt(f),
            None => f.write_str("-"),
        }
    }
}

pub fn log_close(record: &CloseRecord<'_>) {
    tracing::info!(
        target: "access",
        worker = record.worker,
        client = %record.client,
        listener = %record.listener,
        backend = %record.backend,
        server = %OrDash(record.server),
        bytes_in = record.bytes_in,
        bytes_out = record.bytes_out,
        duration_ms = record.duration.as_millis() as u64,
        termination = %record.termination,
        "close"
    );
}
