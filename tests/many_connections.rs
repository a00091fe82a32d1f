//! 5,000 concurrent connections through 2 workers. Its own test binary (its own process):
//! the process holds 10,000 fds (client and backend side), and the per-process limit on the
//! test machines is 20,000.

mod common;

use std::collections::HashMap;
use std::net::TcpStream;
use std::time::Duration;

use common::backends::EchoServer;
use common::streams::echo_all;
use common::{Proxy, ProxyConfig, WAIT, connect, num, raise_nofile_limit, text};

const CONNECTIONS: usize = 5_000;

#[test]
fn five_thousand_concurrent_connections_spread_over_both_workers() {
    let limit = raise_nofile_limit();
    assert!(
        limit >= 2 * CONNECTIONS as u64 + 200,
        "RLIMIT_NOFILE hard limit {limit} is too low for {CONNECTIONS} proxied connections"
    );
    let echo = EchoServer::start();
    let mut config = ProxyConfig::to(&[echo.addr]);
    config.workers = 2;
    let proxy = Proxy::start(&config);
    let addr = proxy.listen_addr("mqtt");

    // 5,000 client ports and 5,000 proxy→backend ports fit the default ephemeral range
    // (32768–60999) from 127.0.0.1, so one source address is enough.
    let mut clients: Vec<(TcpStream, Vec<u8>)> = Vec::with_capacity(CONNECTIONS);
    for i in 0..CONNECTIONS {
        let s = connect(addr);
        let msg = format!("connection {i:05} from {}\n", s.local_addr().unwrap()).into_bytes();
        clients.push((s, msg));
    }
    echo_all(&mut clients, || proxy.stderr_tail(20));
    // All 5,000 are open at once: every one has its backend connection open, and none has
    // been logged as closed.
    echo.wait_open(CONNECTIONS, WAIT);
    assert_eq!(echo.accepted(), CONNECTIONS);
    assert_eq!(proxy.access_logs().len(), 0, "connections closed early");

    let by_client: HashMap<String, usize> = clients
        .iter()
        .map(|(s, m)| (s.local_addr().unwrap().to_string(), m.len()))
        .collect();
    drop(clients);

    let logs = proxy.wait_for_count(
        "access-log lines",
        CONNECTIONS,
        Duration::from_secs(60),
        common::is_access_log,
    );
    assert_eq!(
        logs.len(),
        CONNECTIONS,
        "more access-log lines than connections"
    );
    let mut per_worker: HashMap<u64, usize> = HashMap::new();
    for log in &logs {
        let len = by_client
            .get(&text(log, "client"))
            .unwrap_or_else(|| panic!("access log for an unknown client: {log}"));
        assert_eq!(num(log, "bytes_in"), *len as u64, "{log}");
        assert_eq!(num(log, "bytes_out"), *len as u64, "{log}");
        assert_eq!(text(log, "termination"), "client_closed", "{log}");
        *per_worker.entry(num(log, "worker")).or_default() += 1;
    }
    let mut shares: Vec<_> = per_worker.iter().collect();
    shares.sort();
    eprintln!("connections per worker: {shares:?}");
    for w in [0, 1] {
        let n = per_worker.get(&w).copied().unwrap_or(0);
        assert!(
            n >= CONNECTIONS / 10,
            "worker {w} accepted {n} of {CONNECTIONS} (shares {shares:?}); \
             each worker should accept ≥ 10% through its own SO_REUSEPORT listener"
        );
    }
    assert_eq!(per_worker.len(), 2, "unexpected worker ids: {shares:?}");
    echo.wait_open(0, WAIT);
}
