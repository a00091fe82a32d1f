//! Health checks, on worker 0's ring: no thread per server, no blocking call. Each checked
//! server gets one probe per `interval`, started on the tick:
//!
//! ```text
//! socket ─► connect (linked timeout) ─► [PROXY LOCAL header] ─► tcp: up
//!                                                   └─► mqtt: CONNECT ─► recv CONNACK ─► DISCONNECT: up
//! ```
//!
//! Any failure, or the check's `timeout` passing (looked at on the 100 ms tick, which then
//! cancels what is in flight), fails the probe. A probe's fd closes once none of its
//! operations is in flight, like a connection's. The result feeds the server's
//! [`HealthState`] (rise/fall); a transition is logged and published on the shared
//! [`HealthBoard`](crate::health::HealthBoard), where every worker picks it up.
//!
//! The check's few bytes (a PROXY header of 16 bytes, a CONNECT of a few dozen) are written
//! with one non-blocking `send` right after the connect: the socket's send buffer is empty
//! then, so they go out whole, and a completion round trip would buy nothing.

use std::fmt;
use std::os::fd::RawFd;

use super::{Op, Token, Worker};
use crate::config::{CheckKind, Config};
use crate::health::{
    CheckResult, DISCONNECT, HealthState, InitialState, Transition, check_connack,
};
use crate::slab::Key;
use crate::sys::net;
use crate::sys::uring::{Completion, DurationId, Ring};

/// Why one check failed; the cause in the "marked down" line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failure {
    Socket,
    ConnectRefused,
    ConnectTimeout,
    Connect(i32),
    Send,
    Timeout,
    Recv(i32),
    ClosedBeforeConnack,
    Refused(u8),
    NotMqtt,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Socket => f.write_str("cannot create a socket"),
            Failure::ConnectRefused => f.write_str("connection refused"),
            Failure::ConnectTimeout => f.write_str("connect timeout"),
            Failure::Connect(errno) => write!(
                f,
                "connect failed: {}",
                std::io::Error::from_raw_os_error(*errno)
            ),
            Failure::Send => f.write_str("cannot send the check"),
            Failure::Timeout => f.write_str("no CONNACK within the check timeout"),
            Failure::Recv(errno) => write!(
                f,
                "receive failed: {}",
                std::io::Error::from_raw_os_error(*errno)
            ),
            Failure::ClosedBeforeConnack => f.write_str("closed before the CONNACK"),
            Failure::Refused(code) => write!(f, "CONNACK refused the check (return code {code})"),
            Failure::NotMqtt => f.write_str("the reply is not an MQTT CONNACK"),
        }
    }
}

/// The checks worker 0 runs, one per server of every backend with `health_check`.
pub(super) struct Checks {
    servers: Vec<ServerCheck>,
    /// Per backend: its check timeout, registered on the ring (`None`: not checked).
    timeouts: Vec<Option<DurationId>>,
    /// Set when a shutdown starts: no new probes, results no longer recorded.
    stopped: bool,
}

struct ServerCheck {
    backend: u16,
    server: u16,
    health: HealthState,
    /// Consecutive results alike (`rise`/`fall` count in the log), and which kind.
    streak: u32,
    streak_ok: bool,
    next_ms: u64,
    probe: Option<Probe>,
}

/// Server `i`'s check in progress, if one is. A free function over the field, so callers
/// can keep other fields of the worker (its config, its ring) borrowed meanwhile.
fn probe_mut(checks: &mut Option<Checks>, i: usize) -> Option<&mut Probe> {
    checks.as_mut().and_then(|c| c.servers[i].probe.as_mut())
}

/// One check in progress.
struct Probe {
    fd: RawFd,
    deadline_ms: u64,
    /// Ring operations whose completion has not arrived; the fd closes at zero.
    inflight: u8,
    step: Step,
    /// Decided; the probe ends when nothing is in flight.
    verdict: Option<Result<(), Failure>>,
}

