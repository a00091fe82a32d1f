//! One worker: a thread with its own io_uring ring, its own SO_REUSEPORT listening sockets,
//! its own buffer pool and connection table. Nothing here is shared with other workers
//! except the per-listener connection counters (touched at accept and close only) and the
//! shutdown flags.
//!
//! The loop: submit and wait for completions, dispatch each by the operation encoded in its
//! `user_data` ([`Token`]), then hand freed buffers to directions that were waiting for one.
//! Files in this module follow a connection: [`accept`] → [`ingress`] (PROXY-in,
//! ClientHello and route, TLS handshake, the CONNECT: the core's sans-IO `Ingress` on the
//! ring) → [`upstream`] (connect, PROXY-out) → [`relaying`] (copy) or [`splicing`] → [`close`].
//! Every ring operation on a connection's sockets is submitted, and counted in flight, in
//! [`submit`].

mod accept;
mod checks;
mod close;
mod counting;
mod ingress;
mod kernel_tls;
mod relaying;
mod splicing;
mod submit;
mod upstream;

use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::config::{ClientIdle, Config, Listener};
use crate::conn::{Connection, Side};
use crate::rate_limit::SourceLimiter;
use crate::slab::{GENERATION_MASK, Key, Slab};
use crate::sys::buf_ring::Buf;
use crate::sys::net::EventFd;
use crate::sys::pipe::{Pipe, PipePool};
use crate::sys::uring::{Completion, DurationId, Ring, TargetId};
use crate::timer::{RESOLUTION_MS, TimerWheel};

use accept::ListenerSlot;

/// Completions reaped per batch before dispatching.
const COMPLETION_BATCH: usize = 1024;

/// State shared by all workers and the main thread. Touched at accept, close and shutdown;
/// never per byte.
pub struct Shared {
    pub(crate) config: Config,
    /// Set on the first SIGTERM/SIGINT: stop accepting, let connections finish.
    pub(crate) draining: AtomicBool,
    /// Set on a second signal, or when start-up failed: close everything now.
    pub(crate) hard_stop: AtomicBool,
    /// Open connections per listener, across workers (for `max_connections`).
    pub(crate) active: Vec<PaddedCounter>,
    /// What this kernel's TLS can do (probed once at start-up), or why it cannot take
    /// sessions.
    pub(crate) ktls: Result<crate::sys::ktls::KtlsSupport, String>,
    /// Counters, one block per worker (each written only by its worker), and backend health.
    pub metrics: crate::metrics::Metrics,
    /// Servers' up/down state: written by worker 0's health checks, read by every worker.
    pub(crate) health: crate::health::HealthBoard,
}

/// A counter on its own cache line so listeners' counters don't false-share.
#[repr(align(64))]
#[derive(Default)]
pub(crate) struct PaddedCounter(pub AtomicU32);

impl Shared {
    pub fn new(config: Config, ktls: Result<crate::sys::ktls::KtlsSupport, String>) -> Shared {
        let active = config
            .listeners
            .iter()
            .map(|_| PaddedCounter::default())
            .collect();
        let metrics = crate::metrics::Metrics::new(&config);
        let health =
            crate::health::HealthBoard::new(config.backends.iter().map(|b| b.servers.len()));
        Shared {
            metrics,
            config,
            draining: AtomicBool::new(false),
            hard_stop: AtomicBool::new(false),
            active,
            ktls,
            health,
        }
    }
}

/// What a worker is handed by the runtime.
pub(crate) struct WorkerInit {
    pub(crate) id: usize,
    pub(crate) shared: Arc<Shared>,
    /// One listening socket per configured listener, in config order.
    pub(crate) listen_fds: Vec<RawFd>,
    pub(crate) wake: Arc<EventFd>,
}

/// The operation a completion belongs to, stored in the top byte of `user_data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Op {
    /// Multishot accept; the key index is the listener index.
    Accept = 1,
    /// The wake-up eventfd became readable.
    Wake = 2,
    /// The periodic tick (timers, paused listeners, drain deadline).
    Tick = 3,
    Connect = 4,
    ConnectTimer = 5,
    RecvClient = 6,
    RecvServer = 7,
    SendClient = 8,
    SendServer = 9,
    /// Completion of a cancel request; nothing to do.
    Cancel = 10,
    /// Health checks (worker 0); the key index is the check's index.
    CheckConnect = 11,
    CheckTimer = 12,
    CheckRecv = 13,
    /// Splice relay: readiness of the client or server socket (one-shot polls).
    ReadableClient = 14,
    ReadableServer = 15,
    WritableClient = 16,
    WritableServer = 17,
}

