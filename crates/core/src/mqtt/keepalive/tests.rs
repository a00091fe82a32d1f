use super::*;

const FLOOR: Duration = Duration::from_secs(5);
const CAP: Duration = Duration::from_secs(3600);

#[test]
fn one_and_a_half_times_keepalive() {
    assert_eq!(
        idle_timeout_for_keepalive(60, FLOOR, CAP),
        Some(Duration::from_secs(90))
    );
    assert_eq!(
        idle_timeout_for_keepalive(7, FLOOR, CAP),
        Some(Duration::from_millis(10_500))
    );
}

#[test]
fn zero_means_no_keepalive() {
    assert_eq!(idle_timeout_for_keepalive(0, FLOOR, CAP), None);
}

#[test]
fn clamped_to_floor_and_cap() {
    assert_eq!(idle_timeout_for_keepalive(1, FLOOR, CAP), Some(FLOOR));
    assert_eq!(idle_timeout_for_keepalive(u16::MAX, FLOOR, CAP), Some(CAP));
    assert_eq!(
        idle_timeout_for_keepalive(u16::MAX, FLOOR, Duration::MAX),
        Some(Duration::from_millis(98_302_500))
    );
    // A floor above the cap is a config mistake; the cap wins rather than a panic.
    assert_eq!(idle_timeout_for_keepalive(10, CAP, FLOOR), Some(FLOOR));
}
