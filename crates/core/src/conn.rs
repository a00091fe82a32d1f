//! A connection: all of its state in one [`Connection`], its life as stages that only move
//! forward, and the stable termination keywords the access log reports.
//!
//! ```text
//! accept ─► Ingress ───────────────────────────────────► Ready ─► Connecting ─► Relaying ─► Closing ─► freed
//!           ProxyIn ─► ClientHello ─► Handshake ─► MqttConnect      │ ▲ next server     ▲   + access log
//!           (accept_   (TLS: route    (terminate)  (mqtt = true)    └─┘ on failure      │
//!            proxy)     by SNI)                                                         │
//!              └────────────┴─────────────┴─────────────┴──────────────┴── any failure ──┘
//! ```
//! Ingress ([`crate::ingress`]) is skipped when the listener needs none of its steps: a plain
//! listener is `Ready` at accept. `Splicing` stands where `Relaying` does for connections
//! that relay with splice(2).

use std::fmt;

use rustls::ProtocolVersion;
use rustls::kernel::KernelConnection;
use rustls::server::ServerConnectionData;

use crate::ingress::Ingress;
use crate::mqtt::ConnectErrorKind;
use crate::relay::{ClientBytes, Relay, SpliceRelay};
use crate::tls::post_handshake::PostHandshake;
use crate::tls::{TlsErrorKind, TlsSession};
use crate::upstream::Connecting;

mod connection;
pub use connection::{Connection, Facts, Fd};

/// Which socket of a proxied connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The downstream peer (device, or the load balancer in front of us).
    Client,
    /// The upstream peer (the broker).
    Server,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

/// Why a connection ended; rendered as a stable keyword operators grep for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    /// Both directions finished; the client sent FIN first.
    ClientClosed,
    /// Both directions finished; the server sent FIN first.
    ServerClosed,
    /// The client closed before its connection reached a backend (during PROXY-in,
    /// ClientHello or the TLS handshake).
    ClientAborted,
    ClientIdleTimeout,
    ServerIdleTimeout,
    /// PROXY header, ClientHello and TLS handshake together took longer than
    /// `timeouts.handshake`.
    HandshakeTimeout,
    /// The last server tried did not answer within `connect_timeout`.
    ConnectTimeout,
    /// The last server tried refused the connection.
    ConnectRefused,
    /// Connecting failed otherwise (unreachable, no local port, socket error).
    ConnectError,
    /// Closed by a graceful shutdown that ran out of `shutdown_grace`, or a second signal.
    Shutdown,
    /// The listener's `max_connections` was reached; closed right after accept.
    LimitReached,
    /// `accept_proxy` listener: the peer is not in `trusted_proxies`.
    ProxyUntrusted,
    /// `accept_proxy` listener: the PROXY header was malformed, truncated or too long.
    ProxyInvalid,
    /// The client's SNI matched no route and the listener has no `default_route`.
    NoRoute,
    /// Every server of the backend is marked down (or drained): refused without a connect.
    NoServerAvailable,
    /// A health check marked the server down and its backend has
    /// `on_marked_down = "shutdown-sessions"`.
    ServerMarkedDown,
    /// A TLS failure; its keyword is the TLS layer's (`tls_not_tls`, `tls_bad_client_cert`, ...).
    Tls(TlsErrorKind),
    /// `mqtt = true`: the client's first packet was refused; its keyword is the MQTT parser's
    /// (`mqtt_malformed`, `mqtt_not_connect`, `mqtt_connect_too_large`, ...).
    Mqtt(ConnectErrorKind),
    /// `max_connection_rate_per_source` was exceeded; closed right after accept (or after
    /// the PROXY header named the client).
    RateLimited,
    /// The peer reset the connection (ECONNRESET/EPIPE).
    Reset(Side),
    /// The peer became unreachable (ETIMEDOUT from TCP retransmissions, host unreachable).
    Unreachable(Side),
    /// Another socket error.
    Io(Side),
    /// Setting up the connection failed on our side (e.g. getpeername on an accepted socket).
    Internal,
}

impl Termination {
    /// The stable keyword: the access log's `termination` and the metrics' label value.
    pub fn keyword(self) -> &'static str {
        match self {
            Termination::ClientClosed => "client_closed",
            Termination::ServerClosed => "server_closed",
            Termination::ClientAborted => "client_aborted",
            Termination::ClientIdleTimeout => "client_idle_timeout",
            Termination::ServerIdleTimeout => "server_idle_timeout",
            Termination::HandshakeTimeout => "handshake_timeout",
            Termination::ConnectTimeout => "connect_timeout",
            Termination::ConnectRefused => "connect_refused",
            Termination::ConnectError => "error:connect",
            Termination::Shutdown => "shutdown",
            Termination::LimitReached => "limit_reached",
            Termination::ProxyUntrusted => "proxy_untrusted",
            Termination::ProxyInvalid => "proxy_invalid",
            Termination::NoRoute => "no_route",
            Termination::NoServerAvailable => "no_server_available",
            Termination::ServerMarkedDown => "server_marked_down",
            Termination::Tls(kind) => kind.keyword(),
            Termination::Mqtt(kind) => kind.keyword(),
            Termination::RateLimited => "rate_limited",
            Termination::Reset(Side::Client) => "error:client_reset",
            Termination::Reset(Side::Server) => "error:server_reset",
            Termination::Unreachable(Side::Client) => "error:client_unreachable",
            Termination::Unreachable(Side::Server) => "error:server_unreachable",
            Termination::Io(Side::Client) => "error:client_io",
            Termination::Io(Side::Server) => "error:server_io",
            Termination::Internal => "error:internal",
        }
    }
}

