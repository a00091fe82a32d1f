//! Configuration in two layers (STYLE.md habit 6): the serde file model in `file.rs`, then
//! `validate()` into the resolved [`Config`] the workers run on (durations parsed, addresses
//! resolved, names turned into indices). Every error names the file, the line, the key and
//! what was expected.
//!
//! INTERFACE NOTE: the resolved types below are what the runtime consumes; keep them stable.
//!
//! # Layout
//!
//! | file | step |
//! |---|---|
//! | `file.rs` | serde model of the TOML, `deny_unknown_fields` everywhere |
//! | `duration.rs` | `"1m30s"` strings, parsed inside `Deserialize` so errors keep their span |
//! | `validate.rs` | ranges, names, addresses, references → [`Config`] |
//! | `locate.rs` | byte offsets → line numbers and key paths for messages |
//!
//! The reference for users is `docs/config.md`.

mod duration;
mod file;
mod locate;
#[cfg(test)]
mod rejections;
#[cfg(test)]
mod tests;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Defaults, each with its unit and reason.
pub mod defaults {
    use std::time::Duration;

    /// `proxy_connect_timeout 1s` in the nginx setup ringress replaces; a broker on the same
    /// network answers a SYN in well under a millisecond, so 1 s only fires on a dead server.
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
    /// HAProxy's customary `timeout client 60s`; MQTT clients with keepalive ≤ 40 s stay inside it.
    pub const CLIENT_IDLE: Duration = Duration::from_secs(60);
    /// HAProxy's customary `timeout server 60s`.
    pub const SERVER_IDLE: Duration = Duration::from_secs(60);
    /// How long open connections may finish after SIGTERM before they are closed.
    pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
    /// Per-listener connection limit when none is configured.
    pub const MAX_CONNECTIONS: u32 = 100_000;
    /// listen(2) backlog; the kernel caps it at net.core.somaxconn (4096 by default).
    pub const BACKLOG: u32 = 4096;
    /// Size of one relay buffer in the per-worker provided-buffer ring (bytes).
    pub const RELAY_BUFFER_SIZE: u32 = 32 * 1024;
    /// Buffers in each worker's provided-buffer ring (a power of two, at most 32768).
    pub const RELAY_BUFFERS: u32 = 512;
}

/// Where a configuration came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// `ringress run` without `--config`.
    Embedded,
    /// A file given with `--config`.
    File(PathBuf),
}

/// The resolved configuration the runtime runs on.
#[derive(Debug, Clone)]
pub struct Config {
    pub source: ConfigSource,
    pub runtime: Runtime,
    pub timeouts: Timeouts,
    pub listeners: Vec<Listener>,
    pub backends: Vec<Backend>,
}

#[derive(Debug, Clone)]
pub struct Runtime {
    /// Worker threads, one io_uring ring each. Default: online CPUs.
    pub workers: usize,
    /// Pin worker `i` to the `i`-th CPU of the process's affinity mask.
    pub pin_workers: bool,
    pub shutdown_grace: Duration,
    pub relay_buffer_size: u32,
    pub relay_buffers: u32,
}

#[derive(Debug, Clone)]
pub struct Timeouts {
    pub client_idle: Duration,
    pub server_idle: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain TCP pass-through.
    None,
}

#[derive(Debug, Clone)]
pub struct Listener {
    pub name: String,
    pub bind: SocketAddr,
    pub tls: TlsMode,
    /// Index into [`Config::backends`].
    pub backend: usize,
    pub max_connections: u32,
    pub backlog: u32,
}

#[derive(Debug, Clone)]
pub struct Backend {
    pub name: String,
    /// Resolved once at start-up (a host name resolves to all its addresses, in order).
    pub servers: Vec<SocketAddr>,
    pub connect_timeout: Duration,
}

pub use duration::format_duration;

/// The configuration `ringress run` uses without `--config`. Parsed by
/// [`Config::embedded_default`], so it is checked by the same code as any file.
pub const EMBEDDED_DEFAULT: &str = r#"# ringress embedded default: plain MQTT on 1884 forwarded to a local broker.
[[listener]]
name = "mqtt"
bind = "127.0.0.1:1884"
tls = "none"
backend = "broker"

[[backend]]
name = "broker"
servers = ["127.0.0.1:1883"]
"#;

/// A configuration error: file, line, key and what was expected.
///
/// `message` is the whole line, `FILE:LINE: KEY: what is wrong (expected ...)`; the other
/// fields repeat its parts for callers that want them separately.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    pub message: String,
    /// The file path, or `<embedded>`.
    pub file: String,
    /// 1-based; `None` when the error has no place in the text (missing section, unreadable file).
    pub line: Option<usize>,
    /// Dotted key path like `listener "mqtt".bind` or `backend[0].servers[1]`.
    pub key: Option<String>,
}

