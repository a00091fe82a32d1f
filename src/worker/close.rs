//! Close: cancel what is in flight, wait for those completions (the kernel may still touch a
//! buffer or fd until then), close both fds, log the access line, free the slot.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{Conn, Op, Token, Worker};
use crate::access_log::{CloseRecord, log_close};
use crate::conn::{Leftover, Stage, Termination};
use crate::proxy_out::HeaderKind;
use crate::relay::RelayKind;
use crate::slab::Key;
use crate::sys::net;

impl Worker {
    /// Moves a connection to `Closing` (keeping the first cause if already closing) and
    /// cancels its in-flight operations. The caller settles it afterwards.
    pub(super) fn begin_close(&mut self, conn: &mut Conn, cause: Termination) {
        if conn.stage.is_closing() {
            return;
        }
        let mut splice_to_client = false;
        self.count_handshake_failure(conn, cause);
        let closing = Stage::Closing {
            cause,
            since_ms: self.now_ms,
            left: Leftover::Nothing,
        };
        let left = match std::mem::replace(&mut conn.stage, closing) {
            Stage::Relaying(relay) => Leftover::Copied(relay),
            Stage::Splicing(mut relay) => {
                let bytes = relay.bytes();
                // Bytes still in the pipe toward the client: a splice to it may be running.
                splice_to_client = relay.downstream.pending() > 0;
                // Pipes go back now: no ring operation touches a pipe, only the sockets. (A
                // prelude's buffer is the ring's until its send completes.)
                self.return_pipes(&mut relay);
                Leftover::Spliced { bytes }
            }
            // A handshake flight may be in flight: nothing else may go to the client then.
            Stage::Ingress(ingress) if ingress.sending() => Leftover::Sending,
            Stage::Connecting(mut connecting) => {
                // Not in flight: the prelude goes out only once connected.
                if let Some(buf) = connecting.take_prelude() {
                    self.ring.bufs_mut().recycle(buf);
                }
                Leftover::Nothing
            }
            _ => Leftover::Nothing,
        };
        let client_send_in_flight = match &left {
            Leftover::Nothing => false,
            Leftover::Sending => true,
            Leftover::Copied(relay) => relay.downstream.is_sending(),
            Leftover::Spliced { .. } => splice_to_client,
        };
        if let Stage::Closing { left: l, .. } = &mut conn.stage {
            *l = left;
        }
        // Userspace TLS: tell the client we're done, unless another send to it is in flight.
        self.send_close_notify(conn, client_send_in_flight);
        self.cancel_in_flight(conn);
    }

    /// Cancels every operation in flight on the connection's sockets. A cancelled operation
    /// still completes (with ECANCELED); the connection is finalized after the last one.
    pub(super) fn cancel_in_flight(&mut self, conn: &mut Conn) {
        if conn.inflight == 0 {
            return;
        }
        self.ring
            .cancel_fd(conn.client_fd, Token::plain(Op::Cancel));
        if let Some(fd) = conn.server_fd {
            self.ring.cancel_fd(fd, Token::plain(Op::Cancel));
        }
    }

    /// Closes the fds of a connection with nothing in flight and logs it.
    pub(super) fn finalize(&mut self, key: Key, conn: Conn) {
        debug_assert_eq!(conn.inflight, 0);
        net::close(conn.client_fd);
        if let Some(fd) = conn.server_fd {
            net::close(fd);
        }
        self.shared.active[conn.listener as usize]
            .0
            .fetch_sub(1, Ordering::Relaxed);
        self.release_server(&conn);
        let Stage::Closing { cause, left, .. } = &conn.stage else {
            unreachable!("finalize outside the closing stage");
        };
        self.counters().closed(conn.listener, *cause);
        let (delivered_in, delivered_out) = left.relayed().unwrap_or((0, 0));
        let relay_kind = left.relay_kind();
        let (header, overhead) = conn
            .facts
            .as_ref()
            .map_or((0, 0), |m| (m.header_bytes, m.tls_overhead));
        let bytes_in = delivered_in.saturating_sub(header);
        let bytes_out = delivered_out.saturating_sub(overhead);
        let config = &self.shared.config;
        let backend = conn.backend.map(|b| &config.backends[b as usize]);
        let facts = conn.facts.as_deref();
        log_close(&CloseRecord {
            worker: self.id,
            client: conn.client,
            proxied_by: facts.and_then(|m| m.proxied_by),
            listener: &config.listeners[conn.listener as usize].name,
            route: facts
                .and_then(|m| m.route)
                .map(|r| config.routes[r as usize].name.as_str()),
            sni: facts.and_then(|m| m.sni.as_deref()),
            backend: backend.map(|b| b.name.as_str()),
            server: backend.zip(conn.server).map(|(b, s)| b.servers[s as usize]),
            tls: facts.and_then(|m| m.tls.as_ref()),
            tls_offload: facts.and_then(|m| m.tls_offload),
            offload_fallback: facts.and_then(|m| m.offload_fallback),
            proxy: facts.map_or(HeaderKind::None, |m| m.proxy_sent),
            relay: relay_kind.map(RelayKind::as_str),
            mqtt: conn.mqtt.as_deref(),
            bytes_in,
            bytes_out,
            duration: Duration::from_millis(self.now_ms.saturating_sub(conn.started_ms)),
            termination: *cause,
        });
        self.conns.release(key);
    }

    /// Best effort: an encrypted close_notify to a userspace-TLS client, written straight to
    /// the socket — it is tiny — unless another send to the client is in flight (bytes must
    /// not interleave), in which case the client does without.
    pub(super) fn send_close_notify(&mut self, conn: &mut Conn, client_send_in_flight: bool) {
        if client_send_in_flight {
            return;
        }
        self.ktls_close_notify(conn);
        let Some(tls) = conn.transport.userspace_mut() else {
            return;
        };
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        out.extend_from_slice(&tls.control);
        tls.control.clear();
        // A failed session refuses close_notify, but `out` then already holds the fatal alert
        // its error queued: that goes out alone (an alert ends the session, RFC 8446 §6.2).
        let _ = tls.session.close_notify(&mut tls.held, &mut out);
        if !out.is_empty() {
            net::send_nonblocking(conn.client_fd, &out);
        }
        self.scratch = out;
    }

    /// Sends the TLS records a client read produced (a KeyUpdate answer, an alert) straight to
    /// the client's socket, now rather than in front of the broker's next data. Only when no
    /// other send to the client is in flight (bytes must not interleave); what the socket does
    /// not take stays queued, in order, ahead of the next data.
    pub(super) fn flush_control(conn: &mut Conn) {
        let Some(tls) = conn.transport.userspace_mut() else {
            return;
        };
        if tls.control.is_empty() {
            return;
        }
        match net::send_now(conn.client_fd, &tls.control) {
            Ok(n) if n >= tls.control.len() => tls.control = Vec::new(),
            Ok(n) => drop(tls.control.drain(..n)),
            // A full socket buffer keeps them queued; a reset shows on the next operation.
            Err(_) => {}
        }
    }

    /// Closes every connection (shutdown grace over, or a second signal).
    pub(super) fn close_all(&mut self, cause: Termination) {
        for key in self.conns.keys() {
            let Some(mut conn) = self.conns.take(key) else {
                continue;
            };
            self.begin_close(&mut conn, cause);
            self.settle(key, conn);
        }
    }
}
