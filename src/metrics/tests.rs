use super::*;

#[test]
fn a_listener_line_is_one_cache_line() {
    assert_eq!(std::mem::size_of::<ListenerLine>(), 64);
    assert_eq!(std::mem::align_of::<ListenerLine>(), 64);
}

#[test]
fn bump_adds() {
    let c = AtomicU64::new(5);
    bump(&c, 3);
    assert_eq!(c.load(Ordering::Relaxed), 8);
}

#[test]
fn events_land_in_their_counters() {
    let w = WorkerCounters::new(2);
    w.accepted(1);
    w.payload(1, Side::Client, 10);
    w.payload(1, Side::Server, 4);
    w.handshake_done(1);
    w.offload(
        1,
        false,
        Some(crate::access_log::OffloadFallback::Unavailable),
    );
    w.payload(7, Side::Client, 1); // an unknown listener is ignored, not a panic
    assert_eq!(w.fixed_value(1, Fixed::Accepted), 1);
    assert_eq!(w.fixed_value(1, Fixed::BytesIn), 10);
    assert_eq!(w.fixed_value(1, Fixed::BytesOut), 4);
    assert_eq!(w.fixed_value(1, Fixed::Handshakes), 1);
    assert_eq!(w.fixed_value(1, Fixed::OffloadUserspace), 1);
    assert_eq!(w.fixed_value(1, Fixed::OffloadKernel), 0);
    assert_eq!(w.fixed_value(0, Fixed::Accepted), 0);
    let mut fallbacks = Vec::new();
    w.offload_fallbacks.for_each(|k, v| fallbacks.push((k, v)));
    assert_eq!(fallbacks, [((1, "ktls_unavailable"), 1)]);
}
