//! Relaying: carries out the sans-IO relay's steps on the ring, tracks activity for the idle
//! timeouts, resumes directions that waited for a buffer, and — for terminated TLS in
//! userspace — decrypts client bytes in place in the pool buffer and encrypts server bytes
//! into a transmit buffer.

use super::submit::Io;
use super::{Conn, Worker};
use crate::conn::{Clock, Deadline, Leftover, Side, Stage, Termination};
use crate::relay::{Received, Relay, RelayKind, Step, failed_side, failure_termination};
use crate::slab::Key;
use crate::sys::buf_ring::Buf;
use crate::sys::net;
use crate::sys::uring::Completion;
use crate::tls::{TlsError, TlsErrorKind};

/// The most TLS bytes a client's reads may leave queued for it (`UserspaceTls::control`). The TLS
/// layers bound what a client can make us owe — one KeyUpdate answer (27 bytes) at a time, an
/// alert or two (`tls::post_handshake`, rustls' own limits for TLS 1.2) — so this is never
/// reached; it keeps a bug there from growing a connection's memory with the client's upload.
const MAX_CONTROL_BYTES: usize = 1024;

impl Worker {
    pub(super) fn start_relay(&mut self, key: Key, conn: &mut Conn) {
        let prelude = match &mut conn.stage {
            Stage::Connecting(connecting) => connecting.take_prelude(),
            _ => None,
        };
        self.count_prelude(conn, prelude.as_ref());
        if self.relay_kind(conn) == RelayKind::Splice {
            return self.start_splice(key, conn, prelude);
        }
        conn.stage = Stage::Relaying(Relay::new());
        conn.client_active_ms = self.now_ms;
        conn.server_active_ms = self.now_ms;
        let upstream = match prelude {
            Some(buf) => relay_of(conn).upstream.start_with(buf),
            None => relay_of(conn).upstream.resume(),
        };
        self.apply(key, conn, Side::Client, upstream);
        let downstream = relay_of(conn).downstream.resume();
        self.apply(key, conn, Side::Server, downstream);
    }

    /// Which relay this connection uses: the listener's `relay`, given what its client
    /// side carries at the socket.
    fn relay_kind(&self, conn: &Conn) -> RelayKind {
        let listener = &self.shared.config.listeners[conn.listener as usize];
        listener.relay.resolve(conn.transport.bytes())
    }

