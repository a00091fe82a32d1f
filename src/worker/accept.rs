//! Accept: one multishot accept per listening socket; `max_connections`; back-off when the
//! process runs out of fds or memory; closing the listeners when a shutdown starts.

use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering;

use super::{Conn, Op, Token, Worker, initial_client_idle_ms};
use crate::access_log::{CloseRecord, log_close};
use crate::config::TlsMode;
use crate::conn::{ClientTransport, Stage, Termination};
use crate::rate_limit::{self, Verdict};
use crate::slab::Key;
use crate::sys::net;
use crate::sys::uring::Completion;

/// How long a listener stops accepting after an accept error such as EMFILE. Long enough
/// that a process out of fds does not spin on the pending connection, short enough that
/// clients in the backlog barely notice once fds are back.
const ACCEPT_BACKOFF_MS: u64 = 100;
/// At most one accept-error warning per worker per this many milliseconds.
const ACCEPT_WARNING_INTERVAL_MS: u64 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AcceptState {
    /// A multishot accept is in flight.
    Armed,
    /// A cancel is in flight; when the accept's last completion arrives, close the socket.
    Cancelling,
    /// No accept in flight (after an accept error); the tick re-arms it after `until_ms`.
    Paused { until_ms: u64 },
    /// The listening socket is closed.
    Closed,
}

pub(super) struct ListenerSlot {
    fd: RawFd,
    state: AcceptState,
}

impl ListenerSlot {
    pub(super) fn new(fd: RawFd) -> ListenerSlot {
        ListenerSlot {
            fd,
            state: AcceptState::Paused { until_ms: 0 },
        }
    }
}

fn accept_token(listener: usize) -> u64 {
    Token::encode(
        Op::Accept,
        Key {
            index: listener as u32,
            generation: 0,
        },
    )
}

impl Worker {
    pub(super) fn arm_accept(&mut self, l: usize) {
        self.ring
            .accept_multi(self.listeners[l].fd, accept_token(l));
        self.listeners[l].state = AcceptState::Armed;
    }

    pub(super) fn on_accept(&mut self, l: usize, c: Completion) {
        if c.result >= 0 {
            self.on_accepted(l, c.result);
        } else {
            self.on_accept_error(l, -c.result);
        }
        if !c.more() {
            self.on_accept_stopped(l, c.result);
        }
    }

    /// The multishot accept ended (error, cancel, or the kernel dropped it).
    fn on_accept_stopped(&mut self, l: usize, result: i32) {
        let slot = &mut self.listeners[l];
        match slot.state {
            AcceptState::Armed if result < 0 => {
                slot.state = AcceptState::Paused {
                    until_ms: self.now_ms.saturating_add(ACCEPT_BACKOFF_MS),
                };
            }
            AcceptState::Armed => self.arm_accept(l),
            AcceptState::Cancelling => {
                net::close(slot.fd);
                slot.state = AcceptState::Closed;
            }
            AcceptState::Paused { .. } | AcceptState::Closed => {}
        }
    }

    fn on_accept_error(&mut self, l: usize, errno: i32) {
        if errno == libc::ECANCELED {
            return;
        }
        self.counters().accept_error(l as u16, errno);
        let quiet = self
            .last_accept_warning_ms
            .is_some_and(|t| self.now_ms < t + ACCEPT_WARNING_INTERVAL_MS);
        if !quiet {
            self.last_accept_warning_ms = Some(self.now_ms);
            let listener = &self.shared.config.listeners[l].name;
            let error = std::io::Error::from_raw_os_error(errno);
            tracing::warn!(
                worker = self.id,
                listener = %listener,
                %error,
                backoff_ms = ACCEPT_BACKOFF_MS,
                "accept failed; pausing this listener briefly (logged at most once a second)"
            );
        }
    }

