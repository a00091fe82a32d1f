//! One io_uring per worker, with everything the kernel may read or write on its behalf.
//!
//! The ring owns the memory that in-flight operations point at — the provided-buffer ring,
//! the backend addresses for `connect`, the timespecs for timeouts — so every method here is
//! safe: no caller can hand the kernel a pointer that dies before the completion arrives.
//! `uring` is declared first in [`Ring`] so it is dropped (and the kernel's view of the
//! memory torn down) before the memory itself.

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::Duration;

use io_uring::{IoUring, cqueue, opcode, squeue, types};
use socket2::SockAddr;

use super::buf_ring::{Buf, BufRing, Buffers};

/// Submission queue entries per ring. Each connection has at most four operations in flight
/// (a recv and a send per direction) and completions are reaped every loop, so 4096 SQEs
/// absorb a burst of 1,000 ready connections without an extra `io_uring_enter`.
const SQ_ENTRIES: u32 = 4096;
/// Completion queue size: 4× the SQ because a multishot accept can post many CQEs per SQE.
const CQ_ENTRIES: u32 = 4 * SQ_ENTRIES;
/// Buffer group id of the relay pool (one pool per ring).
const RELAY_BGID: u16 = 0;
/// Transmit buffers are this much larger than receive buffers, so one receive buffer of
/// plaintext always fits encrypted (TLS adds at most 22 bytes per 16 KiB record in 1.3 and
/// 29 in 1.2), or a PROXY header plus a receive buffer of bytes to replay.
pub(crate) const TX_HEADROOM: u32 = 2048;

/// A completion, copied out of the CQ so the ring can be used while handling it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Completion {
    pub(crate) user_data: u64,
    pub(crate) result: i32,
    pub(crate) flags: u32,
}

impl Completion {
    /// True while a multishot operation stays armed after this completion.
    pub(crate) fn more(&self) -> bool {
        cqueue::more(self.flags)
    }

    /// The provided buffer the kernel picked for this completion, if any.
    pub(crate) fn buffer_id(&self) -> Option<u16> {
        cqueue::buffer_select(self.flags)
    }
}

/// Index of a registered connect target (see [`Ring::register_target`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TargetId(u32);

/// Index of a registered duration (see [`Ring::register_duration`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DurationId(u32);

pub(crate) struct Ring {
    uring: IoUring,
    bufs: Buffers,
    /// Socket addresses `connect` points the kernel at; never shrinks while the ring lives.
    /// Boxed so an address does not move when the Vec grows.
    #[allow(clippy::vec_box)]
    targets: Vec<Box<SockAddr>>,
    /// Timespecs timeouts point the kernel at; boxed for the same reason.
    #[allow(clippy::vec_box)]
    durations: Vec<Box<types::Timespec>>,
    /// Transmit vectors the kernel is receiving into ([`Ring::recv_into`]), by the recv's
    /// `user_data`, until [`Ring::take_received`] hands them back at its completion.
    receiving: hashbrown::HashMap<u64, Vec<u8>>,
    /// Buffers the kernel is sending from ([`Ring::send`]), by the send's `user_data`, until
    /// [`Ring::take_sent`] hands them back at its completion: a buffer cannot be recycled,
    /// reused or freed while the kernel reads it.
    sending: hashbrown::HashMap<u64, Buf>,
}

impl Drop for Ring {
    fn drop(&mut self) {
        // A recv still in flight may be written by the kernel while the ring tears down
        // asynchronously: leak its memory rather than free it. (Workers stop only with no
        // connection left, so this is empty in practice.)
        for (_, v) in self.receiving.drain() {
            std::mem::forget(v);
        }
        // Likewise a send may still be reading its buffer.
        for (_, buf) in self.sending.drain() {
            std::mem::forget(buf);
        }
    }
}

impl Ring {
    /// Sets up a ring for one worker thread; must be called on that thread.
    ///
    /// SINGLE_ISSUER + DEFER_TASKRUN (6.1+) keep completion work on our own thread, at the
    /// moment we ask for completions, instead of interrupting it; COOP_TASKRUN (5.19+) is the
    /// fallback. Older kernels get a plain ring.
    pub(crate) fn new(relay_buffers: u32, relay_buffer_size: u32) -> io::Result<Ring> {
        let attempts: [fn(&mut io_uring::Builder); 3] = [
            |b| {
                b.setup_single_issuer().setup_defer_taskrun();
            },
            |b| {
                b.setup_coop_taskrun();
            },
            |_| {},
        ];
        let mut last_err = None;
        for configure in attempts {
            let mut builder = IoUring::builder();
            builder.setup_cqsize(CQ_ENTRIES).setup_clamp();
            configure(&mut builder);
            match builder.build(SQ_ENTRIES) {
                Ok(uring) => {
                    let rx = BufRing::new(&uring, RELAY_BGID, relay_buffers, relay_buffer_size)?;
                    let bufs = Buffers::new(rx, (relay_buffer_size + TX_HEADROOM) as usize);
                    return Ok(Ring {
                        uring,
                        bufs,
                        targets: Vec::new(),
                        durations: Vec::new(),
                        receiving: hashbrown::HashMap::new(),
                        sending: hashbrown::HashMap::new(),
                    });
                }
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("io_uring setup failed")))
    }

