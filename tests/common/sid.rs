//! Real peers from the Debian sid rootfs built by `tests/peers/sid-rootfs` (mosquitto 2.1,
//! haproxy 3.2, openssl 3.6; see `tests/peers/README.md`).
//!
//! - [`rootfs`] runs the script once per test process (it is flock-protected and
//!   idempotent). Without it (not root, no network) the test is skipped with a printed
//!   note, or fails when `CI` is set.
//! - [`Peers`] is one test's private directory inside the rootfs (`ROOT/tmp/ringress-it-…`,
//!   `/tmp/ringress-it-…` from inside the chroot): configs and certificates go there, since
//!   a chrooted daemon cannot see host paths. It also holds a hosts file naming
//!   `test1.example.com`/`test2.example.com` as 127.0.0.1, bind-mounted over the rootfs's
//!   `/etc/hosts` in a private mount namespace for client commands only (the shared rootfs
//!   is never edited).
//! - [`Daemon`] is a chrooted foreground daemon, stopped by its recorded pid on drop.
//!   Readiness is "the port is in LISTEN state" read from `/proc/net/tcp`, so no probe
//!   connection reaches the daemon (a probe would pollute logs and PROXY captures).

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// First build of the rootfs: about 64 s measured; allow for a slow mirror.
const PROVISION_TIMEOUT: Duration = Duration::from_secs(900);
/// A client command (mosquitto_pub, openssl s_client) must finish within this.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

static ROOTFS: OnceLock<Option<PathBuf>> = OnceLock::new();

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/sid-rootfs")
}

fn skip_or_fail(msg: &str) -> Option<PathBuf> {
    if std::env::var_os("CI").is_some() {
        panic!("sid peers unavailable: {msg}; CI is set, so this is a failure");
    }
    eprintln!("\n!!! SKIPPING sid-peer test: {msg} !!!\n");
    None
}

/// The rootfs path, provisioning it on first use. None: skip (the reason was printed).
pub fn rootfs() -> Option<&'static Path> {
    ROOTFS.get_or_init(provision).as_deref()
}

fn provision() -> Option<PathBuf> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return skip_or_fail(
            "not root (tests/peers/sid-rootfs needs root for debootstrap and chroot)",
        );
    }
    let out = run_bounded(
        Command::new(script()).stdin(Stdio::null()),
        PROVISION_TIMEOUT,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return skip_or_fail(&format!(
            "{} failed ({}):\n{stderr}",
            script().display(),
            out.status
        ));
    }
    let root = PathBuf::from(stdout.lines().last().unwrap_or("").trim());
    if !root.join("etc/ringress-peers.ok").is_file() {
        return skip_or_fail(&format!(
            "{} printed {root:?}, which has no etc/ringress-peers.ok\n{stderr}",
            script().display()
        ));
    }
    Some(root)
}

/// Runs `cmd` to completion with piped output, killing it after `timeout` (the status then
/// shows the kill).
pub fn run_bounded(cmd: &mut Command, timeout: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
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
    let status = wait_child(&mut child, timeout);
    Output {
        status,
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
    }
}

/// Waits for `child` (10 ms polls), killing it after `timeout`.
pub fn wait_child(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            return s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            return child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every local TCP port in LISTEN state on 127.0.0.1 or 0.0.0.0 (from /proc/net/tcp).
fn listening_ports() -> Vec<(Ipv4Addr, u16)> {
    let text = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.get(3) != Some(&"0A") {
                return None;
            }
            let (ip, port) = f.get(1)?.split_once(':')?;
            let ip = u32::from_str_radix(ip, 16).ok()?;
            let port = u16::from_str_radix(port, 16).ok()?;
            Some((Ipv4Addr::from(u32::from_be(ip)), port))
        })
        .collect()
}

