//! Backend servers' health, as health checks see it: `ringress_server_up` and the number of
//! times each server was marked up or down.
//!
//! Nothing writes here yet: health checks are being built separately (issue 6, see
//! [`crate::health`]). Whoever runs them publishes each verdict with
//! [`ServerHealth::mark_up`] / [`ServerHealth::mark_down`]:
//!
//! ```ignore
//! shared.metrics.backends.server(backend, server).map(|s| s.mark_down());
//! ```
//!
//! A server nobody has judged yet has no `ringress_server_up` sample, so a dashboard does
//! not mistake "not checked" for "up". Writers may be any thread (a check thread, or each
//! worker for its own view): these are rare events, so they use ordinary atomic updates.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use crate::config::Config;

const UNKNOWN: u8 = 0;
const DOWN: u8 = 1;
const UP: u8 = 2;

/// One server's published health.
#[derive(Default)]
pub(crate) struct ServerHealth {
    state: AtomicU8,
    marked_up: AtomicU64,
    marked_down: AtomicU64,
}

impl ServerHealth {
    /// The server passed its checks (`rise` times). Counts a transition from down.
    pub(crate) fn mark_up(&self) {
        if self.state.swap(UP, Ordering::Relaxed) == DOWN {
            self.marked_up.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The server failed its checks (`fall` times). Counts a transition from up, and the
    /// first verdict when it is down (a server found dead at start-up is worth seeing).
    pub(crate) fn mark_down(&self) {
        if self.state.swap(DOWN, Ordering::Relaxed) != DOWN {
            self.marked_down.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `None` until a health check has judged the server.
    pub(crate) fn is_up(&self) -> Option<bool> {
        match self.state.load(Ordering::Relaxed) {
            UNKNOWN => None,
            state => Some(state == UP),
        }
    }

    /// Times marked up and down.
    pub(crate) fn marks(&self) -> (u64, u64) {
        (
            self.marked_up.load(Ordering::Relaxed),
            self.marked_down.load(Ordering::Relaxed),
        )
    }
}

/// Every configured backend's servers, indexed as in [`Config::backends`] and their
/// `servers` lists.
pub(crate) struct Backends {
    servers: Box<[Box<[ServerHealth]>]>,
}

impl Backends {
    pub(crate) fn new(config: &Config) -> Backends {
        Backends {
            servers: config
                .backends
                .iter()
                .map(|b| b.servers.iter().map(|_| ServerHealth::default()).collect())
                .collect(),
        }
    }

    /// Server `server` of backend `backend`, by config index.
    pub(crate) fn server(&self, backend: usize, server: usize) -> Option<&ServerHealth> {
        self.servers.get(backend)?.get(server)
    }
}

#[cfg(test)]
mod tests;