    /// Keeps `addr` for the ring's lifetime so `connect` can point the kernel at it.
    pub(crate) fn register_target(&mut self, addr: SocketAddr) -> TargetId {
        self.targets.push(Box::new(SockAddr::from(addr)));
        TargetId(self.targets.len() as u32 - 1)
    }

    /// Keeps a timespec for the ring's lifetime so timeouts can point the kernel at it.
    pub(crate) fn register_duration(&mut self, d: Duration) -> DurationId {
        let ts = types::Timespec::new()
            .sec(d.as_secs())
            .nsec(d.subsec_nanos());
        self.durations.push(Box::new(ts));
        DurationId(self.durations.len() as u32 - 1)
    }

    pub(crate) fn bufs(&self) -> &Buffers {
        &self.bufs
    }

    pub(crate) fn bufs_mut(&mut self) -> &mut Buffers {
        &mut self.bufs
    }

    /// Queues entries, submitting first if the SQ is full.
    fn push(&mut self, entries: &[squeue::Entry]) {
        loop {
            // SAFETY: every entry built in this module points only at memory owned by `self`
            // (targets, durations, the buffer ring), which outlives the ring's operations, or
            // at nothing at all. Buffers referenced by sends and `recv_into`s are held in
            // `sending`/`receiving` until their completions (see `send`, `recv_into`).
            let pushed = unsafe { self.uring.submission().push_multiple(entries) };
            if pushed.is_ok() {
                return;
            }
            // The SQ is full: hand what is queued to the kernel and retry. An error here
            // (EBUSY with a full CQ) resolves itself when the caller reaps completions, but we
            // cannot return to the caller with the entry unqueued, so wait for one completion.
            if self.uring.submit().is_err() {
                let _ = self.uring.submit_and_wait(1);
            }
        }
    }

