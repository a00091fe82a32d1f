//! One load-generator connection: connect (bound to a source address), TLS handshake,
//! CONNECT → CONNACK, then publish, idle, subscribe, or close and start over (churn).
//!
//! Each connection is one task on its thread's single-threaded runtime; the reader and the
//! writer are two futures joined in that task, so they share state through `Cell`s. Buffers
//! are built once per connection and patched in place per message: no allocation per message.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use super::coalesce::Coalesce;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::time::{sleep_until, timeout, timeout_at};
use tokio_rustls::TlsConnector;

use super::histogram::{self, Histogram};
use super::options::{Mode, Plan, STAMP_BYTES};
use super::stats::{Counters, Failure};
use ringress_core::mqtt::frames::{self as mqtt, Frame, Scanner, kind};

/// First 8 payload bytes of a stamped message; the next 8 are the send time (ns since the
/// Unix epoch, so a subscriber in another process on the same host can read it).
pub const STAMP_MAGIC: [u8; 8] = *b"rgrsLAT1";

/// Read buffer per connection. Packets larger than this are counted and skipped, not kept.
const READ_BUF_BYTES: usize = 16 * 1024;

/// After the measured phase, how long a connection waits for the server to close.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// What every connection task of one thread shares.
pub struct ThreadCtx {
    pub plan: Arc<Plan>,
    pub tls: Option<TlsConnector>,
    pub server_name: ServerName<'static>,
    pub counters: Arc<Counters>,
    pub start: watch::Receiver<Option<Instant>>,
    /// Connection setups in progress at once, so a burst does not overflow listen backlogs.
    pub pending: Rc<Semaphore>,
}

enum Stream {
    Plain(Coalesce),
    Tls(Box<tokio_rustls::client::TlsStream<Coalesce>>),
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Waits for the start of the measured phase.
async fn wait_start(ctx: &ThreadCtx) -> Instant {
    let mut rx = ctx.start.clone();
    match rx.wait_for(Option::is_some).await {
        Ok(v) => v.unwrap_or_else(Instant::now),
        Err(_) => Instant::now(),
    }
}

async fn tcp_connect(n: usize, ctx: &ThreadCtx) -> Result<TcpStream, Failure> {
    let plan = &ctx.plan;
    let target = plan.opts.target;
    let socket = match target {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(|_| Failure::Bind)?;
    if !plan.sources.is_empty() {
        // SO_REUSEADDR lets bind() take a port whose previous connection is in TIME_WAIT
        // (churn closes from this side).
        let _ = socket.set_reuseaddr(true);
        let src = SocketAddr::new(plan.sources[n % plan.sources.len()], 0);
        socket.bind(src).map_err(|_| Failure::Bind)?;
    }
    let tcp = socket.connect(target).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::ConnectionRefused => Failure::ConnectRefused,
        std::io::ErrorKind::TimedOut => Failure::ConnectTimeout,
        _ => Failure::Connect,
    })?;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

async fn connack<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    n: usize,
    plan: &Plan,
) -> Result<(), Failure> {
    let mut out = Vec::with_capacity(64);
    let id = plan.opts.client_id.replace("{n}", &n.to_string());
    mqtt::encode_connect(&mut out, plan.version, id.as_bytes(), plan.opts.keepalive);
    s.write_all(&out)
        .await
        .map_err(|_| Failure::ClosedBeforeConnack)?;
    let mut buf = [0u8; 256];
    let mut end = 0;
    loop {
        let k = s
            .read(&mut buf[end..])
            .await
            .map_err(|_| Failure::ClosedBeforeConnack)?;
        if k == 0 {
            return Err(Failure::ClosedBeforeConnack);
        }
        end += k;
        match Scanner::default().next(&buf[..end], buf.len()) {
            Ok((_, Some(Frame::Whole { first, body }))) if first >> 4 == kind::CONNACK => {
                return match body.get(1) {
                    Some(0) => Ok(()),
                    _ => Err(Failure::ConnackRefused),
                };
            }
            Ok((_, None)) if end < buf.len() => continue,
            _ => return Err(Failure::Protocol),
        }
    }
}

