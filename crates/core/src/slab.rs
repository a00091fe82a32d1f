//! The per-worker connection table: slots addressed by index, with a generation so a late
//! completion or timer entry for a freed slot is recognised instead of hitting its successor.

/// A slot index plus the generation it had when the entry was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub index: u32,
    pub generation: u32,
}

/// Generations are stored in 24 bits of an io_uring `user_data` (see `worker::Token`).
pub const GENERATION_MASK: u32 = (1 << 24) - 1;

struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

pub struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Slab<T> {
    pub fn new() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    pub fn insert(&mut self, value: T) -> Key {
        self.len += 1;
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            slot.value = Some(value);
            return Key {
                index,
                generation: slot.generation,
            };
        }
        self.slots.push(Slot {
            generation: 0,
            value: Some(value),
        });
        Key {
            index: self.slots.len() as u32 - 1,
            generation: 0,
        }
    }

    #[cfg(test)]
    pub fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        slot.value.as_mut()
    }

    /// Takes the value out while keeping the slot (and key) reserved, so a handler can own
    /// the value and still borrow the rest of the worker. Give it back with [`restore`] or
    /// retire the key with [`release`].
    ///
    /// [`restore`]: Self::restore
    /// [`release`]: Self::release
    pub fn take(&mut self, key: Key) -> Option<T> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        slot.value.take()
    }

    pub fn restore(&mut self, key: Key, value: T) {
        let slot = &mut self.slots[key.index as usize];
        debug_assert!(slot.generation == key.generation && slot.value.is_none());
        slot.value = Some(value);
    }

    /// Retires a key whose value was taken: the slot becomes free and the key stale.
    pub fn release(&mut self, key: Key) {
        let slot = &mut self.slots[key.index as usize];
        debug_assert!(slot.generation == key.generation && slot.value.is_none());
        slot.generation = (slot.generation + 1) & GENERATION_MASK;
        self.free.push(key.index);
        self.len -= 1;
    }

    /// Removes the value and retires the key.
    #[cfg(test)]
    pub fn remove(&mut self, key: Key) -> Option<T> {
        let value = self.take(key)?;
        self.release(key);
        Some(value)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keys of every live entry (for shutdown).
    pub fn keys(&self) -> Vec<Key> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.value.is_some())
            .map(|(i, s)| Key {
                index: i as u32,
                generation: s.generation,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
