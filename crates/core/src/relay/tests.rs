use super::*;

#[derive(Debug, PartialEq)]
struct TestBuf(u32);

impl RelayBuf for TestBuf {
    fn len(&self) -> u32 {
        self.0
    }
}

#[test]
fn data_is_sent_whole_then_buffer_recycled_and_recv_rearmed() {
    let mut half = Half::<TestBuf>::new();
    assert_eq!(half.resume(), Step::Recv);
    assert_eq!(
        half.on_recv(Received::Data(TestBuf(100))),
        Step::Send {
            buf: TestBuf(100),
            offset: 0
        }
    );
    assert!(half.is_sending());
    assert_eq!(
        half.on_send(100, TestBuf(100)),
        Step::RecycleThenRecv(TestBuf(100))
    );
    assert!(!half.is_sending());
    assert_eq!(half.delivered(), 100);
}

#[test]
fn a_prelude_is_sent_before_the_first_recv() {
    let mut half = Half::<TestBuf>::new();
    assert_eq!(
        half.start_with(TestBuf(28)),
        Step::Send {
            buf: TestBuf(28),
            offset: 0
        }
    );
    assert_eq!(
        half.on_send(28, TestBuf(28)),
        Step::RecycleThenRecv(TestBuf(28))
    );
    assert_eq!(half.on_recv(Received::Eof), Step::ShutdownDestination);
    assert_eq!(half.delivered(), 28);
}

#[test]
fn short_sends_continue_from_where_they_stopped() {
    let mut half = Half::<TestBuf>::new();
    half.resume();
    half.on_recv(Received::Data(TestBuf(100)));
    let step = half.on_send(30, TestBuf(100));
    assert_eq!(
        step,
        Step::Send {
            buf: TestBuf(100),
            offset: 30
        }
    );
    let step = half.on_send(60, step.into_buf().unwrap());
    assert_eq!(
        step,
        Step::Send {
            buf: TestBuf(100),
            offset: 90
        }
    );
    assert_eq!(
        half.on_send(10, step.into_buf().unwrap()),
        Step::RecycleThenRecv(TestBuf(100))
    );
    assert_eq!(half.delivered(), 100);
}

#[test]
fn eof_half_closes_the_destination() {
    let mut half = Half::<TestBuf>::new();
    half.resume();
    assert_eq!(half.on_recv(Received::Eof), Step::ShutdownDestination);
    assert!(half.is_done());
}

#[test]
fn empty_pool_parks_the_direction_until_resumed() {
    let mut half = Half::<TestBuf>::new();
    half.resume();
    assert_eq!(half.on_recv(Received::NoBuffer), Step::WaitForBuffer);
    assert!(half.is_idle());
    assert_eq!(half.resume(), Step::Recv);
}

#[test]
fn a_read_without_data_reads_again() {
    let mut half = Half::<TestBuf>::new();
    half.resume();
    assert_eq!(half.on_recv(Received::NoData), Step::Recv);
    assert_eq!(
        half.on_recv(Received::Data(TestBuf(3))),
        Step::Send {
            buf: TestBuf(3),
            offset: 0
        }
    );
}

#[test]
fn send_error_fails_the_destination_and_returns_the_buffer() {
    let mut half = Half::<TestBuf>::new();
    half.resume();
    half.on_recv(Received::Data(TestBuf(10)));
    assert_eq!(
        half.on_send(-libc::EPIPE, TestBuf(10)),
        Step::Fail {
            failed: End::Destination,
            errno: libc::EPIPE,
            buf: Some(TestBuf(10))
        }
    );
    assert!(!half.is_sending());
}

#[test]
fn recv_error_fails_the_source() {
    let mut half = Half::<TestBuf>::new();
    half.resume();
    assert_eq!(
        half.on_recv(Received::Error(libc::ECONNRESET)),
        Step::Fail {
            failed: End::Source,
            errno: libc::ECONNRESET,
            buf: None
        }
    );
}

#[test]
fn every_step_gives_up_the_buffer_it_carries() {
    let mut half = Half::<TestBuf>::new();
    half.resume();
    let step = half.on_recv(Received::Data(TestBuf(7)));
    assert!(half.is_sending());
    // A send cancelled at close: the ring hands the buffer back, the half counts what went.
    let step = half.on_send(-libc::ECANCELED, step.into_buf().unwrap());
    assert_eq!(step.into_buf(), Some(TestBuf(7)));
    assert_eq!(Step::<TestBuf>::Recv.into_buf(), None);
    assert_eq!(Step::<TestBuf>::WaitForBuffer.into_buf(), None);
    assert_eq!(Step::<TestBuf>::ShutdownDestination.into_buf(), None);
}

#[test]
fn connection_ends_when_both_directions_saw_fin_and_names_who_closed_first() {
    let mut relay = Relay::<TestBuf>::new();
    relay.upstream.resume();
    relay.downstream.resume();
    relay.half_from(Side::Server).on_recv(Received::Eof);
    assert_eq!(relay.on_fin(Side::Server), None);
    relay.half_from(Side::Client).on_recv(Received::Eof);
    assert_eq!(relay.on_fin(Side::Client), Some(Termination::ServerClosed));

    let mut relay = Relay::<TestBuf>::new();
    relay.upstream.resume();
    relay.downstream.resume();
    relay.half_from(Side::Client).on_recv(Received::Eof);
    assert_eq!(relay.on_fin(Side::Client), None);
    relay.half_from(Side::Server).on_recv(Received::Eof);
    assert_eq!(relay.on_fin(Side::Server), Some(Termination::ClientClosed));
}

#[test]
fn userspace_tls_always_copies_and_auto_follows_the_measurements() {
    use ClientBytes::*;
    for mode in [RelayMode::Auto, RelayMode::Splice, RelayMode::Copy] {
        assert_eq!(mode.resolve(UserspaceTls), RelayKind::Copy, "{mode:?}");
    }
    for client in [Plain, PassedThrough, KernelTls] {
        assert_eq!(RelayMode::Splice.resolve(client), RelayKind::Splice);
        assert_eq!(RelayMode::Copy.resolve(client), RelayKind::Copy);
    }
    assert_eq!(RelayMode::Auto.resolve(Plain), RelayKind::Splice);
    assert_eq!(RelayMode::Auto.resolve(PassedThrough), RelayKind::Splice);
    assert_eq!(RelayMode::Auto.resolve(KernelTls), RelayKind::Copy);
}

#[test]
fn failures_name_the_socket_that_failed() {
    assert_eq!(failed_side(Side::Client, End::Source), Side::Client);
    assert_eq!(failed_side(Side::Client, End::Destination), Side::Server);
    assert_eq!(failed_side(Side::Server, End::Destination), Side::Client);
    assert_eq!(
        failure_termination(Side::Server, libc::ECONNRESET).to_string(),
        "error:server_reset"
    );
    assert_eq!(
        failure_termination(Side::Client, libc::EIO).to_string(),
        "error:client_io"
    );
}
