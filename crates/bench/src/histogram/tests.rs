use super::*;

#[test]
fn quantiles_within_resolution() {
    let mut h = Histogram::default();
    for v in 1..=100_000u64 {
        h.record(v * 1000);
    }
    for (q, want) in [
        (0.5, 50_000_000.0),
        (0.99, 99_000_000.0),
        (0.999, 99_900_000.0),
    ] {
        let got = h.quantile(q) as f64;
        assert!((got - want).abs() / want < 0.02, "q{q}: {got} vs {want}");
    }
    assert_eq!(h.max(), 100_000_000);
    assert_eq!(h.quantile(1.0), 100_000_000);
}

#[test]
fn small_values_are_exact_and_merge_adds() {
    let mut a = Histogram::default();
    let mut b = Histogram::default();
    a.record(3);
    b.record(5);
    a.merge(&b);
    assert_eq!((a.count(), a.quantile(0.5), a.quantile(1.0)), (2, 3, 5));
}
