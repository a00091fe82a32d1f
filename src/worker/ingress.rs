//! Ingress: everything read from the client before a backend is involved — the load
//! balancer's PROXY header (`accept_proxy`), the ClientHello and the route it selects, and
//! the TLS handshake (terminate listeners). Only the client socket is used here, one
//! operation at a time, all under `timeouts.handshake`.
//!
//! Bytes read here are copied out of the pool buffer into a small per-connection `Vec`
//! right away: ingress is short and bounded, and the pool buffer goes back at once.

use std::net::SocketAddr;

use super::submit::Io;
use super::{Conn, Worker};
use crate::config::TlsMode;
use crate::conn::{Handshake, Leftover, MqttConnect, Side, Stage, Termination};
use crate::mqtt::ConnectErrorKind;
use crate::proxy_protocol::{self, ReceiveError, Received};
use crate::relay::failure_termination;
use crate::slab::Key;
use crate::sys::buf_ring::Buf;
use crate::sys::net;
use crate::sys::uring::Completion;
use crate::tls::client_hello::{self, Peek, alert_record};
use crate::tls::{MAX_HELD_BYTES, TlsErrorKind, TlsSession};

impl Worker {
    pub(super) fn submit_ingress_recv(&mut self, key: Key, conn: &mut Conn) {
        self.submit(key, conn, Io::Recv { from: Side::Client });
    }

    /// Bytes (or EOF, or an error) from the client during ingress.
    pub(super) fn on_ingress_recv(&mut self, key: Key, conn: &mut Conn, c: Completion) {
        let Some(bid) = c.buffer_id() else {
            match c.result {
                0 => self.begin_close(conn, Termination::ClientAborted),
                n if -n == libc::ENOBUFS => self.starved.push_back((key, Side::Client)),
                n => self.begin_close(conn, failure_termination(Side::Client, -n)),
            }
            return;
        };
        let buf = self.ring.bufs_mut().take_rx(bid, c.result.max(0) as u32);
        conn.touch(Side::Client, self.now_ms);
        if c.result <= 0 {
            self.ring.bufs_mut().recycle(buf);
            let cause = match c.result {
                0 => Termination::ClientAborted,
                n => failure_termination(Side::Client, -n),
            };
            self.begin_close(conn, cause);
            return;
        }
        if let Stage::ProxyIn { .. } = conn.stage {
            return self.on_proxy_in_read(key, conn, buf);
        }
        let limit = match &conn.stage {
            Stage::ClientHello { .. } => client_hello::MAX_CLIENT_HELLO_BYTES,
            Stage::MqttConnect(m) if m.tls.is_none() => self.mqtt_pending_limit(conn),
            _ => MAX_HELD_BYTES,
        };
        let target = match &mut conn.stage {
            Stage::ClientHello { pending } => pending,
            Stage::Handshake(hs) => &mut hs.held,
            Stage::MqttConnect(m) => match &mut m.tls {
                Some(hs) => &mut hs.held,
                None => &mut m.pending,
            },
            _ => unreachable!("ingress recv outside an ingress stage"),
        };
        let appended = append_bounded(target, self.ring.bufs().bytes(&buf), limit);
        self.ring.bufs_mut().recycle(buf);
        if !appended {
            let cause = match &conn.stage {
                Stage::ClientHello { .. } => Termination::Tls(TlsErrorKind::HelloTooLarge),
                Stage::MqttConnect(m) if m.tls.is_none() => {
                    Termination::Mqtt(ConnectErrorKind::TooLarge)
                }
                _ => Termination::Tls(TlsErrorKind::HandshakeTooLarge),
            };
            self.begin_close(conn, cause);
            return;
        }
        self.advance_ingress(key, conn);
    }

    /// Runs the current ingress stage on what it has read, moving forward as far as it can.
    fn advance_ingress(&mut self, key: Key, conn: &mut Conn) {
        match &conn.stage {
            Stage::ClientHello { .. } => self.advance_client_hello(key, conn),
            Stage::Handshake(_) => self.advance_handshake(key, conn),
            Stage::MqttConnect(_) => self.advance_mqtt(key, conn),
            _ => {}
        }
    }

