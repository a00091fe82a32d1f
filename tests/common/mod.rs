//! Shared harness for the integration tests: they drive the real `ringress` binary over real
//! loopback sockets (STYLE.md habit 10).
//!
//! - [`Proxy`] writes a config into its own temp dir, spawns `ringress run -c FILE --log-format
//!   json`, parses stderr into JSON lines on a reader thread, and waits on log lines
//!   (`listening`, `ready`, access-log `close`) instead of sleeping.
//! - [`backends`] holds the peers a proxy forwards to: an echo server, a listener whose accepted
//!   streams the test drives by hand, a port that refuses, and a listener that drops SYNs.
//! - [`admin`] talks HTTP to the admin listener and parses `/metrics` scrapes.
//! - [`mosquitto`] finds (or, as root, installs) Debian's mosquitto for the interop test.
//!
//! Every wait is bounded and panics with the proxy's stderr tail, so a hung proxy is a
//! failed test with a reason, never a hung CI job.
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod admin;
pub mod backends;
pub mod examples;
pub mod fake_broker;
pub mod mosquitto;
pub mod mqtt_peers;
pub mod offload;
pub mod pki;
pub mod proxy_header;
pub mod raw_tls;
pub mod sid;
pub mod streams;
pub mod tls_client;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long the proxy may take to log `ready` (a debug build on a loaded 2-core CI machine).
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Default bound for "this should happen now" waits: long enough to never flake on a loaded
/// machine, short enough that a hang fails the test in reasonable time.
pub const WAIT: Duration = Duration::from_secs(15);
/// Read/write timeout put on every test socket, so a stuck relay fails instead of hanging.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// The `ringress` binary under test. Cargo names it to the proxy package's own tests; the
/// benchmark tools' tests (crates/bench) share this harness and find it beside their own
/// binaries, where a workspace `cargo test` has built it.
pub fn bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| match option_env!("CARGO_BIN_EXE_ringress") {
        Some(path) => path.to_owned(),
        None => {
            let exe = std::env::current_exe().expect("the test's own path");
            // target/<profile>/deps/<test> → target/<profile>/ringress
            let path = exe
                .parent()
                .and_then(Path::parent)
                .expect("target dir")
                .join("ringress");
            assert!(
                path.exists(),
                "{} is missing: build the proxy first (cargo build --release -p ringress), \
                 or run the whole workspace's tests (cargo test --release)",
                path.display()
            );
            path.to_string_lossy().into_owned()
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Temp dirs

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "ringress-it-{tag}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `name` in this dir and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.path.join(name);
        std::fs::write(&p, contents).expect("write temp file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------------------------------------
// Config

/// Runs each named test function (taking the listener's `relay` value) once per relay, as
/// `copy::NAME` and `splice::NAME`.
#[macro_export]
macro_rules! for_each_relay {
    ($($name:ident),* $(,)?) => {
        mod copy {
            $( #[test] fn $name() { super::$name("copy") } )*
        }
        mod splice {
            $( #[test] fn $name() { super::$name("splice") } )*
        }
    };
}

/// The one-listener, one-backend config most tests need. Fields are TOML values as written.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    pub workers: usize,
    pub shutdown_grace: &'static str,
    pub listener: &'static str,
    pub max_connections: u32,
    pub servers: Vec<SocketAddr>,
    pub connect_timeout: &'static str,
    pub client_idle: &'static str,
    pub server_idle: &'static str,
    /// The listener's `relay` (`auto`, `splice`, `copy`).
    pub relay: &'static str,
    /// `runtime.relay_pipes`.
    pub relay_pipes: u32,
}

impl ProxyConfig {
    pub fn to(servers: &[SocketAddr]) -> ProxyConfig {
        ProxyConfig {
            workers: 2,
            shutdown_grace: "30s",
            listener: "mqtt",
            max_connections: 100_000,
            servers: servers.to_vec(),
            connect_timeout: "1s",
            client_idle: "60s",
            server_idle: "60s",
            relay: "auto",
            relay_pipes: 256,
        }
    }

    pub fn to_toml(&self) -> String {
        let servers: Vec<String> = self.servers.iter().map(|s| format!("\"{s}\"")).collect();
        format!(
            r#"[runtime]
workers = {workers}
shutdown_grace = "{grace}"
relay_pipes = {pipes}

[[listener]]
name = "{listener}"
bind = "127.0.0.1:0"
tls = "none"
backend = "broker"
max_connections = {max}
relay = "{relay}"

[[backend]]
name = "broker"
servers = [{servers}]
connect_timeout = "{ct}"

[timeouts]
client_idle = "{ci}"
server_idle = "{si}"
"#,
            workers = self.workers,
            grace = self.shutdown_grace,
            listener = self.listener,
            max = self.max_connections,
            servers = servers.join(", "),
            ct = self.connect_timeout,
            ci = self.client_idle,
            si = self.server_idle,
            pipes = self.relay_pipes,
            relay = self.relay,
        )
    }
}

// ---------------------------------------------------------------------------------------------
// The proxy process

/// One stderr line; `json` is set when the line parsed as a JSON object.
#[derive(Clone, Debug)]
pub struct LogLine {
    pub raw: String,
    pub json: Option<Value>,
}

#[derive(Default)]
struct LogState {
    lines: Vec<LogLine>,
    /// stderr reached EOF: the process exited (or closed stderr).
    closed: bool,
}

#[derive(Default)]
struct Log {
    state: Mutex<LogState>,
    changed: Condvar,
}

/// A running `ringress` process. Killed on drop; when the test is panicking, the stderr tail
/// is printed so the failure shows what the proxy said.
pub struct Proxy {
    child: Child,
    log: Arc<Log>,
    exit: Option<ExitStatus>,
    pub dir: TempDir,
    pub config_path: Option<PathBuf>,
}

impl Proxy {
    /// Writes `config`, runs `ringress run -c FILE --log-format json`, waits for `ready`.
    pub fn start(config: &ProxyConfig) -> Proxy {
        Proxy::start_toml(&config.to_toml())
    }

    /// [`ProxyConfig::to`] `servers`, with the listener's `relay` set.
    pub fn start_relay(servers: &[SocketAddr], relay: &'static str) -> Proxy {
        let mut config = ProxyConfig::to(servers);
        config.relay = relay;
        Proxy::start(&config)
    }

    pub fn start_toml(toml: &str) -> Proxy {
        let proxy = Proxy::spawn_toml(toml);
        proxy.wait_ready();
        proxy
    }

    /// Like [`Proxy::start_toml`] but does not wait for `ready`.
    pub fn spawn_toml(toml: &str) -> Proxy {
        Proxy::spawn_toml_in(TempDir::new("proxy"), toml)
    }

    /// Writes `toml` as `DIR/ringress.toml` (relative paths in it, such as `pki/…`, resolve
    /// against `dir`, where the test put its files) and starts the proxy; waits for `ready`.
    pub fn start_toml_in(dir: TempDir, toml: &str) -> Proxy {
        let proxy = Proxy::spawn_toml_in(dir, toml);
        proxy.wait_ready();
        proxy
    }

    /// Like [`Proxy::start_toml_in`] but does not wait for `ready`.
    pub fn spawn_toml_in(dir: TempDir, toml: &str) -> Proxy {
        let path = dir.write("ringress.toml", toml);
        let args = [
            "run",
            "-c",
            path.to_str().expect("utf-8 temp path"),
            "--log-format",
            "json",
        ];
        let mut p = Proxy::spawn_args(&args, dir);
        p.config_path = Some(path);
        p
    }

    /// Like [`Proxy::start_toml`], run under `wrapper` (a command that execs the rest of its
    /// arguments in place, such as `prlimit --nofile=N:N --`), so the pid stays the proxy's.
    pub fn start_toml_wrapped(wrapper: &[&str], toml: &str) -> Proxy {
        let dir = TempDir::new("proxy");
        let path = dir.write("ringress.toml", toml);
        let path = path.to_str().expect("utf-8 temp path");
        let mut args: Vec<&str> = wrapper[1..].to_vec();
        args.extend([bin(), "run", "-c", path, "--log-format", "json"]);
        let proxy = Proxy::spawn_program(wrapper[0], &args, dir, &[]);
        proxy.wait_ready();
        proxy
    }

    /// Spawns the binary with exactly `args` (stdout discarded, stderr parsed).
    pub fn spawn_args(args: &[&str], dir: TempDir) -> Proxy {
        Proxy::spawn_program(bin(), args, dir, &[])
    }

    /// Like [`Proxy::spawn_args`], with extra environment variables.
    pub fn spawn_args_env(args: &[&str], dir: TempDir, env: &[(&str, &Path)]) -> Proxy {
        Proxy::spawn_program(bin(), args, dir, env)
    }

    fn spawn_program(program: &str, args: &[&str], dir: TempDir, env: &[(&str, &Path)]) -> Proxy {
        let mut child = Command::new(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, *v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env_remove("RUST_LOG")
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
        let log = Arc::new(Log::default());
        let stderr = child.stderr.take().expect("piped stderr");
        let reader_log = Arc::clone(&log);
        std::thread::Builder::new()
            .name("proxy-stderr".into())
            .spawn(move || read_stderr(stderr, &reader_log))
            .expect("spawn stderr reader");
        Proxy {
            child,
            log,
            exit: None,
            dir,
            config_path: None,
        }
    }

    pub fn pid(&self) -> libc::pid_t {
        self.child.id() as libc::pid_t
    }

    /// Open file descriptors of the proxy process right now (`/proc/PID/fd`).
    pub fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("read /proc/PID/fd")
            .count()
    }

    /// Resident set size in KiB (`VmRSS` of `/proc/PID/status`).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status")
    }

    /// Waits until the access log holds a line for `client` on any of its fields `client`
    /// or `proxied_by` (a connection that arrived through a PROXY header is logged with the
    /// header's source as `client`).
    pub fn access_log_via(&self, peer: SocketAddr) -> Value {
        let c = peer.to_string();
        self.wait_for(&format!("the access-log line for peer {c}"), WAIT, |v| {
            is_access_log(v) && (v["client"] == c.as_str() || v["proxied_by"] == c.as_str())
        })
    }

    pub fn wait_ready(&self) {
        self.wait_for("the `ready` log line", START_TIMEOUT, |v| {
            v["message"] == "ready"
        });
    }

    /// Waits until a JSON log line satisfies `pred` (looking at lines already seen, too) and
    /// returns it. Panics with the stderr tail on timeout or when the process has exited.
    pub fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        let mut state = self.log.state.lock().unwrap();
        let mut checked = 0;
        loop {
            for line in &state.lines[checked..] {
                if let Some(v) = &line.json {
                    if pred(v) {
                        return v.clone();
                    }
                }
            }
            checked = state.lines.len();
            if state.closed {
                drop(state);
                panic!(
                    "waiting for {what}: the proxy closed stderr (exited) first\n{}",
                    self.stderr_tail(40)
                );
            }
            let now = Instant::now();
            if now >= deadline {
                drop(state);
                panic!(
                    "waiting for {what}: not seen within {timeout:?}\n{}",
                    self.stderr_tail(40)
                );
            }
            state = self
                .log
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap()
                .0;
        }
    }

    /// Waits until a raw stderr line (any log format) satisfies `pred`; returns it. For a
    /// proxy run with `--log-format text`, where [`Proxy::wait_for`] sees nothing.
    pub fn wait_for_raw(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        let mut state = self.log.state.lock().unwrap();
        loop {
            if let Some(line) = state.lines.iter().find(|l| pred(&l.raw)) {
                return line.raw.clone();
            }
            let now = Instant::now();
            if state.closed || now >= deadline {
                drop(state);
                panic!(
                    "waiting for {what}: not seen within {timeout:?} or the proxy exited\n{}",
                    self.stderr_tail(40)
                );
            }
            state = self
                .log
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap()
                .0;
        }
    }

    /// Waits until `n` JSON lines satisfy `pred`; returns them.
    pub fn wait_for_count(
        &self,
        what: &str,
        n: usize,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        let mut state = self.log.state.lock().unwrap();
        // Look at each line once: rescanning (and cloning) every line on every wake-up made
        // this quadratic, ~12M clones for 5,000 lines, which on a slow host took longer than
        // the proxy needed to close the connections.
        let (mut found, mut checked) = (Vec::new(), 0);
        loop {
            for line in &state.lines[checked..] {
                if let Some(v) = line.json.as_ref().filter(|v| pred(v)) {
                    found.push(v.clone());
                }
            }
            checked = state.lines.len();
            if found.len() >= n {
                return found;
            }
            let now = Instant::now();
            if state.closed || now >= deadline {
                let closed = state.closed;
                drop(state);
                panic!(
                    "waiting for {n} × {what}: saw {} within {timeout:?}{}\n{}",
                    found.len(),
                    if closed { " (proxy exited)" } else { "" },
                    self.stderr_tail(40)
                );
            }
            state = self
                .log
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap()
                .0;
        }
    }

    /// The address of listener `name`, from its `listening` line.
    pub fn listen_addr(&self, name: &str) -> SocketAddr {
        let v = self.wait_for(&format!("`listening` for listener {name:?}"), WAIT, |v| {
            v["message"] == "listening" && v["listener"] == name
        });
        text(&v, "addr")
            .parse()
            .unwrap_or_else(|e| panic!("`listening` addr {v}: {e}"))
    }

    /// All JSON log lines so far.
    pub fn json_lines(&self) -> Vec<Value> {
        let state = self.log.state.lock().unwrap();
        state.lines.iter().filter_map(|l| l.json.clone()).collect()
    }

    /// All raw stderr lines so far.
    pub fn raw_lines(&self) -> Vec<String> {
        let state = self.log.state.lock().unwrap();
        state.lines.iter().map(|l| l.raw.clone()).collect()
    }

    /// Access-log lines seen so far.
    pub fn access_logs(&self) -> Vec<Value> {
        self.json_lines()
            .into_iter()
            .filter(is_access_log)
            .collect()
    }

    /// Waits for the access-log line of the connection whose client side is `client`.
    pub fn access_log_for(&self, client: SocketAddr) -> Value {
        let c = client.to_string();
        self.wait_for(&format!("the access-log line for client {c}"), WAIT, |v| {
            is_access_log(v) && v["client"] == c.as_str()
        })
    }

    /// Asserts no access-log line for `client` has been written (yet).
    pub fn assert_no_access_log_for(&self, client: SocketAddr, why: &str) {
        let c = client.to_string();
        if let Some(v) = self
            .access_logs()
            .into_iter()
            .find(|v| v["client"] == c.as_str())
        {
            panic!(
                "{why}: unexpected access-log line {v}\n{}",
                self.stderr_tail(20)
            );
        }
    }

    pub fn signal(&self, sig: libc::c_int) {
        signal_child(&self.child, sig);
    }

    pub fn sigterm(&self) {
        self.signal(libc::SIGTERM);
    }

    pub fn sigint(&self) {
        self.signal(libc::SIGINT);
    }

    /// Polls for exit (every 10 ms, bounded); panics with the stderr tail on timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(s) = self.exit {
            return s;
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                self.exit = Some(s);
                // Let the reader thread drain the last lines (bounded: stderr is at EOF now
                // unless a grandchild holds it).
                self.wait_stderr_closed(Duration::from_secs(5));
                return s;
            }
            if Instant::now() >= deadline {
                panic!(
                    "the proxy did not exit within {timeout:?}\n{}",
                    self.stderr_tail(40)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `Some(status)` when the process has exited.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().expect("try_wait");
        }
        self.exit
    }

    fn wait_stderr_closed(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut state = self.log.state.lock().unwrap();
        while !state.closed {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            state = self
                .log
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap()
                .0;
        }
    }

    /// The last `n` stderr lines, framed for a panic message.
    pub fn stderr_tail(&self, n: usize) -> String {
        let state = self.log.state.lock().unwrap();
        let start = state.lines.len().saturating_sub(n);
        let mut out = format!(
            "--- ringress stderr (last {} of {} lines) ---\n",
            state.lines.len() - start,
            state.lines.len()
        );
        for l in &state.lines[start..] {
            out.push_str(&l.raw);
            out.push('\n');
        }
        out.push_str("--- end of ringress stderr ---");
        out
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("{}", self.stderr_tail(60));
        }
    }
}

