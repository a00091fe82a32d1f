//! `ringress-sink`: the fastest MQTT "broker" a benchmark needs. Accepts CONNECT → CONNACK,
//! answers PUBLISH QoS 1 with PUBACK, PINGREQ with PINGRESP, SUBSCRIBE with SUBACK, and
//! discards PUBLISH (or, with `--echo`, sends it back on the same connection, which is how
//! the latency workload measures a round trip through a proxy). Counts everything and prints
//! one JSON object on stdout when it gets SIGTERM/SIGINT or `--exit-after` expires.
//!
//! Plain TCP by default (the proxy under test terminates TLS); `--tls-cert/--tls-key` make it
//! terminate TLS itself, which is the "direct" baseline of `perf/compare`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

use super::options::parse_duration;
use ringress::sys::rusage::self_cpu;
use ringress_core::mqtt::frames::{self as mqtt, Frame, Scanner, Version, kind};

/// Read buffer per connection: large enough that a bulk stream is read in few syscalls.
const READ_BUF_BYTES: usize = 64 * 1024;

/// MQTT sink for proxy benchmarks.
#[derive(Parser, Debug, Clone)]
#[command(name = "ringress-sink", version)]
pub struct SinkOptions {
    /// Address to listen on (repeatable).
    #[arg(short, long, default_value = "127.0.0.1:1883")]
    pub listen: Vec<SocketAddr>,
    /// Send every PUBLISH back to its sender.
    #[arg(long)]
    pub echo: bool,
    /// Runtime threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Terminate TLS with this certificate chain (PEM) — the "direct" baseline.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Private key for --tls-cert (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Stop by itself after this long (a safety bound for scripts).
    #[arg(long, value_parser = parse_duration)]
    pub exit_after: Option<Duration>,
}

#[derive(Default)]
struct SinkCounters {
    accepted: AtomicU64,
    open: AtomicU64,
    max_open: AtomicU64,
    connects: AtomicU64,
    messages: AtomicU64,
    bytes: AtomicU64,
    pubacks: AtomicU64,
    echoed: AtomicU64,
    pings: AtomicU64,
    errors: AtomicU64,
}

fn server_config(cert: &PathBuf, key: &PathBuf) -> Result<Arc<rustls::ServerConfig>> {
    let certs = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("{}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| format!("{}", key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)?;
    Ok(Arc::new(config))
}

/// Runs the sink until a signal or `--exit-after`; returns the summary.
pub fn run(opts: SinkOptions) -> Result<serde_json::Value> {
    let rt = if opts.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(opts.threads)
            .enable_all()
            .build()?
    };
    let acceptor = match (&opts.tls_cert, &opts.tls_key) {
        (Some(c), Some(k)) => Some(tokio_rustls::TlsAcceptor::from(server_config(c, k)?)),
        _ => None,
    };
    let counters = Arc::new(SinkCounters::default());
    let t0 = Instant::now();
    rt.block_on(async {
        for addr in &opts.listen {
            let listener = listen(*addr).with_context(|| format!("bind {addr}"))?;
            eprintln!(
                "{}",
                json!({"listening": listener.local_addr()?.to_string()})
            );
            tokio::spawn(accept_loop(
                listener,
                acceptor.clone(),
                opts.echo,
                counters.clone(),
            ));
        }
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut usr1 = signal(SignalKind::user_defined1())?;
        let limit =
            tokio::time::sleep(opts.exit_after.unwrap_or(Duration::from_secs(86_400 * 365)));
        tokio::pin!(limit);
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = tokio::signal::ctrl_c() => break,
                _ = &mut limit => break,
                // A snapshot of what has arrived so far, so a benchmark can count the messages
                // delivered within its measured window.
                _ = usr1.recv() => println!("{}", snapshot(&counters, t0)),
            }
        }
        anyhow::Ok(())
    })?;
    let (user, sys) = self_cpu();
    let c = &counters;
    let summary = json!({
        "accepted": c.accepted.load(Relaxed),
        "open": c.open.load(Relaxed),
        "max_open": c.max_open.load(Relaxed),
        "connects": c.connects.load(Relaxed),
        "messages": c.messages.load(Relaxed),
        "bytes": c.bytes.load(Relaxed),
        "pubacks": c.pubacks.load(Relaxed),
        "echoed": c.echoed.load(Relaxed),
        "pings": c.pings.load(Relaxed),
        "errors": c.errors.load(Relaxed),
        "seconds": t0.elapsed().as_secs_f64(),
        "cpu_seconds": {"user": user.as_secs_f64(), "system": sys.as_secs_f64()},
    });
    // The runtime may still hold connections; leave without waiting for them.
    rt.shutdown_background();
    Ok(summary)
}

/// One `{"snapshot": …}` line: counters so far.
fn snapshot(c: &SinkCounters, t0: Instant) -> serde_json::Value {
    json!({"snapshot": {
        "messages": c.messages.load(Relaxed),
        "bytes": c.bytes.load(Relaxed),
        "seconds": t0.elapsed().as_secs_f64(),
    }})
}

