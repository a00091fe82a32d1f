//! Upstream: pick a server of the connection's backend, connect through the ring with a
//! linked timeout, and on refusal or timeout try the next server; when none is left, close
//! the client with the last failure as the cause. Before the first attempt the prelude is
//! built: the PROXY header for the backend (PROXY-out) followed by any bytes already read
//! from the client, all in one buffer so the header goes out in one send.

use super::{Conn, Op, Token, Worker};
use crate::conn::{Stage, Termination};
use crate::proxy_out;
use crate::slab::Key;
use crate::sys::buf_ring::Buf;
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
    /// First attempt: builds the prelude, then tries servers starting from this worker's
    /// round-robin position. `early` is what was read from the client already.
    pub(super) fn start_connect(&mut self, key: Key, conn: &mut Conn, early: &[u8]) {
        let Some(backend) = conn.backend else {
            return self.begin_close(conn, Termination::Internal);
        };
        let prelude = match self.build_prelude(conn, backend as usize, early) {
            Ok(prelude) => prelude,
            Err(cause) => return self.begin_close(conn, cause),
        };
        conn.stage = Stage::Connecting {
            attempt: 0,
            server: 0,
            last_failure: None,
            prelude,
        };
        let slot = &mut self.backends[backend as usize];
        let first = slot.next % slot.targets.len();
        slot.next = slot.next.wrapping_add(1);
        self.connect_attempt(key, conn, 0, first, None);
    }

    /// The PROXY header (if the backend wants one) followed by `early`, in one buffer.
    fn build_prelude(
        &mut self,
        conn: &mut Conn,
        backend: usize,
        early: &[u8],
    ) -> Result<Option<Buf>, Termination> {
        let mode = &self.shared.config.backends[backend].proxy_protocol;
        let kind = proxy_out::kind(mode);
        if conn.meta.is_some() || kind != "none" {
            conn.meta_mut().proxy_sent = kind;
        }
        if kind == "none" && early.is_empty() {
            return Ok(None);
        }
        let mut header = [0u8; proxy_out::MAX_HEADER_BYTES];
        let header_len = if kind == "none" {
            0
        } else {
            let local = self.local_addr(conn);
            let meta = conn.meta.as_deref();
            let view = proxy_out::ClientView {
                client: conn.client,
                local,
                sni: meta.and_then(|m| m.sni.as_deref()),
                tls: meta.and_then(|m| m.tls.as_ref()),
                cert: meta.and_then(|m| m.route).and_then(|r| {
                    self.shared.config.routes[r as usize]
                        .cert_algorithms
                        .as_ref()
                }),
            };
            let mode = &self.shared.config.backends[backend].proxy_protocol;
            proxy_out::encode(mode, &view, &mut header).map_err(|error| {
                tracing::warn!(worker = self.id, client = %conn.client, ?error, "cannot encode the PROXY header");
                Termination::Internal
            })?
        };
        if header_len > 0 {
            conn.meta_mut().header_bytes = header_len as u64;
        }
        let mut buf = self.ring.bufs_mut().tx_from(&header[..header_len]);
        if let Some(v) = buf.tx_mut() {
            v.extend_from_slice(early);
        }
        Ok(Some(buf))
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
        let backend_index = conn.backend.unwrap_or_default() as usize;
        let backend = &self.shared.config.backends[backend_index];
        let count = backend.servers.len();
        while attempt < count {
            let addr = backend.servers[server];
            match net::backend_socket(&addr) {
                Ok(fd) => {
                    conn.server_fd = fd;
                    conn.server = Some(server as u16);
                    if let Stage::Connecting {
                        attempt: a,
                        server: s,
                        last_failure: l,
                        ..
                    } = &mut conn.stage
                    {
                        (*a, *s, *l) = (attempt as u16, server as u16, last_failure);
                    }
                    let slot = &self.backends[backend_index];
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
                    self.count_connect(conn, server as u16, Some(Termination::ConnectError));
                    last_failure = Some(Termination::ConnectError);
                    attempt += 1;
                    server = (server + 1) % count;
                }
            }
        }
        let cause = last_failure.unwrap_or(Termination::ConnectError);
        // No server was connected: the access log says `server=-` (the attempts are in the
        // debug log).
        conn.server = None;
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
            self.count_connect(conn, server, None);
            self.start_relay(key, conn);
            return;
        }
        let failure = connect_failure(-result);
        self.count_connect(conn, server, Some(failure));
        let backend = &self.shared.config.backends[conn.backend.unwrap_or_default() as usize];
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
