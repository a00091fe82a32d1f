use super::*;

#[test]
fn connect_errors_map_to_their_keywords() {
    assert_eq!(
        connect_failure(libc::ECANCELED),
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
}
