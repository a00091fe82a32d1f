//! Configuration in two layers (STYLE.md habit 6): the serde file model in `file.rs`, then
//! `validate()` into the resolved [`Config`] the workers run on (durations parsed, addresses
//! resolved, names turned into indices, certificates loaded, SNI route tables built). Every
//! error names the file, the line, the key and what was expected.
//!
//! INTERFACE NOTE: the resolved types below are what the runtime consumes; keep them stable.
//!
//! # Layout
//!
//! | file | step |
//! |---|---|
//! | `file.rs` | serde model of the TOML, `deny_unknown_fields` everywhere |
//! | `duration.rs` | `"1m30s"` strings, parsed inside `Deserialize` so errors keep their span |
//! | `validate.rs` | ranges and names → [`Config`] |
//! | `backends.rs` | backends: servers and weights, balance, PROXY-out modes, health checks |
//! | `listeners.rs` | listeners: TLS mode, which keys each mode allows, PROXY-in |
//! | `routes.rs` | routes: SNI tables, `default_route`, per-route `rustls::ServerConfig` |
//! | `cidr.rs` | `trusted_proxies` blocks |
//! | `admin.rs` | `[admin]`: the metrics listener |
//! | `embedded.rs` | the embedded default and its generated certificate |
//! | `locate.rs` | byte offsets → line numbers and key paths for messages |
//! | `test_pki.rs` | tests only: certificates made with rcgen, in-memory handshakes |
//!
//! The reference for users is `docs/config.md`.

mod admin;
mod backends;
mod cidr;
mod duration;
mod embedded;
mod file;
mod listeners;
mod locate;
mod routes;
#[cfg(test)]
pub(crate) mod test_pki;
#[cfg(test)]
mod tests;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use cidr::Cidr;
pub(crate) use embedded::{EMBEDDED_DEFAULT, StateDirEnv, ensure_default_pki, state_dir};

/// Defaults, each with its unit and reason.
pub(crate) mod defaults {
    use std::time::Duration;

