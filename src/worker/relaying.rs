//! Relaying: carries out the sans-IO relay's steps on the ring, tracks activity for the idle
//! timeouts, and resumes directions that waited for a buffer.

use super::{Conn, Token, Worker, recv_op, send_op};
use crate::conn::{Side, Stage, Termination};
use crate::relay::{Received, Relay, Step, failed_side, failure_termination};
use crate::slab::Key;
use crate::sys::buf_ring::Buf;
use crate::sys::net;
use crate::sys::uring::Completion;

impl Worker {
    pub(super) fn start_relay(&mut self, key: Key, conn: &mut Conn) {
        conn.stage = Stage::Relaying(Relay::new());
        conn.client_active_ms = self.now_ms;
        conn.server_active_ms = self.now_ms;
        for side in [Side::Client, Side::Server] {
            let step = relay_of(conn).half_from(side).resume();
            self.apply(key, conn, side, step);
        }
        let deadline = self.idle_deadline(conn).0;
        self.wheel.insert(deadline, key);
    }

    /// A recv on `from`'s socket completed.
    pub(super) fn on_recv(&mut self, key: Key, conn: &mut Conn, from: Side, c: Completion) {
        let buf = c
            .buffer_id()
            .map(|bid| self.ring.bufs_mut().take(bid, c.result.max(0) as u32));
        if !matches!(conn.stage, Stage::Relaying(_)) {
            if let Some(buf) = buf {
                self.ring.bufs_mut().recycle(buf);
            }
            return;
        }
        conn.touch(from, self.now_ms);
        let received = match (c.result, buf) {
            (n, Some(buf)) if n > 0 => Received::Data(buf),
            (n, buf) => {
                if let Some(buf) = buf {
                    self.ring.bufs_mut().recycle(buf);
                }
                match n {
                    0 => Received::Eof,
                    n if -n == libc::ENOBUFS => Received::NoBuffer,
                    n if n < 0 => Received::Error(-n),
                    // Bytes without a buffer id: impossible with buffer select.
                    _ => Received::Error(libc::EIO),
                }
            }
        };
        let step = relay_of(conn).half_from(from).on_recv(received);
        self.apply(key, conn, from, step);
    }

    /// A send to `to`'s socket completed.
    pub(super) fn on_send(&mut self, key: Key, conn: &mut Conn, to: Side, result: i32) {
        let source = to.other();
        match &mut conn.stage {
            Stage::Relaying(relay) => {
                let step = relay.half_from(source).on_send(result);
                conn.touch(to, self.now_ms);
                self.apply(key, conn, source, step);
            }
            Stage::Closing {
                relay: Some(relay), ..
            } => {
                if result > 0 {
                    // Count what the kernel took even though the send was interrupted.
                    let _ = relay.half_from(source).on_send(result);
                }
                if let Some(buf) = relay.half_from(source).take_buf() {
                    self.ring.bufs_mut().recycle(buf);
                }
            }
            _ => {}
        }
    }

    /// Carries out one step of the direction reading from `source`.
    fn apply(&mut self, key: Key, conn: &mut Conn, source: Side, step: Step<Buf>) {
        let destination = source.other();
        match step {
            Step::Recv => self.submit_recv(key, conn, source),
            Step::Send { offset } => {
                let fd = conn.fd(destination);
                let buf = relay_of(conn)
                    .half_from(source)
                    .sending()
                    .expect("a send step holds a buffer");
                self.ring
                    .send(fd, buf, offset, Token::encode(send_op(destination), key));
                conn.inflight += 1;
            }
            Step::RecycleThenRecv(buf) => {
                self.ring.bufs_mut().recycle(buf);
                self.submit_recv(key, conn, source);
            }
            Step::ShutdownDestination => {
                net::shutdown_write(conn.fd(destination));
                if let Some(cause) = relay_of(conn).on_fin(source) {
                    self.begin_close(conn, cause);
                }
            }
            Step::WaitForBuffer => self.starved.push_back((key, source)),
            Step::Fail { failed, errno, buf } => {
                if let Some(buf) = buf {
                    self.ring.bufs_mut().recycle(buf);
                }
                let cause = failure_termination(failed_side(source, failed), errno);
                self.begin_close(conn, cause);
            }
        }
    }

    fn submit_recv(&mut self, key: Key, conn: &mut Conn, from: Side) {
        self.ring
            .recv(conn.fd(from), Token::encode(recv_op(from), key));
        conn.inflight += 1;
    }

    /// Gives buffers that came back to directions that found the pool empty, oldest first.
    pub(super) fn resume_starved(&mut self) {
        while self.ring.bufs().available() > 0 {
            let Some((key, side)) = self.starved.pop_front() else {
                return;
            };
            let Some(mut conn) = self.conns.take(key) else {
                continue;
            };
            if let Stage::Relaying(relay) = &mut conn.stage
                && relay.half_from(side).is_idle()
            {
                let step = relay.half_from(side).resume();
                self.apply(key, &mut conn, side, step);
            }
            self.settle(key, conn);
        }
    }

    /// When the connection becomes idle-expired, and which side's timeout that is.
    fn idle_deadline(&self, conn: &Conn) -> (u64, Termination) {
        let client = conn.client_active_ms + self.client_idle_ms;
        let server = conn.server_active_ms + self.server_idle_ms;
        if client <= server {
            (client, Termination::ClientIdleTimeout)
        } else {
            (server, Termination::ServerIdleTimeout)
        }
    }

    /// Fires due wheel entries: closes idle connections, re-files the others.
    pub(super) fn expire_timers(&mut self) {
        let mut due = Vec::new();
        self.wheel.expire(self.now_ms, &mut due);
        for key in due {
            let Some(mut conn) = self.conns.take(key) else {
                continue;
            };
            if matches!(conn.stage, Stage::Relaying(_)) {
                let (deadline, cause) = self.idle_deadline(&conn);
                if self.now_ms >= deadline {
                    self.begin_close(&mut conn, cause);
                } else {
                    self.wheel.insert(deadline, key);
                }
            }
            self.settle(key, conn);
        }
    }
}

fn relay_of(conn: &mut Conn) -> &mut Relay<Buf> {
    match &mut conn.stage {
        Stage::Relaying(relay) => relay,
        _ => unreachable!("relay step outside the relaying stage"),
    }
}
