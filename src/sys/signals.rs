//! Shutdown signals, taken synchronously by the main thread.
//!
//! SIGTERM and SIGINT are blocked in the main thread before the workers are spawned, so every
//! thread inherits the mask and only the main thread, in [`wait_shutdown_signal`], receives
//! them. SIGPIPE is ignored process-wide (sends also pass MSG_NOSIGNAL).

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownSignal {
    Term,
    Int,
}

fn shutdown_set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise and fill a sigset_t we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        set
    }
}

/// Blocks SIGTERM/SIGINT in the calling thread (and threads it spawns later) and ignores SIGPIPE.
pub fn block_shutdown_signals() {
    let set = shutdown_set();
    // SAFETY: changes only this thread's signal mask and SIGPIPE's disposition.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Waits up to `timeout` for SIGTERM or SIGINT (must be blocked first).
pub fn wait_shutdown_signal(timeout: Duration) -> Option<ShutdownSignal> {
    let set = shutdown_set();
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: set and ts are live; a null siginfo pointer is allowed.
    let sig = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &ts) };
    match sig {
        libc::SIGTERM => Some(ShutdownSignal::Term),
        libc::SIGINT => Some(ShutdownSignal::Int),
        _ => None,
    }
}
