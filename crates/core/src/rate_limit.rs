//! `max_connection_rate_per_source`: a token bucket per client address, sans-IO.
//!
//! Each bucket is kept as one number, the GCRA "theoretical arrival time" (ITU-T I.371's
//! generic cell rate algorithm, the form of a token bucket that needs no refill step): a
//! connection at `now` passes if `tat - now <= burst_tolerance`, and then moves `tat` on by
//! one emission interval. A bucket whose `tat` is in the past is full, so forgetting it
//! changes nothing: those are the entries dropped when the table fills.
//!
//! One table per listener per worker (nothing shared between workers). Memory is bounded by
//! [`TABLE_CAPACITY`]; when the table holds that many active addresses, new addresses pass
//! unchecked (failing closed would let a spoofed-source flood lock out every new device).

use std::net::IpAddr;
use std::time::Duration;

use hashbrown::HashMap;

/// A connection rate: `connections` per `per`, in bursts of up to `connections`
/// (`max_connection_rate_per_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceRate {
    pub connections: u32,
    pub per: Duration,
}

/// Addresses tracked per listener per worker. An entry is 24 bytes plus hashbrown's control
/// byte, so a full table is about 2 MiB; 65536 active sources within one period is far past
/// what a per-source limit is for (that is a distributed flood).
pub const TABLE_CAPACITY: usize = 65_536;

/// When the table is full of active entries, look for stale ones at most this often: a
/// sweep walks the whole table.
const SWEEP_INTERVAL_US: u64 = 100_000;

/// What [`SourceLimiter::check`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Over the rate: refuse the connection.
    Refuse,
    /// The table is full of active sources: allowed without being counted.
    AllowUntracked,
}

/// One listener's buckets on one worker.
pub struct SourceLimiter {
    /// Microseconds one connection costs: `per / connections`.
    interval_us: u64,
    /// How far ahead of `now` a bucket's `tat` may be and still admit: `connections - 1`
    /// intervals, so a full bucket admits a burst of `connections`.
    tolerance_us: u64,
    /// Source key → theoretical arrival time, microseconds on the caller's clock.
    tat: HashMap<u128, u64>,
    capacity: usize,
    last_sweep_us: Option<u64>,
}

impl SourceLimiter {
    pub fn new(rate: SourceRate) -> SourceLimiter {
        SourceLimiter::with_capacity(rate, TABLE_CAPACITY)
    }

    fn with_capacity(rate: SourceRate, capacity: usize) -> SourceLimiter {
        let per_us = u64::try_from(rate.per.as_micros()).unwrap_or(u64::MAX);
        let connections = u64::from(rate.connections.max(1));
        // At least 1 µs, so a bucket always drains.
        let interval_us = (per_us / connections).max(1);
        SourceLimiter {
            interval_us,
            tolerance_us: interval_us.saturating_mul(connections - 1),
            tat: HashMap::new(),
            capacity,
            last_sweep_us: None,
        }
    }

    /// Counts a new connection from `ip` at `now_us` (a monotonic clock in microseconds).
    pub fn check(&mut self, ip: IpAddr, now_us: u64) -> Verdict {
        let key = source_key(ip);
        if let Some(tat) = self.tat.get_mut(&key) {
            let start = (*tat).max(now_us);
            if start - now_us > self.tolerance_us {
                return Verdict::Refuse;
            }
            *tat = start.saturating_add(self.interval_us);
            return Verdict::Allow;
        }
        if self.tat.len() >= self.capacity && !self.sweep(now_us) {
            return Verdict::AllowUntracked;
        }
        self.tat
            .insert(key, now_us.saturating_add(self.interval_us));
        Verdict::Allow
    }

    /// Drops full buckets (their `tat` has passed); true if that made room.
    fn sweep(&mut self, now_us: u64) -> bool {
        if self
            .last_sweep_us
            .is_some_and(|last| now_us < last.saturating_add(SWEEP_INTERVAL_US))
        {
            return false;
        }
        self.last_sweep_us = Some(now_us);
        self.tat.retain(|_, tat| *tat > now_us);
        self.tat.len() < self.capacity
    }

    pub fn len(&self) -> usize {
        self.tat.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tat.is_empty()
    }
}

/// The bucket an address counts against: an IPv4 address (also written IPv4-mapped, as a
/// dual-stack socket reports it) on its own, an IPv6 address by its /64 — a host is handed a
/// whole /64 and picks addresses in it freely (RFC 8981 temporary addresses).
fn source_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u128::from(v4.to_ipv6_mapped()),
            None => u128::from(v6) & !u128::from(u64::MAX),
        },
    }
}

/// Microseconds in `d`, saturating (for callers converting their clock).
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