    /// `proxy_connect_timeout 1s` in the nginx setup ringress replaces; a broker on the same
    /// network answers a SYN in well under a millisecond, so 1 s only fires on a dead server.
    pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
    /// HAProxy's customary `timeout client 60s`; MQTT clients with keepalive ≤ 40 s stay inside it.
    pub(crate) const CLIENT_IDLE: Duration = Duration::from_secs(60);
    /// HAProxy's customary `timeout server 60s`.
    pub(crate) const SERVER_IDLE: Duration = Duration::from_secs(60);
    /// How long open connections may finish after SIGTERM before they are closed.
    pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
    /// Per-listener connection limit when none is configured.
    pub(crate) const MAX_CONNECTIONS: u32 = 100_000;
    /// listen(2) backlog; the kernel caps it at net.core.somaxconn (4096 by default).
    pub(crate) const BACKLOG: u32 = 4096;
    /// Size of one relay buffer in the per-worker provided-buffer ring (bytes).
    pub(crate) const RELAY_BUFFER_SIZE: u32 = 32 * 1024;
    /// Buffers in each worker's provided-buffer ring (a power of two, at most 32768).
    pub(crate) const RELAY_BUFFERS: u32 = 512;
    /// Pipes each worker's splice relay may create. A direction holds a pipe only while
    /// bytes move (or wait for a slow destination), so 256 serve thousands of connections
    /// that are mostly idle; it costs at most 512 fds per worker.
    pub(crate) const RELAY_PIPES: u32 = 256;
    /// Bytes per relay pipe. Measured (perf/README.md, "Relay modes"): one bulk connection
    /// took 0.41 / 0.33 / 0.28 proxy CPU-s per GB with 64 KiB / 256 KiB / 1 MiB pipes. 256 KiB
    /// takes most of that gain while bounding what a slow receiver can leave queued in its
    /// pipe (256 pipes × 256 KiB = 64 MiB per worker) and staying inside an unprivileged
    /// user's default pipe quota (fs.pipe-user-pages-soft, 64 MiB) for one worker's pool.
    pub(crate) const RELAY_PIPE_SIZE: u32 = 256 * 1024;
    /// PROXY header in, ClientHello and the whole TLS handshake must fit in this. A client
    /// on a slow mobile link finishes a TLS 1.2 handshake (2 round trips) in well under a
    /// second; 5 s only fires on stalled or malicious clients, which hold a slot meanwhile.
    pub(crate) const HANDSHAKE: Duration = Duration::from_secs(5);
    /// Time between two health checks of a server (HAProxy's `inter 2s`): with `fall = 3` a
    /// dead broker stops getting new clients within about 6 s.
    pub(crate) const CHECK_INTERVAL: Duration = Duration::from_secs(2);
    /// A check not finished in this long failed. A broker on the same network answers a
    /// CONNECT in milliseconds; 1 s (or the interval, if shorter) only fires on a stuck one.
    pub(crate) const CHECK_TIMEOUT: Duration = Duration::from_secs(1);
    /// Consecutive successful checks that bring a down server back (HAProxy's `rise 2`).
    pub(crate) const CHECK_RISE: u32 = 2;
    /// Consecutive failed checks that take an up server down (HAProxy's `fall 3`).
    pub(crate) const CHECK_FALL: u32 = 3;
    /// Largest CONNECT an `mqtt = true` listener reads (bytes); see
    /// [`crate::mqtt::DEFAULT_MAX_CONNECT_BYTES`] for why 64 KiB.
    pub(crate) const MAX_CONNECT_SIZE: u32 = crate::mqtt::DEFAULT_MAX_CONNECT_BYTES;
    /// `client_idle = "mqtt-keepalive"` never closes a client sooner than this, whatever its
    /// keep-alive: 1.5 × a 1 s keep-alive would leave a PINGREQ delayed by one lost segment
    /// (the first TCP retransmission comes after 200 ms–1 s) no margin at all.
    pub(crate) const KEEPALIVE_IDLE_MIN: Duration = Duration::from_secs(2);
    /// ... nor later than this: 1.5 × a one-hour keep-alive, the longest battery devices
    /// commonly use (AWS IoT caps it at 20 min, Azure IoT Hub at 29 min). Past it a silent
    /// client is more likely a dead link than a sleeping device, and it holds a slot.
    pub(crate) const KEEPALIVE_IDLE_MAX: Duration = Duration::from_secs(90 * 60);
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
    pub(crate) source: ConfigSource,
    pub(crate) runtime: Runtime,
    pub timeouts: Timeouts,
    pub listeners: Vec<Listener>,
    /// SNI routes of all listeners; listeners and route tables refer to them by index.
    pub(crate) routes: Vec<Route>,
    pub(crate) backends: Vec<Backend>,
    /// For the embedded default: the generated CA certificate clients should trust.
    pub(crate) embedded_ca: Option<PathBuf>,
    /// `[admin]`: where `GET /metrics` is served; `None`: nowhere (the default).
    pub(crate) admin: Option<Admin>,
}

/// The admin listener (Prometheus metrics over HTTP).
#[derive(Debug, Clone)]
pub(crate) struct Admin {
    pub(crate) listen: SocketAddr,
}

#[derive(Debug, Clone)]
pub(crate) struct Runtime {
    /// Worker threads, one io_uring ring each. Default: online CPUs.
    pub(crate) workers: usize,
    /// Pin worker `i` to the `i`-th CPU of the process's affinity mask.
    pub(crate) pin_workers: bool,
    pub(crate) shutdown_grace: Duration,
    pub(crate) relay_buffer_size: u32,
    pub(crate) relay_buffers: u32,
    /// Most pipes each worker's splice relay creates (two fds each).
    pub(crate) relay_pipes: u32,
    /// Bytes each of those pipes is asked to hold (F_SETPIPE_SZ).
    pub(crate) relay_pipe_size: u32,
}

