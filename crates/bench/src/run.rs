//! The load generator's run: one single-threaded tokio runtime per thread, connection `n` on
//! thread `n % threads`; the main thread paces nothing, it watches the counters, starts the
//! measured phase when every connection is set up, prints progress and the summary.

use std::io::IsTerminal;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsConnector;

use super::client::{self, ThreadCtx};
use super::histogram::{self, Histogram};
use super::options::{Mode, Plan};
use super::stats::{Counters, Failure, Totals};
use ringress::sys::rusage::self_cpu;

/// Connection setups in flight per thread: enough to keep a proxy's handshakes busy, few
/// enough not to overflow a 4096 listen backlog with SYNs.
const MAX_PENDING_SETUPS: usize = 512;

/// Above this share of its threads' time on CPU, the load generator says it may have been
/// the bottleneck.
const BUSY_WARNING: f64 = 0.90;

fn thread_main(plan: Arc<Plan>, t: usize, ctx_parts: CtxParts) -> Result<Histogram> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let local = tokio::task::LocalSet::new();
    let ctx = Rc::new(ThreadCtx {
        plan: plan.clone(),
        tls: ctx_parts.tls,
        server_name: ctx_parts.server_name,
        counters: ctx_parts.counters,
        start: ctx_parts.start,
        pending: Rc::new(Semaphore::new(MAX_PENDING_SETUPS)),
    });
    let hist = local.block_on(&rt, async move {
        let mine: Vec<usize> = (t..plan.opts.connections).step_by(plan.threads).collect();
        let mut tasks = Vec::with_capacity(mine.len());
        if let Mode::Churn { mqtt } = plan.mode {
            for slot in mine {
                let c = ctx.clone();
                tasks.push(tokio::task::spawn_local(async move {
                    client::churn(slot, c, mqtt).await;
                    None
                }));
            }
        } else {
            let interval = (plan.opts.connect_rate > 0.0)
                .then(|| Duration::from_secs_f64(plan.threads as f64 / plan.opts.connect_rate));
            let mut next = Instant::now();
            for n in mine {
                if let Some(iv) = interval {
                    tokio::time::sleep_until(next.into()).await;
                    next += iv;
                }
                tasks.push(tokio::task::spawn_local(client::connection(n, ctx.clone())));
            }
        }
        let mut hist = histogram::new();
        for task in tasks {
            if let Ok(Some(h)) = task.await {
                histogram::merge(&mut hist, &h);
            }
        }
        hist
    });
    Ok(hist)
}

struct CtxParts {
    tls: Option<TlsConnector>,
    server_name: rustls::pki_types::ServerName<'static>,
    counters: Arc<Counters>,
    start: watch::Receiver<Option<Instant>>,
}

fn cpu_now() -> Duration {
    let (u, s) = self_cpu();
    u + s
}

