//! The MQTT-awareness keys of a listener (`mqtt`, `max_connect_size`, `client_idle`,
//! `max_connection_rate_per_source`) and `timeouts.keepalive_idle_*`: what they resolve to,
//! and each rejection with its file, line and key.

use std::time::Duration;

use super::rejections::assert_rejected;
use super::{MINIMAL, parse};
use crate::config::{ClientIdle, MqttListener, SourceRate, defaults};

/// MINIMAL with `keys` added to its listener (after line 4, so they start at line 5).
fn listener_with(keys: &str) -> String {
    MINIMAL.replace(
        "backend = \"broker\"\n",
        &format!("backend = \"broker\"\n{keys}"),
    )
}

/// A passthrough listener on line 1.. with `keys`; its route makes it valid otherwise.
fn passthrough_with(keys: &str) -> String {
    format!(
        "[[listener]]\nname = \"tls\"\nbind = \"127.0.0.1:8883\"\ntls = \"passthrough\"\n{keys}\
         default_route = \"r\"\n\n[[route]]\nname = \"r\"\nlistener = \"tls\"\nsni = [\"a.example.com\"]\n\
         backend = \"broker\"\n\n[[backend]]\nname = \"broker\"\nservers = [\"127.0.0.1:1883\"]\n"
    )
}

#[test]
fn defaults_are_off_and_fixed() {
    let config = parse(MINIMAL).unwrap();
    let l = &config.listeners[0];
    assert_eq!(l.mqtt, None);
    assert_eq!(l.client_idle, ClientIdle::Fixed(defaults::CLIENT_IDLE));
    assert_eq!(l.rate_per_source, None);
    assert_eq!(config.timeouts.keepalive_idle_min, Duration::from_secs(2));
    assert_eq!(
        config.timeouts.keepalive_idle_max,
        Duration::from_secs(5400)
    );
}

#[test]
fn mqtt_listener_resolves() {
    let text = listener_with(
        "mqtt = true\nmax_connect_size = 4096\nclient_idle = \"mqtt-keepalive\"\n\
         max_connection_rate_per_source = \"20/s\"\n",
    );
    let text =
        format!("{text}\n[timeouts]\nkeepalive_idle_min = \"1s\"\nkeepalive_idle_max = \"10m\"\n");
    let config = parse(&text).unwrap();
    let l = &config.listeners[0];
    assert_eq!(
        l.mqtt,
        Some(MqttListener {
            max_connect_size: 4096
        })
    );
    assert_eq!(l.client_idle, ClientIdle::MqttKeepalive);
    assert_eq!(
        l.rate_per_source,
        Some(SourceRate {
            connections: 20,
            per: Duration::from_secs(1)
        })
    );
    assert_eq!(config.timeouts.keepalive_idle_min, Duration::from_secs(1));
    assert_eq!(config.timeouts.keepalive_idle_max, Duration::from_secs(600));
    let summary = config.summary();
    assert!(
        summary.contains(
            ", mqtt (max_connect_size 4096), client_idle mqtt-keepalive, max_connection_rate_per_source 20/1s\n"
        ),
        "{summary}"
    );
}

#[test]
fn mqtt_default_connect_size_and_duration_client_idle() {
    let config = parse(&listener_with("mqtt = true\nclient_idle = \"1m30s\"\n")).unwrap();
    let l = &config.listeners[0];
    assert_eq!(
        l.mqtt,
        Some(MqttListener {
            max_connect_size: 65536
        })
    );
    assert_eq!(l.client_idle, ClientIdle::Fixed(Duration::from_secs(90)));
    // A duration client_idle works without mqtt too.
    let config = parse(&listener_with("client_idle = \"5s\"\n")).unwrap();
    assert_eq!(
        config.listeners[0].client_idle,
        ClientIdle::Fixed(Duration::from_secs(5))
    );
}

