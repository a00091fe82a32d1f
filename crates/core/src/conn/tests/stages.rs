use super::*;
use crate::ingress::Ingress;
use crate::relay::{Relay, SpliceRelay};
use crate::upstream::Connecting;

fn ingress() -> TestStage {
    Stage::Ingress(Box::new(
        Ingress::new(crate::ingress::tests::tls()).unwrap(),
    ))
}

fn closing(since_ms: u64) -> TestStage {
    Stage::Closing {
        cause: Termination::ClientClosed,
        since_ms,
        left: Leftover::Nothing,
    }
}

/// A connection accepted at 1 s, now at 5 s; the client last active at 4 s, the server at
/// 3 s; handshake 10 s, client idle 60 s, server idle 30 s, shortest timeout 2 s.
fn clock() -> Clock {
    Clock {
        now_ms: 5_000,
        started_ms: 1_000,
        client_active_ms: 4_000,
        server_active_ms: 3_000,
        handshake_ms: 10_000,
        client_idle_ms: 60_000,
        server_idle_ms: 30_000,
        shortest_timeout_ms: 2_000,
    }
}

fn deadline(at_ms: u64, cause: Option<Termination>) -> Deadline {
    Deadline { at_ms, cause }
}

#[test]
fn ingress_as_a_whole_is_bounded_by_the_handshake_timeout_from_accept() {
    let due = deadline(11_000, Some(Termination::HandshakeTimeout));
    assert_eq!(ingress().deadline(&clock()), due);
    // Activity does not extend it: a client trickling a byte at a time gets no more time.
    let busy = Clock {
        client_active_ms: 10_999,
        ..clock()
    };
    assert_eq!(ingress().deadline(&busy), due);
}

#[test]
fn connecting_is_left_to_the_connects_linked_timeout() {
    let look_again = deadline(7_000, None);
    assert_eq!(TestStage::Ready.deadline(&clock()), look_again);
    let connecting = TestStage::Connecting(Connecting::new(0, None));
    assert_eq!(connecting.deadline(&clock()), look_again);
}

#[test]
fn relaying_times_out_on_whichever_side_is_due_first() {
    let copying = TestStage::Relaying(Relay::new());
    // Server: 3 s + 30 s = 33 s; client: 4 s + 60 s = 64 s.
    let server_due = deadline(33_000, Some(Termination::ServerIdleTimeout));
    assert_eq!(copying.deadline(&clock()), server_due);
    let keepalive = Clock {
        client_idle_ms: 15_000,
        ..clock()
    };
    let client_due = deadline(19_000, Some(Termination::ClientIdleTimeout));
    assert_eq!(copying.deadline(&keepalive), client_due);
    let splicing = TestStage::Splicing(SpliceRelay::new());
    assert_eq!(splicing.deadline(&keepalive), client_due);
    // A tie is the client's (it is the side whose silence an operator tunes).
    let tie = Clock {
        client_active_ms: 3_000,
        client_idle_ms: 30_000,
        ..clock()
    };
    let tied = deadline(33_000, Some(Termination::ClientIdleTimeout));
    assert_eq!(copying.deadline(&tie), tied);
}

#[test]
fn closing_lingers_then_cancels_again_without_a_new_cause() {
    let due = deadline(4_500 + CLOSE_LINGER_MS, None);
    assert_eq!(closing(4_500).deadline(&clock()), due);
}

#[test]
fn deadlines_saturate_rather_than_wrap() {
    let end_of_time = Clock {
        started_ms: u64::MAX - 1,
        client_active_ms: u64::MAX - 1,
        server_active_ms: u64::MAX - 1,
        now_ms: u64::MAX - 1,
        ..clock()
    };
    assert_eq!(ingress().deadline(&end_of_time).at_ms, u64::MAX);
    let copying = TestStage::Relaying(Relay::new());
    assert_eq!(copying.deadline(&end_of_time).at_ms, u64::MAX);
    assert_eq!(closing(u64::MAX - 1).deadline(&end_of_time).at_ms, u64::MAX);
}

#[test]
fn only_relaying_sessions_close_when_their_server_is_marked_down() {
    let marked = Some(Termination::ServerMarkedDown);
    assert_eq!(
        TestStage::Relaying(Relay::new()).on_server_marked_down(),
        marked
    );
    assert_eq!(
        TestStage::Splicing(SpliceRelay::new()).on_server_marked_down(),
        marked
    );
    // Still connecting: its connect decides (a server marked down may still answer).
    let connecting = TestStage::Connecting(Connecting::new(0, None));
    for stage in [ingress(), TestStage::Ready, connecting, closing(0)] {
        assert_eq!(stage.on_server_marked_down(), None);
    }
}

#[test]
fn stages_say_where_they_are() {
    assert!(ingress().is_ingress());
    assert!(!TestStage::Ready.is_ingress());
    assert!(closing(0).is_closing());
    assert!(!TestStage::Relaying(Relay::new()).is_closing());
}
