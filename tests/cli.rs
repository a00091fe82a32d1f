//! The command line: `check`, start-up failures of `run`, and the embedded default.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use common::{Proxy, ProxyConfig, TempDir, WAIT, run_to_exit};

const GOOD: &str = r#"[runtime]
workers = 2
shutdown_grace = "30s"

[[listener]]
name = "edge-mqtt"
bind = "127.0.0.1:0"
tls = "none"
backend = "broker"
max_connections = 100000

[[backend]]
name = "broker"
servers = ["127.0.0.1:1883", "127.0.0.1:1884"]
connect_timeout = "1s"

[timeouts]
client_idle = "60s"
server_idle = "60s"
"#;

/// `GOOD` with line `line` (1-based) replaced by `replacement`.
fn good_with_line(line: usize, replacement: &str) -> String {
    let mut lines: Vec<&str> = GOOD.lines().collect();
    lines[line - 1] = replacement;
    lines.join("\n") + "\n"
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in config"))
        + 1
}

fn check(contents: &str) -> (TempDir, String, std::process::Output) {
    let dir = TempDir::new("cli");
    let path = dir.write("ringress.toml", contents);
    let path = path.to_str().unwrap().to_string();
    let out = run_to_exit(&["check", "-c", &path], WAIT);
    (dir, path, out)
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts `check` failed with `error: FILE:LINE: KEY: ...` naming `key`.
fn assert_config_error(contents: &str, line: usize, key: &str) {
    let (_dir, path, out) = check(contents);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "exit status; stderr:\n{err}");
    let first = err.lines().next().unwrap_or("");
    let prefix = format!("error: {path}:{line}: ");
    assert!(
        first.starts_with(&prefix),
        "expected stderr to start with {prefix:?}, got:\n{err}"
    );
    let rest = &first[prefix.len()..];
    assert!(
        rest.contains(key),
        "the message does not name key {key:?}:\n{err}"
    );
    assert!(
        rest.contains("expected"),
        "the message does not say what was expected:\n{err}"
    );
}

#[test]
fn check_accepts_a_good_file_and_summarises_it() {
    let (_dir, _path, out) = check(GOOD);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{}", stderr(&out));
    assert!(
        stdout.contains("edge-mqtt"),
        "summary lacks the listener name:\n{stdout}"
    );
}

#[test]
fn check_rejects_an_unknown_key_naming_file_line_and_key() {
    let line = line_of(GOOD, "max_connections");
    let bad = good_with_line(line, "max_connectoins = 100000");
    assert_config_error(&bad, line, "max_connectoins");
}

#[test]
fn check_rejects_a_listener_naming_a_missing_backend() {
    let line = line_of(GOOD, "backend = \"broker\"");
    let bad = good_with_line(line, "backend = \"nowhere\"");
    assert_config_error(&bad, line, "backend");
}

#[test]
fn check_rejects_a_bad_duration() {
    let line = line_of(GOOD, "connect_timeout");
    let bad = good_with_line(line, "connect_timeout = \"5 parsecs\"");
    assert_config_error(&bad, line, "connect_timeout");
}

#[test]
fn check_rejects_a_bad_duration_in_timeouts() {
    let line = line_of(GOOD, "client_idle");
    let bad = good_with_line(line, "client_idle = \"-1s\"");
    assert_config_error(&bad, line, "client_idle");
}

/// Issue 11, finding 7: durations have a maximum, so a value whose sum with the clock
/// overflowed the worker's deadline arithmetic is refused at load.
#[test]
fn check_rejects_a_duration_above_its_maximum() {
    let line = line_of(GOOD, "connect_timeout");
    let bad = good_with_line(line, "connect_timeout = \"5124095576030h\"");
    assert_config_error(&bad, line, "connect_timeout");
    let (_dir, _path, out) = check(&bad);
    assert!(
        stderr(&out).contains("(expected at most \"5m\""),
        "{}",
        stderr(&out)
    );
}

/// Lines of stderr that are not JSON log lines.
fn plain_lines(raw: &[String]) -> Vec<String> {
    raw.iter()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_err())
        .cloned()
        .collect()
}

