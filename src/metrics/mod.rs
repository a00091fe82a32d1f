//! Operational metrics: counters the workers bump where events happen, summed across workers
//! when scraped, and exposed in the Prometheus text format on the optional admin listener.
//!
//! Nothing is shared on the hot path: each worker owns its [`WorkerCounters`] and is the only
//! thread that writes them, so an increment is a plain load and store of a relaxed atomic
//! (no locked read-modify-write), on cache lines no other worker writes. The scraper, on the
//! admin thread, only reads. Gauges that already exist for other reasons (open connections
//! per listener, for `max_connections`) are read where they live.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the registry ([`Metrics`]) and the per-worker counters with their events |
//! | `counter_set.rs` | counters keyed by label values known only at the event (keywords, servers) |
//! | `backend.rs` | per-server health state for health checks to publish (`ringress_server_up`) |
//! | `text.rs` | the Prometheus text format 0.0.4 writer |
//! | `scrape.rs` | what `GET /metrics` shows: every family, summed across workers |
//! | `http.rs` | the admin listener: a small blocking HTTP/1.x server on its own thread |

mod backend;
mod counter_set;
pub(crate) mod http;
mod scrape;
mod text;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) use backend::Backends;
pub(crate) use counter_set::CounterSet;
pub use scrape::render;

use crate::config::Config;
use crate::conn::{Side, Termination};

/// Keeps what it holds on cache lines of its own (x86-64 and most arm64 lines are 64 bytes).
#[repr(align(64))]
pub(crate) struct CacheAligned<T>(pub T);