/// Listen backlog: a proxy opening hundreds of upstream connections at once must not lose
/// SYNs (a lost SYN costs a 1 s retransmit, longer than some proxies' connect timeout). The
/// kernel caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 16_384;

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    echo: bool,
    counters: Arc<SinkCounters>,
) {
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(c) => c,
            Err(_) => {
                // EMFILE and friends: back off instead of spinning.
                counters.errors.fetch_add(1, Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        counters.accepted.fetch_add(1, Relaxed);
        let open = counters.open.fetch_add(1, Relaxed) + 1;
        counters.max_open.fetch_max(open, Relaxed);
        let counters = counters.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            match acceptor {
                Some(a) => match a.accept(tcp).await {
                    Ok(tls) => serve(tls, echo, &counters).await,
                    Err(_) => {
                        counters.errors.fetch_add(1, Relaxed);
                    }
                },
                None => serve(tcp, echo, &counters).await,
            }
            counters.open.fetch_sub(1, Relaxed);
        });
    }
}

/// Per-read tallies, added to the shared counters once per read.
#[derive(Default)]
struct Tally {
    connects: u64,
    messages: u64,
    bytes: u64,
    pubacks: u64,
    echoed: u64,
    pings: u64,
}

/// Handles one frame; appends any answer to `out`. Returns false on DISCONNECT.
fn on_frame(
    frame: Frame<'_>,
    echo: bool,
    version: &mut Version,
    out: &mut Vec<u8>,
    t: &mut Tally,
) -> bool {
    match frame {
        Frame::Whole { first, body } => match first >> 4 {
            kind::CONNECT => {
                *version = mqtt::connect_version(body).unwrap_or(Version::V311);
                out.extend_from_slice(mqtt::connack(*version));
                t.connects += 1;
            }
            kind::PUBLISH => {
                t.messages += 1;
                t.bytes += body.len() as u64;
                if let Some(id) = mqtt::publish_packet_id(first, body) {
                    out.extend_from_slice(&mqtt::puback(id));
                    t.pubacks += 1;
                }
                if echo {
                    out.push(first);
                    let mut len = body.len();
                    loop {
                        let b = (len % 128) as u8;
                        len /= 128;
                        out.push(if len > 0 { b | 0x80 } else { b });
                        if len == 0 {
                            break;
                        }
                    }
                    out.extend_from_slice(body);
                    t.echoed += 1;
                }
            }
            kind::PINGREQ => {
                out.extend_from_slice(&mqtt::PINGRESP);
                t.pings += 1;
            }
            kind::SUBSCRIBE => {
                let id = body
                    .get(..2)
                    .map_or(1, |b| u16::from_be_bytes([b[0], b[1]]));
                mqtt::encode_suback(out, *version, id, 0);
            }
            kind::DISCONNECT => return false,
            _ => {}
        },
        Frame::Large {
            first,
            body_len,
            body_prefix,
        } => {
            // Too large to keep (or echo): count it, acknowledge it, skip its bytes.
            if first >> 4 == kind::PUBLISH {
                t.messages += 1;
                t.bytes += body_len as u64;
                if let Some(id) = mqtt::publish_packet_id(first, body_prefix) {
                    out.extend_from_slice(&mqtt::puback(id));
                    t.pubacks += 1;
                }
            }
        }
    }
    true
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, echo: bool, c: &SinkCounters) {
    let mut buf = vec![0u8; READ_BUF_BYTES];
    let mut out = Vec::with_capacity(4096);
    let (mut begin, mut end) = (0usize, 0usize);
    let mut scanner = Scanner::default();
    let mut version = Version::V311;
    let mut open = true;
    while open {
        match s.read(&mut buf[end..]).await {
            Ok(k) if k > 0 => end += k,
            _ => break,
        }
        let mut t = Tally::default();
        loop {
            let Ok((used, frame)) = scanner.next(&buf[begin..end], buf.len()) else {
                c.errors.fetch_add(1, Relaxed);
                open = false;
                break;
            };
            begin += used;
            match frame {
                Some(f) if !on_frame(f, echo, &mut version, &mut out, &mut t) => {
                    open = false;
                    break;
                }
                Some(_) => {}
                None if used == 0 => break,
                None => {}
            }
        }
        buf.copy_within(begin..end, 0);
        end -= begin;
        begin = 0;
        if !out.is_empty() {
            if s.write_all(&out).await.is_err() {
                break;
            }
            out.clear();
        }
        c.connects.fetch_add(t.connects, Relaxed);
        c.messages.fetch_add(t.messages, Relaxed);
        c.bytes.fetch_add(t.bytes, Relaxed);
        c.pubacks.fetch_add(t.pubacks, Relaxed);
        c.echoed.fetch_add(t.echoed, Relaxed);
        c.pings.fetch_add(t.pings, Relaxed);
    }
    let _ = s.shutdown().await;
}