    /// A recv on `from`'s socket completed.
    pub(super) fn on_recv(&mut self, key: Key, conn: &mut Conn, from: Side, c: Completion) {
        let buf = match conn.transport.userspace_mut() {
            // The bytes landed behind the incomplete record we had (`submit_recv`).
            Some(tls) if from == Side::Client && tls.receiving_into => {
                tls.receiving_into = false;
                self.ring.take_received(c.user_data, c.result)
            }
            _ => c
                .buffer_id()
                .map(|bid| self.ring.bufs_mut().take_rx(bid, c.result.max(0) as u32)),
        };
        if !matches!(conn.stage, Stage::Relaying(_)) {
            if let Some(buf) = buf {
                self.ring.bufs_mut().recycle(buf);
            }
            return;
        }
        conn.touch(from, self.now_ms);
        if from == Side::Client && conn.transport.is_kernel() && c.result == -libc::EIO {
            // The next record on the kTLS socket is not application data.
            let sending = relay_of(conn).downstream.is_sending();
            let Some(received) = self.on_ktls_control(conn, sending) else {
                return;
            };
            self.count_received(conn, from, 0, &received);
            let step = relay_of(conn).half_from(from).on_recv(received);
            return self.apply(key, conn, from, step);
        }
        if from == Side::Client && c.result > 0 {
            Self::ktls_data_received(conn);
        }
        let received = match (c.result, buf) {
            (n, Some(buf)) if n > 0 => match self.through_tls(key, conn, from, buf) {
                Some(received) => received,
                None => return,
            },
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
        self.count_received(conn, from, c.result, &received);
        let step = relay_of(conn).half_from(from).on_recv(received);
        self.apply(key, conn, from, step);
    }

    /// Userspace TLS: turns client ciphertext into plaintext (in place) and server plaintext
    /// into ciphertext (in a transmit buffer). `None` when the read is fully handled here
    /// (nothing to pass on yet, or the connection is closing).
    fn through_tls(
        &mut self,
        key: Key,
        conn: &mut Conn,
        from: Side,
        mut buf: Buf,
    ) -> Option<Received<Buf>> {
        let Some(tls) = conn.transport.userspace_mut() else {
            return Some(Received::Data(buf));
        };
        let bufs = self.ring.bufs_mut();
        let result = match from {
            Side::Client => {
                let behind_held = buf.is_tx();
                let (n, held) = (buf.len() as usize, tls.held.len());
                let space = bufs.rx_space_mut(&mut buf);
                let total = if behind_held {
                    // `recv_into`: the held bytes were copied in first, the new ones follow.
                    n
                } else {
                    // The recv left room for the held bytes (`submit_recv`); put them in front.
                    space.copy_within(..n, held);
                    space[..held].copy_from_slice(&tls.held);
                    held + n
                };
                tls.streaming = total - held >= bufs.rx_capacity() as usize / 2;
                let mut result = tls.session.read(&mut space[..total], &mut tls.control);
                if tls.control.len() > MAX_CONTROL_BYTES {
                    result = Err(TlsError::local(TlsErrorKind::Internal));
                }
                if let Ok(outcome) = &result {
                    if outcome.consumed == total {
                        // Nothing held: give the allocation back, so a connection that goes
                        // idle keeps no buffer (it may have held up to a whole record).
                        tls.held = Vec::new();
                    } else {
                        tls.held.clear();
                        tls.held.extend_from_slice(&space[outcome.consumed..total]);
                    }
                }
                result.map(|outcome| {
                    bufs.set_rx_len(&mut buf, outcome.plaintext as u32);
                    outcome.peer_closed
                })
            }
            Side::Server => {
                let mut out = bufs.alloc_tx();
                let v = out.tx_mut().expect("a transmit buffer");
                v.extend_from_slice(&tls.control);
                // Rare (a KeyUpdate answer); keep no capacity for it.
                tls.control = Vec::new();
                let plaintext = buf.len() as u64;
                let written = tls.session.write(&mut tls.held, bufs.bytes(&buf), v);
                let overhead = (v.len() as u64).saturating_sub(plaintext);
                bufs.recycle(std::mem::replace(&mut buf, out));
                if let Some(facts) = conn.facts.as_mut() {
                    facts.tls_overhead += overhead;
                }
                written.map(|()| false)
            }
        };
        // What the read produced for the client (a KeyUpdate answer, a no_renegotiation
        // warning) goes out now if nothing else is being sent to it, not whenever the broker
        // next writes: a quiet broker would leave the client waiting for it.
        if from == Side::Client && result.is_ok() {
            let sending = matches!(&conn.stage, Stage::Relaying(r) if r.downstream.is_sending());
            if !sending {
                Self::flush_control(conn);
            }
        }
        match result {
            Ok(peer_closed) if buf.is_empty() => {
                self.ring.bufs_mut().recycle(buf);
                if peer_closed {
                    Some(Received::Eof)
                } else {
                    // Only records without application data (a ticket, a key update) arrived.
                    self.submit_recv(key, conn, from);
                    None
                }
            }
            Ok(_) => Some(Received::Data(buf)),
            Err(error) => {
                self.ring.bufs_mut().recycle(buf);
                tracing::debug!(worker = self.id, client = %conn.client, %error, "TLS error while relaying");
                self.begin_close(conn, Termination::Tls(error.kind));
                None
            }
        }
    }

    /// A send to `to`'s socket completed; `buf` is the buffer the ring gave back.
    pub(super) fn on_send(&mut self, key: Key, conn: &mut Conn, to: Side, result: i32, buf: Buf) {
        let source = to.other();
        match &mut conn.stage {
            Stage::Relaying(relay) => {
                let step = relay.half_from(source).on_send(result, buf);
                conn.touch(to, self.now_ms);
                if to == Side::Client && !matches!(step, Step::Send { .. }) {
                    // The client's socket is ours again: what its reads queued goes out now.
                    Self::flush_control(conn);
                }
                if to == Side::Client
                    && result > 0
                    && let Err(cause) = self.after_ktls_send(conn, result as u32)
                {
                    if let Some(buf) = step.into_buf() {
                        self.ring.bufs_mut().recycle(buf);
                    }
                    return self.begin_close(conn, cause);
                }
                self.apply(key, conn, source, step);
            }
            Stage::Splicing(_) => self.on_prelude_sent(key, conn, result, buf),
            Stage::Closing { left, .. } => {
                let buf = match left {
                    // An alert or handshake flight sent while closing: the client's socket
                    // is free again.
                    Leftover::Sending => {
                        *left = Leftover::Nothing;
                        Some(buf)
                    }
                    // An interrupted relay send: count what the kernel took all the same.
                    Leftover::Copied(relay) => {
                        relay.half_from(source).on_send(result, buf).into_buf()
                    }
                    // The splice relay's prelude, sent to the server before splicing started.
                    Leftover::Spliced { .. } | Leftover::Nothing => Some(buf),
                };
                if let Some(buf) = buf {
                    self.ring.bufs_mut().recycle(buf);
                }
            }
            _ => self.ring.bufs_mut().recycle(buf),
        }
    }

    /// Carries out one step of the direction reading from `source`.
    fn apply(&mut self, key: Key, conn: &mut Conn, source: Side, step: Step<Buf>) {
        let destination = source.other();
        match step {
            Step::Recv => self.submit_recv(key, conn, source),
            Step::Send { buf, offset } => {
                let to = destination;
                self.submit(key, conn, Io::Send { to, buf, offset });
            }
            Step::RecycleThenRecv(buf) => {
                self.ring.bufs_mut().recycle(buf);
                self.submit_recv(key, conn, source);
            }
            Step::ShutdownDestination => {
                if destination == Side::Client {
                    // The server finished: a TLS client gets close_notify before the FIN.
                    // Nothing else is being sent to the client: this direction was reading.
                    self.send_close_notify(conn, false);
                }
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
        let io = match (from, conn.transport.userspace_mut()) {
            (Side::Client, Some(tls)) if tls.streaming && !tls.held.is_empty() => {
                // Mid-stream with an incomplete record: receive right behind a copy of it,
                // instead of into a pool buffer and then moving everything received up to
                // make room for it (bulk transfers: ~1 copy of each byte less). An idle
                // connection never gets here: `streaming` needs a half-full read.
                let mut buf = self.ring.bufs_mut().alloc_tx();
                if let Some(v) = buf.tx_mut() {
                    v.extend_from_slice(&tls.held);
                }
                tls.receiving_into = true;
                Io::RecvInto { buf }
            }
            (Side::Client, Some(tls)) => {
                // Leave room for the held bytes of an incomplete record in front of the new
                // ones: decryption needs the whole record contiguous. The buffer size is
                // validated to exceed the largest record, so room always remains.
                let room = (self.ring.bufs().rx_capacity() as usize).saturating_sub(tls.held.len());
                if room == 0 {
                    // Only a post-handshake message spread over many records gets here.
                    return self.begin_close(conn, Termination::Tls(TlsErrorKind::TooMuchHeld));
                }
                Io::RecvAtMost { max: room as u32 }
            }
            _ => Io::Recv { from },
        };
        self.submit(key, conn, io);
    }

    /// Gives buffers that came back to directions that found the pool empty, oldest first.
    pub(super) fn resume_starved(&mut self) {
        while self.ring.bufs().rx_available() > 0 {
            let Some((key, side)) = self.starved.pop_front() else {
                return;
            };
            let Some(mut conn) = self.conns.take(key) else {
                continue;
            };
            if conn.stage.is_ingress() {
                self.submit_ingress_recv(key, &mut conn);
            } else if let Stage::Relaying(relay) = &mut conn.stage
                && relay.half_from(side).is_idle()
            {
                let step = relay.half_from(side).resume();
                self.apply(key, &mut conn, side, step);
            }
            self.settle(key, conn);
        }
    }

    /// When the connection's current deadline falls, and what it means then.
    fn deadline(&self, conn: &Conn) -> Deadline {
        conn.stage.deadline(&Clock {
            now_ms: self.now_ms,
            started_ms: conn.started_ms,
            client_active_ms: conn.client_active_ms,
            server_active_ms: conn.server_active_ms,
            handshake_ms: self.handshake_ms,
            client_idle_ms: u64::from(conn.client_idle_ms),
            server_idle_ms: self.server_idle_ms,
            shortest_timeout_ms: self.shortest_timeout_ms,
        })
    }

    /// The earliest any stage's deadline can come after an event: where a connection's
    /// timer entry is filed when its next stage is not known yet.
    pub(super) fn shortest_timeout_ms(&self) -> u64 {
        self.shortest_timeout_ms
    }

    /// Fires due wheel entries: closes connections past their deadline, re-files the others.
    /// Every connection has exactly one entry, made at accept and re-made here.
    pub(super) fn expire_timers(&mut self) {
        let mut due = Vec::new();
        self.wheel.expire(self.now_ms, &mut due);
        for key in due {
            let Some(mut conn) = self.conns.take(key) else {
                continue;
            };
            let Deadline { at_ms, cause } = self.deadline(&conn);
            if self.now_ms >= at_ms {
                match cause {
                    Some(cause) => self.begin_close(&mut conn, cause),
                    None if conn.stage.is_closing() => self.cancel_in_flight(&mut conn),
                    None => {}
                }
            }
            let next = self.deadline(&conn).at_ms;
            self.wheel
                .insert(next.max(self.now_ms.saturating_add(1)), key);
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
