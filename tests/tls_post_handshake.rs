//! What a TLS client may do after the handshake, through the real binary and real clients:
//! a KeyUpdate flood from tlslite-ng (which sends KeyUpdates on request) against a broker that
//! never writes, and a TLS 1.2 renegotiation request from OpenSSL 3.6's `s_client`.
//!
//! Every test runs once per `tls_records` setting: our record layer ("own", the default) and
//! rustls' ("rustls", the fallback). They differ in one visible way: over a bound, ours sends
//! the fatal `unexpected_message` alert; rustls closes without one.
//!
//! Regressions from the security review of 61ac1b8 (issue 11, findings 2 and 9): the flood grew
//! the connection's memory 1:1 with the client's upload (+5.4 MB of RSS for 20,000 requests),
//! and the renegotiation hung until `server_idle` (60 s) because the `no_renegotiation` alert
//! rustls prepared was never written.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::backends::EchoServer;
use common::pki::Pki;
use common::sid::Peers;
use common::{Proxy, TempDir, num, text};

/// The python script that drives tlslite-ng.
const KEYUPDATE_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/peers/tls13_keyupdate.py"
);

/// A broker that accepts and never writes (nor closes): answers can only go out on their own.
struct QuietBroker {
    addr: SocketAddr,
}

impl QuietBroker {
    fn start() -> QuietBroker {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for mut sock in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while matches!(sock.read(&mut buf), Ok(n) if n > 0) {}
                });
            }
        });
        QuietBroker { addr }
    }
}

/// Both `tls_records` settings.
const RECORD_LAYERS: [&str; 2] = ["own", "rustls"];

/// What a client over a bound reads last with `records`: our layer's alert, or rustls'
/// close without one (tlslite-ng then reports the closed socket).
fn refusal(records: &str) -> &'static str {
    match records {
        "own" => "ALERT unexpected_message",
        _ => "CLOSED",
    }
}

fn config(backend: SocketAddr, records: &str) -> String {
    format!(
        r#"[runtime]
workers = 1

[[listener]]
name = "tls"
bind = "127.0.0.1:0"
tls = "terminate"
tls_offload = "userspace"
tls_records = "{records}"
default_route = "test1"

[[route]]
name = "test1"
listener = "tls"
sni = ["test1.example.com"]
cert = "pki/test1-chain.crt"
key = "pki/test1.key"
backend = "broker"

[[backend]]
name = "broker"
servers = ["{backend}"]

[timeouts]
client_idle = "60s"
server_idle = "60s"
"#
    )
}

fn start(backend: SocketAddr, records: &str) -> Proxy {
    start_with(backend, &Pki::generate(), records)
}

fn start_with(backend: SocketAddr, pki: &Pki, records: &str) -> Proxy {
    let dir = TempDir::new("post-handshake");
    pki.write_to(&dir.path().join("pki"));
    Proxy::start_toml_in(dir, &config(backend, records))
}

/// Runs the tlslite-ng script; fails loudly (never skips) when python or tlslite-ng is missing.
fn keyupdate_script(proxy: &Proxy, mode: &str, count: u32) -> (String, SocketAddr) {
    let addr = proxy.listen_addr("tls");
    let mut child = Command::new("python3")
        .args([
            KEYUPDATE_SCRIPT,
            &addr.ip().to_string(),
            &addr.port().to_string(),
            mode,
        ])
        .arg(count.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (tlslite-ng from PyPI; .ci/run installs it)");
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "{KEYUPDATE_SCRIPT} {mode} failed: {status}\n{stdout}\n{stderr}"
    );
    let local = stdout
        .lines()
        .find_map(|l| l.strip_prefix("LOCAL "))
        .unwrap_or_else(|| panic!("no LOCAL line:\n{stdout}\n{stderr}"))
        .parse()
        .unwrap();
    (stdout, local)
}

/// 20,000 KeyUpdate(update_requested) records in a row, a broker that never writes: the
/// connection is closed once it passes the bound, and the proxy's memory does not follow the
/// client's upload.
#[test]
fn key_update_flood_is_refused_and_costs_no_memory_regression() {
    for records in RECORD_LAYERS {
        let broker = QuietBroker::start();
        let proxy = start(broker.addr, records);
        let rss_before = proxy.rss_kib();
        let (out, local) = keyupdate_script(&proxy, "flood", 20_000);
        let log = proxy.access_log_for(local);
        assert_eq!(
            text(&log, "termination"),
            "tls_too_many_key_updates",
            "tls_records = {records}\n{log}\n{out}"
        );
        let grown = proxy.rss_kib().saturating_sub(rss_before);
        // Before the fix: +5.4 MB. The bound leaves one 27-byte answer queued.
        assert!(
            grown < 1024,
            "tls_records = {records}: RSS grew by {grown} KiB during the flood\n{out}"
        );
    }
}

