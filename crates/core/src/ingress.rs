//! Ingress, sans-IO: everything read from the client before a backend is involved — the load
//! balancer's PROXY header (`accept_proxy`), the ClientHello and the route its SNI selects, the
//! TLS handshake (terminate routes) and the client's CONNECT (`mqtt = true`).
//!
//! ```text
//! ProxyIn ─► ClientHello ─► Handshake ─► MqttConnect ─► Done: connect upstream with `Ingressed`
//!    └───────────┴──────────────┴─────────────┴──────► Close { cause, alert }
//! ```
//! Each step is skipped when the listener does not need it. The driver tells [`Ingress`] what
//! the client's socket did ([`Ingress::on_recv`], [`Ingress::on_sent`]) and carries out the
//! [`Action`] it answers; there is one client operation at a time, so exactly one action is
//! outstanding. What the proxy knows beyond the listener — routes, backend health, rate
//! limits — it asks through [`Env`], which is also where the facts learned here (the client
//! behind the balancer, the SNI, the TLS session's details) go for the access log.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::{AlertDescription, ServerConfig};

use crate::conn::{Side, Termination};
use crate::mqtt::{ConnectError, ConnectLimits, ConnectOutcome, MqttInfo, parse_connect};
use crate::proxy_protocol::{self, ReceiveError, Received};
use crate::relay::failure_termination;
use crate::tls::client_hello::{self, Peek, alert_record};
use crate::tls::{MAX_HELD_BYTES, RecordLayer, TlsErrorKind, TlsInfo, TlsSession};

/// What a listener asks of ingress; fixed for the connection's life.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Read the load balancer's PROXY header first.
    pub accept_proxy: bool,
    /// Read a ClientHello and route by its SNI (`tls = "terminate"` or `"passthrough"`).
    pub client_hello: bool,
    /// `mqtt = true`: the largest CONNECT read (bytes).
    pub mqtt_max_connect: Option<u32>,
    /// The most bytes one receive brings (the driver's buffer size).
    pub read_size: usize,
    /// Whose record layer a terminated session uses in userspace.
    pub records: RecordLayer,
    /// The session may go to the kernel once its handshake is done (so rustls keeps its
    /// records until then).
    pub kernel_tls_possible: bool,
}

/// What a SNI (or its absence) routes to.
pub struct Route {
    /// The route's certificate configuration; `None` passes TLS through to the backend.
    pub tls: Option<Arc<ServerConfig>>,
    /// The route's backend has a server to take a new client now.
    pub backend_up: bool,
}

/// The proxy around a connection's ingress: its lookups, and where the facts learned go.
pub trait Env {
    /// The client as known so far (for log lines).
    fn client(&self) -> SocketAddr;
    /// The PROXY header named the client (`None`: a `LOCAL` header, or an unknown address
    /// family: the socket's peer stays the client) and the address it connected to.
    fn proxied(&mut self, source: Option<SocketAddr>, destination: Option<SocketAddr>);
    /// `client` (named by a PROXY header) is over its listener's connection rate limit.
    fn rate_limited(&mut self, client: SocketAddr) -> bool;
    /// The route for the ClientHello's SNI (kept for the access log whether or not a route
    /// matches), or the listener's default route; `None`: no route.
    fn route(&mut self, sni: Option<Box<str>>) -> Option<Route>;
    /// The TLS handshake completed with these details.
    fn established(&mut self, info: Option<&TlsInfo>);
}

/// What the client's socket did with the receive ingress asked for.
#[derive(Debug, Clone, Copy)]
pub enum Read<'a> {
    Data(&'a [u8]),
    /// The client closed its side.
    Eof,
    /// The receive failed with this errno.
    Failed(i32),
}

/// What the driver does next for the connection.
#[derive(Debug)]
pub enum Action<'a> {
    /// Receive from the client; report with [`Ingress::on_recv`].
    Recv,
    /// Send these bytes to the client; report with [`Ingress::on_sent`].
    Send(&'a [u8]),
    /// Ingress is over: connect upstream.
    Done(Ingressed),
    /// Close with `cause`, after sending `alert` to the client if it is not empty (a TLS
    /// alert, or a refusing CONNACK).
    Close { cause: Termination, alert: Vec<u8> },
}

/// What ingress hands on to the upstream connect.
#[derive(Debug)]
pub struct Ingressed {
    /// Client bytes for the server ahead of anything relayed: a ClientHello replayed to a
    /// pass-through backend, what followed the PROXY header, the plaintext that came with
    /// the handshake's last flight, the CONNECT and what followed it.
    pub early: Vec<u8>,
    /// Terminated TLS: the established session.
    pub tls: Option<Box<Established>>,
    /// `mqtt = true`: what the CONNECT said.
    pub mqtt: Option<Box<MqttInfo>>,
}