impl fmt::Display for Termination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// What the client's side of a relaying connection carries at the socket, and the TLS state
/// that goes with it. Set at accept from the listener (`Plain`, `Passthrough`), or when a
/// terminated session is placed after its handshake (`Userspace`, `Kernel`); during ingress a
/// handshake lives in the [`Stage::Ingress`], and a terminate listener's transport is `Plain` until
/// then (nothing reads it before relaying).
pub enum ClientTransport {
    /// Plain TCP (`tls = "none"`).
    Plain,
    /// TLS passed through untouched (`tls = "passthrough"`).
    Passthrough,
    /// Terminated TLS whose records are processed in userspace.
    Userspace(Box<UserspaceTls>),
    /// Terminated TLS whose records the kernel processes (kTLS).
    Kernel(Box<KernelTls>),
}

impl ClientTransport {
    /// What the relay sees at the client's socket.
    pub fn bytes(&self) -> ClientBytes {
        match self {
            ClientTransport::Plain => ClientBytes::Plain,
            ClientTransport::Passthrough => ClientBytes::PassedThrough,
            ClientTransport::Userspace(_) => ClientBytes::UserspaceTls,
            ClientTransport::Kernel(_) => ClientBytes::KernelTls,
        }
    }

    pub fn userspace_mut(&mut self) -> Option<&mut UserspaceTls> {
        match self {
            ClientTransport::Userspace(tls) => Some(tls),
            _ => None,
        }
    }

    pub fn kernel_mut(&mut self) -> Option<&mut KernelTls> {
        match self {
            ClientTransport::Kernel(tls) => Some(tls),
            _ => None,
        }
    }

    pub fn is_kernel(&self) -> bool {
        matches!(self, ClientTransport::Kernel(_))
    }
}

/// A terminated TLS session while relaying, its records in userspace.
pub struct UserspaceTls {
    pub session: TlsSession,
    /// Bytes the session left unconsumed (an incomplete record); they are presented again on
    /// every call, so they live here rather than in a pool buffer.
    pub held: Vec<u8>,
    /// TLS bytes for the client that a read produced (e.g. a KeyUpdate answer); they go out
    /// in front of the next encrypted data, which RFC 8446 §4.6.3 allows.
    pub control: Vec<u8>,
    /// The last read from the client was at least half a buffer: more is probably queued,
    /// so a record left incomplete is worth receiving straight behind.
    pub streaming: bool,
    /// A receive straight behind the held bytes is in flight: its buffer is the driver's.
    pub receiving_into: bool,
}

impl UserspaceTls {
    pub fn new(session: TlsSession, held: Vec<u8>) -> UserspaceTls {
        UserspaceTls {
            session,
            held,
            control: Vec::new(),
            streaming: false,
            receiving_into: false,
        }
    }
}

/// What a kTLS connection keeps in userspace: the post-handshake rules and our send key's
/// budget, and the rustls state that key updates need — only where one can happen. That state
/// (~800 bytes: key schedule, suite, peer certificates) is most of what an idle kTLS
/// connection would cost; a TLS 1.2 session never rekeys, and a kernel before 6.14 cannot
/// install a new key, so there it is dropped at hand-off and a KeyUpdate (or the AES-GCM
/// limit) closes the connection, as it would anyway.
pub struct KernelTls {
    /// TLS 1.3 on a kernel that can rekey.
    pub rekey: Option<Box<KernelConnection<ServerConnectionData>>>,
    pub version: ProtocolVersion,
    /// What the client's control records may be and the bounds on them; our send key's record
    /// count (an upper bound: the kernel does not count) and whether our KeyUpdate is due,
    /// shared with the userspace record layer.
    pub post: PostHandshake,
}

/// Where a connection is in its life. Transitions consume the previous stage. `B` is the
/// driver's buffer, `P` its pipe.
pub enum Stage<B, P> {
    /// Reading from the client before a backend is involved: the PROXY header, the
    /// ClientHello and its route, the TLS handshake, the CONNECT ([`Ingress`]).
    Ingress(Box<Ingress>),
    /// Ingress is over (or none was needed) and nothing is in flight: the upstream connect
    /// starts next.
    Ready,
    /// Connecting to a server of the backend, failing over to the next ([`Connecting`]).
    Connecting(Connecting<B>),
    /// Bytes flow both ways, copied through the worker's buffer pool.
    Relaying(Relay<B>),
    /// Bytes flow both ways, spliced through pipes lent by the worker's pipe pool (`B`: the
    /// prelude buffer sent before splicing starts).
    Splicing(SpliceRelay<B, P>),
    /// Waiting for in-flight operations to complete before the fds are closed.
    Closing {
        cause: Termination,
        since_ms: u64,
        /// What the connection still holds until then.
        left: Leftover<B>,
    },
}