    /// One read from the load balancer while its PROXY header is incomplete.
    fn on_proxy_in_read(&mut self, key: Key, conn: &mut Conn, buf: Buf) {
        let (rest_limit, rest_cause) = self.after_proxy_in(conn);
        let Stage::ProxyIn { pending } = &mut conn.stage else {
            return self.ring.bufs_mut().recycle(buf);
        };
        let received = proxy_protocol::receive(pending, self.ring.bufs().bytes(&buf), rest_limit);
        self.ring.bufs_mut().recycle(buf);
        match received {
            Ok(Received::Incomplete) => self.submit_ingress_recv(key, conn),
            Ok(Received::Header {
                source,
                destination,
                rest,
            }) => self.after_proxy_header(key, conn, source, destination, rest),
            Err(ReceiveError::RestTooLong) => self.begin_close(conn, rest_cause),
            Err(ReceiveError::Header(error)) => {
                tracing::debug!(worker = self.id, client = %conn.client, ?error, "bad PROXY header");
                self.begin_close(conn, Termination::ProxyInvalid)
            }
        }
    }

    /// The most bytes the stage after PROXY-in takes from the read that completes the
    /// header, and the cause when more came: that stage's own limit, as if the client had
    /// connected directly. A plain listener reads nothing more before the backend, so its
    /// bound is that one read (which it cannot pass).
    fn after_proxy_in(&self, conn: &Conn) -> (usize, Termination) {
        let listener = &self.shared.config.listeners[conn.listener as usize];
        if listener.tls != TlsMode::None {
            (
                client_hello::MAX_CLIENT_HELLO_BYTES,
                Termination::Tls(client_hello::HelloError::TooLarge.kind()),
            )
        } else if listener.mqtt.is_some() {
            (
                self.mqtt_pending_limit(conn),
                Termination::Mqtt(ConnectErrorKind::TooLarge),
            )
        } else {
            (
                self.ring.bufs().rx_capacity() as usize,
                Termination::ProxyInvalid,
            )
        }
    }

    /// The balancer's header is complete: take the client's address from it and move on
    /// with the bytes that came after it.
    fn after_proxy_header(
        &mut self,
        key: Key,
        conn: &mut Conn,
        source: Option<SocketAddr>,
        destination: Option<SocketAddr>,
        rest: Vec<u8>,
    ) {
        let balancer = conn.client;
        if let Some(source) = source {
            conn.client = source;
        }
        let meta = conn.meta_mut();
        meta.proxied_by = Some(balancer);
        meta.local = destination;
        // Rate limits count the clients behind the balancer, not the balancer (whose own
        // LOCAL health checks are not limited).
        if let Some(source) = source
            && self.rate_limited(conn.listener as usize, source)
        {
            return self.begin_close(conn, Termination::RateLimited);
        }
        let listener = &self.shared.config.listeners[conn.listener as usize];
        if listener.tls != TlsMode::None {
            conn.stage = Stage::ClientHello { pending: rest };
            self.advance_client_hello(key, conn);
        } else if listener.mqtt.is_some() {
            conn.stage = Stage::MqttConnect(Box::new(MqttConnect {
                pending: rest,
                tls: None,
            }));
            self.advance_mqtt(key, conn);
        } else {
            conn.stage = connecting(None);
            self.start_connect(key, conn, &rest);
        }
    }

