//! `client_idle = "mqtt-keepalive"`: a client silent for 1.5 × its keep-alive is closed by
//! the proxy (`client_idle_timeout`), one that keeps sending PINGREQ stays; keep-alive 0
//! falls back to `timeouts.client_idle`. The broker behind is a stand-in that never closes
//! first, so every close here is the proxy's. And `max_connection_rate_per_source`, at accept
//! and behind a PROXY header.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::backends::EchoServer;
use common::fake_broker::{self, CONNACK_ACCEPTED, FakeBroker, PINGREQ, PINGRESP, Seen};
use common::tls_client::tcp_connect_from;
use common::{Proxy, WAIT, connect, echo_roundtrip, expect_closed, mosquitto, num, text};

fn keepalive_proxy(broker: SocketAddr) -> Proxy {
    Proxy::start_toml(&format!(
        "[runtime]\nworkers = 1\n\n[[listener]]\nname = \"mqtt\"\nbind = \"127.0.0.1:0\"\n\
         backend = \"broker\"\nmqtt = true\nclient_idle = \"mqtt-keepalive\"\n\n[[backend]]\n\
         name = \"broker\"\nservers = [\"{broker}\"]\n\n[timeouts]\nclient_idle = \"1s\"\n"
    ))
}

/// Connects with a CONNECT of `keepalive` seconds and reads the CONNACK.
fn mqtt_client(proxy: &Proxy, id: &str, keepalive: u16) -> TcpStream {
    let mut s = connect(proxy.listen_addr("mqtt"));
    s.write_all(&fake_broker::connect(4, keepalive, id, None))
        .unwrap();
    let mut ack = [0u8; 4];
    s.read_exact(&mut ack).unwrap();
    assert_eq!(ack, CONNACK_ACCEPTED);
    s
}

#[test]
fn a_client_silent_for_one_and_a_half_keepalives_is_closed_a_pinging_one_stays() {
    let broker = FakeBroker::start();
    let proxy = keepalive_proxy(broker.addr);
    let mut pinging = mqtt_client(&proxy, "pinging", 2);
    let mut silent = mqtt_client(&proxy, "silent", 2);
    let silent_since = Instant::now();
    // Keep-alive 0 (off): the listener falls back to timeouts.client_idle (1 s).
    let mut no_keepalive = mqtt_client(&proxy, "no-keepalive", 0);
    let no_keepalive_since = Instant::now();

    // PINGREQ every second for 5 s: past the silent client's 3 s, and past 1.5 × 2 s twice.
    for _ in 0..5 {
        std::thread::sleep(Duration::from_secs(1));
        pinging.write_all(&PINGREQ).unwrap();
        let mut resp = [0u8; 2];
        pinging.read_exact(&mut resp).unwrap();
        assert_eq!(resp, PINGRESP);
    }
    expect_closed(&mut silent, Duration::from_secs(1));
    expect_closed(&mut no_keepalive, Duration::from_secs(1));

    let log = proxy.access_log_for(silent.local_addr().unwrap());
    assert_eq!(text(&log, "termination"), "client_idle_timeout", "{log}");
    assert_eq!(text(&log, "mqtt_keepalive"), "2", "{log}");
    let ms = num(&log, "duration_ms");
    // 1.5 × 2 s after its CONNECT, within the timer's 100 ms resolution and some slack.
    assert!((2_900..4_000).contains(&ms), "closed after {ms} ms: {log}");
    assert!(silent_since.elapsed() < Duration::from_secs(7));

    let log = proxy.access_log_for(no_keepalive.local_addr().unwrap());
    assert_eq!(text(&log, "termination"), "client_idle_timeout", "{log}");
    let ms = num(&log, "duration_ms");
    assert!((900..2_000).contains(&ms), "closed after {ms} ms: {log}");
    assert!(no_keepalive_since.elapsed() >= Duration::from_millis(900));

    // The pinging client is still relayed, and nothing of it was logged.
    pinging.write_all(&PINGREQ).unwrap();
    let mut resp = [0u8; 2];
    pinging.read_exact(&mut resp).unwrap();
    assert_eq!(resp, PINGRESP);
    proxy.assert_no_access_log_for(pinging.local_addr().unwrap(), "a pinging client");
}

