//! The per-worker buffer pools: the receive pool is an io_uring provided-buffer ring
//! (5.19+); the transmit pool (`tx_pool.rs`) holds bytes we produce.
//!
//! A `recv` names the pool instead of a buffer; the kernel takes a buffer only when data
//! arrives, so an idle connection holds none. The completion says which buffer it took; the
//! worker wraps that id in a [`Buf`] token, and gives it back with [`BufRing::recycle`] once the
//! bytes have been sent on. Buffer memory is anonymous `mmap`, so pages that were never used
//! never count toward RSS.

use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::IoUring;
use io_uring::types::BufRingEntry;

use super::tx_pool::TxPool;

/// Which pool a [`Buf`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    /// The provided-buffer ring: filled by a `recv` completion.
    Rx,
    /// The transmit pool: filled by us (encrypted records, PROXY headers, replayed bytes).
    Tx,
}

/// A buffer owned by one holder. Not `Copy` or `Clone`: while it exists the kernel does not
/// write into it (an Rx buffer is out of the ring; a Tx buffer is off the free list), and a
/// send in flight from it only reads it. Give it back with [`Buffers::recycle`].
#[derive(Debug)]
pub struct Buf {
    kind: PoolKind,
    id: u32,
    len: u32,
}

impl Buf {
    /// Bytes of data in the buffer.
    pub fn len(&self) -> u32 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn kind(&self) -> PoolKind {
        self.kind
    }
}

/// Both pools of a worker, owned by its ring (see `Ring`): the memory outlives every
/// operation that points into it.
pub struct Buffers {
    pub(super) rx: BufRing,
    pub(super) tx: TxPool,
}

impl Buffers {
    /// Takes ownership of ring buffer `bid` that a completion reported holding `len` bytes.
    /// Call exactly once per completion that carries a buffer id.
    pub fn take_rx(&mut self, bid: u16, len: u32) -> Buf {
        self.rx.take(bid, len)
    }

    /// A transmit buffer with room for [`Buffers::tx_capacity`] bytes, length 0.
    pub fn alloc_tx(&mut self) -> Buf {
        let id = self.tx.alloc();
        Buf {
            kind: PoolKind::Tx,
            id,
            len: 0,
        }
    }

    /// Bytes a transmit buffer holds.
    pub fn tx_capacity(&self) -> u32 {
        self.tx.buf_size()
    }

    /// Size of one receive buffer.
    pub fn rx_capacity(&self) -> u32 {
        self.rx.buf_size()
    }

    /// Receive buffers the kernel can still pick from.
    pub fn rx_available(&self) -> u32 {
        self.rx.available()
    }

    pub fn recycle(&mut self, buf: Buf) {
        match buf.kind {
            PoolKind::Rx => self.rx.recycle(buf),
            PoolKind::Tx => self.tx.free(buf.id),
        }
    }

    /// The data in `buf`.
    pub fn bytes<'a>(&'a self, buf: &'a Buf) -> &'a [u8] {
        // SAFETY: `ptr` is inside the owning pool's memory, which lives as long as `self`;
        // `buf` proves exclusive ownership of that region (no other token has the same id
        // and the kernel only reads it), and len ≤ capacity.
        unsafe { std::slice::from_raw_parts(self.ptr(buf), buf.len as usize) }
    }

    /// The whole capacity of `buf`, to write into (in-place decryption, encryption output,
    /// headers). Set the data length afterwards with [`Buffers::set_len`].
    pub fn space_mut<'a>(&'a self, buf: &'a mut Buf) -> &'a mut [u8] {
        let cap = self.capacity(buf);
        // SAFETY: as in `bytes`; `&mut Buf` is the only handle to this region, so the slice
        // is unique. Two different tokens never overlap (distinct ids), which is why `self`
        // can be shared while several buffers are borrowed at once.
        unsafe { std::slice::from_raw_parts_mut(self.ptr(buf) as *mut u8, cap as usize) }
    }

    pub fn set_len(&self, buf: &mut Buf, len: u32) {
        assert!(len <= self.capacity(buf), "buffer length beyond capacity");
        buf.len = len;
    }

    pub fn capacity(&self, buf: &Buf) -> u32 {
        match buf.kind {
            PoolKind::Rx => self.rx.buf_size(),
            PoolKind::Tx => self.tx.buf_size(),
        }
    }

    /// Start of `buf`'s memory (for `send`).
    pub(super) fn ptr(&self, buf: &Buf) -> *const u8 {
        match buf.kind {
            PoolKind::Rx => self.rx.ptr(buf.id),
            PoolKind::Tx => self.tx.ptr(buf.id),
        }
    }
}

