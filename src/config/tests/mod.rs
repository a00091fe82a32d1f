//! End-to-end tests of `Config::from_toml` on accepted input: the documented example, the
//! embedded default, defaults, the summary, and file/syntax errors. Rejections of valid TOML
//! are in `rejections.rs`; the other topics beside it.

mod backends;
mod mqtt;
mod rejections;
mod tls;
mod tls_rejections;

use std::net::SocketAddr;
use std::time::Duration;

use super::test_pki::TestPki;
use super::{Config, ConfigError, ConfigSource, ProxyProtocol, TlsMode, defaults};

/// The example from the brief and `docs/config.md`; keep the three in step.
const EXAMPLE: &str = r#"[runtime]
workers = 2
shutdown_grace = "30s"

[[listener]]
name = "mqtt"
bind = "127.0.0.1:1884"
tls = "none"                    # or "terminate" | "passthrough" (see below)
backend = "broker"              # tls = "none" only; TLS listeners use routes
max_connections = 100000

[[backend]]
name = "broker"
servers = ["127.0.0.1:1883"]
connect_timeout = "1s"

[timeouts]
client_idle = "60s"
server_idle = "60s"
"#;

/// Smallest valid config; tests append to or prepend before it.
pub(super) const MINIMAL: &str = r#"[[listener]]
name = "mqtt"
bind = "127.0.0.1:1884"
backend = "broker"

[[backend]]
name = "broker"
servers = ["127.0.0.1:1883"]
"#;

pub(super) fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, ConfigSource::File("test.toml".into()))
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

#[test]
fn example_resolves_to_exact_values() {
    let config = parse(EXAMPLE).unwrap();
    assert_eq!(config.source, ConfigSource::File("test.toml".into()));
    let rt = &config.runtime;
    assert_eq!(rt.workers, 2);
    assert!(!rt.pin_workers);
    assert_eq!(rt.shutdown_grace, Duration::from_secs(30));
    assert_eq!(rt.relay_buffer_size, defaults::RELAY_BUFFER_SIZE);
    assert_eq!(rt.relay_buffers, defaults::RELAY_BUFFERS);
    assert_eq!(config.timeouts.client_idle, Duration::from_secs(60));
    assert_eq!(config.timeouts.server_idle, Duration::from_secs(60));

    assert_eq!(config.listeners.len(), 1);
    let l = &config.listeners[0];
    assert_eq!(l.name, "mqtt");
    assert_eq!(l.bind, addr("127.0.0.1:1884"));
    assert_eq!(l.tls, TlsMode::None);
    assert_eq!(l.backend, Some(0));
    assert!(l.routes.is_empty());
    assert_eq!(l.default_route, None);
    assert!(!l.accept_proxy);
    assert!(config.routes.is_empty());
    assert_eq!(l.max_connections, 100_000);
    assert_eq!(l.backlog, defaults::BACKLOG);

    assert_eq!(config.backends.len(), 1);
    let b = &config.backends[0];
    assert_eq!(b.name, "broker");
    assert_eq!(b.servers, vec![addr("127.0.0.1:1883")]);
    assert_eq!(b.connect_timeout, Duration::from_secs(1));
    assert_eq!(b.proxy_protocol, ProxyProtocol::None);
    assert_eq!(config.timeouts.handshake, defaults::HANDSHAKE);
}

#[test]
fn every_optional_key_is_accepted() {
    let text = format!(
        "[runtime]\npin_workers = true\nrelay_buffer_size = 65536\nrelay_buffers = 1024\nshutdown_grace = \"0s\"\n\
         [timeouts]\nclient_idle = \"1m30s\"\nserver_idle = \"500ms\"\n{MINIMAL}\
         [[listener]]\nname = \"v6\"\nbind = \"[::1]:0\"\nbackend = \"b2\"\nbacklog = 128\n\
         [[listener]]\nname = \"v6-2\"\nbind = \"[::1]:0\"\nbackend = \"b2\"\n\
         [[backend]]\nname = \"b2\"\nservers = [\"[::1]:1883\", \"localhost:1883\", \"127.0.0.1:1883\"]\nconnect_timeout = \"250ms\"\n"
    );
    let config = parse(&text).unwrap();
    assert!(config.runtime.pin_workers);
    assert_eq!(config.runtime.relay_buffer_size, 65536);
    assert_eq!(config.runtime.relay_buffers, 1024);
    assert_eq!(config.runtime.shutdown_grace, Duration::ZERO);
    assert_eq!(config.timeouts.client_idle, Duration::from_secs(90));
    assert_eq!(config.timeouts.server_idle, Duration::from_millis(500));
    assert_eq!(config.listeners[1].backend, Some(1));
    assert_eq!(config.listeners[1].backlog, 128);
    let servers = &config.backends[1].servers;
    // localhost resolves to 127.0.0.1 and/or ::1, both already listed: no duplicates kept.
    let mut unique = servers.clone();
    unique.dedup();
    assert_eq!(servers.len(), unique.len());
    assert_eq!(servers[0], addr("[::1]:1883"));
    assert!(servers.contains(&addr("127.0.0.1:1883")));
    assert_eq!(
        config.backends[1].connect_timeout,
        Duration::from_millis(250)
    );
}