/// Waits (bounded) until something listens on `addr` without connecting to it.
pub fn wait_listening(addr: SocketAddr, timeout: Duration, what: &dyn Fn() -> String) {
    let deadline = Instant::now() + timeout;
    let SocketAddr::V4(a) = addr else {
        panic!("wait_listening: IPv4 only")
    };
    loop {
        if listening_ports()
            .iter()
            .any(|(ip, p)| *p == a.port() && (*ip == *a.ip() || ip.is_unspecified()))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "nothing listens on {addr} after {timeout:?}\n{}",
            what()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

// ---------------------------------------------------------------------------------------------
// Per-test directory and commands

pub struct Peers {
    pub root: PathBuf,
    name: String,
}

pub const TEST_HOSTS: &str = "127.0.0.1\tlocalhost test1.example.com test2.example.com \
                              other.example.com device.tenant.example.com \
                              broker.example.com devices.example.com\n";

impl Peers {
    /// A private dir in the rootfs, or None (skip) when the rootfs is unavailable.
    pub fn new(tag: &str) -> Option<Peers> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let root = rootfs()?.to_path_buf();
        let name = format!(
            "ringress-it-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let p = Peers { root, name };
        let _ = std::fs::remove_dir_all(p.host_dir());
        std::fs::create_dir_all(p.host_dir()).expect("create dir in rootfs");
        std::fs::set_permissions(p.host_dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
        p.write("hosts", TEST_HOSTS);
        Some(p)
    }

    /// The dir as the host sees it.
    pub fn host_dir(&self) -> PathBuf {
        self.root.join("tmp").join(&self.name)
    }

    /// `file` inside the dir as the chroot sees it.
    pub fn path(&self, file: &str) -> String {
        format!("/tmp/{}/{file}", self.name)
    }

    pub fn host_path(&self, file: &str) -> PathBuf {
        self.host_dir().join(file)
    }

    /// Writes `file` (world-readable) and returns its chroot path.
    pub fn write(&self, file: &str, contents: &str) -> String {
        let p = self.host_path(file);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(&p, contents).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        self.path(file)
    }

    pub fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.host_path(file)).unwrap_or_default()
    }

    /// `chroot ROOT argv…` (daemons: chroot execs, so the pid is the daemon's).
    pub fn chroot(&self, argv: &[&str]) -> Command {
        let mut c = Command::new("chroot");
        c.arg(&self.root).args(argv).stdin(Stdio::null());
        c
    }

    /// `argv` in the chroot with the test hosts file over `/etc/hosts`, in a private mount
    /// namespace (so `-h test1.example.com` resolves). unshare, sh and chroot all exec, so
    /// the child's pid is the client's.
    pub fn client(&self, argv: &[&str]) -> Command {
        let mut c = Command::new("unshare");
        c.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg(
                "mount --bind \"$1\" \"$2/etc/hosts\" || exit 125; r=$2; shift 2; \
                 exec chroot \"$r\" \"$@\"",
            )
            .arg("sh")
            .arg(self.host_path("hosts"))
            .arg(&self.root)
            .args(argv)
            .stdin(Stdio::null());
        c
    }

    /// Runs a client command to completion (bounded): (success, stdout+stderr).
    pub fn run_client(&self, argv: &[&str]) -> (bool, String) {
        let out = run_bounded(&mut self.client(argv), CLIENT_TIMEOUT);
        let text = format!(
            "$ {}\n[{}]\n{}{}",
            argv.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// Starts a chrooted daemon with stdout+stderr appended to `FILE.log` in this dir.
    pub fn daemon(&self, name: &str, argv: &[&str]) -> Daemon {
        let log_path = self.host_path(&format!("{name}.log"));
        let log = std::fs::File::create(&log_path).expect("create daemon log");
        let child = self
            .chroot(argv)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn chroot {argv:?}: {e}"));
        Daemon {
            name: name.to_string(),
            child,
            log_path,
        }
    }

    /// mosquitto with `body` appended to a common header (no persistence, everything
    /// logged to stderr); waits until every port in `ports` listens.
    pub fn mosquitto(&self, name: &str, body: &str, ports: &[u16]) -> Daemon {
        let conf = format!(
            "persistence false\nlog_dest stderr\nlog_type all\nconnection_messages true\n\
             log_timestamp false\n{body}"
        );
        let path = self.write(&format!("{name}.conf"), &conf);
        let mut d = self.daemon(name, &["mosquitto", "-c", &path]);
        d.wait_ports(ports);
        d
    }

    /// haproxy in the foreground (`-db`) with config `cfg`; waits for `ports`.
    pub fn haproxy(&self, name: &str, cfg: &str, ports: &[u16]) -> Daemon {
        let path = self.write(&format!("{name}.cfg"), cfg);
        let mut d = self.daemon(name, &["haproxy", "-db", "-f", &path]);
        d.wait_ports(ports);
        d
    }
}

impl Drop for Peers {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("(peer files kept in {})", self.host_dir().display());
            return;
        }
        let _ = std::fs::remove_dir_all(self.host_dir());
    }
}

/// A chrooted daemon; SIGTERM by pid on drop (SIGKILL after 5 s). When the test panics, its
/// log tail is printed.
pub struct Daemon {
    pub name: String,
    child: Child,
    log_path: PathBuf,
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let start = lines.len().saturating_sub(n);
        format!(
            "--- {} log (last {} lines) ---\n{}\n--- end of {} log ---",
            self.name,
            lines.len() - start,
            lines[start..].join("\n"),
            self.name
        )
    }

    /// Panics (with the log) when the daemon has exited.
    pub fn assert_running(&mut self) {
        if let Some(st) = self.child.try_wait().unwrap() {
            panic!("{} exited ({st})\n{}", self.name, self.log_tail(40));
        }
    }

    pub fn wait_ports(&mut self, ports: &[u16]) {
        for &p in ports {
            let addr = SocketAddr::from(([127, 0, 0, 1], p));
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                self.assert_running();
                if listening_ports().iter().any(|(_, lp)| *lp == p) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{} does not listen on {addr} after 15 s\n{}",
                    self.name,
                    self.log_tail(40)
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// Waits (bounded, 20 ms polls of the log file) until a log line contains `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(l) = self.log().lines().find(|l| l.contains(needle)) {
                return l.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "{}: no log line containing {needle:?} within {timeout:?}\n{}",
                self.name,
                self.log_tail(40)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Lines containing `needle`.
    pub fn log_lines(&self, needle: &str) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail(60));
        }
        // SAFETY: kill(2) on our own child's pid, not reaped yet.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A long-running client in the chroot (e.g. `mosquitto_sub -C 1`); killed on drop.
pub struct ClientProc {
    child: Option<Child>,
    pub argv: Vec<String>,
}

impl ClientProc {
    pub fn spawn(peers: &Peers, argv: &[&str]) -> ClientProc {
        let child = peers
            .client(argv)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {argv:?}: {e}"));
        ClientProc {
            child: Some(child),
            argv: argv.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Waits (bounded; killed after `timeout`) and returns (success, stdout, stderr).
    pub fn finish(&mut self, timeout: Duration) -> (bool, String, String) {
        let mut child = self.child.take().expect("finish once");
        let mut out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let out_t = std::thread::spawn(move || {
            let mut v = String::new();
            let _ = out.read_to_string(&mut v);
            v
        });
        let err_t = std::thread::spawn(move || {
            let mut v = String::new();
            let _ = err.read_to_string(&mut v);
            v
        });
        let st = wait_child(&mut child, timeout);
        (st.success(), out_t.join().unwrap(), err_t.join().unwrap())
    }
}

impl Drop for ClientProc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
