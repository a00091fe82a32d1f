//! Backend pools and health checks with the real binary and real brokers (issue 6):
//! a killed mosquitto is marked down within `fall × interval` and back up after `rise`
//! checks, clients move to the healthy broker without waiting, a hung broker's sessions are
//! shut down, an `mqtt` check catches a port that accepts but does not speak MQTT where a
//! `tcp` check does not, weights and least-connections shape real connections, and with
//! every server down clients are refused at once.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::backends::{EchoServer, RefusingPort, TestListener};
use common::mosquitto::{Broker, ensure_available};
use common::{
    Closed, Proxy, WAIT, connect, expect_closed, expect_open_and_silent, is_access_log, text,
};
use serde_json::Value;

/// The check settings of the broker tests: short, so the test is quick, and with room for a
/// loaded machine (a check round on loopback takes about a millisecond).
const INTERVAL_MS: u64 = 500;
const RISE: u64 = 2;
const FALL: u64 = 3;
/// How late a transition may be logged beyond its `rise`/`fall` × `interval`: the 100 ms
/// tick a check starts on, the check's own timeout, and scheduling on a loaded 2-core box.
const SLACK: Duration = Duration::from_millis(1500);

fn broker_pool_toml(servers: &[SocketAddr], on_marked_down: &str) -> String {
    let servers: Vec<String> = servers.iter().map(|s| format!("\"{s}\"")).collect();
    format!(
        r#"[runtime]
workers = 2

[[listener]]
name = "mqtt"
bind = "127.0.0.1:0"
tls = "none"
backend = "brokers"

[[backend]]
name = "brokers"
servers = [{}]
connect_timeout = "1s"
health_check = {{ interval = "{INTERVAL_MS}ms", timeout = "400ms", rise = {RISE}, fall = {FALL}, kind = "mqtt" }}
on_marked_down = "{on_marked_down}"
"#,
        servers.join(", ")
    )
}

/// One plain listener `mqtt` in front of backend `pool`: `servers` is the TOML array's
/// inside, `extra` more backend lines (`balance = ...`), `listener_extra` more listener lines.
fn pool_toml(workers: u32, servers: &str, extra: &str, listener_extra: &str) -> String {
    format!(
        r#"[runtime]
workers = {workers}

[[listener]]
name = "mqtt"
bind = "127.0.0.1:0"
backend = "pool"
{listener_extra}

[[backend]]
name = "pool"
servers = [{servers}]
{extra}
"#
    )
}

/// An MQTT 3.1.1 CONNECT with Keep Alive 300 s (the broker never times the test's quiet
/// clients out) and Clean Session.
fn connect_packet(client_id: &str) -> Vec<u8> {
    let mut body = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x01, 0x2c];
    body.extend_from_slice(&(client_id.len() as u16).to_be_bytes());
    body.extend_from_slice(client_id.as_bytes());
    let mut packet = vec![0x10, body.len() as u8];
    packet.extend_from_slice(&body);
    packet
}

/// Connects through the proxy as `client_id` and waits for the CONNACK accepting it;
/// returns the stream and how long that took.
fn mqtt_client(proxy: SocketAddr, client_id: &str) -> (TcpStream, Duration) {
    let started = Instant::now();
    let mut s = connect(proxy);
    s.write_all(&connect_packet(client_id)).unwrap();
    let mut ack = [0u8; 4];
    s.read_exact(&mut ack)
        .unwrap_or_else(|e| panic!("{client_id}: no CONNACK through the proxy: {e}"));
    assert_eq!(ack, [0x20, 0x02, 0x00, 0x00], "{client_id}: CONNACK");
    (s, started.elapsed())
}

