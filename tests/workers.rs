//! Worker threads: one per configured worker, named `ringress-wN`, and pinned to CPUs when
//! `pin_workers = true`.

mod common;

use common::backends::EchoServer;
use common::{Proxy, ProxyConfig};

/// (thread name, Cpus_allowed_list) of every thread of `pid`.
fn threads(pid: libc::pid_t) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("read tasks") {
        let path = task.expect("task entry").path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let status = std::fs::read_to_string(path.join("status")).unwrap_or_default();
        let cpus = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap_or("")
            .trim()
            .to_owned();
        out.push((name.trim().to_owned(), cpus));
    }
    out.sort();
    out
}

fn start(pin: bool) -> Proxy {
    let echo = EchoServer::start();
    let toml = ProxyConfig::to(&[echo.addr])
        .to_toml()
        .replace("[runtime]", &format!("[runtime]\npin_workers = {pin}"));
    Proxy::start_toml(&toml)
}

#[test]
fn pinned_workers_each_run_on_their_own_cpu() {
    // SAFETY: sysconf has no preconditions.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if cpus < 2 {
        eprintln!("SKIPPING: needs 2 CPUs to tell pinned workers apart");
        return;
    }
    let proxy = start(true);
    let workers: Vec<_> = threads(proxy.pid())
        .into_iter()
        .filter(|(name, _)| name.starts_with("ringress-w"))
        .collect();
    assert_eq!(
        workers,
        vec![
            ("ringress-w0".to_owned(), "0".to_owned()),
            ("ringress-w1".to_owned(), "1".to_owned()),
        ],
        "two workers, each allowed on exactly one CPU"
    );
}

#[test]
fn unpinned_workers_may_run_anywhere() {
    let proxy = start(false);
    let workers: Vec<_> = threads(proxy.pid())
        .into_iter()
        .filter(|(name, _)| name.starts_with("ringress-w"))
        .collect();
    assert_eq!(workers.len(), 2, "{workers:?}");
    for (name, allowed) in &workers {
        assert!(
            allowed.contains('-') || allowed.contains(','),
            "{name} is restricted to {allowed} although pin_workers is off"
        );
    }
}
