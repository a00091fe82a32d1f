//! Upstream: pick a server of the connection's backend, connect through the ring with a
//! linked timeout, and on refusal or timeout try the next server; when none is left, close
//! the client with the last failure as the cause.

use super::{Conn, Op, Token, Worker};
use crate::conn::{Stage, Termination};
use crate::slab::Key;
use crate::sys::net;

/// Why one connect attempt failed, from the connect's CQE result.
fn connect_failure(errno: i32) -> Termination {
    match errno {
        // The linked timeout fired and cancelled the connect.
        libc::ECANCELED | libc::ETIME | libc::ETIMEDOUT => Termination::ConnectTimeout,
        libc::ECONNREFUSED => Termination::ConnectRefused,
        _ => Termination::ConnectError,
    }
}

impl Worker {
    /// First attempt: servers are tried starting from this worker's round-robin position.
    pub(super) fn start_connect(&mut self, key: Key, conn: &mut Conn) {
        let slot = &mut self.backends[conn.backend as usize];
        let first = slot.next % slot.targets.len();
        slot.next = slot.next.wrapping_add(1);
        self.connect_attempt(key, conn, 0, first, None);
    }

    /// Tries server `server`, or the ones after it, until a connect is submitted or every
    /// server of the backend was tried once.
    fn connect_attempt(
        &mut self,
        key: Key,
        conn: &mut Conn,
        mut attempt: usize,
        mut server: usize,
        mut last_failure: Option<Termination>,
    ) {
        let backend = &self.shared.config.backends[conn.backend as usize];
        let count = backend.servers.len();
        while attempt < count {
            let addr = backend.servers[server];
            match net::backend_socket(&addr) {
                Ok(fd) => {
                    conn.server_fd = fd;
                    conn.server = Some(server as u16);
                    conn.stage = Stage::Connecting {
                        attempt: attempt as u16,
                        server: server as u16,
                        last_failure,
                    };
                    let slot = &self.backends[conn.backend as usize];
                    self.ring.connect_with_timeout(
                        fd,
                        slot.targets[server],
                        slot.connect_timeout,
                        Token::encode(Op::Connect, key),
                        Token::encode(Op::ConnectTimer, key),
                    );
                    conn.inflight += 2;
                    return;
                }
                Err(error) => {
                    tracing::warn!(worker = self.id, server = %addr, %error, "cannot create a backend socket");
                    last_failure = Some(Termination::ConnectError);
                    attempt += 1;
                    server = (server + 1) % count;
                }
            }
        }
        let cause = last_failure.unwrap_or(Termination::ConnectError);
        self.begin_close(conn, cause);
    }

    pub(super) fn on_connect(&mut self, key: Key, conn: &mut Conn, result: i32) {
        let Stage::Connecting {
            attempt, server, ..
        } = conn.stage
        else {
            // Closing: the connect was cancelled along with everything else.
            return;
        };
        if result == 0 {
            self.start_relay(key, conn);
            return;
        }
        let failure = connect_failure(-result);
        let backend = &self.shared.config.backends[conn.backend as usize];
        tracing::debug!(
            worker = self.id,
            client = %conn.client,
            server = %backend.servers[server as usize],
            cause = %failure,
            "backend connect failed; trying the next server"
        );
        net::close(conn.server_fd);
        conn.server_fd = -1;
        let next = (server as usize + 1) % backend.servers.len();
        self.connect_attempt(key, conn, attempt as usize + 1, next, Some(failure));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_errors_map_to_their_keywords() {
        assert_eq!(
            connect_failure(libc::ECANCELED),
            Termination::ConnectTimeout
        );
        assert_eq!(
            connect_failure(libc::ECONNREFUSED),
            Termination::ConnectRefused
        );
        assert_eq!(
            connect_failure(libc::ENETUNREACH),
            Termination::ConnectError
        );
    }
}