#[derive(Debug, Clone)]
pub struct Timeouts {
    pub(crate) client_idle: Duration,
    pub(crate) server_idle: Duration,
    /// From accept until the client is ready to relay (PROXY header in, ClientHello,
    /// handshake, and the CONNECT on `mqtt` listeners).
    pub(crate) handshake: Duration,
    /// Clamp of the idle timeout derived from a client's keep-alive
    /// (`client_idle = "mqtt-keepalive"`); `keepalive_idle_min <= keepalive_idle_max`.
    pub keepalive_idle_min: Duration,
    pub keepalive_idle_max: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlsMode {
    /// Plain TCP: everything goes to the listener's backend.
    None,
    /// TLS ends here; the route (by SNI) gives the certificate and the backend.
    Terminate,
    /// TLS passes through untouched; only the ClientHello's SNI is read, to pick the route.
    Passthrough,
}

impl TlsMode {
    /// As spelt in the config file.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TlsMode::None => "none",
            TlsMode::Terminate => "terminate",
            TlsMode::Passthrough => "passthrough",
        }
    }
}

/// Whether a terminate route asks clients for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    /// No certificate requested.
    None,
    /// Requested; a client without one is let in, one with an invalid one is refused.
    Optional,
    /// Requested and required (mutual TLS).
    Required,
}

impl ClientAuth {
    /// As spelt in the config file.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ClientAuth::None => "none",
            ClientAuth::Optional => "optional",
            ClientAuth::Required => "required",
        }
    }
}

pub(crate) use ringress_core::proxy_out::ProxyProtocol;
pub(crate) use ringress_core::tls::RecordLayer;

#[derive(Debug, Clone)]
pub struct Listener {
    pub(crate) name: String,
    pub(crate) bind: SocketAddr,
    pub(crate) tls: TlsMode,
    /// Index into [`Config::backends`]; `Some` exactly for `tls = "none"` listeners (TLS
    /// listeners route by SNI instead).
    pub(crate) backend: Option<usize>,
    pub(crate) max_connections: u32,
    pub(crate) backlog: u32,
    /// SNI → index into [`Config::routes`], this listener's routes only. Empty for
    /// `tls = "none"`.
    pub(crate) routes: crate::route::RouteTable,
    /// Index into [`Config::routes`] for clients whose SNI matches no route (or who send
    /// none); `None` closes such connections.
    pub(crate) default_route: Option<usize>,
    /// Expect a PROXY v1/v2 header from an L4 load balancer before anything else.
    pub(crate) accept_proxy: bool,
    /// Peers allowed to send that header; others are refused. Non-empty if `accept_proxy`.
    pub trusted_proxies: Vec<Cidr>,
    /// Terminate listeners: who does the record crypto after the handshake.
    pub(crate) tls_offload: TlsOffload,
    /// Terminate listeners: whose record layer processes TLS 1.3 records in userspace.
    pub(crate) tls_records: RecordLayer,
    /// How bytes are relayed once connected: splice(2) through a pipe or copied through
    /// the buffer pool.
    pub(crate) relay: crate::relay::RelayMode,
    /// `mqtt = true`: read and check the client's CONNECT before connecting upstream.
    pub(crate) mqtt: Option<MqttListener>,
    /// The client-side idle timeout of this listener's connections.
    pub(crate) client_idle: ClientIdle,
    /// `max_connection_rate_per_source`: new connections allowed per client address.
    pub(crate) rate_per_source: Option<SourceRate>,
}

/// MQTT awareness of a listener (`mqtt = true`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MqttListener {
    /// Largest CONNECT packet read, bytes (fixed header included).
    pub(crate) max_connect_size: u32,
}

/// How long a client may be silent (`client_idle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientIdle {
    Fixed(Duration),
    /// 1.5 × the keep-alive of the client's CONNECT, clamped to `timeouts.keepalive_idle_min`
    /// ..= `keepalive_idle_max`; `timeouts.client_idle` for a keep-alive of 0.
    MqttKeepalive,
}

