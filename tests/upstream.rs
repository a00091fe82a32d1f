//! Upstream connect: connections are spread round-robin over a backend's servers (each worker
//! keeps its own rotation, worker `i` starting at server `i`); on refusal or timeout the next
//! server in the list is tried; when all fail the client is closed with `connect_refused` /
//! `connect_timeout`.

mod common;

use std::time::{Duration, Instant};

use common::backends::{BlackholeListener, EchoServer, RefusingPort};
use common::{Proxy, ProxyConfig, WAIT, connect, echo_roundtrip, expect_closed, num, text};

fn start(servers: &[std::net::SocketAddr], connect_timeout: &'static str) -> Proxy {
    let mut c = ProxyConfig::to(servers);
    c.connect_timeout = connect_timeout;
    Proxy::start(&c)
}

/// One worker: its rotation starts at the first server, so the first connection tries the
/// servers in list order — which the fail-over tests rely on.
fn start_one_worker(servers: &[std::net::SocketAddr], connect_timeout: &'static str) -> Proxy {
    let mut c = ProxyConfig::to(servers);
    c.connect_timeout = connect_timeout;
    c.workers = 1;
    Proxy::start(&c)
}

#[test]
fn refused_first_server_fails_over_to_the_second() {
    let refusing = RefusingPort::new();
    let echo = EchoServer::start();
    let proxy = start_one_worker(&[refusing.addr, echo.addr], "1s");
    let mut client = connect(proxy.listen_addr("mqtt"));
    let client_addr = client.local_addr().unwrap();
    echo_roundtrip(&mut client, b"hello second server");
    assert_eq!(echo.accepted(), 1);
    drop(client);
    let log = proxy.access_log_for(client_addr);
    assert_eq!(text(&log, "server"), echo.addr.to_string(), "{log}");
    assert_eq!(text(&log, "termination"), "client_closed", "{log}");
}

/// Round-robin: with both servers up, connections are shared between them whichever worker
/// accepts them (each worker alternates; their starting points differ by one).
#[test]
fn connections_are_spread_round_robin_over_healthy_servers() {
    let (first, second) = (EchoServer::start(), EchoServer::start());
    let proxy = start(&[first.addr, second.addr], "1s");
    let addr = proxy.listen_addr("mqtt");
    for i in 0..8 {
        let mut client = connect(addr);
        echo_roundtrip(&mut client, format!("connection {i}").as_bytes());
    }
    let (a, b) = (first.accepted(), second.accepted());
    assert_eq!(a + b, 8);
    assert!(
        (3..=5).contains(&a),
        "connections per server (first, second) = ({a}, {b}): not round-robin"
    );
}

#[test]
fn connect_timeout_on_first_server_fails_over_to_the_second() {
    let hole = BlackholeListener::new();
    let echo = EchoServer::start();
    let proxy = start_one_worker(&[hole.addr, echo.addr], "500ms");
    let t0 = Instant::now();
    let mut client = connect(proxy.listen_addr("mqtt"));
    let client_addr = client.local_addr().unwrap();
    echo_roundtrip(&mut client, b"after a timeout");
    let waited = t0.elapsed();
    drop(client);
    let log = proxy.access_log_for(client_addr);
    assert_eq!(text(&log, "server"), echo.addr.to_string(), "{log}");
    assert_eq!(text(&log, "termination"), "client_closed", "{log}");
    // The first server was really tried (and waited for) before the second: the first
    // connection of the only worker starts at the first server, so the echo cannot come
    // back before the 500 ms connect timeout.
    assert!(
        waited >= Duration::from_millis(400),
        "echo after {waited:?}: the first server's 500ms connect timeout was not waited for; \
         access log: {log}\n{}",
        proxy.stderr_tail(10)
    );
}

#[test]
fn only_server_times_out_closes_client_with_connect_timeout() {
    let hole = BlackholeListener::new();
    let proxy = start(&[hole.addr], "500ms");
    let mut client = connect(proxy.listen_addr("mqtt"));
    let client_addr = client.local_addr().unwrap();
    let t0 = Instant::now();
    expect_closed(&mut client, Duration::from_secs(10));
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(400),
        "closed after {waited:?}, before the 500ms connect timeout"
    );
    let log = proxy.access_log_for(client_addr);
    assert_eq!(text(&log, "termination"), "connect_timeout", "{log}");
    assert_eq!(text(&log, "server"), "-", "{log}");
    assert_eq!(num(&log, "bytes_out"), 0, "{log}");
}

#[test]
fn all_servers_refuse_closes_client_with_connect_refused() {
    let (a, b) = (RefusingPort::new(), RefusingPort::new());
    let proxy = start(&[a.addr, b.addr], "1s");
    let mut client = connect(proxy.listen_addr("mqtt"));
    let client_addr = client.local_addr().unwrap();
    expect_closed(&mut client, WAIT);
    let log = proxy.access_log_for(client_addr);
    assert_eq!(text(&log, "termination"), "connect_refused", "{log}");
    assert_eq!(text(&log, "server"), "-", "{log}");
}

/// Data the client sends before the upstream connection exists must not be lost: it is
/// delivered once the (second) server is connected.
#[test]
fn bytes_sent_during_failover_reach_the_second_server() {
    let hole = BlackholeListener::new();
    let echo = EchoServer::start();
    let proxy = start(&[hole.addr, echo.addr], "500ms");
    let mut client = connect(proxy.listen_addr("mqtt"));
    use std::io::{Read, Write};
    // Written immediately, while the proxy is still waiting on the black hole.
    client.write_all(b"early bytes").unwrap();
    let mut got = [0u8; 11];
    client
        .read_exact(&mut got)
        .expect("echo of the early bytes");
    assert_eq!(&got, b"early bytes");
}