/// Connect, handshake and (with `mqtt`) CONNECT/CONNACK.
async fn setup(n: usize, ctx: &ThreadCtx, mqtt: bool) -> Result<Stream, Failure> {
    let tcp = Coalesce::new(tcp_connect(n, ctx).await?);
    let mut stream = match &ctx.tls {
        Some(connector) => {
            let tls = connector
                .connect(ctx.server_name.clone(), tcp)
                .await
                .map_err(|_| Failure::TlsHandshake)?;
            Counters::add(&ctx.counters.handshakes, 1);
            Stream::Tls(Box::new(tls))
        }
        None => Stream::Plain(tcp),
    };
    if mqtt {
        match &mut stream {
            Stream::Plain(s) => connack(s, n, &ctx.plan).await?,
            Stream::Tls(s) => connack(s.as_mut(), n, &ctx.plan).await?,
        }
    }
    Ok(stream)
}

/// Opens connection `n` and runs it to the end of the measured phase. Returns the latency
/// histogram when this connection measured any.
pub async fn connection(n: usize, ctx: Rc<ThreadCtx>) -> Option<Histogram> {
    let permit = ctx.pending.acquire().await.ok();
    let opened = timeout(ctx.plan.opts.connect_timeout, setup(n, &ctx, true)).await;
    drop(permit);
    Counters::add(&ctx.counters.attempts_done, 1);
    let stream = match opened {
        Ok(Ok(s)) => s,
        Ok(Err(why)) => {
            ctx.counters.fail(why);
            return None;
        }
        Err(_) => {
            ctx.counters.fail(Failure::Timeout);
            return None;
        }
    };
    Counters::add(&ctx.counters.established, 1);
    let mut stream = stream;
    if matches!(ctx.plan.mode, Mode::Publish) && ctx.plan.opts.records_per_write > 1 {
        match &mut stream {
            Stream::Plain(s) => s.hold_writes(),
            Stream::Tls(s) => s.get_mut().0.hold_writes(),
        }
    }
    match stream {
        Stream::Plain(s) => session(s, n, &ctx).await,
        Stream::Tls(s) => session(*s, n, &ctx).await,
    }
}

/// One churn slot: set up, close, repeat until the end of the measured phase.
pub async fn churn(slot: usize, ctx: Rc<ThreadCtx>, mqtt: bool) {
    let start = wait_start(&ctx).await;
    let deadline = start + ctx.plan.opts.duration;
    let step = ctx.plan.opts.connections;
    let interval = ctx.plan.churn_interval;
    // Paced slots start spread over one interval, so the reconnections do not come in bursts.
    let mut next = match interval {
        Some(iv) => start + iv.mul_f64(slot as f64 / step as f64),
        None => start,
    };
    let mut n = slot;
    while Instant::now() < deadline {
        if let Some(iv) = interval {
            sleep_until(next.into()).await;
            next = next_churn_cycle(next, iv, Instant::now());
            if Instant::now() >= deadline {
                break;
            }
        }
        match timeout_at((deadline + CLOSE_GRACE).into(), setup(n, &ctx, mqtt)).await {
            Ok(Ok(stream)) => {
                Counters::add(&ctx.counters.established, 1);
                if interval.is_some() {
                    // Hold the connection until the slot's next cycle, as a device that
                    // reconnects does: the proxy carries ~`-n` of them at any time.
                    sleep_until(next.min(deadline).into()).await;
                }
                match stream {
                    Stream::Plain(mut s) => close(&mut s, mqtt).await,
                    Stream::Tls(mut s) => close(s.as_mut(), mqtt).await,
                }
            }
            Ok(Err(why)) => ctx.counters.fail(why),
            Err(_) => ctx.counters.fail(Failure::Timeout),
        }
        n += step;
    }
    let end = start.elapsed().as_nanos() as u64;
    ctx.counters
        .run_end_ns
        .fetch_max(end, std::sync::atomic::Ordering::Relaxed);
}

/// When a paced churn slot whose cycle was due at `due` starts its next one: one interval
/// later, or `now` if a slow set-up left it further behind (it skips cycles, never bursts).
fn next_churn_cycle(due: Instant, interval: Duration, now: Instant) -> Instant {
    (due + interval).max(now)
}

async fn close<S: AsyncWrite + Unpin>(s: &mut S, mqtt: bool) {
    if mqtt {
        let _ = s.write_all(&mqtt::DISCONNECT).await;
    }
    let _ = s.shutdown().await;
}