/// A session whose handshake is done, for the driver to place (kernel or userspace).
pub struct Established {
    pub session: TlsSession,
    /// Ciphertext the session left unconsumed (an incomplete record).
    pub held: Vec<u8>,
}

impl std::fmt::Debug for Established {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Established")
            .field("held", &self.held.len())
            .finish_non_exhaustive()
    }
}

/// Where ingress is; it only moves forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    ProxyIn,
    ClientHello,
    Handshake,
    MqttConnect,
}

/// A connection's ingress. Small until a handshake starts; the driver keeps it boxed.
pub struct Ingress {
    policy: Policy,
    step: Step,
    /// The step's client bytes: the PROXY header so far, the ClientHello so far, then (from
    /// the handshake on) plaintext for the server.
    pending: Vec<u8>,
    /// From the handshake on: the session and its bytes in each direction.
    tls: Option<Box<Handshake>>,
}

/// A terminated session during ingress.
struct Handshake {
    session: TlsSession,
    /// Ciphertext the session left unconsumed; presented again with the next read.
    held: Vec<u8>,
    /// What the session wrote for the client and is not sent yet; its first `sending` bytes
    /// are in the send in flight.
    outgoing: Vec<u8>,
    sending: usize,
}

impl Ingress {
    /// The ingress a listener's new connection goes through; `None` when it needs none (a
    /// plain listener connects upstream at once). The first action is always [`Action::Recv`].
    pub fn new(policy: Policy) -> Option<Ingress> {
        let step = if policy.accept_proxy {
            Step::ProxyIn
        } else if policy.client_hello {
            Step::ClientHello
        } else if policy.mqtt_max_connect.is_some() {
            Step::MqttConnect
        } else {
            return None;
        };
        Some(Ingress {
            policy,
            step,
            pending: Vec::new(),
            tls: None,
        })
    }

    pub fn step(&self) -> Step {
        self.step
    }

    /// Reading the ClientHello or in the TLS handshake: a close now is a failed handshake.
    pub fn in_handshake(&self) -> bool {
        matches!(self.step, Step::ClientHello | Step::Handshake)
    }

    /// A send to the client is in flight (nothing else may go to it until it completes).
    pub fn sending(&self) -> bool {
        self.tls.as_ref().is_some_and(|tls| tls.sending > 0)
    }

    /// The receive ingress asked for completed.
    pub fn on_recv(&mut self, read: Read<'_>, env: &mut impl Env) -> Action<'_> {
        let bytes = match read {
            Read::Data(bytes) if !bytes.is_empty() => bytes,
            Read::Data(_) | Read::Eof => return close(Termination::ClientAborted),
            Read::Failed(errno) => return close(failure_termination(Side::Client, errno)),
        };
        match self.step {
            Step::ProxyIn => self.on_proxy_header(bytes, env),
            Step::ClientHello => {
                if !append_bounded(
                    &mut self.pending,
                    bytes,
                    client_hello::MAX_CLIENT_HELLO_BYTES,
                ) {
                    return close(Termination::Tls(TlsErrorKind::HelloTooLarge));
                }
                self.client_hello(env)
            }
            Step::Handshake | Step::MqttConnect => {
                let limit = self.mqtt_pending_limit();
                if let Some(tls) = self.tls.as_mut() {
                    if !append_bounded(&mut tls.held, bytes, MAX_HELD_BYTES) {
                        return close(Termination::Tls(TlsErrorKind::HandshakeTooLarge));
                    }
                    if let Err(action) = decrypt(tls, &mut self.pending, env) {
                        return action;
                    }
                } else if !append_bounded(&mut self.pending, bytes, limit) {
                    return close(Termination::Mqtt(crate::mqtt::ConnectErrorKind::TooLarge));
                }
                self.carry_on(env)
            }
        }
    }

    /// The send ingress asked for completed: `Ok(bytes sent)` or `Err(errno)`.
    pub fn on_sent(&mut self, result: Result<usize, i32>, env: &mut impl Env) -> Action<'_> {
        let Some(tls) = self.tls.as_mut().filter(|tls| tls.sending > 0) else {
            // Only a send ingress asked for completes here.
            return close(Termination::Internal);
        };
        let sent = match result {
            Ok(0) => return close(failure_termination(Side::Client, libc::EPIPE)),
            Ok(n) => n.min(tls.sending),
            Err(errno) => return close(failure_termination(Side::Client, errno)),
        };
        tls.outgoing.drain(..sent);
        tls.sending = 0;
        // A short send leaves the rest first in `outgoing`: it goes out next.
        self.carry_on(env)
    }