#[test]
fn docs_show_this_example() {
    let docs = include_str!("../../../docs/config.md");
    assert!(
        docs.contains(EXAMPLE),
        "docs/config.md and tests::EXAMPLE differ"
    );
}

#[test]
fn defaults_fill_the_minimal_config() {
    let config = parse(MINIMAL).unwrap();
    let online = std::thread::available_parallelism()
        .unwrap()
        .get()
        .min(1024);
    assert_eq!(config.runtime.workers, online);
    assert_eq!(config.runtime.shutdown_grace, defaults::SHUTDOWN_GRACE);
    assert_eq!(config.timeouts.client_idle, defaults::CLIENT_IDLE);
    assert_eq!(config.timeouts.server_idle, defaults::SERVER_IDLE);
    assert_eq!(config.listeners[0].tls, TlsMode::None);
    assert_eq!(
        config.listeners[0].max_connections,
        defaults::MAX_CONNECTIONS
    );
    assert_eq!(
        config.backends[0].connect_timeout,
        defaults::CONNECT_TIMEOUT
    );
}

#[test]
fn embedded_default_parses() {
    let dir = TestPki::new("embedded-parses");
    let config = Config::embedded_default_in(dir.dir()).unwrap();
    assert_eq!(config.source, ConfigSource::Embedded);
    let online = std::thread::available_parallelism()
        .unwrap()
        .get()
        .min(1024);
    assert_eq!(config.runtime.workers, online);
    assert_eq!(config.listeners.len(), 1);
    let l = &config.listeners[0];
    assert_eq!(l.name, "mqtts");
    assert_eq!(l.bind, addr("127.0.0.1:8883"));
    assert_eq!(l.tls, TlsMode::Terminate);
    assert_eq!(l.backend, None);
    assert_eq!(l.default_route, Some(0));
    assert_eq!(l.routes.lookup("localhost"), Some(0));
    assert!(config.routes[0].tls.is_some());
    assert_eq!(config.backends[0].name, "broker");
    assert_eq!(config.backends[0].servers, vec![addr("127.0.0.1:1883")]);
    assert_eq!(config.backends[0].proxy_protocol, ProxyProtocol::None);
    assert_eq!(
        config.embedded_ca_path(),
        Some(dir.path("ca.pem").as_path())
    );
}

#[test]
fn summary_shows_every_part() {
    let summary = parse(EXAMPLE).unwrap().summary();
    let want = "source: test.toml\n\
        runtime: 2 workers, shutdown_grace 30s, 512 relay buffers of 32768 bytes and up to 256 pipes per worker\n\
        listener mqtt: bind 127.0.0.1:1884, tls none, backend broker, max_connections 100000, backlog 4096, relay auto\n\
        backend broker: servers 127.0.0.1:1883, connect_timeout 1s\n\
        timeouts: client_idle 1m, server_idle 1m, handshake 5s, keepalive_idle 2s..=1h30m\n";
    assert_eq!(summary, want);
    let dir = TestPki::new("embedded-summary");
    let summary = Config::embedded_default_in(dir.dir()).unwrap().summary();
    assert!(summary.starts_with("source: <embedded>\n"), "{summary}");
    assert!(
        summary.contains(
            "listener mqtts: bind 127.0.0.1:8883, tls terminate, 1 routes, default_route localhost,"
        ),
        "{summary}"
    );
    assert!(
        summary.contains(
            "route localhost: listener mqtts, sni localhost, backend broker, client_auth none\n"
        ),
        "{summary}"
    );
}

#[test]
fn load_reports_unreadable_file() {
    let err = Config::load("/nonexistent/ringress.toml".as_ref()).unwrap_err();
    assert!(
        err.message
            .starts_with("/nonexistent/ringress.toml: cannot read: "),
        "{}",
        err.message
    );
    assert_eq!(err.line, None);
}

#[test]
fn load_reads_a_file() {
    let path =
        std::env::temp_dir().join(format!("ringress-config-test-{}.toml", std::process::id()));
    std::fs::write(&path, EXAMPLE).unwrap();
    let loaded = Config::load(&path);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(loaded.unwrap().source, ConfigSource::File(path));
}

#[test]
fn syntax_error_names_file_and_line() {
    let err = parse("[runtime]\nworkers = 2\n[listener\n").unwrap_err();
    assert!(
        err.message.starts_with("test.toml:3: invalid TOML: "),
        "{}",
        err.message
    );
    let err = parse("[runtime]\nworkers = 2\nworkers = 3\n").unwrap_err();
    assert!(
        err.message
            .starts_with("test.toml:3: invalid TOML: duplicate key (\"workers\")"),
        "{}",
        err.message
    );
}
