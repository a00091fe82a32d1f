//! Ingress on the ring: everything read from the client before a backend is involved — the
//! load balancer's PROXY header, the ClientHello and its route, the TLS handshake, the
//! CONNECT — is decided by the sans-IO [`Ingress`] (core `ingress`); this file feeds it the
//! client socket's completions, answers its lookups ([`Lookups`]: routes, backend health,
//! rate limits) and carries out what it returns. Only the client socket is used, one
//! operation at a time, all under `timeouts.handshake`.
//!
//! Bytes read here are copied out of the pool buffer at once (ingress is short and bounded,
//! and the pool buffer goes back at once); the ingress keeps what it needs.

use std::net::SocketAddr;

use super::submit::Io;
use super::{Conn, Worker};
use crate::config::{ClientIdle, Listener, TlsMode};
use crate::conn::{Facts, Side, Stage, Termination};
use crate::ingress::{Action, Env, Established, Ingress, Ingressed, Policy, Read, Route};
use crate::mqtt::idle_timeout_for_keepalive;
use crate::slab::Key;
use crate::sys::buf_ring::Buf;
use crate::sys::net;
use crate::sys::uring::Completion;
use crate::tls::TlsInfo;

/// An ingress action made owned, so the connection can be touched while carrying it out.
enum Next {
    Recv,
    Send(Buf),
    Done(Ingressed),
    Close { cause: Termination, alert: Vec<u8> },
}

impl Worker {
    /// The ingress a new connection on `listener` goes through, if it needs one.
    pub(super) fn ingress_for(&self, listener: &Listener) -> Option<Box<Ingress>> {
        let policy = Policy {
            accept_proxy: listener.accept_proxy,
            client_hello: listener.tls != TlsMode::None,
            mqtt_max_connect: listener.mqtt.map(|m| m.max_connect_size),
            read_size: self.ring.bufs().rx_capacity() as usize,
            records: listener.tls_records,
            kernel_tls_possible: self.kernel_tls_possible(listener),
        };
        Ingress::new(policy).map(Box::new)
    }

    pub(super) fn submit_ingress_recv(&mut self, key: Key, conn: &mut Conn) {
        self.submit(key, conn, Io::Recv { from: Side::Client });
    }

    /// Bytes (or EOF, or an error) from the client during ingress.
    pub(super) fn on_ingress_recv(&mut self, key: Key, conn: &mut Conn, c: Completion) {
        let mut bytes = std::mem::take(&mut self.ingress_read);
        bytes.clear();
        let read = match c.buffer_id() {
            None if -c.result == libc::ENOBUFS => {
                self.ingress_read = bytes;
                return self.starved.push_back((key, Side::Client));
            }
            None if c.result == 0 => Read::Eof,
            None => Read::Failed(-c.result),
            Some(bid) => {
                let buf = self.ring.bufs_mut().take_rx(bid, c.result.max(0) as u32);
                bytes.extend_from_slice(self.ring.bufs().bytes(&buf));
                self.ring.bufs_mut().recycle(buf);
                conn.touch(Side::Client, self.now_ms);
                match c.result {
                    0 => Read::Eof,
                    n if n < 0 => Read::Failed(-n),
                    _ => Read::Data(&bytes),
                }
            }
        };
        let next = self.run_ingress(conn, |ingress, env| ingress.on_recv(read, env));
        self.ingress_read = bytes;
        if let Some(next) = next {
            self.carry_out(key, conn, next);
        }
    }

    /// A send to the client during ingress completed; `buf` is the buffer the ring gave back.
    pub(super) fn on_ingress_send(&mut self, key: Key, conn: &mut Conn, result: i32, buf: Buf) {
        self.ring.bufs_mut().recycle(buf);
        conn.touch(Side::Client, self.now_ms);
        let result = if result < 0 {
            Err(-result)
        } else {
            Ok(result as usize)
        };
        if let Some(next) = self.run_ingress(conn, |ingress, env| ingress.on_sent(result, env)) {
            self.carry_out(key, conn, next);
        }
    }

    /// Runs one ingress event with the worker's lookups; `None` outside ingress.
    fn run_ingress(
        &mut self,
        conn: &mut Conn,
        event: impl for<'i> FnOnce(&'i mut Ingress, &mut Lookups<'_>) -> Action<'i>,
    ) -> Option<Next> {
        let Conn {
            stage: Stage::Ingress(ingress),
            listener,
            client,
            backend,
            facts,
            ..
        } = conn
        else {
            return None;
        };
        let mut env = Lookups {
            worker: self,
            listener: *listener,
            client,
            backend,
            facts,
        };
        let action = event(ingress, &mut env);
        Some(match action {
            Action::Recv => Next::Recv,
            Action::Send(bytes) => Next::Send(self.ring.bufs_mut().tx_from(bytes)),
            Action::Done(done) => Next::Done(done),
            Action::Close { cause, alert } => Next::Close { cause, alert },
        })
    }