pub(crate) use ringress_core::rate_limit::SourceRate;

/// Who encrypts and decrypts TLS records after the handshake (terminate listeners).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlsOffload {
    /// Kernel TLS when the kernel has it and the session allows it; otherwise rustls in
    /// userspace, per connection, with the reason logged.
    Auto,
    /// Kernel TLS or refuse to start (and close a connection whose hand-off fails).
    Kernel,
    /// Always rustls in userspace.
    Userspace,
}

/// An SNI route of a terminate or passthrough listener.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub(crate) name: String,
    /// Index into [`Config::listeners`].
    pub(crate) listener: usize,
    /// Normalised (lowercase, no trailing dot); wildcards as `*.example.com`.
    pub(crate) server_names: Vec<String>,
    /// Index into [`Config::backends`].
    pub(crate) backend: usize,
    /// Terminate listeners only: this route's certificate, the effective client auth,
    /// ALPN and minimum version.
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
    /// Effective client authentication (route override, else listener, else by `client_ca`).
    /// [`ClientAuth::None`] on passthrough listeners.
    pub(crate) client_auth: ClientAuth,
    /// Terminate routes: our certificate's signature and key algorithms, as HAProxy names
    /// them, for the PROXY v2 `cert-sig` / `cert-key` options.
    pub(crate) cert_algorithms: Option<crate::tls::CertAlgorithms>,
}

#[derive(Debug, Clone)]
pub(crate) struct Backend {
    pub(crate) name: String,
    /// Resolved once at start-up (a host name resolves to all its addresses, in order).
    pub(crate) servers: Vec<SocketAddr>,
    /// `weights[i]` is `servers[i]`'s relative share of new connections; 0 drains it.
    pub(crate) weights: Vec<u32>,
    pub(crate) balance: crate::balance::Balance,
    /// Time allowed for one connect attempt to one server.
    pub(crate) connect_timeout: Duration,
    pub(crate) proxy_protocol: ProxyProtocol,
    /// `None`: servers are never marked down (a failed connect still fails over).
    pub(crate) health_check: Option<HealthCheck>,
    pub(crate) on_marked_down: OnMarkedDown,
}

/// How and how often a backend's servers are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HealthCheck {
    pub(crate) interval: Duration,
    /// A check (connect, and for MQTT the CONNACK) not finished in this long failed.
    pub(crate) timeout: Duration,
    pub(crate) rise: u32,
    pub(crate) fall: u32,
    pub(crate) kind: CheckKind,
}

#[derive(Clone, PartialEq, Eq)]
pub(crate) enum CheckKind {
    /// The server accepts a TCP connection (after a PROXY LOCAL header, if it wants one).
    Tcp,
    /// The broker answers a CONNECT with a CONNACK accepting it. `connect` is the packet
    /// ([`crate::health::mqtt_check_connect`]), built once here.
    Mqtt { connect: Vec<u8> },
}

/// By hand: the CONNECT may hold the check's password, which must not reach a log.
impl std::fmt::Debug for CheckKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckKind::Tcp => f.write_str("Tcp"),
            CheckKind::Mqtt { connect } => {
                write!(f, "Mqtt {{ connect: <{} bytes> }}", connect.len())
            }
        }
    }
}

impl CheckKind {
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            CheckKind::Tcp => "tcp",
            CheckKind::Mqtt { .. } => "mqtt",
        }
    }
}

/// What happens to a server's open sessions when a health check marks it down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum OnMarkedDown {
    /// Leave them: the broker may only be slow, and its clients are still served.
    #[default]
    Keep,
    /// Close them (HAProxy's `on-marked-down shutdown-sessions`), so devices reconnect to
    /// a healthy server now instead of at their next keepalive timeout.
    ShutdownSessions,
}

