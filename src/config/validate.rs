//! Second layer: the file model (`file.rs`) checked and resolved into [`Config`].
//!
//! Stops at the first error: the config is small and a fixed error often explains the next.
//! Every error goes through [`Ctx::error`], which puts the file, line and key in front.

use std::collections::HashMap;
use std::ops::{Range, RangeInclusive};
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::file::{FileConfig, FileRuntime, FileTimeouts, SpannedList};
use super::locate::{is_valid_name, line_of};
use super::{
    Config, ConfigError, ConfigSource, Runtime, Timeouts, backends, defaults, format_duration,
    listeners, routes,
};

/// Upper bounds, each with its reason.
pub(super) mod limits {
    use std::ops::RangeInclusive;

    /// A worker is a thread with its own ring; beyond 1024 the rings' locked memory alone
    /// (RLIMIT_MEMLOCK) is the problem, and no machine we target has that many cores.
    pub(crate) const WORKERS: RangeInclusive<i64> = 1..=1024;
    /// Below one page the per-recv overhead dominates; above 1 MiB a buffer outgrows any
    /// socket receive buffer and only wastes memory per connection.
    pub(crate) const RELAY_BUFFER_SIZE: RangeInclusive<i64> = 4096..=1024 * 1024;
    /// io_uring caps a provided-buffer ring at 32768 entries and requires a power of two.
    pub(crate) const RELAY_BUFFERS: RangeInclusive<i64> = 16..=32768;
    /// Each pipe is two fds; 65536 pipes already take 131,072 of them per worker.
    pub(crate) const RELAY_PIPES: RangeInclusive<i64> = 1..=65536;
    /// A pipe holds at least one page; 1 MiB is the kernel's default fs.pipe-max-size.
    pub(crate) const RELAY_PIPE_SIZE: RangeInclusive<i64> = 4096..=1024 * 1024;
    /// listen(2) takes an int, but the kernel caps it at net.core.somaxconn (at most 65535).
    pub(crate) const BACKLOG: RangeInclusive<i64> = 1..=65535;
    /// Per listener; ten million is past what one host's file descriptors allow anyway.
    pub(crate) const MAX_CONNECTIONS: RangeInclusive<i64> = 1..=10_000_000;
    /// `max_connect_size`, bytes. Below 64 not even a 3.1 client with the 23-byte identifier
    /// that version allows fits; above 1 MiB one slow client could pin a megabyte per
    /// connection during the handshake timeout, and no sane CONNECT is that big.
    pub(crate) const MAX_CONNECT_SIZE: RangeInclusive<i64> = 64..=1024 * 1024;
    /// `max_connection_rate_per_source` count: a million per period is no limit at all.
    pub(crate) const RATE_CONNECTIONS: RangeInclusive<u32> = 1..=1_000_000;
    /// An ALPN protocol name is a length-prefixed byte string (RFC 7301 §3.1).
    pub(crate) const ALPN_NAME_LEN: RangeInclusive<usize> = 1..=255;
}

/// Where the text came from, for messages, and where its relative paths start.
pub(crate) struct Ctx<'a> {
    pub(crate) file: String,
    pub(crate) text: &'a str,
    pub(crate) base_dir: &'a Path,
}

impl Ctx<'_> {
    pub(crate) fn error(&self, span: Option<Range<usize>>, key: &str, what: String) -> ConfigError {
        let line = span.map(|span| line_of(self.text, span.start));
        ConfigError::new(&self.file, line, Some(key), &what)
    }

    /// A file path from the config, relative ones taken from the config file's directory.
    pub(crate) fn path(&self, value: &Spanned<String>, key: &str) -> Result<PathBuf, ConfigError> {
        if value.get_ref().is_empty() {
            let what = "empty path (expected a file path, relative to the config file's directory or absolute)";
            return Err(self.error(Some(value.span()), key, what.into()));
        }
        Ok(self.base_dir.join(value.get_ref()))
    }

    /// Line of a span's start, for "defined at line N" in messages.
    pub(crate) fn line(&self, span: &Range<usize>) -> usize {
        line_of(self.text, span.start)
    }
}

