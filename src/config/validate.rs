//! Second layer: the file model (`file.rs`) checked and resolved into [`Config`].
//!
//! Stops at the first error: the config is small and a fixed error often explains the next.
//! Every error goes through [`Ctx::error`], which puts the file, line and key in front.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::ops::{Range, RangeInclusive};

use toml::Spanned;

use super::defaults;
use super::file::{FileBackend, FileConfig, FileListener, FileRuntime, FileTimeouts};
use super::locate::{entry_label, is_valid_name, line_of};
use super::{Backend, Config, ConfigError, ConfigSource, Listener, Runtime, Timeouts, TlsMode};

/// Upper bounds, each with its reason.
mod limits {
    use std::ops::RangeInclusive;

    /// A worker is a thread with its own ring; beyond 1024 the rings' locked memory alone
    /// (RLIMIT_MEMLOCK) is the problem, and no machine we target has that many cores.
    pub const WORKERS: RangeInclusive<i64> = 1..=1024;
    /// Below one page the per-recv overhead dominates; above 1 MiB a buffer outgrows any
    /// socket receive buffer and only wastes memory per connection.
    pub const RELAY_BUFFER_SIZE: RangeInclusive<i64> = 4096..=1024 * 1024;
    /// io_uring caps a provided-buffer ring at 32768 entries and requires a power of two.
    pub const RELAY_BUFFERS: RangeInclusive<i64> = 16..=32768;
    /// listen(2) takes an int, but the kernel caps it at net.core.somaxconn (at most 65535).
    pub const BACKLOG: RangeInclusive<i64> = 1..=65535;
    /// Per listener; ten million is past what one host's file descriptors allow anyway.
    pub const MAX_CONNECTIONS: RangeInclusive<i64> = 1..=10_000_000;
}

/// Where the text came from, for messages.
pub struct Ctx<'a> {
    pub file: String,
    pub text: &'a str,
}

impl Ctx<'_> {
    pub fn error(&self, span: Option<Range<usize>>, key: &str, what: String) -> ConfigError {
        let line = span.map(|span| line_of(self.text, span.start));
        ConfigError::new(&self.file, line, Some(key), &what)
    }
}

pub fn validate(
    file: FileConfig,
    ctx: &Ctx<'_>,
    source: ConfigSource,
) -> Result<Config, ConfigError> {
    if file.listener.is_empty() {
        return Err(ctx.error(
            None,
            "listener",
            "no [[listener]] defined (expected at least one)".into(),
        ));
    }
    if file.backend.is_empty() {
        return Err(ctx.error(
            None,
            "backend",
            "no [[backend]] defined (expected at least one)".into(),
        ));
    }
    let runtime = runtime(&file.runtime, ctx)?;
    let timeouts = timeouts(&file.timeouts);
    let backends = backends(&file.backend, ctx)?;
    let listeners = listeners(&file.listener, &backends, ctx)?;
    Ok(Config {
        source,
        runtime,
        timeouts,
        listeners,
        backends,
    })
}

fn runtime(file: &FileRuntime, ctx: &Ctx<'_>) -> Result<Runtime, ConfigError> {
    // Clamped so that a (hypothetical) machine with more CPUs still gets a valid default.
    let online_cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = in_range(&file.workers, "runtime.workers", limits::WORKERS, ctx)?;
    let relay_buffers = in_range(
        &file.relay_buffers,
        "runtime.relay_buffers",
        limits::RELAY_BUFFERS,
        ctx,
    )?;
    if let (Some(value), Some(n)) = (&file.relay_buffers, relay_buffers)
        && !n.is_power_of_two()
    {
        let what = format!("{n} is not a power of two (expected 16, 32, 64, ..., 32768)");
        return Err(ctx.error(Some(value.span()), "runtime.relay_buffers", what));
    }
    let relay_buffer_size = in_range(
        &file.relay_buffer_size,
        "runtime.relay_buffer_size",
        limits::RELAY_BUFFER_SIZE,
        ctx,
    )?;
    Ok(Runtime {
        workers: workers.map_or(online_cpus.min(1024), |n| n as usize),
        pin_workers: file.pin_workers.unwrap_or(false),
        shutdown_grace: file
            .shutdown_grace
            .map_or(defaults::SHUTDOWN_GRACE, |d| d.0),
        relay_buffer_size: relay_buffer_size.unwrap_or(defaults::RELAY_BUFFER_SIZE),
        relay_buffers: relay_buffers.unwrap_or(defaults::RELAY_BUFFERS),
    })
}

