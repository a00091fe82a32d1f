#[test]
fn huge_pages_can_be_turned_off() {
    super::disable_transparent_huge_pages().unwrap();
    assert!(super::transparent_huge_pages_disabled());
}

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