/// What the reader and the writer of one connection share.
struct Shared {
    inflight: Cell<u32>,
    acked: Notify,
    failed: Cell<bool>,
}

impl Shared {
    fn fail_once(&self, counters: &Counters) {
        if !self.failed.replace(true) {
            counters.fail(Failure::ClosedWhileRunning);
        }
    }
}

async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    n: usize,
    ctx: &ThreadCtx,
) -> Option<Histogram> {
    let (rd, mut wr) = tokio::io::split(stream);
    let start = wait_start(ctx).await;
    let deadline = start + ctx.plan.opts.duration;
    let shared = Shared {
        inflight: Cell::new(0),
        acked: Notify::new(),
        failed: Cell::new(false),
    };
    let writer = async {
        match &ctx.plan.mode {
            Mode::Publish => publish(&mut wr, n, ctx, start, deadline, &shared).await,
            Mode::Subscribe(filter) => {
                let mut out = Vec::new();
                mqtt::encode_subscribe(&mut out, ctx.plan.version, 1, filter.as_bytes(), 0);
                if wr.write_all(&out).await.is_err() {
                    shared.fail_once(&ctx.counters);
                }
                idle(&mut wr, ctx, deadline, &shared).await;
            }
            _ => idle(&mut wr, ctx, deadline, &shared).await,
        }
        let _ = wr.write_all(&mqtt::DISCONNECT).await;
        let _ = wr.shutdown().await;
    };
    let reader = read_loop(rd, ctx, deadline, &shared);
    let ((), hist) = tokio::join!(writer, reader);
    hist
}

async fn idle<W: AsyncWrite + Unpin>(wr: &mut W, ctx: &ThreadCtx, deadline: Instant, sh: &Shared) {
    let keepalive = ctx.plan.opts.keepalive;
    let every = Duration::from_millis(u64::from(keepalive) * 500);
    loop {
        let next = if keepalive > 0 {
            (Instant::now() + every).min(deadline)
        } else {
            deadline
        };
        sleep_until(next.into()).await;
        if Instant::now() >= deadline || sh.failed.get() {
            return;
        }
        if wr.write_all(&mqtt::PINGREQ).await.is_err() {
            sh.fail_once(&ctx.counters);
            return;
        }
    }
}

async fn publish<W: AsyncWrite + Unpin>(
    wr: &mut W,
    n: usize,
    ctx: &ThreadCtx,
    start: Instant,
    deadline: Instant,
    sh: &Shared,
) {
    let plan = &ctx.plan;
    let o = &plan.opts;
    let topic = o.topic.replace("{n}", &n.to_string());
    let mut buf = Vec::new();
    // One group of `batch` messages per TLS record, `records_per_write` groups per write.
    let mut groups = Vec::with_capacity(o.records_per_write);
    let mut layouts = Vec::with_capacity(o.batch * o.records_per_write);
    for _ in 0..o.records_per_write {
        let from = buf.len();
        for _ in 0..o.batch {
            let at = buf.len();
            let l = mqtt::encode_publish(&mut buf, plan.version, topic.as_bytes(), o.qos, o.size);
            layouts.push((at, l));
        }
        groups.push(from..buf.len());
    }
    let stamped = o.size >= STAMP_BYTES;
    if stamped {
        for (at, l) in &layouts {
            let p = at + l.payload_at;
            buf[p..p + 8].copy_from_slice(&STAMP_MAGIC);
        }
    }
    let batch = (o.batch * o.records_per_write) as u32;
    let mut packet_id: u16 = 0;
    // Spread the first writes of paced connections over one interval.
    let mut next = match plan.write_interval {
        Some(iv) => start + iv.mul_f64((n % 997) as f64 / 997.0),
        None => start,
    };
    let hard_stop = deadline + CLOSE_GRACE;
    'run: loop {
        if let Some(iv) = plan.write_interval {
            if next > Instant::now() {
                sleep_until(next.into()).await;
            }
            next += iv;
            // Never burst to catch up more than one second of backlog.
            let now = Instant::now();
            if now > next + Duration::from_secs(1) {
                next = now;
            }
        }
        if Instant::now() >= deadline || sh.failed.get() {
            break;
        }
        if o.qos > 0 {
            while sh.inflight.get() + batch > o.inflight.max(batch) {
                tokio::select! {
                    _ = sh.acked.notified() => {}
                    _ = sleep_until(deadline.into()) => break 'run,
                }
            }
        }
        let ts = now_nanos().to_be_bytes();
        for (at, l) in &layouts {
            if stamped {
                let p = at + l.payload_at + 8;
                buf[p..p + 8].copy_from_slice(&ts);
            }
            if let Some(p) = l.packet_id_at {
                packet_id = packet_id.wrapping_add(1).max(1);
                buf[at + p..at + p + 2].copy_from_slice(&packet_id.to_be_bytes());
            }
        }
        let write = async {
            if groups.len() == 1 {
                return wr.write_all(&buf).await;
            }
            for g in &groups {
                wr.write_all(&buf[g.clone()]).await?;
            }
            wr.flush().await
        };
        match timeout_at(hard_stop.into(), write).await {
            Ok(Ok(())) => {
                Counters::add(&ctx.counters.messages, u64::from(batch));
                Counters::add(&ctx.counters.bytes, buf.len() as u64);
                if o.qos > 0 {
                    sh.inflight.set(sh.inflight.get() + batch);
                }
                if plan.write_interval.is_none() {
                    // At saturation, let the other connections write before this one writes
                    // again: otherwise tokio runs ~128 writes of one connection in a row and
                    // the proxy reads them as one burst, which no fleet of devices produces.
                    tokio::task::yield_now().await;
                }
            }
            _ => {
                sh.fail_once(&ctx.counters);
                break;
            }
        }
    }
    let end = start.elapsed().as_nanos() as u64;
    ctx.counters
        .run_end_ns
        .fetch_max(end, std::sync::atomic::Ordering::Relaxed);
}

