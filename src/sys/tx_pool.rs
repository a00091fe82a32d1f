//! The transmit pool: buffers for bytes the proxy itself produces — TLS records it encrypted,
//! handshake flights, PROXY headers, a ClientHello replayed to a pass-through backend.
//!
//! It grows in chunks of anonymous memory as the peak number of sends in flight needs, and
//! never shrinks or moves, so a send can point into it until its completion. Pages never
//! written never count toward RSS.

use std::io;

use super::buf_ring::Mmap;

/// Buffers per chunk: one chunk is allocated when the free list runs dry.
const CHUNK_BUFFERS: u32 = 64;
/// Ids are u32 but kept below this so a runaway can't map unbounded memory: 65,536 buffers
/// of ~34 KiB is 2.2 GiB per worker, far above two sends in flight per connection at the
/// connection counts one worker serves.
const MAX_BUFFERS: u32 = 1 << 16;

pub struct TxPool {
    chunks: Vec<Mmap>,
    free: Vec<u32>,
    buf_size: u32,
}

impl TxPool {
    pub fn new(buf_size: u32) -> TxPool {
        TxPool {
            chunks: Vec::new(),
            free: Vec::new(),
            buf_size,
        }
    }

    pub fn buf_size(&self) -> u32 {
        self.buf_size
    }

    /// A free buffer id; grows the pool when none is free.
    ///
    /// Panics only when the pool would pass `MAX_BUFFERS`, which bounded sends per
    /// connection make unreachable; mapping failure aborts like any allocation failure.
    pub fn alloc(&mut self) -> u32 {
        if let Some(id) = self.free.pop() {
            return id;
        }
        let first = self.chunks.len() as u32 * CHUNK_BUFFERS;
        assert!(
            first + CHUNK_BUFFERS <= MAX_BUFFERS,
            "transmit pool exhausted"
        );
        let chunk = Mmap::anonymous(CHUNK_BUFFERS as usize * self.buf_size as usize)
            .unwrap_or_else(|e: io::Error| panic!("cannot map transmit buffers: {e}"));
        self.chunks.push(chunk);
        self.free.extend((first + 1..first + CHUNK_BUFFERS).rev());
        first
    }

    pub fn free(&mut self, id: u32) {
        debug_assert!(!self.free.contains(&id));
        self.free.push(id);
    }

    /// Start of buffer `id`.
    pub fn ptr(&self, id: u32) -> *const u8 {
        let chunk = &self.chunks[(id / CHUNK_BUFFERS) as usize];
        let offset = (id % CHUNK_BUFFERS) as usize * self.buf_size as usize;
        chunk.ptr.wrapping_add(offset)
    }
}