enum Step {
    Connecting,
    /// `mqtt`: the CONNECT went out; the CONNACK's first bytes so far (4 decide).
    AwaitingConnack {
        received: [u8; 4],
        len: usize,
        /// False after `ENOBUFS` (the relay pool was empty): the tick re-arms the recv.
        recv_armed: bool,
    },
}

impl Checks {
    /// `None` when no backend has a `health_check`.
    pub(super) fn new(config: &Config, ring: &mut Ring) -> Option<Checks> {
        let mut servers = Vec::new();
        let mut timeouts = Vec::new();
        for (b, backend) in config.backends.iter().enumerate() {
            let Some(check) = &backend.health_check else {
                timeouts.push(None);
                continue;
            };
            timeouts.push(Some(ring.register_duration(check.timeout)));
            tracing::info!(
                backend = %backend.name,
                kind = check.kind.as_str(),
                interval_ms = check.interval.as_millis() as u64,
                rise = check.rise,
                fall = check.fall,
                "health checks on: servers start up, a failed first check takes one down"
            );
            for s in 0..backend.servers.len() {
                servers.push(ServerCheck {
                    backend: b as u16,
                    server: s as u16,
                    // Matches the board's start; see docs/config.md, "Initial state".
                    health: HealthState::new(check.rise, check.fall, InitialState::Up),
                    streak: 0,
                    streak_ok: true,
                    next_ms: 0,
                    probe: None,
                });
            }
        }
        (!servers.is_empty()).then_some(Checks {
            servers,
            timeouts,
            stopped: false,
        })
    }

    /// No probe in flight: the worker may stop.
    pub(super) fn idle(&self) -> bool {
        self.servers.iter().all(|s| s.probe.is_none())
    }
}

fn check_token(op: Op, index: usize) -> u64 {
    Token::encode(
        op,
        Key {
            index: index as u32,
            generation: 0,
        },
    )
}

fn connect_failure(errno: i32) -> Failure {
    match errno {
        libc::ECANCELED | libc::ETIME | libc::ETIMEDOUT => Failure::ConnectTimeout,
        libc::ECONNREFUSED => Failure::ConnectRefused,
        errno => Failure::Connect(errno),
    }
}

impl Worker {
    /// On the tick: starts the checks that are due, fails the ones past their timeout.
    pub(super) fn run_checks(&mut self) {
        let Some(checks) = &self.checks else { return };
        if checks.stopped {
            return;
        }
        for i in 0..checks.servers.len() {
            self.tick_check(i);
        }
    }

    fn tick_check(&mut self, i: usize) {
        let now = self.now_ms;
        let Some(check) = self.checks.as_mut().and_then(|c| c.servers.get_mut(i)) else {
            return;
        };
        match &mut check.probe {
            None if now >= check.next_ms => self.start_probe(i),
            None => {}
            Some(probe) if probe.verdict.is_none() && now >= probe.deadline_ms => {
                let failure = match probe.step {
                    Step::Connecting => Failure::ConnectTimeout,
                    Step::AwaitingConnack { .. } => Failure::Timeout,
                };
                self.decide(i, Err(failure));
            }
            Some(Probe {
                fd,
                verdict: None,
                step: Step::AwaitingConnack { recv_armed, .. },
                inflight,
                ..
            }) if !*recv_armed => {
                *recv_armed = true;
                *inflight += 1;
                let fd = *fd;
                self.ring.recv(fd, check_token(Op::CheckRecv, i));
            }
            Some(_) => {}
        }
    }

