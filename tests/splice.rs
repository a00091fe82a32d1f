//! The splice relay (`relay = "splice"`) beyond what the shared relay, half-close and timeout
//! tests run for both relays: TLS pass-through (opaque bytes after a replayed ClientHello),
//! and thousands of idle connections that must not hold pipes. Its own test binary: the
//! many-connections test holds ~8,000 fds across this process and the proxy.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::backends::{EchoServer, TestListener};
use common::streams::{both_ways, echo_all};
use common::{Proxy, ProxyConfig, WAIT, connect, num, raise_nofile_limit, raw_tls, text};

const BIG: usize = 100 * 1024 * 1024;

fn passthrough_toml(backend: &TestListener) -> String {
    format!(
        r#"[runtime]
workers = 2

[[listener]]
name = "pass"
bind = "127.0.0.1:0"
tls = "passthrough"
default_route = "broker"
relay = "splice"

[[route]]
name = "broker"
listener = "pass"
sni = ["broker.example.com"]
backend = "broker"

[[backend]]
name = "broker"
servers = ["{}"]
"#,
        backend.addr
    )
}

/// Pass-through: the proxy reads the ClientHello to route, replays it to the broker (the
/// prelude, sent before splicing starts), then splices whatever follows, untouched.
#[test]
fn passthrough_splices_a_hundred_mib_each_way_after_the_replayed_client_hello() {
    let backend = TestListener::bind();
    let proxy = Proxy::start_toml(&passthrough_toml(&backend));
    let mut client = connect(proxy.listen_addr("pass"));
    let client_addr = client.local_addr().unwrap();
    let hello = raw_tls::rustls_client_hello(Some("broker.example.com"));
    client.write_all(&hello).unwrap();
    let mut server = backend.accept_within(WAIT);
    let mut replayed = vec![0u8; hello.len()];
    server.read_exact(&mut replayed).unwrap();
    assert_eq!(
        replayed, hello,
        "the ClientHello reaches the broker unchanged"
    );

    let results = both_ways(&client, &server, BIG);
    assert_eq!(
        results,
        (BIG, BIG),
        "short streams (client→server, server→client)"
    );
    drop((client, server));

    let log = proxy.access_log_for(client_addr);
    assert_eq!(text(&log, "relay"), "splice", "{log}");
    assert_eq!(text(&log, "route"), "broker", "{log}");
    assert_eq!(
        num(&log, "bytes_in"),
        (BIG + hello.len()) as u64,
        "bytes_in counts the replayed ClientHello: {log}"
    );
    assert_eq!(num(&log, "bytes_out"), BIG as u64, "{log}");
}

const CONNECTIONS: usize = 2_000;
/// Pipes per worker: far fewer than connections, so the test fails if idle connections kept
/// their pipes (later connections would wait for one forever) or if the pool grew past it.
const PIPES_PER_WORKER: u32 = 4;
const WORKERS: usize = 2;

/// Pipes the process has open right now (`/proc/PID/fd` links to `pipe:[inode]`).
fn open_pipes(pid: libc::pid_t) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc/PID/fd")
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("pipe:"))
        .count()
}

#[test]
fn two_thousand_spliced_connections_share_a_few_pipes_and_idle_ones_hold_none() {
    let limit = raise_nofile_limit();
    assert!(
        limit >= 2 * CONNECTIONS as u64 + 200,
        "RLIMIT_NOFILE hard limit {limit} is too low for {CONNECTIONS} proxied connections"
    );
    let echo = EchoServer::start();
    let mut config = ProxyConfig::to(&[echo.addr]);
    config.workers = WORKERS;
    config.relay = "splice";
    config.relay_pipes = PIPES_PER_WORKER;
    let proxy = Proxy::start(&config);
    let pipes_before = open_pipes(proxy.pid());
    assert!(
        pipes_before >= 2 * WORKERS,
        "each worker makes one pipe at start; {pipes_before} pipe fds open"
    );
    let fds_before = proxy.fd_count();
    let addr = proxy.listen_addr("mqtt");

    let mut clients: Vec<(TcpStream, Vec<u8>)> = (0..CONNECTIONS)
        .map(|i| {
            let s = connect(addr);
            let msg = format!("connection {i:05} says hello through a pipe\n").into_bytes();
            (s, msg)
        })
        .collect();
    // Everyone writes before anyone reads: up to 2,000 directions want a pipe at once and
    // most must wait for one to come back.
    echo_all(&mut clients, || proxy.stderr_tail(20));
    echo.wait_open(CONNECTIONS, WAIT);

    // All idle now. Each pipe is two fds; each connection two sockets. Each worker made one
    // pipe at start (counted in `pipes_before`); it may have made up to PIPES_PER_WORKER - 1
    // more, and idle connections must hold none beyond that.
    let pipe_fds = open_pipes(proxy.pid()) - pipes_before;
    let cap = 2 * WORKERS * (PIPES_PER_WORKER as usize - 1);
    assert!(
        pipe_fds <= cap,
        "{pipe_fds} more pipe fds than at start with idle connections (cap {cap})"
    );
    let fds = proxy.fd_count() - fds_before;
    assert!(
        fds <= 2 * CONNECTIONS + cap,
        "{fds} fds for {CONNECTIONS} idle connections: more than two sockets each plus the pipe pool"
    );
    // Idle connections still work, in both directions, after the pool went round.
    for (i, (s, _)) in clients.iter_mut().enumerate().step_by(97) {
        common::echo_roundtrip(s, format!("again {i}").as_bytes());
    }

    drop(clients);
    let logs = proxy.wait_for_count("access-log lines", CONNECTIONS, WAIT, |l| {
        common::is_access_log(l)
    });
    for log in &logs {
        assert_eq!(text(log, "relay"), "splice", "{log}");
        assert_eq!(text(log, "termination"), "client_closed", "{log}");
    }
}