/// What a closing connection keeps until its cancelled operations complete: the relay's byte
/// counts for the access log, and whether a send to the client is in flight (nothing more may
/// be sent to it then). Buffers of sends in flight are the ring's.
pub enum Leftover<B> {
    /// Nothing (ingress without a send in flight, or connecting).
    Nothing,
    /// A send to the client is in flight (a handshake flight, an alert); the ring holds its
    /// buffer.
    Sending,
    /// The copy relay, for its byte counts and any buffer a send still holds.
    Copied(Relay<B>),
    /// The splice relay's bytes delivered (client→server, server→client).
    Spliced { bytes: (u64, u64) },
}

impl<B> Leftover<B> {
    /// Bytes delivered (client→server, server→client) by the relay, if there was one.
    pub fn relayed(&self) -> Option<(u64, u64)> {
        match self {
            Leftover::Copied(relay) => Some(relay.bytes()),
            Leftover::Spliced { bytes, .. } => Some(*bytes),
            Leftover::Nothing | Leftover::Sending => None,
        }
    }

    /// Which relay moved the bytes, if one ran.
    pub fn relay_kind(&self) -> Option<crate::relay::RelayKind> {
        match self {
            Leftover::Copied(_) => Some(crate::relay::RelayKind::Copy),
            Leftover::Spliced { .. } => Some(crate::relay::RelayKind::Splice),
            Leftover::Nothing | Leftover::Sending => None,
        }
    }
}

/// How long a closing connection may wait for its cancelled operations (and a last alert
/// send to a client that stopped reading) before they are cancelled again.
pub const CLOSE_LINGER_MS: u64 = 1_000;

/// What a connection's deadline is computed from: its times on the worker's clock and the
/// timeouts that apply to it, in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock {
    pub now_ms: u64,
    /// Accepted at.
    pub started_ms: u64,
    /// Last activity on each side (a completed recv or send).
    pub client_active_ms: u64,
    pub server_active_ms: u64,
    /// `timeouts.handshake`: PROXY header, ClientHello, TLS handshake and CONNECT together.
    pub handshake_ms: u64,
    /// The client's idle timeout (the listener's, or from the CONNECT's keep-alive).
    pub client_idle_ms: u64,
    pub server_idle_ms: u64,
    /// The shortest timeout any stage can have: when to look again at a stage whose own
    /// deadline is not known yet.
    pub shortest_timeout_ms: u64,
}

/// When a connection's timer should next look at it, and what it means if the connection
/// is still where it was then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    pub at_ms: u64,
    /// Close with this cause; `None`: look again (a closing connection's cancels are
    /// re-issued, a connecting one is left to its connect's own linked timeout).
    pub cause: Option<Termination>,
}

impl<B, P> Stage<B, P> {
    /// The stage's deadline (the timer event: at `at_ms`, close with `cause`).
    pub fn deadline(&self, t: &Clock) -> Deadline {
        let (at_ms, cause) = match self {
            Stage::Ingress(_) => (
                t.started_ms.saturating_add(t.handshake_ms),
                Some(Termination::HandshakeTimeout),
            ),
            // Connect attempts carry their own linked timeouts; look again no later than the
            // relay that may follow could time out.
            Stage::Ready | Stage::Connecting(_) => {
                (t.now_ms.saturating_add(t.shortest_timeout_ms), None)
            }
            Stage::Closing { since_ms, .. } => (since_ms.saturating_add(CLOSE_LINGER_MS), None),
            Stage::Relaying(_) | Stage::Splicing(_) => {
                let client = t.client_active_ms.saturating_add(t.client_idle_ms);
                let server = t.server_active_ms.saturating_add(t.server_idle_ms);
                if client <= server {
                    (client, Some(Termination::ClientIdleTimeout))
                } else {
                    (server, Some(Termination::ServerIdleTimeout))
                }
            }
        };
        Deadline { at_ms, cause }
    }

    /// A health check marked the connection's server down and its backend says
    /// `on_marked_down = "shutdown-sessions"`: relaying sessions close with this cause.
    /// Connections still connecting are left to their connect's outcome.
    pub fn on_server_marked_down(&self) -> Option<Termination> {
        matches!(self, Stage::Relaying(_) | Stage::Splicing(_))
            .then_some(Termination::ServerMarkedDown)
    }

    pub fn is_closing(&self) -> bool {
        matches!(self, Stage::Closing { .. })
    }

    /// Before a backend is involved: the client's bytes are ours to read.
    pub fn is_ingress(&self) -> bool {
        matches!(self, Stage::Ingress(_))
    }
}

#[cfg(test)]
mod tests;