    fn advance_client_hello(&mut self, key: Key, conn: &mut Conn) {
        let Stage::ClientHello { pending } = &conn.stage else {
            return;
        };
        let hello = match client_hello::peek(pending) {
            Ok(Peek::Incomplete) => return self.submit_ingress_recv(key, conn),
            Ok(Peek::Hello(hello)) => hello,
            Err(error) => {
                let cause = Termination::Tls(error.kind());
                return match error.alert() {
                    Some(alert) => self.close_after_send(key, conn, &alert_record(alert), cause),
                    None => self.begin_close(conn, cause),
                };
            }
        };
        let config = &self.shared.config;
        let listener = &config.listeners[conn.listener as usize];
        let route = hello
            .sni
            .as_deref()
            .and_then(|sni| listener.routes.lookup(sni))
            .or(listener.default_route);
        // The SNI goes to the access log whether or not it matched a route.
        conn.meta_mut().sni = hello.sni;
        let Some(route) = route else {
            tracing::debug!(worker = self.id, client = %conn.client, "no route for SNI");
            let alert = alert_record(rustls::AlertDescription::UnrecognisedName);
            return self.close_after_send(key, conn, &alert, Termination::NoRoute);
        };
        let tls_config = config.routes[route].tls.clone();
        conn.backend = Some(config.routes[route].backend as u16);
        conn.meta_mut().route = Some(route as u16);
        // Every server down: refuse before the handshake, with an alert rather than a bare
        // close (docs/config.md, "Health checks").
        if !self.backend_available(conn.backend.map_or(0, usize::from)) {
            let alert = alert_record(rustls::AlertDescription::InternalError);
            return self.close_after_send(key, conn, &alert, Termination::NoServerAvailable);
        }
        let Stage::ClientHello { pending } = std::mem::replace(&mut conn.stage, connecting(None))
        else {
            unreachable!()
        };
        match tls_config {
            // Pass-through: replay the ClientHello (and anything after it) to the backend.
            None => self.start_connect(key, conn, &pending),
            Some(tls_config) => {
                match TlsSession::new(tls_config, self.listener_tls_records(conn)) {
                    Ok(mut session) => {
                        // A session that will stay in userspace goes to our record layer at the
                        // end of its handshake, before rustls sees anything behind the Finished.
                        if !self.kernel_tls_possible(conn.listener) {
                            session.own_records_from_the_start();
                        }
                        conn.stage = Stage::Handshake(Box::new(Handshake {
                            session,
                            held: pending,
                            outgoing: Vec::new(),
                            outgoing_sent: 0,
                            sending: false,
                            early: Vec::new(),
                        }));
                        self.advance_handshake(key, conn);
                    }
                    Err(error) => self.begin_close(conn, Termination::Tls(error.kind)),
                }
            }
        }
    }

    /// Feeds what the client sent to the TLS session; sends what it answers; moves on to the
    /// backend once the handshake is done and its last flight (with the session tickets) sent.
    fn advance_handshake(&mut self, key: Key, conn: &mut Conn) {
        let Stage::Handshake(hs) = &mut conn.stage else {
            return;
        };
        if let Err((cause, alert)) = self.decrypt_held(conn.client, hs) {
            return self.close_after_send(key, conn, &alert, cause);
        }
        self.continue_handshake(key, conn);
    }

    /// Feeds the held client bytes to the session (handshake records, or application data
    /// once established), which appends decrypted application data to `hs.early`.
    /// `Err((cause, alert))`: close with `cause` after sending `alert` (maybe empty).
    pub(super) fn decrypt_held(
        &self,
        client: SocketAddr,
        hs: &mut Handshake,
    ) -> Result<(), (Termination, Vec<u8>)> {
        match hs.session.read(&mut hs.held, &mut hs.outgoing) {
            Ok(outcome) => {
                hs.early.extend_from_slice(&hs.held[..outcome.plaintext]);
                hs.held.drain(..outcome.consumed);
                if outcome.peer_closed {
                    return Err((Termination::ClientAborted, Vec::new()));
                }
                Ok(())
            }
            Err(error) => {
                tracing::debug!(worker = self.id, %client, %error, "TLS error during ingress");
                let alert = std::mem::take(&mut hs.outgoing);
                Err((Termination::Tls(error.kind), alert))
            }
        }
    }

    /// Sends pending handshake output, else reads more, else finishes the handshake.
    fn continue_handshake(&mut self, key: Key, conn: &mut Conn) {
        let Stage::Handshake(hs) = &mut conn.stage else {
            return;
        };
        let handshaking = hs.session.is_handshaking();
        if let Some(buf) = self.tls_output(hs) {
            return self.submit(key, conn, Io::send(Side::Client, buf));
        }
        if handshaking {
            return self.submit_ingress_recv(key, conn);
        }
        self.finish_handshake(key, conn);
    }

    /// A buffer with what the session wrote for the client and is not sent yet, for the
    /// caller to send (`hs.sending` is set); `None` (and `outgoing` emptied) when everything
    /// went out.
    pub(super) fn tls_output(&mut self, hs: &mut Handshake) -> Option<Buf> {
        if hs.outgoing_sent >= hs.outgoing.len() {
            hs.outgoing.clear();
            hs.outgoing_sent = 0;
            return None;
        }
        let buf = self
            .ring
            .bufs_mut()
            .tx_from(&hs.outgoing[hs.outgoing_sent..]);
        hs.outgoing_sent = hs.outgoing.len();
        hs.sending = true;
        Some(buf)
    }

