//! A process's own resources: CPU time (for the benchmark tools' reports) and memory policy.

use std::time::Duration;

/// User and system CPU time of this process so far (`getrusage(RUSAGE_SELF)`).
pub fn self_cpu() -> (Duration, Duration) {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is a valid, writable rusage; getrusage only writes into it and
    // RUSAGE_SELF cannot fail (EFAULT/EINVAL are excluded by the arguments).
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (tv(usage.ru_utime), tv(usage.ru_stime))
}

/// Turns transparent huge pages off for this process (`PR_SET_THP_DISABLE`), before the
/// workers map their buffer pools and the allocator its arenas.
///
/// An idle connection touches a few hundred bytes here and there; with THP a 2 MiB page is
/// resident as soon as one byte of it is, and the allocator's arenas (madvised for huge
/// pages) grew RSS by ~2.5 KiB per idle TLS connection: 7.8 KiB with THP, 5.3 KiB without,
/// at 9,000 connections (perf/README.md, "Memory per idle connection").
pub(crate) fn disable_transparent_huge_pages() -> std::io::Result<()> {
    // SAFETY: PR_SET_THP_DISABLE takes an integer flag and no pointers.
    let rc = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Whether transparent huge pages are off for this process (`PR_GET_THP_DISABLE`).
#[cfg(test)]
pub(crate) fn transparent_huge_pages_disabled() -> bool {
    // SAFETY: PR_GET_THP_DISABLE takes no pointers; it returns the flag.
    unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) == 1 }
}

#[cfg(test)]
mod tests;
