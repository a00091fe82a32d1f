//! Connecting upstream, sans-IO: the server being tried, and after a failed attempt the next
//! one in the balancer's fail-over order — or, when none is left, the close with the last
//! failure as its cause. The driver creates the sockets, submits the connects (each with its
//! linked timeout) and reports how each ended; the balancer (per worker) gives the order.
//!
//! ```text
//! Connecting(server) ─ connected ──────────────────────────────► relay
//!        ▲    └────── refused / timed out / no socket ─┬─ a healthy server left ─┘
//!        └───────────────────────────────────────────────┘ └─ none: Close(last failure)
//! ```

use crate::conn::Termination;

/// Why one connect attempt failed, from the connect's errno.
pub fn connect_failure(errno: i32) -> Termination {
    match errno {
        // The linked timeout fired and cancelled the connect.
        libc::ECANCELED | libc::ETIME | libc::ETIMEDOUT => Termination::ConnectTimeout,
        libc::ECONNREFUSED => Termination::ConnectRefused,
        _ => Termination::ConnectError,
    }
}

/// A connection connecting to a server of its backend. `B` is the driver's buffer.
pub struct Connecting<B> {
    /// Index into the backend's servers of the server being tried.
    server: u16,
    /// Servers tried before this one.
    attempt: u16,
    /// Servers still to try, the next one last: the balancer's fail-over order, asked for at
    /// the first failure (so a connection that connects at once never allocates it).
    failover: Vec<u16>,
    /// Bytes for the server before anything relayed: the PROXY header, then bytes already
    /// read from the client (a replayed ClientHello, early application data, the CONNECT).
    prelude: Option<B>,
}

/// What to do after an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Connect to this server next (it is now [`Connecting::server`]).
    Connect(u16),
    /// No server is left: close with this cause (the last attempt's failure).
    Close(Termination),
}

impl<B> Connecting<B> {
    /// The first attempt, on `server`, with `prelude` to send once connected.
    pub fn new(server: u16, prelude: Option<B>) -> Connecting<B> {
        Connecting {
            server,
            attempt: 0,
            failover: Vec::new(),
            prelude,
        }
    }

    pub fn server(&self) -> u16 {
        self.server
    }

    /// Servers tried before the current one.
    pub fn attempt(&self) -> u16 {
        self.attempt
    }

    /// The prelude, for the relay to send first (connected) or for the pool (closing).
    pub fn take_prelude(&mut self) -> Option<B> {
        self.prelude.take()
    }

    pub fn prelude(&self) -> Option<&B> {
        self.prelude.as_ref()
    }

    /// The attempt on [`Connecting::server`] failed with `cause` (a connect refused or timed
    /// out, or no socket to connect with). `order(failed)` is the balancer's fail-over order
    /// after `failed`: every other server up, best first ([`crate::balance::Selector::failover_order`]); it is
    /// asked for once, at the first failure.
    pub fn failed(&mut self, cause: Termination, order: impl FnOnce(u16) -> Vec<u16>) -> Retry {
        if self.attempt == 0 {
            self.failover = order(self.server);
            self.failover.reverse();
        }
        self.attempt = self.attempt.saturating_add(1);
        match self.failover.pop() {
            Some(next) => {
                self.server = next;
                Retry::Connect(next)
            }
            None => Retry::Close(cause),
        }
    }
}

#[cfg(test)]
mod tests;