impl ConfigError {
    fn new(file: &str, line: Option<usize>, key: Option<&str>, what: &str) -> ConfigError {
        let mut message = file.to_owned();
        if let Some(line) = line {
            message.push_str(&format!(":{line}"));
        }
        if let Some(key) = key {
            message.push_str(&format!(": {key}"));
        }
        message.push_str(&format!(": {what}"));
        ConfigError {
            message,
            file: file.to_owned(),
            line,
            key: key.map(str::to_owned),
        }
    }

    /// A `toml` error: a syntax error (no key), or a type/unknown-key/duration error raised
    /// while deserializing, whose key is recovered from its span.
    fn from_toml(error: &toml::de::Error, ctx: &validate::Ctx<'_>) -> ConfigError {
        let offset = error.span().map(|span| span.start);
        let line = offset.map(|offset| locate::line_of(ctx.text, offset));
        match offset.and_then(|offset| locate::key_path_at(ctx.text, offset)) {
            Some(key) => ConfigError::new(&ctx.file, line, Some(&key), error.message()),
            None => {
                // Quote the offending text when it is short, e.g. the key of a "duplicate key".
                let quoted = error
                    .span()
                    .and_then(|span| ctx.text.get(span))
                    .filter(|t| (1..=40).contains(&t.len()) && !t.contains('\n'))
                    .map(|t| format!(" ({t:?})"))
                    .unwrap_or_default();
                let what = format!("invalid TOML: {}{quoted}", error.message());
                ConfigError::new(&ctx.file, line, None, &what)
            }
        }
    }
}

/// `<embedded>` or the file's path, as used in messages.
fn source_name(source: &ConfigSource) -> String {
    match source {
        ConfigSource::Embedded => "<embedded>".to_owned(),
        ConfigSource::File(path) => path.display().to_string(),
    }
}

impl Config {
    /// Reads and validates a TOML file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let source = ConfigSource::File(path.to_owned());
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(
                &source_name(&source),
                None,
                None,
                &format!("cannot read: {e}"),
            )
        })?;
        Config::from_toml(&text, source)
    }

    /// Parses and validates TOML text; `source` is used in messages.
    pub fn from_toml(text: &str, source: ConfigSource) -> Result<Config, ConfigError> {
        let ctx = validate::Ctx {
            file: source_name(&source),
            text,
        };
        let model: file::FileConfig =
            toml::from_str(text).map_err(|e| ConfigError::from_toml(&e, &ctx))?;
        validate::validate(model, &ctx, source)
    }

    /// `ringress run` without a config: listen on 127.0.0.1:1884, forward to 127.0.0.1:1883.
    pub fn embedded_default() -> Config {
        // Cannot fail: `tests::embedded_default_parses` pins it.
        Config::from_toml(EMBEDDED_DEFAULT, ConfigSource::Embedded)
            .unwrap_or_else(|e| panic!("embedded default config is invalid: {e}"))
    }

    /// A few lines for `ringress check`.
    pub fn summary(&self) -> String {
        use std::fmt::Write as _;

        let mut out = String::new();
        let rt = &self.runtime;
        // `write!` to a String cannot fail.
        let _ = writeln!(out, "source: {}", source_name(&self.source));
        let _ = writeln!(
            out,
            "runtime: {} workers{}, shutdown_grace {}, {} relay buffers of {} bytes per worker",
            rt.workers,
            if rt.pin_workers { " (pinned)" } else { "" },
            format_duration(rt.shutdown_grace),
            rt.relay_buffers,
            rt.relay_buffer_size,
        );
        for l in &self.listeners {
            let tls = match l.tls {
                TlsMode::None => "none",
            };
            let backend = self
                .backends
                .get(l.backend)
                .map_or("?", |b| b.name.as_str());
            let _ = writeln!(
                out,
                "listener {}: bind {}, tls {tls}, backend {backend}, max_connections {}, backlog {}",
                l.name, l.bind, l.max_connections, l.backlog,
            );
        }
        for b in &self.backends {
            let servers: Vec<String> = b.servers.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                out,
                "backend {}: servers {}, connect_timeout {}",
                b.name,
                servers.join(" "),
                format_duration(b.connect_timeout),
            );
        }
        let t = &self.timeouts;
        let _ = writeln!(
            out,
            "timeouts: client_idle {}, server_idle {}",
            format_duration(t.client_idle),
            format_duration(t.server_idle),
        );
        out
    }
}