fn timeouts(file: &FileTimeouts) -> Timeouts {
    Timeouts {
        client_idle: file.client_idle.map_or(defaults::CLIENT_IDLE, |d| d.0),
        server_idle: file.server_idle.map_or(defaults::SERVER_IDLE, |d| d.0),
    }
}

/// Checks an optional integer against `range`. The ranges used all fit in `u32`.
fn in_range(
    value: &Option<Spanned<i64>>,
    key: &str,
    range: RangeInclusive<i64>,
    ctx: &Ctx<'_>,
) -> Result<Option<u32>, ConfigError> {
    let Some(value) = value else { return Ok(None) };
    let n = *value.get_ref();
    if !range.contains(&n) {
        let what = format!(
            "{n} is out of range (expected {}..={})",
            range.start(),
            range.end()
        );
        return Err(ctx.error(Some(value.span()), key, what));
    }
    Ok(Some(u32::try_from(n).expect("ranges fit in u32")))
}

/// Checks a `[[listener]]`/`[[backend]]` name and that no earlier entry of `kind` has it.
/// `seen` maps names to the line of their first definition.
fn check_name(
    kind: &str,
    index: usize,
    name: &Spanned<String>,
    seen: &mut HashMap<String, usize>,
    ctx: &Ctx<'_>,
) -> Result<(), ConfigError> {
    let key = format!("{kind}[{index}].name");
    if !is_valid_name(name.get_ref()) {
        let what = format!(
            "invalid name {:?} (expected a non-empty name of letters, digits, '_', '.', '-')",
            name.get_ref()
        );
        return Err(ctx.error(Some(name.span()), &key, what));
    }
    let line = line_of(ctx.text, name.span().start);
    if let Some(first) = seen.insert(name.get_ref().clone(), line) {
        let what = format!(
            "duplicate {kind} name {:?} (first defined at line {first}; expected unique names)",
            name.get_ref()
        );
        return Err(ctx.error(Some(name.span()), &key, what));
    }
    Ok(())
}

fn backends(file: &[FileBackend], ctx: &Ctx<'_>) -> Result<Vec<Backend>, ConfigError> {
    let mut seen = HashMap::new();
    let mut backends = Vec::with_capacity(file.len());
    for (index, entry) in file.iter().enumerate() {
        check_name("backend", index, &entry.name, &mut seen, ctx)?;
        let label = entry_label("backend", index, Some(entry.name.get_ref()));
        if entry.servers.get_ref().is_empty() {
            let what = "empty list (expected at least one \"host:port\")".to_owned();
            return Err(ctx.error(
                Some(entry.servers.span()),
                &format!("{label}.servers"),
                what,
            ));
        }
        let mut servers = Vec::new();
        for (i, server) in entry.servers.get_ref().iter().enumerate() {
            let resolved = resolve_server(server.get_ref()).map_err(|what| {
                ctx.error(Some(server.span()), &format!("{label}.servers[{i}]"), what)
            })?;
            for addr in resolved {
                // A name listed twice, or a name and its address, would double that
                // server's share of connections; keep the first occurrence only.
                if !servers.contains(&addr) {
                    servers.push(addr);
                }
            }
        }
        backends.push(Backend {
            name: entry.name.get_ref().clone(),
            servers,
            connect_timeout: entry
                .connect_timeout
                .map_or(defaults::CONNECT_TIMEOUT, |d| d.0),
        });
    }
    Ok(backends)
}

/// `ip:port`, `[v6]:port` or `host:port`; a host name is resolved now, once, to all its
/// addresses (the runtime never calls the resolver: it would block a worker's ring).
fn resolve_server(text: &str) -> Result<Vec<SocketAddr>, String> {
    const EXPECTED: &str = "expected \"host:port\", \"ip:port\" or \"[ipv6]:port\"";
    let addrs = match text.parse::<SocketAddr>() {
        Ok(addr) => vec![addr],
        Err(_) => {
            let Some((host, port)) = text.rsplit_once(':') else {
                return Err(format!("{text:?} has no port ({EXPECTED})"));
            };
            if host.contains(':') {
                return Err(format!(
                    "{text:?}: an IPv6 address needs brackets ({EXPECTED})"
                ));
            }
            let Ok(port) = port.parse::<u16>() else {
                return Err(format!(
                    "{text:?}: invalid port {port:?} ({EXPECTED}, port 1..=65535)"
                ));
            };
            if host.is_empty() {
                return Err(format!("{text:?} has no host ({EXPECTED})"));
            }
            let addrs: Vec<SocketAddr> = (host, port)
                .to_socket_addrs()
                .map_err(|e| {
                    format!("cannot resolve host {host:?}: {e} ({EXPECTED} with a resolvable host)")
                })?
                .collect();
            if addrs.is_empty() {
                return Err(format!(
                    "host {host:?} resolved to no address ({EXPECTED} with a resolvable host)"
                ));
            }
            addrs
        }
    };
    if addrs.iter().any(|a| a.port() == 0) {
        return Err(format!(
            "{text:?}: port 0 cannot be connected to ({EXPECTED}, port 1..=65535)"
        ));
    }
    Ok(addrs)
}

