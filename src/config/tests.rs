//! End-to-end tests of `Config::from_toml`: the documented example, the embedded default,
//! and one test per rejection, each asserting the file, line and key in the message.

use std::net::SocketAddr;
use std::time::Duration;

use super::{Config, ConfigError, ConfigSource, EMBEDDED_DEFAULT, TlsMode, defaults};

/// The example from the brief and `docs/config.md`; keep the three in step.
const EXAMPLE: &str = r#"[runtime]
workers = 2
shutdown_grace = "30s"

[[listener]]
name = "mqtt"
bind = "127.0.0.1:1884"
tls = "none"                    # later: "terminate" | "passthrough"
backend = "broker"              # default backend (routes come with TLS)
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
const MINIMAL: &str = r#"[[listener]]
name = "mqtt"
bind = "127.0.0.1:1884"
backend = "broker"

[[backend]]
name = "broker"
servers = ["127.0.0.1:1883"]
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, ConfigSource::File("test.toml".into()))
}

/// Asserts `text` is rejected at `line` on `key`, with a message containing `what`.
#[track_caller]
fn assert_rejected(text: &str, line: usize, key: &str, what: &str) {
    let err = match parse(text) {
        Ok(_) => panic!("accepted, expected an error at line {line} on {key}:\n{text}"),
        Err(err) => err,
    };
    let prefix = format!("test.toml:{line}: {key}: ");
    assert!(
        err.message.starts_with(&prefix),
        "want prefix {prefix:?}, got: {}",
        err.message
    );
    assert!(
        err.message.contains(what),
        "want {what:?} in: {}",
        err.message
    );
    assert_eq!(err.line, Some(line));
    assert_eq!(err.key.as_deref(), Some(key));
    assert_eq!(err.file, "test.toml");
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
    assert_eq!(l.backend, 0);
    assert_eq!(l.max_connections, 100_000);
    assert_eq!(l.backlog, defaults::BACKLOG);

    assert_eq!(config.backends.len(), 1);
    let b = &config.backends[0];
    assert_eq!(b.name, "broker");
    assert_eq!(b.servers, vec![addr("127.0.0.1:1883")]);
    assert_eq!(b.connect_timeout, Duration::from_secs(1));
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
    assert_eq!(config.listeners[1].backend, 1);
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
    let config = Config::from_toml(EMBEDDED_DEFAULT, ConfigSource::Embedded).unwrap();
    assert_eq!(config.source, ConfigSource::Embedded);
    let online = std::thread::available_parallelism()
        .unwrap()
        .get()
        .min(1024);
    assert_eq!(config.runtime.workers, online);
    assert_eq!(config.listeners.len(), 1);
    assert_eq!(config.listeners[0].name, "mqtt");
    assert_eq!(config.listeners[0].bind, addr("127.0.0.1:1884"));
    assert_eq!(config.listeners[0].tls, TlsMode::None);
    assert_eq!(config.backends[0].name, "broker");
    assert_eq!(config.backends[0].servers, vec![addr("127.0.0.1:1883")]);
    assert_eq!(
        Config::embedded_default().listeners[0].bind,
        config.listeners[0].bind
    );
}

#[test]
fn summary_shows_every_part() {
    let summary = parse(EXAMPLE).unwrap().summary();
    let want = "source: test.toml\n\
        runtime: 2 workers, shutdown_grace 30s, 512 relay buffers of 32768 bytes per worker\n\
        listener mqtt: bind 127.0.0.1:1884, tls none, backend broker, max_connections 100000, backlog 4096\n\
        backend broker: servers 127.0.0.1:1883, connect_timeout 1s\n\
        timeouts: client_idle 1m, server_idle 1m\n";
    assert_eq!(summary, want);
    assert!(
        Config::embedded_default()
            .summary()
            .starts_with("source: <embedded>\n")
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
            .starts_with("test.toml:3: invalid TOML: duplicate key"),
        "{}",
        err.message
    );
}

#[test]
fn unknown_key_in_each_section_is_rejected() {
    let expected = "unknown field `colour`, expected";
    assert_rejected(
        &format!("colour = 1\n{MINIMAL}"),
        1,
        "colour",
        "unknown field `colour`",
    );
    assert_rejected(
        &format!("[runtime]\nworkers = 1\ncolour = 1\n{MINIMAL}"),
        3,
        "runtime.colour",
        expected,
    );
    assert_rejected(
        &format!("[timeouts]\ncolour = \"1s\"\n{MINIMAL}"),
        2,
        "timeouts.colour",
        expected,
    );
    assert_rejected(
        &format!("{MINIMAL}colour = 1\n"),
        9,
        "backend \"broker\".colour",
        expected,
    );
    let listener = MINIMAL.replace(
        "backend = \"broker\"\n",
        "backend = \"broker\"\ncolour = 1\n",
    );
    assert_rejected(&listener, 5, "listener \"mqtt\".colour", expected);
}

