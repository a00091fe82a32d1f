//! One test per rejection of well-formed TOML, each asserting the file, line and key of the
//! message as well as what it says was expected.

use super::{MINIMAL, parse};

/// Asserts `text` is rejected at `line` on `key`, with a message containing `what`.
#[track_caller]
pub(super) fn assert_rejected(text: &str, line: usize, key: &str, what: &str) {
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
    let text = format!("[runtime]\nshutdown_grace = -5\n{MINIMAL}");
    assert_rejected(
        &text,
        2,
        "runtime.shutdown_grace",
        "-5 is a negative number",
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

/// Issue 11, finding 7: a duration had no upper bound, so `handshake = "5124095576030h"`
/// (just under 2^64 ms) was accepted and overflowed `started_ms + handshake_ms` in the
/// worker. Each key's maximum is accepted, a millisecond more is refused.
#[test]
fn durations_above_their_maximum_are_rejected() {
    let listener = |line: &str| {
        MINIMAL.replace(
            "backend = \"broker\"\n",
            &format!("backend = \"broker\"\n{line}\n"),
        )
    };
    // (text with the value at line, line, key, maximum, just above it)
    let cases: [(String, usize, &str, &str, &str); 11] = [
        (
            format!("[runtime]\nshutdown_grace = \"V\"\n{MINIMAL}"),
            2,
            "runtime.shutdown_grace",
            "1h",
            "1h1ms",
        ),
        (
            format!("[timeouts]\nclient_idle = \"V\"\n{MINIMAL}"),
            2,
            "timeouts.client_idle",
            "48h",
            "48h1ms",
        ),
        (
            format!("[timeouts]\nserver_idle = \"V\"\n{MINIMAL}"),
            2,
            "timeouts.server_idle",
            "48h",
            "48h1ms",
        ),
        (
            format!("[timeouts]\nhandshake = \"V\"\n{MINIMAL}"),
            2,
            "timeouts.handshake",
            "5m",
            "5m1ms",
        ),
        (
            format!(
                "[timeouts]\nkeepalive_idle_min = \"V\"\nkeepalive_idle_max = \"48h\"\n{MINIMAL}"
            ),
            2,
            "timeouts.keepalive_idle_min",
            "48h",
            "48h1ms",
        ),
        (
            format!("[timeouts]\nkeepalive_idle_max = \"V\"\n{MINIMAL}"),
            2,
            "timeouts.keepalive_idle_max",
            "48h",
            "48h1ms",
        ),
        (
            format!("{MINIMAL}connect_timeout = \"V\"\n"),
            9,
            "backend \"broker\".connect_timeout",
            "5m",
            "5m1ms",
        ),
        (
            format!("{MINIMAL}health_check = {{ interval = \"V\" }}\n"),
            9,
            "backend \"broker\".health_check.interval",
            "1h",
            "1h1ms",
        ),
        (
            format!("{MINIMAL}health_check = {{ interval = \"1h\", timeout = \"V\" }}\n"),
            9,
            "backend \"broker\".health_check.timeout",
            "1h",
            "1h1ms",
        ),
        (
            listener("client_idle = \"V\""),
            5,
            "listener \"mqtt\".client_idle",
            "48h",
            "48h1ms",
        ),
        (
            listener("max_connection_rate_per_source = \"1/V\""),
            5,
            "listener \"mqtt\".max_connection_rate_per_source",
            "24h",
            "24h1ms",
        ),
    ];
    for (text, line, key, max, above) in cases {
        let at_max = text.replace('V', max);
        if let Err(e) = parse(&at_max) {
            panic!("{key} = {max:?} refused: {e}");
        }
        let expected = format!("at most \"{max}\"");
        assert_rejected(&text.replace('V', above), line, key, &expected);
    }
    // The value that used to overflow the worker's deadline sum, and one that overflows
    // the parser: both refused with the key's maximum.
    for huge in ["5124095576030h", "99999999999999999999s"] {
        let text = format!("[timeouts]\nhandshake = \"{huge}\"\n{MINIMAL}");
        assert_rejected(&text, 2, "timeouts.handshake", "(expected at most \"5m\"");
    }
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
        ("relay_pipes = 0", "expected 1..=65536"),
        ("relay_pipes = 65537", "expected 1..=65536"),
        ("relay_pipe_size = 4095", "expected 4096..=1048576"),
        ("relay_pipe_size = 1048577", "expected 4096..=1048576"),
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
fn unknown_tls_mode_is_rejected() {
    let text = MINIMAL.replace(
        "backend = \"broker\"\n",
        "backend = \"broker\"\ntls = \"yes\"\n",
    );
    assert_rejected(
        &text,
        5,
        "listener \"mqtt\".tls",
        "unknown tls mode \"yes\" (expected one of \"none\", \"terminate\", \"passthrough\")",
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