    /// One read from the load balancer while its PROXY header is incomplete.
    fn on_proxy_header(&mut self, bytes: &[u8], env: &mut impl Env) -> Action<'_> {
        // The bytes after the header are bounded, and refused, as the next step would
        // bound and refuse them had the client connected directly. A plain listener reads
        // nothing more before the backend: its bound is the one read (which it cannot pass).
        let (rest_limit, rest_cause) = if self.policy.client_hello {
            (
                client_hello::MAX_CLIENT_HELLO_BYTES,
                Termination::Tls(TlsErrorKind::HelloTooLarge),
            )
        } else if self.policy.mqtt_max_connect.is_some() {
            (
                self.mqtt_pending_limit(),
                Termination::Mqtt(crate::mqtt::ConnectErrorKind::TooLarge),
            )
        } else {
            (self.policy.read_size, Termination::ProxyInvalid)
        };
        match proxy_protocol::receive(&mut self.pending, bytes, rest_limit) {
            Ok(Received::Incomplete) => Action::Recv,
            Ok(Received::Header {
                source,
                destination,
                rest,
            }) => {
                env.proxied(source, destination);
                // Rate limits count the clients behind the balancer, not the balancer (whose
                // own LOCAL health checks are not limited).
                if source.is_some_and(|source| env.rate_limited(source)) {
                    return close(Termination::RateLimited);
                }
                self.pending = rest;
                if self.policy.client_hello {
                    self.step = Step::ClientHello;
                    self.client_hello(env)
                } else if self.policy.mqtt_max_connect.is_some() {
                    self.step = Step::MqttConnect;
                    self.carry_on(env)
                } else {
                    self.done(None)
                }
            }
            Err(ReceiveError::RestTooLong) => close(rest_cause),
            Err(ReceiveError::Header(error)) => {
                tracing::debug!(client = %env.client(), ?error, "bad PROXY header");
                close(Termination::ProxyInvalid)
            }
        }
    }

    /// The ClientHello so far: read more, or route it — to a pass-through backend, or to the
    /// handshake with the route's certificate.
    fn client_hello(&mut self, env: &mut impl Env) -> Action<'_> {
        let hello = match client_hello::peek(&self.pending) {
            Ok(Peek::Incomplete) => return Action::Recv,
            Ok(Peek::Hello(hello)) => hello,
            Err(error) => {
                let alert = error
                    .alert()
                    .map_or(Vec::new(), |a| alert_record(a).to_vec());
                return close_with(Termination::Tls(error.kind()), alert);
            }
        };
        let Some(route) = env.route(hello.sni) else {
            tracing::debug!(client = %env.client(), "no route for SNI");
            let alert = alert_record(AlertDescription::UnrecognisedName).to_vec();
            return close_with(Termination::NoRoute, alert);
        };
        // Every server down: refuse before the handshake, with an alert rather than a bare
        // close (docs/config.md, "Health checks").
        if !route.backend_up {
            let alert = alert_record(AlertDescription::InternalError).to_vec();
            return close_with(Termination::NoServerAvailable, alert);
        }
        // Pass-through: replay the ClientHello (and anything after it) to the backend.
        let Some(config) = route.tls else {
            return self.done(None);
        };
        let mut session = match TlsSession::new(config, self.policy.records) {
            Ok(session) => session,
            Err(error) => return close(Termination::Tls(error.kind)),
        };
        // A session that will stay in userspace goes to our record layer at the end of its
        // handshake, before rustls sees anything behind the Finished.
        if !self.policy.kernel_tls_possible {
            session.own_records_from_the_start();
        }
        let mut tls = Box::new(Handshake {
            session,
            held: std::mem::take(&mut self.pending),
            outgoing: Vec::new(),
            sending: 0,
        });
        self.step = Step::Handshake;
        if let Err(action) = decrypt(&mut tls, &mut self.pending, env) {
            return action;
        }
        self.tls = Some(tls);
        self.carry_on(env)
    }

    /// With nothing in flight: sends what the session wrote, else runs the step on what has
    /// been read — read more, finish the handshake, or judge the CONNECT.
    fn carry_on(&mut self, env: &mut impl Env) -> Action<'_> {
        if self
            .tls
            .as_ref()
            .is_some_and(|tls| !tls.outgoing.is_empty())
        {
            return self.send_output();
        }
        match self.step {
            Step::Handshake => {
                let Some(tls) = self.tls.as_ref() else {
                    return close(Termination::Internal);
                };
                if tls.session.is_handshaking() {
                    return Action::Recv;
                }
                env.established(tls.session.info());
                if self.policy.mqtt_max_connect.is_none() {
                    return self.done(None);
                }
                // The CONNECT is read through the userspace session; the kernel gets it
                // after.
                self.step = Step::MqttConnect;
                self.connect(env)
            }
            Step::MqttConnect => self.connect(env),
            Step::ProxyIn | Step::ClientHello => Action::Recv,
        }
    }

    /// Hands what the session wrote to a send.
    fn send_output(&mut self) -> Action<'_> {
        match self.tls.as_deref_mut() {
            Some(tls) => {
                tls.sending = tls.outgoing.len();
                Action::Send(&tls.outgoing)
            }
            None => close(Termination::Internal),
        }
    }

    /// The CONNECT so far: read more, move on with it, or refuse it.
    fn connect(&mut self, env: &mut impl Env) -> Action<'_> {
        let limits = ConnectLimits {
            max_packet_bytes: self.max_connect(),
            ..ConnectLimits::default()
        };
        let info = match parse_connect(&self.pending, &limits) {
            Ok(ConnectOutcome::Incomplete { .. }) => return Action::Recv,
            Ok(ConnectOutcome::Complete { connect, .. }) => MqttInfo::from_connect(&connect),
            Err(error) => return self.refuse_connect(error, &*env),
        };
        self.done(Some(Box::new(info)))
    }

    /// Not a valid CONNECT: the CONNACK the client's protocol has for it, if any — over
    /// TLS encrypted, with a close_notify — then close.
    fn refuse_connect(&mut self, error: ConnectError, env: &impl Env) -> Action<'static> {
        tracing::debug!(client = %env.client(), %error, "CONNECT refused");
        let cause = Termination::Mqtt(error.kind);
        let Some(connack) = error.connack() else {
            return close(cause);
        };
        let (bytes, len) = connack.bytes();
        let plain = &bytes[..len];
        let Some(tls) = self.tls.as_mut() else {
            return close_with(cause, plain.to_vec());
        };
        let mut records = Vec::new();
        let encrypted = tls
            .session
            .write(&mut tls.held, plain, &mut records)
            .and_then(|()| tls.session.close_notify(&mut tls.held, &mut records));
        if let Err(error) = encrypted {
            tracing::debug!(client = %env.client(), %error, "cannot encrypt the CONNACK");
            records.clear();
        }
        close_with(cause, records)
    }

    /// Ingress is over: hands on what it read and the session.
    fn done(&mut self, mqtt: Option<Box<MqttInfo>>) -> Action<'static> {
        let tls = self.tls.take().map(|tls| {
            let Handshake { session, held, .. } = *tls;
            Box::new(Established { session, held })
        });
        Action::Done(Ingressed {
            early: std::mem::take(&mut self.pending),
            tls,
            mqtt,
        })
    }

    fn max_connect(&self) -> u32 {
        self.policy
            .mqtt_max_connect
            .unwrap_or(crate::mqtt::DEFAULT_MAX_CONNECT_BYTES)
    }

    /// The most plain bytes the CONNECT step holds: a whole CONNECT, plus what one read may
    /// bring after it. (The parser refuses a longer CONNECT as soon as its length arrives.)
    fn mqtt_pending_limit(&self) -> usize {
        self.max_connect() as usize + self.policy.read_size
    }
}

