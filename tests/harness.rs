//! Checks of the harness's own assumptions about this kernel and these peers, so that a
//! failing proxy test is never really a broken test fixture.

mod common;

use std::io::ErrorKind;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::backends::{BlackholeListener, EchoServer, RefusingPort, TestListener};
use common::{connect, echo_roundtrip, expect_closed, shutdown_write};

#[test]
fn refusing_port_refuses_connects() {
    let port = RefusingPort::new();
    let err = TcpStream::connect_timeout(&port.addr, Duration::from_secs(5))
        .expect_err("a bound, non-listening port must refuse");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
}

#[test]
fn blackhole_listener_drops_syns_so_connects_time_out() {
    let hole = BlackholeListener::new();
    // A second, independent attempt: still not established after 700 ms, and not refused.
    let t = Instant::now();
    let err = TcpStream::connect_timeout(&hole.addr, Duration::from_millis(700))
        .expect_err("connect to a full accept queue must not complete");
    assert!(
        matches!(err.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock),
        "expected a timeout, got {err}"
    );
    assert!(t.elapsed() >= Duration::from_millis(650));
}

#[test]
fn echo_server_echoes_and_closes_after_client_eof() {
    let echo = EchoServer::start();
    let mut s = connect(echo.addr);
    echo_roundtrip(&mut s, b"hello");
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        w.write_all(&big).unwrap();
        big
    });
    let mut back = vec![0; 1_000_000];
    use std::io::Read;
    s.read_exact(&mut back).unwrap();
    assert_eq!(back, writer.join().unwrap());
    shutdown_write(&s);
    assert_eq!(
        expect_closed(&mut s, Duration::from_secs(5)),
        common::Closed::Eof
    );
    echo.wait_open(0, Duration::from_secs(5));
    assert_eq!(echo.accepted(), 1);
}

#[test]
fn test_listener_hands_over_connections() {
    let l = TestListener::bind();
    l.assert_no_connection(Duration::from_millis(50));
    let _c = connect(l.addr);
    let _s = l.accept_within(Duration::from_secs(5));
}

#[test]
fn mosquitto_broker_works_directly() {
    if !common::mosquitto::ensure_available() {
        return;
    }
    let broker = common::mosquitto::Broker::start();
    let mut sub =
        common::mosquitto::Subscriber::start(&broker, broker.addr, "harness-sub", "harness/t", 1);
    let (ok, out) = common::mosquitto::publish(broker.addr, "harness/t", 1, "direct-hello");
    assert!(ok, "mosquitto_pub failed:\n{out}");
    let (ok, stdout, stderr) = sub.finish(Duration::from_secs(15));
    assert!(
        ok && stdout.lines().any(|l| l == "direct-hello"),
        "{stdout}\n{stderr}"
    );
}
