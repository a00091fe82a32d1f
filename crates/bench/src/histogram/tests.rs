use super::*;

#[test]
fn quantiles_within_resolution() {
    let mut h = new();
    for v in 1..=100_000u64 {
        h.saturating_record(v * 1000);
    }
    for (q, want) in [
        (0.5, 50_000_000.0),
        (0.99, 99_000_000.0),
        (0.999, 99_900_000.0),
    ] {
        let got = h.value_at_quantile(q) as f64;
        assert!((got - want).abs() / want < 0.01, "q{q}: {got} vs {want}");
    }
    let max = h.max() as f64;
    assert!((max - 1e8).abs() / 1e8 < 0.01, "{max}");
}

#[test]
fn small_values_are_exact_merge_adds_and_huge_ones_saturate() {
    let mut a = new();
    let mut b = new();
    a.saturating_record(3);
    b.saturating_record(5);
    b.saturating_record(u64::MAX);
    merge(&mut a, &b);
    assert_eq!(a.len(), 3);
    assert_eq!(a.value_at_quantile(0.3), 3);
    assert_eq!(a.value_at_quantile(0.6), 5);
    assert!(a.max() >= MAX_NANOS && a.max() < MAX_NANOS + MAX_NANOS / 50);
}