/// `user_data` layout: op (8 bits) | generation (24 bits) | slot index (32 bits).
#[derive(Debug, Clone, Copy)]
struct Token;

impl Token {
    fn encode(op: Op, key: Key) -> u64 {
        ((op as u64) << 56) | (((key.generation & GENERATION_MASK) as u64) << 32) | key.index as u64
    }

    fn plain(op: Op) -> u64 {
        Self::encode(
            op,
            Key {
                index: 0,
                generation: 0,
            },
        )
    }

    fn decode(user_data: u64) -> Option<(Op, Key)> {
        let op = match (user_data >> 56) as u8 {
            1 => Op::Accept,
            2 => Op::Wake,
            3 => Op::Tick,
            4 => Op::Connect,
            5 => Op::ConnectTimer,
            6 => Op::RecvClient,
            7 => Op::RecvServer,
            8 => Op::SendClient,
            9 => Op::SendServer,
            10 => Op::Cancel,
            11 => Op::CheckConnect,
            12 => Op::CheckTimer,
            13 => Op::CheckRecv,
            14 => Op::ReadableClient,
            15 => Op::ReadableServer,
            16 => Op::WritableClient,
            17 => Op::WritableServer,
            _ => return None,
        };
        let key = Key {
            index: user_data as u32,
            generation: (user_data >> 32) as u32 & GENERATION_MASK,
        };
        Some((op, key))
    }
}

fn recv_op(from: Side) -> Op {
    match from {
        Side::Client => Op::RecvClient,
        Side::Server => Op::RecvServer,
    }
}

fn send_op(to: Side) -> Op {
    match to {
        Side::Client => Op::SendClient,
        Side::Server => Op::SendServer,
    }
}

/// One proxied connection, as the worker keeps it (the core's [`Connection`], with the
/// worker's buffers and pipes).
type Conn = Connection<Buf, Pipe>;

/// The client idle timeout a listener's connection starts with, in milliseconds: its
/// `client_idle`, or for `"mqtt-keepalive"` the fallback until the CONNECT says otherwise.
fn initial_client_idle_ms(listener: &Listener, config: &Config) -> u32 {
    let idle = match listener.client_idle {
        ClientIdle::Fixed(d) => d,
        ClientIdle::MqttKeepalive => config.timeouts.client_idle,
    };
    u32::try_from(idle.as_millis()).unwrap_or(u32::MAX)
}

/// The shortest timeout any stage of any connection can have: where a connection's timer
/// entry is filed when its next stage is not known yet, so it is never late.
fn shortest_timeout(config: &Config) -> Duration {
    let t = &config.timeouts;
    config
        .listeners
        .iter()
        .map(|l| match l.client_idle {
            ClientIdle::Fixed(d) => d,
            ClientIdle::MqttKeepalive => t.keepalive_idle_min.min(t.client_idle),
        })
        .fold(t.handshake.min(t.server_idle), Duration::min)
}

/// Per-worker view of a backend.
struct BackendSlot {
    targets: Vec<TargetId>,
    connect_timeout: DurationId,
    /// Picks servers; per worker, so round-robin and least-connections need no shared state.
    selector: crate::balance::Selector,
    /// This worker's copy of the health board's flags, refreshed when its epoch moves.
    up: Vec<bool>,
    /// The board's down counts as last seen, to notice every marking down.
    downs_seen: Vec<u32>,
    /// This worker's connections per server, from the connect attempt until close.
    active: Vec<u32>,
}

pub(crate) struct Worker {
    id: usize,
    ring: Ring,
    shared: Arc<Shared>,
    wake: Arc<EventFd>,
    listeners: Vec<ListenerSlot>,
    backends: Vec<BackendSlot>,
    conns: Slab<Conn>,
    wheel: TimerWheel<Key>,
    /// Directions parked because the buffer pool was empty, resumed as buffers come back.
    starved: VecDeque<(Key, Side)>,
    /// Pipes for the splice relay, lent while bytes move.
    pipes: PipePool,
    /// Splicing directions parked because every pipe was lent out.
    pipe_waiters: VecDeque<(Key, Side)>,
    epoch: Instant,
    now_ms: u64,
    tick: DurationId,
    server_idle_ms: u64,
    handshake_ms: u64,
    /// The earliest any connection's deadline can come after an event (see
    /// `shortest_timeout_ms`).
    shortest_timeout_ms: u64,
    /// `max_connection_rate_per_source`, per listener (config order); `None`: no limit.
    limiters: Vec<Option<SourceLimiter>>,
    last_rate_warning_ms: Option<u64>,
    drain_deadline_ms: Option<u64>,
    last_accept_warning_ms: Option<u64>,
    accepted: u64,
    /// Reused for small TLS outputs written straight to a socket (close_notify).
    scratch: Vec<u8>,
    /// Reused for an ingress read's bytes, copied out of the pool buffer.
    ingress_read: Vec<u8>,
    /// The health board's epoch when this worker last copied it.
    health_epoch: u64,
    /// (backend, server) marked down since the last tick, whose sessions are to be closed.
    marked_down: Vec<(u16, u16)>,
    /// Worker 0 with health checks configured: the checks it runs.
    checks: Option<checks::Checks>,
}

