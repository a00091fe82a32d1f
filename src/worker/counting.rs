//! The counter bumps that need a little computing first, kept out of the data-path files
//! so that those stay one line per event (the counters themselves: [`crate::metrics`]).

use super::{Conn, Worker};
use crate::config::TlsMode;
use crate::conn::{Side, Stage, Termination};
use crate::relay::Received;
use crate::sys::buf_ring::Buf;

impl Worker {
    /// A connection is closing with `cause`: if it was still reading the ClientHello or in
    /// the TLS handshake of a terminate listener, that handshake failed.
    pub(super) fn count_handshake_failure(&self, conn: &Conn, cause: Termination) {
        let in_handshake = matches!(&conn.stage, Stage::Ingress(ingress) if ingress.in_handshake());
        if in_handshake && self.listener_tls(conn) == TlsMode::Terminate {
            self.counters().handshake_failed(conn.listener, cause);
        }
    }

    /// A connect attempt to server `server` of the connection's backend ended: `None`
    /// connected, else why not.
    pub(super) fn count_connect(&self, conn: &Conn, server: u16, failure: Option<Termination>) {
        let Some(backend) = conn.backend else { return };
        let Some(addr) = self
            .shared
            .config
            .backends
            .get(backend as usize)
            .and_then(|b| b.servers.get(server as usize))
        else {
            return;
        };
        let counters = self.counters();
        match failure {
            None => counters.backend_connected(backend, *addr),
            Some(cause) => counters.backend_connect_failed(backend, *addr, cause),
        }
    }

    /// Client bytes read before the relay started (a replayed ClientHello, early data, what
    /// followed a PROXY header) go out in the prelude, after our PROXY header if any.
    pub(super) fn count_prelude(&self, conn: &Conn, prelude: Option<&Buf>) {
        let Some(buf) = prelude else { return };
        let header = conn.facts.as_ref().map_or(0, |m| m.header_bytes);
        let payload = u64::from(buf.len()).saturating_sub(header);
        self.counters()
            .payload(conn.listener, Side::Client, payload);
    }

    /// Payload read from `from` and handed to the relay: from a client, what decryption
    /// left (`received`); from a server, what the recv returned (`result`), before any
    /// encryption for the client.
    pub(super) fn count_received(
        &self,
        conn: &Conn,
        from: Side,
        result: i32,
        received: &Received<Buf>,
    ) {
        let Received::Data(buf) = received else {
            return;
        };
        let n = match from {
            Side::Client => buf.len(),
            Side::Server => result.max(0) as u32,
        };
        self.counters().payload(conn.listener, from, n.into());
    }

    fn listener_tls(&self, conn: &Conn) -> TlsMode {
        self.shared
            .config
            .listeners
            .get(conn.listener as usize)
            .map_or(TlsMode::None, |l| l.tls)
    }
}
