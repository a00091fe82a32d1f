use super::*;
use crate::conn::{Side, Termination};
use crate::relay::SpliceRelay;

#[derive(Debug, PartialEq)]
struct TestBuf(u32);

impl crate::relay::RelayBuf for TestBuf {
    fn len(&self) -> u32 {
        self.0
    }
}

#[derive(Debug, PartialEq)]
struct TestPipe;

impl PipeCapacity for TestPipe {
    fn capacity(&self) -> u32 {
        65536
    }
}

type Half = SpliceHalf<TestBuf, TestPipe>;
type Step = SpliceStep<TestBuf, TestPipe>;
const EAGAIN: isize = -(libc::EAGAIN as isize);

fn readable(half: &mut Half) {
    assert_eq!(half.on_readable(), Step::NeedPipe);
    assert_eq!(half.give_pipe(TestPipe), Step::Fill { len: 65536 });
}

#[test]
fn bytes_fill_then_drain_then_the_empty_pipe_goes_back() {
    let mut half = Half::new();
    assert_eq!(half.start(), Step::PollSource);
    readable(&mut half);
    assert_eq!(half.on_fill(1000), Step::Drain { pending: 1000 });
    assert_eq!(half.pending(), 1000);
    assert_eq!(half.on_drain(1000), Step::Fill { len: 65536 });
    assert_eq!(half.on_fill(EAGAIN), Step::Park(TestPipe));
    assert!(half.pipe().is_none(), "an idle direction holds no pipe");
    assert_eq!(half.delivered(), 1000);
}

#[test]
fn a_full_destination_keeps_the_pipe_until_writable() {
    let mut half = Half::new();
    half.start();
    readable(&mut half);
    half.on_fill(5000);
    assert_eq!(half.on_drain(2000), Step::Drain { pending: 3000 });
    assert_eq!(half.on_drain(EAGAIN), Step::PollDestination);
    assert!(
        half.pipe().is_some(),
        "bytes in the pipe stay with the direction"
    );
    assert_eq!(half.on_writable(), Step::Drain { pending: 3000 });
    assert_eq!(half.on_drain(3000), Step::Fill { len: 65536 });
    assert_eq!(half.delivered(), 5000);
}

#[test]
fn eof_half_closes_the_destination_and_returns_the_pipe() {
    let mut half = Half::new();
    half.start();
    readable(&mut half);
    assert_eq!(half.on_fill(0), Step::ShutdownDestination(TestPipe));
    assert!(half.is_done());
}

#[test]
fn a_busy_direction_yields_after_its_share() {
    let mut half = Half::new();
    half.start();
    readable(&mut half);
    let mut moved = 0;
    loop {
        assert_eq!(half.on_fill(65536), Step::Drain { pending: 65536 });
        moved += 65536;
        match half.on_drain(65536) {
            Step::Fill { .. } => continue,
            Step::Park(TestPipe) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(moved, BYTES_PER_WAKE);
    readable(&mut half);
}

#[test]
fn a_control_record_fills_again() {
    let mut half = Half::new();
    half.start();
    readable(&mut half);
    assert_eq!(half.on_nothing_filled(), Step::Fill { len: 65536 });
    assert_eq!(half.on_fill(10), Step::Drain { pending: 10 });
}

#[test]
fn errors_name_the_end_and_say_whether_the_pipe_is_empty() {
    let mut half = Half::new();
    half.start();
    readable(&mut half);
    assert_eq!(
        half.on_fill(-(libc::ECONNRESET as isize)),
        Step::Fail {
            failed: End::Source,
            errno: libc::ECONNRESET,
            pipe: Some((TestPipe, true)),
            prelude: None
        }
    );
    let mut half = Half::new();
    half.start();
    readable(&mut half);
    half.on_fill(100);
    assert_eq!(
        half.on_drain(-(libc::EPIPE as isize)),
        Step::Fail {
            failed: End::Destination,
            errno: libc::EPIPE,
            pipe: Some((TestPipe, false)),
            prelude: None
        }
    );
}

#[test]
fn the_prelude_goes_first_and_counts() {
    let mut half = Half::new();
    assert_eq!(
        half.start_with(TestBuf(30)),
        Step::SendPrelude {
            buf: TestBuf(30),
            offset: 0
        }
    );
    assert!(half.sending_prelude());
    assert_eq!(
        half.on_prelude_sent(10, TestBuf(30)),
        Step::SendPrelude {
            buf: TestBuf(30),
            offset: 10
        }
    );
    assert_eq!(
        half.on_prelude_sent(20, TestBuf(30)),
        Step::PreludeSent(TestBuf(30))
    );
    assert!(!half.sending_prelude());
    assert_eq!(half.on_readable(), Step::NeedPipe);
    assert_eq!(half.delivered(), 30);
    let mut half = Half::new();
    half.start_with(TestBuf(5));
    assert_eq!(
        half.on_prelude_sent(-libc::ECONNRESET, TestBuf(5)),
        Step::Fail {
            failed: End::Destination,
            errno: libc::ECONNRESET,
            pipe: None,
            prelude: Some(TestBuf(5))
        }
    );
}

#[test]
fn closing_takes_back_the_pipe_a_direction_holds() {
    let mut half = Half::new();
    half.start();
    readable(&mut half);
    half.on_fill(100);
    half.on_drain(EAGAIN);
    assert_eq!(half.take_pipe(), Some((TestPipe, false)));
    // A prelude's buffer is the ring's while its send is in flight: nothing to take.
    let mut half = Half::new();
    half.start_with(TestBuf(3));
    assert_eq!(half.take_pipe(), None);
    let mut half = Half::new();
    half.start();
    assert_eq!(half.take_pipe(), None);
}

#[test]
fn the_connection_ends_when_both_directions_finished() {
    let mut relay = SpliceRelay::<TestBuf, TestPipe>::new();
    for side in [Side::Client, Side::Server] {
        relay.half_from(side).start();
        relay.half_from(side).on_readable();
        relay.half_from(side).give_pipe(TestPipe);
    }
    relay.half_from(Side::Server).on_fill(0);
    assert_eq!(relay.on_fin(Side::Server), None);
    relay.half_from(Side::Client).on_fill(0);
    assert_eq!(relay.on_fin(Side::Client), Some(Termination::ServerClosed));
}
