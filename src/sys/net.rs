//! Raw socket and thread calls the workers make outside the ring: short, non-blocking
//! syscalls (socket, setsockopt, shutdown, close) where a ring round trip would cost more.

use std::io;
use std::mem::MaybeUninit;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{IntoRawFd, RawFd};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// Binds a listening socket with SO_REUSEPORT so every worker can have its own socket on the
/// same address and the kernel spreads new connections across them.
pub(crate) fn bind_reuseport(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.set_cloexec(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&SockAddr::from(addr))?;
    socket.listen(backlog.min(i32::MAX as u32) as i32)?;
    Ok(socket.into())
}

/// A non-blocking TCP socket for connecting to a backend server (TCP_NODELAY: MQTT packets
/// are small and latency-sensitive; Nagle would hold a PUBLISH back behind an unacked one).
pub(crate) fn backend_socket(addr: &SocketAddr) -> io::Result<RawFd> {
    let socket = Socket::new(
        Domain::for_address(*addr),
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )?;
    socket.set_tcp_nodelay(true)?;
    Ok(socket.into_raw_fd())
}

/// Sets TCP_NODELAY on an accepted client socket.
pub(crate) fn set_nodelay(fd: RawFd) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: fd is a socket we own; the option value is a live c_int of the given size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&one as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The peer address of a connected socket.
pub(crate) fn peer_addr(fd: RawFd) -> io::Result<SocketAddr> {
    socket_address(fd, libc::getpeername)
}

/// The local address of a connected socket.
pub(crate) fn local_addr_of(fd: RawFd) -> io::Result<SocketAddr> {
    socket_address(fd, libc::getsockname)
}

/// Runs getpeername(2) or getsockname(2) (same signature) into a `sockaddr_storage`.
fn socket_address(
    fd: RawFd,
    call: unsafe extern "C" fn(
        libc::c_int,
        *mut libc::sockaddr,
        *mut libc::socklen_t,
    ) -> libc::c_int,
) -> io::Result<SocketAddr> {
    let mut storage = MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `call` is getpeername or getsockname; storage is large enough for any socket
    // address and len says so.
    let rc = unsafe { call(fd, storage.as_mut_ptr().cast(), &mut len) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: zeroed storage is a valid sockaddr_storage, and the call filled `len` bytes.
    let storage = unsafe { storage.assume_init() };
    sockaddr_to_std(&storage, len)
}

fn sockaddr_to_std(
    storage: &libc::sockaddr_storage,
    len: libc::socklen_t,
) -> io::Result<SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
    match storage.ss_family as libc::c_int {
        libc::AF_INET if len as usize >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says this storage holds a sockaddr_in, and it is big enough.
            let sin = unsafe { &*(storage as *const _ as *const libc::sockaddr_in) };
            Ok(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 if len as usize >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: the family says this storage holds a sockaddr_in6, and it is big enough.
            let sin6 = unsafe { &*(storage as *const _ as *const libc::sockaddr_in6) };
            Ok(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => Err(io::Error::other("peer is not an IP socket")),
    }
}

/// One non-blocking send outside the ring, for a few bytes that need no completion (a
/// close_notify before closing). Best effort: a full socket buffer or a reset peer just
/// means the bytes are not sent.
pub(crate) fn send_nonblocking(fd: RawFd, bytes: &[u8]) {
    // SAFETY: bytes is a live slice; MSG_DONTWAIT keeps it from blocking, MSG_NOSIGNAL from
    // raising SIGPIPE on a reset peer.
    unsafe {
        libc::send(
            fd,
            bytes.as_ptr().cast(),
            bytes.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        );
    }
}

/// One non-blocking send outside the ring that reports how many bytes went out: for a
/// health check's few bytes on a socket that has just connected (its send buffer is empty,
/// so they fit), where a completion round trip would buy nothing.
pub(crate) fn send_now(fd: RawFd, bytes: &[u8]) -> io::Result<usize> {
    // SAFETY: bytes is a live slice for the duration of the call; MSG_DONTWAIT keeps it
    // from blocking, MSG_NOSIGNAL from raising SIGPIPE on a reset peer.
    let n = unsafe {
        libc::send(
            fd,
            bytes.as_ptr().cast(),
            bytes.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// Sends a FIN toward the peer (half-close); reading stays possible.
pub(crate) fn shutdown_write(fd: RawFd) {
    // SAFETY: plain syscall on an fd we own; errors (ENOTCONN after a reset) are harmless
    // here because the relay sees the reset on its next operation.
    unsafe {
        libc::shutdown(fd, libc::SHUT_WR);
    }
}

/// Closes an fd we own and that has no ring operation in flight.
pub(crate) fn close(fd: RawFd) {
    // SAFETY: the caller owns fd and drops every copy of the number with this call.
    unsafe {
        libc::close(fd);
    }
}

/// Takes ownership of a listener's fd (the worker closes it with [`close`]).
pub(crate) fn into_raw(listener: TcpListener) -> RawFd {
    listener.into_raw_fd()
}

/// The local address a listener ended up on (resolves port 0).
pub(crate) fn local_addr(listener: &TcpListener) -> io::Result<SocketAddr> {
    listener.local_addr()
}

/// An eventfd another thread writes to wake a worker blocked in `io_uring_enter`.
pub(crate) struct EventFd(RawFd);

impl EventFd {
    pub(crate) fn new() -> io::Result<EventFd> {
        // SAFETY: plain syscall; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(EventFd(fd))
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.0
    }

    /// Wakes the worker polling this eventfd.
    pub(crate) fn notify(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to an eventfd we own.
        unsafe {
            libc::write(self.0, (&one as *const u64).cast(), 8);
        }
    }

    /// Resets the counter after a wake-up.
    pub(crate) fn drain(&self) {
        let mut value: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64; non-blocking, EAGAIN is fine.
        unsafe {
            libc::read(self.0, (&mut value as *mut u64).cast(), 8);
        }
    }
}

impl Drop for EventFd {
    fn drop(&mut self) {
        close(self.0);
    }
}

/// Pins the calling thread to `cpu`.
pub(crate) fn pin_current_thread(cpu: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data; CPU_SET bounds-checks against its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The CPUs this process may run on, in order (for `pin_workers`).
pub(crate) fn allowed_cpus() -> Vec<usize> {
    // SAFETY: sched_getaffinity fills a plain-data cpu_set_t we own.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
            .collect()
    }
}

/// Raises the soft open-files limit to the hard limit (each proxied connection costs two fds).
pub(crate) fn raise_nofile_limit() -> io::Result<u64> {
    // SAFETY: get/setrlimit on a plain struct we own.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(io::Error::last_os_error());
        }
        if lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(lim.rlim_cur)
    }
}
