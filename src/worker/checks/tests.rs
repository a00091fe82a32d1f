use super::*;

#[test]
fn failures_read_well_in_the_log() {
    assert_eq!(connect_failure(libc::ECONNREFUSED), Failure::ConnectRefused);
    assert_eq!(connect_failure(libc::ECANCELED), Failure::ConnectTimeout);
    assert_eq!(
        Failure::Refused(5).to_string(),
        "CONNACK refused the check (return code 5)"
    );
    assert_eq!(Failure::ConnectRefused.to_string(), "connection refused");
    assert!(
        Failure::Connect(libc::ENETUNREACH)
            .to_string()
            .starts_with("connect failed: ")
    );
}
