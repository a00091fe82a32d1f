//! A process's own CPU time, for the benchmark tools' reports (load generator and sink).

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

#[cfg(test)]
mod tests {
    #[test]
    fn cpu_time_moves() {
        let (u0, s0) = super::self_cpu();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let (u1, s1) = super::self_cpu();
        assert!(u1 + s1 > u0 + s0);
    }
}