/// Waits until `broker` has answered `n` health checks (their CONNECTs carry no client
/// id, so mosquitto logs them as `auto-...` clients): the server is then fully up, and a
/// failure takes `fall` checks to mark it down.
fn wait_checked(broker: &Broker, n: usize) {
    let deadline = Instant::now() + WAIT;
    while broker.log().matches(" as auto-").count() < n {
        assert!(
            Instant::now() < deadline,
            "the broker saw fewer than {n} checks"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// MQTT clients through the proxy, by client id.
type Clients = Vec<(String, TcpStream)>;

/// Waits until one of the brokers has logged each client, then splits the clients by
/// broker; asserts round-robin used both.
fn split_by_broker(b1: &Broker, b2: &Broker, clients: Clients) -> (Clients, Clients) {
    let deadline = Instant::now() + WAIT;
    while !clients
        .iter()
        .all(|(id, _)| b1.has_client(id) || b2.has_client(id))
    {
        assert!(
            Instant::now() < deadline,
            "brokers never logged every client"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (on_b1, on_b2): (Vec<_>, Vec<_>) =
        clients.into_iter().partition(|(id, _)| b1.has_client(id));
    assert!(
        !on_b1.is_empty() && !on_b2.is_empty(),
        "round-robin used both brokers"
    );
    (on_b1, on_b2)
}

/// Asserts a marking down took `fall` checks: at least `fall - 1` intervals after the
/// failure started (less one tick), at most `fall` intervals plus [`SLACK`].
#[track_caller]
fn assert_fall_timing(down: &Value, detected: Duration) {
    assert_eq!(down["fall"].as_u64(), Some(FALL), "{down}");
    let earliest = Duration::from_millis((FALL - 1) * INTERVAL_MS - 100);
    let latest = Duration::from_millis(FALL * INTERVAL_MS) + SLACK;
    assert!(
        (earliest..=latest).contains(&detected),
        "marked down after {detected:?}, expected within fall × interval: {earliest:?}..={latest:?}"
    );
}

fn wait_transition(proxy: &Proxy, what: &str, server: SocketAddr, within: Duration) -> Value {
    let server = server.to_string();
    proxy.wait_for(&format!("`{what}` for {server}"), within, |v| {
        v["server"] == server.as_str() && v["message"].as_str().is_some_and(|m| m.starts_with(what))
    })
}

#[test]
fn killed_broker_is_marked_down_clients_move_and_it_comes_back_after_rise_checks() {
    if !ensure_available() {
        return;
    }
    let mut b1 = Broker::start();
    let b2 = Broker::start();
    let proxy = Proxy::start_toml(&broker_pool_toml(&[b1.addr, b2.addr], "keep"));
    let addr = proxy.listen_addr("mqtt");

    // Several clients, spread over both brokers by the two workers' round-robin.
    let clients: Clients = (0..8)
        .map(|i| {
            let id = format!("dev-{i}");
            let (s, _) = mqtt_client(addr, &id);
            (id, s)
        })
        .collect();
    let (mut on_b1, mut on_b2) = split_by_broker(&b1, &b2, clients);
    wait_checked(&b1, 2);

    let killed_at = Instant::now();
    b1.kill_now();

    // Its clients lose their session (the broker's sockets closed with it) ...
    for (id, s) in &mut on_b1 {
        let how = expect_closed(s, WAIT);
        assert!(matches!(how, Closed::Eof | Closed::Reset), "{id}");
    }
    // ... and reconnect at once: before the checks notice, the refused connect fails over
    // to b2 immediately; after, b1 is skipped. Nobody waits anywhere near connect_timeout.
    for (id, _) in &on_b1 {
        let (_s, took) = mqtt_client(addr, id);
        assert!(
            took < Duration::from_secs(1),
            "{id} waited {took:?} to reconnect"
        );
        assert!(b2.has_client(id), "{id} reconnected to the healthy broker");
    }
    let down = wait_transition(&proxy, "marked down", b1.addr, WAIT);
    // The log line's own time would be more exact, but the reader thread adds only
    // milliseconds and the bounds are in hundreds.
    let detected = killed_at.elapsed();
    eprintln!("killed broker marked down after {detected:?}");
    assert_fall_timing(&down, detected);
    assert_eq!(down["cause"], "connection refused", "{down}");
    assert_eq!(down["level"], "WARN", "{down}");

    // While it is down every new client goes to b2, without trying b1.
    let mut late = Vec::new();
    for i in 0..4 {
        let id = format!("late-{i}");
        let (s, took) = mqtt_client(addr, &id);
        assert!(took < Duration::from_secs(1), "{id} waited {took:?}");
        assert!(b2.has_client(&id), "{id} went to the healthy broker");
        late.push(s);
    }

    // The b2 clients never noticed.
    for (_, s) in &mut on_b2 {
        expect_open_and_silent(s, Duration::from_millis(50));
    }

    // Back on the same port: up after `rise` good checks.
    let b1 = Broker::start_on(b1.addr.port());
    let restarted_at = Instant::now();
    let up = wait_transition(&proxy, "marked up", b1.addr, WAIT);
    let took = restarted_at.elapsed();
    eprintln!("restarted broker marked up after {took:?}");
    assert_eq!(up["rise"].as_u64(), Some(RISE), "{up}");
    let bound = Duration::from_millis(RISE * INTERVAL_MS) + SLACK;
    assert!(
        took <= bound,
        "marked up after {took:?}, expected within {bound:?}"
    );
    let earliest = Duration::from_millis((RISE - 1) * INTERVAL_MS).saturating_sub(SLACK);
    assert!(took >= earliest, "marked up after only {took:?}");

    // And takes new clients again.
    let back: Vec<TcpStream> = (0..6)
        .map(|i| mqtt_client(addr, &format!("back-{i}")).0)
        .collect();
    assert!(
        (0..6).any(|i| b1.has_client(&format!("back-{i}"))),
        "no new client reached the broker that came back"
    );
    drop(back);
}

#[test]
fn hung_broker_is_marked_down_by_mqtt_checks_and_its_sessions_are_shut_down() {
    if !ensure_available() {
        return;
    }
    let b1 = Broker::start();
    let b2 = Broker::start();
    let proxy = Proxy::start_toml(&broker_pool_toml(&[b1.addr, b2.addr], "shutdown-sessions"));
    let addr = proxy.listen_addr("mqtt");
    let clients: Clients = (0..6)
        .map(|i| {
            let id = format!("hung-{i}");
            (id.clone(), mqtt_client(addr, &id).0)
        })
        .collect();
    let (mut on_b1, mut on_b2) = split_by_broker(&b1, &b2, clients);
    wait_checked(&b1, 2);

    // Stopped, the broker keeps its sockets: the kernel still completes TCP handshakes into
    // its backlog and the sessions stay open. Only the MQTT check sees it is not serving.
    b1.signal(libc::SIGSTOP);
    let hung_at = Instant::now();
    let down = wait_transition(&proxy, "marked down", b1.addr, WAIT);
    let detected = hung_at.elapsed();
    eprintln!("hung broker marked down after {detected:?}");
    assert_fall_timing(&down, detected);
    assert_eq!(
        down["cause"], "no CONNACK within the check timeout",
        "{down}"
    );

    // shutdown-sessions: every session on b1 is closed by the proxy, through the normal
    // close path (an access-log line with the keyword), and the clients see it.
    for (id, s) in &mut on_b1 {
        expect_closed(s, WAIT);
        let log = proxy.access_log_for(s.local_addr().unwrap());
        assert_eq!(
            text(&log, "termination"),
            "server_marked_down",
            "{id}: {log}"
        );
        assert_eq!(text(&log, "server"), b1.addr.to_string(), "{log}");
    }
    for (_, s) in &mut on_b2 {
        expect_open_and_silent(s, Duration::from_millis(100));
    }
    // They reconnect to b2 at once.
    for (id, _) in &on_b1 {
        let (_s, took) = mqtt_client(addr, id);
        assert!(took < Duration::from_secs(1), "{id} waited {took:?}");
    }
    b1.signal(libc::SIGCONT);
}

#[test]
fn hung_broker_sessions_are_kept_by_default() {
    if !ensure_available() {
        return;
    }
    let b1 = Broker::start();
    let proxy = Proxy::start_toml(&broker_pool_toml(&[b1.addr], "keep"));
    let addr = proxy.listen_addr("mqtt");
    let (mut s, _) = mqtt_client(addr, "kept-0");
    b1.signal(libc::SIGSTOP);
    wait_transition(&proxy, "marked down", b1.addr, WAIT);
    proxy.wait_for("the every-server-down warning", WAIT, |v| {
        v["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("every server is down"))
    });
    // The session stays; a new client is refused at once.
    expect_open_and_silent(&mut s, Duration::from_millis(300));
    let started = Instant::now();
    let mut refused = connect(addr);
    expect_closed(&mut refused, Duration::from_secs(2));
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    let log = proxy.access_log_for(refused.local_addr().unwrap());
    assert_eq!(text(&log, "termination"), "no_server_available", "{log}");
    b1.signal(libc::SIGCONT);
}

#[test]
fn mqtt_check_catches_a_port_that_accepts_but_does_not_speak_mqtt_and_tcp_check_does_not() {
    // Accepts (the kernel completes handshakes into its backlog), never answers.
    let silent = TestListener::bind();
    let proxy = Proxy::start_toml(&format!(
        r#"[runtime]
workers = 1

[[listener]]
name = "mqtt"
bind = "127.0.0.1:0"
backend = "tcp-checked"

[[backend]]
name = "tcp-checked"
servers = ["{s}"]
health_check = {{ interval = "300ms", timeout = "200ms", fall = 2, kind = "tcp" }}

[[backend]]
name = "mqtt-checked"
servers = ["{s}"]
health_check = {{ interval = "300ms", timeout = "200ms", fall = 2, kind = "mqtt" }}
"#,
        s = silent.addr
    ));
    let down = proxy.wait_for("`marked down` for the mqtt-checked backend", WAIT, |v| {
        v["backend"] == "mqtt-checked"
            && v["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("marked down"))
    });
    assert_eq!(down["cause"], "no CONNACK within the check timeout");
    // Give the tcp check as many rounds again: it keeps the server up.
    std::thread::sleep(Duration::from_millis(1500));
    let tcp_down = proxy.json_lines().into_iter().find(|v| {
        v["backend"] == "tcp-checked"
            && v["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("marked down"))
    });
    assert!(
        tcp_down.is_none(),
        "a tcp check marked it down: {tcp_down:?}"
    );
}

#[test]
fn weights_shape_round_robin_on_real_connections() {
    let light = EchoServer::start();
    let heavy = EchoServer::start();
    let proxy = Proxy::start_toml(&pool_toml(
        1,
        &format!(
            r#""{}", {{ addr = "{}", weight = 3 }}"#,
            light.addr, heavy.addr
        ),
        "",
        "",
    ));
    let addr = proxy.listen_addr("mqtt");
    let mut held = Vec::new();
    for _ in 0..20 {
        let mut s = connect(addr);
        common::echo_roundtrip(&mut s, b"ping");
        held.push(s);
    }
    assert_eq!((light.accepted(), heavy.accepted()), (5, 15));
}

#[test]
fn least_connections_fills_the_emptier_server_on_real_connections() {
    let a = TestListener::bind();
    let b = TestListener::bind();
    let proxy = Proxy::start_toml(&pool_toml(
        1,
        &format!(r#""{}", "{}""#, a.addr, b.addr),
        r#"balance = "least-connections""#,
        "",
    ));
    let addr = proxy.listen_addr("mqtt");
    // Which server the proxy connected to, and the server side of that connection.
    let accept_either = || -> (usize, TcpStream) {
        let deadline = Instant::now() + WAIT;
        loop {
            for (i, l) in [&a, &b].into_iter().enumerate() {
                if let Some(s) = l.try_accept(Duration::from_millis(10)) {
                    return (i, s);
                }
            }
            assert!(Instant::now() < deadline, "no backend connection");
        }
    };
    // Four clients: two on each server.
    let mut clients: Vec<(usize, TcpStream, TcpStream)> = (0..4)
        .map(|_| {
            let client = connect(addr);
            let (i, server) = accept_either();
            (i, client, server)
        })
        .collect();
    let on_a = clients.iter().filter(|(i, ..)| *i == 0).count();
    assert_eq!(on_a, 2, "ties go round");
    // The two on server 0 end; once the proxy has closed them, server 0 is empty and
    // server 1 holds two. Round-robin would split the next two; least-connections sends
    // both to server 0.
    let (leaving, staying): (Vec<_>, Vec<_>) = clients.drain(..).partition(|(i, ..)| *i == 0);
    for (_, client, server) in leaving {
        let local = client.local_addr().unwrap();
        drop(client);
        drop(server);
        proxy.wait_for("the leaving client's close", WAIT, |v| {
            is_access_log(v) && v["client"] == local.to_string().as_str()
        });
    }
    let next: Vec<(usize, TcpStream, TcpStream)> = (0..2)
        .map(|_| {
            let client = connect(addr);
            let (i, server) = accept_either();
            (i, client, server)
        })
        .collect();
    let picks: Vec<usize> = next.iter().map(|(i, ..)| *i).collect();
    assert_eq!(picks, [0, 0]);
    drop(staying);
}

#[test]
fn source_balance_keeps_one_client_address_on_one_server() {
    let one = EchoServer::start();
    let two = EchoServer::start();
    let proxy = Proxy::start_toml(&pool_toml(
        2,
        &format!(r#""{}", "{}""#, one.addr, two.addr),
        r#"balance = "source""#,
        "",
    ));
    let addr = proxy.listen_addr("mqtt");
    for _ in 0..10 {
        let mut s = connect(addr);
        common::echo_roundtrip(&mut s, b"x");
    }
    let counts = (one.accepted(), two.accepted());
    assert!(counts == (10, 0) || counts == (0, 10), "{counts:?}");
}

#[test]
fn all_servers_down_refuses_plain_and_tls_clients_at_once() {
    let r1 = RefusingPort::new();
    let r2 = RefusingPort::new();
    let proxy = Proxy::start_toml(&format!(
        r#"[runtime]
workers = 2

[[listener]]
name = "mqtt"
bind = "127.0.0.1:0"
backend = "dead"

[[listener]]
name = "mqtts"
bind = "127.0.0.1:0"
tls = "passthrough"

[[route]]
name = "dead"
listener = "mqtts"
sni = ["broker.example"]
backend = "dead"

[[backend]]
name = "dead"
servers = ["{}", "{}"]
connect_timeout = "1s"
health_check = {{ interval = "200ms", timeout = "100ms", fall = 1, kind = "tcp" }}
"#,
        r1.addr, r2.addr
    ));
    proxy.wait_for("the every-server-down warning", WAIT, |v| {
        v["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("every server is down"))
    });
    // Workers see the board at their next connect: no connect is tried.
    let started = Instant::now();
    let mut s = connect(proxy.listen_addr("mqtt"));
    expect_closed(&mut s, Duration::from_secs(2));
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    let log = proxy.access_log_for(s.local_addr().unwrap());
    assert_eq!(text(&log, "termination"), "no_server_available", "{log}");
    assert_eq!(text(&log, "server"), "-", "{log}");

    // TLS: refused after the ClientHello (the route names the backend), with an alert.
    let mut t = connect(proxy.listen_addr("mqtts"));
    t.write_all(&common::raw_tls::rustls_client_hello(Some(
        "broker.example",
    )))
    .unwrap();
    let mut reply = Vec::new();
    t.read_to_end(&mut reply).unwrap();
    // fatal (2) internal_error (80)
    assert_eq!(reply, [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x50]);
    let log = proxy.access_log_for(t.local_addr().unwrap());
    assert_eq!(text(&log, "termination"), "no_server_available", "{log}");
    assert_eq!(text(&log, "sni"), "broker.example", "{log}");
}

/// `balance = "client-id"`: the CONNECT's client id picks the broker by rendezvous hashing,
/// so two ringress processes that share nothing send a device to the same broker, and so
/// does every reconnect. Real mosquitto brokers; the broker's own log says who it served.
#[test]
fn client_id_balance_sends_a_device_to_the_same_broker_from_two_proxies_and_on_reconnect() {
    assert!(ensure_available(), "mosquitto is needed (CI installs it)");
    let brokers = [Broker::start(), Broker::start()];
    let toml = pool_toml(
        2,
        &format!(r#""{}", "{}""#, brokers[0].addr, brokers[1].addr),
        r#"balance = "client-id""#,
        "mqtt = true",
    );
    let proxies = [Proxy::start_toml(&toml), Proxy::start_toml(&toml)];
    let ids: Vec<String> = (0..16).map(|i| format!("device-{i:02}")).collect();
    let mut first_choice = Vec::new();
    for id in &ids {
        let mut seen = Vec::new();
        // Three connections per device: through A, through B, through A again (a reconnect).
        for proxy in [&proxies[0], &proxies[1], &proxies[0]] {
            let (mut s, _) = mqtt_client(proxy.listen_addr("mqtt"), id);
            let local = s.local_addr().unwrap();
            s.write_all(&[0xe0, 0x00]).unwrap(); // DISCONNECT
            let _ = s.read(&mut [0u8; 1]);
            drop(s);
            let log = proxy.access_log_for(local);
            assert_eq!(text(&log, "mqtt_client_id"), *id, "{log}");
            seen.push(text(&log, "server"));
        }
        assert!(
            seen.iter().all(|s| *s == seen[0]),
            "{id} went to different brokers: {seen:?}"
        );
        first_choice.push(seen[0].clone());
    }
    // The brokers agree: each saw exactly the devices ringress logged for it.
    for broker in &brokers {
        let mine: Vec<&String> = ids
            .iter()
            .zip(&first_choice)
            .filter(|(_, server)| **server == broker.addr.to_string())
            .map(|(id, _)| id)
            .collect();
        assert!(
            !mine.is_empty() && mine.len() < ids.len(),
            "16 ids should spread over both brokers: {first_choice:?}"
        );
        for id in mine {
            assert!(broker.has_client(id), "{id} not in {}'s log", broker.addr);
        }
    }
}
