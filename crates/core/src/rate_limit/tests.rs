use super::*;

const SEC: u64 = 1_000_000;

fn rate(connections: u32, secs: u64) -> SourceRate {
    SourceRate {
        connections,
        per: Duration::from_secs(secs),
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn a_burst_of_count_then_one_per_interval() {
    let mut l = SourceLimiter::new(rate(5, 1));
    let a = ip("192.0.2.1");
    let t0 = 10 * SEC;
    for i in 0..5 {
        assert_eq!(l.check(a, t0), Verdict::Allow, "burst #{i}");
    }
    assert_eq!(l.check(a, t0), Verdict::Refuse);
    assert_eq!(l.check(a, t0 + SEC / 5 - 1), Verdict::Refuse);
    assert_eq!(l.check(a, t0 + SEC / 5), Verdict::Allow);
    assert_eq!(l.check(a, t0 + SEC / 5), Verdict::Refuse);
    // After a whole period of silence the full burst is back.
    let t1 = t0 + 2 * SEC;
    for _ in 0..5 {
        assert_eq!(l.check(a, t1), Verdict::Allow);
    }
    assert_eq!(l.check(a, t1), Verdict::Refuse);
}

#[test]
fn a_steady_client_at_the_rate_is_never_refused() {
    let mut l = SourceLimiter::new(rate(20, 1));
    let a = ip("192.0.2.1");
    for i in 0..1000 {
        assert_eq!(l.check(a, i * SEC / 20), Verdict::Allow, "#{i}");
    }
}

#[test]
fn refusals_do_not_use_up_the_bucket() {
    let mut l = SourceLimiter::new(rate(1, 1));
    let a = ip("192.0.2.1");
    assert_eq!(l.check(a, 0), Verdict::Allow);
    for t in 1..100 {
        assert_eq!(l.check(a, t * 1000), Verdict::Refuse);
    }
    assert_eq!(l.check(a, SEC), Verdict::Allow);
}

#[test]
fn sources_are_separate_and_ipv6_counts_per_64() {
    let mut l = SourceLimiter::new(rate(1, 60));
    assert_eq!(l.check(ip("192.0.2.1"), 0), Verdict::Allow);
    assert_eq!(l.check(ip("192.0.2.2"), 0), Verdict::Allow);
    assert_eq!(l.check(ip("::ffff:192.0.2.1"), 0), Verdict::Refuse);
    assert_eq!(l.check(ip("2001:db8:1:2::1"), 0), Verdict::Allow);
    assert_eq!(l.check(ip("2001:db8:1:2:ffff::9"), 0), Verdict::Refuse);
    assert_eq!(l.check(ip("2001:db8:1:3::1"), 0), Verdict::Allow);
    assert_eq!(l.len(), 4);
}

#[test]
fn a_full_table_drops_full_buckets_then_passes_new_sources_unchecked() {
    let ten_ms = SourceRate {
        connections: 1,
        per: Duration::from_millis(10),
    };
    let mut l = SourceLimiter::with_capacity(ten_ms, 4);
    for i in 0..4 {
        assert_eq!(l.check(ip(&format!("192.0.2.{i}")), 0), Verdict::Allow);
    }
    // All four are active: a fifth source is let in, untracked.
    assert_eq!(l.check(ip("192.0.2.9"), 1), Verdict::AllowUntracked);
    assert_eq!(l.len(), 4);
    // A second sweep waits its interval even once entries went stale...
    assert_eq!(l.check(ip("192.0.2.9"), 50_000), Verdict::AllowUntracked);
    // ... then drops them all and tracks the newcomer.
    assert_eq!(
        l.check(ip("192.0.2.9"), 1 + SWEEP_INTERVAL_US),
        Verdict::Allow
    );
    assert_eq!(l.len(), 1);
    // Tracked sources keep being limited while the table is full.
    let mut l = SourceLimiter::with_capacity(rate(1, 1), 1);
    assert_eq!(l.check(ip("192.0.2.1"), 0), Verdict::Allow);
    assert_eq!(l.check(ip("192.0.2.1"), 1), Verdict::Refuse);
}

#[test]
fn extreme_rates_do_not_overflow() {
    let mut l = SourceLimiter::new(SourceRate {
        connections: 1_000_000,
        per: Duration::from_millis(1),
    });
    assert_eq!(l.check(ip("192.0.2.1"), u64::MAX / 2), Verdict::Allow);
    let mut l = SourceLimiter::new(SourceRate {
        connections: 1,
        per: Duration::from_secs(u64::MAX / 1_000_000),
    });
    assert_eq!(l.check(ip("192.0.2.1"), 0), Verdict::Allow);
    assert_eq!(l.check(ip("192.0.2.1"), u64::MAX / 4), Verdict::Refuse);
}