async fn read_loop<R: AsyncRead + Unpin>(
    mut rd: R,
    ctx: &ThreadCtx,
    deadline: Instant,
    sh: &Shared,
) -> Option<Histogram> {
    let version = ctx.plan.version;
    let mut hist: Option<Histogram> = None;
    let mut buf = vec![0u8; READ_BUF_BYTES];
    let (mut begin, mut end) = (0usize, 0usize);
    let mut scanner = Scanner::default();
    let stop = sleep_until((deadline + CLOSE_GRACE).into());
    tokio::pin!(stop);
    'read: loop {
        let got = tokio::select! {
            r = rd.read(&mut buf[end..]) => r,
            _ = &mut stop => break,
        };
        match got {
            Ok(k) if k > 0 => end += k,
            _ => {
                if Instant::now() < deadline {
                    sh.fail_once(&ctx.counters);
                }
                break;
            }
        }
        loop {
            let Ok((used, frame)) = scanner.next(&buf[begin..end], buf.len()) else {
                ctx.counters.fail(Failure::Protocol);
                break 'read;
            };
            begin += used;
            let Some(frame) = frame else {
                if used == 0 {
                    break;
                }
                continue;
            };
            match frame.kind() {
                kind::PUBACK => {
                    Counters::add(&ctx.counters.acks, 1);
                    sh.inflight.set(sh.inflight.get().saturating_sub(1));
                    sh.acked.notify_one();
                }
                kind::PUBLISH => {
                    let (first, body, len) = match frame {
                        Frame::Whole { first, body } => (first, body, body.len()),
                        Frame::Large {
                            first,
                            body_len,
                            body_prefix,
                        } => (first, body_prefix, body_len),
                    };
                    Counters::add(&ctx.counters.received, 1);
                    Counters::add(&ctx.counters.received_bytes, len as u64);
                    if let Some(p) = mqtt::publish_payload(version, first, body)
                        && p.len() >= STAMP_BYTES
                        && p[..8] == STAMP_MAGIC
                    {
                        let sent = u64::from_be_bytes(p[8..16].try_into().unwrap_or_default());
                        let h = hist.get_or_insert_with(histogram::new);
                        h.saturating_record(now_nanos().saturating_sub(sent));
                    }
                }
                _ => {}
            }
        }
        // Keep the unparsed tail at the front so the next read has room.
        buf.copy_within(begin..end, 0);
        end -= begin;
        begin = 0;
    }
    hist
}

#[cfg(test)]
mod tests;
