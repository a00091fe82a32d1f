//! Counters keyed by label values that are only known when the event happens (a termination
//! keyword, a backend server), one set per worker, written by that worker alone.
//!
//! Keys fill the slots in order of first use and are never removed, so a lookup scans the
//! used slots and stops at the first empty one, where a new key goes. The sets stay small
//! (a few dozen keys: listeners × keywords seen), and they are touched once per connection
//! event, never per byte. A set that is full counts into [`CounterSet::dropped`] rather
//! than lose the increment silently.

use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;

use super::{CacheAligned, bump};

/// Keys a set can hold. Listeners × termination keywords seen is the largest user: a few
/// listeners × the ~20 keywords a real deployment produces, well under this.
pub(crate) const CAPACITY: usize = 128;

struct Slot<K> {
    /// Set once, by the owning worker, before the first increment of `count`.
    key: OnceLock<K>,
    count: AtomicU64,
}

pub(crate) struct CounterSet<K> {
    /// Aligned so that no other worker's counters share its first or last cache line.
    slots: Box<CacheAligned<[Slot<K>; CAPACITY]>>,
    dropped: AtomicU64,
}

impl<K: Copy + Eq> Default for CounterSet<K> {
    fn default() -> Self {
        CounterSet {
            slots: Box::new(CacheAligned(std::array::from_fn(|_| Slot {
                key: OnceLock::new(),
                count: AtomicU64::new(0),
            }))),
            dropped: AtomicU64::new(0),
        }
    }
}

impl<K: Copy + Eq> CounterSet<K> {
    /// Adds `n` to `key`'s counter. Only the owning worker may call this (see [`bump`]).
    pub(crate) fn add(&self, key: K, n: u64) {
        for slot in self.slots.0.iter() {
            match slot.key.get() {
                Some(k) if *k == key => return bump(&slot.count, n),
                Some(_) => continue,
                None => {
                    // The single writer found the first free slot: nobody else can fill it.
                    let _ = slot.key.set(key);
                    return bump(&slot.count, n);
                }
            }
        }
        bump(&self.dropped, n);
    }

    /// Every key used so far with its count (any thread).
    pub(crate) fn for_each(&self, mut f: impl FnMut(K, u64)) {
        for slot in self.slots.0.iter() {
            let Some(key) = slot.key.get() else { break };
            f(*key, slot.count.load(std::sync::atomic::Ordering::Relaxed));
        }
    }

    /// Increments that found the set full.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests;
