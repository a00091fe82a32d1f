use super::*;
use crate::mqtt::{ConnectLimits, ConnectOutcome, Protocol, parse_connect};

fn run(state: &mut HealthState, results: &[bool]) -> Vec<Option<Transition>> {
    results.iter().map(|&ok| state.on_result(ok)).collect()
}

#[test]
fn fully_up_goes_down_after_fall_consecutive_failures() {
    let mut s = HealthState::new(2, 3, InitialState::FullyUp);
    assert!(s.is_up());
    assert_eq!(
        run(&mut s, &[false, false, false]),
        [None, None, Some(Transition::WentDown)]
    );
    assert!(!s.is_up());
}

#[test]
fn a_success_while_up_restores_full_health() {
    let mut s = HealthState::new(2, 3, InitialState::FullyUp);
    assert_eq!(run(&mut s, &[false, false, true]), [None, None, None]);
    // Back at the top: it takes three failures again.
    assert_eq!(
        run(&mut s, &[false, false, false]),
        [None, None, Some(Transition::WentDown)]
    );
}

#[test]
fn down_goes_up_after_rise_consecutive_successes() {
    let mut s = HealthState::new(3, 2, InitialState::FullyDown);
    assert!(!s.is_up());
    // A failure in the middle resets the count.
    assert_eq!(
        run(&mut s, &[true, true, false, true, true, true]),
        [None, None, None, None, None, Some(Transition::WentUp)]
    );
    // Just came up: it is fully up, so `fall` failures take it down.
    assert_eq!(
        run(&mut s, &[false, false]),
        [None, Some(Transition::WentDown)]
    );
}

#[test]
fn haproxy_default_up_falls_at_the_first_failure() {
    let mut s = HealthState::new(2, 3, InitialState::Up);
    assert!(s.is_up());
    assert_eq!(s.on_result(false), Some(Transition::WentDown));
    let mut s = HealthState::new(2, 3, InitialState::Up);
    assert_eq!(s.on_result(true), None);
    assert_eq!(run(&mut s, &[false, false]), [None, None]);
}

#[test]
fn down_rises_at_the_first_success() {
    let mut s = HealthState::new(5, 2, InitialState::Down);
    assert!(!s.is_up());
    assert_eq!(s.on_result(true), Some(Transition::WentUp));
}

#[test]
fn rise_and_fall_of_one_flip_every_time() {
    let mut s = HealthState::new(1, 1, InitialState::Up);
    assert_eq!(
        run(&mut s, &[false, false, true, true, false]),
        [
            Some(Transition::WentDown),
            None,
            Some(Transition::WentUp),
            None,
            Some(Transition::WentDown)
        ]
    );
    // Zero is taken as one rather than a never-changing state.
    assert_eq!(
        HealthState::new(0, 0, InitialState::FullyUp),
        HealthState::new(1, 1, InitialState::FullyUp)
    );
}

#[test]
fn huge_rise_and_fall_do_not_overflow() {
    let mut s = HealthState::new(u32::MAX, u32::MAX, InitialState::FullyUp);
    assert_eq!(s.on_result(false), None);
    assert_eq!(s.on_result(true), None);
    assert!(s.is_up());
}

#[test]
fn check_connect_anonymous_byte_for_byte() {
    let p = mqtt_check_connect("", None, None).unwrap();
    assert_eq!(
        p,
        [
            0x10, 0x0c, // CONNECT, Remaining Length 12
            0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, // MQTT 3.1.1
            0x02, // Clean Session
            0x00, 0x0a, // Keep Alive 10
            0x00, 0x00, // empty Client Identifier: the broker assigns one
        ]
    );
}

#[test]
fn check_connect_with_credentials_byte_for_byte() {
    let p = mqtt_check_connect("hc", Some("u"), Some(b"pw")).unwrap();
    assert_eq!(
        p,
        [
            0x10, 0x15, // Remaining Length 21
            0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, //
            0xc2, // User Name, Password, Clean Session
            0x00, 0x0a, //
            0x00, 0x02, b'h', b'c', //
            0x00, 0x01, b'u', //
            0x00, 0x02, b'p', b'w',
        ]
    );
    // Our own parser accepts what we send.
    let Ok(ConnectOutcome::Complete { connect, consumed }) =
        parse_connect(&p, &ConnectLimits::default())
    else {
        panic!("check CONNECT does not parse");
    };
    assert_eq!(consumed, p.len());
    assert_eq!(connect.protocol, Protocol::V311);
    assert_eq!(connect.client_id, "hc");
    assert!(connect.clean_start && connect.username_present && connect.password_present);
}

