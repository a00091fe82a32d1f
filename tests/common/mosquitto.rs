//! Debian's mosquitto broker and clients as real MQTT peers.
//!
//! Provisioning: when the binaries are missing and we are root, install them once with apt
//! (an flock(2) on a file in the temp dir keeps parallel test processes from racing apt);
//! when missing and not root, fail under `CI` and skip loudly otherwise.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::TempDir;
use super::backends::{free_port, wait_port_open};

const BINARIES: [&str; 3] = ["mosquitto", "mosquitto_pub", "mosquitto_sub"];

fn on_path(name: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let extra = ["/usr/sbin", "/sbin"].map(Into::into);
    std::env::split_paths(&path)
        .chain(extra)
        .any(|dir: std::path::PathBuf| dir.join(name).is_file())
}

fn all_present() -> bool {
    BINARIES.iter().all(|b| on_path(b))
}

/// Full path of `name` (mosquitto lives in /usr/sbin, which a non-login PATH may lack).
pub fn which(name: &str) -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(Into::into))
        .map(|dir: std::path::PathBuf| dir.join(name))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| name.to_string())
}

/// True when mosquitto is usable. May install it (as root). False means "skip": the caller
/// returns early; the reason has been printed.
pub fn ensure_available() -> bool {
    if all_present() {
        return true;
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        let msg = "mosquitto/mosquitto_pub/mosquitto_sub are not installed and we are not root \
                   (install Debian's `mosquitto mosquitto-clients`)";
        if std::env::var_os("CI").is_some() {
            panic!("{msg}; CI is set, so this is a failure");
        }
        eprintln!("\n!!! SKIPPING mosquitto interop test: {msg} !!!\n");
        return false;
    }
    install_with_lock();
    assert!(
        all_present(),
        "apt-get install mosquitto mosquitto-clients did not provide {BINARIES:?}"
    );
    true
}

fn install_with_lock() {
    let lock_path = std::env::temp_dir().join("ringress-it-apt-mosquitto.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .expect("open apt lock file");
    // SAFETY: flock on an fd we own; blocks until other test processes finish installing.
    let rc = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(rc, 0, "flock: {}", io::Error::last_os_error());
    if all_present() {
        return; // someone else installed while we waited
    }
    eprintln!("installing mosquitto mosquitto-clients with apt-get (first use)");
    for args in [
        &["update", "-q"][..],
        &["install", "-y", "-q", "mosquitto", "mosquitto-clients"][..],
    ] {
        let st = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .status()
            .expect("run apt-get");
        assert!(st.success(), "apt-get {args:?} failed: {st}");
    }
    // The lock is released when `lock` is dropped.
}

/// A mosquitto broker on a free loopback port, stopped (by its pid) on drop.
pub struct Broker {
    child: Child,
    pub addr: SocketAddr,
    _dir: TempDir,
}

impl Broker {
    pub fn start() -> Broker {
        Broker::start_on(free_port())
    }

    /// A broker on a given loopback port (e.g. to bring a killed one back on its port).
    pub fn start_on(port: u16) -> Broker {
        let dir = TempDir::new("mosquitto");
        let conf = dir.write(
            "mosquitto.conf",
            &format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
                 log_dest stderr\nlog_type all\n"
            ),
        );
        let log = std::fs::File::create(dir.path().join("mosquitto.log")).unwrap();
        let child = Command::new(which("mosquitto"))
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn mosquitto");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut broker = Broker {
            child,
            addr,
            _dir: dir,
        };
        if let Some(st) = broker.child.try_wait().unwrap() {
            panic!("mosquitto exited at once ({st}); log:\n{}", broker.log());
        }
        wait_port_open(addr, Duration::from_secs(15));
        broker
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    /// True once the broker has logged client `id`'s connection.
    pub fn has_client(&self, id: &str) -> bool {
        self.log().contains(&format!(" as {id} ("))
    }

    /// Sends `sig` to the broker (SIGKILL to kill it, SIGSTOP to hang it, SIGCONT).
    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid; it is not reaped until `wait_killed` or
        // drop, so the pid cannot have been reused.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
        assert_eq!(
            rc,
            0,
            "kill(mosquitto, {sig}): {}",
            io::Error::last_os_error()
        );
    }

    /// SIGKILL, then reaps the process so its port is free when this returns.
    pub fn kill_now(&mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // A stopped broker would not act on SIGTERM.
        // SAFETY: as in `signal`.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGCONT) };
        // SAFETY: kill(2) on our own unreaped child's pid.
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

/// A running `mosquitto_sub -C 1` (exits after one message). Its stdout is block-buffered
/// when piped, so readiness comes from the broker's log instead ("Sending SUBACK to ID").
pub struct Subscriber {
    child: Option<Child>,
}

impl Subscriber {
    /// Subscribes as `client_id` to `topic` through `addr` (the proxy, usually), and waits
    /// until `broker` has sent the SUBACK, so a following publish cannot be missed.
    pub fn start(
        broker: &Broker,
        addr: SocketAddr,
        client_id: &str,
        topic: &str,
        qos: u8,
    ) -> Subscriber {
        let host = addr.ip().to_string();
        Subscriber::start_with(broker, &host, addr.port(), client_id, topic, qos, &[])
    }

    /// [`Subscriber::start`] to `host` (a name, for TLS) with extra arguments (`-V mqttv5`,
    /// `-k 30`, `--cafile ...`).
    pub fn start_with(
        broker: &Broker,
        host: &str,
        port: u16,
        client_id: &str,
        topic: &str,
        qos: u8,
        extra: &[&str],
    ) -> Subscriber {
        let child = Command::new(which("mosquitto_sub"))
            .args(["-i", client_id, "-h", host, "-p", &port.to_string()])
            .args(["-t", topic, "-q", &qos.to_string(), "-C", "1", "-W", "30"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mosquitto_sub");
        let mut sub = Subscriber { child: Some(child) };
        let marker = format!("Sending SUBACK to {client_id}");
        let deadline = Instant::now() + Duration::from_secs(15);
        while !broker.log().contains(&marker) {
            if Instant::now() >= deadline {
                let out = sub.finish(Duration::from_secs(1));
                panic!(
                    "broker never sent a SUBACK to {client_id} within 15 s\n\
                     mosquitto_sub: {out:?}\nbroker log:\n{}",
                    broker.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        sub
    }

    /// Waits (bounded) for the subscriber to exit and returns (success, stdout, stderr).
    /// After `timeout` it is killed, which shows up as failure.
    pub fn finish(&mut self, timeout: Duration) -> (bool, String, String) {
        let mut child = self.child.take().expect("finish called once");
        let deadline = Instant::now() + timeout;
        while child.try_wait().unwrap().is_none() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let out = child.wait_with_output().expect("mosquitto_sub output");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs `mosquitto_pub` to completion (bounded); returns (success, combined output).
pub fn publish(addr: SocketAddr, topic: &str, qos: u8, message: &str) -> (bool, String) {
    let host = addr.ip().to_string();
    publish_with(&host, addr.port(), topic, qos, message, &[])
}

/// [`publish`] to `host` (a name, for TLS) with extra arguments (`-V mqttv5`, `-i ID`,
/// `--cafile ...`).
pub fn publish_with(
    host: &str,
    port: u16,
    topic: &str,
    qos: u8,
    message: &str,
    extra: &[&str],
) -> (bool, String) {
    let mut child = Command::new(which("mosquitto_pub"))
        .args(["-h", host, "-p", &port.to_string()])
        .args(["-t", topic, "-q", &qos.to_string(), "-m", message])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mosquitto_pub");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().expect("mosquitto_pub output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
