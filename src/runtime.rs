//! Start-up and shutdown: probe io_uring, bind every listener once per worker (SO_REUSEPORT),
//! spawn the workers, then wait for signals on the main thread.
//!
//! Everything that can fail at start-up fails here, before a worker serves anything, with one
//! clear error line (port in use, io_uring blocked, ring setup).

use std::os::fd::RawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, anyhow};

use crate::config::{Config, TlsMode, TlsOffload};
use crate::metrics;
use crate::sys::ktls;
use crate::sys::net::{self, EventFd};
use crate::sys::rusage;
use crate::sys::signals::{self, Signal};
use crate::sys::uring;
use crate::worker::{Shared, Worker, WorkerInit};

/// How often the main thread looks for a finished worker between signals.
const SIGNAL_POLL: Duration = Duration::from_millis(200);

struct WorkerHandle {
    wake: Arc<EventFd>,
    thread: JoinHandle<std::io::Result<()>>,
}

/// Runs the proxy until a signal-initiated shutdown completes.
pub fn run(config: Config) -> anyhow::Result<()> {
    uring::probe().map_err(|e| {
        anyhow!(
            "io_uring is unavailable: {e} (ringress needs Linux 5.19+ with io_uring enabled; \
             check /proc/sys/kernel/io_uring_disabled and the container's seccomp profile)"
        )
    })?;
    // Before the workers map their buffer pools: memory per idle connection (rusage.rs).
    if let Err(error) = rusage::disable_transparent_huge_pages() {
        tracing::debug!(%error, "cannot turn transparent huge pages off");
    }
    match net::raise_nofile_limit() {
        Ok(limit) => tracing::debug!(limit, "open files limit"),
        Err(error) => tracing::warn!(%error, "cannot raise the open files limit"),
    }

    let ktls = probe_kernel_tls(&config)?;
    let workers = config.runtime.workers;
    let listen_fds = bind_listeners(&config)?;
    let admin = bind_admin(&config)?;
    let shared = Arc::new(Shared::new(config, ktls));

    // Before any thread exists, so all of them inherit the mask and only we take signals.
    signals::block_handled_signals();
    let handles = spawn_workers(&shared, listen_fds)?;
    if let Some(admin) = admin {
        // Detached: it serves until the process exits, through the drain too.
        metrics::http::spawn(admin, Arc::clone(&shared))
            .context("cannot spawn the admin thread")?;
    }
    tracing::info!(workers, "ready");

    wait_for_shutdown(&shared, &handles);

    let mut failure = None;
    for (id, handle) in handles.into_iter().enumerate() {
        match handle.thread.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failure = Some(anyhow!("worker {id} failed: {e}")),
            Err(_) => failure = Some(anyhow!("worker {id} panicked")),
        }
    }
    match failure {
        Some(e) => Err(e),
        None => {
            tracing::info!("stopped");
            Ok(())
        }
    }
}

/// Probes kernel TLS once, if any listener terminates TLS: workers hand sessions to the
/// kernel only when this said yes. A listener with `tls_offload = "kernel"` refuses to start
/// without it.
fn probe_kernel_tls(config: &Config) -> anyhow::Result<Result<ktls::KtlsSupport, String>> {
    let terminating: Vec<_> = config
        .listeners
        .iter()
        .filter(|l| l.tls == TlsMode::Terminate)
        .collect();
    if terminating.is_empty() {
        return Ok(Err("no listener terminates TLS".to_owned()));
    }
    let ktls = ktls::probe().map_err(|e| e.to_string());
    match &ktls {
        Ok(support) => tracing::info!(
            rekey = support.rekey,
            "kernel TLS available: sessions move to the kernel after the handshake (tls_offload); rekey: TLS 1.3 KeyUpdate (Linux 6.14+)"
        ),
        Err(reason) => {
            tracing::info!(%reason, "kernel TLS unavailable: TLS records are processed in userspace (load the tls module to offload)")
        }
    }
    if let (Err(reason), Some(strict)) = (
        &ktls,
        terminating
            .iter()
            .find(|l| l.tls_offload == TlsOffload::Kernel),
    ) {
        anyhow::bail!(
            "listener {:?}: tls_offload = \"kernel\" but kernel TLS is unavailable: {reason} (load the module with `modprobe tls`, or use tls_offload = \"auto\")",
            strict.name
        );
    }
    Ok(ktls)
}

