use super::*;

/// A balancer's fail-over order for four servers, the failed one excluded.
fn order_of_four(failed: u16) -> Vec<u16> {
    (0..4).filter(|&s| s != failed).collect()
}

#[test]
fn connect_errnos_become_their_terminations() {
    assert_eq!(
        connect_failure(libc::ECANCELED),
        Termination::ConnectTimeout
    );
    assert_eq!(connect_failure(libc::ETIME), Termination::ConnectTimeout);
    assert_eq!(
        connect_failure(libc::ETIMEDOUT),
        Termination::ConnectTimeout
    );
    assert_eq!(
        connect_failure(libc::ECONNREFUSED),
        Termination::ConnectRefused
    );
    assert_eq!(
        connect_failure(libc::ENETUNREACH),
        Termination::ConnectError
    );
    assert_eq!(
        connect_failure(libc::EADDRNOTAVAIL),
        Termination::ConnectError
    );
}

#[test]
fn failures_walk_the_failover_order_then_close_with_the_last_cause() {
    let mut c = Connecting::new(2, Some("prelude"));
    let mut asked = 0;
    let mut order = |failed| {
        asked += 1;
        order_of_four(failed)
    };
    assert_eq!(
        c.failed(Termination::ConnectRefused, &mut order),
        Retry::Connect(0)
    );
    assert_eq!(c.server(), 0);
    assert_eq!(
        c.failed(Termination::ConnectTimeout, &mut order),
        Retry::Connect(1)
    );
    assert_eq!(
        c.failed(Termination::ConnectRefused, &mut order),
        Retry::Connect(3)
    );
    assert_eq!(c.attempt(), 3);
    assert_eq!(
        c.failed(Termination::ConnectTimeout, &mut order),
        Retry::Close(Termination::ConnectTimeout)
    );
    // The order is the balancer's work: asked for once, at the first failure.
    assert_eq!(asked, 1);
    // The prelude stays until someone takes it (the closing connection gives it back).
    assert_eq!(c.take_prelude(), Some("prelude"));
    assert_eq!(c.take_prelude(), None);
}

#[test]
fn a_single_server_backend_closes_at_its_first_failure() {
    let mut c = Connecting::<()>::new(0, None);
    let retry = c.failed(Termination::ConnectError, |_| Vec::new());
    assert_eq!(retry, Retry::Close(Termination::ConnectError));
}
