use super::*;

fn expire(wheel: &mut TimerWheel<u32>, now: u64) -> Vec<u32> {
    let mut out = Vec::new();
    wheel.expire(now, &mut out);
    out.sort();
    out
}

#[test]
fn entries_never_fire_before_their_deadline() {
    let mut wheel = TimerWheel::new();
    wheel.insert(1_050, 1);
    wheel.insert(1_000, 2);
    assert_eq!(expire(&mut wheel, 999), Vec::<u32>::new());
    assert_eq!(expire(&mut wheel, 1_000), vec![2]);
    assert_eq!(expire(&mut wheel, 1_099), Vec::<u32>::new());
    assert_eq!(expire(&mut wheel, 1_100), vec![1]);
    assert!(wheel.is_empty());
}

#[test]
fn past_deadlines_fire_on_the_next_expire() {
    let mut wheel = TimerWheel::new();
    assert_eq!(expire(&mut wheel, 5_000), Vec::<u32>::new());
    wheel.insert(10, 7);
    assert_eq!(expire(&mut wheel, 5_100), vec![7]);
}

#[test]
fn deadlines_past_the_horizon_park_at_the_horizon() {
    let mut wheel = TimerWheel::new();
    let horizon = SLOTS as u64 * RESOLUTION_MS;
    wheel.insert(10 * horizon, 3);
    assert_eq!(
        expire(&mut wheel, horizon - 2 * RESOLUTION_MS),
        Vec::<u32>::new()
    );
    assert_eq!(expire(&mut wheel, horizon), vec![3]);
}

#[test]
fn a_stall_longer_than_the_horizon_drains_everything_once() {
    let mut wheel = TimerWheel::new();
    for k in 0..50 {
        wheel.insert(k as u64 * 1_000, k);
    }
    assert_eq!(expire(&mut wheel, 1_000_000).len(), 50);
    assert_eq!(wheel.len(), 0);
    wheel.insert(1_000_050, 99);
    assert_eq!(expire(&mut wheel, 1_000_099), Vec::<u32>::new());
    assert_eq!(expire(&mut wheel, 1_000_100), vec![99]);
}