    fn carry_out(&mut self, key: Key, conn: &mut Conn, next: Next) {
        match next {
            Next::Recv => self.submit_ingress_recv(key, conn),
            Next::Send(buf) => self.submit(key, conn, Io::send(Side::Client, buf)),
            Next::Done(done) => self.after_ingress(key, conn, done),
            Next::Close { cause, alert } => self.close_after_send(key, conn, &alert, cause),
        }
    }

    /// Ingress is over: keep the CONNECT's facts and size the idle timeout from it, hand TLS
    /// to the kernel (or keep it in userspace), and connect upstream with the client's bytes
    /// as they came.
    fn after_ingress(&mut self, key: Key, conn: &mut Conn, done: Ingressed) {
        let Ingressed { early, tls, mqtt } = done;
        conn.stage = Stage::Ready;
        if let Some(info) = mqtt {
            let config = &self.shared.config;
            if config.listeners[conn.listener as usize].client_idle == ClientIdle::MqttKeepalive {
                let t = &config.timeouts;
                let idle = idle_timeout_for_keepalive(
                    info.keepalive_secs,
                    t.keepalive_idle_min,
                    t.keepalive_idle_max,
                )
                .unwrap_or(t.client_idle);
                conn.client_idle_ms = u32::try_from(idle.as_millis()).unwrap_or(u32::MAX);
            }
            conn.mqtt = Some(info);
        }
        if let Some(tls) = tls {
            let Established { session, held } = *tls;
            if !self.place_tls(conn, session, held) {
                return;
            }
        }
        self.start_connect(key, conn, &early);
    }

    /// Sends `bytes` (an alert, a refusing CONNACK) to the client, then closes with `cause`.
    /// Used only when no other send to the client is in flight (ingress is one operation at
    /// a time).
    pub(super) fn close_after_send(
        &mut self,
        key: Key,
        conn: &mut Conn,
        bytes: &[u8],
        cause: Termination,
    ) {
        self.begin_close(conn, cause);
        // Only with nothing else sent to the client (nor a buffer waiting for a send).
        let Stage::Closing {
            left: left @ crate::conn::Leftover::Nothing,
            ..
        } = &mut conn.stage
        else {
            return;
        };
        if bytes.is_empty() {
            return;
        }
        *left = crate::conn::Leftover::Sending;
        let buf = self.ring.bufs_mut().tx_from(bytes);
        self.submit(key, conn, Io::send(Side::Client, buf));
    }

    /// The address the client connected to, for the PROXY header: the balancer's frontend
    /// when it told us, else our own socket's address.
    pub(super) fn local_addr(&self, conn: &mut Conn) -> SocketAddr {
        if let Some(local) = conn.facts.as_ref().and_then(|m| m.local) {
            return local;
        }
        let local = net::local_addr_of(conn.client_fd)
            .unwrap_or_else(|_| self.shared.config.listeners[conn.listener as usize].bind);
        conn.facts_mut().local = Some(local);
        local
    }
}

/// What ingress asks of the proxy, answered by the worker; the facts it learns go to the
/// connection (for the access log and the PROXY header toward the broker).
struct Lookups<'a> {
    worker: &'a mut Worker,
    listener: u16,
    client: &'a mut SocketAddr,
    backend: &'a mut Option<u16>,
    facts: &'a mut Option<Box<Facts>>,
}

impl Lookups<'_> {
    fn facts(&mut self) -> &mut Facts {
        self.facts.get_or_insert_with(Box::default)
    }
}

impl Env for Lookups<'_> {
    fn client(&self) -> SocketAddr {
        *self.client
    }

    fn proxied(&mut self, source: Option<SocketAddr>, destination: Option<SocketAddr>) {
        let balancer = *self.client;
        if let Some(source) = source {
            *self.client = source;
        }
        let facts = self.facts();
        facts.proxied_by = Some(balancer);
        facts.local = destination;
    }

    fn rate_limited(&mut self, client: SocketAddr) -> bool {
        self.worker.rate_limited(self.listener as usize, client)
    }

    fn route(&mut self, sni: Option<Box<str>>) -> Option<Route> {
        let config = &self.worker.shared.config;
        let listener = &config.listeners[self.listener as usize];
        let route = sni
            .as_deref()
            .and_then(|sni| listener.routes.lookup(sni))
            .or(listener.default_route);
        // The SNI goes to the access log whether or not it matched a route.
        self.facts().sni = sni;
        let route = route?;
        let config = &self.worker.shared.config;
        let tls = config.routes[route].tls.clone();
        let backend = config.routes[route].backend;
        *self.backend = Some(backend as u16);
        self.facts().route = Some(route as u16);
        let backend_up = self.worker.backend_available(backend);
        Some(Route { tls, backend_up })
    }

    fn established(&mut self, info: Option<&TlsInfo>) {
        self.facts().tls = info.cloned();
    }
}