fn listeners(
    file: &[FileListener],
    backends: &[Backend],
    ctx: &Ctx<'_>,
) -> Result<Vec<Listener>, ConfigError> {
    let mut seen = HashMap::new();
    // Address -> (label, line) of the listener that binds it.
    let mut bound: HashMap<SocketAddr, (String, usize)> = HashMap::new();
    let mut listeners = Vec::with_capacity(file.len());
    for (index, entry) in file.iter().enumerate() {
        check_name("listener", index, &entry.name, &mut seen, ctx)?;
        let label = entry_label("listener", index, Some(entry.name.get_ref()));
        let bind = bind_address(entry, &label, ctx)?;
        // Workers bind with SO_REUSEPORT, so the kernel would accept a second listener on the
        // same address and silently split its connections between the two: refuse it here.
        // Port 0 is exempt: each such listener gets its own port.
        if bind.port() != 0 {
            let line = line_of(ctx.text, entry.bind.span().start);
            if let Some((other, other_line)) = bound.insert(bind, (label.clone(), line)) {
                let what = format!(
                    "{bind} is already bound by {other} at line {other_line} (expected a distinct address)"
                );
                return Err(ctx.error(Some(entry.bind.span()), &format!("{label}.bind"), what));
            }
        }
        listeners.push(Listener {
            name: entry.name.get_ref().clone(),
            bind,
            tls: tls_mode(entry.tls.as_ref(), &label, ctx)?,
            backend: backend_index(entry, &label, backends, ctx)?,
            max_connections: in_range(
                &entry.max_connections,
                &format!("{label}.max_connections"),
                limits::MAX_CONNECTIONS,
                ctx,
            )?
            .unwrap_or(defaults::MAX_CONNECTIONS),
            backlog: in_range(
                &entry.backlog,
                &format!("{label}.backlog"),
                limits::BACKLOG,
                ctx,
            )?
            .unwrap_or(defaults::BACKLOG),
        });
    }
    Ok(listeners)
}

fn bind_address(
    entry: &FileListener,
    label: &str,
    ctx: &Ctx<'_>,
) -> Result<SocketAddr, ConfigError> {
    entry.bind.get_ref().parse().map_err(|_| {
        let what = format!(
            "{:?} is not an IP socket address (expected \"ip:port\" like \"127.0.0.1:1884\" or \"[::]:1884\"; host names are not resolved for bind)",
            entry.bind.get_ref()
        );
        ctx.error(Some(entry.bind.span()), &format!("{label}.bind"), what)
    })
}

fn tls_mode(
    tls: Option<&Spanned<String>>,
    label: &str,
    ctx: &Ctx<'_>,
) -> Result<TlsMode, ConfigError> {
    let Some(tls) = tls else {
        return Ok(TlsMode::None);
    };
    let what = match tls.get_ref().as_str() {
        "none" => return Ok(TlsMode::None),
        mode @ ("terminate" | "passthrough") => {
            format!("tls = {mode:?} is not supported yet by this build (supported: \"none\")")
        }
        other => format!(
            "unknown tls mode {other:?} (expected one of \"none\", \"terminate\", \"passthrough\"; this build supports \"none\")"
        ),
    };
    Err(ctx.error(Some(tls.span()), &format!("{label}.tls"), what))
}

fn backend_index(
    entry: &FileListener,
    label: &str,
    backends: &[Backend],
    ctx: &Ctx<'_>,
) -> Result<usize, ConfigError> {
    let wanted = entry.backend.get_ref();
    backends
        .iter()
        .position(|b| &b.name == wanted)
        .ok_or_else(|| {
            let defined: Vec<String> = backends.iter().map(|b| format!("{:?}", b.name)).collect();
            let what = format!(
                "unknown backend {wanted:?} (expected one of the defined backends: {})",
                defined.join(", ")
            );
            ctx.error(
                Some(entry.backend.span()),
                &format!("{label}.backend"),
                what,
            )
        })
}