#[test]
fn missing_required_key_is_rejected() {
    let text = MINIMAL.replace("bind = \"127.0.0.1:1884\"\n", "");
    assert_rejected(&text, 1, "listener \"mqtt\"", "missing field `bind`");
    let text = MINIMAL.replace("servers = [\"127.0.0.1:1883\"]\n", "");
    assert_rejected(&text, 6, "backend \"broker\"", "missing field `servers`");
}

#[test]
fn wrong_type_is_rejected() {
    assert_rejected(
        &format!("[runtime]\nworkers = \"2\"\n{MINIMAL}"),
        2,
        "runtime.workers",
        "expected i64",
    );
    assert_rejected(
        &format!("[runtime]\npin_workers = 1\n{MINIMAL}"),
        2,
        "runtime.pin_workers",
        "expected a boolean",
    );
}

#[test]
fn missing_sections_are_rejected() {
    let err = parse("[runtime]\nworkers = 1\n").unwrap_err();
    assert_eq!(
        err.message,
        "test.toml: listener: no [[listener]] defined (expected at least one)"
    );
    let err = parse(&MINIMAL[..MINIMAL.find("[[backend]]").unwrap()]).unwrap_err();
    assert_eq!(
        err.message,
        "test.toml: backend: no [[backend]] defined (expected at least one)"
    );
}

#[test]
fn durations_without_unit_are_rejected() {
    let text = format!("[runtime]\nshutdown_grace = 30\n{MINIMAL}");
    assert_rejected(
        &text,
        2,
        "runtime.shutdown_grace",
        "30 has no unit (expected a string with a unit, like \"30s\"",
    );
    let text = format!("[timeouts]\nclient_idle = \"30\"\n{MINIMAL}");
    assert_rejected(
        &text,
        2,
        "timeouts.client_idle",
        "number without a unit \"30\" (expected a string of whole numbers with units",
    );
    let text = format!("{MINIMAL}connect_timeout = \"1.5s\"\n");
    assert_rejected(
        &text,
        9,
        "backend \"broker\".connect_timeout",
        "malformed duration \"1.5s\"",
    );
}

#[test]
fn zero_durations_are_rejected_where_meaningless() {
    for key in ["client_idle", "server_idle"] {
        let text = format!("[timeouts]\n{key} = \"0s\"\n{MINIMAL}");
        assert_rejected(
            &text,
            2,
            &format!("timeouts.{key}"),
            "\"0s\" is zero (expected a duration greater than zero)",
        );
    }
    let text = format!("{MINIMAL}connect_timeout = \"0ms\"\n");
    assert_rejected(&text, 9, "backend \"broker\".connect_timeout", "is zero");
}

#[test]
fn integer_ranges_are_enforced() {
    let cases = [
        ("workers = 0", "0 is out of range (expected 1..=1024)"),
        ("workers = 1025", "1025 is out of range (expected 1..=1024)"),
        ("relay_buffer_size = 4095", "expected 4096..=1048576"),
        ("relay_buffer_size = 1048577", "expected 4096..=1048576"),
        ("relay_buffers = 8", "expected 16..=32768"),
        ("relay_buffers = 65536", "expected 16..=32768"),
        ("relay_buffers = 500", "500 is not a power of two"),
    ];
    for (line, what) in cases {
        let key = format!("runtime.{}", line.split(' ').next().unwrap());
        assert_rejected(&format!("[runtime]\n{line}\n{MINIMAL}"), 2, &key, what);
    }
    for (line, what) in [
        ("max_connections = 0", "expected 1..=10000000"),
        ("max_connections = 10000001", "expected 1..=10000000"),
        ("backlog = 0", "expected 1..=65535"),
        ("backlog = 65536", "expected 1..=65535"),
        ("backlog = -1", "-1 is out of range"),
    ] {
        let text = MINIMAL.replace(
            "backend = \"broker\"\n",
            &format!("backend = \"broker\"\n{line}\n"),
        );
        let key = format!("listener \"mqtt\".{}", line.split(' ').next().unwrap());
        assert_rejected(&text, 5, &key, what);
    }
}

