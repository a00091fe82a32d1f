//! The backend keys added for pools and health checks: `servers` with weights, `balance`,
//! `health_check`, `on_marked_down`; accepted values resolve exactly, rejected ones name
//! the file, line and key.

use std::time::Duration;

use super::{MINIMAL, parse};
use crate::balance::Balance;
use crate::config::{CheckKind, HealthCheck, OnMarkedDown, defaults};

/// MINIMAL with the backend's `servers = [...]` line (line 8) replaced by `servers` and
/// `extra` lines appended to the backend.
fn backend(servers: &str, extra: &str) -> String {
    MINIMAL.replace(
        "servers = [\"127.0.0.1:1883\"]\n",
        &format!("{servers}\n{extra}"),
    )
}

#[track_caller]
fn rejected(text: &str, line: usize, key: &str, what: &str) {
    let err = parse(text).expect_err("accepted, expected an error");
    assert_eq!(
        (err.line, err.key.as_deref()),
        (Some(line), Some(key)),
        "{}",
        err.message
    );
    let prefix = format!("test.toml:{line}: {key}: ");
    assert!(err.message.starts_with(&prefix), "{}", err.message);
    assert!(
        err.message.contains(what),
        "want {what:?} in {}",
        err.message
    );
}

#[test]
fn plain_servers_keep_their_defaults() {
    let config = parse(MINIMAL).unwrap();
    let b = &config.backends[0];
    assert_eq!(b.weights, [1]);
    assert_eq!(b.balance, Balance::RoundRobin);
    assert_eq!(b.health_check, None);
    assert_eq!(b.on_marked_down, OnMarkedDown::Keep);
}

#[test]
fn servers_mix_strings_and_weighted_tables() {
    let text = backend(
        "servers = [\"127.0.0.1:1883\", { addr = \"127.0.0.1:1884\", weight = 3 },\n  { addr = \"[::1]:1885\" }, { addr = \"127.0.0.1:1886\", weight = 0 }]",
        "balance = \"least-connections\"\n",
    );
    let config = parse(&text).unwrap();
    let b = &config.backends[0];
    let servers: Vec<String> = b.servers.iter().map(ToString::to_string).collect();
    assert_eq!(
        servers,
        [
            "127.0.0.1:1883",
            "127.0.0.1:1884",
            "[::1]:1885",
            "127.0.0.1:1886"
        ]
    );
    assert_eq!(b.weights, [1, 3, 1, 0]);
    assert_eq!(b.balance, Balance::LeastConnections);
    let summary = config.summary();
    assert!(
        summary.contains("servers 127.0.0.1:1883 127.0.0.1:1884 (weight 3)"),
        "{summary}"
    );
    assert!(summary.contains(", balance least-connections"), "{summary}");
}

#[test]
fn every_balance_is_accepted() {
    for (text, want) in [
        ("round-robin", Balance::RoundRobin),
        ("least-connections", Balance::LeastConnections),
        ("client-id", Balance::ClientId),
        ("source", Balance::Source),
    ] {
        let config = parse(&backend(
            "servers = [\"127.0.0.1:1883\"]",
            &format!("balance = \"{text}\"\n"),
        ))
        .unwrap();
        assert_eq!(config.backends[0].balance, want);
        assert_eq!(want.as_str(), text);
    }
}

#[test]
fn health_check_defaults_and_values() {
    let config = parse(&backend(
        "servers = [\"127.0.0.1:1883\"]",
        "health_check = {}\n",
    ))
    .unwrap();
    assert_eq!(
        config.backends[0].health_check,
        Some(HealthCheck {
            interval: defaults::CHECK_INTERVAL,
            timeout: defaults::CHECK_TIMEOUT,
            rise: defaults::CHECK_RISE,
            fall: defaults::CHECK_FALL,
            kind: CheckKind::Tcp,
        })
    );
    // A short interval shortens the default timeout with it.
    let config = parse(&backend(
        "servers = [\"127.0.0.1:1883\"]",
        "health_check = { interval = \"500ms\" }\n",
    ))
    .unwrap();
    let check = config.backends[0].health_check.clone().unwrap();
    assert_eq!(check.timeout, Duration::from_millis(500));

    let text = backend(
        "servers = [\"127.0.0.1:1883\"]",
        "health_check = { interval = \"5s\", timeout = \"2s\", rise = 1, fall = 5, kind = \"mqtt\", username = \"hc\", password = \"s3cr3t\" }\non_marked_down = \"shutdown-sessions\"\n",
    );
    let config = parse(&text).unwrap();
    let b = &config.backends[0];
    let check = b.health_check.clone().unwrap();
    assert_eq!(
        (check.interval, check.timeout, check.rise, check.fall),
        (Duration::from_secs(5), Duration::from_secs(2), 1, 5)
    );
    let want = crate::health::mqtt_check_connect("", Some("hc"), Some(b"s3cr3t")).unwrap();
    assert_eq!(check.kind, CheckKind::Mqtt { connect: want });
    assert_eq!(b.on_marked_down, OnMarkedDown::ShutdownSessions);
    assert!(
        !format!("{config:?}").contains("s3cr3t"),
        "the password stays out of Debug"
    );
    let summary = config.summary();
    assert!(
        summary.contains(
            "health_check mqtt every 5s (timeout 2s, rise 1, fall 5), on_marked_down shutdown-sessions"
        ),
        "{summary}"
    );
    // `keep` is allowed with or without checks.
    parse(&backend(
        "servers = [\"127.0.0.1:1883\"]",
        "on_marked_down = \"keep\"\n",
    ))
    .unwrap();
}

