use super::*;

#[test]
fn paced_churn_keeps_its_rhythm_and_never_bursts_to_catch_up() {
    let t = Instant::now();
    let iv = Duration::from_secs(1);
    // On time (or early): exactly one interval after the cycle that was due.
    assert_eq!(next_churn_cycle(t, iv, t), t + iv);
    assert_eq!(
        next_churn_cycle(t, iv, t + Duration::from_millis(300)),
        t + iv
    );
    // A set-up that took 2.5 intervals: the next cycle is now, not three back-to-back.
    let late = t + Duration::from_millis(2500);
    assert_eq!(next_churn_cycle(t, iv, late), late);
}