/// 33 requests and then silence: the client gets our one answer, then the refusal.
#[test]
fn key_updates_past_the_bound_get_a_fatal_alert() {
    refused_past_the_bound("bound");
}

/// 33 requests by the script's `mode`, against a broker that never writes, under both
/// `tls_records` settings: the client reads the refusal, the access log says why.
fn refused_past_the_bound(mode: &str) {
    for records in RECORD_LAYERS {
        let broker = QuietBroker::start();
        let proxy = start(broker.addr, records);
        let (out, local) = keyupdate_script(&proxy, mode, 33);
        assert!(
            out.contains(refusal(records)),
            "tls_records = {records}\n{out}"
        );
        let log = proxy.access_log_for(local);
        assert_eq!(
            text(&log, "termination"),
            "tls_too_many_key_updates",
            "tls_records = {records}\n{log}"
        );
    }
}

/// 32 requests are within the bound: the connection stays and still relays.
#[test]
fn key_updates_within_the_bound_keep_the_connection() {
    kept_within_the_bound("within");
}

/// 32 requests by the script's `mode`, then a message through an echo server, under both
/// `tls_records` settings: answered, relayed, echoed.
fn kept_within_the_bound(mode: &str) {
    for records in RECORD_LAYERS {
        let echo = EchoServer::start();
        let proxy = start(echo.addr, records);
        let (out, _) = keyupdate_script(&proxy, mode, 32);
        assert!(out.contains("ECHO ok"), "tls_records = {records}\n{out}");
    }
}

/// Regression (CI, under load): requests that arrive in the same read as the client's
/// Finished were processed by rustls, after which our record layer could not take the session
/// over (`tls_internal`), and the bound did not apply. The client now writes them in one go
/// with its Finished, so the server reads them as the end of its handshake every time.
#[test]
fn key_updates_behind_the_finished_are_bounded_regression() {
    refused_past_the_bound("bound-behind-finished");
}

/// 32 requests and a message in the client's Finished write: answered, relayed, echoed.
#[test]
fn key_updates_behind_the_finished_keep_the_connection_regression() {
    kept_within_the_bound("within-behind-finished");
}

/// OpenSSL 3.6 `s_client -tls1_2`, command `R`: ringress refuses at once (rustls'
/// `no_renegotiation` warning, which OpenSSL answers with a fatal alert), as HAProxy and nginx
/// do, instead of leaving the client mid-handshake until `server_idle`.
#[test]
fn tls12_renegotiation_is_refused_at_once_regression() {
    let Some(peers) = Peers::new("renegotiate") else {
        return;
    };
    for records in RECORD_LAYERS {
        renegotiation_is_refused(&peers, records);
    }
}

fn renegotiation_is_refused(peers: &Peers, records: &str) {
    let echo = EchoServer::start();
    let pki = Pki::generate();
    let proxy = start_with(echo.addr, &pki, records);
    // s_client verifies against the CA ringress's certificate chains to.
    pki.write_for_peers(&peers.host_path("pki"));
    let ca_path = peers.path("pki/ca.crt");
    let addr = proxy.listen_addr("tls");
    let connect = addr.to_string();
    let mut child = peers
        .client(&[
            "openssl",
            "s_client",
            "-tls1_2",
            "-connect",
            &connect,
            "-servername",
            "test1.example.com",
            "-CAfile",
            &ca_path,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn s_client");
    // The session summary ends with the verify result: the handshake is done.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen.contains("Verify return code") {
        assert!(Instant::now() < deadline, "no handshake:\n{seen}");
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            panic!("s_client ended before the handshake:\n{seen}");
        }
        seen.push_str(&line);
    }
    assert!(seen.contains("Verify return code: 0 (ok)"), "{seen}");
    let asked = Instant::now();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"R\n").unwrap();
    stdin.flush().unwrap();
    let status = common::sid::wait_child(&mut child, Duration::from_secs(20));
    let took = asked.elapsed();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    drop(stdin);
    assert!(
        took < Duration::from_secs(5),
        "tls_records = {records}: s_client waited {took:?} for an answer ({status})\n{stderr}"
    );
    let log = proxy.wait_for("the access line", Duration::from_secs(5), |l| {
        common::is_access_log(l) && text(l, "listener") == "tls"
    });
    assert_ne!(text(&log, "termination"), "server_idle_timeout", "{log}");
    assert!(num(&log, "duration_ms") < 10_000, "{log}");
    assert!(
        stderr.contains("no renegotiation") || stderr.contains("alert"),
        "{stderr}"
    );
}
