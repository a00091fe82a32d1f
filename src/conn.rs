//! A connection's life as stages that only move forward, and the stable termination keywords
//! the access log reports.
//!
//! ```text
//! accept ──► Connecting ──► Relaying ──► Closing ──► (slot freed, access log)
//!               │  ▲ next server on refusal/timeout        ▲
//!               └──┴──────────────── any failure ─────────┘
//! ```
//! Later stages slot in before `Connecting`: reading a PROXY header from a load balancer,
//! the TLS handshake / ClientHello, and the route lookup that picks the backend.

use std::fmt;

use crate::relay::Relay;

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

    fn as_str(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
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
    ClientIdleTimeout,
    ServerIdleTimeout,
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
    /// The peer reset the connection (ECONNRESET/EPIPE).
    Reset(Side),
    /// The peer became unreachable (ETIMEDOUT from TCP retransmissions, host unreachable).
    Unreachable(Side),
    /// Another socket error.
    Io(Side),
    /// Setting up the connection failed on our side (e.g. getpeername on an accepted socket).
    Internal,
}

impl fmt::Display for Termination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Termination::ClientClosed => f.write_str("client_closed"),
            Termination::ServerClosed => f.write_str("server_closed"),
            Termination::ClientIdleTimeout => f.write_str("client_idle_timeout"),
            Termination::ServerIdleTimeout => f.write_str("server_idle_timeout"),
            Termination::ConnectTimeout => f.write_str("connect_timeout"),
            Termination::ConnectRefused => f.write_str("connect_refused"),
            Termination::ConnectError => f.write_str("error:connect"),
            Termination::Shutdown => f.write_str("shutdown"),
            Termination::LimitReached => f.write_str("limit_reached"),
            Termination::Reset(side) => write!(f, "error:{}_reset", side.as_str()),
            Termination::Unreachable(side) => write!(f, "error:{}_unreachable", side.as_str()),
            Termination::Io(side) => write!(f, "error:{}_io", side.as_str()),
            Termination::Internal => f.write_str("error:internal"),
        }
    }
}

/// Where a connection is in its life. Transitions consume the previous stage.
#[derive(Debug)]
pub enum Stage<B> {
    /// Connecting to server number `server` of the backend; `attempt` counts servers tried.
    Connecting {
        attempt: u16,
        server: u16,
        /// Why the previous attempt failed, reported if no server is left.
        last_failure: Option<Termination>,
    },
    /// Bytes flow both ways.
    Relaying(Relay<B>),
    /// Waiting for in-flight operations to complete before the fds are closed.
    Closing {
        cause: Termination,
        /// The relay, if there was one, for its byte counts and any buffer a send still holds.
        relay: Option<Relay<B>>,
    },
}

impl<B> Stage<B> {
    pub fn is_closing(&self) -> bool {
        matches!(self, Stage::Closing { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn termination_keywords_are_stable() {
        let cases = [
            (Termination::ClientClosed, "client_closed"),
            (Termination::ServerClosed, "server_closed"),
            (Termination::ClientIdleTimeout, "client_idle_timeout"),
            (Termination::ServerIdleTimeout, "server_idle_timeout"),
            (Termination::ConnectTimeout, "connect_timeout"),
            (Termination::ConnectRefused, "connect_refused"),
            (Termination::ConnectError, "error:connect"),
            (Termination::Shutdown, "shutdown"),
            (Termination::LimitReached, "limit_reached"),
            (Termination::Reset(Side::Client), "error:client_reset"),
            (
                Termination::Unreachable(Side::Server),
                "error:server_unreachable",
            ),
            (Termination::Io(Side::Server), "error:server_io"),
            (Termination::Internal, "error:internal"),
        ];
        for (t, keyword) in cases {
            assert_eq!(t.to_string(), keyword);
        }
    }
}
