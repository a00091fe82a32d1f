//! Close: cancel what is in flight, wait for those completions (the kernel may still touch a
//! buffer or fd until then), close both fds, log the access line, free the slot.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{Conn, Op, Token, Worker};
use crate::access_log::{CloseRecord, log_close};
use crate::conn::{Stage, Termination};
use crate::slab::Key;
use crate::sys::net;

impl Worker {
    /// Moves a connection to `Closing` (keeping the first cause if already closing) and
    /// cancels its in-flight operations. The caller settles it afterwards.
    pub(super) fn begin_close(&mut self, conn: &mut Conn, cause: Termination) {
        if conn.stage.is_closing() {
            return;
        }
        let relay = match std::mem::replace(&mut conn.stage, Stage::Closing { cause, relay: None })
        {
            Stage::Relaying(relay) => Some(relay),
            _ => None,
        };
        conn.stage = Stage::Closing { cause, relay };
        if conn.inflight > 0 {
            self.ring
                .cancel_fd(conn.client_fd, Token::plain(Op::Cancel));
            if conn.server_fd >= 0 {
                self.ring
                    .cancel_fd(conn.server_fd, Token::plain(Op::Cancel));
            }
        }
    }

    /// Closes the fds of a connection with nothing in flight and logs it.
    pub(super) fn finalize(&mut self, key: Key, conn: Conn) {
        debug_assert_eq!(conn.inflight, 0);
        net::close(conn.client_fd);
        if conn.server_fd >= 0 {
            net::close(conn.server_fd);
        }
        self.shared.active[conn.listener as usize]
            .0
            .fetch_sub(1, Ordering::Relaxed);
        let Stage::Closing { cause, relay } = &conn.stage else {
            unreachable!("finalize outside the closing stage");
        };
        let (bytes_in, bytes_out) = relay.as_ref().map_or((0, 0), |r| r.bytes());
        let config = &self.shared.config;
        let backend = &config.backends[conn.backend as usize];
        log_close(&CloseRecord {
            worker: self.id,
            client: conn.client,
            listener: &config.listeners[conn.listener as usize].name,
            backend: &backend.name,
            server: conn.server.map(|s| backend.servers[s as usize]),
            bytes_in,
            bytes_out,
            duration: Duration::from_millis(self.now_ms.saturating_sub(conn.started_ms)),
            termination: *cause,
        });
        self.conns.release(key);
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
