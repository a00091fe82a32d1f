//! Process signals, taken synchronously by the main thread.
//!
//! SIGTERM, SIGINT and SIGHUP are blocked in the main thread before the workers are spawned,
//! so every thread inherits the mask and only the main thread, in [`wait_signal`], receives
//! them. SIGPIPE is ignored process-wide (sends also pass MSG_NOSIGNAL).
//!
//! SIGHUP is taken so that it does not end the process (its default action): logrotate
//! scripts, `systemctl reload` and nginx habits send it, and being killed by it would drop
//! every session without an access line.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Term,
    Int,
    Hup,
}

impl Signal {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Signal::Term => "SIGTERM",
            Signal::Int => "SIGINT",
            Signal::Hup => "SIGHUP",
        }
    }
}

fn handled_set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise and fill a sigset_t we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGHUP);
        set
    }
}

/// Blocks SIGTERM/SIGINT/SIGHUP in the calling thread (and threads it spawns later) and
/// ignores SIGPIPE.
pub(crate) fn block_handled_signals() {
    let set = handled_set();
    // SAFETY: changes only this thread's signal mask and SIGPIPE's disposition.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Waits up to `timeout` for SIGTERM, SIGINT or SIGHUP (must be blocked first).
pub(crate) fn wait_signal(timeout: Duration) -> Option<Signal> {
    let set = handled_set();
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: set and ts are live; a null siginfo pointer is allowed.
    let sig = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &ts) };
    match sig {
        libc::SIGTERM => Some(Signal::Term),
        libc::SIGINT => Some(Signal::Int),
        libc::SIGHUP => Some(Signal::Hup),
        _ => None,
    }
}