#[test]
fn rates_take_a_unit_or_a_duration() {
    for (text, connections, secs) in [
        ("1/s", 1, 1),
        ("600/m", 600, 60),
        ("5/h", 5, 3600),
        ("100/10s", 100, 10),
        ("3/1m30s", 3, 90),
    ] {
        let config = parse(&listener_with(&format!(
            "max_connection_rate_per_source = \"{text}\"\n"
        )))
        .unwrap();
        assert_eq!(
            config.listeners[0].rate_per_source,
            Some(SourceRate {
                connections,
                per: Duration::from_secs(secs)
            }),
            "{text}"
        );
    }
}

#[test]
fn mqtt_is_refused_on_passthrough() {
    assert!(parse(&passthrough_with("")).is_ok());
    assert_rejected(
        &passthrough_with("mqtt = true\n"),
        5,
        "listener \"tls\".mqtt",
        "not allowed with tls = \"passthrough\": the CONNECT travels inside TLS",
    );
    // mqtt = false is just the default, anywhere.
    assert!(parse(&passthrough_with("mqtt = false\n")).is_ok());
}

#[test]
fn mqtt_only_keys_need_mqtt() {
    assert_rejected(
        &listener_with("max_connect_size = 4096\n"),
        5,
        "listener \"mqtt\".max_connect_size",
        "only allowed with mqtt = true",
    );
    assert_rejected(
        &listener_with("client_idle = \"mqtt-keepalive\"\n"),
        5,
        "listener \"mqtt\".client_idle",
        "\"mqtt-keepalive\" needs mqtt = true",
    );
}

#[test]
fn bad_values_are_refused() {
    let key = "listener \"mqtt\".max_connect_size";
    for size in ["63", "1048577", "-1"] {
        let text = listener_with(&format!("mqtt = true\nmax_connect_size = {size}\n"));
        assert_rejected(&text, 6, key, "out of range (expected 64..=1048576)");
    }
    let key = "listener \"mqtt\".client_idle";
    let text = listener_with("mqtt = true\nclient_idle = \"keepalive\"\n");
    assert_rejected(&text, 6, key, "or \"mqtt-keepalive\")");
    let text = listener_with("client_idle = \"0s\"\n");
    assert_rejected(
        &text,
        5,
        key,
        "is zero (expected a duration greater than zero",
    );
    let key = "listener \"mqtt\".max_connection_rate_per_source";
    for (rate, what) in [
        ("20", "\"20\" has no '/'"),
        ("x/s", "\"x\" is not a whole number"),
        ("0/s", "0 is out of range"),
        ("1000001/s", "1000001 is out of range"),
        ("20/d", "period \"d\": malformed duration"),
        ("20/3d", "period \"3d\": unknown unit"),
        ("20/0s", "period \"0s\" is zero"),
        ("20/", "period \"\": empty duration"),
    ] {
        let text = listener_with(&format!("max_connection_rate_per_source = \"{rate}\"\n"));
        assert_rejected(&text, 5, key, what);
        assert_rejected(&text, 5, key, "(expected \"COUNT/PERIOD\" like \"20/s\"");
    }
}

#[test]
fn keepalive_clamp_must_be_ordered() {
    let text = format!(
        "{MINIMAL}\n[timeouts]\nkeepalive_idle_min = \"10s\"\nkeepalive_idle_max = \"5s\"\n"
    );
    let line = MINIMAL.lines().count() + 4;
    assert_rejected(
        &text,
        line,
        "timeouts.keepalive_idle_max",
        "keepalive_idle_min 10s is above keepalive_idle_max 5s (expected min <= max)",
    );
    // Only the minimum given, above the default maximum.
    let text = format!("{MINIMAL}\n[timeouts]\nkeepalive_idle_min = \"2h\"\n");
    assert_rejected(
        &text,
        line - 1,
        "timeouts.keepalive_idle_min",
        "above keepalive_idle_max 1h30m",
    );
    let text = format!("{MINIMAL}\n[timeouts]\nkeepalive_idle_min = \"0s\"\n");
    assert_rejected(&text, line - 1, "timeouts.keepalive_idle_min", "is zero");
}
