//! The per-worker buffers: the receive pool is an io_uring provided-buffer ring (5.19+);
//! transmit buffers are reused vectors for bytes the proxy produces.
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

/// A buffer owned by one holder. Not `Copy` or `Clone`: while it exists the kernel does not
/// write into it, and a send in flight from it only reads it. Give it back with
/// [`Buffers::recycle`] once no operation uses it any more.
#[derive(Debug)]
pub(crate) struct Buf(Inner);

#[derive(Debug)]
enum Inner {
    /// A provided-ring buffer a `recv` completion filled: out of the ring until recycled.
    Rx { id: u16, len: u32 },
    /// Bytes the proxy produced (encrypted records, handshake flights, PROXY headers,
    /// replayed ClientHellos). The heap block does not move while the token holds it.
    Tx(Vec<u8>),
}

impl Buf {
    /// Bytes of data in the buffer.
    pub(crate) fn len(&self) -> u32 {
        match &self.0 {
            Inner::Rx { len, .. } => *len,
            Inner::Tx(v) => v.len() as u32,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The vector of a transmit buffer (for a recv into its spare capacity).
    pub(super) fn into_tx(self) -> Option<Vec<u8>> {
        match self.0 {
            Inner::Tx(v) => Some(v),
            Inner::Rx { .. } => None,
        }
    }

    pub(super) fn from_tx(v: Vec<u8>) -> Buf {
        Buf(Inner::Tx(v))
    }

    /// Whether this buffer came from the transmit pool.
    pub(crate) fn is_tx(&self) -> bool {
        matches!(self.0, Inner::Tx(_))
    }

    /// The bytes of a transmit buffer, to append to (before it is sent).
    pub(crate) fn tx_mut(&mut self) -> Option<&mut Vec<u8>> {
        match &mut self.0 {
            Inner::Tx(v) => Some(v),
            Inner::Rx { .. } => None,
        }
    }
}

/// Transmit vectors kept for reuse, so steady-state relaying does not allocate.
const TX_FREE_LIST: usize = 1024;
/// A transmit vector that grew past this is freed rather than kept.
const TX_KEEP_CAPACITY: usize = 64 * 1024;

impl ringress_core::relay::RelayBuf for Buf {
    fn len(&self) -> u32 {
        Buf::len(self)
    }
}

/// Both pools of a worker, owned by its ring (see `Ring`).
pub(crate) struct Buffers {
    pub(super) rx: BufRing,
    tx_free: Vec<Vec<u8>>,
    tx_capacity: usize,
}

impl Buffers {
    pub(super) fn new(rx: BufRing, tx_capacity: usize) -> Buffers {
        Buffers {
            rx,
            tx_free: Vec::new(),
            tx_capacity,
        }
    }

    /// Takes ownership of ring buffer `bid` that a completion reported holding `len` bytes.
    /// Call exactly once per completion that carries a buffer id.
    pub(crate) fn take_rx(&mut self, bid: u16, len: u32) -> Buf {
        self.rx.take(bid, len)
    }

    /// An empty transmit buffer with room for a receive buffer's worth of bytes plus TLS
    /// overhead (it grows if more is appended).
    pub(crate) fn alloc_tx(&mut self) -> Buf {
        let v = self
            .tx_free
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(self.tx_capacity));
        Buf(Inner::Tx(v))
    }

    /// A transmit buffer holding a copy of `bytes`.
    pub(crate) fn tx_from(&mut self, bytes: &[u8]) -> Buf {
        let mut buf = self.alloc_tx();
        if let Some(v) = buf.tx_mut() {
            v.extend_from_slice(bytes);
        }
        buf
    }

    /// Size of one receive buffer.
    pub(crate) fn rx_capacity(&self) -> u32 {
        self.rx.buf_size()
    }

    /// Receive buffers the kernel can still pick from.
    pub(crate) fn rx_available(&self) -> u32 {
        self.rx.available()
    }

    /// Gives a buffer back: to the kernel's ring, or to the transmit free list.
    pub(crate) fn recycle(&mut self, buf: Buf) {
        match buf.0 {
            Inner::Rx { id, .. } => self.rx.recycle(id),
            Inner::Tx(mut v) => {
                if self.tx_free.len() < TX_FREE_LIST && v.capacity() <= TX_KEEP_CAPACITY {
                    v.clear();
                    self.tx_free.push(v);
                }
            }
        }
    }

    /// The data in `buf`.
    pub(crate) fn bytes<'a>(&'a self, buf: &'a Buf) -> &'a [u8] {
        match &buf.0 {
            Inner::Tx(v) => v,
            Inner::Rx { id, len } => {
                // SAFETY: the range is inside the ring's memory (id < count, len ≤ buf_size),
                // which lives as long as `self`; the token proves the buffer is out of the
                // ring, so the kernel is not writing it.
                unsafe { std::slice::from_raw_parts(self.rx.ptr(*id), *len as usize) }
            }
        }
    }

    /// The whole capacity of a receive buffer, to work in place (TLS decryption, putting held
    /// bytes in front of new ones). Set the data length afterwards with [`Buffers::set_rx_len`].
    pub(crate) fn rx_space_mut<'a>(&'a self, buf: &'a mut Buf) -> &'a mut [u8] {
        match &mut buf.0 {
            Inner::Tx(v) => v,
            Inner::Rx { id, .. } => {
                // SAFETY: as in `bytes`; `&mut Buf` is the only handle to this region, and two
                // tokens never share an id, so the slice is unique although `self` is shared.
                unsafe {
                    std::slice::from_raw_parts_mut(
                        self.rx.ptr(*id) as *mut u8,
                        self.rx.buf_size() as usize,
                    )
                }
            }
        }
    }

    /// Sets how many bytes of a receive buffer are data (a transmit buffer can only shrink).
    pub(crate) fn set_rx_len(&self, buf: &mut Buf, new_len: u32) {
        match &mut buf.0 {
            Inner::Rx { len, .. } => {
                assert!(new_len <= self.rx.buf_size(), "length beyond the buffer");
                *len = new_len;
            }
            Inner::Tx(v) => v.truncate(new_len as usize),
        }
    }

    /// Start of `buf`'s data (for `send`).
    pub(super) fn ptr(&self, buf: &Buf) -> *const u8 {
        match &buf.0 {
            Inner::Rx { id, .. } => self.rx.ptr(*id),
            Inner::Tx(v) => v.as_ptr(),
        }
    }
}

pub(crate) struct BufRing {
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
    pub(crate) fn new(
        uring: &IoUring,
        bgid: u16,
        count: u32,
        buf_size: u32,
    ) -> io::Result<BufRing> {
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

    pub(crate) fn group(&self) -> u16 {
        self.bgid
    }

    pub(crate) fn buf_size(&self) -> u32 {
        self.buf_size
    }

    /// Buffers the kernel can still pick from.
    pub(crate) fn available(&self) -> u32 {
        self.available
    }

    /// Takes ownership of buffer `bid` that a completion reported holding `len` bytes.
    /// Call exactly once per completion that carries a buffer id.
    fn take(&mut self, bid: u16, len: u32) -> Buf {
        assert!(bid < self.count, "buffer id from the kernel out of range");
        self.available -= 1;
        Buf(Inner::Rx {
            id: bid,
            len: len.min(self.buf_size),
        })
    }

    /// Returns a buffer to the kernel.
    fn recycle(&mut self, id: u16) {
        self.push_entry(id);
        self.publish_tail();
    }

    /// Start of buffer `id` in the pool memory.
    fn ptr(&self, id: u16) -> *const u8 {
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