    /// A send to the client during ingress (a handshake flight, or post-handshake records
    /// while reading the CONNECT) completed; `buf` is the buffer the ring gave back.
    pub(super) fn on_ingress_send(&mut self, key: Key, conn: &mut Conn, result: i32, mut buf: Buf) {
        conn.touch(Side::Client, self.now_ms);
        let hs = match &mut conn.stage {
            Stage::Handshake(hs) => Some(hs),
            Stage::MqttConnect(m) => m.tls.as_mut(),
            _ => None,
        };
        let Some(hs) = hs.filter(|hs| hs.sending) else {
            return self.ring.bufs_mut().recycle(buf);
        };
        hs.sending = false;
        if result <= 0 {
            self.ring.bufs_mut().recycle(buf);
            let errno = if result == 0 { libc::EPIPE } else { -result };
            return self.begin_close(conn, failure_termination(Side::Client, errno));
        }
        let sent = result as usize;
        if sent < buf.len() as usize {
            // Short send: keep the rest in the same buffer and send it.
            if let Some(v) = buf.tx_mut() {
                v.drain(..sent);
            }
            hs.sending = true;
            return self.submit(key, conn, Io::send(Side::Client, buf));
        }
        self.ring.bufs_mut().recycle(buf);
        match conn.stage {
            Stage::Handshake(_) => self.continue_handshake(key, conn),
            _ => self.continue_mqtt(key, conn),
        }
    }

    fn finish_handshake(&mut self, key: Key, conn: &mut Conn) {
        let Stage::Handshake(mut hs) = std::mem::replace(&mut conn.stage, connecting(None)) else {
            unreachable!("finish_handshake outside the handshake");
        };
        conn.meta_mut().tls = hs.session.info().cloned();
        let early = std::mem::take(&mut hs.early);
        if self.shared.config.listeners[conn.listener as usize]
            .mqtt
            .is_some()
        {
            // The CONNECT is read through the userspace session; the kernel gets it after.
            conn.stage = Stage::MqttConnect(Box::new(MqttConnect {
                pending: early,
                tls: Some(hs),
            }));
            return self.continue_mqtt(key, conn);
        }
        let Handshake { session, held, .. } = *hs;
        if self.place_tls(conn, session, held) {
            self.start_connect(key, conn, &early);
        }
    }

    /// Sends `bytes` (an alert) to the client, then closes with `cause`. Used only when no
    /// other send to the client is in flight (ingress is one operation at a time).
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
            left: left @ Leftover::Nothing,
            ..
        } = &mut conn.stage
        else {
            return;
        };
        if bytes.is_empty() {
            return;
        }
        *left = Leftover::Sending;
        let buf = self.ring.bufs_mut().tx_from(bytes);
        self.submit(key, conn, Io::send(Side::Client, buf));
    }

    /// The address the client connected to, for the PROXY header: the balancer's frontend
    /// when it told us, else our own socket's address.
    pub(super) fn local_addr(&self, conn: &mut Conn) -> SocketAddr {
        if let Some(local) = conn.meta.as_ref().and_then(|m| m.local) {
            return local;
        }
        let local = net::local_addr_of(conn.client_fd)
            .unwrap_or_else(|_| self.shared.config.listeners[conn.listener as usize].bind);
        conn.meta_mut().local = Some(local);
        local
    }
}

/// The connecting stage before the first attempt.
pub(super) fn connecting(
    prelude: Option<crate::sys::buf_ring::Buf>,
) -> Stage<crate::sys::buf_ring::Buf, crate::sys::pipe::Pipe> {
    Stage::Connecting {
        attempt: 0,
        server: 0,
        last_failure: None,
        prelude,
    }
}

/// Appends `bytes` to `pending` unless that would pass `limit`.
fn append_bounded(pending: &mut Vec<u8>, bytes: &[u8], limit: usize) -> bool {
    if pending.len() + bytes.len() > limit {
        return false;
    }
    pending.extend_from_slice(bytes);
    true
}