impl Worker {
    /// Sets up the ring and per-worker state; runs on the worker's own thread.
    pub(crate) fn new(init: WorkerInit) -> io::Result<Worker> {
        let config = &init.shared.config;
        let mut ring = Ring::new(
            config.runtime.relay_buffers,
            config.runtime.relay_buffer_size,
        )?;
        let backends = config
            .backends
            .iter()
            .map(|b| BackendSlot::new(b, init.id, &mut ring))
            .collect();
        let checks = (init.id == 0)
            .then(|| checks::Checks::new(config, &mut ring))
            .flatten();
        if checks.is_some() {
            // Checked servers start up (docs/config.md, "Initial state"): say so in
            // `ringress_server_up` from the start rather than after the first transition.
            for (b, backend) in config.backends.iter().enumerate() {
                for s in 0..backend.servers.len() {
                    if let (Some(_), Some(health)) = (
                        &backend.health_check,
                        init.shared.metrics.backends.server(b, s),
                    ) {
                        health.mark_up();
                    }
                }
            }
        }
        let tick = ring.register_duration(Duration::from_millis(RESOLUTION_MS));
        let pipes = PipePool::new(
            config.runtime.relay_pipes,
            config.runtime.relay_pipe_size as usize,
        )?;
        let listeners = init
            .listen_fds
            .iter()
            .map(|&fd| ListenerSlot::new(fd))
            .collect();
        Ok(Worker {
            id: init.id,
            ring,
            server_idle_ms: config.timeouts.server_idle.as_millis() as u64,
            handshake_ms: config.timeouts.handshake.as_millis() as u64,
            shortest_timeout_ms: shortest_timeout(config).as_millis() as u64,
            limiters: config
                .listeners
                .iter()
                .map(|l| l.rate_per_source.map(SourceLimiter::new))
                .collect(),
            last_rate_warning_ms: None,
            shared: init.shared,
            wake: init.wake,
            listeners,
            backends,
            conns: Slab::new(),
            wheel: TimerWheel::new(),
            starved: VecDeque::new(),
            pipes,
            pipe_waiters: VecDeque::new(),
            epoch: Instant::now(),
            now_ms: 0,
            tick,
            drain_deadline_ms: None,
            last_accept_warning_ms: None,
            accepted: 0,
            scratch: Vec::new(),
            ingress_read: Vec::new(),
            health_epoch: 0,
            marked_down: Vec::new(),
            checks,
        })
    }

    /// Runs until a shutdown has finished on this worker.
    pub(crate) fn run(mut self) -> io::Result<()> {
        for l in 0..self.listeners.len() {
            self.arm_accept(l);
        }
        self.ring.timeout(self.tick, Token::plain(Op::Tick));
        self.ring
            .poll_readable(self.wake.fd(), Token::plain(Op::Wake));
        // A signal may have arrived before our eventfd poll was armed.
        self.on_wake();

        let mut completions = Vec::with_capacity(COMPLETION_BATCH);
        while !self.finished() {
            self.ring.submit_and_wait(1)?;
            self.now_ms = self.epoch.elapsed().as_millis() as u64;
            loop {
                self.ring.reap(&mut completions);
                if completions.is_empty() {
                    break;
                }
                for c in &completions {
                    self.dispatch(*c);
                }
            }
            self.resume_starved();
            self.resume_pipe_waiters();
        }
        tracing::debug!(worker = self.id, accepted = self.accepted, "worker stopped");
        Ok(())
    }

    /// This worker's counters (only this worker writes them).
    fn counters(&self) -> &crate::metrics::WorkerCounters {
        self.shared.metrics.worker(self.id)
    }

    fn finished(&self) -> bool {
        self.drain_deadline_ms.is_some()
            && self.conns.is_empty()
            && self.listeners_closed()
            && self.checks.as_ref().is_none_or(checks::Checks::idle)
    }