/// Runs the plan to its end and returns the JSON summary.
pub fn run(plan: Plan) -> Result<Value> {
    let plan = Arc::new(plan);
    let tls = match &plan.tls {
        Some(t) => Some(TlsConnector::from(super::tls::client_config(t)?)),
        None => None,
    };
    let server_name = super::tls::server_name(plan.opts.sni.as_deref(), plan.opts.target)?;
    let (start_tx, start_rx) = watch::channel(None::<Instant>);
    let counters: Vec<Arc<Counters>> = (0..plan.threads).map(|_| Arc::default()).collect();
    let t0 = Instant::now();
    let mut handles = Vec::new();
    for (t, c) in counters.iter().enumerate() {
        let parts = CtxParts {
            tls: tls.clone(),
            server_name: server_name.clone(),
            counters: c.clone(),
            start: start_rx.clone(),
        };
        let plan = plan.clone();
        handles.push(
            std::thread::Builder::new()
                .name(format!("load-{t}"))
                .spawn(move || thread_main(plan, t, parts))?,
        );
    }
    let churn = matches!(plan.mode, Mode::Churn { .. });
    let progress = match plan.opts.progress.as_str() {
        "always" => true,
        "never" => false,
        _ => std::io::stderr().is_terminal(),
    };
    let mut start: Option<(Instant, Duration, Totals)> = None;
    let mut last = (Instant::now(), Totals::default());
    let mut last_print = Instant::now();
    loop {
        let now_totals = Totals::sum(&counters);
        if start.is_none() && (churn || now_totals.attempts_done >= plan.opts.connections as u64) {
            let s = Instant::now();
            let _ = start_tx.send(Some(s));
            start = Some((s, cpu_now(), now_totals));
            if let Some(path) = &plan.opts.ready_file {
                std::fs::write(path, b"")
                    .with_context(|| format!("--ready-file {}", path.display()))?;
            }
        }
        if handles.iter().all(|h| h.is_finished()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        if progress && last_print.elapsed() >= Duration::from_secs(1) {
            let t = Totals::sum(&counters);
            let dt = last.0.elapsed().as_secs_f64();
            eprint!(
                "\r[{:6.1}s] conns {}/{} failed {}  hs/s {:.0}  msg/s {:.0}  MB/s {:.1}  recv/s {:.0}   ",
                t0.elapsed().as_secs_f64(),
                t.established,
                plan.opts.connections,
                t.failed(),
                (t.handshakes - last.1.handshakes) as f64 / dt,
                (t.messages - last.1.messages) as f64 / dt,
                (t.bytes - last.1.bytes) as f64 / dt / 1e6,
                (t.received - last.1.received) as f64 / dt,
            );
            last = (Instant::now(), t);
            last_print = Instant::now();
        }
    }
    if progress {
        eprintln!();
    }
    let mut hist = histogram::new();
    for h in handles {
        match h.join() {
            Ok(Ok(part)) => histogram::merge(&mut hist, &part),
            Ok(Err(e)) => return Err(e),
            Err(_) => anyhow::bail!("a load thread panicked"),
        }
    }
    let end = Totals::sum(&counters);
    let wall = t0.elapsed();
    let cpu_end = cpu_now();
    let (run_start, run_cpu0, at_start) = start.unwrap_or((t0, Duration::ZERO, Totals::default()));
    let setup_s = run_start.duration_since(t0).as_secs_f64();
    let run_s = if end.run_end_ns > 0 {
        end.run_end_ns as f64 / 1e9
    } else {
        plan.opts.duration.as_secs_f64()
    };
    let run_cpu = (cpu_end - run_cpu0).as_secs_f64();
    let run_wall = run_start.elapsed().as_secs_f64();
    let busy = run_cpu / (run_wall * plan.threads as f64).max(1e-9);
    let (user, sys) = self_cpu();
    let failures: serde_json::Map<String, Value> = Failure::ALL
        .iter()
        .zip(end.failures.iter())
        .filter(|(_, n)| **n > 0)
        .map(|(f, n)| (f.name().to_owned(), json!(n)))
        .collect();
    let (hs, hs_s) = if churn {
        (end.handshakes, end.handshakes as f64 / run_s.max(1e-9))
    } else {
        (
            at_start.handshakes,
            at_start.handshakes as f64 / setup_s.max(1e-9),
        )
    };
    let us = |ns: u64| ns as f64 / 1000.0;
    let saturated = busy >= BUSY_WARNING;
    if saturated {
        eprintln!(
            "ringress-load: busy {:.0}% of its {} thread(s) during the run: the load generator may be the bottleneck",
            busy * 100.0,
            plan.threads
        );
    }
    Ok(json!({
        "mode": match &plan.mode {
            Mode::Publish => "publish",
            Mode::Idle => "idle",
            Mode::Subscribe(_) => "subscribe",
            Mode::Churn { .. } => "churn",
        },
        "target": plan.opts.target.to_string(),
        "tls": plan.tls.is_some(),
        "threads": plan.threads,
        "connections": {
            "requested": plan.opts.connections,
            "established": end.established,
            "failed": end.failed(),
            "failures": failures,
        },
        "setup_seconds": setup_s,
        "handshakes": hs,
        "handshakes_per_sec": hs_s,
        "run_seconds": run_s,
        "messages_sent": end.messages,
        "messages_per_sec": end.messages as f64 / run_s.max(1e-9),
        "bytes_sent": end.bytes,
        "mb_per_sec": end.bytes as f64 / run_s.max(1e-9) / 1e6,
        "acks": end.acks,
        "messages_received": end.received,
        "bytes_received": end.received_bytes,
        "latency_us": {
            "count": hist.len(),
            "p50": us(hist.value_at_quantile(0.50)),
            "p99": us(hist.value_at_quantile(0.99)),
            "p999": us(hist.value_at_quantile(0.999)),
            "max": us(hist.max()),
        },
        "cpu_seconds": {
            "user": user.as_secs_f64(),
            "system": sys.as_secs_f64(),
            "run": run_cpu,
        },
        "busy_ratio": busy,
        "loadgen_saturated": saturated,
        "wall_seconds": wall.as_secs_f64(),
    }))
}
