//! Counters of one load-generator thread. Each thread owns one [`Counters`] (written only by
//! that thread, read by the reporter), so the hot path is an uncontended relaxed add.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Why a connection failed; the JSON summary counts each cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    Bind,
    ConnectRefused,
    ConnectTimeout,
    Connect,
    TlsHandshake,
    Timeout,
    ClosedBeforeConnack,
    ConnackRefused,
    Protocol,
    ClosedWhileRunning,
}

impl Failure {
    pub const ALL: [Failure; 10] = [
        Failure::Bind,
        Failure::ConnectRefused,
        Failure::ConnectTimeout,
        Failure::Connect,
        Failure::TlsHandshake,
        Failure::Timeout,
        Failure::ClosedBeforeConnack,
        Failure::ConnackRefused,
        Failure::Protocol,
        Failure::ClosedWhileRunning,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Failure::Bind => "bind",
            Failure::ConnectRefused => "connect_refused",
            Failure::ConnectTimeout => "connect_timeout",
            Failure::Connect => "connect_error",
            Failure::TlsHandshake => "tls_handshake",
            Failure::Timeout => "setup_timeout",
            Failure::ClosedBeforeConnack => "closed_before_connack",
            Failure::ConnackRefused => "connack_refused",
            Failure::Protocol => "protocol_error",
            Failure::ClosedWhileRunning => "closed_while_running",
        }
    }
}

#[derive(Default)]
#[repr(align(128))]
pub struct Counters {
    /// Connections whose setup finished, well or not (the setup phase ends at N).
    pub attempts_done: AtomicU64,
    pub established: AtomicU64,
    pub handshakes: AtomicU64,
    pub messages: AtomicU64,
    pub bytes: AtomicU64,
    pub acks: AtomicU64,
    pub received: AtomicU64,
    pub received_bytes: AtomicU64,
    /// Latest end of a writer, nanoseconds after the start of the measured phase.
    pub run_end_ns: AtomicU64,
    pub failures: [AtomicU64; Failure::ALL.len()],
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub fn fail(&self, why: Failure) {
        self.failures[why as usize].fetch_add(1, Relaxed);
    }
}

/// A sum of every thread's counters at one moment.
#[derive(Clone, Copy, Debug, Default)]
pub struct Totals {
    pub attempts_done: u64,
    pub established: u64,
    pub handshakes: u64,
    pub messages: u64,
    pub bytes: u64,
    pub acks: u64,
    pub received: u64,
    pub received_bytes: u64,
    pub run_end_ns: u64,
    pub failures: [u64; Failure::ALL.len()],
}

impl Totals {
    pub fn sum(all: &[std::sync::Arc<Counters>]) -> Totals {
        let mut t = Totals::default();
        for c in all {
            t.attempts_done += c.attempts_done.load(Relaxed);
            t.established += c.established.load(Relaxed);
            t.handshakes += c.handshakes.load(Relaxed);
            t.messages += c.messages.load(Relaxed);
            t.bytes += c.bytes.load(Relaxed);
            t.acks += c.acks.load(Relaxed);
            t.received += c.received.load(Relaxed);
            t.received_bytes += c.received_bytes.load(Relaxed);
            t.run_end_ns = t.run_end_ns.max(c.run_end_ns.load(Relaxed));
            for (a, b) in t.failures.iter_mut().zip(c.failures.iter()) {
                *a += b.load(Relaxed);
            }
        }
        t
    }

    pub fn failed(&self) -> u64 {
        self.failures.iter().sum()
    }
}
