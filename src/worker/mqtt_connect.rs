//! The CONNECT stage (`mqtt = true` listeners): after PROXY-in and the TLS handshake, before
//! the upstream connect. Reads the client's first packet — on terminate listeners decrypted
//! by the userspace rustls session, which goes to the kernel only afterwards — and checks it
//! with the sans-IO [`parse_connect`]. A valid CONNECT is forwarded unchanged as the
//! upstream prelude's early bytes, with whatever followed it; anything else is refused with
//! a CONNACK where the client's protocol has a code for it (encrypted on TLS), then closed.
//! All under `timeouts.handshake`, one client operation at a time, like the rest of ingress.

use super::ingress::connecting;
use super::submit::Io;
use super::{Conn, Worker};
use crate::config::ClientIdle;
use crate::conn::{Handshake, MqttConnect, Side, Stage, Termination};
use crate::mqtt::{
    ConnectError, ConnectLimits, ConnectOutcome, MqttInfo, idle_timeout_for_keepalive,
    parse_connect,
};
use crate::slab::Key;

/// What the bytes so far came to, owned so the stage can be taken apart afterwards.
enum Read {
    Incomplete,
    Connect(MqttInfo),
    Refused(ConnectError),
}

impl Worker {
    /// Decrypts what the client sent (terminate listeners), then carries on.
    pub(super) fn advance_mqtt(&mut self, key: Key, conn: &mut Conn) {
        let Stage::MqttConnect(m) = &mut conn.stage else {
            return;
        };
        if let Some(hs) = m.tls.as_mut() {
            if let Err((cause, alert)) = self.decrypt_held(conn.client, hs) {
                return self.close_after_send(key, conn, &alert, cause);
            }
            m.pending.append(&mut hs.early);
        }
        self.continue_mqtt(key, conn);
    }

    /// Sends pending TLS output (a post-handshake record), else parses what has arrived:
    /// reads more, moves on to the backend, or refuses.
    pub(super) fn continue_mqtt(&mut self, key: Key, conn: &mut Conn) {
        let limits = ConnectLimits {
            max_packet_bytes: self.max_connect_size(conn),
            ..ConnectLimits::default()
        };
        let Stage::MqttConnect(m) = &mut conn.stage else {
            return;
        };
        if let Some(hs) = m.tls.as_mut()
            && let Some(buf) = self.tls_output(hs)
        {
            return self.submit(key, conn, Io::send(Side::Client, buf));
        }
        let read = match parse_connect(&m.pending, &limits) {
            Ok(ConnectOutcome::Incomplete { .. }) => Read::Incomplete,
            Ok(ConnectOutcome::Complete { connect, .. }) => {
                Read::Connect(MqttInfo::from_connect(&connect))
            }
            Err(error) => Read::Refused(error),
        };
        match read {
            Read::Incomplete => self.submit_ingress_recv(key, conn),
            Read::Connect(info) => self.connect_read(key, conn, info),
            Read::Refused(error) => self.refuse_connect(key, conn, error),
        }
    }

    /// A valid CONNECT: keep its facts, size the idle timeout, hand TLS to the kernel (or
    /// keep it in userspace), and connect upstream with the client's bytes as they came.
    fn connect_read(&mut self, key: Key, conn: &mut Conn, info: MqttInfo) {
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
        conn.mqtt = Some(Box::new(info));
        let Stage::MqttConnect(m) = std::mem::replace(&mut conn.stage, connecting(None)) else {
            unreachable!("connect_read outside the CONNECT stage");
        };
        let MqttConnect { pending, tls } = *m;
        if let Some(hs) = tls {
            let Handshake { session, held, .. } = *hs;
            if !self.place_tls(conn, session, held) {
                return;
            }
        }
        self.start_connect(key, conn, &pending);
    }

    /// Not a valid CONNECT: the CONNACK the protocol has for it, if any, then close.
    fn refuse_connect(&mut self, key: Key, conn: &mut Conn, error: ConnectError) {
        tracing::debug!(worker = self.id, client = %conn.client, %error, "CONNECT refused");
        let cause = Termination::Mqtt(error.kind);
        let Some(connack) = error.connack() else {
            return self.begin_close(conn, cause);
        };
        let (bytes, len) = connack.bytes();
        let plain = &bytes[..len];
        let Stage::MqttConnect(m) = &mut conn.stage else {
            return;
        };
        let Some(hs) = m.tls.as_mut() else {
            return self.close_after_send(key, conn, plain, cause);
        };
        // Over TLS: the CONNACK and a close_notify, encrypted, in one send.
        let mut records = std::mem::take(&mut self.scratch);
        records.clear();
        let encrypted = hs
            .session
            .write(&mut hs.held, plain, &mut records)
            .and_then(|()| hs.session.close_notify(&mut hs.held, &mut records));
        if let Err(error) = encrypted {
            tracing::debug!(worker = self.id, client = %conn.client, %error, "cannot encrypt the CONNACK");
            records.clear();
        }
        self.close_after_send(key, conn, &records, cause);
        self.scratch = records;
    }

    fn max_connect_size(&self, conn: &Conn) -> u32 {
        self.shared.config.listeners[conn.listener as usize]
            .mqtt
            .map_or(crate::mqtt::DEFAULT_MAX_CONNECT_BYTES, |m| {
                m.max_connect_size
            })
    }

    /// The most plain bytes the stage holds: a whole CONNECT, plus what one read may bring
    /// after it. (The parser refuses a longer CONNECT as soon as its length arrives.)
    pub(super) fn mqtt_pending_limit(&self, conn: &Conn) -> usize {
        self.max_connect_size(conn) as usize + self.ring.bufs().rx_capacity() as usize
    }
}