/// Feeds the held client bytes to the session (handshake records, or application data once
/// established), appending what it decrypts to `plain`. `Err`: the close to answer with.
fn decrypt(
    tls: &mut Handshake,
    plain: &mut Vec<u8>,
    env: &impl Env,
) -> Result<(), Action<'static>> {
    match tls.session.read(&mut tls.held, &mut tls.outgoing) {
        Ok(outcome) => {
            plain.extend_from_slice(&tls.held[..outcome.plaintext]);
            tls.held.drain(..outcome.consumed);
            if outcome.peer_closed {
                return Err(close(Termination::ClientAborted));
            }
            Ok(())
        }
        Err(error) => {
            tracing::debug!(client = %env.client(), %error, "TLS error during ingress");
            // After an error `outgoing` holds just the alert (nothing else is unsent when a
            // read runs).
            Err(close_with(
                Termination::Tls(error.kind),
                std::mem::take(&mut tls.outgoing),
            ))
        }
    }
}

fn close(cause: Termination) -> Action<'static> {
    close_with(cause, Vec::new())
}

fn close_with(cause: Termination, alert: Vec<u8>) -> Action<'static> {
    Action::Close { cause, alert }
}

/// Appends `bytes` to `pending` unless that would pass `limit`.
fn append_bounded(pending: &mut Vec<u8>, bytes: &[u8], limit: usize) -> bool {
    if pending.len() + bytes.len() > limit {
        return false;
    }
    pending.extend_from_slice(bytes);
    true
}

#[cfg(test)]
pub(crate) mod tests;