#[test]
fn bad_servers_and_weights_are_rejected() {
    let key = "backend \"broker\".servers[1].weight";
    for (weight, what) in [
        ("-1", "-1 is out of range (expected 0..=256)"),
        ("257", "257 is out of range (expected 0..=256)"),
    ] {
        let text = backend(
            &format!(
                "servers = [\"127.0.0.1:1\", {{ addr = \"127.0.0.1:2\", weight = {weight} }}]"
            ),
            "",
        );
        rejected(&text, 8, key, what);
    }
    let text = backend("servers = [{ addr = \"127.0.0.1:2\", weight = 0 }]", "");
    rejected(
        &text,
        8,
        "backend \"broker\".servers",
        "every server has weight 0",
    );
    let text = backend("servers = [{ addr = \"127.0.0.1\" }]", "");
    rejected(&text, 8, "backend \"broker\".servers[0]", "has no port");
    let text = backend("servers = [{ weight = 2 }]", "");
    let err = parse(&text).unwrap_err();
    assert!(
        err.message
            .starts_with("test.toml:8: backend \"broker\".servers"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("missing field `addr`"),
        "{}",
        err.message
    );
    let text = backend("servers = [{ addr = \"127.0.0.1:2\", wieght = 2 }]", "");
    let err = parse(&text).unwrap_err();
    assert!(
        err.message
            .contains("unknown field `wieght`, expected `addr` or `weight`"),
        "{}",
        err.message
    );
    let text = backend("servers = [1883]", "");
    let err = parse(&text).unwrap_err();
    assert!(
        err.message
            .starts_with("test.toml:8: backend \"broker\".servers"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("expected \"host:port\" or a table"),
        "{}",
        err.message
    );
}

#[test]
fn bad_balance_is_rejected() {
    let text = backend("servers = [\"127.0.0.1:1883\"]", "balance = \"random\"\n");
    rejected(
        &text,
        9,
        "backend \"broker\".balance",
        "unknown balance \"random\" (expected \"round-robin\", \"least-connections\", \"client-id\" or \"source\")",
    );
}

#[test]
fn bad_health_checks_are_rejected() {
    let base = "backend \"broker\".health_check";
    let cases = [
        ("{ interval = \"50ms\" }", "interval", "below the 100 ms"),
        ("{ timeout = \"10ms\" }", "timeout", "below the 100 ms"),
        (
            "{ interval = \"1s\", timeout = \"2s\" }",
            "timeout",
            "timeout 2s is longer than the interval 1s",
        ),
        (
            "{ rise = 0 }",
            "rise",
            "0 is out of range (expected 1..=100)",
        ),
        (
            "{ fall = 101 }",
            "fall",
            "101 is out of range (expected 1..=100)",
        ),
        (
            "{ kind = \"http\" }",
            "kind",
            "unknown check kind \"http\" (expected \"tcp\" or \"mqtt\")",
        ),
        (
            "{ username = \"u\" }",
            "username",
            "a tcp check sends no credentials (expected username only with kind = \"mqtt\")",
        ),
        (
            "{ kind = \"mqtt\", password = \"p\" }",
            "password",
            "a health-check password needs a user name",
        ),
    ];
    for (table, key, what) in cases {
        let text = backend(
            "servers = [\"127.0.0.1:1883\"]",
            &format!("health_check = {table}\n"),
        );
        rejected(&text, 9, &format!("{base}.{key}"), what);
    }
    for (table, what) in [
        ("{ interval = \"2\" }", "number without a unit"),
        ("{ colour = 1 }", "unknown field `colour`"),
        ("{ interval = \"0s\" }", "zero"),
    ] {
        let text = backend(
            "servers = [\"127.0.0.1:1883\"]",
            &format!("health_check = {table}\n"),
        );
        let err = parse(&text).unwrap_err();
        assert!(
            err.message.starts_with(&format!("test.toml:9: {base}")),
            "{}",
            err.message
        );
        assert!(
            err.message.contains(what),
            "want {what:?} in {}",
            err.message
        );
    }
}

#[test]
fn bad_on_marked_down_is_rejected() {
    let key = "backend \"broker\".on_marked_down";
    let text = backend(
        "servers = [\"127.0.0.1:1883\"]",
        "health_check = {}\non_marked_down = \"close\"\n",
    );
    rejected(
        &text,
        10,
        key,
        "unknown value \"close\" (expected \"keep\" or \"shutdown-sessions\")",
    );
    let text = backend(
        "servers = [\"127.0.0.1:1883\"]",
        "on_marked_down = \"shutdown-sessions\"\n",
    );
    rejected(
        &text,
        9,
        key,
        "servers are only marked down by health checks (expected a health_check on this backend)",
    );
}