fn read_stderr(stderr: impl Read, log: &Log) {
    let mut reader = BufReader::new(stderr);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        let raw = String::from_utf8_lossy(&buf).trim_end().to_string();
        let json = serde_json::from_str::<Value>(&raw)
            .ok()
            .filter(|v| v.is_object());
        let mut state = log.state.lock().unwrap();
        state.lines.push(LogLine { raw, json });
        log.changed.notify_all();
    }
    log.state.lock().unwrap().closed = true;
    log.changed.notify_all();
}

/// Runs the binary to completion with `args` (for `check` and failing `run`s), bounded.
pub fn run_to_exit(args: &[&str], timeout: Duration) -> Output {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("RUST_LOG")
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", bin()));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = String::from_utf8_lossy(&err_t.join().unwrap()).into_owned();
            panic!(
                "`ringress {}` did not exit within {timeout:?}; stderr:\n{stderr}",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
    }
}

// ---------------------------------------------------------------------------------------------
// Log fields

pub fn is_access_log(v: &Value) -> bool {
    v["target"] == "access" && v["message"] == "close"
}

/// A numeric field, accepting a JSON number or a string holding one.
pub fn num(v: &Value, key: &str) -> u64 {
    match &v[key] {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().map(|f| f as u64))
            .unwrap_or_else(|| panic!("field {key} is not a u64 in {v}")),
        Value::String(s) => s
            .parse()
            .unwrap_or_else(|e| panic!("field {key}={s:?} is not a number ({e}) in {v}")),
        _ => panic!("field {key} missing or not a number in {v}"),
    }
}

