//! The servers a proxy under test forwards to. All on 127.0.0.1, port 0.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::IO_TIMEOUT;

/// Waits until `fd` is readable, at most `timeout`. True when readable.
fn poll_readable(fd: RawFd, timeout: Duration) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: one valid pollfd on the stack, fd owned by the caller for the duration.
    let rc = unsafe { libc::poll(&mut p, 1, ms) };
    rc > 0
}

// ---------------------------------------------------------------------------------------------
// Echo server

/// A single-threaded poll(2) echo server: echoes every byte back, closes a connection after
/// the client's EOF once everything is echoed. One thread serves thousands of connections
/// (the many-connections test needs 5,000 at once; a thread each would be wasteful).
pub struct EchoServer {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EchoServer {
    pub fn start() -> EchoServer {
        // std's backlog is 128; the proxy opens thousands of upstream connections in a burst
        // (tests/many_connections.rs), and a full queue drops SYNs, which the proxy would
        // rightly report as connect timeouts. So listen with the kernel's maximum.
        let listener = listen_loopback(4096);
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (a, o, s) = (accepted.clone(), open.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("echo-server".into())
            .spawn(move || echo_loop(listener, &a, &o, &s))
            .expect("spawn echo server");
        EchoServer {
            addr,
            accepted,
            open,
            stop,
            thread: Some(thread),
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Connections open right now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Waits (bounded, 5 ms polls) until `open() == n`.
    pub fn wait_open(&self, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.open() != n {
            assert!(
                Instant::now() < deadline,
                "echo server: {} connections open, expected {n} within {timeout:?}",
                self.open()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct EchoConn {
    stream: TcpStream,
    pending: Vec<u8>,
    eof: bool,
    dead: bool,
}

impl EchoConn {
    fn flush(&mut self) {
        while !self.pending.is_empty() {
            match self.stream.write(&self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.dead = true;
                    return;
                }
            }
        }
    }

    fn read_and_echo(&mut self, buf: &mut [u8]) {
        match self.stream.read(buf) {
            Ok(0) => self.eof = true,
            Ok(n) => {
                self.pending.extend_from_slice(&buf[..n]);
                self.flush();
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(_) => self.dead = true,
        }
    }
}

fn echo_loop(listener: TcpListener, accepted: &AtomicUsize, open: &AtomicUsize, stop: &AtomicBool) {
    let mut conns: Vec<EchoConn> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut fds: Vec<libc::pollfd> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        fds.clear();
        fds.push(libc::pollfd {
            fd: listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        for c in &conns {
            // Back-pressure: while a reply is pending, stop reading from that client.
            let events = if c.pending.is_empty() {
                libc::POLLIN
            } else {
                libc::POLLOUT
            };
            fds.push(libc::pollfd {
                fd: c.stream.as_raw_fd(),
                events,
                revents: 0,
            });
        }
        // SAFETY: `fds` is a live Vec of pollfd; every fd is owned by `listener` or `conns`,
        // which outlive the call.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 100) };
        if rc <= 0 {
            continue;
        }
        for (c, p) in conns.iter_mut().zip(&fds[1..]) {
            if p.revents == 0 {
                continue;
            }
            if c.pending.is_empty() {
                c.read_and_echo(&mut buf);
            } else {
                c.flush();
            }
        }
        let before = conns.len();
        conns.retain(|c| !(c.dead || (c.eof && c.pending.is_empty())));
        open.fetch_sub(before - conns.len(), Ordering::SeqCst);
        if fds[0].revents != 0 {
            loop {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(true).unwrap();
                        conns.push(EchoConn {
                            stream,
                            pending: Vec::new(),
                            eof: false,
                            dead: false,
                        });
                        accepted.fetch_add(1, Ordering::SeqCst);
                        open.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => panic!("echo server accept: {e}"),
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A listener the test drives by hand

/// A listener whose accepted connections are handed to the test, so the test scripts the
/// server side (half-close, silence, replies) step by step.
pub struct TestListener {
    listener: TcpListener,
    pub addr: SocketAddr,
}

impl TestListener {
    pub fn bind() -> TestListener {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind test listener");
        let addr = listener.local_addr().unwrap();
        TestListener { listener, addr }
    }

    /// Accepts one connection, waiting at most `timeout`.
    pub fn accept_within(&self, timeout: Duration) -> TcpStream {
        assert!(
            poll_readable(self.listener.as_raw_fd(), timeout),
            "backend {}: no connection from the proxy within {timeout:?}",
            self.addr
        );
        let (s, _) = self.listener.accept().expect("accept");
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        s
    }

    /// Accepts one connection if one arrives within `wait`.
    pub fn try_accept(&self, wait: Duration) -> Option<TcpStream> {
        poll_readable(self.listener.as_raw_fd(), wait).then(|| self.accept_within(wait))
    }

    /// Asserts no connection arrives within `quiet`.
    pub fn assert_no_connection(&self, quiet: Duration) {
        assert!(
            !poll_readable(self.listener.as_raw_fd(), quiet),
            "backend {}: unexpected connection",
            self.addr
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Raw sockets for failure modes

fn loopback_socket() -> OwnedFd {
    // SAFETY: plain socket(2); the returned fd is checked and then owned by OwnedFd.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", io::Error::last_os_error());
    // SAFETY: fd is a fresh, valid descriptor nobody else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn bind_loopback_any_port(fd: &OwnedFd) -> SocketAddr {
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_addr.s_addr = u32::from(Ipv4Addr::LOCALHOST).to_be();
    sa.sin_port = 0;
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `sa` is a valid sockaddr_in of length `len`; fd is open.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_in).cast(),
            len,
        )
    };
    assert_eq!(rc, 0, "bind: {}", io::Error::last_os_error());
    let mut out: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut out_len = len;
    // SAFETY: `out` is a writable sockaddr_in and `out_len` its size.
    let rc = unsafe {
        libc::getsockname(
            fd.as_raw_fd(),
            (&mut out as *mut libc::sockaddr_in).cast(),
            &mut out_len,
        )
    };
    assert_eq!(rc, 0, "getsockname: {}", io::Error::last_os_error());
    SocketAddr::V4(SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(out.sin_addr.s_addr)),
        u16::from_be(out.sin_port),
    ))
}

/// A listener on 127.0.0.1, port 0, with the given accept backlog (capped by somaxconn).
pub fn listen_loopback(backlog: i32) -> TcpListener {
    let fd = loopback_socket();
    bind_loopback_any_port(&fd);
    // SAFETY: listen(2) on the socket we own.
    let rc = unsafe { libc::listen(fd.as_raw_fd(), backlog) };
    assert_eq!(rc, 0, "listen: {}", io::Error::last_os_error());
    TcpListener::from(fd)
}

/// A loopback port that is bound but not listening: a SYN to it gets a RST, so connects are
/// refused, and holding the socket keeps anyone else from taking the port meanwhile.
pub struct RefusingPort {
    _fd: OwnedFd,
    pub addr: SocketAddr,
}

impl RefusingPort {
    pub fn new() -> RefusingPort {
        let fd = loopback_socket();
        let addr = bind_loopback_any_port(&fd);
        RefusingPort { _fd: fd, addr }
    }
}

/// A listener whose accept queue is full, so the kernel drops further SYNs and a connect to
/// it neither succeeds nor is refused: it times out. Built with listen(fd, 0) and filled
/// with connections that are never accepted; the constructor verifies that one more connect
/// really times out (and panics if this kernel behaves otherwise).
pub struct BlackholeListener {
    _fd: OwnedFd,
    _fillers: Vec<TcpStream>,
    pub addr: SocketAddr,
}

impl BlackholeListener {
    pub fn new() -> BlackholeListener {
        let fd = loopback_socket();
        let addr = bind_loopback_any_port(&fd);
        // SAFETY: listen(2) on the socket we own.
        let rc = unsafe { libc::listen(fd.as_raw_fd(), 0) };
        assert_eq!(rc, 0, "listen: {}", io::Error::last_os_error());
        let mut fillers = Vec::new();
        // With backlog 0 Linux queues one connection (the queue is full when its length
        // exceeds the backlog, net/ipv4/tcp_ipv4.c → sk_acceptq_is_full), then drops SYNs.
        // Keep connecting until one attempt times out; that attempt is the proof.
        for _ in 0..16 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Ok(s) => fillers.push(s),
                Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
                    return BlackholeListener {
                        _fd: fd,
                        _fillers: fillers,
                        addr,
                    };
                }
                Err(e) => panic!("filling the accept queue of {addr}: unexpected {e}"),
            }
        }
        panic!("{addr}: 16 connects completed with listen(fd, 0); SYNs are not dropped here");
    }
}

/// A loopback port for a peer that needs a number in its config (mosquitto, haproxy): free
/// when this returns, and never handed out again by this process.
///
/// It is taken *below* the kernel's ephemeral range. A port from `bind(0)` is released before
/// the peer binds it, and in that gap the kernel may give the same number to any connect() in
/// a test running beside this one (CI once saw mosquitto fail with "Address already in use"
/// that way). Ports under `ip_local_port_range` are never chosen by the kernel, and the
/// process-wide counter keeps two tests of one binary apart; the start depends on the pid so
/// that concurrent test binaries start far apart.
pub fn free_port() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    const FLOOR: usize = 10_000;
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<usize>().ok())
        .unwrap_or(32_768);
    assert!(
        ephemeral_low > FLOOR + 1_000,
        "ip_local_port_range starts at {ephemeral_low}: no room below it for test peers"
    );
    let span = ephemeral_low - FLOOR;
    let start = (std::process::id() as usize).wrapping_mul(7_919) % span;
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (FLOOR + (start + n) % span) as u16;
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {FLOOR}..{ephemeral_low}");
}

/// Waits until something accepts TCP connections on `addr` (bounded polling).
pub fn wait_port_open(addr: SocketAddr, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "nothing listening on {addr} within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
