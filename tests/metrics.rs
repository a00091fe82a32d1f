//! The admin listener's `/metrics`, scraped over a real socket while real connections go
//! through the proxy: the counters move by exactly what happened (and agree with the access
//! log), garbage HTTP gets an error and the next scrape still works, and a port in use is a
//! start-up error.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::admin::{request, scrape, scrape_until};
use common::backends::{EchoServer, RefusingPort};
use common::offload::{dir_with_pki, kernel_has_ktls, terminate_config};
use common::pki::Pki;
use common::tls_client::TlsClient;
use common::{
    Proxy, TempDir, WAIT, connect, echo_roundtrip, expect_closed, num, read_to_eof, run_to_exit,
    shutdown_write, text,
};

const ADMIN: &str = "\n[admin]\nlisten = \"127.0.0.1:0\"\n";

fn plain_config(echo: SocketAddr, dead: SocketAddr) -> String {
    format!("{}{ADMIN}", plain_listeners(echo, dead))
}

/// Three plain listeners: `mqtt` and `tiny` (max_connections = 1) to an echo server, `dead`
/// to a port that refuses.
fn plain_listeners(echo: SocketAddr, dead: SocketAddr) -> String {
    format!(
        r#"[runtime]
workers = 2

[[listener]]
name = "mqtt"
bind = "127.0.0.1:0"
backend = "echo"

[[listener]]
name = "tiny"
bind = "127.0.0.1:0"
backend = "echo"
max_connections = 1

[[listener]]
name = "dead"
bind = "127.0.0.1:0"
backend = "dead"

[[backend]]
name = "echo"
servers = ["{echo}"]

[[backend]]
name = "dead"
servers = ["{dead}"]
"#
    )
}

