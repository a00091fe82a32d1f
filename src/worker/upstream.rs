//! Upstream: pick a server of the connection's backend (the backend's `balance`, among the
//! servers the health checks hold up), connect through the ring with a linked timeout, and
//! on refusal or timeout try the next healthy server in the order the balancer gives; when
//! none is left, close the client with the last failure as the cause. Before the first
//! attempt the prelude is built: the PROXY header for the backend (PROXY-out) followed by
//! any bytes already read from the client, all in one buffer so the header goes out in one
//! send.
//!
//! Also every worker's side of the health checks: its copy of the servers' up/down flags,
//! and closing the sessions of a server marked down (`on_marked_down = "shutdown-sessions"`).

use super::submit::Io;
use super::{BackendSlot, Conn, Worker};
use crate::balance::{Balance, Selector, ServerSpec, source_key};
use crate::config::{Backend, OnMarkedDown};
use crate::conn::{Stage, Termination};
use crate::proxy_out;
use crate::proxy_out::HeaderKind;
use crate::slab::Key;
use crate::sys::buf_ring::Buf;
use crate::sys::net;
use crate::sys::uring::Ring;
use crate::upstream::{Connecting, Retry, connect_failure};

impl Worker {
    /// First attempt: picks a server, builds the prelude and connects. `early` is what was
    /// read from the client already.
    pub(super) fn start_connect(&mut self, key: Key, conn: &mut Conn, early: &[u8]) {
        let Some(backend) = conn.backend else {
            return self.begin_close(conn, Termination::Internal);
        };
        self.refresh_health();
        let slot = &mut self.backends[backend as usize];
        let mut scratch = [0u8; 16];
        let balance_key = balance_key(
            conn.mqtt.as_deref(),
            conn.client,
            slot.selector.balance(),
            &mut scratch,
        );
        let Some(first) = slot.selector.pick(balance_key, &slot.up, &slot.active) else {
            return self.refuse_no_server(conn);
        };
        let prelude = match self.build_prelude(conn, backend as usize, early) {
            Ok(prelude) => prelude,
            Err(cause) => return self.begin_close(conn, cause),
        };
        conn.stage = Stage::Connecting(Connecting::new(first as u16, prelude));
        self.connect_attempt(key, conn);
    }

    /// Whether backend `backend` has a server to send a new client to now; lets a TLS
    /// listener refuse before spending a handshake on a client it cannot serve.
    pub(super) fn backend_available(&mut self, backend: usize) -> bool {
        self.refresh_health();
        let slot = &self.backends[backend];
        slot.up
            .iter()
            .zip(self.shared.config.backends[backend].weights.iter())
            .any(|(&up, &w)| up && w > 0)
    }

