//! The whole of one proxied connection's state, as the driver keeps it in its slab: where it
//! is ([`Stage`]), what its client socket carries ([`ClientTransport`]), its sockets and
//! times, and what was learned along the way ([`Facts`]) for the access log and the PROXY
//! header. Everything the upgrade hand-over will need to write out is here, in the core.
//!
//! Kept small: a plain connection relaying idle MQTT traffic needs only this struct; TLS and
//! PROXY facts live in boxes allocated on demand.

use std::net::SocketAddr;

use super::{ClientTransport, Side, Stage};
use crate::access_log::{Offload, OffloadFallback};
use crate::mqtt::MqttInfo;
use crate::proxy_out::HeaderKind;
use crate::tls::TlsInfo;

/// A socket, as the driver numbers it (a file descriptor; never used here).
pub type Fd = i32;

/// One proxied connection. `B` is the driver's buffer, `P` its pipe.
pub struct Connection<B, P> {
    /// Index of the listener that accepted it.
    pub listener: u16,
    /// Chosen at accept (plain listeners) or by the route (TLS listeners).
    pub backend: Option<u16>,
    pub client_fd: Fd,
    /// The backend socket, from the first connect attempt on.
    pub server_fd: Option<Fd>,
    /// The client; behind a load balancer, the address its PROXY header named.
    pub client: SocketAddr,
    /// Index into the backend's servers of the server connected (or last tried).
    pub server: Option<u16>,
    /// Accepted at, and each side's last activity, on the worker's clock (milliseconds).
    pub started_ms: u64,
    pub client_active_ms: u64,
    pub server_active_ms: u64,
    /// Ring operations whose completion has not arrived yet; the sockets close only at zero.
    /// Counted up only where the driver submits, down where it dispatches completions.
    pub inflight: u16,
    pub stage: Stage<B, P>,
    /// Facts for the access log and the PROXY header; `None` until one is learned.
    pub facts: Option<Box<Facts>>,
    /// What the client's socket carries once relaying, with its TLS state (terminate
    /// listeners: set when the handshake's session is placed).
    pub transport: ClientTransport,
    /// `mqtt = true` listeners: what the client's CONNECT said (client identifier for
    /// balancing and the access log, version, keep-alive).
    pub mqtt: Option<Box<MqttInfo>>,
    /// How long the client may be silent while relaying: the listener's `client_idle`, or
    /// derived from the CONNECT's keep-alive (`"mqtt-keepalive"`). Milliseconds.
    pub client_idle_ms: u32,
}

/// What was learned about a connection beyond its addresses.
#[derive(Debug, Default)]
pub struct Facts {
    /// The address the client connected to (ours, or the load balancer's frontend).
    pub local: Option<SocketAddr>,
    /// The load balancer that sent a PROXY header, when `accept_proxy` is on.
    pub proxied_by: Option<SocketAddr>,
    pub sni: Option<Box<str>>,
    pub route: Option<u16>,
    pub tls: Option<TlsInfo>,
    /// The PROXY header sent to the backend.
    pub proxy_sent: HeaderKind,
    /// Bytes of that header: sent upstream, but not the client's.
    pub header_bytes: u64,
    /// Bytes TLS added to what the server sent (record headers, tags): sent to the client,
    /// but not the server's. The access log reports payload both ways.
    pub tls_overhead: u64,
    /// Who does the record crypto after the handshake (terminated TLS only).
    pub tls_offload: Option<Offload>,
    /// Why `tls_offload = "auto"` stayed in userspace.
    pub offload_fallback: Option<OffloadFallback>,
}

impl<B, P> Connection<B, P> {
    /// The facts, allocated on first use.
    pub fn facts_mut(&mut self) -> &mut Facts {
        self.facts.get_or_insert_with(Box::default)
    }

    /// `side`'s socket. The server's is asked for only once connected; -1 (EBADF on use)
    /// rather than a panic otherwise.
    pub fn fd(&self, side: Side) -> Fd {
        match side {
            Side::Client => self.client_fd,
            Side::Server => {
                debug_assert!(self.server_fd.is_some(), "no server socket yet");
                self.server_fd.unwrap_or(-1)
            }
        }
    }

    /// `side` was active at `now_ms` (a completed recv or send): its idle timeout restarts.
    pub fn touch(&mut self, side: Side, now_ms: u64) {
        match side {
            Side::Client => self.client_active_ms = now_ms,
            Side::Server => self.server_active_ms = now_ms,
        }
    }
}