    fn start_probe(&mut self, i: usize) {
        let Some(checks) = &mut self.checks else {
            return;
        };
        let check = &mut checks.servers[i];
        let (b, s) = (check.backend as usize, check.server as usize);
        let backend = &self.shared.config.backends[b];
        let Some(config) = &backend.health_check else {
            return;
        };
        check.next_ms = self
            .now_ms
            .saturating_add(config.interval.as_millis() as u64);
        let Some(timeout) = checks.timeouts[b] else {
            return;
        };
        let addr = backend.servers[s];
        let fd = match net::backend_socket(&addr) {
            Ok(fd) => fd,
            Err(error) => {
                tracing::warn!(backend = %backend.name, server = %addr, %error, "health check: cannot create a socket");
                return self.record_check(i, Err(Failure::Socket));
            }
        };
        check.probe = Some(Probe {
            fd,
            deadline_ms: self
                .now_ms
                .saturating_add(config.timeout.as_millis() as u64),
            inflight: 2,
            step: Step::Connecting,
            verdict: None,
        });
        self.ring.connect_with_timeout(
            fd,
            self.backends[b].targets[s],
            timeout,
            check_token(Op::CheckConnect, i),
            check_token(Op::CheckTimer, i),
        );
    }

    pub(super) fn on_check_completion(&mut self, op: Op, i: usize, c: Completion) {
        let mut received = [0u8; 4];
        let mut received_len = 0;
        if let Some(bid) = c.buffer_id() {
            let buf = self.ring.bufs_mut().take_rx(bid, c.result.max(0) as u32);
            let bytes = self.ring.bufs().bytes(&buf);
            received_len = bytes.len().min(received.len());
            received[..received_len].copy_from_slice(&bytes[..received_len]);
            self.ring.bufs_mut().recycle(buf);
        }
        let Some(probe) = self
            .checks
            .as_mut()
            .and_then(|c| c.servers.get_mut(i))
            .and_then(|s| s.probe.as_mut())
        else {
            tracing::error!(?op, check = i, "completion for no health check");
            return;
        };
        probe.inflight = probe.inflight.saturating_sub(1);
        if probe.verdict.is_none() {
            match op {
                Op::CheckConnect if c.result < 0 => self.decide(i, Err(connect_failure(-c.result))),
                Op::CheckConnect => self.after_check_connect(i),
                Op::CheckRecv => self.on_check_recv(i, c.result, &received[..received_len]),
                _ => {}
            }
        }
        self.finish_probe(i);
    }

    /// Connected: the PROXY header the backend expects, then for `mqtt` the CONNECT.
    fn after_check_connect(&mut self, i: usize) {
        let Some(check) = self.checks.as_ref().map(|c| &c.servers[i]) else {
            return;
        };
        let backend = &self.shared.config.backends[check.backend as usize];
        let mut out = [0u8; crate::proxy_out::MAX_HEADER_BYTES];
        let header = crate::proxy_out::check_header(&backend.proxy_protocol, &mut out).unwrap_or(0);
        let connect = match backend.health_check.as_ref().map(|c| &c.kind) {
            Some(CheckKind::Mqtt { connect }) => Some(connect.as_slice()),
            _ => None,
        };
        let Some(probe) = probe_mut(&mut self.checks, i) else {
            return;
        };
        let mut sent_all = true;
        for bytes in [&out[..header], connect.unwrap_or_default()] {
            if !bytes.is_empty() {
                sent_all &= net::send_now(probe.fd, bytes).is_ok_and(|n| n == bytes.len());
            }
        }
        match (sent_all, connect) {
            (false, _) => self.decide(i, Err(Failure::Send)),
            (true, None) => self.decide(i, Ok(())),
            (true, Some(_)) => {
                probe.step = Step::AwaitingConnack {
                    received: [0; 4],
                    len: 0,
                    recv_armed: true,
                };
                probe.inflight += 1;
                let fd = probe.fd;
                self.ring.recv(fd, check_token(Op::CheckRecv, i));
            }
        }
    }