/// Binds `workers` sockets per listener. The first bind resolves port 0, so every worker's
/// socket is on the same port and in the same reuseport group.
fn bind_listeners(config: &Config) -> anyhow::Result<Vec<Vec<RawFd>>> {
    let workers = config.runtime.workers;
    let mut per_worker: Vec<Vec<RawFd>> = vec![Vec::new(); workers];
    for listener in &config.listeners {
        let mut addr = listener.bind;
        for fds in per_worker.iter_mut() {
            let socket = net::bind_reuseport(addr, listener.backlog).with_context(|| {
                format!(
                    "listener {:?}: cannot listen on {}",
                    listener.name, listener.bind
                )
            })?;
            addr = net::local_addr(&socket)?;
            fds.push(net::into_raw(socket));
        }
        tracing::info!(listener = %listener.name, addr = %addr, tls = %listener.tls.as_str(), backend = %listener.backend.map_or("-", |b| config.backends[b].name.as_str()), "listening");
    }
    Ok(per_worker)
}

/// Binds the `[admin]` listener, if configured, before anything runs: a port in use is a
/// start-up error like a listener's.
fn bind_admin(config: &Config) -> anyhow::Result<Option<std::net::TcpListener>> {
    let Some(admin) = &config.admin else {
        return Ok(None);
    };
    let listener = metrics::http::bind(admin.listen)
        .with_context(|| format!("admin listener: cannot listen on {}", admin.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(addr = %addr, path = "/metrics", "admin listening");
    Ok(Some(listener))
}

fn spawn_workers(
    shared: &Arc<Shared>,
    listen_fds: Vec<Vec<RawFd>>,
) -> anyhow::Result<Vec<WorkerHandle>> {
    let cpus = net::allowed_cpus();
    let pin = shared.config.runtime.pin_workers;
    let (ready_tx, ready_rx) = mpsc::channel();
    let mut handles = Vec::new();
    for (id, fds) in listen_fds.into_iter().enumerate() {
        let wake = Arc::new(EventFd::new().context("cannot create an eventfd")?);
        let init = WorkerInit {
            id,
            shared: Arc::clone(shared),
            listen_fds: fds,
            wake: Arc::clone(&wake),
        };
        let cpu = (pin && !cpus.is_empty()).then(|| cpus[id % cpus.len()]);
        let ready_tx = ready_tx.clone();
        let thread = std::thread::Builder::new()
            .name(format!("ringress-w{id}"))
            .spawn(move || {
                if let Some(cpu) = cpu
                    && let Err(error) = net::pin_current_thread(cpu)
                {
                    tracing::warn!(worker = id, cpu, %error, "cannot pin worker");
                }
                match Worker::new(init) {
                    Ok(worker) => {
                        let _ = ready_tx.send(Ok(()));
                        worker.run()
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(anyhow!("worker {id}: io_uring setup: {e}")));
                        Ok(())
                    }
                }
            })
            .context("cannot spawn a worker thread")?;
        handles.push(WorkerHandle { wake, thread });
    }
    drop(ready_tx);
    let mut failure = None;
    for _ in 0..handles.len() {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failure = Some(e),
            Err(_) => failure = Some(anyhow!("a worker exited during start-up")),
        }
    }
    if let Some(e) = failure {
        shared.hard_stop.store(true, Ordering::Release);
        shared.draining.store(true, Ordering::Release);
        for h in &handles {
            h.wake.notify();
        }
        for h in handles {
            let _ = h.thread.join();
        }
        return Err(e);
    }
    Ok(handles)
}

/// Waits for SIGTERM/SIGINT: the first starts a graceful drain, a second closes everything.
/// SIGHUP is logged and changes nothing (no reload yet). Returns when every worker has
/// finished.
fn wait_for_shutdown(shared: &Shared, handles: &[WorkerHandle]) {
    let grace = shared.config.runtime.shutdown_grace;
    loop {
        if handles.iter().all(|h| h.thread.is_finished()) {
            return;
        }
        let Some(signal) = signals::wait_signal(SIGNAL_POLL) else {
            // During a drain, workers finish one by one as their connections close; only a
            // worker that stops on its own before any drain has failed.
            let draining = shared.draining.load(Ordering::Acquire);
            if !draining && handles.iter().any(|h| h.thread.is_finished()) {
                // A worker died on its own (it logged why): take the others down too.
                shared.hard_stop.store(true, Ordering::Release);
                shared.draining.store(true, Ordering::Release);
                handles.iter().for_each(|h| h.wake.notify());
            }
            continue;
        };
        let name = signal.name();
        if signal == Signal::Hup {
            tracing::info!(
                signal = name,
                "configuration reload is not available yet: still running with the configuration loaded at start, every connection untouched"
            );
            continue;
        }
        if !shared.draining.swap(true, Ordering::AcqRel) {
            tracing::info!(
                signal = name,
                grace_ms = grace.as_millis() as u64,
                "shutting down: no longer accepting; open connections may finish (a second signal closes them now)"
            );
        } else {
            tracing::info!(signal = name, "second signal: closing all connections now");
            shared.hard_stop.store(true, Ordering::Release);
        }
        handles.iter().for_each(|h| h.wake.notify());
    }
}
