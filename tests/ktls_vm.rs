//! Kernel TLS, end to end, in a VM: this machine's kernel has no `tls` module, so
//! `tests/vm/run` boots Debian's stock kernel under QEMU with the sid peers (OpenSSL 3.6,
//! Mosquitto 2.1) and checks, from the kernel's own counters, that ringress hands sessions
//! to the kernel (tests/vm/README.md). ~7 minutes warm (TCG is slow), ~12 cold.
//!
//! Needs root (apt, chroot, mke2fs); without root it is skipped with a note, and under `CI`
//! that is a failure. Anything else missing (qemu, the kernel download, a build) makes
//! `tests/vm/run` exit non-zero, which fails the test.

use std::process::Command;

#[test]
fn kernel_tls_in_a_vm() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        let msg = "the kTLS VM test needs root (apt-get, chroot, mke2fs)";
        if std::env::var_os("CI").is_some() {
            panic!("{msg}; CI is set, so this is a failure");
        }
        eprintln!("SKIPPING: {msg}");
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vm/run");
    let out = Command::new(script)
        .output()
        .unwrap_or_else(|e| panic!("run {script}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The guest's results, for the CI log.
    for line in stdout.lines() {
        println!("{line}");
    }
    let failed: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(
        out.status.success() && failed.is_empty(),
        "tests/vm/run exited {}; failed checks: {failed:?}\n--- stderr tail ---\n{}",
        out.status,
        stderr
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("PASS")),
        "no check reported PASS:\n{stdout}"
    );
}