    fn on_check_recv(&mut self, i: usize, result: i32, bytes: &[u8]) {
        let Some(probe) = probe_mut(&mut self.checks, i) else {
            return;
        };
        let Step::AwaitingConnack {
            received,
            len,
            recv_armed,
        } = &mut probe.step
        else {
            return;
        };
        *recv_armed = false;
        let verdict = match result {
            0 => Err(Failure::ClosedBeforeConnack),
            n if -n == libc::ENOBUFS => return, // the tick re-arms the recv
            n if n < 0 => Err(Failure::Recv(-n)),
            _ => {
                let take = bytes.len().min(received.len() - *len);
                received[*len..*len + take].copy_from_slice(&bytes[..take]);
                *len += take;
                match check_connack(&received[..*len]) {
                    CheckResult::Incomplete => {
                        *recv_armed = true;
                        probe.inflight += 1;
                        let fd = probe.fd;
                        return self.ring.recv(fd, check_token(Op::CheckRecv, i));
                    }
                    CheckResult::Ok => {
                        // Polite end: the broker logs a clean disconnect. Best effort.
                        net::send_nonblocking(probe.fd, &DISCONNECT);
                        Ok(())
                    }
                    CheckResult::Refused(code) => Err(Failure::Refused(code)),
                    CheckResult::Malformed => Err(Failure::NotMqtt),
                }
            }
        };
        self.decide(i, verdict);
    }

    /// Settles a probe's outcome once; cancels whatever it still has in flight.
    fn decide(&mut self, i: usize, verdict: Result<(), Failure>) {
        let Some(probe) = probe_mut(&mut self.checks, i) else {
            return;
        };
        if probe.verdict.is_some() {
            return;
        }
        probe.verdict = Some(verdict);
        if probe.inflight > 0 {
            let fd = probe.fd;
            self.ring.cancel_fd(fd, Token::plain(Op::Cancel));
        }
    }

    /// Ends a decided probe once nothing of it is in flight: closes its fd, records it.
    fn finish_probe(&mut self, i: usize) {
        let Some(check) = self.checks.as_mut().map(|c| &mut c.servers[i]) else {
            return;
        };
        let Some(Probe {
            fd,
            inflight: 0,
            verdict: Some(verdict),
            ..
        }) = check.probe
        else {
            return;
        };
        net::close(fd);
        check.probe = None;
        self.record_check(i, verdict);
    }

    /// Feeds one result to the server's rise/fall state; logs and publishes a transition.
    fn record_check(&mut self, i: usize, result: Result<(), Failure>) {
        let Some(checks) = &mut self.checks else {
            return;
        };
        if checks.stopped {
            return;
        }
        let check = &mut checks.servers[i];
        let ok = result.is_ok();
        if check.streak_ok == ok {
            check.streak = check.streak.saturating_add(1);
        } else {
            (check.streak_ok, check.streak) = (ok, 1);
        }
        let (b, s) = (check.backend as usize, check.server as usize);
        let backend = &self.shared.config.backends[b];
        let server = backend.servers[s];
        if let Err(cause) = result {
            tracing::debug!(backend = %backend.name, %server, %cause, "health check failed");
        }
        let Some(transition) = check.health.on_result(ok) else {
            return;
        };
        let streak = check.streak;
        self.shared.health.publish(b, s, transition);
        if let Some(metric) = self.shared.metrics.backends.server(b, s) {
            match transition {
                Transition::WentDown => metric.mark_down(),
                Transition::WentUp => metric.mark_up(),
            }
        }
        match (transition, result.err()) {
            (Transition::WentDown, cause) => {
                let cause = cause.unwrap_or(Failure::Timeout);
                tracing::warn!(
                    backend = %backend.name,
                    %server,
                    cause = %cause,
                    fall = streak,
                    "marked down: {cause} (fall {streak})"
                );
                if (0..backend.servers.len()).all(|s| !self.shared.health.is_up(b, s)) {
                    tracing::warn!(
                        backend = %backend.name,
                        "every server is down: new clients are refused (no_server_available)"
                    );
                }
            }
            (Transition::WentUp, _) => tracing::info!(
                backend = %backend.name,
                %server,
                rise = streak,
                "marked up (rise {streak})"
            ),
        }
    }

    /// A shutdown started: no new probes; the ones in flight are cancelled and closed.
    pub(super) fn stop_checks(&mut self) {
        let Some(checks) = &mut self.checks else {
            return;
        };
        checks.stopped = true;
        for i in 0..checks.servers.len() {
            self.decide(i, Err(Failure::Timeout));
            self.finish_probe(i);
        }
    }
}

#[cfg(test)]
mod tests;