pub(crate) fn validate(
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
    let timeouts = timeouts(&file.timeouts, ctx)?;
    let backends = backends::backends(&file.backend, ctx)?;
    let (mut listeners, listener_tls) =
        listeners::listeners(&file.listener, &backends, &timeouts, ctx)?;
    let routes = routes::routes(
        &file.route,
        &file.listener,
        &mut listeners,
        &listener_tls,
        &backends,
        ctx,
    )?;
    let admin = super::admin::admin(file.admin.as_ref(), &file.listener, &listeners, ctx)?;
    Ok(Config {
        admin,
        source,
        runtime,
        timeouts,
        listeners,
        routes,
        backends,
        embedded_ca: None,
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
    let relay_pipes = in_range(
        &file.relay_pipes,
        "runtime.relay_pipes",
        limits::RELAY_PIPES,
        ctx,
    )?;
    let relay_pipe_size = in_range(
        &file.relay_pipe_size,
        "runtime.relay_pipe_size",
        limits::RELAY_PIPE_SIZE,
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
        relay_pipes: relay_pipes.unwrap_or(defaults::RELAY_PIPES),
        relay_pipe_size: relay_pipe_size.unwrap_or(defaults::RELAY_PIPE_SIZE),
    })
}

fn timeouts(file: &FileTimeouts, ctx: &Ctx<'_>) -> Result<Timeouts, ConfigError> {
    let min = file.keepalive_idle_min.as_ref();
    let max = file.keepalive_idle_max.as_ref();
    let keepalive_idle_min = min.map_or(defaults::KEEPALIVE_IDLE_MIN, |d| d.get_ref().0);
    let keepalive_idle_max = max.map_or(defaults::KEEPALIVE_IDLE_MAX, |d| d.get_ref().0);
    if keepalive_idle_min > keepalive_idle_max {
        let (span, key) = match (min, max) {
            (_, Some(max)) => (max.span(), "timeouts.keepalive_idle_max"),
            (Some(min), None) => (min.span(), "timeouts.keepalive_idle_min"),
            (None, None) => unreachable!("the defaults are ordered"),
        };
        let what = format!(
            "keepalive_idle_min {} is above keepalive_idle_max {} (expected min <= max)",
            format_duration(keepalive_idle_min),
            format_duration(keepalive_idle_max)
        );
        return Err(ctx.error(Some(span), key, what));
    }
    Ok(Timeouts {
        client_idle: file.client_idle.map_or(defaults::CLIENT_IDLE, |d| d.0),
        server_idle: file.server_idle.map_or(defaults::SERVER_IDLE, |d| d.0),
        handshake: file.handshake.map_or(defaults::HANDSHAKE, |d| d.0),
        keepalive_idle_min,
        keepalive_idle_max,
    })
}

/// Checks an optional integer against `range`. The ranges used all fit in `u32`.
pub(super) fn in_range(
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

/// Checks a `[[listener]]`/`[[route]]`/`[[backend]]` name and that no earlier entry of `kind` has it.
/// `seen` maps names to the line of their first definition.
pub(super) fn check_name(
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

/// A list of strings that, when present, must not be empty.
pub(super) fn non_empty<'a>(
    list: &'a SpannedList,
    key: &str,
    expected: &str,
    ctx: &Ctx<'_>,
) -> Result<&'a [Spanned<String>], ConfigError> {
    if list.get_ref().is_empty() {
        let what = format!("empty list (expected {expected})");
        return Err(ctx.error(Some(list.span()), key, what));
    }
    Ok(list.get_ref())
}

/// Index of the entry named `wanted` among `names`, or an error listing the defined ones.
pub(super) fn reference(
    kind: &str,
    wanted: &Spanned<String>,
    names: impl Iterator<Item = impl AsRef<str>> + Clone,
    key: &str,
    ctx: &Ctx<'_>,
) -> Result<usize, ConfigError> {
    names
        .clone()
        .position(|n| n.as_ref() == wanted.get_ref())
        .ok_or_else(|| {
            let defined: Vec<String> = names.map(|n| format!("{:?}", n.as_ref())).collect();
            let what = format!(
                "unknown {kind} {:?} (expected one of the defined {kind}s: {})",
                wanted.get_ref(),
                defined.join(", ")
            );
            ctx.error(Some(wanted.span()), key, what)
        })
}

/// ALPN protocol names (RFC 7301): non-empty, 1..=255 bytes each, no repeats.
pub(super) fn alpn(
    list: &SpannedList,
    key: &str,
    ctx: &Ctx<'_>,
) -> Result<Vec<String>, ConfigError> {
    let entries = non_empty(list, key, "protocol names like [\"mqtt\"]", ctx)?;
    let mut names: Vec<String> = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let name = entry.get_ref();
        let what = if !limits::ALPN_NAME_LEN.contains(&name.len()) {
            format!(
                "{name:?} is {} bytes (expected a protocol name of 1..=255 bytes, like \"mqtt\")",
                name.len()
            )
        } else if names.contains(name) {
            format!("{name:?} is listed twice (expected each protocol once)")
        } else {
            names.push(name.clone());
            continue;
        };
        return Err(ctx.error(Some(entry.span()), &format!("{key}[{i}]"), what));
    }
    Ok(names)
}
