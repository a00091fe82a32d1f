//! A lazy hashed timer wheel for idle timeouts.
//!
//! Activity on a connection only stores a timestamp; the wheel is not touched. Each
//! connection has one entry at its earliest possible deadline; when the entry fires the worker
//! recomputes the real deadline from the timestamps and either closes the connection or puts
//! the entry back. So a busy connection costs O(1) per deadline period, not per byte, and a
//! million idle connections cost one `Vec` push each.

/// Milliseconds per wheel slot: idle timeouts are configured in seconds, and the worker's tick
/// timer runs at this period, so a timeout fires at most this late.
pub const RESOLUTION_MS: u64 = 100;
/// Slots in the wheel: 1024 × 100 ms ≈ 102 s horizon. Longer deadlines park at the horizon
/// and are re-checked there (one extra look per 102 s for a 10-minute timeout).
const SLOTS: usize = 1024;

pub struct TimerWheel<K> {
    slots: Vec<Vec<K>>,
    /// The next tick to expire.
    next_tick: u64,
    len: usize,
}

impl<K> Default for TimerWheel<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K> TimerWheel<K> {
    pub fn new() -> Self {
        TimerWheel {
            slots: (0..SLOTS).map(|_| Vec::new()).collect(),
            next_tick: 0,
            len: 0,
        }
    }

    /// Schedules `key` to come back from [`expire`](Self::expire) no earlier than `deadline_ms`
    /// (it may come back earlier than the real deadline only if that is past the horizon).
    pub fn insert(&mut self, deadline_ms: u64, key: K) {
        let tick = deadline_ms.div_ceil(RESOLUTION_MS);
        let tick = tick.clamp(self.next_tick, self.next_tick + SLOTS as u64 - 1);
        self.slots[(tick % SLOTS as u64) as usize].push(key);
        self.len += 1;
    }

    /// Moves every entry whose slot is at or before `now_ms` into `out`.
    pub fn expire(&mut self, now_ms: u64, out: &mut Vec<K>) {
        let now_tick = now_ms / RESOLUTION_MS;
        let mut visited = 0;
        while self.next_tick <= now_tick && visited < SLOTS {
            let slot = &mut self.slots[(self.next_tick % SLOTS as u64) as usize];
            self.len -= slot.len();
            out.append(slot);
            self.next_tick += 1;
            visited += 1;
        }
        // After a stall longer than the horizon every slot has been drained once.
        self.next_tick = self.next_tick.max(now_tick + 1);
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests;