    fn dispatch(&mut self, c: Completion) {
        let Some((op, key)) = Token::decode(c.user_data) else {
            tracing::error!(user_data = c.user_data, "completion with an unknown token");
            return;
        };
        match op {
            Op::Accept => self.on_accept(key.index as usize, c),
            Op::Wake => {
                self.wake.drain();
                self.ring
                    .poll_readable(self.wake.fd(), Token::plain(Op::Wake));
                self.on_wake();
            }
            Op::Tick => {
                self.ring.timeout(self.tick, Token::plain(Op::Tick));
                self.on_tick();
            }
            Op::Cancel => {}
            Op::CheckConnect | Op::CheckTimer | Op::CheckRecv => {
                self.on_check_completion(op, key.index as usize, c);
            }
            _ => self.on_conn_completion(op, key, c),
        }
    }

    fn on_conn_completion(&mut self, op: Op, key: Key, c: Completion) {
        let Some(mut conn) = self.conns.take(key) else {
            // Cannot happen: slots are freed only with no operation in flight. If it did,
            // at least keep the pool whole.
            tracing::error!(?op, "completion for a freed connection");
            if let Some(bid) = c.buffer_id() {
                let buf = self.ring.bufs_mut().take_rx(bid, 0);
                self.ring.bufs_mut().recycle(buf);
            }
            if let Some(buf) = self.ring.take_sent(c.user_data) {
                self.ring.bufs_mut().recycle(buf);
            }
            return;
        };
        conn.inflight -= 1;
        let ingress = conn.stage.is_ingress();
        match op {
            Op::Connect => self.on_connect(key, &mut conn, c.result),
            Op::ConnectTimer => {}
            Op::RecvClient if ingress => self.on_ingress_recv(key, &mut conn, c),
            Op::RecvClient => self.on_recv(key, &mut conn, Side::Client, c),
            Op::RecvServer => self.on_recv(key, &mut conn, Side::Server, c),
            // A send's buffer comes back from the ring with its completion.
            Op::SendClient | Op::SendServer => match self.ring.take_sent(c.user_data) {
                Some(buf) if ingress && op == Op::SendClient => {
                    self.on_ingress_send(key, &mut conn, c.result, buf)
                }
                Some(buf) => {
                    let to = if op == Op::SendClient {
                        Side::Client
                    } else {
                        Side::Server
                    };
                    self.on_send(key, &mut conn, to, c.result, buf)
                }
                None => {
                    tracing::error!(?op, "send completion without its buffer");
                    self.begin_close(&mut conn, crate::conn::Termination::Internal);
                }
            },
            Op::ReadableClient | Op::ReadableServer | Op::WritableClient | Op::WritableServer => {
                self.on_poll(key, &mut conn, op)
            }
            Op::Accept
            | Op::Wake
            | Op::Tick
            | Op::Cancel
            | Op::CheckConnect
            | Op::CheckTimer
            | Op::CheckRecv => unreachable!("not a connection op"),
        }
        self.settle(key, conn);
    }

    /// Puts a connection back in the table, or finishes closing it once nothing is in flight.
    fn settle(&mut self, key: Key, conn: Conn) {
        if conn.stage.is_closing() && conn.inflight == 0 {
            self.finalize(key, conn);
        } else {
            self.conns.restore(key, conn);
        }
    }

    fn on_wake(&mut self) {
        if self.shared.draining.load(Ordering::Acquire) && self.drain_deadline_ms.is_none() {
            let grace = self.shared.config.runtime.shutdown_grace.as_millis() as u64;
            self.drain_deadline_ms = Some(self.now_ms.saturating_add(grace));
            self.close_listeners();
            self.stop_checks();
            tracing::debug!(
                worker = self.id,
                open = self.conns.len(),
                "draining: not accepting, open connections may finish"
            );
        }
        if self.shared.hard_stop.load(Ordering::Acquire) {
            self.drain_deadline_ms.get_or_insert(self.now_ms);
            self.close_listeners();
            self.stop_checks();
            self.close_all(crate::conn::Termination::Shutdown);
        }
    }

    fn on_tick(&mut self) {
        self.expire_timers();
        self.resume_paused_listeners();
        self.run_checks();
        self.refresh_health();
        self.shut_down_marked_sessions();
        if let Some(deadline) = self.drain_deadline_ms
            && self.now_ms >= deadline
            && !self.conns.is_empty()
        {
            tracing::info!(
                worker = self.id,
                open = self.conns.len(),
                "shutdown grace period over: closing open connections"
            );
            self.close_all(crate::conn::Termination::Shutdown);
        }
    }
}