#[test]
fn run_on_a_port_in_use_fails_with_one_error_line() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = taken.local_addr().unwrap();
    let toml = ProxyConfig::to(&["127.0.0.1:9".parse().unwrap()])
        .to_toml()
        .replace("bind = \"127.0.0.1:0\"", &format!("bind = \"{addr}\""));
    let mut proxy = Proxy::spawn_toml(&toml);
    let status = proxy.wait_exit(WAIT);
    let raw = proxy.raw_lines();
    assert_eq!(
        status.code(),
        Some(1),
        "exit status; stderr:\n{}",
        raw.join("\n")
    );
    let plain = plain_lines(&raw);
    assert_eq!(
        plain.len(),
        1,
        "expected one non-JSON line on stderr, got:\n{}",
        raw.join("\n")
    );
    assert!(plain[0].starts_with("error: "), "{}", plain[0]);
    assert!(
        plain[0].contains(&addr.to_string()),
        "the error does not name {addr}: {}",
        plain[0]
    );
    drop(taken);
}

#[test]
fn run_with_a_nonexistent_config_fails() {
    let dir = TempDir::new("cli");
    let path = dir.path().join("does-not-exist.toml");
    let path = path.to_str().unwrap();
    let out = run_to_exit(&["run", "-c", path, "--log-format", "json"], WAIT);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{err}");
    let plain: Vec<&str> = err.lines().filter(|l| !l.starts_with('{')).collect();
    assert_eq!(plain.len(), 1, "expected one error line:\n{err}");
    assert!(
        plain[0].starts_with("error: ") && plain[0].contains(path),
        "{err}"
    );
}

#[test]
fn run_with_a_bad_config_fails_with_the_check_message() {
    let line = line_of(GOOD, "max_connections");
    let bad = good_with_line(line, "max_connectoins = 100000");
    let dir = TempDir::new("cli");
    let path = dir.write("bad.toml", &bad);
    let path = path.to_str().unwrap();
    let out = run_to_exit(&["run", "-c", path, "--log-format", "json"], WAIT);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{err}");
    let plain: Vec<&str> = err.lines().filter(|l| !l.starts_with('{')).collect();
    assert_eq!(plain.len(), 1, "expected one error line:\n{err}");
    assert!(
        plain[0].starts_with(&format!("error: {path}:{line}: ")),
        "{err}"
    );
}

/// The embedded default: TLS on 127.0.0.1:8883 → 127.0.0.1:1883 with a self-signed CA
/// and localhost certificate generated in `$RINGRESS_STATE_DIR`, and a log line naming
/// the CA file so a client can trust it.
#[test]
fn run_without_config_uses_the_embedded_default() {
    match TcpListener::bind("127.0.0.1:8883") {
        Ok(probe) => drop(probe),
        Err(e) => {
            eprintln!(
                "\n!!! SKIPPING run_without_config_uses_the_embedded_default: \
                 127.0.0.1:8883 is in use ({e}) !!!\n"
            );
            return;
        }
    }
    let state = TempDir::new("cli-state");
    let mut proxy = Proxy::spawn_args_env(
        &["run", "--log-format", "json"],
        TempDir::new("cli"),
        &[("RINGRESS_STATE_DIR", state.path())],
    );
    proxy.wait_ready();
    let listening = proxy.wait_for("a `listening` line", WAIT, |v| v["message"] == "listening");
    assert_eq!(
        common::text(&listening, "addr"),
        "127.0.0.1:8883",
        "{listening}"
    );
    assert_eq!(common::text(&listening, "tls"), "terminate", "{listening}");
    let embedded = proxy.wait_for("the line naming the embedded default's CA", WAIT, |v| {
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("embedded"))
    });
    let message = common::text(&embedded, "message");
    let state_dir = state.path().display().to_string();
    // The CA file is named in the line and lives in the state dir.
    let ca_path = message
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| c == ';' || c == ',' || c == '(' || c == ')'))
        .find(|w| w.starts_with(&state_dir))
        .unwrap_or_else(|| panic!("no path in {state_dir} in {message:?}"));
    let ca_pem = std::fs::read(ca_path).unwrap_or_else(|e| panic!("{ca_path}: {e}"));
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let ca_der = CertificateDer::from_pem_slice(&ca_pem).expect("CA file is a PEM certificate");
    let ca = common::pki::CertKey {
        cert_pem: String::new(),
        key_pem: String::new(),
        der: ca_der.to_vec(),
        key_der: vec![],
    };
    // A client trusting that CA completes a verified handshake for `localhost`.
    let conn = common::tls_client::TlsClient::new("localhost", &[&ca])
        .connect("127.0.0.1:8883".parse().unwrap())
        .unwrap_or_else(|e| {
            panic!(
                "TLS to the embedded default: {e}\n{}",
                proxy.stderr_tail(20)
            )
        });
    assert_eq!(conn.version(), "TLSv1.3");
    let local = conn.local;
    conn.close();
    let log = proxy.access_log_for(local);
    assert_eq!(common::text(&log, "sni"), "localhost", "{log}");
    proxy.sigterm();
    let status = proxy.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{status}");
}