#[test]
fn plain_connections_move_the_counters_exactly() {
    let echo = EchoServer::start();
    let dead = RefusingPort::new();
    let proxy = Proxy::start_toml(&plain_config(echo.addr, dead.addr));
    let admin = proxy.admin_addr();
    let l = |name| [("listener", name)];

    let before = scrape(admin);
    assert_eq!(before.get("ringress_workers", &[]), 2);
    assert_eq!(
        before.get("ringress_ktls_available", &[]),
        0,
        "no listener terminates TLS"
    );
    assert_eq!(
        before.get(
            "ringress_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1
    );
    for name in ["mqtt", "tiny", "dead"] {
        assert!(before.has("ringress_connections_accepted_total", &l(name)));
        assert_eq!(
            before.get("ringress_connections_accepted_total", &l(name)),
            0
        );
        assert_eq!(before.get("ringress_connections_open", &l(name)), 0);
    }
    assert_eq!(before.get("ringress_connections_max", &l("tiny")), 1);
    assert!(
        before
            .family("ringress_connections_closed_total")
            .is_empty()
    );
    assert!(
        before
            .text
            .contains("# TYPE ringress_connections_closed_total counter\n")
    );

    // Three clients, each echoing one message and closing first.
    let messages: [&[u8]; 3] = [b"hello", b"MQTT CONNECT", b"0123456789abcdef0123"];
    let mut sent = 0;
    for msg in messages {
        let mut s = connect(proxy.listen_addr("mqtt"));
        echo_roundtrip(&mut s, msg);
        sent += msg.len() as u64;
        shutdown_write(&s);
        assert!(read_to_eof(&mut s).is_empty());
        let log = proxy.access_log_for(s.local_addr().unwrap());
        assert_eq!(text(&log, "termination"), "client_closed", "{log}");
    }
    let closed = [("listener", "mqtt"), ("termination", "client_closed")];
    let s = scrape_until(admin, "ringress_connections_closed_total", &closed, 3);
    assert_eq!(s.get("ringress_connections_accepted_total", &l("mqtt")), 3);
    assert_eq!(s.get("ringress_bytes_in_total", &l("mqtt")), sent);
    assert_eq!(s.get("ringress_bytes_out_total", &l("mqtt")), sent);
    let logged: u64 = proxy.access_logs().iter().map(|v| num(v, "bytes_in")).sum();
    assert_eq!(logged, sent, "the access log and the metric agree");
    assert_eq!(s.get("ringress_connections_open", &l("mqtt")), 0);
    assert_eq!(
        s.family("ringress_connections_closed_total").len(),
        1,
        "{}",
        s.text
    );

    // `tiny` allows one connection: the second is refused, and counted as closed too.
    let mut held = connect(proxy.listen_addr("tiny"));
    echo_roundtrip(&mut held, b"first");
    let mut refused = connect(proxy.listen_addr("tiny"));
    expect_closed(&mut refused, WAIT);
    let limit = [("listener", "tiny"), ("termination", "limit_reached")];
    let s = scrape_until(admin, "ringress_connections_closed_total", &limit, 1);
    let reason = [("listener", "tiny"), ("reason", "limit_reached")];
    assert_eq!(s.get("ringress_connections_refused_total", &reason), 1);
    assert_eq!(s.get("ringress_connections_accepted_total", &l("tiny")), 2);
    assert_eq!(s.get("ringress_connections_open", &l("tiny")), 1);
    drop(held);

    // `dead` forwards to a port that refuses.
    let mut s = connect(proxy.listen_addr("dead"));
    expect_closed(&mut s, WAIT);
    let refused = [("listener", "dead"), ("termination", "connect_refused")];
    let s = scrape_until(admin, "ringress_connections_closed_total", &refused, 1);
    let dead_server = dead.addr.to_string();
    let failure = [
        ("backend", "dead"),
        ("server", dead_server.as_str()),
        ("cause", "connect_refused"),
    ];
    assert_eq!(
        s.get("ringress_backend_connect_failures_total", &failure),
        1
    );
    let echo_server = echo.addr.to_string();
    let connects = [("backend", "echo"), ("server", echo_server.as_str())];
    assert_eq!(s.get("ringress_backend_connects_total", &connects), 4);
    assert_eq!(
        s.family("ringress_backend_connects_total").len(),
        1,
        "{}",
        s.text
    );

    // Every connection is closed now; nothing was lost to a full label table.
    let closed = [("listener", "tiny"), ("termination", "client_closed")];
    let s = scrape_until(admin, "ringress_connections_closed_total", &closed, 1);
    for name in ["mqtt", "tiny", "dead"] {
        assert_eq!(
            s.get("ringress_connections_open", &l(name)),
            0,
            "{}",
            s.text
        );
    }
    let accepted: u64 = s
        .family("ringress_connections_accepted_total")
        .iter()
        .map(|(_, v)| v)
        .sum();
    let closed: u64 = s
        .family("ringress_connections_closed_total")
        .iter()
        .map(|(_, v)| v)
        .sum();
    assert_eq!((accepted, closed), (6, 6), "{}", s.text);
    assert_eq!(s.get("ringress_metrics_dropped_total", &[]), 0);
    // Nothing checks health yet: no server_up samples rather than made-up ones.
    assert!(s.family("ringress_server_up").is_empty(), "{}", s.text);
}

#[test]
fn tls_terminate_counts_handshakes_offload_and_payload() {
    let pki = Pki::generate();
    let echo = EchoServer::start();
    let dir = dir_with_pki(&pki);
    let config = format!("{}{ADMIN}", terminate_config("auto", echo.addr));
    let proxy = Proxy::start_toml_in(dir, &config);
    let admin = proxy.admin_addr();
    let addr = proxy.listen_addr("mqtts");
    let l = [("listener", "mqtts")];

    let before = scrape(admin);
    let ktls = kernel_has_ktls();
    assert_eq!(before.get("ringress_ktls_available", &[]), ktls as u64);
    assert_eq!(before.get("ringress_tls_handshakes_total", &l), 0);
    for mode in ["kernel", "userspace"] {
        let labels = [("listener", "mqtts"), ("mode", mode)];
        assert!(
            before.has("ringress_tls_offload_total", &labels),
            "{}",
            before.text
        );
    }

    let client = TlsClient::new("test1.example.com", &[&pki.ca]);
    let messages: [&[u8]; 2] = [b"over TLS", b"a second, longer message over TLS"];
    let mut terminations = Vec::new();
    for msg in messages {
        let mut conn = client.connect(addr).unwrap();
        assert_eq!(conn.echo(msg).unwrap(), msg);
        let local = conn.local;
        conn.close();
        terminations.push(text(&proxy.access_log_for(local), "termination"));
    }
    let sent: u64 = messages.iter().map(|m| m.len() as u64).sum();

    // A client that speaks plain text to the TLS port fails the "handshake" at its first byte.
    let mut plain = connect(addr);
    plain.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    expect_closed(&mut plain, WAIT);
    let cause = [("listener", "mqtts"), ("cause", "tls_not_tls")];
    let s = scrape_until(admin, "ringress_tls_handshake_failures_total", &cause, 1);

    assert_eq!(s.get("ringress_tls_handshakes_total", &l), 2);
    assert_eq!(
        s.family("ringress_tls_handshake_failures_total").len(),
        1,
        "{}",
        s.text
    );
    let (offloaded, fallback) = if ktls {
        ("kernel", None)
    } else {
        ("userspace", Some("ktls_unavailable"))
    };
    let mode = [("listener", "mqtts"), ("mode", offloaded)];
    assert_eq!(s.get("ringress_tls_offload_total", &mode), 2, "{}", s.text);
    match fallback {
        Some(reason) => {
            let labels = [("listener", "mqtts"), ("reason", reason)];
            assert_eq!(
                s.get("ringress_tls_offload_fallback_total", &labels),
                2,
                "{}",
                s.text
            );
            let logged = proxy.access_logs();
            assert!(
                logged
                    .iter()
                    .filter(|v| text(v, "tls_offload") == "userspace")
                    .count()
                    == 2
            );
        }
        None => assert!(s.family("ringress_tls_offload_fallback_total").is_empty()),
    }
    // Payload both ways, without TLS records: what the access log says, too.
    let s = scrape_until(admin, "ringress_bytes_out_total", &l, sent);
    assert_eq!(s.get("ringress_bytes_in_total", &l), sent);
    let logs = proxy.access_logs();
    let logged_in: u64 = logs.iter().map(|v| num(v, "bytes_in")).sum();
    let logged_out: u64 = logs.iter().map(|v| num(v, "bytes_out")).sum();
    assert_eq!((logged_in, logged_out), (sent, sent));
    // Closed counts per keyword equal the access log's.
    for keyword in terminations.iter().chain(["tls_not_tls".to_owned()].iter()) {
        let want = logs
            .iter()
            .filter(|v| text(v, "termination") == *keyword)
            .count() as u64;
        let labels = [("listener", "mqtts"), ("termination", keyword.as_str())];
        assert_eq!(
            s.get("ringress_connections_closed_total", &labels),
            want,
            "{}",
            s.text
        );
    }
    assert_eq!(s.get("ringress_connections_accepted_total", &l), 3);
}

#[test]
fn garbage_requests_are_answered_and_scraping_goes_on() {
    let echo = EchoServer::start();
    let dead = RefusingPort::new();
    let mut proxy = Proxy::start_toml(&plain_config(echo.addr, dead.addr));
    let admin = proxy.admin_addr();

    let oversized = [b"GET /metrics HTTP/1.1\r\nX: ".as_slice(), &[b'a'; 9000]].concat();
    let cases: [(&[u8], u16); 9] = [
        (b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405),
        (b"DELETE /metrics HTTP/1.0\r\n\r\n", 405),
        (b"GET / HTTP/1.1\r\n\r\n", 404),
        (b"GET /metrics/../etc/passwd HTTP/1.1\r\n\r\n", 404),
        (b"GET /metrics HTTP/2.0\r\n\r\n", 400),
        (b"\x00\x01\x02\xff\xfe garbage\r\n\r\n", 400),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
        (b"GET\r\n\r\n", 400),
        (&oversized, 431),
    ];
    for (req, status) in cases {
        let r = request(admin, req);
        assert_eq!(
            r.status,
            status,
            "{:?} → {r:?}",
            String::from_utf8_lossy(&req[..req.len().min(40)])
        );
        assert!(r.head.contains("\r\nConnection: close"), "{}", r.head);
        scrape(admin);
    }
    let head = request(admin, b"HEAD /metrics HTTP/1.1\r\n\r\n");
    assert_eq!((head.status, head.body.as_str()), (200, ""));

    // A client that connects and says nothing, or half a request, is cut off after the read
    // deadline (2 s) without an answer; a scrape waiting behind it is then served.
    for partial in [b"".as_slice(), b"GET /metr"] {
        let mut slow = TcpStream::connect(admin).unwrap();
        slow.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        slow.write_all(partial).unwrap();
        let start = Instant::now();
        let mut rest = Vec::new();
        let n = slow.read_to_end(&mut rest).expect("closed, not reset");
        assert_eq!(n, 0, "no answer to an incomplete request: {rest:?}");
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(1500) && waited < Duration::from_secs(8),
            "{waited:?}"
        );
        scrape(admin);
    }
    // Clients that vanish mid-request or before reading the answer.
    for _ in 0..20 {
        let mut s = TcpStream::connect(admin).unwrap();
        let _ = s.write_all(b"GET /metrics HTTP/1.1\r\n\r\n");
        drop(s);
        drop(TcpStream::connect(admin).unwrap());
    }
    let s = scrape(admin);
    assert_eq!(s.get("ringress_workers", &[]), 2);
    assert!(proxy.try_exit().is_none(), "the proxy is still running");
    // The proxy path is unaffected by all that.
    let mut c = connect(proxy.listen_addr("mqtt"));
    echo_roundtrip(&mut c, b"still relaying");
}

#[test]
fn admin_port_in_use_is_a_start_up_error() {
    let echo = EchoServer::start();
    let dead = RefusingPort::new();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let config = format!(
        "{}\n[admin]\nlisten = \"{addr}\"\n",
        plain_listeners(echo.addr, dead.addr)
    );
    let dir = TempDir::new("metrics-bind");
    let path = dir.write("ringress.toml", &config);
    let out = run_to_exit(
        &["run", "-c", path.to_str().unwrap()],
        Duration::from_secs(20),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(
        errors,
        [format!(
            "error: admin listener: cannot listen on {addr}: Address already in use (os error 98)"
        )],
        "{stderr}"
    );
    drop(taken);
}