#[test]
fn bind_must_be_an_ip_socket_address() {
    for bad in ["localhost:1884", "127.0.0.1", "1884", "[::1]"] {
        let text = MINIMAL.replace("127.0.0.1:1884", bad);
        assert_rejected(
            &text,
            3,
            "listener \"mqtt\".bind",
            "is not an IP socket address (expected \"ip:port\"",
        );
    }
}

#[test]
fn two_listeners_on_one_address_are_rejected() {
    let text = format!(
        "{MINIMAL}[[listener]]\nname = \"again\"\nbind = \"127.0.0.1:1884\"\nbackend = \"broker\"\n"
    );
    assert_rejected(
        &text,
        11,
        "listener \"again\".bind",
        "127.0.0.1:1884 is already bound by listener \"mqtt\" at line 3",
    );
}

#[test]
fn servers_must_be_host_port() {
    let cases = [
        ("[]", "empty list (expected at least one"),
        ("[\"127.0.0.1\"]", "has no port"),
        ("[\"::1:1883\"]", "an IPv6 address needs brackets"),
        ("[\"host:http\"]", "invalid port \"http\""),
        ("[\":1883\"]", "has no host"),
        ("[\"127.0.0.1:0\"]", "port 0 cannot be connected to"),
    ];
    for (servers, what) in cases {
        let text = MINIMAL.replace("[\"127.0.0.1:1883\"]", servers);
        let key = if servers == "[]" {
            "backend \"broker\".servers"
        } else {
            "backend \"broker\".servers[0]"
        };
        assert_rejected(&text, 8, key, what);
    }
}

#[test]
fn unresolvable_server_is_rejected() {
    // `.invalid` never resolves (RFC 6761 section 6.4), so this needs no network.
    let text = MINIMAL.replace(
        "[\"127.0.0.1:1883\"]",
        "[\"127.0.0.1:1883\",\n  \"broker.invalid:1883\"]",
    );
    assert_rejected(
        &text,
        9,
        "backend \"broker\".servers[1]",
        "cannot resolve host \"broker.invalid\"",
    );
}

#[test]
fn tls_modes_of_later_versions_are_rejected_clearly() {
    for mode in ["terminate", "passthrough"] {
        let text = MINIMAL.replace(
            "backend = \"broker\"\n",
            &format!("backend = \"broker\"\ntls = \"{mode}\"\n"),
        );
        let what =
            format!("tls = \"{mode}\" is not supported yet by this build (supported: \"none\")");
        assert_rejected(&text, 5, "listener \"mqtt\".tls", &what);
    }
    let text = MINIMAL.replace(
        "backend = \"broker\"\n",
        "backend = \"broker\"\ntls = \"yes\"\n",
    );
    assert_rejected(
        &text,
        5,
        "listener \"mqtt\".tls",
        "unknown tls mode \"yes\" (expected one of \"none\", \"terminate\", \"passthrough\"",
    );
}

#[test]
fn names_must_be_valid() {
    for bad in ["", "my broker", "a/b"] {
        let text = MINIMAL.replace("name = \"mqtt\"", &format!("name = {bad:?}"));
        assert_rejected(&text, 2, "listener[0].name", "invalid name");
        let text = MINIMAL.replace("name = \"broker\"", &format!("name = {bad:?}"));
        assert_rejected(
            &text,
            7,
            "backend[0].name",
            "(expected a non-empty name of letters, digits",
        );
    }
}

#[test]
fn names_must_be_unique() {
    let text = format!(
        "{MINIMAL}[[listener]]\nname = \"mqtt\"\nbind = \"127.0.0.1:1885\"\nbackend = \"broker\"\n"
    );
    assert_rejected(
        &text,
        10,
        "listener[1].name",
        "duplicate listener name \"mqtt\" (first defined at line 2",
    );
    let text = format!("{MINIMAL}[[backend]]\nname = \"broker\"\nservers = [\"127.0.0.1:1\"]\n");
    assert_rejected(
        &text,
        10,
        "backend[1].name",
        "duplicate backend name \"broker\" (first defined at line 7",
    );
}

#[test]
fn listener_backend_must_be_defined() {
    let text = MINIMAL.replace("backend = \"broker\"", "backend = \"brokr\"");
    assert_rejected(
        &text,
        4,
        "listener \"mqtt\".backend",
        "unknown backend \"brokr\" (expected one of the defined backends: \"broker\")",
    );
}
