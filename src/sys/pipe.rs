//! Pipes for the splice relay, and the splice(2) and write(2) calls that move bytes through
//! them: socket → pipe → socket without the bytes entering userspace.
//!
//! splice(2) is called directly, non-blocking, after io_uring reported readiness: the ring's
//! SPLICE opcode always runs on io-wq kernel threads (measured ~35 µs per ready splice vs
//! ~7 µs for the syscall; see ../shared/lab/ktls-vm.md), so readiness + syscall is the
//! cheaper way.
//!
//! Pipes come from a per-worker [`PipePool`]: created on demand up to a cap, handed to a
//! direction of a connection while bytes move, and taken back only when empty. A pipe that
//! still holds bytes when its connection closes is closed with it.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The two ends of a pipe, both non-blocking and close-on-exec.
#[derive(Debug)]
pub(crate) struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    /// What the kernel granted (F_SETPIPE_SZ may be refused past the user's pipe quota).
    capacity: u32,
}

impl Pipe {
    /// A new pipe, resized to `bytes` if the kernel allows (it keeps its default otherwise).
    pub(crate) fn new(bytes: usize) -> io::Result<Pipe> {
        let mut fds = [-1 as libc::c_int; 2];
        // SAFETY: pipe2 writes two fds into the array we own, which is exactly two ints.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded, so both fds are open and owned by nobody else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let wanted = bytes.min(i32::MAX as usize) as libc::c_int;
        // SAFETY: fcntl on an fd we own; F_SETPIPE_SZ takes an int. Failure (EPERM past
        // fs.pipe-user-pages-soft for an unprivileged user) leaves the pipe as it was.
        unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, wanted) };
        // SAFETY: fcntl on an fd we own; F_GETPIPE_SZ takes no argument.
        let capacity = unsafe { libc::fcntl(write.as_raw_fd(), libc::F_GETPIPE_SZ) };
        if capacity <= 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Pipe {
            read,
            write,
            capacity: capacity as u32,
        })
    }

    pub(crate) fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Moves up to `len` bytes from socket `from` into the pipe. Returns the kernel's answer:
    /// bytes moved, 0 at EOF, or a negative errno (`-EAGAIN`: nothing to read right now).
    pub(crate) fn fill_from(&self, from: RawFd, len: u32) -> isize {
        splice(from, self.write.as_raw_fd(), len)
    }

    /// Moves up to `len` bytes from the pipe to socket `to`: bytes moved or a negative errno
    /// (`-EAGAIN`: the socket's send buffer is full).
    pub(crate) fn drain_to(&self, to: RawFd, len: u32) -> isize {
        splice(self.read.as_raw_fd(), to, len)
    }

    /// Writes `bytes` into the pipe (bytes userspace had to read itself, such as application
    /// data that came through the kTLS control-record path). Bytes written or a negative errno.
    pub(crate) fn write(&self, bytes: &[u8]) -> isize {
        // SAFETY: `bytes` is a live slice of the given length; the fd is our pipe's write end,
        // non-blocking, so this never waits.
        let n = unsafe { libc::write(self.write.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 { -(errno() as isize) } else { n }
    }
}

fn splice(from: RawFd, to: RawFd, len: u32) -> isize {
    // SAFETY: both fds are open (the caller holds the pipe and the connection's sockets,
    // which close only after the connection leaves the relay); null offsets mean "the file
    // position", which is what sockets and pipes require. Non-blocking on both ends.
    let n = unsafe {
        libc::splice(
            from,
            std::ptr::null_mut(),
            to,
            std::ptr::null_mut(),
            len as usize,
            libc::SPLICE_F_NONBLOCK | libc::SPLICE_F_MOVE,
        )
    };
    if n < 0 { -(errno() as isize) } else { n }
}

fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

impl ringress_core::relay::splice::PipeCapacity for Pipe {
    fn capacity(&self) -> u32 {
        Pipe::capacity(self)
    }
}

/// A worker's pipes: created on demand up to `cap`, lent to directions that have bytes to
/// move, and taken back empty. Idle connections hold none.
#[derive(Debug)]
pub(crate) struct PipePool {
    free: Vec<Pipe>,
    /// Pipes that exist (free + lent).
    created: u32,
    cap: u32,
    bytes: usize,
    /// The kernel refused a new pipe (out of fds): don't ask again until one comes back.
    create_refused: bool,
}

impl PipePool {
    /// A pool with one pipe made now, so a worker that later runs out of fds still has a pipe
    /// to share and its spliced connections move on, one burst at a time.
    pub(crate) fn new(cap: u32, bytes: usize) -> io::Result<PipePool> {
        let first = Pipe::new(bytes)?;
        Ok(PipePool {
            free: vec![first],
            created: 1,
            cap: cap.max(1),
            bytes,
            create_refused: false,
        })
    }

    /// A pipe, or `None` when `cap` pipes are lent out (or the kernel refused a new one: out
    /// of fds). The caller waits for one to come back.
    pub(crate) fn take(&mut self) -> Option<Pipe> {
        if let Some(pipe) = self.free.pop() {
            return Some(pipe);
        }
        if self.created >= self.cap || self.create_refused {
            return None;
        }
        match Pipe::new(self.bytes) {
            Ok(pipe) => {
                self.created += 1;
                Some(pipe)
            }
            Err(error) => {
                tracing::warn!(%error, "cannot create a relay pipe; waiting for one to come back");
                self.create_refused = true;
                None
            }
        }
    }

    /// Takes back a pipe lent by [`take`](Self::take). `empty` says whether it holds no bytes;
    /// a pipe that does is closed (its bytes can't go to another connection).
    pub(crate) fn give_back(&mut self, pipe: Pipe, empty: bool) {
        self.create_refused = false;
        if empty {
            self.free.push(pipe);
        } else {
            self.created -= 1;
            drop(pipe);
        }
    }

    /// A pipe can be had right now (for waking directions that wait for one).
    pub(crate) fn can_lend(&self) -> bool {
        !self.free.is_empty() || (self.created < self.cap && !self.create_refused)
    }

    /// Pipes that exist (lent or free).
    #[cfg(test)]
    pub(crate) fn created(&self) -> u32 {
        self.created
    }
}

#[cfg(test)]
mod tests;
