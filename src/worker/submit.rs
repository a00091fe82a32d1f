//! The one place a connection's ring operations are submitted and counted in flight: every
//! recv, send, poll and connect on a connection's sockets goes through [`Worker::submit`], so
//! `Conn::inflight` (which decides when the fds may close) cannot drift from what the ring
//! holds.

use super::{Conn, Op, Token, Worker, recv_op, send_op};
use crate::conn::Side;
use crate::slab::Key;
use crate::sys::buf_ring::Buf;
use crate::sys::uring::{DurationId, TargetId};

/// A ring operation on one of a connection's sockets.
pub(super) enum Io {
    /// Receive from `from` into a buffer the kernel picks from the pool when data arrives.
    Recv { from: Side },
    /// The same from the client, at most `max` bytes (room left for held TLS bytes).
    RecvAtMost { max: u32 },
    /// Receive from the client into the spare capacity of `buf`, behind what it holds.
    RecvInto { buf: Buf },
    /// Send `buf[offset..]` to `to`; the ring owns `buf` until the completion.
    Send { to: Side, buf: Buf, offset: u32 },
    /// A one-shot readiness poll on `side`'s socket (splice relay): readable, or writable.
    Poll { side: Side, writable: bool },
    /// Connect the server socket to `target`, cancelled after `timeout` (two completions).
    Connect {
        fd: std::os::fd::RawFd,
        target: TargetId,
        timeout: DurationId,
    },
}

impl Io {
    /// Send all of `buf` to `to`.
    pub(super) fn send(to: Side, buf: Buf) -> Io {
        Io::Send { to, buf, offset: 0 }
    }
}

impl Worker {
    /// Submits `io` for connection `key` and counts its completions in flight.
    pub(super) fn submit(&mut self, key: Key, conn: &mut Conn, io: Io) {
        let completions = match io {
            Io::Recv { from } => {
                self.ring
                    .recv(conn.fd(from), Token::encode(recv_op(from), key));
                1
            }
            Io::RecvAtMost { max } => {
                self.ring
                    .recv_at_most(conn.client_fd, max, Token::encode(Op::RecvClient, key));
                1
            }
            Io::RecvInto { buf } => {
                self.ring
                    .recv_into(conn.client_fd, buf, Token::encode(Op::RecvClient, key));
                1
            }
            Io::Send { to, buf, offset } => {
                self.ring
                    .send(conn.fd(to), buf, offset, Token::encode(send_op(to), key));
                1
            }
            Io::Poll { side, writable } => {
                let (op, events) = match (side, writable) {
                    (Side::Client, false) => (Op::ReadableClient, libc::POLLIN),
                    (Side::Server, false) => (Op::ReadableServer, libc::POLLIN),
                    (Side::Client, true) => (Op::WritableClient, libc::POLLOUT),
                    (Side::Server, true) => (Op::WritableServer, libc::POLLOUT),
                };
                self.ring
                    .poll(conn.fd(side), events as u32, Token::encode(op, key));
                1
            }
            Io::Connect {
                fd,
                target,
                timeout,
            } => {
                self.ring.connect_with_timeout(
                    fd,
                    target,
                    timeout,
                    Token::encode(Op::Connect, key),
                    Token::encode(Op::ConnectTimer, key),
                );
                2
            }
        };
        conn.inflight += completions;
    }
}