/// Adds `n` to a counter that only the calling thread writes: a relaxed load and store, which
/// compile to plain moves, where `fetch_add` would be a locked instruction. Readers on other
/// threads see each value whole (the atomics guarantee that) and eventually the latest.
#[inline]
pub(crate) fn bump(counter: &AtomicU64, n: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

/// All metrics of the process: one block of counters per worker, and the backend servers'
/// health registry. Lives in [`crate::worker::Shared`].
pub struct Metrics {
    workers: Box<[WorkerCounters]>,
    /// Health of each backend server, published by health checks (see [`Backends`]).
    pub(crate) backends: Backends,
}

impl Metrics {
    pub(crate) fn new(config: &Config) -> Metrics {
        let workers = (0..config.runtime.workers)
            .map(|_| WorkerCounters::new(config.listeners.len()))
            .collect();
        Metrics {
            workers,
            backends: Backends::new(config),
        }
    }

    /// Worker `id`'s counters; only worker `id` may write them.
    pub fn worker(&self, id: usize) -> &WorkerCounters {
        &self.workers[id]
    }

    pub(crate) fn workers(&self) -> &[WorkerCounters] {
        &self.workers
    }
}

/// Per listener, one cache line of fixed counters: the events every connection has.
#[derive(Clone, Copy)]
#[repr(usize)]
pub(crate) enum Fixed {
    Accepted = 0,
    /// Client → server payload (the access log's `bytes_in`).
    BytesIn = 1,
    /// Server → client payload (`bytes_out`).
    BytesOut = 2,
    /// TLS handshakes completed (terminate listeners).
    Handshakes = 3,
    OffloadKernel = 4,
    OffloadUserspace = 5,
}

/// A listener's fixed counters: 8 × 8 bytes, one cache line.
pub(crate) type ListenerLine = CacheAligned<[AtomicU64; 8]>;

/// One worker's counters. Written only by that worker (see [`bump`]); read by the scraper.
pub struct WorkerCounters {
    per_listener: Box<[ListenerLine]>,
    /// (listener, termination keyword): every connection closed, including refused ones.
    pub(crate) closed: CounterSet<(u16, &'static str)>,
    /// (listener, termination keyword): closed at accept, before reading anything.
    pub(crate) refused: CounterSet<(u16, &'static str)>,
    /// (listener, errno name): failed accepts (the listener pauses briefly after each).
    pub(crate) accept_errors: CounterSet<(u16, &'static str)>,
    /// (listener, termination keyword): TLS handshakes that ended before completing.
    pub(crate) handshake_failures: CounterSet<(u16, &'static str)>,
    /// (listener, reason): `tls_offload = "auto"` sessions kept in userspace.
    pub(crate) offload_fallbacks: CounterSet<(u16, &'static str)>,
    /// (backend, server): connects that succeeded.
    pub(crate) backend_connects: CounterSet<(u16, SocketAddr)>,
    /// (backend, server, cause keyword): connect attempts that failed.
    pub(crate) backend_connect_failures: CounterSet<(u16, SocketAddr, &'static str)>,
}

impl WorkerCounters {
    fn new(listeners: usize) -> WorkerCounters {
        WorkerCounters {
            per_listener: (0..listeners)
                .map(|_| CacheAligned(std::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
            closed: CounterSet::default(),
            refused: CounterSet::default(),
            accept_errors: CounterSet::default(),
            handshake_failures: CounterSet::default(),
            offload_fallbacks: CounterSet::default(),
            backend_connects: CounterSet::default(),
            backend_connect_failures: CounterSet::default(),
        }
    }

    fn fixed(&self, listener: u16, which: Fixed, n: u64) {
        if let Some(line) = self.per_listener.get(listener as usize) {
            bump(&line.0[which as usize], n);
        }
    }

    pub(crate) fn fixed_value(&self, listener: usize, which: Fixed) -> u64 {
        self.per_listener
            .get(listener)
            .map_or(0, |line| line.0[which as usize].load(Ordering::Relaxed))
    }

    /// Label-set increments lost because a set was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.closed.dropped()
            + self.refused.dropped()
            + self.accept_errors.dropped()
            + self.handshake_failures.dropped()
            + self.offload_fallbacks.dropped()
            + self.backend_connects.dropped()
            + self.backend_connect_failures.dropped()
    }

    // ---- events, one call where each happens ----

    /// A connection was accepted (before `max_connections` is checked).
    pub(crate) fn accepted(&self, listener: u16) {
        self.fixed(listener, Fixed::Accepted, 1);
    }

    /// A connection closed at accept without being served (`limit_reached`,
    /// `proxy_untrusted`); it is counted as closed too, where it closes.
    pub(crate) fn refused(&self, listener: u16, cause: Termination) {
        self.refused.add((listener, cause.keyword()), 1);
    }

    /// accept(2) failed with `errno`.
    pub(crate) fn accept_error(&self, listener: u16, errno: i32) {
        self.accept_errors.add((listener, errno_keyword(errno)), 1);
    }

    /// A connection was closed, with the cause the access log gives.
    pub fn closed(&self, listener: u16, cause: Termination) {
        self.closed.add((listener, cause.keyword()), 1);
    }

    /// A TLS handshake ended before completing (including the ClientHello and routing).
    pub(crate) fn handshake_failed(&self, listener: u16, cause: Termination) {
        self.handshake_failures.add((listener, cause.keyword()), 1);
    }

    /// A TLS handshake completed.
    pub(crate) fn handshake_done(&self, listener: u16) {
        self.fixed(listener, Fixed::Handshakes, 1);
    }

    /// A completed session went to the kernel (kTLS) or stayed in userspace; `fallback`: why
    /// `tls_offload = "auto"` stayed in userspace.
    pub(crate) fn offload(
        &self,
        listener: u16,
        kernel: bool,
        fallback: Option<crate::access_log::OffloadFallback>,
    ) {
        let mode = if kernel {
            Fixed::OffloadKernel
        } else {
            Fixed::OffloadUserspace
        };
        self.fixed(listener, mode, 1);
        if let Some(reason) = fallback {
            self.offload_fallbacks.add((listener, reason.keyword()), 1);
        }
    }

    /// `n` payload bytes were read from `from` (plaintext, without TLS records or the PROXY
    /// header), on their way to the other side.
    #[inline]
    pub fn payload(&self, listener: u16, from: Side, n: u64) {
        let which = match from {
            Side::Client => Fixed::BytesIn,
            Side::Server => Fixed::BytesOut,
        };
        self.fixed(listener, which, n);
    }

    /// A connect to `server` of backend `backend` succeeded.
    pub(crate) fn backend_connected(&self, backend: u16, server: SocketAddr) {
        self.backend_connects.add((backend, server), 1);
    }

    /// A connect attempt to `server` failed (`connect_timeout`, `connect_refused`,
    /// `error:connect`); the next server may still succeed.
    pub(crate) fn backend_connect_failed(
        &self,
        backend: u16,
        server: SocketAddr,
        cause: Termination,
    ) {
        self.backend_connect_failures
            .add((backend, server, cause.keyword()), 1);
    }
}

/// A label value for an accept(2) errno: the ones the accept loop expects by name.
fn errno_keyword(errno: i32) -> &'static str {
    match errno {
        libc::EMFILE => "emfile",
        libc::ENFILE => "enfile",
        libc::ENOBUFS => "enobufs",
        libc::ENOMEM => "enomem",
        libc::ECONNABORTED => "econnaborted",
        _ => "other",
    }
}

#[cfg(test)]
mod tests;
