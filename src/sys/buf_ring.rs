//! The per-worker relay buffer pool: an io_uring provided-buffer ring (5.19+).
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

/// A buffer taken out of the pool by a completion. Not `Copy` or `Clone`: exactly one owner,
/// and while it exists the kernel will not write into the buffer.
#[derive(Debug)]
pub struct Buf {
    bid: u16,
    len: u32,
}

impl Buf {
    /// Bytes the completion put in the buffer.
    pub fn len(&self) -> u32 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
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
    pub fn take(&mut self, bid: u16, len: u32) -> Buf {
        debug_assert!(bid < self.count && len <= self.buf_size);
        self.available -= 1;
        Buf {
            bid,
            len: len.min(self.buf_size),
        }
    }

    /// Returns a buffer to the kernel.
    pub fn recycle(&mut self, buf: Buf) {
        self.push_entry(buf.bid);
        self.publish_tail();
    }

    /// The bytes a completion put in `buf`.
    pub fn bytes(&self, buf: &Buf) -> &[u8] {
        // SAFETY: `buf` proves we own buffer `bid` (it left the ring and has not been
        // recycled), so the kernel is not writing it; a send in flight only reads it. The
        // range is inside `memory` because bid < count and len ≤ buf_size.
        unsafe { std::slice::from_raw_parts(self.ptr(buf), buf.len as usize) }
    }

    /// Start of buffer `buf` in the pool memory (for `send`).
    pub fn ptr(&self, buf: &Buf) -> *const u8 {
        self.memory
            .ptr
            .wrapping_add(buf.bid as usize * self.buf_size as usize)
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
struct Mmap {
    ptr: *mut u8,
    len: usize,
}

impl Mmap {
    fn anonymous(len: usize) -> io::Result<Mmap> {
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