#[test]
fn check_connect_refuses_what_3_1_1_cannot_say() {
    assert_eq!(
        mqtt_check_connect("x", None, Some(b"pw")),
        Err(CheckConnectError::PasswordWithoutUsername)
    );
    let long = "x".repeat(65_536);
    assert_eq!(
        mqtt_check_connect(&long, None, None),
        Err(CheckConnectError::FieldTooLong)
    );
    // 65,535 bytes is the most a field can hold, and needs a 3-byte Remaining Length.
    let longest = "x".repeat(65_535);
    let p = mqtt_check_connect(&longest, None, None).unwrap();
    assert_eq!(&p[..4], &[0x10, 0x8b, 0x80, 0x04]); // 65,547
    assert_eq!(p.len(), 4 + 65_547);
}

#[test]
fn connack_results() {
    assert_eq!(check_connack(&[0x20, 0x02, 0x00, 0x00]), CheckResult::Ok);
    // Session Present is odd with Clean Session but not a failure of the broker.
    assert_eq!(check_connack(&[0x20, 0x02, 0x01, 0x00]), CheckResult::Ok);
    for code in 1..=5 {
        assert_eq!(
            check_connack(&[0x20, 0x02, 0x00, code]),
            CheckResult::Refused(code)
        );
    }
    // Trailing bytes are not ours to judge.
    assert_eq!(
        check_connack(&[0x20, 0x02, 0x00, 0x00, 0xd0]),
        CheckResult::Ok
    );
}

#[test]
fn connack_incomplete_at_every_cut() {
    let ack = [0x20, 0x02, 0x00, 0x00];
    for cut in 0..ack.len() {
        assert_eq!(
            check_connack(&ack[..cut]),
            CheckResult::Incomplete,
            "cut {cut}"
        );
    }
}

#[test]
fn connack_malformed() {
    for bytes in [
        &[0x21][..],                     // CONNACK type with flags
        &[0x20, 0x03],                   // MQTT 5 length (we asked for 3.1.1)
        &[0x20, 0x02, 0x02],             // reserved acknowledge flag
        &[0x20, 0x02, 0x01, 0x05],       // a refusal claiming a session
        &[0x20, 0x02, 0x00, 0x06],       // undefined return code
        &[0x20, 0x02, 0x00, 0x80],       // an MQTT 5 reason code
        b"HTTP/1.1 400 Bad Request\r\n", // not a broker
        &[0xe0, 0x00],                   // DISCONNECT
    ] {
        assert_eq!(check_connack(bytes), CheckResult::Malformed, "{bytes:02x?}");
    }
}

#[test]
fn board_publishes_transitions_with_a_new_epoch() {
    let board = HealthBoard::new([2, 1]);
    let epoch = board.epoch();
    assert!(board.is_up(0, 0) && board.is_up(0, 1) && board.is_up(1, 0));
    assert!(
        !board.is_up(1, 1) && !board.is_up(2, 0),
        "missing servers are down"
    );
    board.publish(0, 1, Transition::WentDown);
    assert_ne!(board.epoch(), epoch);
    assert!(!board.is_up(0, 1) && board.is_up(0, 0));
    assert_eq!(board.downs(0, 1), 1);
    let epoch = board.epoch();
    board.publish(0, 1, Transition::WentUp);
    assert_ne!(board.epoch(), epoch);
    assert!(board.is_up(0, 1));
    // The down count stays: a worker that missed the short outage still sees it.
    assert_eq!(board.downs(0, 1), 1);
    board.publish(9, 9, Transition::WentDown); // ignored, no panic
}

#[test]
fn disconnect_bytes() {
    assert_eq!(DISCONNECT, [0xe0, 0x00]);
}
