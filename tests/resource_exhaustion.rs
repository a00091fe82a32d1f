//! Running out of file descriptors: the proxy stops accepting for a short back-off, logs at
//! most once a second, does not spin, and serves the waiting clients once fds are free again.
//!
//! The proxy runs under `prlimit --nofile=N:N` (util-linux) with N chosen so that exactly
//! three proxied connections fit. (Lowering the limit of a running proxy would not do:
//! io_uring's multishot accept takes the fd limit when it is armed, so accepts would go on
//! under the old limit while only `socket(2)` for the backend failed.)

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::backends::EchoServer;
use common::{Proxy, ProxyConfig, connect, echo_roundtrip};

/// The smallest RLIMIT_NOFILE under which exactly `free` fd numbers are unused. The limit
/// bounds fd *numbers*, and the proxy may have inherited fds with high numbers (a CI runner's
/// pipes), so counting open fds is not enough.
fn limit_leaving_free(used: &[usize], free: usize) -> usize {
    (1..)
        .find(|&limit| limit - used.iter().filter(|&&fd| fd < limit).count() == free)
        .expect("some limit leaves that many free")
}

/// utime + stime of the process, in clock ticks.
fn cpu_ticks(pid: libc::pid_t) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn fd_numbers(pid: libc::pid_t) -> Vec<usize> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc/PID/fd")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

fn start_under_nofile(config: &ProxyConfig, limit: usize) -> Proxy {
    let nofile = format!("--nofile={limit}:{limit}");
    Proxy::start_toml_wrapped(&["prlimit", &nofile, "--"], &config.to_toml())
}

fn accept_warnings(proxy: &Proxy) -> usize {
    proxy
        .json_lines()
        .iter()
        .filter(|l| {
            l.get("message")
                .and_then(|m| m.as_str())
                .is_some_and(|m| m.starts_with("accept failed"))
        })
        .count()
}

#[test]
fn out_of_fds_backs_off_without_spinning_and_recovers() {
    let echo = EchoServer::start();
    let mut config = ProxyConfig::to(&[echo.addr]);
    config.workers = 1;
    // A first run shows which fds an idle proxy holds; the second has room for exactly three
    // proxied connections (two fds each) on top.
    let used = {
        let probe = start_under_nofile(&config, 1024);
        fd_numbers(probe.pid())
    };
    let proxy = start_under_nofile(&config, limit_leaving_free(&used, 6));
    let addr = proxy.listen_addr("mqtt");
    let pid = proxy.pid();
    let mut served: Vec<TcpStream> = (0..3)
        .map(|i| {
            let mut s = connect(addr);
            echo_roundtrip(&mut s, format!("fits {i}").as_bytes());
            s
        })
        .collect();

    // Three more: the kernel completes their handshakes, but accept(2) gets EMFILE.
    let mut waiting: Vec<TcpStream> = (0..3).map(|_| connect(addr)).collect();
    let warned = proxy.wait_for("an accept-failure warning", common::WAIT, |l| {
        l.get("message")
            .and_then(|m| m.as_str())
            .is_some_and(|m| m.starts_with("accept failed"))
    });
    assert!(
        warned.to_string().contains("Too many open files"),
        "{warned}"
    );

    // While clients wait in the backlog and fds stay exhausted, the worker must not spin.
    let ticks_before = cpu_ticks(pid);
    let warnings_before = accept_warnings(&proxy);
    let window = Instant::now();
    std::thread::sleep(Duration::from_secs(2)); // the measured window, not synchronisation
    let elapsed = window.elapsed();
    let ticks = cpu_ticks(pid) - ticks_before;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    let cpu = Duration::from_millis(ticks * 1000 / hz);
    assert!(
        cpu < elapsed / 4,
        "the proxy used {cpu:?} of CPU in {elapsed:?} while out of fds: it is spinning\n{}",
        proxy.stderr_tail(10)
    );
    let warnings = accept_warnings(&proxy) - warnings_before;
    assert!(
        warnings <= 3,
        "{warnings} accept warnings in {elapsed:?}: not rate-limited to one a second"
    );

    // Free the fds: the waiting clients are accepted and relayed.
    served.clear();
    for (i, s) in waiting.iter_mut().enumerate() {
        echo_roundtrip(s, format!("recovered {i}").as_bytes());
    }
}