pub(crate) use duration::format_duration;

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

/// HAProxy's `proxy-v2-options` keywords, all of which [`V2Options::with_option`] knows.
///
/// [`V2Options::with_option`]: crate::proxy_protocol::V2Options::with_option
pub(crate) const V2_OPTIONS: [&str; 8] = [
    "ssl",
    "cert-cn",
    "cert-key",
    "cert-sig",
    "ssl-cipher",
    "authority",
    "crc32c",
    "unique-id",
];

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

    /// Parses and validates TOML text; `source` is used in messages. Relative file paths
    /// (certificates, keys, CAs, CRLs) are taken from the file's directory, or from the
    /// current directory for [`ConfigSource::Embedded`].
    pub fn from_toml(text: &str, source: ConfigSource) -> Result<Config, ConfigError> {
        let base_dir = match &source {
            // `ringress.toml` has the parent "": paths stay relative to the working
            // directory, and messages show them as written.
            ConfigSource::File(path) => path.parent().map(Path::to_owned).unwrap_or_default(),
            ConfigSource::Embedded => PathBuf::from("."),
        };
        Config::from_toml_in(text, source, &base_dir)
    }

    /// [`Config::from_toml`] with relative file paths taken from `base_dir`.
    pub fn from_toml_in(
        text: &str,
        source: ConfigSource,
        base_dir: &Path,
    ) -> Result<Config, ConfigError> {
        let ctx = validate::Ctx {
            file: source_name(&source),
            text,
            base_dir,
        };
        let model: file::FileConfig =
            toml::from_str(text).map_err(|e| ConfigError::from_toml(&e, &ctx))?;
        validate::validate(model, &ctx, source)
    }

    /// `ringress run` without a config: TLS on 127.0.0.1:8883, terminated here with a
    /// certificate for `localhost` generated on first start (or reused) in the state
    /// directory ([`state_dir`]), forwarded as plain MQTT to 127.0.0.1:1883.
    pub fn embedded_default() -> Result<Config, ConfigError> {
        let dir = state_dir(&StateDirEnv::from_process()).ok_or_else(|| {
            ConfigError::new(
                "<embedded>",
                None,
                None,
                "no state directory for the generated certificate (expected $RINGRESS_STATE_DIR, $STATE_DIRECTORY, $XDG_STATE_HOME or $HOME to be set)",
            )
        })?;
        Config::embedded_default_in(&dir)
    }

    /// [`Config::embedded_default`] with its certificates in `state_dir`.
    pub(crate) fn embedded_default_in(state_dir: &Path) -> Result<Config, ConfigError> {
        let pki = ensure_default_pki(state_dir)?;
        let mut config = Config::from_toml_in(EMBEDDED_DEFAULT, ConfigSource::Embedded, state_dir)?;
        config.embedded_ca = Some(pki.ca);
        Ok(config)
    }

    /// The CA certificate clients of the embedded default should trust; `None` for a file.
    pub fn embedded_ca_path(&self) -> Option<&Path> {
        self.embedded_ca.as_deref()
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
            "runtime: {} workers{}, shutdown_grace {}, {} relay buffers of {} bytes and up to {} pipes per worker",
            rt.workers,
            if rt.pin_workers { " (pinned)" } else { "" },
            format_duration(rt.shutdown_grace),
            rt.relay_buffers,
            rt.relay_buffer_size,
            rt.relay_pipes,
        );
        let backend_name = |i: usize| self.backends.get(i).map_or("?", |b| b.name.as_str());
        let route_name = |i: usize| self.routes.get(i).map_or("?", |r| r.name.as_str());
        for l in &self.listeners {
            let target = match (l.backend, l.default_route) {
                (Some(b), _) => format!("backend {}", backend_name(b)),
                (None, Some(r)) => {
                    format!("{} routes, default_route {}", l.routes.len(), route_name(r))
                }
                (None, None) => format!("{} routes", l.routes.len()),
            };
            let mut proxy = String::new();
            if l.accept_proxy {
                let from: Vec<String> = l.trusted_proxies.iter().map(ToString::to_string).collect();
                proxy = format!(", accept_proxy from {}", from.join(" "));
            }
            if let Some(m) = l.mqtt {
                proxy.push_str(&format!(", mqtt (max_connect_size {})", m.max_connect_size));
            }
            match l.client_idle {
                ClientIdle::Fixed(d) if d == self.timeouts.client_idle => {}
                ClientIdle::Fixed(d) => {
                    proxy.push_str(&format!(", client_idle {}", format_duration(d)));
                }
                ClientIdle::MqttKeepalive => proxy.push_str(", client_idle mqtt-keepalive"),
            }
            if let Some(rate) = l.rate_per_source {
                proxy.push_str(&format!(
                    ", max_connection_rate_per_source {}/{}",
                    rate.connections,
                    format_duration(rate.per)
                ));
            }
            let _ = writeln!(
                out,
                "listener {}: bind {}, tls {}, {target}, max_connections {}, backlog {}, relay {}{proxy}",
                l.name,
                l.bind,
                l.tls.as_str(),
                l.max_connections,
                l.backlog,
                l.relay.as_str(),
            );
        }
        for r in &self.routes {
            let listener = self
                .listeners
                .get(r.listener)
                .map_or("?", |l| l.name.as_str());
            let client_auth = if r.tls.is_some() {
                format!(", client_auth {}", r.client_auth.as_str())
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "route {}: listener {listener}, sni {}, backend {}{client_auth}",
                r.name,
                r.server_names.join(" "),
                backend_name(r.backend),
            );
        }
        for b in &self.backends {
            let servers: Vec<String> = b
                .servers
                .iter()
                .zip(&b.weights)
                .map(|(s, w)| match w {
                    1 => s.to_string(),
                    w => format!("{s} (weight {w})"),
                })
                .collect();
            let proxy = match b.proxy_protocol {
                ProxyProtocol::None => String::new(),
                ProxyProtocol::V1 => ", proxy_protocol v1".to_owned(),
                ProxyProtocol::V2(options) => {
                    // An option is on when adding it changes nothing.
                    let on: Vec<&str> = V2_OPTIONS
                        .iter()
                        .copied()
                        .filter(|o| options.with_option(o) == Some(options))
                        .collect();
                    format!(", proxy_protocol v2 [{}]", on.join(" "))
                }
            };
            // The default is left out, as the PROXY mode's is.
            let balance = match b.balance {
                crate::balance::Balance::RoundRobin => String::new(),
                other => format!(", balance {}", other.as_str()),
            };
            let check = match &b.health_check {
                None => String::new(),
                Some(c) => format!(
                    ", health_check {} every {} (timeout {}, rise {}, fall {}), on_marked_down {}",
                    c.kind.as_str(),
                    format_duration(c.interval),
                    format_duration(c.timeout),
                    c.rise,
                    c.fall,
                    match b.on_marked_down {
                        OnMarkedDown::Keep => "keep",
                        OnMarkedDown::ShutdownSessions => "shutdown-sessions",
                    }
                ),
            };
            let _ = writeln!(
                out,
                "backend {}: servers {}{balance}, connect_timeout {}{proxy}{check}",
                b.name,
                servers.join(" "),
                format_duration(b.connect_timeout),
            );
        }
        if let Some(admin) = &self.admin {
            let _ = writeln!(out, "admin: listen {} (GET /metrics)", admin.listen);
        }
        let t = &self.timeouts;
        let _ = writeln!(
            out,
            "timeouts: client_idle {}, server_idle {}, handshake {}, keepalive_idle {}..={}",
            format_duration(t.client_idle),
            format_duration(t.server_idle),
            format_duration(t.handshake),
            format_duration(t.keepalive_idle_min),
            format_duration(t.keepalive_idle_max),
        );
        out
    }
}