    /// Multishot accept: one SQE, one CQE per accepted connection until it stops (no MORE flag).
    pub(crate) fn accept_multi(&mut self, listen_fd: RawFd, user_data: u64) {
        let e = opcode::AcceptMulti::new(types::Fd(listen_fd))
            .flags(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
            .build()
            .user_data(user_data);
        self.push(&[e]);
    }

    /// Connect `fd` to a registered target, cancelled after a registered duration.
    /// Two CQEs arrive: `user_data` for the connect (-ECANCELED on timeout) and
    /// `timeout_user_data` for the timer.
    pub(crate) fn connect_with_timeout(
        &mut self,
        fd: RawFd,
        target: TargetId,
        timeout: DurationId,
        user_data: u64,
        timeout_user_data: u64,
    ) {
        let addr = &self.targets[target.0 as usize];
        let connect = opcode::Connect::new(types::Fd(fd), addr.as_ptr().cast(), addr.len())
            .build()
            .flags(squeue::Flags::IO_LINK)
            .user_data(user_data);
        let ts: *const types::Timespec = &*self.durations[timeout.0 as usize];
        let timer = opcode::LinkTimeout::new(ts)
            .build()
            .user_data(timeout_user_data);
        self.push(&[connect, timer]);
    }

    /// Receive into a buffer the kernel picks from the relay pool when data arrives, so an
    /// idle connection holds no buffer. `-ENOBUFS` means the pool was empty; nothing was read.
    pub(crate) fn recv(&mut self, fd: RawFd, user_data: u64) {
        self.recv_at_most(fd, 0, user_data);
    }

    /// Like [`recv`](Self::recv) but reads at most `max` bytes (0: a whole buffer), leaving
    /// room in the buffer for bytes the caller will put in front (a partial TLS record).
    pub(crate) fn recv_at_most(&mut self, fd: RawFd, max: u32, user_data: u64) {
        let e = opcode::Recv::new(types::Fd(fd), std::ptr::null_mut(), max)
            .buf_group(self.bufs.rx.group())
            .build()
            .flags(squeue::Flags::BUFFER_SELECT)
            .user_data(user_data);
        self.push(&[e]);
    }

    /// Receive into the spare capacity of a transmit buffer, after the bytes it holds: for a
    /// TLS stream whose last read ended inside a record, the new bytes land right after the
    /// record's start, with nothing moved. The ring owns `buf` until the completion; get it
    /// back with [`take_received`](Self::take_received) (also after a cancel or an error).
    /// `user_data` must be unique among this ring's `recv_into`s in flight.
    pub(crate) fn recv_into(&mut self, fd: RawFd, buf: Buf, user_data: u64) {
        let mut v = buf.into_tx().expect("recv_into needs a transmit buffer");
        let spare = (v.capacity() - v.len()).min(u32::MAX as usize) as u32;
        assert!(spare > 0, "recv_into a full buffer");
        let ptr = v.spare_capacity_mut().as_mut_ptr().cast::<u8>();
        let e = opcode::Recv::new(types::Fd(fd), ptr, spare)
            .build()
            .user_data(user_data);
        // The heap block does not move when the Vec itself moves into the map.
        let previous = self.receiving.insert(user_data, v);
        assert!(previous.is_none(), "two recv_into with one user_data");
        self.push(&[e]);
    }

    /// The buffer of a [`recv_into`](Self::recv_into) whose completion carried `user_data`
    /// and `result`, with the received bytes appended; `None` if there was no such recv.
    pub(crate) fn take_received(&mut self, user_data: u64, result: i32) -> Option<Buf> {
        let mut v = self.receiving.remove(&user_data)?;
        if result > 0 {
            let received = (result as usize).min(v.capacity() - v.len());
            // SAFETY: the completion says the kernel wrote `result` bytes starting at the old
            // length, inside the spare capacity `recv_into` offered (never more than that).
            unsafe { v.set_len(v.len() + received) };
        }
        Some(Buf::from_tx(v))
    }

    /// Send `buf[offset..len]`. The ring owns `buf` until the completion: get it back with
    /// [`take_sent`](Self::take_sent) (also after a cancel or an error), so nothing can
    /// recycle or free it while the kernel reads it. `user_data` must be unique among this
    /// ring's sends in flight.
    pub(crate) fn send(&mut self, fd: RawFd, buf: Buf, offset: u32, user_data: u64) {
        assert!(offset < buf.len(), "send of an empty range");
        let ptr = self.bufs.ptr(&buf).wrapping_add(offset as usize);
        let e = opcode::Send::new(types::Fd(fd), ptr, buf.len() - offset)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(user_data);
        // A transmit buffer's heap block, or a receive buffer's ring slot, does not move when
        // the token moves into the map.
        let previous = self.sending.insert(user_data, buf);
        assert!(previous.is_none(), "two sends with one user_data");
        self.push(&[e]);
    }

    /// The buffer of the [`send`](Self::send) whose completion carried `user_data`; `None` if
    /// there was no such send.
    pub(crate) fn take_sent(&mut self, user_data: u64) -> Option<Buf> {
        self.sending.remove(&user_data)
    }

    /// A one-shot timer for a registered duration (completes with -ETIME).
    pub(crate) fn timeout(&mut self, duration: DurationId, user_data: u64) {
        let ts: *const types::Timespec = &*self.durations[duration.0 as usize];
        let e = opcode::Timeout::new(ts).build().user_data(user_data);
        self.push(&[e]);
    }

    /// One-shot readiness for reading (used for the worker's wake-up eventfd).
    pub(crate) fn poll_readable(&mut self, fd: RawFd, user_data: u64) {
        self.poll(fd, libc::POLLIN as u32, user_data);
    }

    /// One-shot readiness: completes once with the ready events of `events` (plus POLLERR
    /// and POLLHUP, always reported) as its result.
    pub(crate) fn poll(&mut self, fd: RawFd, events: u32, user_data: u64) {
        let e = opcode::PollAdd::new(types::Fd(fd), events)
            .build()
            .user_data(user_data);
        self.push(&[e]);
    }

    /// Cancels every in-flight operation on `fd`. The cancel's own completion carries
    /// `user_data`; the cancelled operations complete with -ECANCELED.
    pub(crate) fn cancel_fd(&mut self, fd: RawFd, user_data: u64) {
        let e = opcode::AsyncCancel2::new(types::CancelBuilder::fd(types::Fd(fd)).all())
            .build()
            .user_data(user_data);
        self.push(&[e]);
    }

    /// Cancels the operation submitted with `target_user_data`.
    pub(crate) fn cancel_user_data(&mut self, target_user_data: u64, user_data: u64) {
        let e = opcode::AsyncCancel::new(target_user_data)
            .build()
            .user_data(user_data);
        self.push(&[e]);
    }

    /// Submits queued entries and waits for at least `want` completions.
    pub(crate) fn submit_and_wait(&mut self, want: usize) -> io::Result<()> {
        match self.uring.submit_and_wait(want) {
            Ok(_) => Ok(()),
            // Interrupted by a signal, or the CQ is full (EBUSY): reap and come back.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Moves up to `out.capacity()` completions into `out` (which is cleared first).
    pub(crate) fn reap(&mut self, out: &mut Vec<Completion>) {
        out.clear();
        let cq = self.uring.completion();
        for cqe in cq.take(out.capacity()) {
            out.push(Completion {
                user_data: cqe.user_data(),
                result: cqe.result(),
                flags: cqe.flags(),
            });
        }
    }
}

/// Checks that io_uring can be used at all (it is often blocked by container seccomp profiles)
/// and that the kernel has what the workers need (multishot accept and provided-buffer rings,
/// both 5.19+; probed by setting up a tiny ring with one buffer ring).
pub(crate) fn probe() -> io::Result<()> {
    let uring = IoUring::new(8)?;
    let bufs = BufRing::new(&uring, RELAY_BGID, 16, 4096)?;
    drop(uring);
    drop(bufs);
    Ok(())
}