/// A real client that stops sending PINGREQ: mosquitto_sub with `-k 5` (the smallest it
/// takes), frozen with SIGSTOP once subscribed: closed 7.5 s after its last packet.
#[test]
fn mosquitto_sub_frozen_with_sigstop_is_closed_after_its_keepalive() {
    if !mosquitto::ensure_available() {
        return;
    }
    let broker = FakeBroker::start();
    let proxy = keepalive_proxy(broker.addr);
    let addr = proxy.listen_addr("mqtt");
    let mut sub = Command::new(mosquitto::which("mosquitto_sub"))
        .args(["-h", "127.0.0.1", "-p", &addr.port().to_string()])
        .args(["-i", "frozen", "-k", "5", "-t", "t", "-V", "mqttv311"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mosquitto_sub");
    // SUBSCRIBE is the client's last word before it is frozen.
    broker.packet_starting(0x82, WAIT);
    // SAFETY: kill(2) on our own child, not yet reaped.
    assert_eq!(
        unsafe { libc::kill(sub.id() as libc::pid_t, libc::SIGSTOP) },
        0
    );
    let stopped = Instant::now();
    let log = proxy.wait_for("the frozen client's access-log line", WAIT, |v| {
        common::is_access_log(v) && v["mqtt_client_id"] == "frozen"
    });
    let after = stopped.elapsed();
    let _ = sub.kill();
    let _ = sub.wait();
    assert_eq!(text(&log, "termination"), "client_idle_timeout", "{log}");
    assert_eq!(text(&log, "mqtt_keepalive"), "5", "{log}");
    assert!(
        after >= Duration::from_millis(7_000) && after < Duration::from_secs(10),
        "closed {after:?} after SIGSTOP, expected about 7.5 s"
    );
    // The broker side saw the close, not a disconnect of its own making.
    loop {
        if let (_, Seen::Closed) = broker.next(WAIT) {
            break;
        }
    }
}

/// A plain listener with `rate` to an echo server; one worker, so one table.
fn rate_proxy(echo: &EchoServer, rate: &str, extra: &str) -> Proxy {
    Proxy::start_toml(&format!(
        "[runtime]\nworkers = 1\n\n[[listener]]\nname = \"mqtt\"\nbind = \"127.0.0.1:0\"\n\
         backend = \"echo\"\nmax_connection_rate_per_source = \"{rate}\"\n{extra}\n\n\
         [[backend]]\nname = \"echo\"\nservers = [\"{}\"]\n",
        echo.addr
    ))
}

#[test]
fn connections_over_the_per_source_rate_are_refused_at_accept() {
    let echo = EchoServer::start();
    let proxy = rate_proxy(&echo, "3/m", "");
    let addr = proxy.listen_addr("mqtt");
    let from = |ip: &str| tcp_connect_from(Some(ip.parse().unwrap()), addr).unwrap();
    let mut open: Vec<TcpStream> = (0..3).map(|_| from("127.0.0.1")).collect();
    for s in &mut open {
        echo_roundtrip(s, b"within the burst");
    }
    let mut fourth = from("127.0.0.1");
    expect_closed(&mut fourth, WAIT);
    let log = proxy.access_log_for(fourth.local_addr().unwrap());
    assert_eq!(text(&log, "termination"), "rate_limited", "{log}");
    assert_eq!(text(&log, "server"), "-", "{log}");
    // Another source has its own bucket; the first three were not disturbed.
    let mut other = from("127.0.0.2");
    echo_roundtrip(&mut other, b"another source");
    for s in &mut open {
        echo_roundtrip(s, b"still relayed");
    }
    assert_eq!(echo.accepted(), 4);
}

#[test]
fn behind_a_load_balancer_the_rate_counts_the_address_in_the_proxy_header() {
    let echo = EchoServer::start();
    let proxy = rate_proxy(
        &echo,
        "2/m",
        "accept_proxy = true\ntrusted_proxies = [\"127.0.0.0/8\"]",
    );
    let addr = proxy.listen_addr("mqtt");
    let via_balancer = |client: &str| {
        let mut s = connect(addr);
        s.write_all(format!("PROXY TCP4 {client} 127.0.0.1 40000 1883\r\n").as_bytes())
            .unwrap();
        s
    };
    for _ in 0..2 {
        echo_roundtrip(&mut via_balancer("192.0.2.7"), b"ok");
    }
    let mut third = via_balancer("192.0.2.7");
    expect_closed(&mut third, WAIT);
    let log = proxy.wait_for("the rate_limited line", WAIT, |v| {
        common::is_access_log(v) && v["termination"] == "rate_limited"
    });
    assert_eq!(text(&log, "client"), "192.0.2.7:40000", "{log}");
    // Same balancer, another client behind it: not limited.
    echo_roundtrip(&mut via_balancer("192.0.2.8"), b"ok");
}