pub struct BufRing {
    entries: Mmap,
    memory: Mmap,
    count: u16,
    buf_size: u32,
    bgid: u16,
    /// Our copy of the ring tail; published to the kernel with a release store.
    tail: u16,
    /// Buffers currently in the kernel's hands (in the ring).
    available: u32,
}

impl BufRing {
    /// Maps `count` buffers of `buf_size` bytes and registers them as group `bgid`.
    /// `count` must be a power of two ≤ 32768 (validated in config).
    pub fn new(uring: &IoUring, bgid: u16, count: u32, buf_size: u32) -> io::Result<BufRing> {
        if !count.is_power_of_two() || count > 32768 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "relay_buffers must be a power of two ≤ 32768",
            ));
        }
        let entries = Mmap::anonymous(count as usize * size_of::<BufRingEntry>())?;
        let memory = Mmap::anonymous(count as usize * buf_size as usize)?;
        // SAFETY: `entries` is page-aligned (mmap), large enough for `count` entries, and lives
        // in `self` until drop; the ring that reads it is dropped before us (see `Ring`), and
        // the kernel also drops its reference when the ring fd closes.
        unsafe {
            uring.submitter().register_buf_ring_with_flags(
                entries.ptr as u64,
                count as u16,
                bgid,
                0,
            )?;
        }
        let mut ring = BufRing {
            entries,
            memory,
            count: count as u16,
            buf_size,
            bgid,
            tail: 0,
            available: 0,
        };
        for bid in 0..count as u16 {
            ring.push_entry(bid);
        }
        ring.publish_tail();
        Ok(ring)
    }

    pub fn group(&self) -> u16 {
        self.bgid
    }

    pub fn buf_size(&self) -> u32 {
        self.buf_size
    }

    /// Buffers the kernel can still pick from.
    pub fn available(&self) -> u32 {
        self.available
    }

    /// Takes ownership of buffer `bid` that a completion reported holding `len` bytes.
    /// Call exactly once per completion that carries a buffer id.
    fn take(&mut self, bid: u16, len: u32) -> Buf {
        assert!(bid < self.count, "buffer id from the kernel out of range");
        self.available -= 1;
        Buf {
            kind: PoolKind::Rx,
            id: bid as u32,
            len: len.min(self.buf_size),
        }
    }

    /// Returns a buffer to the kernel.
    fn recycle(&mut self, buf: Buf) {
        self.push_entry(buf.id as u16);
        self.publish_tail();
    }

    /// Start of buffer `id` in the pool memory.
    fn ptr(&self, id: u32) -> *const u8 {
        self.memory
            .ptr
            .wrapping_add(id as usize * self.buf_size as usize)
    }

    fn push_entry(&mut self, bid: u16) {
        let mask = self.count - 1;
        let idx = (self.tail & mask) as usize;
        let addr = self.memory.ptr as u64 + bid as u64 * self.buf_size as u64;
        // SAFETY: idx < count, so the entry is inside the `entries` mapping; the kernel only
        // reads entries between its head and our published tail, and this one is past the
        // published tail until `publish_tail`.
        let entry = unsafe { &mut *(self.entries.ptr as *mut BufRingEntry).add(idx) };
        entry.set_addr(addr);
        entry.set_len(self.buf_size);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
        self.available += 1;
    }

    fn publish_tail(&self) {
        // SAFETY: the tail field overlays the first entry's `resv` field, inside `entries`;
        // the kernel reads it concurrently, hence the atomic release store (entries written
        // before are visible to the kernel once it sees the new tail).
        unsafe {
            let tail =
                BufRingEntry::tail(self.entries.ptr as *const BufRingEntry) as *const AtomicU16;
            (*tail).store(self.tail, Ordering::Release);
        }
    }
}

/// An anonymous private mapping, unmapped on drop.
pub(super) struct Mmap {
    pub(super) ptr: *mut u8,
    len: usize,
}

impl Mmap {
    pub(super) fn anonymous(len: usize) -> io::Result<Mmap> {
        // SAFETY: a fresh anonymous mapping aliases nothing; failure is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mmap {
            ptr: ptr.cast(),
            len,
        })
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: ptr/len came from a successful mmap and nothing refers to the mapping any
        // more (the ring that used it is dropped first, with no operations in flight).
        unsafe {
            libc::munmap(self.ptr.cast(), self.len);
        }
    }
}