    fn on_accepted(&mut self, l: usize, fd: RawFd) {
        self.accepted += 1;
        let client = match net::peer_addr(fd) {
            Ok(addr) => addr,
            Err(error) => {
                // The client reset before we looked; nothing was proxied.
                tracing::debug!(worker = self.id, %error, "accepted socket has no peer");
                net::close(fd);
                return;
            }
        };
        self.counters().accepted(l as u16);
        if !self.shared.config.listeners[l].accept_proxy && self.rate_limited(l, client) {
            net::close(fd);
            self.counters().refused(l as u16, Termination::RateLimited);
            self.counters().closed(l as u16, Termination::RateLimited);
            log_close(&CloseRecord {
                worker: self.id,
                client,
                listener: &self.shared.config.listeners[l].name,
                termination: Termination::RateLimited,
                ..CloseRecord::default()
            });
            return;
        }
        let listener = &self.shared.config.listeners[l];
        let active = &self.shared.active[l].0;
        if active.fetch_add(1, Ordering::Relaxed) >= listener.max_connections {
            active.fetch_sub(1, Ordering::Relaxed);
            net::close(fd);
            self.counters().refused(l as u16, Termination::LimitReached);
            self.counters().closed(l as u16, Termination::LimitReached);
            log_close(&CloseRecord {
                worker: self.id,
                client,
                listener: &listener.name,
                termination: Termination::LimitReached,
                ..CloseRecord::default()
            });
            return;
        }
        // Small MQTT packets must not wait for Nagle; failure only costs latency.
        let _ = net::set_nodelay(fd);
        let stage = match self.ingress_for(listener) {
            Some(ingress) => Stage::Ingress(ingress),
            None => Stage::Ready,
        };
        let conn = Conn {
            listener: l as u16,
            backend: listener.backend.map(|b| b as u16),
            client_fd: fd,
            server_fd: None,
            client,
            server: None,
            started_ms: self.now_ms,
            client_active_ms: self.now_ms,
            server_active_ms: self.now_ms,
            inflight: 0,
            stage,
            facts: None,
            transport: match listener.tls {
                TlsMode::Passthrough => ClientTransport::Passthrough,
                TlsMode::None | TlsMode::Terminate => ClientTransport::Plain,
            },
            mqtt: None,
            client_idle_ms: initial_client_idle_ms(listener, &self.shared.config),
        };
        let trusted = !listener.accept_proxy
            || listener
                .trusted_proxies
                .iter()
                .any(|cidr| cidr.contains(client.ip()));
        let key = self.conns.insert(conn);
        let mut conn = self.conns.take(key).expect("just inserted");
        // One timer entry per connection for its whole life (see `expire_timers`), first due
        // after the shortest timeout, so it is never late for whichever stage comes next.
        self.wheel
            .insert(self.now_ms.saturating_add(self.shortest_timeout_ms()), key);
        if !trusted {
            tracing::warn!(worker = self.id, %client, listener = %listener.name, "PROXY header from an address not in trusted_proxies; closing");
            self.counters()
                .refused(l as u16, Termination::ProxyUntrusted);
            self.begin_close(&mut conn, Termination::ProxyUntrusted);
        } else if conn.stage.is_ingress() {
            self.submit_ingress_recv(key, &mut conn);
        } else {
            self.start_connect(key, &mut conn, &[]);
        }
        self.settle(key, conn);
    }

    /// `max_connection_rate_per_source` of listener `l`: true if `client` is over it. Called
    /// at accept, or after the PROXY header on `accept_proxy` listeners.
    pub(super) fn rate_limited(&mut self, l: usize, client: SocketAddr) -> bool {
        let Some(limiter) = self.limiters[l].as_mut() else {
            return false;
        };
        let now_us = rate_limit::micros(self.epoch.elapsed());
        match limiter.check(client.ip(), now_us) {
            Verdict::Allow => false,
            Verdict::Refuse => true,
            Verdict::AllowUntracked => {
                let quiet = self
                    .last_rate_warning_ms
                    .is_some_and(|t| self.now_ms < t + ACCEPT_WARNING_INTERVAL_MS);
                if !quiet {
                    self.last_rate_warning_ms = Some(self.now_ms);
                    tracing::warn!(
                        worker = self.id,
                        listener = %self.shared.config.listeners[l].name,
                        sources = rate_limit::TABLE_CAPACITY,
                        "max_connection_rate_per_source: the table is full of active sources; new sources pass unchecked (logged at most once a second)"
                    );
                }
                false
            }
        }
    }

    /// Stops accepting on listener `l` and closes its socket (shutdown).
    fn close_listener(&mut self, l: usize) {
        let slot = &mut self.listeners[l];
        match slot.state {
            AcceptState::Armed => {
                slot.state = AcceptState::Cancelling;
                self.ring
                    .cancel_user_data(accept_token(l), Token::plain(Op::Cancel));
            }
            AcceptState::Paused { .. } => {
                net::close(slot.fd);
                slot.state = AcceptState::Closed;
            }
            AcceptState::Cancelling | AcceptState::Closed => {}
        }
    }

    pub(super) fn close_listeners(&mut self) {
        for l in 0..self.listeners.len() {
            self.close_listener(l);
        }
    }

    pub(super) fn listeners_closed(&self) -> bool {
        self.listeners
            .iter()
            .all(|s| s.state == AcceptState::Closed)
    }

    /// Re-arms listeners whose back-off is over.
    pub(super) fn resume_paused_listeners(&mut self) {
        if self.drain_deadline_ms.is_some() {
            return;
        }
        for l in 0..self.listeners.len() {
            if let AcceptState::Paused { until_ms } = self.listeners[l].state
                && self.now_ms >= until_ms
            {
                self.arm_accept(l);
            }
        }
    }
}
