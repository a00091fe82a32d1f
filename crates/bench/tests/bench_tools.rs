//! The benchmark tools end to end, as `perf/compare` uses them: `ringress-load` through the
//! real proxy (TLS terminated in userspace) to `ringress-sink`. What the load generator says
//! it sent must be what the sink counts, including with several TLS records per write (the
//! proxy then decrypts many records per read), and the sink's SIGUSR1 snapshots must count
//! the same messages (compare divides CPU by the messages delivered within its window).

// The proxy package's test harness (it starts the real `ringress` binary).
#[path = "../../../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use common::backends::{free_port, wait_port_open};
use common::offload::{dir_with_pki, terminate_config};
use common::pki::Pki;
use common::{Proxy, WAIT};
use serde_json::Value;

struct Sink {
    child: Child,
    lines: std::io::Lines<BufReader<ChildStdout>>,
    addr: SocketAddr,
}

impl Sink {
    fn start() -> Sink {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_ringress-sink"))
            .args(["-l", &addr.to_string(), "--exit-after", "2m"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ringress-sink");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        wait_port_open(addr, WAIT);
        Sink { child, lines, addr }
    }

    fn signal(&self, sig: libc::c_int) {
        common::signal_child(&self.child, sig);
    }

    fn next_json(&mut self) -> Value {
        let line = self.lines.next().expect("a line from the sink").unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    /// Messages received so far, by SIGUSR1.
    fn snapshot(&mut self) -> u64 {
        self.signal(libc::SIGUSR1);
        let v = self.next_json();
        v["snapshot"]["messages"]
            .as_u64()
            .unwrap_or_else(|| panic!("not a snapshot: {v}"))
    }

    /// Stops the sink; its final summary.
    fn stop(mut self) -> Value {
        self.signal(libc::SIGTERM);
        let v = self.next_json();
        let _ = self.child.wait();
        v
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `ringress-load` to its end; its JSON summary.
fn load(target: SocketAddr, ca: &std::path::Path, extra: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_ringress-load"))
        .args([
            "-t",
            &target.to_string(),
            "--tls",
            "--sni",
            "test1.example.com",
        ])
        .arg("--ca")
        .arg(ca)
        .args(["--progress", "never", "--threads", "1"])
        .args(extra)
        .output()
        .expect("run ringress-load");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ringress-load failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{stdout}: {e}"))
}

/// Polls the sink's snapshots until they reach `want` (the proxy may still be forwarding
/// when the load generator exits); the last count seen.
fn delivered(sink: &mut Sink, want: u64) -> u64 {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = sink.snapshot();
        if got >= want || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn publish_through_proxy(records_per_write: &str) {
    let pki = Pki::generate();
    let mut sink = Sink::start();
    let dir = dir_with_pki(&pki);
    let ca = dir.path().join("pki/ca.crt");
    let proxy = Proxy::start_toml_in(dir, &terminate_config("userspace", sink.addr));
    let before = sink.snapshot();
    assert_eq!(before, 0);

    let summary = load(
        proxy.listen_addr("mqtts"),
        &ca,
        &[
            "-n",
            "20",
            "-s",
            "64",
            "-d",
            "1s",
            "--records-per-write",
            records_per_write,
        ],
    );
    assert_eq!(summary["connections"]["established"], 20, "{summary}");
    assert_eq!(summary["connections"]["failed"], 0, "{summary}");
    let sent = summary["messages_sent"].as_u64().unwrap();
    assert!(sent >= 1000, "only {sent} messages in 1 s: {summary}");

    assert_eq!(
        delivered(&mut sink, sent),
        sent,
        "sink snapshot vs messages sent"
    );
    let end = sink.stop();
    assert_eq!(end["messages"].as_u64(), Some(sent), "{end}");
    assert_eq!(end["connects"].as_u64(), Some(20), "{end}");
    assert_eq!(end["errors"].as_u64(), Some(0), "{end}");
}

#[test]
fn every_message_sent_one_record_per_write_reaches_the_sink() {
    publish_through_proxy("1");
}

#[test]
fn every_message_sent_sixteen_records_per_write_reaches_the_sink() {
    publish_through_proxy("16");
}