/// A string field (numbers are rendered).
pub fn text(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => panic!("field {key} missing or not a string in {v}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Client side helpers

/// Connects to `addr` with bounded connect and I/O timeouts.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

/// Writes `msg` and reads exactly as many bytes back, asserting they are equal.
pub fn echo_roundtrip(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(msg).expect("write to the proxy");
    let mut back = vec![0; msg.len()];
    s.read_exact(&mut back)
        .unwrap_or_else(|e| panic!("reading the echo of {} bytes back: {e}", msg.len()));
    assert_eq!(back, msg, "echo came back different");
}

/// How a connection ended as seen by one end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    Eof,
    Reset,
}

/// Waits (bounded) until the peer closes `s`: EOF or reset. Panics if data arrives or the
/// connection is still open after `within`.
pub fn expect_closed(s: &mut TcpStream, within: Duration) -> Closed {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 256];
    let r = s.read(&mut buf);
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    match r {
        Ok(0) => Closed::Eof,
        Ok(n) => panic!(
            "expected the connection to be closed, got {n} bytes: {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ) =>
        {
            Closed::Reset
        }
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            panic!("the connection was still open after {within:?}")
        }
        Err(e) => panic!("unexpected error while waiting for close: {e}"),
    }
}

/// Asserts `s` is still open and silent: a read times out after `quiet` without EOF/data.
pub fn expect_open_and_silent(s: &mut TcpStream, quiet: Duration) {
    s.set_read_timeout(Some(quiet)).unwrap();
    let mut buf = [0u8; 256];
    let r = s.read(&mut buf);
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    match r {
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) => {}
        Ok(0) => panic!("the connection was closed (EOF) but should be open"),
        Ok(n) => panic!(
            "unexpected {n} bytes: {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(e) => panic!("the connection failed but should be open: {e}"),
    }
}

/// Reads until EOF (bounded by the socket's read timeout).
pub fn read_to_eof(s: &mut TcpStream) -> Vec<u8> {
    let mut v = Vec::new();
    s.read_to_end(&mut v)
        .unwrap_or_else(|e| panic!("read to EOF failed after {} bytes: {e}", v.len()));
    v
}

pub fn shutdown_write(s: &TcpStream) {
    s.shutdown(Shutdown::Write).expect("shutdown(SHUT_WR)");
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft limit.
pub fn raise_nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write/read the `rlimit` we own on the stack.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = lim.rlim_max;
        assert_eq!(
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim),
            0,
            "setrlimit: {}",
            io::Error::last_os_error()
        );
    }
    lim.rlim_cur
}

/// Sends `sig` to `child`, which must not have been waited for.
pub fn signal_child(child: &std::process::Child, sig: libc::c_int) {
    let pid = child.id() as libc::pid_t;
    // SAFETY: kill(2) with the pid of our own child, which we have not reaped yet (the
    // `Child` is borrowed, so `wait` has not consumed it), so the pid is not reused.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig}): {}", io::Error::last_os_error());
}