    /// Every server of the backend is down: refuse at once rather than try a connect.
    pub(super) fn refuse_no_server(&mut self, conn: &mut Conn) {
        tracing::debug!(worker = self.id, client = %conn.client, "no server available");
        self.begin_close(conn, Termination::NoServerAvailable);
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
        if conn.facts.is_some() || kind != HeaderKind::None {
            conn.facts_mut().proxy_sent = kind;
        }
        if kind == HeaderKind::None && early.is_empty() {
            return Ok(None);
        }
        let mut header = [0u8; proxy_out::MAX_HEADER_BYTES];
        let header_len = if kind == HeaderKind::None {
            0
        } else {
            let local = self.local_addr(conn);
            let facts = conn.facts.as_deref();
            let view = proxy_out::ClientView {
                client: conn.client,
                local,
                sni: facts.and_then(|m| m.sni.as_deref()),
                tls: facts.and_then(|m| m.tls.as_ref()),
                cert: facts.and_then(|m| m.route).and_then(|r| {
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
            conn.facts_mut().header_bytes = header_len as u64;
        }
        let mut buf = self.ring.bufs_mut().tx_from(&header[..header_len]);
        if let Some(v) = buf.tx_mut() {
            v.extend_from_slice(early);
        }
        Ok(Some(buf))
    }

    /// Tries the connecting stage's server, or the next ones in fail-over order, until a
    /// connect is submitted or no healthy untried server is left.
    fn connect_attempt(&mut self, key: Key, conn: &mut Conn) {
        let backend_index = conn.backend.unwrap_or_default() as usize;
        loop {
            let Stage::Connecting(connecting) = &conn.stage else {
                return;
            };
            let server = connecting.server() as usize;
            let addr = self.shared.config.backends[backend_index].servers[server];
            let error = match net::backend_socket(&addr) {
                Ok(fd) => {
                    conn.server_fd = Some(fd);
                    self.assign_server(conn, Some(server as u16));
                    let slot = &self.backends[backend_index];
                    let io = Io::Connect {
                        fd,
                        target: slot.targets[server],
                        timeout: slot.connect_timeout,
                    };
                    return self.submit(key, conn, io);
                }
                Err(error) => error,
            };
            tracing::warn!(worker = self.id, server = %addr, %error, "cannot create a backend socket");
            self.count_connect(conn, server as u16, Some(Termination::ConnectError));
            if let Retry::Close(cause) = self.fail_over(conn, Termination::ConnectError) {
                // No server was connected: the access log says `server=-` (the attempts are
                // in the debug log).
                self.assign_server(conn, None);
                return self.begin_close(conn, cause);
            }
        }
    }

    /// The attempt on the connecting stage's server failed with `cause`: moves it to the next
    /// server in the balancer's fail-over order (healthy servers only, for the hash modes the
    /// key's next-best servers), or says there is none.
    fn fail_over(&mut self, conn: &mut Conn, cause: Termination) -> Retry {
        let Conn {
            stage: Stage::Connecting(connecting),
            backend: Some(backend),
            mqtt,
            client,
            ..
        } = conn
        else {
            return Retry::Close(cause);
        };
        let slot = &mut self.backends[*backend as usize];
        connecting.failed(cause, |failed| {
            let mut scratch = [0u8; 16];
            let key = balance_key(
                mqtt.as_deref(),
                *client,
                slot.selector.balance(),
                &mut scratch,
            );
            slot.selector
                .failover_order(key, &slot.up, &slot.active, failed as usize)
                .into_iter()
                .map(|s| s as u16)
                .collect()
        })
    }

    /// Moves the connection's place in its backend's per-server counts (least-connections).
    fn assign_server(&mut self, conn: &mut Conn, server: Option<u16>) {
        if let Some(b) = conn.backend {
            let active = &mut self.backends[b as usize].active;
            if let Some(old) = conn.server.and_then(|s| active.get_mut(s as usize)) {
                *old = old.saturating_sub(1);
            }
            if let Some(new) = server.and_then(|s| active.get_mut(s as usize)) {
                *new += 1;
            }
        }
        conn.server = server;
    }

    /// A closing connection leaves its server's count (its `server` stays for the log).
    pub(super) fn release_server(&mut self, conn: &Conn) {
        if let (Some(b), Some(s)) = (conn.backend, conn.server)
            && let Some(n) = self.backends[b as usize].active.get_mut(s as usize)
        {
            *n = n.saturating_sub(1);
        }
    }

    pub(super) fn on_connect(&mut self, key: Key, conn: &mut Conn, result: i32) {
        let Stage::Connecting(connecting) = &conn.stage else {
            // Closing: the connect was cancelled along with everything else.
            return;
        };
        let server = connecting.server();
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
        if let Some(fd) = conn.server_fd.take() {
            net::close(fd);
        }
        match self.fail_over(conn, failure) {
            Retry::Connect(_) => self.connect_attempt(key, conn),
            Retry::Close(cause) => {
                self.assign_server(conn, None);
                self.begin_close(conn, cause);
            }
        }
    }

    /// Copies the health board's flags when its epoch moved (one relaxed-cost load
    /// otherwise), and notes servers marked down since, for the tick to shut their sessions.
    pub(super) fn refresh_health(&mut self) {
        let board = &self.shared.health;
        let epoch = board.epoch();
        if epoch == self.health_epoch {
            return;
        }
        self.health_epoch = epoch;
        for (b, (slot, backend)) in self
            .backends
            .iter_mut()
            .zip(&self.shared.config.backends)
            .enumerate()
        {
            for s in 0..slot.up.len() {
                slot.up[s] = board.is_up(b, s);
                let downs = board.downs(b, s);
                if downs != slot.downs_seen[s] {
                    slot.downs_seen[s] = downs;
                    if backend.on_marked_down == OnMarkedDown::ShutdownSessions {
                        self.marked_down.push((b as u16, s as u16));
                    }
                }
            }
        }
    }

    /// Closes the relaying sessions of servers marked down (`shutdown-sessions`), through
    /// the normal close path: cancel, wait for completions, access log `server_marked_down`.
    /// Connections still connecting are left to their connect's outcome.
    pub(super) fn shut_down_marked_sessions(&mut self) {
        if self.marked_down.is_empty() {
            return;
        }
        let marked = std::mem::take(&mut self.marked_down);
        let mut closed = 0usize;
        for key in self.conns.keys() {
            let Some(mut conn) = self.conns.take(key) else {
                continue;
            };
            let on_marked = conn
                .backend
                .zip(conn.server)
                .is_some_and(|pair| marked.contains(&pair));
            if on_marked && let Some(cause) = conn.stage.on_server_marked_down() {
                self.begin_close(&mut conn, cause);
                closed += 1;
            }
            self.settle(key, conn);
        }
        for (b, s) in marked {
            let backend = &self.shared.config.backends[b as usize];
            tracing::info!(
                worker = self.id,
                backend = %backend.name,
                server = %backend.servers[s as usize],
                "closing the sessions of a server marked down (on_marked_down = shutdown-sessions)"
            );
        }
        if closed > 0 {
            tracing::info!(worker = self.id, closed, "sessions shut down");
        }
    }
}

impl BackendSlot {
    pub(super) fn new(backend: &Backend, worker: usize, ring: &mut Ring) -> BackendSlot {
        let ids: Vec<String> = backend.servers.iter().map(ToString::to_string).collect();
        let specs: Vec<ServerSpec<'_>> = ids
            .iter()
            .zip(&backend.weights)
            .map(|(id, &weight)| ServerSpec { id, weight })
            .collect();
        let mut selector = Selector::new(backend.balance, &specs);
        // Workers start their rotations at different servers.
        selector.stagger(worker);
        let n = backend.servers.len();
        BackendSlot {
            targets: backend
                .servers
                .iter()
                .map(|s| ring.register_target(*s))
                .collect(),
            connect_timeout: ring.register_duration(backend.connect_timeout),
            selector,
            up: vec![true; n],
            downs_seen: vec![0; n],
            active: vec![0; n],
        }
    }
}

/// The bytes a hash-balanced backend hashes for this connection, in `scratch` or the
/// connection; `None` for the modes that take no key.
///
/// Servers are identified by their address text for hashing (see [`ServerSpec::id`]), so
/// reordering `servers` moves no client.
fn balance_key<'a>(
    mqtt: Option<&'a crate::mqtt::MqttInfo>,
    client: std::net::SocketAddr,
    balance: Balance,
    scratch: &'a mut [u8; 16],
) -> Option<&'a [u8]> {
    match balance {
        Balance::RoundRobin | Balance::LeastConnections => None,
        // The CONNECT's client id (`mqtt = true` listeners): the same device lands on the
        // same broker from every ringress instance. Without one (a listener that does not
        // parse MQTT, or an empty id the broker will assign) the client's address is hashed,
        // like `source`.
        Balance::ClientId
            if let Some(id) = mqtt.map(|m| m.client_id.as_bytes())
                && !id.is_empty() =>
        {
            Some(id)
        }
        Balance::ClientId | Balance::Source => {
            let (bytes, len) = source_key(client.ip());
            *scratch = bytes;
            scratch.get(..len)
        }
    }
}
